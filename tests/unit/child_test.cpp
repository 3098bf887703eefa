#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>

#include "util/child.hpp"
#include "util/system.hpp"

using namespace std::chrono_literals;
using podpath::ChildEnd;
using podpath::wait_child;

namespace {

/// A child that ends with `code` at once.
pid_t exiting_child(int code) {
  const pid_t pid = fork();
  if (pid == 0) _exit(code);
  return pid;
}

}  // namespace

TEST(WaitChild, AChildThatEndsInTimeIsReapedWithItsStatus) {
  const pid_t pid = exiting_child(3);
  ASSERT_GT(pid, 0);
  const auto w = wait_child(pid, 5s, 1s);
  EXPECT_EQ(w.end, ChildEnd::Exited);
  ASSERT_TRUE(WIFEXITED(w.status));
  EXPECT_EQ(WEXITSTATUS(w.status), 3);
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1) << "already reaped";
}

TEST(WaitChild, AChildThatNeverEndsByItselfIsKilledAtTheDeadline) {
  // A stopped process, like one in a frozen cgroup, never ends by itself; SIGKILL still ends it.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    ::raise(SIGSTOP);
    _exit(0);
  }
  const auto w = wait_child(pid, 100ms, 5s);
  EXPECT_EQ(w.end, ChildEnd::Killed);
  ASSERT_TRUE(WIFSIGNALED(w.status));
  EXPECT_EQ(WTERMSIG(w.status), SIGKILL);
  EXPECT_EQ(::waitpid(pid, nullptr, WNOHANG), -1) << "the killed child was reaped";
}

TEST(WaitChild, AChildInAFrozenCgroupIsKilledAtTheDeadline) {
  // The shared-ip prober's case (issue 15 item 13): the child joins a container's cgroup,
  // which the container's runtime may freeze at any moment.
  const auto root = podpath::find_mount("cgroup2");
  if (::geteuid() != 0 || !root) GTEST_SKIP() << "needs root and a cgroup v2 mount";
  const auto cg = *root / ("podpath-child-test-" + std::to_string(::getpid()));
  if (!std::filesystem::create_directory(cg)) GTEST_SKIP() << "cannot create a cgroup under " << *root;
  if (!std::filesystem::exists(cg / "cgroup.freeze")) {
    std::filesystem::remove(cg);
    GTEST_SKIP() << "this kernel's cgroup v2 has no freezer (Linux 5.2+)";
  }
  std::ofstream(cg / "cgroup.freeze") << "1\n";
  const std::string procs = (cg / "cgroup.procs").string();
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    std::ofstream(procs) << "0\n";  // frozen from here on
    _exit(0);
  }
  const auto w = wait_child(pid, 300ms, 5s);
  std::ofstream(cg / "cgroup.freeze") << "0\n";
  EXPECT_EQ(w.end, ChildEnd::Killed);
  EXPECT_TRUE(WIFSIGNALED(w.status) && WTERMSIG(w.status) == SIGKILL) << "status " << w.status;
  std::error_code ec;
  for (int i = 0; i < 100 && !std::filesystem::remove(cg, ec); ++i) std::this_thread::sleep_for(10ms);
  EXPECT_FALSE(std::filesystem::exists(cg)) << "the test cgroup is removed";
}
