#pragma once
/// @file
/// @brief The agent's TLS material (--tls-cert, --tls-key, --tls-client-ca), reloadable
/// while connections are served. Internal to the server layer: it includes OpenSSL.
///
/// Every handshake takes the certificate, key and client CA current at that moment, from
/// a certificate callback (SSL_CTX_set_cert_cb), so a reload (SIGHUP) never touches the
/// SSL_CTX that other threads are using.

#include <server_third_party.hpp>  // private to this layer (see there)

#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "util/result.hpp"

namespace podpath::server {

/// @brief The files.
struct TlsFiles {
  std::filesystem::path cert;                      ///< PEM: the server certificate, then its chain
  std::filesystem::path key;                       ///< PEM private key
  std::optional<std::filesystem::path> client_ca;  ///< PEM CA bundle: require client certificates
};

class TlsStore {
 public:
  /// @brief Loads and checks the files (the key must match the certificate).
  static Result<std::unique_ptr<TlsStore>> load(const TlsFiles& files);
  /// @brief Loads them again; on failure the current material stays.
  Result<void> reload();
  /// @brief Sets up a server context: TLS 1.2 or later, the certificate callback, and
  /// client certificate verification when a client CA is configured.
  bool configure(SSL_CTX& ctx);
  /// @brief Clients must present a certificate of the client CA (mutual TLS).
  [[nodiscard]] bool verifies_clients() const { return files_.client_ca.has_value(); }
  /// @brief "CN=node1 (expires 2026-11-26)": for the log.
  [[nodiscard]] std::string describe() const;

 private:
  struct Material;
  explicit TlsStore(TlsFiles files) : files_(std::move(files)) {}
  static Result<std::shared_ptr<const Material>> read(const TlsFiles& files);
  static int on_certificate(SSL* ssl, void* arg);
  [[nodiscard]] std::shared_ptr<const Material> current() const;

  TlsFiles files_;
  mutable std::mutex mutex_;
  std::shared_ptr<const Material> current_;
};

}  // namespace podpath::server
