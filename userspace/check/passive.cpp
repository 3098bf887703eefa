#include "check/passive.hpp"

#include <linux/icmp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

namespace podpath::check {
namespace {

/// Requests without any reply before an echo flow counts as unanswered.
constexpr std::uint64_t kUnansweredEchoes = 2;

}  // namespace

bool FlowSelection::selects(const model::FlowKey& key, const model::Cluster& cluster) const {
  const auto involves = [&](const model::IpAddress& ip) { return key.src == ip || key.dst == ip; };
  if (a && !involves(*a)) return false;
  if (b && !involves(*b)) return false;
  if (!a && !b) {
    const auto pod = [&](const model::IpAddress& ip) { return cluster.find_pod_by_ip(ip) != nullptr; };
    return pod(key.src) || pod(key.dst);
  }
  return true;
}

bool unanswered_syn(const flows::Flow& forward, const flows::Flow* reverse) {
  const std::uint32_t flags = forward.tcp_flags();
  if (forward.key.proto != IPPROTO_TCP || (flags & TH_SYN) == 0 || (flags & TH_ACK) != 0) return false;
  return reverse == nullptr || (reverse->tcp_flags() & TH_SYN) == 0;
}

bool unanswered_echo(const flows::Flow& forward, const flows::Flow* reverse) {
  return forward.key.proto == IPPROTO_ICMP && forward.key.dport == model::icmp_type_code(ICMP_ECHO) &&
         reverse == nullptr && forward.packets() >= kUnansweredEchoes;
}

bool has_problem(const flows::Flow& forward, const flows::Flow* reverse,
                 const std::set<model::FlowKey>& dropped) {
  const bool drops =
      dropped.count(forward.key) != 0 || (reverse != nullptr && dropped.count(reverse->key) != 0);
  return drops || unanswered_syn(forward, reverse) || unanswered_echo(forward, reverse);
}

OutcomeSummary observed_outcome(const model::FlowKey& key, const flows::Flow* forward,
                                const flows::Flow* reverse) {
  OutcomeSummary out;
  const std::uint32_t reply_flags = reverse != nullptr ? reverse->tcp_flags() : 0;
  const bool refused = reverse != nullptr && key.proto == IPPROTO_TCP && (reply_flags & TH_RST) != 0 &&
                       (reply_flags & TH_SYN) == 0;
  out.sent = forward != nullptr ? static_cast<int>(forward->packets()) : 1;
  if (refused) {
    out.refused = 1;
  } else if (reverse != nullptr && reverse->packets() > 0) {
    out.answered = 1;
  } else {
    out.timeouts = out.sent;
  }
  return out;
}

}  // namespace podpath::check
