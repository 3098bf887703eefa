#pragma once
/// @file
/// @brief The flow aggregator's source in a live session: the datapath's flows map.

#include <cstdint>

#include "bpf/datapath.hpp"
#include "flows/aggregator.hpp"

namespace podpath::loader {

/// @brief How the last read found its entries.
enum class ReadPath : std::uint8_t {
  None,      ///< no read yet
  Full,      ///< every entry (batch lookups)
  Log,       ///< the change log: only the keys logged since the previous reads were looked up
  Iterator,  ///< the map iterator's walk, entries changed since the previous read (less a margin)
  Batch,     ///< batch lookups of every entry, the same entries handed over
};

/// @brief Reads and expires flow entries in the datapath's flows map.
class BpfFlowSource final : public flows::FlowSource {
 public:
  explicit BpfFlowSource(bpf::Datapath& datapath) : datapath_(datapath) {}
  Result<void> read(const flows::RecordSink& sink) override;
  /// @brief The entries that changed since the previous read: those whose keys the programs
  /// logged (the change log, looked up key by key), else, when the log lost records, holds
  /// too many keys to pay, or is off (LRU maps), those whose last packet came after the
  /// previous read started (less a margin for the programs' coarse clock and for packets being
  /// counted as it started): through the map iterator, or batch lookups after a read where
  /// most entries changed.
  Result<flows::ChangedRead> read_changed(const flows::RecordSink& sink) override;
  Result<void> remove(const std::vector<flows::PointKey>& entries) override;
  /// @brief The next read_changed() uses batch lookups rather than the map iterator: the
  /// previous one found more than a third of the entries changed.
  [[nodiscard]] bool batch_next() const { return batch_next_; }
  /// @brief How the last read found its entries.
  [[nodiscard]] ReadPath last_path() const { return last_path_; }
  /// @brief The size of each flows map (--max-flows): the aggregator evicts before one fills.
  [[nodiscard]] std::size_t capacity() const override { return datapath_.options().max_flows; }
  /// @brief Two pools: pp_flows4 (IPv4) and pp_flows (IPv6), each of capacity().
  [[nodiscard]] std::size_t pools() const override { return 2; }
  [[nodiscard]] std::size_t pool(const model::FlowKey& key) const override {
    return bpf::flow_map_of(key) == bpf::FlowMap::Ipv4 ? 0 : 1;
  }
  Result<std::vector<model::NatRecord>> read_nat() override { return datapath_.read_nat(); }
  Result<void> remove_nat(const std::vector<model::NatRecord>& records) override {
    return datapath_.delete_nat(records);
  }

 private:
  bpf::Datapath& datapath_;
  std::uint64_t last_read_ns_ = 0;  // flow clock when the last successful read started; 0 = none
  bool batch_next_ = false;         // the next changed-entries read uses batch lookups
  ReadPath last_path_ = ReadPath::None;
};

}  // namespace podpath::loader
