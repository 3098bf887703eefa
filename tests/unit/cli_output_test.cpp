// podpath's standard output and stop signals (issue 15, item 1 and item 17's stdout half):
// a reader that goes away is a clean stop, any other write error is an error with a
// message, for every command; SIGHUP and SIGQUIT stop a live command like SIGTERM.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <sstream>
#include <string>
#include <thread>

#include "cli/app.hpp"
#include "cli/fd_output.hpp"
#include "cli/live.hpp"

using podpath::cli::FdOutput;

namespace {

const std::string kFixture = (std::filesystem::path(PODPATH_TEST_DATA) / "lab_inventory.json").string();

struct Outcome {
  int code;
  int error;
  std::string err;
};

/// Runs the command line with its output going to `fd` through FdOutput, as main does.
Outcome run_to_fd(int fd, const std::vector<std::string>& args) {
  FdOutput buf(fd);
  std::ostream out(&buf);
  std::ostringstream err;
  podpath::cli::Io io{out, err};
  const int code = podpath::cli::run(args, io);
  return {code, buf.error(), err.str()};
}

/// A pipe whose reader is gone: writing to it is EPIPE (SIGPIPE ignored, as main does).
struct BrokenPipe {
  int fds[2] = {-1, -1};
  BrokenPipe() {
    std::signal(SIGPIPE, SIG_IGN);
    EXPECT_EQ(::pipe(fds), 0);
    ::close(fds[0]);
  }
  ~BrokenPipe() { ::close(fds[1]); }
};

}  // namespace

TEST(FdOutput, KeepsTheFirstWriteErrorAndStopsWriting) {
  const int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(full, 0);
  int calls = 0;
  {
    FdOutput buf(full, [&] { ++calls; });
    std::ostream out(&buf);
    out << "hello" << std::flush;
    EXPECT_TRUE(out.fail());
    EXPECT_EQ(buf.error(), ENOSPC);
    out.clear();
    out << "more" << std::flush;  // discarded, no second report
    EXPECT_EQ(calls, 1);
  }
  ::close(full);
}

TEST(FdOutput, WritesEverythingItIsGiven) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::string big(200 * 1024, 'x');  // larger than the buffer, and than a pipe holds at once
  std::string read_back;
  std::thread reader([&] {
    char chunk[4096];
    ssize_t n = 0;
    while ((n = ::read(fds[0], chunk, sizeof(chunk))) > 0)
      read_back.append(chunk, static_cast<std::size_t>(n));
  });
  {
    FdOutput buf(fds[1]);
    std::ostream out(&buf);
    out << "a" << big << "z";
  }
  ::close(fds[1]);
  reader.join();
  ::close(fds[0]);
  EXPECT_EQ(read_back, "a" + big + "z");
}

TEST(CliOutput, AFullStdoutIsAnErrorWithAMessage) {
  const int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  ASSERT_GE(full, 0);
  const auto r = run_to_fd(full, {"pods", "--inventory", kFixture});
  ::close(full);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("podpath pods: cannot write the output: No space left on device"), std::string::npos)
      << r.err;
  // --help goes to stdout too.
  const int full2 = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  const auto h = run_to_fd(full2, {"--help"});
  ::close(full2);
  EXPECT_EQ(h.code, 2);
  EXPECT_NE(h.err.find("cannot write the output"), std::string::npos) << h.err;
}

TEST(CliOutput, AReaderThatWentAwayIsACleanStop) {
  BrokenPipe pipe;
  const auto r = run_to_fd(pipe.fds[1], {"pods", "--inventory", kFixture});
  EXPECT_EQ(r.error, EPIPE);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err, "");
}

TEST(CliOutput, AnErrorOfTheCommandKeepsItsCodeWhenTheReaderWentAway) {
  BrokenPipe pipe;
  const auto r = run_to_fd(pipe.fds[1], {"pods", "--inventory", "/nonexistent/inventory.json"});
  EXPECT_EQ(r.code, 2);
}

TEST(CliOutput, AWriteErrorStopsALiveCommand) {
  // main wires the output's error to request_stop(): the live loops see the stop flag.
  const podpath::cli::StopOnSignal stop;
  ASSERT_FALSE(stop.flag().load());
  const int full = ::open("/dev/full", O_WRONLY | O_CLOEXEC);
  FdOutput buf(full, [] { podpath::cli::request_stop(); });
  std::ostream out(&buf);
  out << "snapshot\n" << std::flush;
  ::close(full);
  EXPECT_TRUE(stop.flag().load());
}

TEST(StopOnSignal, HangupAndQuitStopLikeTerm) {
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT}) {
    const podpath::cli::StopOnSignal stop;
    ASSERT_FALSE(stop.flag().load());
    ASSERT_EQ(::raise(sig), 0);  // would end the test binary if not handled
    EXPECT_TRUE(stop.flag().load()) << strsignal(sig);
  }
  // Outside a live command the signals do what they did before.
  struct sigaction now {};
  sigaction(SIGHUP, nullptr, &now);
  EXPECT_EQ(now.sa_handler, SIG_DFL);
}
