#include "util/capabilities.hpp"

#include <linux/capability.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace podpath {
namespace {

using CapData = std::array<__user_cap_data_struct, _LINUX_CAPABILITY_U32S_3>;

Result<CapData> get_caps() {
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  CapData data{};
  if (syscall(SYS_capget, &header, data.data()) != 0) return make_error(errno, "capget failed");
  return data;
}

CapabilitySet join(std::uint32_t low, std::uint32_t high) {
  return static_cast<CapabilitySet>(high) << 32 | low;
}

// capsh's names, indexed by CAP_* number (linux/capability.h, up to CAP_CHECKPOINT_RESTORE).
constexpr std::array<const char*, 41> kNames = {"cap_chown",
                                                "cap_dac_override",
                                                "cap_dac_read_search",
                                                "cap_fowner",
                                                "cap_fsetid",
                                                "cap_kill",
                                                "cap_setgid",
                                                "cap_setuid",
                                                "cap_setpcap",
                                                "cap_linux_immutable",
                                                "cap_net_bind_service",
                                                "cap_net_broadcast",
                                                "cap_net_admin",
                                                "cap_net_raw",
                                                "cap_ipc_lock",
                                                "cap_ipc_owner",
                                                "cap_sys_module",
                                                "cap_sys_rawio",
                                                "cap_sys_chroot",
                                                "cap_sys_ptrace",
                                                "cap_sys_pacct",
                                                "cap_sys_admin",
                                                "cap_sys_boot",
                                                "cap_sys_nice",
                                                "cap_sys_resource",
                                                "cap_sys_time",
                                                "cap_sys_tty_config",
                                                "cap_mknod",
                                                "cap_lease",
                                                "cap_audit_write",
                                                "cap_audit_control",
                                                "cap_setfcap",
                                                "cap_mac_override",
                                                "cap_mac_admin",
                                                "cap_syslog",
                                                "cap_wake_alarm",
                                                "cap_block_suspend",
                                                "cap_audit_read",
                                                "cap_perfmon",
                                                "cap_bpf",
                                                "cap_checkpoint_restore"};
static_assert(kNames.size() == CAP_LAST_CAP + 1, "a capability without a name: add it to kNames");

}  // namespace

CapabilitySet capability_set(std::initializer_list<int> caps) {
  CapabilitySet set = 0;
  for (int c : caps) set |= CapabilitySet{1} << c;
  return set;
}

CapabilitySet effective_capabilities() {
  auto caps = get_caps();
  return caps ? join((*caps)[0].effective, (*caps)[1].effective) : 0;
}

CapabilitySet permitted_capabilities() {
  auto caps = get_caps();
  return caps ? join((*caps)[0].permitted, (*caps)[1].permitted) : 0;
}

Result<void> thread_keep_capabilities(CapabilitySet keep) {
  auto caps = get_caps();
  if (!caps) return caps.error();
  const CapabilitySet permitted = join((*caps)[0].permitted, (*caps)[1].permitted) & keep;
  CapData data{};
  for (std::size_t i = 0; i < data.size(); ++i) {
    const auto word = static_cast<std::uint32_t>(permitted >> (32 * i));
    data[i].permitted = word;
    data[i].effective = word;
    data[i].inheritable = 0;
  }
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  if (syscall(SYS_capset, &header, data.data()) != 0) return make_error(errno, "capset failed");
  return {};
}

std::string capability_names(CapabilitySet set) {
  std::string out;
  for (std::size_t cap = 0; cap < 64; ++cap) {
    if ((set & (CapabilitySet{1} << cap)) == 0) continue;
    if (!out.empty()) out += ",";
    out += cap < kNames.size() ? std::string(kNames[cap]) : "cap_" + std::to_string(cap);
  }
  return out;
}

}  // namespace podpath
