#include "cli/app.hpp"

#include <CLI/CLI.hpp>
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "bpf/libbpf_log.hpp"
#include "cli/command_words.hpp"
#include "cli/fd_output.hpp"
#include "cli/live.hpp"
#include "util/result.hpp"
#include "util/text.hpp"

#ifndef PODPATH_VERSION
#define PODPATH_VERSION "0.0.0"
#endif

namespace podpath::cli {
namespace {

constexpr const char* kDescription =
    "podpath: eBPF pod traffic tracer for Kubernetes.\n"
    "Counts pod-to-pod flows on the pod bridge (cbr0), every pod's veth and the node uplink,\n"
    "and shows the path each flow is routed along, hop by hop, with the route behind each hop.";

/// In a list of subcommands, only the first line of each description: the whole text is
/// what `podpath COMMAND --help` prints.
class SummaryFormatter : public CLI::Formatter {
 public:
  std::string make_subcommand(const CLI::App* sub) const override {
    const std::string& d = sub->get_description();
    std::stringstream out;
    CLI::detail::format_help(out, sub->get_display_name(true), d.substr(0, d.find('\n')), get_column_width());
    return out.str();
  }
};

/// %* in a log pattern: the message through printable(), since log lines name interfaces,
/// pods and namespaces that others chose.
class PrintableMessage final : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm& /*time*/,
              spdlog::memory_buf_t& dest) override {
    const std::string text = printable(std::string_view(msg.payload.data(), msg.payload.size()));
    dest.append(text.data(), text.data() + text.size());
  }
  [[nodiscard]] std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<PrintableMessage>();
  }
};

void configure_logging(const GlobalOptions& options) {
  auto logger = spdlog::stderr_color_mt("podpath");
  auto formatter = std::make_unique<spdlog::pattern_formatter>();
  formatter->add_flag<PrintableMessage>('*').set_pattern("%^%l%$: %*");
  logger->set_formatter(std::move(formatter));
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(effective_log_level(options)));
  bpf::route_libbpf_log_to_spdlog();
}

/// After the command: output that could not be written is an error (a full disk, a closed
/// descriptor), except a reader that went away (EPIPE), which is a clean stop.
int finish_output(Io& io, const std::string& command, int rc) {
  io.out.flush();
  if (!io.out.fail()) return rc;
  const auto* fd = dynamic_cast<const FdOutput*>(io.out.rdbuf());
  const int err = fd != nullptr ? fd->error() : 0;
  if (err == EPIPE) return rc;
  io.err << "podpath" << (command.empty() ? "" : " " + command) << ": cannot write the output"
         << (err != 0 ? std::string(": ") + std::strerror(err) : std::string()) << "\n";
  return kExitError;
}

}  // namespace

std::string effective_log_level(const GlobalOptions& options) {
  if (options.verbose >= 2) return "trace";
  if (options.verbose == 1) return "debug";
  return options.log_level;
}

int run(const std::vector<std::string>& args, Io io) {
  CLI::App app{kDescription, "podpath"};
  app.set_version_flag("--version", std::string("podpath ") + PODPATH_VERSION);
  app.formatter(std::make_shared<SummaryFormatter>());
  app.require_subcommand(1);
  app.fallthrough();
  GlobalOptions global;
  app.add_flag("-v,--verbose", global.verbose, "More log output: -v debug (libbpf and verifier), -vv trace");
  app.add_option("--log-level", global.log_level, "Log level: trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
      ->capture_default_str();

  std::vector<std::unique_ptr<Command>> commands = all_commands();
  std::vector<std::pair<CLI::App*, Command*>> chosen;
  for (auto& c : commands) chosen.emplace_back(c->add_to(app), c.get());
  // After the subcommands, so that they do not inherit it.
  app.footer(
      "Run 'podpath COMMAND --help' for what a command shows and its options.\n"
      "First time? 'podpath doctor' checks this machine; scripts/demo runs podpath trace on a lab cluster.");

  if (const auto word = command_word(args)) {
    std::vector<std::string> names;
    for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; }))
      names.push_back(sub->get_name());
    if (std::find(names.begin(), names.end(), *word) == names.end()) {
      io.err << unknown_command_message(*word, names);
      return kExitError;
    }
  }
  try {
    std::vector<std::string> reversed(args.rbegin(), args.rend());
    app.parse(reversed);
  } catch (const CLI::ParseError& e) {
    // --help / --version are "errors" with exit code 0 in CLI11.
    return finish_output(io, "", app.exit(e, io.out, io.err) == 0 ? kExitOk : kExitError);
  }

  if (spdlog::get("podpath") == nullptr)
    configure_logging(global);
  else
    spdlog::set_level(spdlog::level::from_str(effective_log_level(global)));

  for (auto& [sub, command] : chosen) {
    if (!sub->parsed()) continue;
    // Whatever ends the command, its attachments are owned by objects inside run(): they
    // are detached while the exception unwinds, before the message is printed.
    int rc = kExitError;
    try {
      rc = command->run(io);
    } catch (const UserError& e) {
      io.err << "podpath " << sub->get_name() << ": " << printable(e.what()) << "\n";
    } catch (const std::exception& e) {
      io.err << "podpath " << sub->get_name() << ": internal error: " << printable(e.what()) << "\n";
    } catch (...) {
      io.err << "podpath " << sub->get_name() << ": internal error (unknown exception)\n";
    }
    return finish_output(io, sub->get_name(), rc);
  }
  io.err << app.help();
  return kExitError;
}

int run_main(const std::vector<std::string>& args) {
  // A reader that goes away (podpath trace | head) must not kill podpath before it has
  // detached: without SIGPIPE the write fails with EPIPE, which stops the command cleanly.
  std::signal(SIGPIPE, SIG_IGN);
  FdOutput out(STDOUT_FILENO, [] { request_stop(); });
  std::streambuf* previous = std::cout.rdbuf(&out);
  Io io{std::cout, std::cerr};
  const int rc = run(args, io);
  std::cout.rdbuf(previous);
  return rc;
}

}  // namespace podpath::cli
