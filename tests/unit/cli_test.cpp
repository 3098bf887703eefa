#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "../common/cli_run.hpp"
#include "cli/command_words.hpp"
#include "cli/doctor.hpp"

using podpath::testing::run_cli;

TEST(Cli, VersionPrintsNameAndVersion) {
  const auto r = run_cli({"--version"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("podpath 0."), std::string::npos) << r.out;
}

TEST(Cli, HelpListsSubcommandsAndGlobalOptions) {
  const auto r = run_cli({"--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("doctor"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("--log-level"), std::string::npos);
  EXPECT_NE(r.out.find("--verbose"), std::string::npos);
}

TEST(Cli, HelpListsEveryCommandOnOneLineThenSaysWhereToGoNext) {
  const auto r = run_cli({"--help"});
  const auto list = r.out.find("Subcommands:\n");
  ASSERT_NE(list, std::string::npos) << r.out;
  std::istringstream lines(r.out.substr(list + 13));
  std::string line;
  std::vector<std::string> names;
  while (std::getline(lines, line) && !line.empty()) {
    ASSERT_EQ(line.rfind("  ", 0), 0u) << line;
    ASSERT_NE(line[2], ' ') << "a description continues on a second line: " << line;
    names.push_back(line.substr(2, line.find(' ', 2) - 2));
  }
  EXPECT_EQ(names, (std::vector<std::string>{"trace", "paths", "check", "shared-ip", "matrix", "routes",
                                             "agent", "pods", "doctor", "cleanup", "debug"}));
  EXPECT_NE(r.out.find("Run 'podpath COMMAND --help'"), std::string::npos) << r.out;
  // The whole description stays in the command's own help, without the top-level footer.
  const auto trace = run_cli({"trace", "--help"});
  EXPECT_NE(trace.out.find("every hop with the route that sent the packet there"), std::string::npos);
  EXPECT_EQ(trace.out.find("Run 'podpath COMMAND --help'"), std::string::npos) << trace.out;
}

TEST(Cli, NoSubcommandIsAnError) {
  const auto r = run_cli({});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("subcommand"), std::string::npos) << r.err;
}

TEST(Cli, UnknownOptionIsOneClearLine) {
  const auto r = run_cli({"--frobnicate", "doctor"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--frobnicate"), std::string::npos) << r.err;
}

TEST(Cli, BadLogLevelIsRejected) {
  const auto r = run_cli({"--log-level", "loud", "doctor"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("loud"), std::string::npos) << r.err;
}

TEST(Cli, VerbosityOverridesLogLevel) {
  podpath::cli::GlobalOptions o;
  o.log_level = "warn";
  EXPECT_EQ(podpath::cli::effective_log_level(o), "warn");
  o.verbose = 1;
  EXPECT_EQ(podpath::cli::effective_log_level(o), "debug");
  o.verbose = 3;
  EXPECT_EQ(podpath::cli::effective_log_level(o), "trace");
}

TEST(Cli, DoctorRunsAndReportsKernel) {
  const auto r = run_cli({"doctor"});
  EXPECT_TRUE(r.code == 0 || r.code == 1) << r.err;
  EXPECT_NE(r.out.find("kernel BTF"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(r.code == 0 ? "ready" : "blocked"), std::string::npos) << r.out;
}

TEST(Cli, UnknownCommandIsNamedAndTheCommandsListed) {
  // Issue 15 item 18.
  const auto r = run_cli({"nosuchcmd"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown command 'nosuchcmd'; the commands are: "), std::string::npos) << r.err;
  for (const char* c : {"trace", "paths", "check", "pods", "doctor", "shared-ip"})
    EXPECT_NE(r.err.find(c), std::string::npos) << c << " in: " << r.err;
  const auto typo = run_cli({"--log-level", "info", "trcae"});
  EXPECT_NE(typo.err.find("unknown command 'trcae' (did you mean 'trace'?)"), std::string::npos) << typo.err;
  const auto escape = run_cli({"x\x1b[2J"});
  EXPECT_EQ(escape.err.find('\x1b'), std::string::npos) << "the word is shown through printable()";
}

TEST(Doctor, NamesWhatEachCommandLacks) {
  // Issue 15 item 14: CAP_BPF + CAP_NET_ADMIN + CAP_PERFMON was reported "ready", then every
  // lab command failed to enter a namespace.
  podpath::bpf::Features f;
  f.is_root = true;
  f.cap_bpf = f.cap_net_admin = f.cap_perfmon = f.cap_net_raw = true;
  f.btf = f.lpm_trie = f.ringbuf = true;
  f.cgroup2_mount = "/sys/fs/cgroup";
  const auto of = [&](const std::string& commands) {
    for (const auto& c : podpath::cli::command_readiness(f))
      if (c.commands == commands) return c;
    ADD_FAILURE() << "no row for " << commands;
    return podpath::cli::CommandReadiness{};
  };
  EXPECT_TRUE(of("pods").missing.empty());
  for (const char* c : {"routes", "trace, paths, matrix, debug dump", "check", "shared-ip"}) {
    const auto row = of(c);
    ASSERT_EQ(row.missing.size(), 1u) << c;
    EXPECT_NE(row.missing[0].find("CAP_SYS_ADMIN is missing"), std::string::npos) << row.missing[0];
  }
  f.cap_sys_admin = true;
  for (const auto& c : podpath::cli::command_readiness(f)) EXPECT_TRUE(c.missing.empty()) << c.commands;
  f.cap_net_raw = false;
  ASSERT_EQ(of("check").missing.size(), 1u);
  EXPECT_NE(of("check").missing[0].find("CAP_NET_RAW"), std::string::npos);
  f.cap_net_raw = true;
  f.cap_perfmon = false;
  ASSERT_EQ(of("check").missing.size(), 1u);
  EXPECT_NE(of("check").missing[0].find("CAP_PERFMON"), std::string::npos);
}

TEST(CommandWords, EditDistanceCountsInsertDeleteAndReplace) {
  using podpath::cli::edit_distance;
  EXPECT_EQ(edit_distance("trace", "trace"), 0U);
  EXPECT_EQ(edit_distance("trcae", "trace"), 2U);  // a swap is two replacements
  EXPECT_EQ(edit_distance("pod", "pods"), 1U);
  EXPECT_EQ(edit_distance("", "check"), 5U);
  EXPECT_EQ(edit_distance("routes", "route"), 1U);
}

TEST(CommandWords, CommandWordSkipsOptionsAndTheLogLevelValue) {
  using podpath::cli::command_word;
  EXPECT_EQ(command_word({"--log-level", "debug", "-v", "trace", "--pod", "web"}), "trace");
  EXPECT_EQ(command_word({"-vv", "--version"}), std::nullopt);
}

TEST(CommandWords, SuggestsOnlyWithinTwoEdits) {
  using podpath::cli::unknown_command_message;
  const std::vector<std::string> commands{"trace", "paths", "check"};
  EXPECT_NE(unknown_command_message("chek", commands).find("(did you mean 'check'?)"), std::string::npos);
  EXPECT_EQ(unknown_command_message("xyzzy", commands).find("did you mean"), std::string::npos);
  EXPECT_NE(unknown_command_message("xyzzy", commands).find("the commands are: trace, paths, check"),
            std::string::npos);
}
