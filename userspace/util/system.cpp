#include "util/system.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <ctime>

#include <cerrno>
#include <fstream>
#include <sstream>
#include <system_error>

namespace podpath {

std::optional<std::filesystem::path> find_mount(std::string_view mounts_text, std::string_view fstype) {
  std::istringstream in{std::string(mounts_text)};
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string source, target, type;
    if (!(fields >> source >> target >> type)) continue;
    if (type == fstype) return std::filesystem::path(target);
  }
  return std::nullopt;
}

std::optional<std::filesystem::path> find_mount(std::string_view fstype) {
  const auto text = read_file("/proc/self/mounts");
  if (!text) return std::nullopt;
  return find_mount(*text, fstype);
}

bool has_capability(int cap) {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};
  if (syscall(SYS_capget, &header, data) != 0) return false;
  const auto idx = static_cast<unsigned>(cap) / 32;
  if (idx >= _LINUX_CAPABILITY_U32S_3) return false;
  return (data[idx].effective & (1u << (static_cast<unsigned>(cap) % 32))) != 0;
}

std::uint64_t monotonic_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ULL + static_cast<std::uint64_t>(ts.tv_nsec);
}

std::string kernel_release() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return u.release;
}

std::optional<std::string> read_file(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return std::nullopt;
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

Result<void> write_file_atomically(const std::filesystem::path& path, std::string_view content) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    if (!out) return make_error(errno, "cannot write {}", tmp.string());
    out << content;
    if (!out.flush()) return make_error(errno, "cannot write {}", tmp.string());
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return make_error(ec.value(), "cannot rename {} to {}", tmp.string(), path.string());
  return {};
}

}  // namespace podpath
