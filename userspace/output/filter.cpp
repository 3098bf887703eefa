#include "output/filter.hpp"

#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <memory>
#include <set>
#include <unordered_map>

#include "inventory/source.hpp"

namespace podpath::output {
namespace {

template <typename T, typename Pred> bool any_or_empty(const std::vector<T>& wanted, Pred pred) {
  return wanted.empty() || std::any_of(wanted.begin(), wanted.end(), pred);
}

bool pod_matches(const flows::Endpoint& e, const std::string& wanted) {
  if (e.pod == nullptr) return false;
  return wanted.find('/') != std::string::npos ? e.pod->full_name() == wanted : e.pod->name == wanted;
}

bool has_ports(std::uint8_t proto) {
  return proto == IPPROTO_TCP || proto == IPPROTO_UDP || proto == IPPROTO_SCTP;
}

bool is_link_local_or_multicast(const model::IpAddress& a) {
  if (a.is_v4()) {
    const std::uint32_t v = a.v4_host();
    return (v >> 28) == 0xe || v == 0xffffffffU || (v >> 16) == 0xa9fe;  // 224/4, broadcast, 169.254/16
  }
  return a.bytes[0] == 0xff || (a.bytes[0] == 0xfe && (a.bytes[1] & 0xc0) == 0x80) ||  // ff00::/8, fe80::/10
         a == model::IpAddress{};                                                      // :: (DAD probes)
}

/// Addresses as hash keys (the last 8 bytes differ most: the IPv4 address sits there).
struct AddressHash {
  std::size_t operator()(const model::IpAddress& a) const {
    std::uint64_t hi = 0, lo = 0;
    std::memcpy(&hi, a.bytes.data(), 8);
    std::memcpy(&lo, a.bytes.data() + 8, 8);
    return std::hash<std::uint64_t>()(lo * 0x9e3779b97f4a7c15ULL ^ hi);
  }
};

}  // namespace

bool is_control_traffic(const model::FlowKey& key) {
  return is_link_local_or_multicast(key.src) || is_link_local_or_multicast(key.dst);
}

bool FlowFilter::empty() const {
  return pods.empty() && namespaces.empty() && nodes.empty() && cidrs.empty() && protos.empty() &&
         ports.empty();
}

bool FlowFilter::matches_flow(const flows::Flow& flow) const {
  const model::FlowKey& key = flow.key;
  if (!control_traffic && is_control_traffic(key)) return false;
  const model::FlowKey& between = flow.between_key();
  return any_or_empty(cidrs,
                      [&](const auto& c) {
                        // Through a Service, its ClusterIP is an end too (--cidr 10.96.0.0/12).
                        return c.contains(between.src) || c.contains(between.dst) ||
                               (flow.nat() != nullptr && c.contains(flow.nat()->original.dst));
                      }) &&
         any_or_empty(protos, [&](auto p) { return key.proto == p; }) && any_or_empty(ports, [&](auto p) {
           return has_ports(key.proto) && (key.sport == p || key.dport == p);
         });
}

bool FlowFilter::matches_ends(const flows::Endpoint& src, const flows::Endpoint& dst) const {
  return any_or_empty(pods, [&](const auto& p) { return pod_matches(src, p) || pod_matches(dst, p); }) &&
         any_or_empty(namespaces,
                      [&](const auto& ns) {
                        return (src.pod != nullptr && src.pod->ns == ns) ||
                               (dst.pod != nullptr && dst.pod->ns == ns);
                      }) &&
         any_or_empty(nodes, [&](const auto& n) { return src.node == n || dst.node == n; });
}

bool FlowFilter::matches(const ConversationView& view) const {
  return matches_flow(*view.forward.flow) && matches_ends(view.forward.src, view.forward.dst);
}

std::function<bool(const flows::Conversation&)>
FlowFilter::keeper(const flows::EndpointResolver& resolver) const {
  if (pods.empty() && namespaces.empty() && nodes.empty()) {
    return [filter = *this](const flows::Conversation& c) { return filter.matches_flow(*c.forward); };
  }
  // The ends as describe() resolves them: by the forward flow's first-seen time.
  if (resolver.resolves_by_time()) {
    return [filter = *this, &resolver](const flows::Conversation& c) {
      if (!filter.matches_flow(*c.forward)) return false;
      const model::FlowKey& key = c.forward->between_key();
      const std::uint64_t t = c.forward->first_seen_ns;
      return filter.matches_ends(resolver.resolve_at(key.src, t), resolver.resolve_at(key.dst, t));
    };
  }
  // Without a history an address always resolves the same: many conversations share one,
  // so resolve each once.
  auto cache = std::make_shared<std::unordered_map<model::IpAddress, flows::Endpoint, AddressHash>>();
  return [filter = *this, &resolver, cache](const flows::Conversation& c) {
    if (!filter.matches_flow(*c.forward)) return false;
    const model::FlowKey& key = c.forward->between_key();
    const auto end = [&](const model::IpAddress& ip) -> const flows::Endpoint& {
      auto it = cache->find(ip);
      if (it == cache->end()) it = cache->emplace(ip, resolver.resolve(ip)).first;
      return it->second;
    };
    const flows::Endpoint& src = end(key.src);
    return filter.matches_ends(src, end(key.dst));
  };
}

Result<void> FlowFilter::check_names(const model::Cluster& cluster) const {
  for (const auto& p : pods) {
    if (cluster.find_pod(p) == nullptr)
      return make_error(0, "--pod: {}", inventory::unknown_pod_message(cluster, p));
  }
  for (const auto& n : nodes) {
    if (cluster.find_node(n) == nullptr)
      return make_error(0, "--node: {}", inventory::unknown_node_message(cluster, n));
  }
  std::set<std::string> known;
  for (const auto& p : cluster.pods) known.insert(p.ns);
  for (const auto& ns : namespaces) {
    if (known.count(ns) != 0) continue;
    std::string names;
    for (const auto& k : known) names += (names.empty() ? "" : ", ") + k;
    return make_error(0, "--namespace: no pod is in namespace '{}' (namespaces: {})", ns,
                      names.empty() ? "none" : names);
  }
  return {};
}

std::vector<ConversationView> FlowFilter::apply(std::vector<ConversationView> views) const {
  std::erase_if(views, [&](const ConversationView& v) { return !matches(v); });
  return views;
}

Result<std::uint8_t> parse_protocol(const std::string& text) {
  std::string t;
  for (char c : text) t += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (t == "tcp") return std::uint8_t{IPPROTO_TCP};
  if (t == "udp") return std::uint8_t{IPPROTO_UDP};
  if (t == "icmp") return std::uint8_t{IPPROTO_ICMP};
  if (t == "icmpv6" || t == "ipv6-icmp") return std::uint8_t{IPPROTO_ICMPV6};
  if (t == "sctp") return std::uint8_t{IPPROTO_SCTP};
  if (!t.empty() && t.size() <= 3 &&
      std::all_of(t.begin(), t.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    const int n = std::stoi(t);
    if (n <= 255) return static_cast<std::uint8_t>(n);
  }
  return make_error(EINVAL, "unknown protocol '{}' (use tcp, udp, icmp, icmpv6, sctp or a number 0-255)",
                    text);
}

Result<void> check_endpoints(const model::Cluster& cluster, const std::vector<std::string>& endpoints) {
  for (const auto& e : endpoints) {
    if (model::IpAddress::parse(e) || cluster.find_pod(e) != nullptr) continue;
    return make_error(0, "{}", inventory::unknown_pod_message(cluster, e));
  }
  return {};
}

bool between_endpoints(const ConversationView& view, const std::vector<std::string>& endpoints) {
  // A pod (name or ns/name) or an IP address, matched against one end of a flow.
  const auto is = [](const flows::Endpoint& e, const std::string& sel) {
    if (const auto ip = model::IpAddress::parse(sel)) return e.ip == *ip;
    if (e.pod == nullptr) return e.name == sel;
    return sel.find('/') != std::string::npos ? e.pod->full_name() == sel : e.pod->name == sel;
  };
  const auto& src = view.forward.src;
  const auto& dst = view.forward.dst;
  if (endpoints.empty()) return true;
  if (endpoints.size() == 1) return is(src, endpoints[0]) || is(dst, endpoints[0]);
  return (is(src, endpoints[0]) && is(dst, endpoints[1])) || (is(src, endpoints[1]) && is(dst, endpoints[0]));
}

Result<std::vector<std::string>> split_filter_words(const std::string& text) {
  std::vector<std::string> words;
  std::string word;
  bool in_word = false;
  char quote = 0;
  for (const char c : text) {
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      } else {
        word += c;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
      in_word = true;
    } else if (c == ' ' || c == '\t') {
      if (in_word) words.push_back(std::move(word));
      word.clear();
      in_word = false;
    } else {
      word += c;
      in_word = true;
    }
  }
  if (quote != 0) return make_error(EINVAL, "unterminated {} quote", quote);
  if (in_word) words.push_back(std::move(word));
  return words;
}

std::string quote_filter_word(const std::string& word) {
  if (!word.empty() && word.find_first_of(" \t\"'") == std::string::npos) return word;
  const char quote = word.find('\'') == std::string::npos ? '\'' : '"';
  return quote + word + quote;
}

}  // namespace podpath::output
