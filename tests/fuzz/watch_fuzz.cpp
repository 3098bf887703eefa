// libFuzzer harness for the watch-stream parser: the input is a watch body; its first byte
// chooses the chunk size it arrives in. The lines must not depend on how the body is cut,
// and every line either parses into an event (whose object the pod, node, Service and
// EndpointSlice parsers then read, and the Service join joins) or yields an error; never a
// crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "kube/objects.hpp"
#include "kube/watch_stream.hpp"

namespace {

std::vector<std::string> split(std::string_view body, std::size_t chunk, bool& ok) {
  podpath::kube::LineSplitter lines(4096);
  std::vector<std::string> out;
  ok = true;
  for (std::size_t pos = 0; pos < body.size() && ok; pos += chunk) {
    ok = lines
             .feed(body.substr(pos, chunk),
                   [&](std::string_view l) {
                     out.emplace_back(l);
                     return true;
                   })
             .ok();
  }
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t chunk = 1 + data[0] % 64;
  const std::string_view body(reinterpret_cast<const char*>(data) + 1, size - 1);
  bool whole_ok = false;
  bool cut_ok = false;
  const auto whole = split(body, body.size() + 1, whole_ok);
  const auto cut = split(body, chunk, cut_ok);
  if (whole_ok && cut_ok && whole != cut) std::abort();
  for (const auto& line : cut) {
    const auto event = podpath::kube::parse_watch_event(line);
    if (!event) {
      if (event.error().message.empty()) std::abort();
      continue;
    }
    const auto pod = podpath::kube::parse_pod(event->object);
    if (!pod && pod.error().message.empty()) std::abort();
    if (pod) (void)podpath::kube::to_model_pod(*pod);
    const auto node = podpath::kube::parse_node(event->object);
    if (!node && node.error().message.empty()) std::abort();
    if (node) (void)podpath::kube::to_model_node(*node);
    const auto svc = podpath::kube::parse_service(event->object);
    if (!svc && svc.error().message.empty()) std::abort();
    const auto slice = podpath::kube::parse_endpointslice(event->object);
    if (!slice && slice.error().message.empty()) std::abort();
    if (svc || slice) {
      // The join, with whatever parsed: the object is both Service and slice if it can be.
      std::vector<const podpath::kube::Service*> services;
      std::vector<const podpath::kube::EndpointSlice*> slices;
      if (svc) services.push_back(&*svc);
      if (slice) slices.push_back(&*slice);
      (void)podpath::kube::to_model_services(services, slices);
    }
  }
  return 0;
}
