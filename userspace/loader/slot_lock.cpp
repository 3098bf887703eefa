#include "loader/slot_lock.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <thread>

#include "util/system.hpp"

namespace podpath::loader {
namespace {

std::string lock_name(std::uint16_t priority) { return fmt::format("tc-{}.lock", priority); }

constexpr const char* kBriefMark = " brief";
constexpr auto kBriefWait = std::chrono::seconds(5);

/// The lock file's content: "PID\n", or "PID brief\n" while held for a moment.
struct Holder {
  int pid = 0;
  bool brief = false;
};

Holder holder_of(int fd) {
  Holder h;
  const auto text = read_state_file(fd, 64);
  if (!text) return h;
  std::from_chars(text->data(), text->data() + text->size(), h.pid);
  h.brief = text->find(kBriefMark) != std::string::npos;
  return h;
}

std::string describe(const Holder& h) { return h.pid > 0 ? describe_process(h.pid) : "another process"; }

/// True when `name` in `dir` is still the file `fd` has open: a holder removes the file when
/// it releases the lock, so a lock taken on a removed file guards nothing.
bool still_linked(int dir, const std::string& name, int fd) {
  struct stat open_file {};
  struct stat named {};
  if (::fstat(fd, &open_file) != 0) return false;
  if (::fstatat(dir, name.c_str(), &named, AT_SYMLINK_NOFOLLOW) != 0) return false;
  return open_file.st_dev == named.st_dev && open_file.st_ino == named.st_ino;
}

}  // namespace

std::string describe_process(int pid) {
  auto cmdline = read_file(fmt::format("/proc/{}/cmdline", pid));
  if (!cmdline || cmdline->empty()) return fmt::format("pid {}", pid);
  while (!cmdline->empty() && cmdline->back() == '\0') cmdline->pop_back();
  for (char& c : *cmdline) {
    if (c == '\0') c = ' ';
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';  // never echo control characters
  }
  constexpr std::size_t kMax = 120;
  if (cmdline->size() > kMax) *cmdline = cmdline->substr(0, kMax) + "...";
  return fmt::format("pid {}: {}", pid, *cmdline);
}

SlotLock& SlotLock::operator=(SlotLock&& other) noexcept {
  if (this != &other) {
    release();
    dir_ = std::move(other.dir_);
    name_ = std::move(other.name_);
    file_ = std::move(other.file_);
  }
  return *this;
}

void SlotLock::release() {
  if (!file_) return;
  // Removed while still locked: whoever opens the name next gets a new file, and whoever
  // waits on this one finds it unlinked and opens the name again.
  ::unlinkat(dir_.get(), name_.c_str(), 0);
  file_.reset();
  dir_.reset();
}

Result<SlotLock> lock_tc_slot(std::uint16_t priority, SlotHold hold, const std::filesystem::path& dir) {
  const std::string name = lock_name(priority);
  const std::string path = (dir / name).string();
  const auto unguarded = [&](const Error& e) {
    return make_error(e.code,
                      "cannot take the lock of classic TC priority {} ({}): {}; without it a second podpath "
                      "could remove podpath's filters, so podpath does not attach classic filters: fix that, "
                      "or use --attach tcx",
                      priority, path, e.message);
  };
  auto dir_fd = open_state_dir(AT_FDCWD, dir.string(), 0755);
  if (!dir_fd) return unguarded(dir_fd.error());
  const auto deadline = std::chrono::steady_clock::now() + kBriefWait;
  Result<Fd> fd = make_error(ENOENT, "not opened");
  for (;;) {
    fd = open_state_file(dir_fd->get(), name, O_RDWR | O_CREAT, 0644);
    if (!fd) return unguarded(fd.error());
    if (::flock(fd->get(), LOCK_EX | LOCK_NB) == 0) {
      if (still_linked(dir_fd->get(), name, fd->get())) break;
      continue;  // its holder released it and removed the file: open the name again
    }
    if (errno != EWOULDBLOCK) return unguarded(make_error(errno, "flock failed"));
    const Holder h = holder_of(fd->get());
    if (h.brief && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    return make_error(
        EBUSY,
        "another podpath ({}) is running with classic TC priority {} (it holds {}): stop it, or "
        "choose another --tc-priority, or use --attach tcx",
        describe(h), priority, path);
  }
  const std::string pid = std::to_string(::getpid()) + (hold == SlotHold::Brief ? kBriefMark : "") + "\n";
  if (::ftruncate(fd->get(), 0) != 0 || ::pwrite(fd->get(), pid.data(), pid.size(), 0) < 0) {
    return unguarded(make_error(errno, "cannot write the lock file"));
  }
  return SlotLock(std::move(*dir_fd), name, std::move(*fd));
}

}  // namespace podpath::loader
