#include "bpf/events.hpp"

#include "bpf/abi.hpp"
#include "bpf/datapath.hpp"

namespace podpath::bpf {

Result<std::unique_ptr<EventReader>> EventReader::open(const Datapath& datapath, Callback callback) {
  std::unique_ptr<EventReader> reader(new EventReader());
  reader->callback_ = std::move(callback);
  auto ring = RingBuffer::open(datapath.events_map_fd(),
                               record_handler<pp_flow_event>([raw = reader.get()](const pp_flow_event& ev) {
                                 raw->callback_(FlowEvent{.ts_ns = ev.ts_ns});
                               }),
                               "the new-flow ring buffer");
  if (!ring) return ring.error();
  reader->ring_ = std::move(*ring);
  return reader;
}

Result<int> EventReader::poll(int timeout_ms) { return ring_->poll(timeout_ms); }

int EventReader::epoll_fd() const { return ring_->epoll_fd(); }

}  // namespace podpath::bpf
