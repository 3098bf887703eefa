#include "output/flow_json.hpp"

#include <netinet/in.h>

namespace podpath::output {
namespace {

using nlohmann::json;

json or_null(const std::string& s) { return s.empty() ? json(nullptr) : json(s); }

}  // namespace

json endpoint_to_json(const flows::Endpoint& e) {
  json j = {{"kind", flows::to_string(e.kind)}, {"name", e.name}, {"ip", e.ip.to_string()},
            {"node", or_null(e.node)},          {"cidr", e.cidr}, {"cidr_id", e.cidr_id}};
  if (e.pod != nullptr) {
    j["namespace"] = e.pod->ns;
    j["pod"] = e.pod->name;
  }
  if (e.departed) j["deleted"] = true;
  if (!e.candidates.empty()) j["ambiguous"] = e.candidates;
  return j;
}

json hop_to_json(const flows::Hop& h) {
  json j = {{"node", h.node},
            {"interface", h.interface},
            {"direction", flows::to_string(h.direction)},
            {"role", model::to_string(h.role)},
            {"state", flows::to_string(h.state)},
            {"observed", h.observed()},
            {"route", or_null(h.route)},
            {"note", h.note},
            {"nat", or_null(h.nat)}};
  if (h.stats) {
    j["packets"] = h.stats->packets;
    j["bytes"] = h.stats->bytes;
    j["pps"] = h.stats->pps;
    j["bps"] = h.stats->bps;
    j["ifindex"] = h.stats->point.ifindex;
    j["first_seen_ns"] = h.stats->stats.first_seen_ns;
    j["last_seen_ns"] = h.stats->stats.last_seen_ns;
  } else {
    for (const char* field : {"packets", "bytes", "pps", "bps", "ifindex", "first_seen_ns", "last_seen_ns"})
      j[field] = nullptr;
  }
  return j;
}

json direction_to_json(const DirectionView& v) {
  const flows::Flow& f = *v.flow;
  json hops = json::array();
  for (const auto& h : v.path.hops) hops.push_back(hop_to_json(h));
  return {{"src", v.src.ip.to_string()},
          {"dst", v.dst.ip.to_string()},
          {"container", or_null(v.container)},
          {"packets", f.packets()},
          {"bytes", f.bytes()},
          {"pps", f.pps()},
          {"bps", f.bps()},
          {"first_seen_ns", f.first_seen_ns},
          {"last_seen_ns", f.last_seen_ns},
          {"tcp_flags", f.tcp_flags()},
          {"complete", v.path.complete},
          {"verdict", v.path.verdict},
          {"hops", hops},
          {"nat", or_null(v.nat)}};
}

json conversation_to_json(const ConversationView& v) {
  const model::FlowKey& k = v.forward.flow->key;
  json j = {{"src", endpoint_to_json(v.forward.src)},
            {"dst", endpoint_to_json(v.forward.dst)},
            {"proto", model::protocol_name(k.proto)},
            {"proto_number", k.proto},
            {"sport", k.sport},
            {"dport", k.dport},
            {"fragment", k.fragment},
            {"forward", direction_to_json(v.forward)},
            {"reverse", v.reverse ? direction_to_json(*v.reverse) : json(nullptr)}};
  if (k.is_icmp()) {
    j["icmp"] = {{"type", k.icmp_type()}, {"code", k.icmp_code()}, {"id", k.sport}};
  }
  // Through a Service: the ClusterIP the client addressed, and the backend it got ("dst").
  const flows::Flow& f = *v.forward.flow;
  if (const model::NatRecord* nat = f.nat(); v.forward.service && nat != nullptr) {
    const bool request = f.key == nat->original;
    j["service"] = endpoint_to_json(*v.forward.service);
    j["service"]["port"] = nat->original.dport;
    j["backend"] = endpoint_to_json(v.forward.dst);
    j["backend"]["port"] = request ? f.translated_key().dport : f.key.sport;
    j["nat"] = {{"dnat", nat->dnat}, {"snat", nat->snat}, {"translation", v.forward.nat}};
  }
  return j;
}

json selection_to_json(const SelectedViews& views) {
  return {{"total", views.total}, {"matching", views.matching}, {"shown", views.views.size()}};
}

json flows_to_json(const std::vector<ConversationView>& views) {
  json out = json::array();
  for (const auto& v : views) out.push_back(conversation_to_json(v));
  return out;
}

}  // namespace podpath::output
