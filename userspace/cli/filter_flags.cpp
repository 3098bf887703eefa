#include "cli/filter_flags.hpp"

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "util/result.hpp"

namespace podpath::cli {

void FilterFlags::add_to(CLI::App& sub) {
  sub.add_option("--pod", pods, "Only flows from or to this pod (name or namespace/name; repeatable)");
  sub.add_option("--namespace,-n", namespaces, "Only flows from or to pods of this Kubernetes namespace");
  sub.add_option(
      "--node", nodes,
      "Only flows from or to this node (its pods or itself); with the Kubernetes API, also the node this "
      "host is");
  sub.add_option("--cidr", cidrs, "Only flows with an end inside this CIDR, e.g. 10.10.130.0/24");
  sub.add_option("--proto", protos, "Only this protocol: tcp, udp, icmp, icmpv6, sctp or a number");
  sub.add_option("--port", ports, "Only flows from or to this TCP/UDP/SCTP port");
  sub.add_flag(
      "--control", control,
      "Also show link-local and multicast control traffic (IPv6 neighbour discovery, MLD, ...), hidden by "
      "default");
}

output::FlowFilter FilterFlags::filter() const {
  output::FlowFilter f;
  f.pods = pods;
  f.namespaces = namespaces;
  f.nodes = nodes;
  f.ports = ports;
  f.control_traffic = control;
  for (const auto& c : cidrs) {
    const auto cidr = model::Cidr::parse(c);
    if (!cidr) throw UserError(fmt::format("--cidr '{}' is not a CIDR (like 10.10.130.0/24)", c));
    f.cidrs.push_back(*cidr);
  }
  for (const auto& p : protos) {
    auto proto = output::parse_protocol(p);
    if (!proto) throw UserError(proto.error().message);
    f.protos.push_back(*proto);
  }
  return f;
}

std::string FilterFlags::to_args() const {
  std::string out;
  auto add = [&](const char* flag, const auto& values) {
    for (const auto& v : values) {
      if (!out.empty()) out += ' ';
      out += fmt::format("{} {}", flag, output::quote_filter_word(fmt::format("{}", v)));
    }
  };
  add("--pod", pods);
  add("--namespace", namespaces);
  add("--node", nodes);
  add("--cidr", cidrs);
  add("--proto", protos);
  add("--port", ports);
  if (control) out += out.empty() ? "--control" : " --control";
  return out;
}

Result<output::FlowFilter> parse_filter(const std::string& text) {
  auto words = output::split_filter_words(text);
  if (!words) return words.error();
  CLI::App app{"filter", "filter"};
  app.set_help_flag();
  FilterFlags flags;
  flags.add_to(app);
  try {
    std::vector<std::string> reversed(words->rbegin(), words->rend());
    app.parse(reversed);
    return flags.filter();
  } catch (const CLI::ExtrasError& e) {
    return make_error(EINVAL, "{} (filters are flags: --pod, --namespace, --node, --cidr, --proto, --port)",
                      e.what());
  } catch (const CLI::ParseError& e) {
    return make_error(EINVAL, "{}", e.what());
  } catch (const UserError& e) {
    return make_error(EINVAL, "{}", e.what());
  }
}

}  // namespace podpath::cli
