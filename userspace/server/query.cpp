#include "server/query.hpp"

#include <charconv>

namespace podpath::server {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Well-formed UTF-8 without control characters: what a name or a filter value may be.
bool is_text(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c < 0x20 || c == 0x7f) return false;
    std::size_t extra = 0;
    if (c >= 0x80) {
      if (c >= 0xc2 && c <= 0xdf) {
        extra = 1;
      } else if (c >= 0xe0 && c <= 0xef) {
        extra = 2;
      } else if (c >= 0xf0 && c <= 0xf4) {
        extra = 3;
      } else {
        return false;
      }
    }
    if (extra > 0 && i + extra >= s.size()) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return false;
    }
    i += extra + 1;
  }
  return true;
}

Result<std::string> decode(std::string_view s, std::string_view what) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%') {
      const bool complete = i + 2 < s.size();
      const int hi = complete ? hex_value(s[i + 1]) : -1;
      const int lo = complete ? hex_value(s[i + 2]) : -1;
      if (hi < 0 || lo < 0) return make_error(0, "bad percent-escape in query {} '{}'", what, s);
      out += static_cast<char>(hi << 4 | lo);
      i += 2;
    } else {
      out += s[i];
    }
  }
  if (!is_text(out)) return make_error(0, "query {} holds a control character or is not UTF-8 text", what);
  return out;
}

// "a,b" -> {"a", "b"}; empty items are errors (they would match nothing).
Result<void> split_list(const std::string& name, const std::string& value, std::vector<std::string>& out) {
  std::size_t start = 0;
  while (true) {
    const auto comma = value.find(',', start);
    std::string item = value.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) return make_error(0, "'{}' needs a value (got '{}')", name, value);
    if (out.size() >= kMaxListValues)
      return make_error(0, "more than {} values for '{}'", kMaxListValues, name);
    out.push_back(std::move(item));
    if (comma == std::string::npos) return {};
    start = comma + 1;
  }
}

template <typename T> std::optional<T> parse_number(std::string_view s) {
  T v{};
  const auto* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, v);
  if (s.empty() || ec != std::errc() || p != end) return std::nullopt;
  return v;
}

Result<std::size_t> parse_limit(const std::string& value) {
  const auto n = parse_number<std::size_t>(value);
  if (!n || *n > kMaxLimit)
    return make_error(0, "'limit' must be a number from 0 (all) to {} (got '{}')", kMaxLimit, value);
  return *n;
}

Result<void> apply_flow_param(FlowQuery& q, const std::string& name, const std::string& value,
                              bool& limit_seen) {
  output::FlowFilter& f = q.filter;
  std::vector<std::string> items;
  if (name == "pod" || name == "namespace" || name == "node" || name == "cidr" || name == "proto" ||
      name == "port") {
    if (auto r = split_list(name, value, items); !r) return r;
  }
  if (name == "pod") {
    f.pods.insert(f.pods.end(), items.begin(), items.end());
  } else if (name == "namespace") {
    f.namespaces.insert(f.namespaces.end(), items.begin(), items.end());
  } else if (name == "node") {
    f.nodes.insert(f.nodes.end(), items.begin(), items.end());
  } else if (name == "cidr") {
    for (const auto& c : items) {
      const auto cidr = model::Cidr::parse(c);
      if (!cidr) return make_error(0, "'cidr' must be a CIDR like 10.10.130.0/24 (got '{}')", c);
      f.cidrs.push_back(*cidr);
    }
  } else if (name == "proto") {
    for (const auto& p : items) {
      auto proto = output::parse_protocol(p);
      if (!proto) return proto.error();
      f.protos.push_back(*proto);
    }
  } else if (name == "port") {
    for (const auto& p : items) {
      const auto port = parse_number<std::uint16_t>(p);
      if (!port) return make_error(0, "'port' must be a number from 0 to 65535 (got '{}')", p);
      f.ports.push_back(*port);
    }
  } else if (name == "control") {
    if (value == "true" || value == "1" || value.empty()) {
      f.control_traffic = true;
    } else if (value == "false" || value == "0") {
      f.control_traffic = false;
    } else {
      return make_error(0, "'control' must be true or false (got '{}')", value);
    }
  } else if (name == "sort") {
    if (value == "rate") {
      q.sort = output::SortKey::Rate;
    } else if (value == "packets") {
      q.sort = output::SortKey::Packets;
    } else if (value == "bytes") {
      q.sort = output::SortKey::Bytes;
    } else {
      return make_error(0, "'sort' must be rate, packets or bytes (got '{}')", value);
    }
  } else if (name == "limit") {
    if (limit_seen) return make_error(0, "'limit' given twice");
    limit_seen = true;
    auto n = parse_limit(value);
    if (!n) return n.error();
    q.limit = *n;
  } else {
    return make_error(
        0, "unknown parameter '{}' (use pod, namespace, node, cidr, proto, port, control, sort, limit)",
        name);
  }
  return {};
}

}  // namespace

Result<QueryParams> parse_query_string(std::string_view query) {
  if (query.size() > kMaxQueryLength)
    return make_error(0, "query string longer than {} bytes", kMaxQueryLength);
  QueryParams out;
  std::size_t start = 0;
  while (start <= query.size()) {
    const auto amp = query.find('&', start);
    const std::string_view pair =
        query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    if (!pair.empty()) {
      if (out.size() >= kMaxQueryParams)
        return make_error(0, "more than {} query parameters", kMaxQueryParams);
      const auto eq = pair.find('=');
      auto name = decode(pair.substr(0, eq), "name");
      if (!name) return name.error();
      if (name->empty()) return make_error(0, "query parameter without a name ('{}')", pair);
      auto value = decode(eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), "value");
      if (!value) return value.error();
      out.emplace_back(std::move(*name), std::move(*value));
    }
    if (amp == std::string_view::npos) break;
    start = amp + 1;
  }
  return out;
}

Result<FlowQuery> parse_flow_query(std::string_view query) {
  auto params = parse_query_string(query);
  if (!params) return params.error();
  FlowQuery q;
  bool limit_seen = false;
  for (const auto& [name, value] : *params) {
    if (auto r = apply_flow_param(q, name, value, limit_seen); !r) return r.error();
  }
  return q;
}

Result<DropsQuery> parse_drops_query(std::string_view query) {
  auto params = parse_query_string(query);
  if (!params) return params.error();
  DropsQuery q;
  bool limit_seen = false;
  for (const auto& [name, value] : *params) {
    if (name != "limit") return make_error(0, "unknown parameter '{}' (use limit)", name);
    if (limit_seen) return make_error(0, "'limit' given twice");
    limit_seen = true;
    auto n = parse_limit(value);
    if (!n) return n.error();
    q.limit = *n;
  }
  return q;
}

Result<void> expect_no_params(std::string_view query) {
  auto params = parse_query_string(query);
  if (!params) return params.error();
  if (!params->empty())
    return make_error(0, "unknown parameter '{}' (this endpoint takes none)", params->front().first);
  return {};
}

}  // namespace podpath::server
