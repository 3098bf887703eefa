#include "server/token.hpp"

#include <openssl/crypto.h>

#include "util/system.hpp"

namespace podpath::server {

Result<std::string> TokenStore::read_token(const std::filesystem::path& file) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(file, ec);
  if (ec) return make_error(ec.value(), "cannot read the token file {}", file.string());
  if (size > kMaxTokenBytes + 64)
    return make_error(EINVAL, "the token file {} is larger than {} bytes", file.string(), kMaxTokenBytes);
  auto text = read_file(file);
  if (!text) return make_error(errno, "cannot read the token file {}", file.string());
  const auto first = text->find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return make_error(EINVAL, "the token file {} is empty", file.string());
  const auto last = text->find_last_not_of(" \t\r\n");
  std::string token = text->substr(first, last - first + 1);
  if (token.size() > kMaxTokenBytes)
    return make_error(EINVAL, "the token in {} is longer than {} bytes", file.string(), kMaxTokenBytes);
  return token;
}

Result<std::unique_ptr<TokenStore>> TokenStore::load(const std::filesystem::path& file) {
  std::unique_ptr<TokenStore> store(new TokenStore(file));
  if (auto r = store->reload(); !r) return r.error();
  return store;
}

Result<void> TokenStore::reload() {
  auto token = read_token(file_);
  if (!token) return token.error();
  std::lock_guard lock(mutex_);
  token_ = std::make_shared<const std::string>(std::move(*token));
  return {};
}

bool TokenStore::accepts(std::string_view authorization) const {
  std::shared_ptr<const std::string> token;
  {
    std::lock_guard lock(mutex_);
    token = token_;
  }
  constexpr std::string_view kScheme = "Bearer ";
  if (!token || authorization.size() != kScheme.size() + token->size()) return false;
  if (authorization.substr(0, kScheme.size()) != kScheme) return false;
  return CRYPTO_memcmp(authorization.data() + kScheme.size(), token->data(), token->size()) == 0;
}

}  // namespace podpath::server
