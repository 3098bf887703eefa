#include <gtest/gtest.h>

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
