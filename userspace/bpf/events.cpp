#include "bpf/events.hpp"

#include <bpf/libbpf.h>

#include <cerrno>
#include <cstring>

#include "bpf/abi.hpp"
#include "bpf/datapath.hpp"

namespace podpath::bpf {

Result<std::unique_ptr<EventReader>> EventReader::open(const Datapath& datapath, Callback callback) {
  std::unique_ptr<EventReader> reader(new EventReader());
  reader->datapath_ = &datapath;
  reader->callback_ = std::move(callback);
  reader->rb_ = ring_buffer__new(datapath.events_map_fd(), &EventReader::on_sample, reader.get(), nullptr);
  if (reader->rb_ == nullptr) return make_error(errno, "cannot open the new-flow ring buffer");
  return reader;
}

EventReader::~EventReader() { ring_buffer__free(rb_); }

int EventReader::on_sample(void* ctx, void* data, std::size_t size) {
  auto* self = static_cast<EventReader*>(ctx);
  if (size < sizeof(pp_flow_event)) return 0;
  pp_flow_event ev{};
  std::memcpy(&ev, data, sizeof(ev));
  pp_flow_map_key key{};
  key.point = ev.point;
  key.flow = ev.flow;
  pp_flow_stats none{};
  const model::FlowRecord rec = to_model(key, none, self->datapath_->full_netns_cookie(ev.point.netns));
  FlowEvent out;
  out.point = rec.point;
  out.key = rec.key;
  out.ts_ns = ev.ts_ns;
  out.len = ev.len;
  out.tcp_flags = ev.tcp_flags;
  out.src_cidr = ev.src_cidr;
  out.dst_cidr = ev.dst_cidr;
  self->callback_(out);
  return 0;
}

Result<int> EventReader::poll(int timeout_ms) {
  // Drain after waiting too: a wake-up is only sent when the reader had caught up.
  const int n = ring_buffer__poll(rb_, timeout_ms);
  if (n < 0 && n != -EINTR) return make_error(n, "cannot read the new-flow ring buffer");
  const int more = ring_buffer__consume(rb_);
  if (more < 0) return make_error(more, "cannot read the new-flow ring buffer");
  return (n < 0 ? 0 : n) + more;
}

int EventReader::epoll_fd() const { return ring_buffer__epoll_fd(rb_); }

}  // namespace podpath::bpf
