#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "../common/cli_run.hpp"

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
                                             "pods", "doctor", "cleanup", "debug"}));
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
