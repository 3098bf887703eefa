#include "output/session_view.hpp"

#include <fmt/format.h>

#include "output/flow_json.hpp"
#include "output/stats_view.hpp"
#include "output/text.hpp"
#include "util/text.hpp"

namespace podpath::output {
namespace {

nlohmann::json interfaces_json(const loader::Session& s) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& i : s.loader().interfaces()) {
    out.push_back({{"node", i.node},
                   {"name", i.name},
                   {"ifindex", i.ifindex},
                   {"role", model::to_string(i.role)},
                   {"pod", i.pod.empty() ? nlohmann::json(nullptr) : nlohmann::json(i.pod)}});
  }
  return out;
}

}  // namespace

SelectedViews describe_session(loader::Session& session, const FlowFilter& filter, SortKey sort,
                               std::size_t limit) {
  SelectedViews out =
      select_views(session.aggregator(), session.resolver(), session.topology(), filter, sort, limit);
  for (auto& v : out.views) {
    v.forward.container = session.container_of(v.forward.flow->key, v.forward.src.pod.get());
    if (v.reverse)
      v.reverse->container = session.container_of(v.reverse->flow->key, v.reverse->src.pod.get());
  }
  return out;
}

std::vector<ConversationView> describe_session(loader::Session& session) {
  FlowFilter everything;
  everything.control_traffic = true;
  return describe_session(session, everything, SortKey::None, 0).views;
}

std::string render_trace(const loader::Session& s, SelectedViews views, const TableOptions& table, bool tty,
                         bool filtered, const std::string& clock) {
  const Style style(tty);
  std::string out;
  if (tty) out += "\033[H\033[2J";  // redraw in place
  out += style.bold("podpath trace") + " — " +
         printable(s.cluster_description() + " · " + s.loader().describe()) + " · " + clock +
         (tty ? "   (Ctrl-C to stop)" : "") + "\n";
  if (views.views.size() < views.total) {
    const std::string why = views.matching == views.total ? " (--limit)"
                            : filtered ? fmt::format(" ({} match the filters)", views.matching)
                                       : fmt::format(" ({} are link-local or multicast control traffic)",
                                                     views.total - views.matching);
    out += style.dim(fmt::format("showing {} of {} conversations{}", views.views.size(), views.total, why)) +
           "\n";
  }
  if (views.views.empty()) {
    out += std::string("no flows yet") + (filtered ? " matching the filters" : "") + "\n";
  } else {
    out += render_flow_table(std::move(views.views), table);
  }
  out += render_health(s.counters(), tty, s.aggregator().evicted_total());
  if (const auto& cc = s.container_counters(); cc && (*cc)[bpf::CgroupCounter::InsertFull] != 0) {
    out += style.red(fmt::format("containers: {} flows lost (container map full)",
                                 (*cc)[bpf::CgroupCounter::InsertFull])) +
           "\n";
  }
  if (!tty) out += "\n";
  return out;
}

std::string trace_snapshot_text(const loader::Session& s, const SelectedViews& views, std::time_t now) {
  nlohmann::json health = health_to_json(s.counters());
  // Not a kernel counter: the aggregator's, beside them.
  health["flows_evicted"] = s.aggregator().evicted_total();
  std::string out;
  JsonWriter w(out);
  // Members sorted by key, as a document keeps them.
  w.begin_object();
  w.key("attach").value(s.loader().describe());
  if (const auto& cc = s.container_counters()) w.key("container_health").document(counters_to_json(*cc));
  w.key("conversations").document(selection_to_json(views));
  w.key("flows");
  write_flows(w, views.views);
  w.key("health").document(health);
  w.key("interfaces").document(interfaces_json(s));
  w.key("matrix").document(matrix_to_json(matrix_rows(s.matrix(), s.cidrs())));
  w.key("time").value(static_cast<std::int64_t>(now));
  w.key("type").value("snapshot");
  w.end_object();
  return out;
}

std::string render_dump(const loader::Loader& loader, const std::vector<model::FlowRecord>& flows,
                        const std::vector<bpf::MatrixCell>& matrix, const bpf::FlowCounters& counters) {
  std::string out = "# attached: " + printable(loader.describe()) + "\n";
  for (const auto& i : loader.interfaces()) {
    out += printable(fmt::format("iface node={} netns={} cookie={} ifindex={} name={} role={} pod={}", i.node,
                                 i.netns.empty() ? "-" : i.netns, i.netns_cookie, i.ifindex, i.name,
                                 model::to_string(i.role), i.pod.empty() ? "-" : i.pod)) +
           "\n";
  }
  out += fmt::format("# flows: {} entries\n", flows.size());
  for (const auto& f : flows) {
    out += fmt::format(
        "flow cookie={} ifindex={} dir={} {} {}:{} -> {}:{}{} packets={} bytes={} tcp_flags={:#04x} "
        "cidr={}->{} matrix={} first={} last={}\n",
        f.point.netns_cookie, f.point.ifindex,
        f.point.direction == model::Direction::Egress ? "egress" : "ingress",
        model::protocol_name(f.key.proto), f.key.src.to_string(), f.key.sport, f.key.dst.to_string(),
        f.key.dport, f.key.fragment ? " fragment" : "", f.stats.packets, f.stats.bytes, f.stats.tcp_flags,
        f.stats.src_cidr, f.stats.dst_cidr, f.stats.in_matrix ? 1 : 0, f.stats.first_seen_ns,
        f.stats.last_seen_ns);
  }
  out += fmt::format("# matrix: {} cells\n", matrix.size());
  for (const auto& c : matrix) {
    out += fmt::format("matrix {} -> {} packets={} bytes={}\n", c.src_cidr, c.dst_cidr, c.packets, c.bytes);
  }
  out += "# counters\n";
  for (const auto c : bpf::FlowCounters::all())
    out += fmt::format("counter {}={}\n", bpf::counter_name(c), counters[c]);
  return out;
}

}  // namespace podpath::output
