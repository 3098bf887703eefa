#include "server/tls.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>

namespace podpath::server {
namespace {

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

Result<File> open_pem(const std::filesystem::path& path, const char* what) {
  File f(std::fopen(path.c_str(), "r"));
  if (!f) return make_error(errno, "cannot read the {} {}", what, path.string());
  return f;
}

}  // namespace

struct TlsStore::Material {
  X509* cert = nullptr;
  STACK_OF(X509) * chain = nullptr;
  EVP_PKEY* key = nullptr;
  X509_STORE* client_ca = nullptr;

  Material() = default;
  Material(const Material&) = delete;
  Material& operator=(const Material&) = delete;
  ~Material() {
    X509_free(cert);
    sk_X509_pop_free(chain, X509_free);
    EVP_PKEY_free(key);
    X509_STORE_free(client_ca);
  }
};

Result<std::shared_ptr<const TlsStore::Material>> TlsStore::read(const TlsFiles& files) {
  auto m = std::make_shared<Material>();
  auto cert_file = open_pem(files.cert, "certificate (--tls-cert)");
  if (!cert_file) return cert_file.error();
  m->cert = PEM_read_X509(cert_file->get(), nullptr, nullptr, nullptr);
  if (m->cert == nullptr)
    return make_error(EINVAL, "--tls-cert {} holds no PEM certificate: {}", files.cert.string(),
                      openssl_error());
  m->chain = sk_X509_new_null();
  while (X509* extra = PEM_read_X509(cert_file->get(), nullptr, nullptr, nullptr))
    sk_X509_push(m->chain, extra);
  ERR_clear_error();  // the end of the file ends the loop with an error

  auto key_file = open_pem(files.key, "key (--tls-key)");
  if (!key_file) return key_file.error();
  m->key = PEM_read_PrivateKey(key_file->get(), nullptr, nullptr, nullptr);
  if (m->key == nullptr)
    return make_error(EINVAL, "--tls-key {} holds no PEM private key: {}", files.key.string(),
                      openssl_error());
  if (X509_check_private_key(m->cert, m->key) != 1)
    return make_error(EINVAL, "--tls-key {} does not belong to the certificate in {}", files.key.string(),
                      files.cert.string());

  if (files.client_ca) {
    m->client_ca = X509_STORE_new();
    if (X509_STORE_load_file(m->client_ca, files.client_ca->c_str()) != 1)
      return make_error(EINVAL, "--tls-client-ca {} holds no PEM CA certificate: {}",
                        files.client_ca->string(), openssl_error());
  }
  return std::shared_ptr<const Material>(std::move(m));
}

Result<std::unique_ptr<TlsStore>> TlsStore::load(const TlsFiles& files) {
  std::unique_ptr<TlsStore> store(new TlsStore(files));
  if (auto r = store->reload(); !r) return r.error();
  return store;
}

Result<void> TlsStore::reload() {
  auto material = read(files_);
  if (!material) return material.error();
  std::lock_guard lock(mutex_);
  current_ = std::move(*material);
  return {};
}

std::shared_ptr<const TlsStore::Material> TlsStore::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

int TlsStore::on_certificate(SSL* ssl, void* arg) {
  const auto m = static_cast<TlsStore*>(arg)->current();
  if (!m) return 0;
  if (SSL_use_certificate(ssl, m->cert) != 1 || SSL_use_PrivateKey(ssl, m->key) != 1 ||
      SSL_set1_chain(ssl, m->chain) != 1) {
    return 0;
  }
  // The store verifying client certificates is taken per connection as well, so that a
  // reloaded CA applies to the next handshake.
  if (m->client_ca != nullptr && SSL_set1_verify_cert_store(ssl, m->client_ca) != 1) return 0;
  return 1;
}

bool TlsStore::configure(SSL_CTX& ctx) {
  if (SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION) != 1) return false;
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_cert_cb(&ctx, &TlsStore::on_certificate, this);
  if (files_.client_ca) SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  return true;
}

std::string TlsStore::describe() const {
  const auto m = current();
  if (!m) return "no certificate";
  char subject[256] = {};
  X509_NAME_oneline(X509_get_subject_name(m->cert), subject, sizeof(subject));
  const ASN1_TIME* not_after = X509_get0_notAfter(m->cert);
  std::string expiry = "?";
  if (BIO* bio = BIO_new(BIO_s_mem())) {
    if (ASN1_TIME_print(bio, not_after) == 1) {
      char* data = nullptr;
      const long n = BIO_get_mem_data(bio, &data);
      expiry.assign(data, static_cast<std::size_t>(n));
    }
    BIO_free(bio);
  }
  return std::string(subject) + ", valid until " + expiry +
         (files_.client_ca ? ", client certificates required" : "");
}

}  // namespace podpath::server
