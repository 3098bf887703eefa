#include "server/drop_log.hpp"

#include "output/flow_json.hpp"

namespace podpath::server {
namespace {

nlohmann::json or_null(const std::string& s) {
  return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
}

}  // namespace

void DropLog::set_interfaces(const std::vector<loader::AttachedInterface>& interfaces) {
  interfaces_.clear();
  for (const auto& i : interfaces) interfaces_[{i.netns_cookie, i.ifindex}] = i;
}

std::optional<DropPlacement> DropLog::add(const bpf::DropEvent& e, const std::string& location,
                                          const flows::EndpointResolver& resolver) {
  DropPlacement out;
  nlohmann::json place;
  const auto p = places_.find(e.netns_cookie);
  if (p != places_.end() && p->second.kind == NetnsPlace::Kind::OtherNode) return std::nullopt;
  const std::string& node = p != places_.end() && !p->second.node.empty() ? p->second.node : node_;
  nlohmann::json hop = {
      {"node", or_null(node)}, {"interface", or_null(e.ifname)}, {"ifindex", e.ifindex}, {"role", nullptr}};
  if (p == places_.end()) {
    out.role = "unknown";
    place = {{"kind", "unknown"}, {"name", "netns " + std::to_string(e.netns_cookie)}};
  } else if (p->second.kind == NetnsPlace::Kind::Pod) {
    out.role = "pod";
    place = {{"kind", "pod"}, {"name", p->second.name}};
  } else {
    place = {{"kind", "node"}, {"name", p->second.name}};
    if (e.ifname.empty()) {
      out.role = "stack";
    } else if (auto i = interfaces_.find({e.netns_cookie, e.ifindex}); i != interfaces_.end()) {
      out.role = model::to_string(i->second.role);
    } else {
      out.role = "other";
    }
  }
  hop["role"] = out.role;
  const auto& k = e.key;
  out.json = {
      {"monotonic_ns", e.ts_ns},
      {"reason", or_null(e.reason_name)},
      {"location", location},
      {"place", place},
      {"hop", hop},
      {"flow",
       {{"src", output::endpoint_to_json(resolver.resolve_at(k.src, e.ts_ns))},
        {"dst", output::endpoint_to_json(resolver.resolve_at(k.dst, e.ts_ns))},
        {"proto", model::protocol_name(k.proto)},
        {"proto_number", k.proto},
        {"sport", k.sport},
        {"dport", k.dport}}},
      {"ip_len", e.ip_len},
      {"ttl", e.ttl},
      {"df", e.df},
      {"tcp_flags", e.tcp_flags},
  };
  kept_.push_back(out.json.dump());
  if (kept_.size() > capacity_) kept_.pop_front();
  ++total_;
  entries_.reset();
  return out;
}

std::shared_ptr<const std::vector<std::string>> DropLog::entries() {
  if (!entries_) entries_ = std::make_shared<const std::vector<std::string>>(kept_.rbegin(), kept_.rend());
  return entries_;
}

}  // namespace podpath::server
