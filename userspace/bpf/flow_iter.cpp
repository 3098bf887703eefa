#include "bpf/flow_iter.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "bpf/object.hpp"
#include "flow_iter.skel.h"
#include "podpath_abi.h"
#include "util/fd.hpp"

namespace podpath::bpf {

namespace {

// Bytes asked of the seq file per read(): the kernel fills at most its own buffer (8 pages)
// per call, so this takes one call's worth whole.
constexpr std::size_t kReadBytes = 64 * 1024;

BpfLink attach(bpf_program* prog, int map_fd) {
  union bpf_iter_link_info info {};
  info.map.map_fd = static_cast<__u32>(map_fd);
  LIBBPF_OPTS(bpf_iter_attach_opts, opts, .link_info = &info, .link_info_len = sizeof(info));
  return BpfLink(bpf_program__attach_iter(prog, &opts));
}

}  // namespace

FlowIterator::~FlowIterator() = default;

Result<std::unique_ptr<FlowIterator>> FlowIterator::open(int flows4_fd, int flows6_fd) {
  std::unique_ptr<FlowIterator> it(new FlowIterator());
  flow_iter* skel = flow_iter__open();
  if (skel == nullptr) return make_error(errno, "cannot open the flows-map iterator object");
  it->object_ = std::make_unique<ObjectHandle>(skel->obj, [skel] { flow_iter__destroy(skel); });
  it->skel_ = skel;
  if (int err = flow_iter__load(skel); err != 0) {
    return make_error(err,
                      "cannot load the flows-map iterator (map-element iterators need Linux 5.9+ and BTF)");
  }
  if (skel->bss == nullptr) return make_error(ENOTSUP, "the iterator's globals are not mapped");
  it->link4_ = attach(skel->progs.pp_flow_iter4, flows4_fd);
  if (!it->link4_) return make_error(errno, "cannot attach the flows-map iterator to pp_flows4");
  it->link6_ = attach(skel->progs.pp_flow_iter6, flows6_fd);
  if (!it->link6_) return make_error(errno, "cannot attach the flows-map iterator to pp_flows");
  it->buffer_.resize(kReadBytes);
  return it;
}

Result<std::uint64_t> FlowIterator::read(bool ipv4, std::uint64_t since_ns,
                                         const std::function<void(const std::uint8_t*)>& visit) {
  const std::lock_guard lock(mutex_);
  const std::size_t record = ipv4 ? sizeof(pp_flow4_record) : sizeof(pp_flow_record);
  skel_->bss->pp_iter_since_ns = since_ns;
  skel_->bss->pp_iter_visited = 0;
  const Fd fd(bpf_iter_create(bpf_link__fd((ipv4 ? link4_ : link6_).get())));
  if (!fd) return make_error(errno, "cannot start a flows-map iterator");
  std::size_t held = 0;  // bytes of an incomplete record carried to the next read()
  for (;;) {
    const ssize_t n = ::read(fd.get(), buffer_.data() + held, buffer_.size() - held);
    if (n < 0) {
      // EAGAIN: the kernel walked its per-call limit of entries (a million) without writing any.
      if (errno == EINTR || errno == EAGAIN) continue;
      return make_error(errno, "cannot read the flows-map iterator");
    }
    if (n == 0) break;
    const std::size_t have = held + static_cast<std::size_t>(n);
    std::size_t at = 0;
    for (; at + record <= have; at += record) visit(buffer_.data() + at);
    held = have - at;
    if (held != 0) std::memmove(buffer_.data(), buffer_.data() + at, held);
  }
  if (held != 0) return make_error(EPROTO, "the flows-map iterator ended inside a record");
  return skel_->bss->pp_iter_visited;
}

}  // namespace podpath::bpf
