// The live commands (trace, paths, matrix, debug dump): option parsing and the errors a
// user sees before anything is attached (no privileges needed).
#include <gtest/gtest.h>

#include <filesystem>

#include "../common/cli_run.hpp"

using podpath::testing::run_cli;

namespace {
const std::string kFixture = (std::filesystem::path(PODPATH_TEST_DATA) / "lab_inventory.json").string();

void expect_error(const std::vector<std::string>& args, const std::string& needle) {
  const auto r = run_cli(args);
  EXPECT_EQ(r.code, 2) << r.out << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
  EXPECT_TRUE(r.out.empty()) << r.out;
}
}  // namespace

TEST(CliLive, HelpOfEveryLiveCommandExplainsIt) {
  for (const auto& [cmd, needle] : std::vector<std::pair<std::string, std::string>>{
           {"trace", "routed along"}, {"paths", "hop-by-hop"}, {"matrix", "source CIDR"}}) {
    const auto r = run_cli({cmd, "--help"});
    EXPECT_EQ(r.code, 0) << cmd;
    EXPECT_NE(r.out.find(needle), std::string::npos) << cmd << ": " << r.out;
    EXPECT_NE(r.out.find("--lab"), std::string::npos) << cmd;
    EXPECT_NE(r.out.find("--attach"), std::string::npos) << cmd;
  }
  const auto d = run_cli({"debug", "dump", "--help"});
  EXPECT_EQ(d.code, 0);
  EXPECT_NE(d.out.find("raw kernel maps"), std::string::npos) << d.out;
}

TEST(CliLive, BadFilterValuesAreOneClearLine) {
  expect_error({"trace", "--inventory", kFixture, "--proto", "quic"},
               "unknown protocol 'quic' (use tcp, udp, icmp, icmpv6, sctp or a number 0-255)");
  expect_error({"trace", "--inventory", kFixture, "--cidr", "10.0.0.0/33"},
               "--cidr '10.0.0.0/33' is not a CIDR");
  expect_error({"paths", "--inventory", kFixture, "--port", "70000"}, "--port");
  expect_error({"trace", "--inventory", kFixture, "--proto", "256"}, "unknown protocol '256'");
}

TEST(CliLive, BadAttachOptionsAreRejectedByTheParser) {
  expect_error({"trace", "--attach", "xdp"}, "--attach");
  expect_error({"trace", "--netns-mode", "magic"}, "--netns-mode");
  expect_error({"trace", "--tc-priority", "0"}, "--tc-priority");
  expect_error({"trace", "--interval", "0"}, "--interval");
  expect_error({"trace", "--max-flows", "3"}, "--max-flows");
  expect_error({"trace", "--once", "--duration", "5"}, "excludes");
  for (const char* command : {"trace", "paths", "matrix", "check"}) {
    expect_error({command, "--output", "yaml"},
                 "--output: yaml not in {table,json}");  // parser, before any attach
  }
  expect_error({"trace", "--inventory", kFixture, "--lab", "pp"}, "excludes");
  expect_error({"paths", "a", "b", "c"}, "");
}

TEST(CliLive, MissingInventoryOrLabIsNamed) {
  expect_error({"trace", "--inventory", "/nonexistent/inventory.json"},
               "cannot read inventory /nonexistent/inventory.json");
  expect_error({"matrix", "--lab", "nosuchlab"}, "no lab named 'nosuchlab'");
  expect_error({"debug", "dump", "--lab", "nosuchlab"}, "no lab named 'nosuchlab'");
}

TEST(CliLive, UnknownPodInPathsIsNamed) {
  // The fixture's namespaces do not exist, so the session cannot start; the check of the
  // positional pods must not be what fails silently: the error names the first cause.
  const auto r = run_cli({"paths", "--inventory", kFixture, "no-such-pod"});
  EXPECT_EQ(r.code, 2);
  EXPECT_FALSE(r.err.empty());
}

// Issue 15 item 18: names and addresses are checked before anything is attached. The
// fixture's network namespaces do not exist, so an error that names the namespace instead
// means the check came after the attach had begun.
TEST(CliLive, UnknownNamesFailBeforeAttaching) {
  const auto not_attached = [](const std::vector<std::string>& args, const std::string& needle) {
    const auto r = run_cli(args);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr: " << r.err;
    EXPECT_EQ(r.err.find("network namespace"), std::string::npos) << "stderr: " << r.err;
  };
  not_attached({"paths", "--inventory", kFixture, "nosuch"}, "unknown pod 'nosuch'");
  not_attached({"trace", "--inventory", kFixture, "--pod", "nosuch"}, "--pod: unknown pod 'nosuch'");
  not_attached({"trace", "--inventory", kFixture, "--node", "nosuch"}, "--node: unknown node 'nosuch'");
  not_attached({"trace", "--inventory", kFixture, "-n", "nosuch"},
               "--namespace: no pod is in namespace 'nosuch' (namespaces: default)");
  not_attached({"check", "--inventory", kFixture, "web-7d4b9-x2k4q", "::1"},
               "cannot check ::1 from 10.10.129.2");
  not_attached({"check", "--inventory", kFixture, "web-7d4b9-x2k4q", "127.0.0.1"},
               "cannot check 127.0.0.1: it is a loopback address");
  not_attached({"check", "--inventory", kFixture, "web-7d4b9-x2k4q", "0.0.0.0"},
               "cannot check 0.0.0.0: it is the unspecified address");
  not_attached({"check", "--inventory", kFixture, "web-7d4b9-x2k4q", "224.0.0.251"},
               "cannot check 224.0.0.251: it is a multicast address");
}
