#pragma once
/// @file
/// @brief Where the agent listens (--listen, --metrics-listen) and what each address
/// requires: loopback and unix sockets may be plain HTTP, any other address needs TLS and
/// client authentication.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace podpath::server {

/// @brief One listening address.
struct ListenAddress {
  enum class Kind { Tcp, Unix };
  Kind kind = Kind::Tcp;
  std::string host;        ///< Tcp: an IP address literal ("127.0.0.1", "::1", "10.0.0.2")
  std::uint16_t port = 0;  ///< Tcp: 0 = any free port (the bound one is reported)
  std::string path;        ///< Unix: the socket file

  /// @brief Only this machine can connect: a loopback address, or a unix socket (mode 0600).
  [[nodiscard]] bool local_only() const;
  /// @brief "127.0.0.1:9990", "[::1]:9990", "unix:/run/x.sock".
  [[nodiscard]] std::string to_string() const;
};

/// @brief Parses "ADDR:PORT" (IPv6 as "[ADDR]:PORT"; "localhost" is 127.0.0.1) or
/// "unix:PATH" (an absolute path). The error names `flag`.
Result<ListenAddress> parse_listen_address(std::string_view text, std::string_view flag = "--listen");

/// @brief How the API is protected.
struct ApiSecurity {
  bool tls = false;           ///< --tls-cert and --tls-key
  bool client_certs = false;  ///< --tls-client-ca (mutual TLS)
  bool token = false;         ///< --token-file
};

/// @brief --tls-cert, --tls-key, --tls-client-ca, --token-file: what protects a listener
/// that is not loopback (the agent's and `trace --web`'s).
struct CredentialFiles {
  std::optional<std::filesystem::path> tls_cert;
  std::optional<std::filesystem::path> tls_key;
  std::optional<std::filesystem::path> tls_client_ca;
  std::optional<std::filesystem::path> token_file;
};

/// @brief Refuses to expose the API: an address that is not local_only() needs TLS and
/// client authentication (client certificates or a bearer token). The error is one
/// sentence that names the address and the flags. Also refuses a client CA without TLS.
Result<void> check_exposure(const std::vector<ListenAddress>& api, const ApiSecurity& security);

}  // namespace podpath::server
