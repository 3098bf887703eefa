#pragma once
/// @file
/// @brief The lock of a classic TC slot. A clsact run holds /run/podpath/tc-<priority>.lock
/// for its whole life, so podpath filters in a slot whose lock is free are stale (left by a
/// run that was killed), and two podpaths never share a slot. tcx runs never take it.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "loader/state_dir.hpp"
#include "util/fd.hpp"
#include "util/result.hpp"

namespace podpath::loader {

/// @brief How long a lock is held.
enum class SlotHold {
  Run,    ///< a clsact run's whole life
  Brief,  ///< a moment (`podpath cleanup`): a run that finds it held waits for it
};

/// @brief A held slot lock. Releasing it removes the lock file (while still holding it), so
/// that /run/podpath keeps no file per priority ever used; a run that was waiting on the
/// removed file sees it gone and takes a new one.
class SlotLock {
 public:
  SlotLock() = default;
  SlotLock(Fd dir, std::string name, Fd file)
      : dir_(std::move(dir)), name_(std::move(name)), file_(std::move(file)) {}
  SlotLock(SlotLock&&) noexcept = default;
  SlotLock& operator=(SlotLock&& other) noexcept;
  SlotLock(const SlotLock&) = delete;
  SlotLock& operator=(const SlotLock&) = delete;
  ~SlotLock() { release(); }

  [[nodiscard]] bool held() const { return file_.valid(); }
  /// @brief Removes the lock file and unlocks; nothing when not held.
  void release();

 private:
  Fd dir_;
  std::string name_;
  Fd file_;
};

/// @brief Takes the lock of classic TC priority `priority` and writes this process's id into
/// it. A lock held by another run is refused at once; one held briefly is waited for (up to
/// 5 s). Fails with one sentence when another podpath holds it (naming that process) or when
/// the lock cannot be created or opened safely.
Result<SlotLock> lock_tc_slot(std::uint16_t priority, SlotHold hold = SlotHold::Run,
                              const std::filesystem::path& dir = kRunDir);

/// @brief "pid 1234: podpath trace --lab x" for a live process, "pid 1234" when its command
/// line cannot be read.
std::string describe_process(int pid);

}  // namespace podpath::loader
