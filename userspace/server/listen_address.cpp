#include "server/listen_address.hpp"

#include <fmt/format.h>

#include <charconv>

#include "model/address.hpp"

namespace podpath::server {

bool ListenAddress::local_only() const {
  if (kind == Kind::Unix) return true;
  const auto ip = model::IpAddress::parse(host);
  if (!ip) return false;
  if (ip->is_v4()) return (ip->v4_host() >> 24) == 127;
  return *ip == *model::IpAddress::parse("::1");
}

std::string ListenAddress::to_string() const {
  if (kind == Kind::Unix) return "unix:" + path;
  if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
  return fmt::format("{}:{}", host, port);
}

Result<ListenAddress> parse_listen_address(std::string_view text, std::string_view flag) {
  ListenAddress a;
  if (text.rfind("unix:", 0) == 0) {
    a.kind = ListenAddress::Kind::Unix;
    a.path = std::string(text.substr(5));
    if (a.path.empty() || a.path[0] != '/')
      return make_error(EINVAL, "{} unix:PATH needs an absolute path (got '{}')", flag, text);
    // sockaddr_un.sun_path holds 108 bytes with the terminating NUL.
    if (a.path.size() > 107)
      return make_error(EINVAL, "{} {}: the socket path is longer than 107 bytes", flag, text);
    return a;
  }
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos)
    return make_error(EINVAL, "{} takes ADDRESS:PORT or unix:PATH (got '{}')", flag, text);
  std::string_view host = text.substr(0, colon);
  const std::string_view port = text.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") host = "127.0.0.1";
  const auto ip = model::IpAddress::parse(host);
  if (!ip) return make_error(EINVAL, "{} {}: '{}' is not an IP address", flag, text, host);
  unsigned value = 0;
  auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || p != port.data() + port.size() || value > 65535)
    return make_error(EINVAL, "{} {}: '{}' is not a port (0-65535)", flag, text, port);
  a.host = std::string(host);
  a.port = static_cast<std::uint16_t>(value);
  return a;
}

Result<void> check_exposure(const std::vector<ListenAddress>& api, const ApiSecurity& security) {
  if (security.client_certs && !security.tls)
    return make_error(EINVAL, "--tls-client-ca needs --tls-cert and --tls-key (mutual TLS is TLS first)");
  for (const auto& a : api) {
    if (a.local_only()) continue;
    if (!security.tls || !(security.client_certs || security.token)) {
      return make_error(
          EINVAL,
          "refusing to serve the API on {}, which is not a loopback address, without TLS "
          "(--tls-cert and --tls-key) and client authentication (--tls-client-ca or --token-file)",
          a.to_string());
    }
  }
  return {};
}

}  // namespace podpath::server
