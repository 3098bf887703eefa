// Issue 15 items 13 and 17: files others control are read bounded and never block; writes
// never follow a planted symlink; directory walks survive entries vanishing under them.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "../common/temp_dir.hpp"
#include "util/files.hpp"

namespace fs = std::filesystem;
using podpath::read_regular_file;
using podpath::walk_directories;
using podpath::write_file_atomically;
using podpath::testing::TempDir;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return {std::istreambuf_iterator<char>(in), {}};
}

}  // namespace

TEST(ReadRegularFile, RefusesDevicesAndEndlessFiles) {
  const auto zero = read_regular_file("/dev/zero");
  ASSERT_FALSE(zero);
  EXPECT_NE(zero.error().message.find("/dev/zero: it is a character device"), std::string::npos)
      << zero.error().message;
  const auto dir = read_regular_file("/");
  ASSERT_FALSE(dir);
  EXPECT_NE(dir.error().message.find("a directory"), std::string::npos);
}

TEST(ReadRegularFile, NeverBlocksOnAFifo) {
  TempDir d;
  const fs::path fifo = d.path() / "10.10.129.7";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto r = read_regular_file(fifo);  // would block forever in std::ifstream
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("a FIFO"), std::string::npos) << r.error().message;
}

TEST(ReadRegularFile, CapsTheSize) {
  TempDir d;
  const fs::path f = d.path() / "big";
  std::ofstream(f) << std::string(5000, 'x');
  const auto r = read_regular_file(f, 4096);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("larger than 4096 bytes"), std::string::npos) << r.error().message;
  const auto ok = read_regular_file(f, 5000);
  ASSERT_TRUE(ok) << ok.error().to_string();
  EXPECT_EQ(ok->size(), 5000u);
  // /proc files report size 0 and are read in chunks all the same.
  const auto proc = read_regular_file("/proc/self/status");
  ASSERT_TRUE(proc) << proc.error().to_string();
  EXPECT_NE(proc->find("Name:"), std::string::npos);
}

TEST(WriteFileAtomically, NeverFollowsASymlinkPlantedAtTheTemporaryName) {
  TempDir d;
  const fs::path victim = d.path() / "victim";
  std::ofstream(victim) << "precious\n";
  const fs::path ready = d.path() / "ready";
  fs::create_symlink(victim, ready.string() + ".tmp");  // the old, predictable temporary name
  ASSERT_TRUE(write_file_atomically(ready, "ready\n"));
  EXPECT_EQ(slurp(victim), "precious\n");
  EXPECT_EQ(slurp(ready), "ready\n");
  for (const auto& e : fs::directory_iterator(d.path())) {
    EXPECT_EQ(e.path().filename().string().find(".ready.tmp"), std::string::npos) << e.path();
  }
}

TEST(WriteFileAtomically, RefusesToReplaceADeviceOrAFifo) {
  TempDir d;
  const fs::path fifo = d.path() / "ready";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const auto r = write_file_atomically(fifo, "ready\n");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("it is a FIFO"), std::string::npos) << r.error().message;
  // A device of the test's own, like /dev/full: a bug here must not replace the machine's.
  const fs::path device = d.path() / "full";
  if (::mknod(device.c_str(), S_IFCHR | 0666, ::makedev(1, 7)) != 0) {
    GTEST_SKIP() << "the FIFO half passed; the device half needs CAP_MKNOD";
  }
  const auto full = write_file_atomically(device, "ready\n");
  ASSERT_FALSE(full);
  EXPECT_NE(full.error().message.find("a character device"), std::string::npos) << full.error().message;
  struct stat st {};
  ASSERT_EQ(::stat(device.c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode)) << "the device is still a device";
}

TEST(WalkDirectories, GoesOnWhenADirectoryVanishesUnderIt) {
  TempDir d;
  const std::vector<std::string> tops{"a", "b", "c"};
  for (const auto& t : tops) fs::create_directories(d.path() / t / (t + "1"));
  std::vector<std::string> seen;
  std::string removed;
  walk_directories(d.path(), [&](const fs::path& dir) {
    const std::string rel = fs::relative(dir, d.path()).string();
    seen.push_back(rel);
    // The first directory visited removes another one that was already listed, as a pod's
    // cgroup goes away while a walk runs: the walk skips it and visits the rest.
    if (removed.empty()) {
      removed = rel == "a" ? "b" : "a";
      fs::remove_all(d.path() / removed);
    }
    return true;
  });
  for (const auto& t : tops) {
    if (t == removed) continue;
    EXPECT_NE(std::find(seen.begin(), seen.end(), t + "/" + t + "1"), seen.end()) << t;
  }
  EXPECT_EQ(std::find(seen.begin(), seen.end(), removed + "/" + removed + "1"), seen.end());
}
