#include "output/flow_json.hpp"

#include <netinet/in.h>

#include <optional>

namespace podpath::output {
namespace {

using nlohmann::json;

// Each object's members are written sorted by key, the order nlohmann keeps them in: the text
// is what the document would dump (json_writer.hpp).

void write_endpoint(JsonWriter& w, const flows::Endpoint& e,
                    std::optional<std::uint16_t> port = std::nullopt) {
  w.begin_object();
  if (!e.candidates.empty()) {
    w.key("ambiguous").begin_array();
    for (const auto& c : e.candidates) w.value(c);
    w.end_array();
  }
  w.key("cidr").value(e.cidr);
  w.key("cidr_id").value(e.cidr_id);
  if (e.departed) w.key("deleted").value(true);
  w.key("ip").value(e.ip.to_string());
  w.key("kind").value(flows::to_string(e.kind));
  w.key("name").value(e.name);
  if (e.pod != nullptr) w.key("namespace").value(e.pod->ns);
  w.key("node").string_or_null(e.node);
  if (e.pod != nullptr) w.key("pod").value(e.pod->name);
  if (port) w.key("port").value(*port);
  w.end_object();
}

void write_hop(JsonWriter& w, const flows::Hop& h) {
  // What the hop counted: null when it was not observed.
  const auto counted = [&](const char* key, auto field) {
    w.key(key);
    h.stats ? w.value(field(*h.stats)) : w.value(nullptr);
  };
  w.begin_object();
  counted("bps", [](const flows::PointStats& p) { return p.bps; });
  counted("bytes", [](const flows::PointStats& p) { return p.bytes; });
  w.key("direction").value(flows::to_string(h.direction));
  counted("first_seen_ns", [](const flows::PointStats& p) { return p.stats.first_seen_ns; });
  counted("ifindex", [](const flows::PointStats& p) { return p.point.ifindex; });
  w.key("interface").value(h.interface);
  counted("last_seen_ns", [](const flows::PointStats& p) { return p.stats.last_seen_ns; });
  w.key("nat").string_or_null(h.nat);
  w.key("node").value(h.node);
  w.key("note").value(h.note);
  w.key("observed").value(h.observed());
  counted("packets", [](const flows::PointStats& p) { return p.packets; });
  counted("pps", [](const flows::PointStats& p) { return p.pps; });
  w.key("role").value(model::to_string(h.role));
  w.key("route").string_or_null(h.route);
  w.key("state").value(flows::to_string(h.state));
  w.end_object();
}

void write_direction(JsonWriter& w, const DirectionView& v) {
  const flows::Flow& f = *v.flow;
  w.begin_object();
  w.key("bps").value(f.bps());
  w.key("bytes").value(f.bytes());
  w.key("complete").value(v.path.complete);
  w.key("container").string_or_null(v.container);
  w.key("dst").value(v.dst.ip.to_string());
  w.key("first_seen_ns").value(f.first_seen_ns);
  w.key("hops").begin_array();
  for (const auto& h : v.path.hops) write_hop(w, h);
  w.end_array();
  w.key("last_seen_ns").value(f.last_seen_ns);
  w.key("nat").string_or_null(v.nat);
  w.key("packets").value(f.packets());
  w.key("pps").value(f.pps());
  w.key("src").value(v.src.ip.to_string());
  w.key("tcp_flags").value(f.tcp_flags());
  w.key("verdict").value(v.path.verdict);
  w.end_object();
}

void write_conversation(JsonWriter& w, const ConversationView& v, std::string_view id) {
  const model::FlowKey& k = v.forward.flow->key;
  const flows::Flow& f = *v.forward.flow;
  // Through a Service: the ClusterIP the client addressed, and the backend it got ("dst").
  const model::NatRecord* nat = v.forward.service ? f.nat() : nullptr;
  const bool request = nat != nullptr && f.key == nat->original;
  w.begin_object();
  if (nat != nullptr) {
    w.key("backend");
    write_endpoint(w, v.forward.dst, request ? f.translated_key().dport : f.key.sport);
  }
  w.key("dport").value(k.dport);
  w.key("dst");
  write_endpoint(w, v.forward.dst);
  w.key("forward");
  write_direction(w, v.forward);
  w.key("fragment").value(k.fragment);
  if (k.is_icmp()) {
    w.key("icmp").begin_object();
    w.key("code").value(k.icmp_code()).key("id").value(k.sport).key("type").value(k.icmp_type());
    w.end_object();
  }
  if (!id.empty()) w.key("id").value(id);
  if (nat != nullptr) {
    w.key("nat").begin_object();
    w.key("dnat").value(nat->dnat).key("snat").value(nat->snat).key("translation").value(v.forward.nat);
    w.end_object();
  }
  w.key("proto").value(model::protocol_name(k.proto));
  w.key("proto_number").value(k.proto);
  w.key("reverse");
  if (v.reverse) {
    write_direction(w, *v.reverse);
  } else {
    w.value(nullptr);
  }
  if (nat != nullptr) {
    w.key("service");
    write_endpoint(w, *v.forward.service, nat->original.dport);
  }
  w.key("sport").value(k.sport);
  w.key("src");
  write_endpoint(w, v.forward.src);
  w.end_object();
}

}  // namespace

json endpoint_to_json(const flows::Endpoint& e) {
  std::string text;
  JsonWriter w(text);
  write_endpoint(w, e);
  return json::parse(text);
}

std::string conversation_json_text(const ConversationView& v, std::string_view id) {
  std::string text;
  JsonWriter w(text);
  write_conversation(w, v, id);
  return text;
}

void write_flows(JsonWriter& w, const std::vector<ConversationView>& views) {
  w.begin_array();
  for (const auto& v : views) write_conversation(w, v, {});
  w.end_array();
}

std::string flows_json_text(const std::vector<ConversationView>& views, int indent) {
  std::string text;
  JsonWriter w(text, indent);
  write_flows(w, views);
  return text;
}

json conversation_to_json(const ConversationView& v) { return json::parse(conversation_json_text(v)); }

json selection_to_json(const SelectedViews& views) {
  return {{"total", views.total}, {"matching", views.matching}, {"shown", views.views.size()}};
}

}  // namespace podpath::output
