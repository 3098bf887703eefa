#pragma once
/// @file
/// @brief The bearer token of --token-file: loaded at start, reloaded on SIGHUP, compared
/// in constant time. Safe to check from many threads while the main thread reloads.

#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

#include "util/result.hpp"

namespace podpath::server {

/// @brief Longest token accepted (a Kubernetes service-account token is about 1 KiB).
inline constexpr std::size_t kMaxTokenBytes = 8192;

class TokenStore {
 public:
  /// @brief Reads the file: the token is its content without surrounding blanks and
  /// newlines; an empty or over-long token, or an unreadable file, is an error.
  static Result<std::unique_ptr<TokenStore>> load(const std::filesystem::path& file);
  /// @brief Reads the file again; on failure keeps the current token.
  Result<void> reload();
  /// @brief True when `authorization` is "Bearer <the token>".
  [[nodiscard]] bool accepts(std::string_view authorization) const;

 private:
  explicit TokenStore(std::filesystem::path file) : file_(std::move(file)) {}
  static Result<std::string> read_token(const std::filesystem::path& file);

  std::filesystem::path file_;
  mutable std::mutex mutex_;
  std::shared_ptr<const std::string> token_;
};

}  // namespace podpath::server
