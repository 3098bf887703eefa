#include "kube/pod_index.hpp"

#include <algorithm>
#include <tuple>

namespace podpath::kube {

void PodIndex::apply(const Change& change, Time now) {
  if (change.resource != Resource::Pods) return;
  const auto* pod = std::get_if<Pod>(&change.object);
  if (pod == nullptr) return;
  if (change.type == ChangeType::Added || change.type == ChangeType::Modified) upsert(*pod, now);
  if (change.type == ChangeType::Deleted) remove(*pod, now);
}

void PodIndex::index(const std::string& uid, const std::vector<model::IpAddress>& ips) {
  for (const auto& ip : ips) {
    auto& uids = by_ip_[ip];
    if (std::find(uids.begin(), uids.end(), uid) == uids.end()) uids.push_back(uid);
  }
}

void PodIndex::unindex(const std::string& uid, const std::vector<model::IpAddress>& ips) {
  for (const auto& ip : ips) {
    const auto it = by_ip_.find(ip);
    if (it == by_ip_.end()) continue;
    std::erase(it->second, uid);
    if (it->second.empty()) by_ip_.erase(it);
  }
}

void PodIndex::upsert(const Pod& pod, Time now) {
  auto [it, inserted] = records_.try_emplace(pod.uid);
  Record& r = it->second;
  const bool was_claiming = !inserted && !r.released && !r.deleted;
  if (pod.claims_ips()) {
    unindex(pod.uid, r.ips);
    r.ips = pod.ips;
    r.released.reset();
    r.deleted = false;
    index(pod.uid, r.ips);
  } else if (was_claiming && !r.ips.empty()) {
    r.released = now;  // finished: its addresses are free, its name stays for the grace period
  } else if (inserted) {
    r.released = now;  // never claimed anything (hostNetwork, or first seen finished)
  }
  for (const auto& c : r.pod.containers) {
    if (!c.id.empty()) containers_.erase(c.id);
  }
  r.pod = pod;
  for (const auto& c : r.pod.containers) {
    if (!c.id.empty()) containers_[c.id] = pod.uid;
  }
}

void PodIndex::remove(const Pod& pod, Time now) {
  if (!records_.contains(pod.uid)) upsert(pod, now);
  Record& r = records_.at(pod.uid);
  r.pod = pod;
  r.deleted = true;
  if (!r.released) r.released = now;
  if (r.ips.empty()) forget(pod.uid);
}

void PodIndex::forget(const std::string& uid) {
  const auto it = records_.find(uid);
  if (it == records_.end()) return;
  unindex(uid, it->second.ips);
  for (const auto& c : it->second.pod.containers) {
    const auto ci = containers_.find(c.id);
    if (ci != containers_.end() && ci->second == uid) containers_.erase(ci);
  }
  records_.erase(it);
}

bool PodIndex::expired(const Record& r, Time now) const { return r.released && *r.released + grace_ <= now; }

void PodIndex::expire(Time now) {
  std::vector<std::string> gone;
  for (auto& [uid, r] : records_) {
    if (!expired(r, now)) continue;
    if (r.deleted) {
      gone.push_back(uid);
    } else {
      unindex(uid, r.ips);  // finished but not deleted: keep the pod, drop its old addresses
      r.ips.clear();
    }
  }
  for (const auto& uid : gone) forget(uid);
}

PodLookup PodIndex::lookup(const model::IpAddress& ip, Time first_seen, Time now) const {
  PodLookup out;
  const auto it = by_ip_.find(ip);
  if (it == by_ip_.end()) return out;
  std::vector<const Record*> candidates;
  for (const auto& uid : it->second) {
    const Record& r = records_.at(uid);
    if (!expired(r, now)) candidates.push_back(&r);
  }
  if (candidates.empty()) return out;
  for (const Record* r : candidates) {
    if (!r->released) out.claims.push_back(&r->pod);
  }
  if (out.claims.size() >= 2) {
    out.kind = PodLookup::Kind::Ambiguous;
    std::sort(out.claims.begin(), out.claims.end(),
              [](const Pod* a, const Pod* b) { return a->full_name() < b->full_name(); });
    return out;
  }
  out.claims.clear();
  std::sort(candidates.begin(), candidates.end(),
            [](const Record* a, const Record* b) { return a->pod.created < b->pod.created; });
  const Record* chosen = candidates.front();
  for (const Record* r : candidates) {
    if (r->pod.created <= first_seen) chosen = r;
  }
  out.kind = PodLookup::Kind::Pod;
  out.pod = &chosen->pod;
  out.tombstone = chosen->released.has_value();
  return out;
}

const Pod* PodIndex::find_uid(std::string_view uid) const {
  const auto it = records_.find(std::string(uid));
  return it == records_.end() ? nullptr : &it->second.pod;
}

std::optional<ContainerRef> PodIndex::find_container(std::string_view id) const {
  const auto it = containers_.find(std::string(id));
  if (it == containers_.end()) return std::nullopt;
  const Pod& pod = records_.at(it->second).pod;
  for (const auto& c : pod.containers) {
    if (c.id == id) return ContainerRef{&pod, &c};
  }
  return std::nullopt;
}

std::vector<const Pod*> PodIndex::live_pods() const {
  std::vector<const Pod*> out;
  for (const auto& [uid, r] : records_) {
    if (!r.deleted) out.push_back(&r.pod);
  }
  std::sort(out.begin(), out.end(),
            [](const Pod* a, const Pod* b) { return a->full_name() < b->full_name(); });
  return out;
}

void NodeIndex::apply(const Change& change) {
  if (change.resource != Resource::Nodes) return;
  const auto* node = std::get_if<Node>(&change.object);
  if (node == nullptr) return;
  if (change.type == ChangeType::Deleted) {
    nodes_.erase(node->name);
  } else if (change.type == ChangeType::Added || change.type == ChangeType::Modified) {
    nodes_.insert_or_assign(node->name, *node);
  }
}

const Node* NodeIndex::find(std::string_view name) const {
  const auto it = nodes_.find(name);
  return it == nodes_.end() ? nullptr : &it->second;
}

std::vector<const Node*> NodeIndex::all() const {
  std::vector<const Node*> out;
  for (const auto& [name, node] : nodes_) out.push_back(&node);
  return out;
}

void ServiceIndex::apply(const Change& change) {
  const bool deleted = change.type == ChangeType::Deleted;
  if (const auto* svc = std::get_if<Service>(&change.object)) {
    if (deleted) {
      services_.erase(svc->uid);
    } else {
      services_.insert_or_assign(svc->uid, *svc);
    }
  } else if (const auto* slice = std::get_if<EndpointSlice>(&change.object)) {
    if (deleted) {
      slices_.erase(slice->uid);
    } else {
      slices_.insert_or_assign(slice->uid, *slice);
    }
  }
}

std::vector<model::Service> ServiceIndex::model_services() const {
  std::vector<const Service*> services;
  std::vector<const EndpointSlice*> slices;
  for (const auto& [uid, s] : services_) services.push_back(&s);
  for (const auto& [uid, s] : slices_) slices.push_back(&s);
  // Slices in name order: a Service's backends come in the same order whatever the UIDs.
  std::sort(slices.begin(), slices.end(), [](const EndpointSlice* a, const EndpointSlice* b) {
    return std::tie(a->ns, a->name) < std::tie(b->ns, b->name);
  });
  return to_model_services(services, slices);
}

}  // namespace podpath::kube
