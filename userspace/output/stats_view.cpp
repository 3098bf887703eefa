#include "output/stats_view.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "output/text.hpp"
#include "util/text.hpp"

namespace podpath::output {
namespace {

std::string cidr_text(const inventory::CidrEntry* e) {
  return e == nullptr ? std::string("other")
                      : fmt::format("{} ({})", e->cidr.to_string(), printable(e->label));
}

nlohmann::json cidr_json(const inventory::CidrEntry* e) {
  if (e == nullptr) return {{"cidr", nullptr}, {"label", "other"}, {"kind", "other"}, {"node", nullptr}};
  return {{"cidr", e->cidr.to_string()},
          {"label", e->label},
          {"kind", inventory::to_string(e->kind)},
          {"node", e->node.empty() ? nlohmann::json(nullptr) : nlohmann::json(e->node)}};
}

}  // namespace

std::vector<MatrixRow> matrix_rows(const std::vector<bpf::MatrixCell>& cells,
                                   const inventory::CidrTable& table) {
  std::vector<MatrixRow> rows;
  for (const auto& c : cells)
    rows.push_back({table.by_id(c.src_cidr), table.by_id(c.dst_cidr), c.packets, c.bytes});
  std::sort(rows.begin(), rows.end(), [](const MatrixRow& a, const MatrixRow& b) {
    return a.packets != b.packets ? a.packets > b.packets : cidr_text(a.src) < cidr_text(b.src);
  });
  return rows;
}

std::string render_matrix(const std::vector<MatrixRow>& rows, bool color) {
  const Style style(color);
  if (rows.empty()) return "no traffic counted between CIDRs yet\n";
  std::size_t w_src = 6, w_dst = 11;
  for (const auto& r : rows) {
    w_src = std::max(w_src, display_width(cidr_text(r.src)));
    w_dst = std::max(w_dst, display_width(cidr_text(r.dst)));
  }
  std::string out = style.bold(pad_right("SOURCE", w_src) + "    " + pad_right("DESTINATION", w_dst) + "  " +
                               pad_left("PACKETS", 10) + "  " + pad_left("BYTES", 10)) +
                    "\n";
  for (const auto& r : rows) {
    out += pad_right(cidr_text(r.src), w_src) + "  → " + pad_right(cidr_text(r.dst), w_dst) + "  " +
           pad_left(std::to_string(r.packets), 10) + "  " + pad_left(format_bytes(r.bytes), 10) + "\n";
  }
  return out;
}

nlohmann::json matrix_to_json(const std::vector<MatrixRow>& rows) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) {
    out.push_back(
        {{"src", cidr_json(r.src)}, {"dst", cidr_json(r.dst)}, {"packets", r.packets}, {"bytes", r.bytes}});
  }
  return out;
}

std::uint64_t datapath_losses(const bpf::FlowCounters& c) {
  using bpf::FlowCounter;
  return c[FlowCounter::EventsLost] + c[FlowCounter::FlowInsertFull] + c[FlowCounter::FlowInsertBusy] +
         c[FlowCounter::FlowInsertOther] + c[FlowCounter::FlowInsertRace];
}

std::string render_health(const bpf::FlowCounters& c, bool color, std::uint64_t evicted) {
  using bpf::FlowCounter;
  const Style style(color);
  auto item = [&](std::uint64_t n, const char* what, bool bad_if_nonzero) {
    const std::string text = fmt::format("{} {}", n, what);
    return bad_if_nonzero && n != 0 ? style.red(text) : text;
  };
  // Evictions appear once there were some: they keep the map from filling, and say why
  // quiet flows went away.
  const std::string evictions =
      evicted != 0 ? ", " + style.yellow(fmt::format("{} quiet flows evicted (map pressure)", evicted)) : "";
  // So do changes the change log had no room for: nothing is lost (those refreshes walked the
  // maps), but refreshes cost more than they need to.
  const std::uint64_t unlogged = c[FlowCounter::ChangeLogFull];
  const std::string log_full =
      unlogged != 0
          ? ", " + style.yellow(fmt::format("{} changes not logged (log full: refreshes walked)", unlogged))
          : "";
  return fmt::format(
      "health: {}, {}, {}{}{}, {}, {} new flows, {} packets seen\n",
      item(c[FlowCounter::EventsLost], "events lost", true),
      item(c[FlowCounter::FlowInsertFull], "flows lost (map full)", true),
      item(c[FlowCounter::FlowInsertBusy] + c[FlowCounter::FlowInsertOther] + c[FlowCounter::FlowInsertRace],
           "flows lost (busy/other)", true),
      evictions, log_full, item(bpf::parse_errors(c), "parse errors", false), c[FlowCounter::NewFlows],
      c[FlowCounter::Packets]);
}

}  // namespace podpath::output
