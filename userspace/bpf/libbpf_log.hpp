#pragma once
/// @file
/// @brief Routes libbpf's own log lines into spdlog.

namespace podpath::bpf {

/// @brief Installs the libbpf print callback: warnings -> spdlog warn, info -> info,
/// debug (verifier chatter) -> debug, which only shows under -v.
void route_libbpf_log_to_spdlog();

/// @brief While alive, on the thread that made it, libbpf's echo of the kernel's error
/// message ("Kernel error message: ...") is logged at debug level: for calls whose failure
/// is an expected answer, such as asking for a filter in an empty TC slot.
class QuietKernelErrors {
 public:
  QuietKernelErrors();
  ~QuietKernelErrors();
  QuietKernelErrors(const QuietKernelErrors&) = delete;
  QuietKernelErrors& operator=(const QuietKernelErrors&) = delete;
};

}  // namespace podpath::bpf
