#pragma once
/// @file
/// @brief The journal of a run: what podpath attached that would outlive the process if it
/// died without cleaning up (classic TC filters and the clsact qdiscs it created, cgroup
/// programs attached the classic way). tcx links and cgroup links need no record: the
/// kernel removes them with the process.
///
/// Each run writes /run/podpath/runs/<pid>-<random> while it holds such attachments and
/// holds an exclusive flock on it for its whole life. A journal whose lock is free belongs
/// to a run that is gone; its records name the exact program ids that run attached, which
/// is what lets `podpath cleanup` (and the next run) remove exactly those and nothing else.

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "loader/state_dir.hpp"
#include "util/fd.hpp"
#include "util/result.hpp"

namespace podpath::loader {

/// @brief podpath's classic TC filters on one interface (both directions).
struct TcRecord {
  std::string node;   ///< for messages
  std::string netns;  ///< namespace name or path; "" = the namespace podpath ran in
  std::uint64_t netns_cookie = 0;
  std::uint32_t ifindex = 0;
  std::string ifname;  ///< for messages
  std::uint16_t priority = 0;
  std::uint32_t handle = 0;
  std::uint32_t ingress_prog = 0;  ///< BPF program ids
  std::uint32_t egress_prog = 0;
  bool created_qdisc = false;  ///< podpath created the interface's clsact qdisc

  bool operator==(const TcRecord&) const = default;
};

/// @brief podpath's cgroup programs attached the classic way (BPF_PROG_ATTACH) to a cgroup.
struct CgroupRecord {
  std::string cgroup;  ///< cgroup v2 directory
  std::uint32_t ingress_prog = 0;
  std::uint32_t egress_prog = 0;

  bool operator==(const CgroupRecord&) const = default;
};

using Record = std::variant<TcRecord, CgroupRecord>;

/// @brief One record and its id within its journal.
struct JournalEntry {
  std::uint64_t id = 0;
  Record record;

  bool operator==(const JournalEntry&) const = default;
};

/// @brief Journal lines: one JSON object per line, {"id":N,"tc":{...}} or
/// {"id":N,"cgroup":{...}} when an attachment is made, {"retire":N} when it is gone.
std::string journal_add_line(const JournalEntry& entry);
std::string journal_retire_line(std::uint64_t id);
/// @brief The entries a journal still holds (added, not retired), in order. A torn last line
/// (the run died while writing it) is ignored; any other malformed line is an error.
Result<std::vector<JournalEntry>> replay_journal(std::string_view text);

/// @brief This process's journal. Thread-safe.
class Journal {
 public:
  /// @brief The journal of this process, in /run/podpath/runs.
  static Journal& process();
  /// @brief A journal in `dir` (state directory; runs/ is created in it).
  explicit Journal(std::filesystem::path dir);
  ~Journal();
  Journal(const Journal&) = delete;
  Journal& operator=(const Journal&) = delete;

  /// @brief Records an attachment about to be made; returns its id. 0 when the journal
  /// cannot be written: said once in the log (`podpath cleanup` will not know of it).
  std::uint64_t add(const Record& record);
  /// @brief The attachment is gone (detached, or gone with its interface). When the journal
  /// holds nothing any more its file is removed. Id 0 is ignored.
  void retire(std::uint64_t id);
  /// @brief The journal file while it exists ("" otherwise).
  [[nodiscard]] std::string file_name() const;

 private:
  Result<void> open_file();
  bool append(const std::string& line);

  std::filesystem::path dir_;
  mutable std::mutex mutex_;
  Fd runs_dir_;
  Fd file_;
  std::string name_;
  std::uint64_t next_id_ = 1;
  std::size_t live_ = 0;
  bool warned_ = false;
};

/// @brief The journal of a run that is gone, locked by the caller while it works on it.
struct DeadRun {
  std::string name;  ///< file name in runs/
  int pid = 0;       ///< the run's process id (from the name)
  std::vector<JournalEntry> entries;
  Fd lock;
};

/// @brief What runs/ holds: journals of runs that are gone (each locked for the caller, so no
/// two cleaners work on one) and the pids of live runs. Unreadable journals are reported in
/// `problems`, one sentence each.
struct RunJournals {
  std::vector<DeadRun> dead;
  std::vector<int> live;
  std::vector<std::string> problems;
};
RunJournals find_run_journals(const std::filesystem::path& dir = kRunDir);

/// @brief Removes a dead run's journal (everything it recorded is gone).
void remove_journal(const std::filesystem::path& dir, const DeadRun& run);

/// @brief Pids of runs that ended without removing their journal, found without taking any
/// lock (for a hint; `podpath cleanup` decides with the locks).
std::vector<int> unclean_run_pids(const std::filesystem::path& dir = kRunDir);

}  // namespace podpath::loader
