#include "cluster/agent_endpoint.hpp"

#include <cerrno>
#include <charconv>

#include "model/address.hpp"

namespace podpath::cluster {
namespace {

Error bad(std::string_view text, std::string_view why) {
  return Error{"agent address '" + std::string(text) + "': " + std::string(why)};
}

bool valid_host_name(std::string_view host) {
  if (host.empty() || host.size() > 253) return false;
  for (const char c : host) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '.' || c == '_';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

std::string AgentEndpoint::display() const { return unix_socket.empty() ? base_url : "unix:" + unix_socket; }

Result<AgentEndpoint> parse_agent_endpoint(std::string_view text) {
  AgentEndpoint e;
  if (text.starts_with("unix:")) {
    const std::string_view path = text.substr(5);
    if (path.empty() || path.front() != '/')
      return bad(text, "a unix socket needs an absolute path (unix:/run/...)");
    if (path.find('\0') != std::string_view::npos) return bad(text, "the path holds a NUL byte");
    e.unix_socket = std::string(path);
    e.base_url = "http://agent";
    return e;
  }
  std::string_view scheme;
  if (text.starts_with("https://")) {
    scheme = "https";
  } else if (text.starts_with("http://")) {
    scheme = "http";
  } else {
    return bad(text, "expected https://HOST:PORT, http://HOST:PORT or unix:/PATH");
  }
  std::string_view rest = text.substr(scheme.size() + 3);
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.find_first_of("/?#@") != std::string_view::npos)
    return bad(text, "only HOST:PORT may follow the scheme (no path, query or user)");
  std::string_view host;
  std::string_view port;
  if (rest.starts_with('[')) {
    const auto close = rest.find(']');
    if (close == std::string_view::npos) return bad(text, "an IPv6 address needs its closing ']'");
    host = rest.substr(1, close - 1);
    const auto addr = model::IpAddress::parse(host);
    if (!addr || addr->is_v4()) return bad(text, "'" + std::string(host) + "' is not an IPv6 address");
    if (rest.size() <= close + 1 || rest[close + 1] != ':')
      return bad(text, "the port is missing (HOST:PORT)");
    port = rest.substr(close + 2);
  } else {
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos) return bad(text, "the port is missing (HOST:PORT)");
    host = rest.substr(0, colon);
    port = rest.substr(colon + 1);
    if (!valid_host_name(host)) return bad(text, "'" + std::string(host) + "' is not a host name or address");
  }
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value == 0 || value > 65535)
    return bad(text, "the port must be a number from 1 to 65535");
  e.base_url = std::string(scheme) + "://" + std::string(rest);
  return e;
}

Result<std::vector<AgentEndpoint>> parse_agent_endpoints(std::string_view list) {
  std::vector<AgentEndpoint> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    std::string_view item = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (item.empty()) continue;
    auto e = parse_agent_endpoint(item);
    if (!e) return e.error();
    for (const auto& seen : out) {
      if (seen == *e) return Error{"agent address '" + std::string(item) + "' is given twice"};
    }
    out.push_back(std::move(*e));
  }
  if (out.empty()) return Error{"no agent address given (--agents https://HOST:PORT,unix:/PATH,...)"};
  return out;
}

}  // namespace podpath::cluster
