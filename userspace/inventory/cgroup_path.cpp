#include "inventory/cgroup_path.hpp"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <system_error>

#include "util/files.hpp"

namespace podpath::inventory {
namespace {

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < path.size()) {
    const std::size_t j = path.find('/', i);
    const std::size_t end = j == std::string_view::npos ? path.size() : j;
    if (end > i) out.push_back(path.substr(i, end - i));
    i = end + 1;
  }
  return out;
}

std::string join(const std::vector<std::string_view>& parts, std::size_t from, std::size_t to) {
  std::string out;
  for (std::size_t i = from; i < to; ++i) {
    out += '/';
    out += parts[i];
  }
  return out;
}

bool is_hex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(),
                                   [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

/// metadata.uid: 8-4-4-4-12 hex, or 32 hex digits (static pods: a hash of the manifest).
bool valid_uid(std::string_view uid) {
  if (uid.size() == 32) return is_hex(uid);
  if (uid.size() != 36) return false;
  for (std::size_t i = 0; i < uid.size(); ++i) {
    const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? uid[i] != '-' : !is_hex(uid.substr(i, 1))) return false;
  }
  return true;
}

/// Runtime ids are 64 hex digits; shorter ones (12+) are accepted for other runtimes.
bool valid_container_id(std::string_view id) { return id.size() >= 12 && id.size() <= 64 && is_hex(id); }

Result<void> parse_container_component(std::string_view name, CgroupDriver driver, KubepodsCgroup& out) {
  std::string_view id = name;
  if (driver == CgroupDriver::Systemd) {
    if (!ends_with(id, ".scope")) {
      return make_error(0, "'{}' is not a container scope (<runtime>-<id>.scope)", std::string(name));
    }
    id.remove_suffix(6);
  }
  struct Prefix {
    std::string_view text;
    ContainerRuntime runtime;
    bool monitor;
  };
  static constexpr Prefix kPrefixes[] = {
      {"cri-containerd-", ContainerRuntime::Containerd, false},
      {"crio-conmon-", ContainerRuntime::Crio, true},
      {"crio-", ContainerRuntime::Crio, false},
      {"docker-", ContainerRuntime::Docker, false},
  };
  bool matched = false;
  for (const auto& p : kPrefixes) {
    if (id.substr(0, p.text.size()) == p.text) {
      id.remove_prefix(p.text.size());
      out.runtime = p.runtime;
      out.runtime_monitor = p.monitor;
      matched = true;
      break;
    }
  }
  if (!matched && driver == CgroupDriver::Systemd) {
    return make_error(0, "'{}' names no known runtime (cri-containerd-, crio-, docker-)", std::string(name));
  }
  if (!valid_container_id(id)) {
    return make_error(0, "'{}' does not hold a container id (12 to 64 hex digits)", std::string(name));
  }
  out.container_id = std::string(id);
  return {};
}

Result<void> parse_uid(std::string_view text, std::string_view component, bool underscores,
                       KubepodsCgroup& out) {
  std::string uid(text);
  if (underscores) std::replace(uid.begin(), uid.end(), '_', '-');
  if (!valid_uid(uid)) return make_error(0, "'{}' holds no pod UID", std::string(component));
  out.pod_uid = std::move(uid);
  return {};
}

}  // namespace

const char* to_string(CgroupDriver driver) {
  return driver == CgroupDriver::Systemd ? "systemd" : "cgroupfs";
}

const char* to_string(PodQos qos) {
  switch (qos) {
  case PodQos::Burstable:
    return "Burstable";
  case PodQos::BestEffort:
    return "BestEffort";
  case PodQos::Guaranteed:
    break;
  }
  return "Guaranteed";
}

const char* to_string(ContainerRuntime runtime) {
  switch (runtime) {
  case ContainerRuntime::Containerd:
    return "containerd";
  case ContainerRuntime::Crio:
    return "cri-o";
  case ContainerRuntime::Docker:
    return "docker";
  case ContainerRuntime::Unknown:
    break;
  }
  return "unknown";
}

Result<KubepodsCgroup> parse_kubepods_cgroup(std::string_view path) {
  const auto parts = split_path(path);
  std::size_t k = parts.size();
  CgroupDriver driver = CgroupDriver::Cgroupfs;
  std::string stem;  // systemd: "kubepods", or e.g. "kubelet-kubepods" under a nested kubelet
  for (std::size_t i = 0; i < parts.size(); ++i) {
    if (parts[i] == "kubepods") {
      k = i;
      break;
    }
    if (ends_with(parts[i], ".slice")) {
      const std::string_view s = parts[i].substr(0, parts[i].size() - 6);
      if (s == "kubepods" || ends_with(s, "-kubepods")) {
        k = i;
        driver = CgroupDriver::Systemd;
        stem = std::string(s);
        break;
      }
    }
  }
  if (k == parts.size()) return make_error(0, "'{}' is not under a kubepods cgroup", std::string(path));

  KubepodsCgroup out;
  out.driver = driver;
  out.prefix = join(parts, 0, k);
  std::size_t i = k + 1;
  if (i >= parts.size())
    return make_error(0, "'{}' is the kubepods cgroup itself, not a pod's", std::string(path));

  if (driver == CgroupDriver::Cgroupfs) {
    if (parts[i] == "burstable" || parts[i] == "besteffort") {
      out.qos = parts[i] == "burstable" ? PodQos::Burstable : PodQos::BestEffort;
      if (++i >= parts.size())
        return make_error(0, "'{}' is a QoS class cgroup, not a pod's", std::string(path));
    }
    if (parts[i].substr(0, 3) != "pod") {
      return make_error(0, "'{}' in '{}' is not a pod cgroup (pod<uid>)", std::string(parts[i]),
                        std::string(path));
    }
    if (auto r = parse_uid(parts[i].substr(3), parts[i], false, out); !r) return r.error();
  } else {
    std::string pod_stem = stem;
    if (parts[i] == stem + "-burstable.slice" || parts[i] == stem + "-besteffort.slice") {
      const bool burstable = parts[i] == stem + "-burstable.slice";
      out.qos = burstable ? PodQos::Burstable : PodQos::BestEffort;
      pod_stem += burstable ? "-burstable" : "-besteffort";
      if (++i >= parts.size())
        return make_error(0, "'{}' is a QoS class cgroup, not a pod's", std::string(path));
    }
    const std::string head = pod_stem + "-pod";
    const std::string_view c = parts[i];
    if (c.substr(0, head.size()) != head || !ends_with(c, ".slice")) {
      return make_error(0, "'{}' in '{}' is not a pod slice ({}<uid>.slice)", std::string(c),
                        std::string(path), head);
    }
    if (auto r = parse_uid(c.substr(head.size(), c.size() - head.size() - 6), c, true, out); !r)
      return r.error();
  }
  if (++i >= parts.size()) return out;  // the pod-level cgroup

  if (auto r = parse_container_component(parts[i], driver, out); !r) {
    return make_error(0, "{} (in '{}')", r.error().message, std::string(path));
  }
  out.subpath = join(parts, i + 1, parts.size());
  return out;
}

std::string short_container_id(std::string_view id) { return std::string(id.substr(0, 12)); }

Result<std::uint64_t> cgroup_id_of(const std::filesystem::path& cgroup) {
  struct stat st {};
  if (::stat(cgroup.c_str(), &st) != 0) return make_error(errno, "cannot stat cgroup {}", cgroup.string());
  if (!S_ISDIR(st.st_mode)) return make_error(ENOTDIR, "{} is not a cgroup directory", cgroup.string());
  return static_cast<std::uint64_t>(st.st_ino);
}

std::vector<DiscoveredCgroup> discover_kubepods_cgroups(const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::vector<DiscoveredCgroup> out;
  // Pods come and go during the walk: a cgroup removed under it is skipped, not the rest.
  walk_directories(root, [&](const fs::path& dir) {
    auto parsed = parse_kubepods_cgroup(dir.string());
    if (!parsed) return true;
    if (auto id = cgroup_id_of(dir)) out.push_back({dir, *id, std::move(*parsed)});
    return true;
  });
  return out;
}

std::filesystem::path kubepods_attach_point(const std::filesystem::path& root) {
  std::error_code ec;
  for (const char* name : {"kubepods.slice", "kubepods"}) {
    if (std::filesystem::is_directory(root / name, ec)) return root / name;
  }
  return root;
}

}  // namespace podpath::inventory
