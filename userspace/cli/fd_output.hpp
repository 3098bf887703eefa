#pragma once
/// @file
/// @brief podpath's standard output: a stream buffer over a file descriptor that keeps the
/// first write error instead of losing it (stdio drops the error of its last flush at exit,
/// so `podpath pods >/dev/full` used to exit 0).

#include <array>
#include <functional>
#include <streambuf>

namespace podpath::cli {

/// @brief Buffers output and writes it with write(2). After a failed write it records the
/// errno, discards everything after it (the stream then reports failure) and calls
/// `on_error` once, so that a live command stops: with SIGPIPE ignored, a reader that went
/// away (`podpath trace | head`) is EPIPE here.
class FdOutput : public std::streambuf {
 public:
  explicit FdOutput(int fd, std::function<void()> on_error = {});
  ~FdOutput() override;
  FdOutput(const FdOutput&) = delete;
  FdOutput& operator=(const FdOutput&) = delete;

  /// @brief The errno of the first failed write; 0 while every write succeeded.
  [[nodiscard]] int error() const { return error_; }

 protected:
  int_type overflow(int_type ch) override;
  std::streamsize xsputn(const char* s, std::streamsize n) override;
  int sync() override;

 private:
  bool drain();
  bool write_all(const char* data, std::size_t size);

  int fd_;
  int error_ = 0;
  std::function<void()> on_error_;
  std::array<char, 64 * 1024> buffer_{};
};

}  // namespace podpath::cli
