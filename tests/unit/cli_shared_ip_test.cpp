// `podpath shared-ip` input errors: each one line, exit code 2, before anything is loaded.
#include <grp.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "../common/cli_run.hpp"

namespace {

using podpath::testing::run_cli;

const std::string kInventory = std::string(PODPATH_TEST_DATA) + "/lab_inventory.json";

}  // namespace

TEST(CliSharedIp, HelpIsWrittenForAnOperator) {
  const auto r = run_cli({"shared-ip", "--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* s :
       {"PASS", "FAIL", "no traffic seen", "--probe", "--all", "--duration", "--output", "Exit code"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
  }
}

TEST(CliSharedIp, NeedsExactlyOnePodOrAll) {
  auto r = run_cli({"shared-ip", "--inventory", kInventory});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("name one POD"), std::string::npos) << r.err;
  r = run_cli({"shared-ip", "--inventory", kInventory, "--all", "db-0"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("name one POD"), std::string::npos) << r.err;
}

TEST(CliSharedIp, UnknownPodNamesThePodsThereAre) {
  const auto r = run_cli({"shared-ip", "--inventory", kInventory, "nosuch"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("unknown pod 'nosuch' (pods: default/web-7d4b9-x2k4q, default/db-0)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << "one line";
}

TEST(CliSharedIp, AmbiguousNameAsksForTheNamespace) {
  const auto path = std::filesystem::temp_directory_path() / ("podpath-si-inv." + std::to_string(getpid()));
  {
    std::ifstream in(kInventory);
    std::stringstream text;
    text << in.rdbuf();
    std::string s = text.str();
    // A second db-0, in namespace shop.
    const std::string pod = R"({ "namespace": "shop", "name": "db-0", "node": "node2", "ip": "10.10.130.9",
      "netns": "pp-pod-x", "veth": "vethx", "containers": [] },)";
    s.insert(s.find("\"pods\": [") + 9, pod);
    std::ofstream(path) << s;
  }
  const auto r = run_cli({"shared-ip", "--inventory", path.string(), "db-0"});
  std::filesystem::remove(path);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("pod name 'db-0' is ambiguous; use namespace/name: shop/db-0, default/db-0"),
            std::string::npos)
      << r.err;
}

TEST(CliSharedIp, NoSuchLab) {
  const auto r = run_cli({"shared-ip", "--lab", "nolab9", "db-0"});
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("no lab named 'nolab9' is up"), std::string::npos) << r.err;
}

TEST(CliSharedIp, NotRootIsOneClearLine) {
  // As root (CI), drop to nobody in a child first.
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    if (geteuid() == 0 && (setgroups(0, nullptr) != 0 || setgid(65534) != 0 || setuid(65534) != 0)) _exit(99);
    const auto r = run_cli({"shared-ip", "--inventory", kInventory, "default/db-0"});
    (void)!write(fds[1], r.err.data(), r.err.size());
    _exit(r.code);
  }
  close(fds[1]);
  std::string err;
  char buf[512];
  for (ssize_t n; (n = read(fds[0], buf, sizeof(buf))) > 0;) err.append(buf, static_cast<std::size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 2);
  EXPECT_NE(err.find("must run as root"), std::string::npos) << err;
}

TEST(CliSharedIp, BadOptionValues) {
  EXPECT_EQ(run_cli({"shared-ip", "--inventory", kInventory, "db-0", "--output", "yaml"}).code, 2);
  EXPECT_EQ(run_cli({"shared-ip", "--inventory", kInventory, "db-0", "--duration", "0"}).code, 2);
  EXPECT_EQ(run_cli({"shared-ip", "--inventory", kInventory, "db-0", "--probe-port", "70000"}).code, 2);
}
