#include "loader/journal.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <nlohmann/json.hpp>
#include <random>

namespace podpath::loader {
namespace {

using nlohmann::json;

json to_json(const Record& record) {
  if (const auto* tc = std::get_if<TcRecord>(&record)) {
    return {{"tc",
             {{"node", tc->node},
              {"netns", tc->netns},
              {"netns_cookie", tc->netns_cookie},
              {"ifindex", tc->ifindex},
              {"ifname", tc->ifname},
              {"priority", tc->priority},
              {"handle", tc->handle},
              {"ingress_prog", tc->ingress_prog},
              {"egress_prog", tc->egress_prog},
              {"created_qdisc", tc->created_qdisc}}}};
  }
  const auto& cg = std::get<CgroupRecord>(record);
  return {
      {"cgroup", {{"path", cg.cgroup}, {"ingress_prog", cg.ingress_prog}, {"egress_prog", cg.egress_prog}}}};
}

Record from_json(const json& j) {
  if (j.contains("tc")) {
    const auto& t = j.at("tc");
    TcRecord r;
    r.node = t.at("node").get<std::string>();
    r.netns = t.at("netns").get<std::string>();
    r.netns_cookie = t.at("netns_cookie").get<std::uint64_t>();
    r.ifindex = t.at("ifindex").get<std::uint32_t>();
    r.ifname = t.at("ifname").get<std::string>();
    r.priority = t.at("priority").get<std::uint16_t>();
    r.handle = t.at("handle").get<std::uint32_t>();
    r.ingress_prog = t.at("ingress_prog").get<std::uint32_t>();
    r.egress_prog = t.at("egress_prog").get<std::uint32_t>();
    r.created_qdisc = t.at("created_qdisc").get<bool>();
    return r;
  }
  const auto& c = j.at("cgroup");
  CgroupRecord r;
  r.cgroup = c.at("path").get<std::string>();
  r.ingress_prog = c.at("ingress_prog").get<std::uint32_t>();
  r.egress_prog = c.at("egress_prog").get<std::uint32_t>();
  return r;
}

int pid_of(const std::string& name) {
  int pid = 0;
  std::from_chars(name.data(), name.data() + name.size(), pid);
  return pid;
}

/// The names in an open directory (without "." entries).
std::vector<std::string> names_in(int dir_fd) {
  std::vector<std::string> out;
  const int dup = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
  if (dup < 0) return out;
  DIR* d = ::fdopendir(dup);
  if (d == nullptr) {
    ::close(dup);
    return out;
  }
  ::rewinddir(d);
  while (const dirent* e = ::readdir(d)) {
    if (e->d_name[0] != '.') out.emplace_back(e->d_name);
  }
  ::closedir(d);
  return out;
}

/// The runs/ directory if it exists (never created here).
Fd open_runs_dir(const std::filesystem::path& dir) {
  Fd base(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st {};
  if (!base || ::fstatat(base.get(), kRunsSubdir, &st, AT_SYMLINK_NOFOLLOW) != 0) return Fd();
  auto runs = open_state_dir(base.get(), kRunsSubdir, 0700);
  return runs ? std::move(*runs) : Fd();
}

}  // namespace

std::string journal_add_line(const JournalEntry& entry) {
  json j = to_json(entry.record);
  j["id"] = entry.id;
  return j.dump() + "\n";
}

std::string journal_retire_line(std::uint64_t id) { return json{{"retire", id}}.dump() + "\n"; }

Result<std::vector<JournalEntry>> replay_journal(std::string_view text) {
  std::vector<JournalEntry> entries;
  std::size_t line_no = 0;
  while (!text.empty()) {
    const auto eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    const bool last = eol == std::string_view::npos;
    text = last ? std::string_view() : text.substr(eol + 1);
    ++line_no;
    if (line.empty()) continue;
    const json j = json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      if (last) break;  // torn: the run died while writing its last line
      return make_error(0, "line {} is not JSON", line_no);
    }
    try {
      if (j.contains("retire")) {
        const auto id = j.at("retire").get<std::uint64_t>();
        std::erase_if(entries, [&](const JournalEntry& e) { return e.id == id; });
      } else {
        entries.push_back({j.at("id").get<std::uint64_t>(), from_json(j)});
      }
    } catch (const json::exception& e) {
      return make_error(0, "line {}: {}", line_no, e.what());
    }
  }
  return entries;
}

Journal& Journal::process() {
  static Journal journal{std::filesystem::path(kRunDir)};
  return journal;
}

Journal::Journal(std::filesystem::path dir) : dir_(std::move(dir)) {}

Journal::~Journal() {
  // Records still live: what they name outlives this process, so the journal stays for
  // `podpath cleanup` (the lock goes with the file descriptor).
}

Result<void> Journal::open_file() {
  auto base = open_state_dir(AT_FDCWD, dir_.string(), 0755);
  if (!base) return base.error();
  auto runs = open_state_dir(base->get(), kRunsSubdir, 0700);
  if (!runs) return runs.error();
  std::random_device rd;
  const std::string name = fmt::format("{}-{:08x}{:08x}", ::getpid(), rd(), rd());
  const std::string tmp = "." + name;
  auto file = open_state_file(runs->get(), tmp, O_RDWR | O_CREAT | O_EXCL | O_APPEND, 0600);
  if (!file) return file.error();
  // Locked before it gets the name cleaners look at, so that none takes it for a dead run's.
  if (::flock(file->get(), LOCK_EX) != 0 ||
      ::renameat(runs->get(), tmp.c_str(), runs->get(), name.c_str()) != 0) {
    const int err = errno;
    ::unlinkat(runs->get(), tmp.c_str(), 0);
    return make_error(err, "cannot create a journal in {}/{}", dir_.string(), kRunsSubdir);
  }
  runs_dir_ = std::move(*runs);
  file_ = std::move(*file);
  name_ = name;
  return {};
}

bool Journal::append(const std::string& line) {
  std::size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = ::write(file_.get(), line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<std::size_t>(n);
  }
  return true;
}

std::uint64_t Journal::add(const Record& record) {
  const std::lock_guard lock(mutex_);
  const auto fail = [&](const std::string& why) -> std::uint64_t {
    if (!warned_) {
      spdlog::warn(
          "cannot record podpath's attachments in {}/{} ({}): if podpath is killed, 'podpath cleanup' "
          "will not know of them",
          dir_.string(), kRunsSubdir, why);
      warned_ = true;
    }
    return 0;
  };
  if (!file_) {
    if (auto r = open_file(); !r) return fail(r.error().to_string());
  }
  const JournalEntry entry{next_id_, record};
  if (!append(journal_add_line(entry))) return fail(std::strerror(errno));
  ++next_id_;
  ++live_;
  return entry.id;
}

void Journal::retire(std::uint64_t id) {
  if (id == 0) return;
  const std::lock_guard lock(mutex_);
  if (!file_ || live_ == 0) return;
  (void)append(journal_retire_line(id));
  if (--live_ == 0) {
    ::unlinkat(runs_dir_.get(), name_.c_str(), 0);
    file_.reset();
    runs_dir_.reset();
    name_.clear();
  }
}

std::string Journal::file_name() const {
  const std::lock_guard lock(mutex_);
  return name_;
}

RunJournals find_run_journals(const std::filesystem::path& dir) {
  RunJournals out;
  const Fd runs = open_runs_dir(dir);
  if (!runs) return out;
  for (const auto& name : names_in(runs.get())) {
    auto fd = open_state_file(runs.get(), name, O_RDONLY);
    if (!fd) {
      out.problems.push_back(
          fmt::format("journal {}/{}/{}: {}", dir.string(), kRunsSubdir, name, fd.error().to_string()));
      continue;
    }
    if (::flock(fd->get(), LOCK_EX | LOCK_NB) != 0) {
      out.live.push_back(pid_of(name));
      continue;
    }
    const auto text = read_state_file(fd->get());
    auto entries =
        text ? replay_journal(*text) : Result<std::vector<JournalEntry>>(make_error(0, "unreadable"));
    if (!entries) {
      out.problems.push_back(
          fmt::format("journal {}/{}/{}: {}", dir.string(), kRunsSubdir, name, entries.error().to_string()));
      continue;
    }
    out.dead.push_back({name, pid_of(name), std::move(*entries), std::move(*fd)});
  }
  return out;
}

void remove_journal(const std::filesystem::path& dir, const DeadRun& run) {
  const Fd runs = open_runs_dir(dir);
  if (runs) ::unlinkat(runs.get(), run.name.c_str(), 0);
}

std::vector<int> unclean_run_pids(const std::filesystem::path& dir) {
  std::vector<int> out;
  const Fd runs = open_runs_dir(dir);
  if (!runs) return out;
  for (const auto& name : names_in(runs.get())) {
    const int pid = pid_of(name);
    if (pid > 0 && ::kill(pid, 0) != 0 && errno == ESRCH) out.push_back(pid);
  }
  return out;
}

}  // namespace podpath::loader
