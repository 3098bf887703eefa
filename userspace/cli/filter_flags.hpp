#pragma once
/// @file
/// @brief The flow filter flags of the live commands, and the same flags typed as one line
/// (the live view's `/` prompt): one parser for both.

#include <cstdint>
#include <string>
#include <vector>

#include "output/filter.hpp"
#include "util/result.hpp"

namespace CLI {
class App;
}

namespace podpath::cli {

/// @brief --pod, --namespace, --node, --cidr, --proto, --port.
struct FilterFlags {
  std::vector<std::string> pods;
  std::vector<std::string> namespaces;
  std::vector<std::string> nodes;
  std::vector<std::string> cidrs;
  std::vector<std::string> protos;
  std::vector<std::uint16_t> ports;
  bool control = false;

  void add_to(CLI::App& sub);
  /// @brief Throws UserError naming a bad CIDR or protocol.
  [[nodiscard]] output::FlowFilter filter() const;
  /// @brief The flags as a user would type them: "--pod web --proto tcp" ("" for none).
  [[nodiscard]] std::string to_args() const;
};

/// @brief Parses filter flags typed as one line ("--pod web --proto tcp", quotes allowed),
/// with the same options and checks as the command line; "" gives the empty filter. The
/// error is one sentence for a status line.
Result<output::FlowFilter> parse_filter(const std::string& text);

}  // namespace podpath::cli
