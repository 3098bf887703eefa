#include "cli/fd_output.hpp"

#include <unistd.h>

#include <cerrno>

namespace podpath::cli {

FdOutput::FdOutput(int fd, std::function<void()> on_error) : fd_(fd), on_error_(std::move(on_error)) {
  setp(buffer_.data(), buffer_.data() + buffer_.size());
}

FdOutput::~FdOutput() { drain(); }

bool FdOutput::write_all(const char* data, std::size_t size) {
  if (error_ != 0) return false;
  while (size > 0) {
    const ssize_t n = ::write(fd_, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      error_ = n < 0 ? errno : EIO;
      if (on_error_) on_error_();
      return false;
    }
    data += n;
    size -= static_cast<std::size_t>(n);
  }
  return true;
}

bool FdOutput::drain() {
  const auto pending = static_cast<std::size_t>(pptr() - pbase());
  const bool ok = write_all(pbase(), pending);
  setp(buffer_.data(), buffer_.data() + buffer_.size());
  return ok;
}

FdOutput::int_type FdOutput::overflow(int_type ch) {
  if (!drain()) return traits_type::eof();
  if (traits_type::eq_int_type(ch, traits_type::eof())) return traits_type::not_eof(ch);
  *pptr() = traits_type::to_char_type(ch);
  pbump(1);
  return ch;
}

std::streamsize FdOutput::xsputn(const char* s, std::streamsize n) {
  if (error_ != 0) return 0;
  const auto room = epptr() - pptr();
  if (n <= room) {
    traits_type::copy(pptr(), s, static_cast<std::size_t>(n));
    pbump(static_cast<int>(n));
    return n;
  }
  // Larger than what is left: write what is buffered, then this block directly.
  if (!drain() || !write_all(s, static_cast<std::size_t>(n))) return 0;
  return n;
}

int FdOutput::sync() { return drain() ? 0 : -1; }

}  // namespace podpath::cli
