#pragma once
/// @file
/// @brief The API's security rules and material, shared by the agent and `trace --web`:
/// a listener that is not loopback needs TLS and client authentication; the certificate,
/// key, client CA and token are loaded before anything listens. Internal to the server layer.

#include <memory>
#include <vector>

#include "server/listen_address.hpp"
#include "server/tls.hpp"
#include "server/token.hpp"
#include "util/result.hpp"

namespace podpath::server {

/// @brief What the API listeners are protected with (either may be null).
struct Credentials {
  std::unique_ptr<TlsStore> tls;
  std::unique_ptr<TokenStore> token;
};

/// @brief Checks the security rules for `listen` (refusing a bad combination with one
/// sentence), then loads the TLS material and the token.
Result<Credentials> load_credentials(const std::vector<ListenAddress>& listen, const CredentialFiles& files);

}  // namespace podpath::server
