#pragma once
/// @file
/// @brief The agent's query strings: decoding (`a=1&b=x%2Fy`), bounded and strict, and the
/// parameters of each endpoint (filters, sort and limit of /v1/flows, limit of /v1/drops).
/// Anything malformed or unknown is an error whose message becomes the 400's body.

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "output/filter.hpp"
#include "output/flow_table.hpp"
#include "util/result.hpp"

namespace podpath::server {

/// @brief Bounds on a query string.
inline constexpr std::size_t kMaxQueryLength = 2048;  ///< bytes, as received (encoded)
inline constexpr std::size_t kMaxQueryParams = 32;    ///< name=value pairs
inline constexpr std::size_t kMaxListValues = 16;     ///< values of one parameter, all pairs together

/// @brief The decoded pairs, in order; a name without '=' has the value "".
using QueryParams = std::vector<std::pair<std::string, std::string>>;

/// @brief Decodes an application/x-www-form-urlencoded query (without the '?'): '&'
/// separates pairs (empty ones are skipped), '+' is a blank, %XX a byte. Errors: longer
/// than kMaxQueryLength, more than kMaxQueryParams pairs, a bad % escape, a control
/// character or a byte that is not UTF-8 text after decoding, an empty name.
Result<QueryParams> parse_query_string(std::string_view query);

/// @brief The parameters of GET /v1/flows and /v1/flows/stream.
struct FlowQuery {
  output::FlowFilter filter;
  output::SortKey sort = output::SortKey::Rate;
  std::size_t limit = 0;  ///< at most this many conversations; 0 = all
};

/// @brief Largest `limit` accepted.
inline constexpr std::size_t kMaxLimit = 1'000'000;

/// @brief pod, namespace, node, cidr, proto, port (each repeatable or comma-separated,
/// meaning as for `podpath trace`), control (true/false), sort (rate, packets, bytes),
/// limit (0..kMaxLimit). An unknown name or a bad value is an error naming it.
Result<FlowQuery> parse_flow_query(std::string_view query);

/// @brief The parameters of GET /v1/drops: limit (0 = all kept).
struct DropsQuery {
  std::size_t limit = 0;
};
Result<DropsQuery> parse_drops_query(std::string_view query);

/// @brief For endpoints that take no parameters: an error when the query holds any.
Result<void> expect_no_params(std::string_view query);

}  // namespace podpath::server
