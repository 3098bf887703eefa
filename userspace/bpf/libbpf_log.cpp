#include "bpf/libbpf_log.hpp"

#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <cstdarg>
#include <cstdio>
#include <string>
#include <string_view>

namespace podpath::bpf {
namespace {

thread_local int t_quiet_kernel_errors = 0;

constexpr std::string_view kKernelError = "Kernel error message:";

/// Called by libbpf, from C: nothing may escape it.
int print_to_spdlog(enum libbpf_print_level level, const char* format, va_list args) noexcept try {
  auto spd_level = level == LIBBPF_WARN   ? spdlog::level::warn
                   : level == LIBBPF_INFO ? spdlog::level::info
                                          : spdlog::level::debug;
  // Cheap first: quiet calls echo the kernel's message with this very format.
  if (t_quiet_kernel_errors > 0 && std::string_view(format).find(kKernelError) != std::string_view::npos)
    spd_level = spdlog::level::debug;
  if (!spdlog::should_log(spd_level)) return 0;
  char buf[1024];
  va_list copy;
  va_copy(copy, args);
  const int n = std::vsnprintf(buf, sizeof(buf), format, copy);
  va_end(copy);
  std::string line;
  if (n >= static_cast<int>(sizeof(buf))) {
    line.resize(static_cast<std::size_t>(n) + 1);
    std::vsnprintf(line.data(), line.size(), format, args);
    line.resize(static_cast<std::size_t>(n));
  } else if (n > 0) {
    line.assign(buf, static_cast<std::size_t>(n));
  }
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
  // libbpf starts most of its lines with "libbpf: " already.
  if (line.rfind("libbpf: ", 0) == 0) line.erase(0, 8);
  if (!line.empty()) spdlog::log(spd_level, "libbpf: {}", line);
  return n;
} catch (...) {
  return 0;
}

}  // namespace

void route_libbpf_log_to_spdlog() { libbpf_set_print(print_to_spdlog); }

QuietKernelErrors::QuietKernelErrors() { ++t_quiet_kernel_errors; }
QuietKernelErrors::~QuietKernelErrors() { --t_quiet_kernel_errors; }

}  // namespace podpath::bpf
