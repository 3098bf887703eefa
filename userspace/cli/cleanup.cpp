// `podpath cleanup`: removes what podpath runs that were killed left attached in the kernel.
#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include <ostream>

#include "cli/command.hpp"
#include "loader/leftovers.hpp"

namespace podpath::cli {
namespace {

constexpr const char* kDescription =
    "Remove what podpath runs that were killed left attached in the kernel.\n"
    "A podpath that is killed (kill -9, out of memory, a crash) cannot detach: its classic TC filters\n"
    "(--attach clsact) and cgroup programs attached the classic way stay in the kernel and keep running.\n"
    "Every run records what it attaches, by BPF program id, in /run/podpath/runs. This command removes\n"
    "exactly what runs that are gone recorded: their filters, and the clsact qdiscs they created once\n"
    "nothing else uses them. It never touches another owner's filter, nor anything a live podpath holds.\n"
    "tcx and cgroup links need no cleanup: the kernel removes them with the process. A clsact run also\n"
    "removes a killed run's filters in its own TC priority when it starts.\n"
    "  podpath cleanup             remove the leftovers, one line each\n"
    "  podpath cleanup --dry-run   only say what would be removed\n"
    "Exit status: 0 nothing left behind (or nothing to do), 1 something could not be removed (listed),\n"
    "2 the command could not run.";

class CleanupCommand final : public Command {
 public:
  CLI::App* add_to(CLI::App& parent) override {
    CLI::App* sub = parent.add_subcommand("cleanup", kDescription);
    sub->add_flag("--dry-run,-n", dry_run_, "Say what would be removed, remove nothing");
    return sub;
  }

  int run(Io& io) override {
    loader::CleanupOptions options;
    options.dry_run = dry_run_;
    const auto report = loader::clean_leftovers(options);
    for (const auto& line : report.removed) io.out << line << "\n";
    for (const auto& line : report.kept) io.out << "left: " << line << "\n";
    for (const auto& line : report.failed) io.out << "could not remove: " << line << "\n";
    if (!report.live.empty()) {
      std::string pids;
      for (int pid : report.live) pids += (pids.empty() ? "" : ", ") + std::to_string(pid);
      io.out << fmt::format("{} podpath run(s) alive (pid {}): what they attached is theirs, not touched\n",
                            report.live.size(), pids);
    }
    if (report.dead_runs == 0) {
      io.out << "nothing to clean up: no podpath run ended without detaching\n";
    } else if (report.removed.empty() && report.kept.empty() && report.failed.empty()) {
      io.out << fmt::format("nothing left in the kernel by {} podpath run(s) that ended without detaching\n",
                            report.dead_runs);
    }
    return report.failed.empty() ? kExitOk : kExitNegative;
  }

 private:
  bool dry_run_ = false;
};

}  // namespace

std::unique_ptr<Command> make_cleanup_command() { return std::make_unique<CleanupCommand>(); }

}  // namespace podpath::cli
