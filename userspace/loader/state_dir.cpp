#include "loader/state_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

namespace podpath::loader {
namespace {

/// Why `st` is not something podpath may trust, or "" when it is.
std::string distrust(const struct stat& st, bool directory) {
  if (directory ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
    return directory ? "it is not a directory" : "it is not a regular file";
  if (st.st_uid != ::geteuid())
    return "it belongs to user id " + std::to_string(st.st_uid) + ", not podpath's";
  if ((st.st_mode & (S_IWGRP | S_IWOTH)) != 0) return "others may write to it";
  if (!directory && st.st_nlink != 1) return "it has other names (hard links)";
  return {};
}

}  // namespace

Result<Fd> open_state_dir(int parent_fd, const std::string& path, mode_t mode) {
  if (::mkdirat(parent_fd, path.c_str(), mode) != 0 && errno != EEXIST)
    return make_error(errno, "cannot create {}", path);
  Fd fd(::openat(parent_fd, path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  if (!fd) {
    if (errno == ELOOP || errno == ENOTDIR)
      return make_error(0, "refusing {}: it is a symbolic link or not a directory", path);
    return make_error(errno, "cannot open {}", path);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return make_error(errno, "cannot inspect {}", path);
  if (auto why = distrust(st, true); !why.empty()) return make_error(0, "refusing {}: {}", path, why);
  return fd;
}

Result<Fd> open_state_file(int dir_fd, const std::string& name, int flags, mode_t mode) {
  Fd fd(::openat(dir_fd, name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC, mode));
  if (!fd) {
    if (errno == ELOOP) return make_error(0, "refusing {}: it is a symbolic link", name);
    return make_error(errno, "cannot open {}", name);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return make_error(errno, "cannot inspect {}", name);
  if (auto why = distrust(st, false); !why.empty()) return make_error(0, "refusing {}: {}", name, why);
  return fd;
}

std::optional<std::string> read_state_file(int fd, std::size_t limit) {
  std::string out;
  char buf[4096];
  off_t at = 0;
  for (;;) {
    const ssize_t n = ::pread(fd, buf, sizeof(buf), at);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::nullopt;
    if (n == 0) break;
    out.append(buf, static_cast<std::size_t>(n));
    at += n;
    if (out.size() > limit) return std::nullopt;
  }
  return out;
}

}  // namespace podpath::loader
