// Who owns what podpath attached (issue 15, items 1, 2 and the lock-file half of 13): the
// state directory refuses what another user could have prepared, a TC slot's lock names
// its holder, and the journal of a run tells a dead run's attachments from a live one's.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "../common/temp_dir.hpp"
#include "loader/journal.hpp"
#include "loader/slot_lock.hpp"
#include "loader/state_dir.hpp"
#include "util/system.hpp"

using namespace podpath::loader;
using podpath::testing::TempDir;

namespace {

TcRecord tc_record(std::uint32_t ifindex) {
  TcRecord r;
  r.node = "node1";
  r.netns = "lab-node1";
  r.netns_cookie = 4097;
  r.ifindex = ifindex;
  r.ifname = "eth0";
  r.priority = 28784;
  r.handle = 0x7070;
  r.ingress_prog = 100 + ifindex;
  r.egress_prog = 200 + ifindex;
  r.created_qdisc = true;
  return r;
}

std::size_t files_in(const std::filesystem::path& dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

}  // namespace

TEST(StateDir, CreatesItWithTheModeAsked) {
  TempDir tmp;
  const auto dir = tmp.path() / "podpath";
  auto fd = open_state_dir(AT_FDCWD, dir.string(), 0700);
  ASSERT_TRUE(fd) << fd.error().to_string();
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
}

TEST(StateDir, RefusesASymlinkAndADirectoryOthersMayWrite) {
  TempDir tmp;
  std::filesystem::create_directory(tmp.path() / "elsewhere");
  std::filesystem::create_directory_symlink(tmp.path() / "elsewhere", tmp.path() / "link");
  auto linked = open_state_dir(AT_FDCWD, (tmp.path() / "link").string(), 0755);
  ASSERT_FALSE(linked);
  EXPECT_NE(linked.error().message.find("symbolic link"), std::string::npos) << linked.error().message;

  const auto open_dir = tmp.path() / "open";
  std::filesystem::create_directory(open_dir);
  ::chmod(open_dir.c_str(), 0777);
  auto writable = open_state_dir(AT_FDCWD, open_dir.string(), 0755);
  ASSERT_FALSE(writable);
  EXPECT_NE(writable.error().message.find("others may write to it"), std::string::npos);
}

TEST(StateDir, RefusesASymlinkedOrHardLinkedFile) {
  TempDir tmp;
  auto dir = open_state_dir(AT_FDCWD, tmp.path().string(), 0700);
  ASSERT_TRUE(dir);
  tmp.write("target", "x");
  std::filesystem::create_symlink(tmp.path() / "target", tmp.path() / "tc-1.lock");
  auto via_link = open_state_file(dir->get(), "tc-1.lock", O_RDWR | O_CREAT, 0644);
  ASSERT_FALSE(via_link);
  EXPECT_NE(via_link.error().message.find("symbolic link"), std::string::npos);
  std::filesystem::create_hard_link(tmp.path() / "target", tmp.path() / "tc-2.lock");
  auto hard = open_state_file(dir->get(), "tc-2.lock", O_RDWR | O_CREAT, 0644);
  ASSERT_FALSE(hard);
  EXPECT_NE(hard.error().message.find("hard links"), std::string::npos);
  EXPECT_EQ(*podpath::read_file(tmp.path() / "target"), "x") << "the target was not written through";
}

TEST(SlotLock, ASecondHolderIsRefusedWithTheFirstOnesName) {
  TempDir tmp;
  auto first = lock_tc_slot(4242, SlotHold::Run, tmp.path());
  ASSERT_TRUE(first) << first.error().to_string();
  struct stat st {};
  ASSERT_EQ(::stat((tmp.path() / "tc-4242.lock").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  // flock locks belong to the open file: a second open in this process conflicts too.
  auto second = lock_tc_slot(4242, SlotHold::Run, tmp.path());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, EBUSY);
  EXPECT_NE(second.error().message.find("another podpath (pid " + std::to_string(::getpid())),
            std::string::npos)
      << second.error().message;
  EXPECT_NE(second.error().message.find("--tc-priority"), std::string::npos);
  EXPECT_TRUE(lock_tc_slot(4243, SlotHold::Run, tmp.path())) << "another priority is another slot";
}

TEST(SlotLock, ABriefHolderIsWaitedFor) {
  TempDir tmp;
  auto brief = lock_tc_slot(4242, SlotHold::Brief, tmp.path());
  ASSERT_TRUE(brief);
  std::thread release([lock = std::move(*brief)]() mutable {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    lock.release();
  });
  // The waiter has the old file open; the holder removes it as it lets go, so the waiter
  // must open the name again rather than hold a lock on a file nobody else can see.
  auto run = lock_tc_slot(4242, SlotHold::Run, tmp.path());
  release.join();
  ASSERT_TRUE(run) << run.error().to_string();
  EXPECT_FALSE(lock_tc_slot(4242, SlotHold::Run, tmp.path())) << "the waiter's lock guards the slot";
}

TEST(SlotLock, ReleasingRemovesTheLockFile) {
  TempDir tmp;
  const auto file = tmp.path() / "tc-4242.lock";
  {
    auto lock = lock_tc_slot(4242, SlotHold::Run, tmp.path());
    ASSERT_TRUE(lock) << lock.error().to_string();
    EXPECT_TRUE(std::filesystem::exists(file));
    SlotLock moved = std::move(*lock);
    EXPECT_TRUE(moved.held());
    EXPECT_TRUE(std::filesystem::exists(file)) << "moving a lock keeps it";
  }
  EXPECT_FALSE(std::filesystem::exists(file)) << "a released slot leaves no file behind";
  tmp.write("tc-4242.lock", "999999\n");  // left by a run that was killed
  {
    auto lock = lock_tc_slot(4242, SlotHold::Run, tmp.path());
    ASSERT_TRUE(lock) << "a stale file is no lock: " << lock.error().to_string();
  }
  EXPECT_FALSE(std::filesystem::exists(file)) << "and the next run's release removes it";
}

TEST(SlotLock, ALockThatCannotBeCreatedIsAnErrorThatSaysWhy) {
  TempDir tmp;
  tmp.write("not-a-dir", "x");
  auto r = lock_tc_slot(4242, SlotHold::Run, tmp.path() / "not-a-dir");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("cannot take the lock of classic TC priority 4242"), std::string::npos)
      << r.error().message;
  EXPECT_NE(r.error().message.find("--attach tcx"), std::string::npos);
}

TEST(Journal, ReplayKeepsWhatWasNotRetired) {
  const JournalEntry a{1, tc_record(3)};
  const JournalEntry b{2, CgroupRecord{"/sys/fs/cgroup/x", 7, 8}};
  const JournalEntry c{3, tc_record(4)};
  const std::string text =
      journal_add_line(a) + journal_add_line(b) + journal_add_line(c) + journal_retire_line(1);
  auto entries = replay_journal(text);
  ASSERT_TRUE(entries) << entries.error().to_string();
  EXPECT_EQ(*entries, (std::vector<JournalEntry>{b, c}));
  // The run died while writing its last line: the torn line is ignored.
  auto torn = replay_journal(text + journal_add_line({4, tc_record(5)}).substr(0, 20));
  ASSERT_TRUE(torn);
  EXPECT_EQ(torn->size(), 2u);
  EXPECT_FALSE(replay_journal("garbage\n" + text)) << "a bad line in the middle is an error";
}

TEST(Journal, ExistsOnlyWhileSomethingIsRecorded) {
  TempDir tmp;
  Journal journal(tmp.path());
  EXPECT_EQ(journal.file_name(), "");
  const auto a = journal.add(tc_record(3));
  const auto b = journal.add(tc_record(4));
  ASSERT_NE(a, 0u);
  ASSERT_NE(b, 0u);
  const auto runs = tmp.path() / "runs";
  EXPECT_EQ(files_in(runs), 1u);
  struct stat st {};
  ASSERT_EQ(::stat(runs.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  EXPECT_EQ(journal.file_name().rfind(std::to_string(::getpid()) + "-", 0), 0u) << journal.file_name();
  journal.retire(a);
  EXPECT_EQ(files_in(runs), 1u);
  journal.retire(b);
  EXPECT_EQ(files_in(runs), 0u) << "a run that detached everything leaves no journal";
}

TEST(Journal, ALiveRunIsNotTakenForADeadOne) {
  TempDir tmp;
  Journal live(tmp.path());
  ASSERT_NE(live.add(tc_record(3)), 0u);
  {
    auto found = find_run_journals(tmp.path());
    EXPECT_TRUE(found.dead.empty());
    EXPECT_EQ(found.live, std::vector<int>{::getpid()});
  }
  EXPECT_TRUE(unclean_run_pids(tmp.path()).empty());
}

TEST(Journal, ADeadRunsRecordsAreFoundAndLockedForOneCleaner) {
  TempDir tmp;
  {
    Journal dying(tmp.path());
    const auto a = dying.add(tc_record(3));
    dying.add(CgroupRecord{"/sys/fs/cgroup/x", 7, 8});
    dying.retire(a);
  }  // like a process that died: the file stays, its lock is gone
  auto found = find_run_journals(tmp.path());
  ASSERT_EQ(found.dead.size(), 1u);
  EXPECT_TRUE(found.live.empty());
  EXPECT_EQ(found.dead[0].pid, ::getpid());
  ASSERT_EQ(found.dead[0].entries.size(), 1u);
  EXPECT_EQ(found.dead[0].entries[0].record, (Record{CgroupRecord{"/sys/fs/cgroup/x", 7, 8}}));
  // A second cleaner meanwhile sees it as taken, not as dead.
  auto second = find_run_journals(tmp.path());
  EXPECT_TRUE(second.dead.empty());
  remove_journal(tmp.path(), found.dead[0]);
  EXPECT_EQ(files_in(tmp.path() / "runs"), 0u);
}
