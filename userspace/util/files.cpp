#include "util/files.hpp"

#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <system_error>
#include <vector>

#include "util/fd.hpp"

namespace podpath {
namespace {

namespace fs = std::filesystem;

/// What a non-regular file is, for the error message.
const char* kind_of(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISSOCK(mode)) return "a socket";
  if (S_ISLNK(mode)) return "a symlink";
  return "not a regular file";
}

Result<void> write_all(int fd, std::string_view content, const std::string& what) {
  while (!content.empty()) {
    const ssize_t n = ::write(fd, content.data(), content.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(errno, "cannot write {}", what);
    if (n == 0) return make_error(EIO, "cannot write {}", what);
    content.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

}  // namespace

Result<std::string> read_regular_file(const fs::path& path, std::size_t max_bytes, std::string_view what) {
  const std::string name = what.empty() ? path.string() : std::string(what) + " " + path.string();
  // Look before opening: opening a FIFO blocks, opening some devices has effects.
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return make_error(errno, "cannot read {}", name);
  if (!S_ISREG(st.st_mode)) return make_error(0, "cannot read {}: it is {}", name, kind_of(st.st_mode));
  // O_NONBLOCK: if it was swapped for a FIFO since, the open does not wait for a writer.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
  if (!fd) return make_error(errno, "cannot read {}", name);
  if (::fstat(fd.get(), &st) != 0) return make_error(errno, "cannot read {}", name);
  if (!S_ISREG(st.st_mode)) return make_error(0, "cannot read {}: it is {}", name, kind_of(st.st_mode));
  const auto too_large = [&] {
    return make_error(0, "cannot read {}: it is larger than {} bytes, the most podpath reads from it", name,
                      max_bytes);
  };
  if (static_cast<std::uint64_t>(st.st_size) > max_bytes) return too_large();
  std::string out;
  // /proc and sysfs files report size 0: read in chunks up to the limit.
  char buf[16384];
  for (;;) {
    const ssize_t n = ::read(fd.get(), buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return make_error(errno, "cannot read {}", name);
    if (n == 0) break;
    if (out.size() + static_cast<std::size_t>(n) > max_bytes) return too_large();
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

std::optional<std::string> read_file(const fs::path& path, std::size_t max_bytes) {
  auto text = read_regular_file(path, max_bytes);
  if (!text) {
    errno = text.error().code != 0 ? text.error().code : EINVAL;
    return std::nullopt;
  }
  return std::move(*text);
}

Result<void> write_file_atomically(const fs::path& path, std::string_view content) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode)) {
    return make_error(0, "cannot write {}: it is {}, and podpath only replaces regular files", path.string(),
                      kind_of(st.st_mode));
  }
  const fs::path dir = path.has_parent_path() ? path.parent_path() : fs::path(".");
  // A fresh name each time, created with O_EXCL: a symlink planted at a predictable
  // PATH.tmp cannot redirect the write.
  std::string tmp = (dir / ("." + path.filename().string() + ".tmp.XXXXXX")).string();
  Fd fd(::mkostemp(tmp.data(), O_CLOEXEC));
  if (!fd) return make_error(errno, "cannot create a temporary file beside {}", path.string());
  const auto fail = [&](Error e) -> Result<void> {
    ::unlink(tmp.c_str());
    return e;
  };
  if (::fchmod(fd.get(), 0644) != 0) return fail(make_error(errno, "cannot write {}", tmp));
  if (auto r = write_all(fd.get(), content, tmp); !r) return fail(r.error());
  if (::close(fd.release()) != 0) return fail(make_error(errno, "cannot write {}", tmp));
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    return fail(make_error(errno, "cannot rename {} to {}", tmp, path.string()));
  }
  return {};
}

void walk_directories(const fs::path& root, const std::function<bool(const fs::path&)>& visit) {
  std::vector<fs::path> pending{root};
  while (!pending.empty()) {
    const fs::path dir = std::move(pending.back());
    pending.pop_back();
    std::vector<fs::path> children;
    std::error_code ec;  // this directory's own: an error ends its listing, not the walk
    for (fs::directory_iterator it(dir, fs::directory_options::skip_permission_denied, ec), end;
         !ec && it != end; it.increment(ec)) {
      std::error_code entry_ec;
      if (it->is_directory(entry_ec) && !it->is_symlink(entry_ec)) children.push_back(it->path());
    }
    for (auto& child : children) {
      if (visit(child)) pending.push_back(std::move(child));
    }
  }
}

}  // namespace podpath
