// libFuzzer harness for the lab inventory reader: any input either parses into a cluster
// that survives a write/read round trip unchanged, or yields an error; never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "inventory/lab_inventory.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto cluster = podpath::inventory::parse_lab_inventory(text);
  if (!cluster) {
    if (cluster.error().message.empty()) std::abort();
    return 0;
  }
  const auto again =
      podpath::inventory::parse_lab_inventory(podpath::inventory::to_lab_inventory_json(*cluster));
  if (!again || !(*again == *cluster)) std::abort();
  return 0;
}
