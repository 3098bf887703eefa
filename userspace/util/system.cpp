#include "util/system.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <ctime>

#include <cerrno>
#include <sstream>

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

std::int64_t realtime_ns() {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000LL + ts.tv_nsec;
}

std::string kernel_release() {
  utsname u{};
  if (uname(&u) != 0) return "unknown";
  return u.release;
}

}  // namespace podpath
