// kube_probe: runs the pod and node informers against a real API server and prints every
// change as one line, for tests/kube/client_test.sh. Not part of podpath.
//
//   kube_probe --kubeconfig FILE [--backoff-max-ms N]
//
// Lines (flushed one by one):
//   SYNCED pods|nodes
//   ADDED|MODIFIED|DELETED pod NS/NAME IP NODE uid=UID containers=ID,...
//   ADDED|MODIFIED|DELETED node NAME INTERNAL-IP CIDR,...
//   HEALTH pods|nodes lost|back: LINE
//   VIEW POD,...            the live pods of the index after each batch
// Exits 0 on SIGTERM/SIGINT, 2 on a configuration error.
#include <poll.h>

#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>

#include <spdlog/cfg/env.h>
#include <spdlog/spdlog.h>

#include "kube/config.hpp"
#include "kube/informer.hpp"
#include "kube/pod_index.hpp"

using namespace podpath::kube;

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) { g_stop = 1; }

void print_change(const Change& c) {
  const std::string resource(resource_name(c.resource));
  switch (c.type) {
  case ChangeType::Synced:
    std::printf("SYNCED %s\n", resource.c_str());
    return;
  case ChangeType::Health:
    std::printf("HEALTH %s %s: %s\n", resource.c_str(), c.healthy ? "back" : "lost", c.message.c_str());
    return;
  default:
    break;
  }
  const char* type = c.type == ChangeType::Added      ? "ADDED"
                     : c.type == ChangeType::Modified ? "MODIFIED"
                                                      : "DELETED";
  if (const auto* p = std::get_if<Pod>(&c.object)) {
    std::string ids;
    for (const auto& k : p->containers) ids += (ids.empty() ? "" : ",") + k.runtime + "://" + k.id;
    std::printf("%s pod %s %s %s uid=%s containers=%s\n", type, p->full_name().c_str(),
                p->ips.empty() ? "-" : p->ips.front().to_string().c_str(), p->node.c_str(), p->uid.c_str(),
                ids.c_str());
  } else if (const auto* n = std::get_if<Node>(&c.object)) {
    std::string cidrs;
    for (const auto& k : n->pod_cidrs) cidrs += (cidrs.empty() ? "" : ",") + k.to_string();
    std::printf("%s node %s %s %s\n", type, n->name.c_str(),
                n->internal_ip ? n->internal_ip->to_string().c_str() : "-", cidrs.c_str());
  } else if (const auto* s = std::get_if<Service>(&c.object)) {
    std::printf("%s service %s %s\n", type, s->full_name().c_str(),
                s->cluster_ip ? s->cluster_ip->to_string().c_str() : "-");
  } else if (const auto* e = std::get_if<EndpointSlice>(&c.object)) {
    std::printf("%s endpointslice %s/%s service=%s endpoints=%zu\n", type, e->ns.c_str(), e->name.c_str(),
                e->service.c_str(), e->endpoints.size());
  }
}

}  // namespace

int main(int argc, char** argv) {
  spdlog::cfg::load_env_levels();  // SPDLOG_LEVEL=debug shows relists and 410s
  std::string kubeconfig;
  long backoff_max_ms = 30'000;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--kubeconfig" && i + 1 < argc) {
      kubeconfig = argv[++i];
    } else if (arg == "--backoff-max-ms" && i + 1 < argc) {
      backoff_max_ms = std::stol(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: kube_probe --kubeconfig FILE [--backoff-max-ms N]\n");
      return 2;
    }
  }
  ConfigOptions options;
  if (!kubeconfig.empty()) options.kubeconfig = kubeconfig;
  const auto config = load_config(options);
  if (!config) {
    std::fprintf(stderr, "kube_probe: %s\n", config.error().to_string().c_str());
    return 2;
  }
  for (const auto& w : config->warnings) spdlog::warn("{}", w);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);

  InformerOptions informer;
  informer.server = config->server;
  informer.backoff_initial = std::chrono::milliseconds(std::min(800L, backoff_max_ms));
  informer.backoff_max = std::chrono::milliseconds(backoff_max_ms);
  ClusterWatch watch(curl_transport_factory(*config), informer);
  PodIndex pods;
  NodeIndex nodes;
  watch.start();
  while (g_stop == 0) {
    pollfd pfd{watch.queue().fd(), POLLIN, 0};
    if (poll(&pfd, 1, 200) <= 0) continue;
    const auto now = std::chrono::system_clock::now();
    const auto changes = watch.queue().drain();
    for (const auto& c : changes) {
      print_change(c);
      pods.apply(c, now);
      nodes.apply(c);
    }
    std::string view;
    for (const auto* p : pods.live_pods()) view += (view.empty() ? "" : ",") + p->full_name();
    std::printf("VIEW %s\n", view.c_str());
    std::fflush(stdout);
  }
  watch.stop();
  std::printf("STOPPED\n");
  return 0;
}
