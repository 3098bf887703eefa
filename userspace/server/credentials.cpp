#include "server/credentials.hpp"

#include <spdlog/spdlog.h>

namespace podpath::server {

Result<Credentials> load_credentials(const std::vector<ListenAddress>& listen, const CredentialFiles& files) {
  ApiSecurity security{files.tls_cert.has_value() && files.tls_key.has_value(),
                       files.tls_client_ca.has_value(), files.token_file.has_value()};
  if (files.tls_cert.has_value() != files.tls_key.has_value())
    return make_error(EINVAL, "--tls-cert and --tls-key go together");
  if (auto r = check_exposure(listen, security); !r) return r.error();
  Credentials c;
  if (security.tls) {
    auto tls = TlsStore::load(TlsFiles{*files.tls_cert, *files.tls_key, files.tls_client_ca});
    if (!tls) return tls.error();
    c.tls = std::move(*tls);
    spdlog::info("TLS: {}", c.tls->describe());
  }
  if (files.token_file) {
    auto token = TokenStore::load(*files.token_file);
    if (!token) return token.error();
    c.token = std::move(*token);
  }
  return c;
}

}  // namespace podpath::server
