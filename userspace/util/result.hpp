#pragma once
/// @file
/// @brief Result<T>: a value or an Error (message + errno), for failures that are
/// expected at run time (a vanished interface, a refused syscall). Fatal user or
/// configuration errors are exceptions instead, caught in main.

#include <cerrno>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace podpath {

/// @brief What went wrong: a sentence for the user and, when a syscall failed, its errno.
struct Error {
  std::string message;
  int code = 0;  ///< positive errno, or 0 when no syscall is involved

  /// @brief "message: strerror(code)" or just "message".
  [[nodiscard]] std::string to_string() const {
    if (code == 0) return message;
    return fmt::format("{}: {}", message, std::strerror(code));
  }
};

/// @brief Builds an Error; `code` may be given negative (libbpf style), it is stored positive.
template <typename... Args>
[[nodiscard]] Error make_error(int code, fmt::format_string<Args...> format, Args&&... args) {
  return Error{fmt::format(format, std::forward<Args>(args)...), code < 0 ? -code : code};
}

/// @brief `e` with where it happened put before its message ("context: message"), its
/// errno kept. The one way to pass an error up with more context: formatting
/// `e.to_string()` into a new error that keeps `e.code` prints the errno text twice
/// ("...: Operation not permitted: Operation not permitted").
template <typename... Args>
[[nodiscard]] Error wrap_error(const Error& e, fmt::format_string<Args...> context, Args&&... args) {
  return Error{fmt::format(context, std::forward<Args>(args)...) + ": " + e.message, e.code};
}

/// @brief Holds either a T or an Error.
template <typename T> class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}      // NOLINT(google-explicit-constructor)
  Result(Error error) : v_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  [[nodiscard]] const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

/// @brief Success carries nothing; failure carries an Error.
template <> class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool ok() const { return !error_.has_value(); }
  explicit operator bool() const { return ok(); }
  [[nodiscard]] const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

/// @brief Fatal error for the user (bad flag, unreadable config): thrown, caught in main,
/// printed as one sentence, exit code 2.
class UserError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace podpath
