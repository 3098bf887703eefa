#include "bpf/object.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>

#include <cerrno>
#include <cstring>
#include <utility>
#include <vector>

namespace podpath::bpf {

ObjectHandle::ObjectHandle(bpf_object* obj, std::function<void()> destroy)
    : obj_(obj), destroy_(std::move(destroy)) {}

ObjectHandle::~ObjectHandle() { destroy_(); }

bpf_program* ObjectHandle::program(const char* name) const {
  return bpf_object__find_program_by_name(obj_, name);
}

int ObjectHandle::prog_fd(const char* name) const {
  const bpf_program* p = program(name);
  return p != nullptr ? bpf_program__fd(p) : -1;
}

int ObjectHandle::map_fd(const char* name) const {
  const bpf_map* m = bpf_object__find_map_by_name(obj_, name);
  return m != nullptr ? bpf_map__fd(m) : -1;
}

bool is_unsupported(int err) {
  constexpr int kEnotsupp = 524;  // the kernel's internal ENOTSUPP, seen by userspace
  return err == EINVAL || err == ENOTSUP || err == EOPNOTSUPP || err == kEnotsupp;
}

Result<void> for_each_entry(int fd, std::size_t key_size, std::size_t value_size,
                            const std::function<void(const std::uint8_t*, const std::uint8_t*)>& visit) {
  std::uint32_t batch = 1024;
  std::vector<std::uint8_t> keys, values;
  std::uint64_t in_token = 0, out_token = 0;
  bool first = true;
  for (;;) {
    keys.resize(batch * key_size);
    values.resize(batch * value_size);
    std::uint32_t count = batch;
    LIBBPF_OPTS(bpf_map_batch_opts, opts);
    const int err = bpf_map_lookup_batch(fd, first ? nullptr : &in_token, &out_token, keys.data(),
                                         values.data(), &count, &opts);
    const int e = err != 0 ? -err : 0;
    if (e == ENOSPC && count == 0) {  // one bucket holds more than `batch` entries
      batch *= 2;
      continue;
    }
    if (e != 0 && e != ENOENT && first && is_unsupported(e)) break;
    if (e != 0 && e != ENOENT && e != ENOSPC) return make_error(e, "cannot read BPF map (batch lookup)");
    for (std::uint32_t i = 0; i < count; ++i) visit(&keys[i * key_size], &values[i * value_size]);
    if (e == ENOENT) return {};
    in_token = out_token;
    first = false;
  }
  spdlog::debug("batch map lookup unsupported here; iterating key by key");
  std::vector<std::uint8_t> key(key_size), next(key_size), value(value_size);
  const void* prev = nullptr;
  while (bpf_map_get_next_key(fd, prev, next.data()) == 0) {
    if (bpf_map_lookup_elem(fd, next.data(), value.data()) == 0) visit(next.data(), value.data());
    key = next;
    prev = key.data();
  }
  return {};
}

Result<void> clear_map(int fd, std::size_t key_size, std::size_t value_size) {
  std::vector<std::vector<std::uint8_t>> keys;
  auto r = for_each_entry(fd, key_size, value_size, [&](const std::uint8_t* k, const std::uint8_t*) {
    keys.emplace_back(k, k + key_size);
  });
  if (!r) return r;
  for (const auto& k : keys) {
    if (bpf_map_delete_elem(fd, k.data()) != 0 && errno != ENOENT) {
      return make_error(errno, "cannot clear BPF map");
    }
  }
  return {};
}

Result<void> sum_percpu_counters(int fd, int ncpu, std::uint64_t* counters, std::size_t n) {
  return for_each_entry(fd, sizeof(std::uint32_t), 8 * static_cast<std::size_t>(ncpu),
                        [&](const std::uint8_t* k, const std::uint8_t* v) {
                          std::uint32_t idx = 0;
                          std::memcpy(&idx, k, sizeof(idx));
                          if (idx >= n) return;
                          for (int cpu = 0; cpu < ncpu; ++cpu) {
                            std::uint64_t c = 0;
                            std::memcpy(&c, v + static_cast<std::size_t>(cpu) * 8, sizeof(c));
                            counters[idx] += c;
                          }
                        });
}

}  // namespace podpath::bpf
