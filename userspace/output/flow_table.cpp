#include "output/flow_table.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "output/text.hpp"
#include "util/text.hpp"

namespace podpath::output {
namespace {

std::string endpoint_text(const flows::Endpoint& e) {
  if (e.name == e.ip.to_string()) return e.name;
  return printable(e.name) + " " + e.ip.to_string();
}

/// The names in a direction come from the inventory and the kernel: shown through
/// printable() only.
void make_printable(DirectionView& d) {
  d.container = printable(d.container);
  for (auto& h : d.path.hops) {
    h.node = printable(h.node);
    h.interface = printable(h.interface);
    h.note = printable(h.note);
    h.nat = printable(h.nat);
  }
  d.nat = printable(d.nat);
  d.path.verdict = printable(d.path.verdict);
}

std::string counters_text(const flows::Flow& f) {
  return fmt::format("{}  {}  {} pkt", format_pps(f.pps()), format_bps(f.bps()), f.packets());
}

struct Widths {
  std::size_t node = 0, iface = 0;
};

Widths hop_widths(const std::vector<ConversationView>& views, bool reverse) {
  Widths w;
  auto take = [&](const DirectionView& d) {
    for (const auto& h : d.path.hops) {
      w.node = std::max(w.node, display_width(h.node));
      w.iface = std::max(w.iface, display_width(h.interface));
    }
  };
  for (const auto& v : views) {
    take(v.forward);
    if (reverse && v.reverse) take(*v.reverse);
  }
  return w;
}

std::string hop_count(const flows::Hop& h) {
  switch (h.state) {
  case flows::HopState::Observed:
  case flows::HopState::Unexpected:
    return fmt::format("{} pkt", h.stats ? h.stats->packets : 0);
  case flows::HopState::Missing:
    return "MISSING";
  case flows::HopState::Virtual:
    return "(router)";
  case flows::HopState::Unknown:
    return "(unknown)";
  case flows::HopState::Unwatched:
    break;
  }
  return "(unwatched)";
}

void render_direction(std::string& out, const DirectionView& d, const std::string& prefix, const Widths& w,
                      const TableOptions& o) {
  const Style style(o.color);
  std::string header = prefix + direction_header(d);
  header = truncate(header, o.width);
  out += (prefix.empty() ? style.bold(header) : header) + "\n";
  const std::size_t indent = prefix.empty() ? 2 : 4;
  for (const auto& h : d.path.hops) {
    const std::string lead = std::string(indent, ' ') + pad_right(h.node, w.node) + "  " +
                             pad_right(h.interface, w.iface) + "  " + pad_right(to_string(h.direction), 7) +
                             "  " + pad_left(hop_count(h), 11) + "  ";
    const std::size_t room =
        o.width > display_width(lead) ? o.width - display_width(lead) : (o.width == 0 ? 0 : 1);
    std::string line = lead + truncate(h.nat.empty() ? h.note : h.nat + "; " + h.note, room);
    switch (h.state) {
    case flows::HopState::Missing:
      line = style.red(line);
      break;
    case flows::HopState::Virtual:
    case flows::HopState::Unwatched:
      line = style.dim(line);
      break;
    case flows::HopState::Unexpected:
    case flows::HopState::Unknown:
      line = style.yellow(line);
      break;
    case flows::HopState::Observed:
      break;
    }
    out += line + "\n";
  }
  if (!d.path.verdict.empty()) {
    const std::string v = std::string(indent, ' ') + "⇒ " + d.path.verdict;
    const std::string cut = truncate(v, o.width);
    out += (d.path.complete ? style.green(cut) : style.red(cut)) + "\n";
  }
}

}  // namespace

std::string direction_header(const DirectionView& d) {
  const std::string src =
      d.container.empty() ? endpoint_text(d.src) : endpoint_text(d.src) + " [" + printable(d.container) + "]";
  if (d.service) {
    // "client → default/web 10.96.0.10 ⇒ backend default/db-0 10.10.130.2  TCP 43512→80⇒8080"
    const bool request = d.flow->nat() != nullptr && d.flow->key == d.flow->nat()->original;
    const model::FlowKey& k = request ? d.flow->key : d.flow->translated_key();
    const model::FlowKey& t = request ? d.flow->translated_key() : d.flow->key;
    const std::string ports = request ? fmt::format("{}→{}⇒{}", k.sport, k.dport, t.dport)
                                      : fmt::format("{}⇒{}→{}", t.sport, k.sport, k.dport);
    if (request) {
      return fmt::format("{} → {} ⇒ backend {}  {} {}  {}", src, endpoint_text(*d.service),
                         endpoint_text(d.dst), model::protocol_name(k.proto), ports, counters_text(*d.flow));
    }
    return fmt::format("backend {} as {} → {}  {} {}  {}", src, endpoint_text(*d.service),
                       endpoint_text(d.dst), model::protocol_name(k.proto), ports, counters_text(*d.flow));
  }
  return fmt::format("{} → {}  {} {}  {}", src, endpoint_text(d.dst), model::protocol_name(d.flow->key.proto),
                     format_ports(d.flow->key), counters_text(*d.flow));
}

flows::ConversationOrder conversation_order(SortKey sort) {
  switch (sort) {
  case SortKey::Packets:
    return flows::ConversationOrder::Packets;
  case SortKey::Bytes:
    return flows::ConversationOrder::Bytes;
  case SortKey::Rate:
  case SortKey::None:
    break;
  }
  return flows::ConversationOrder::Rate;
}

void sort_conversations(std::vector<ConversationView>& views, SortKey sort) {
  if (sort == SortKey::None) return;
  const auto conversation = [](const ConversationView& v) {
    return flows::Conversation{v.forward.flow, v.reverse ? v.reverse->flow : nullptr};
  };
  std::sort(views.begin(), views.end(), [&](const ConversationView& a, const ConversationView& b) {
    return flows::shown_before(conversation(a), conversation(b), conversation_order(sort));
  });
}

SelectedViews select_views(const flows::Aggregator& aggregator, const flows::EndpointResolver& resolver,
                           const flows::Topology& topology, const FlowFilter& filter, SortKey sort,
                           std::size_t limit) {
  flows::SelectOptions select;
  select.order = conversation_order(sort);
  select.limit = limit;
  select.keep = filter.keeper(resolver);
  const flows::Selection chosen = aggregator.select(select);
  SelectedViews out;
  out.total = chosen.total;
  out.matching = chosen.matching;
  out.views = describe(chosen.conversations, resolver, topology);
  return out;
}

std::string render_flow_table(std::vector<ConversationView> views, const TableOptions& o) {
  sort_conversations(views, o.sort);
  if (o.limit != 0 && views.size() > o.limit) views.resize(o.limit);
  if (views.empty()) return "no flows yet\n";
  for (auto& v : views) {
    make_printable(v.forward);
    if (v.reverse) make_printable(*v.reverse);
  }
  const Widths w = hop_widths(views, o.show_reverse);
  std::string out;
  for (std::size_t i = 0; i < views.size(); ++i) {
    if (i > 0) out += "\n";
    render_direction(out, views[i].forward, "", w, o);
    if (o.show_reverse && views[i].reverse) render_direction(out, *views[i].reverse, "  ↩ ", w, o);
  }
  return out;
}

}  // namespace podpath::output
