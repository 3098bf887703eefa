#include "bpf/batch_lookup.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "podpath_abi.h"

namespace podpath::bpf {

Result<std::unique_ptr<BatchLookup>> BatchLookup::open(int prog_fd, int batch_map_fd) {
  bpf_map_info info{};
  __u32 info_len = sizeof(info);
  if (bpf_obj_get_info_by_fd(batch_map_fd, &info, &info_len) != 0) {
    return make_error(errno, "cannot read the batch-lookup map's description");
  }
  if (info.value_size != sizeof(pp_read_entry) || info.max_entries != PP_READ_BATCH) {
    return make_error(EPROTO, "the batch-lookup map holds {} entries of {} B, not {} of {} B",
                      info.max_entries, info.value_size, PP_READ_BATCH, sizeof(pp_read_entry));
  }
  const auto page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  const std::size_t len = (std::size_t{PP_READ_BATCH} * sizeof(pp_read_entry) + page - 1) / page * page;
  void* mem = mmap(nullptr, len, PROT_READ | PROT_WRITE, MAP_SHARED, batch_map_fd, 0);
  if (mem == MAP_FAILED) return make_error(errno, "cannot map the batch-lookup map");
  return std::unique_ptr<BatchLookup>(new BatchLookup(prog_fd, mem, len));
}

BatchLookup::~BatchLookup() { munmap(mem_, len_); }

Result<void> BatchLookup::lookup(const void* keys, std::size_t key_size, std::size_t count,
                                 const std::function<void(std::size_t, const pp_flow_stats&)>& found) {
  auto* entries = static_cast<pp_read_entry*>(mem_);
  const auto* bytes = static_cast<const std::uint8_t*>(keys);
  for (std::size_t from = 0; from < count; from += PP_READ_BATCH) {
    const std::size_t n = std::min<std::size_t>(PP_READ_BATCH, count - from);
    for (std::size_t i = 0; i < n; ++i) std::memcpy(&entries[i].key, bytes + (from + i) * key_size, key_size);
    pp_read_args args{static_cast<__u32>(n), key_size == sizeof(pp_flow4_map_key) ? 1U : 0U};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &args, .ctx_size_in = sizeof(args));
    if (bpf_prog_test_run_opts(prog_fd_, &opts) != 0) {
      return make_error(errno, "cannot look up the changed flow entries");
    }
    for (std::size_t i = 0; i < n; ++i) {
      if (entries[i].found != 0) found(from + i, entries[i].stats);
    }
  }
  return {};
}

bool kernel_has_batch_lookup() {
  static const bool has = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_SYSCALL, nullptr) == 1 &&
                          libbpf_probe_bpf_helper(BPF_PROG_TYPE_SYSCALL, BPF_FUNC_loop, nullptr) == 1;
  return has;
}

}  // namespace podpath::bpf
