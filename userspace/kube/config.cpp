#include "kube/config.hpp"

#include <cerrno>
#include <cstdlib>
#include <string>

#include <spdlog/spdlog.h>
#include <yaml-cpp/yaml.h>

#include "util/system.hpp"

namespace podpath::kube {
namespace fs = std::filesystem;
namespace {

/// Thrown inside the kubeconfig parser only; turned into one line naming file and field.
struct FieldError {
  std::string field;
  std::string what;
};

std::string trim(std::string text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

/// The entry named `name` of a kubeconfig list (clusters, contexts, users) and its index.
std::pair<YAML::Node, std::string> find_named(const YAML::Node& root, const char* list,
                                              const std::string& name) {
  const YAML::Node entries = root[list];
  if (!entries || entries.IsNull()) throw FieldError{list, "is missing (no entry named \"" + name + "\")"};
  if (!entries.IsSequence()) throw FieldError{list, "must be a list"};
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const std::string path = std::string(list) + "[" + std::to_string(i) + "]";
    const YAML::Node entry = entries[i];
    if (!entry.IsMap()) throw FieldError{path, "must be a mapping with name and " + std::string(list)};
    const YAML::Node n = entry["name"];
    if (!n || !n.IsScalar()) throw FieldError{path + ".name", "is missing"};
    if (n.Scalar() == name) return {entry, path};
  }
  throw FieldError{list, "has no entry named \"" + name + "\""};
}

/// The mapping under `key` of a list entry (the "cluster" of a clusters[] entry, ...).
YAML::Node body(const YAML::Node& entry, const std::string& path, const char* key) {
  const YAML::Node b = entry[key];
  if (!b || !b.IsMap()) throw FieldError{path + "." + key, "is missing or not a mapping"};
  return b;
}

std::optional<std::string> scalar(const YAML::Node& map, const std::string& path, const char* key) {
  const YAML::Node v = map[key];
  if (!v || v.IsNull()) return std::nullopt;
  if (!v.IsScalar()) throw FieldError{path + "." + key, "must be a string"};
  return v.Scalar();
}

bool boolean(const YAML::Node& map, const std::string& path, const char* key) {
  const YAML::Node v = map[key];
  if (!v || v.IsNull()) return false;
  bool out = false;
  if (!v.IsScalar() || !YAML::convert<bool>::decode(v, out))
    throw FieldError{path + "." + key, "must be true or false"};
  return out;
}

std::string base64_field(const YAML::Node& map, const std::string& path, const char* key) {
  const auto text = scalar(map, path, key);
  if (!text) return {};
  auto decoded = decode_base64(*text);
  if (!decoded || decoded->empty()) throw FieldError{path + "." + key, "is not valid base64"};
  return *decoded;
}

fs::path path_field(const YAML::Node& map, const std::string& path, const char* key, const fs::path& base) {
  const auto text = scalar(map, path, key);
  if (!text || text->empty()) return {};
  const fs::path p(*text);
  return p.is_absolute() ? p : base / p;
}

ClusterConfig parse_root(const YAML::Node& root, const fs::path& file, std::string_view wanted_context) {
  if (!root.IsMap()) throw FieldError{"(document)", "is not a YAML mapping"};
  const fs::path base = file.has_parent_path() ? file.parent_path() : fs::path(".");
  std::string context(wanted_context);
  if (context.empty()) {
    context = scalar(root, "", "current-context").value_or("");
    if (context.empty())
      throw FieldError{"current-context", "is not set (choose one: kubectl config use-context NAME)"};
  }
  ClusterConfig c;
  c.context = context;
  c.source = "kubeconfig " + file.string() + " (context " + context + ")";

  const auto [ctx_entry, ctx_path] = find_named(root, "contexts", context);
  const YAML::Node ctx = body(ctx_entry, ctx_path, "context");
  const std::string ctx_body = ctx_path + ".context";
  const auto cluster_name = scalar(ctx, ctx_body, "cluster");
  if (!cluster_name || cluster_name->empty()) throw FieldError{ctx_body + ".cluster", "is missing"};
  c.ns = scalar(ctx, ctx_body, "namespace").value_or("default");

  const auto [cl_entry, cl_path] = find_named(root, "clusters", *cluster_name);
  const YAML::Node cluster = body(cl_entry, cl_path, "cluster");
  const std::string cl_body = cl_path + ".cluster";
  c.server = scalar(cluster, cl_body, "server").value_or("");
  if (c.server.empty()) throw FieldError{cl_body + ".server", "is missing"};
  if (c.server.rfind("https://", 0) != 0 && c.server.rfind("http://", 0) != 0) {
    throw FieldError{cl_body + ".server", "must start with https:// (is \"" + c.server + "\")"};
  }
  while (c.server.size() > 8 && c.server.back() == '/') c.server.pop_back();
  c.ca_pem = base64_field(cluster, cl_body, "certificate-authority-data");
  c.ca_file = path_field(cluster, cl_body, "certificate-authority", base);
  c.insecure_skip_tls_verify = boolean(cluster, cl_body, "insecure-skip-tls-verify");
  if (c.insecure_skip_tls_verify) {
    c.warnings.push_back(
        fmt::format("{}: {}.insecure-skip-tls-verify is true: the API server's certificate is "
                    "not checked, anyone on the path can impersonate it",
                    file.string(), cl_body));
  }

  const auto user_name = scalar(ctx, ctx_body, "user");
  if (!user_name || user_name->empty()) return c;  // anonymous
  const auto [u_entry, u_path] = find_named(root, "users", *user_name);
  const YAML::Node user = body(u_entry, u_path, "user");
  const std::string u_body = u_path + ".user";
  for (const char* unsupported : {"exec", "auth-provider", "username"}) {
    if (user[unsupported]) {
      throw FieldError{u_body + "." + unsupported,
                       "is not supported by podpath; use a token, tokenFile or client certificate"};
    }
  }
  c.token = trim(scalar(user, u_body, "token").value_or(""));
  c.token_file = path_field(user, u_body, "tokenFile", base);
  c.client_cert_pem = base64_field(user, u_body, "client-certificate-data");
  c.client_cert_file = path_field(user, u_body, "client-certificate", base);
  c.client_key_pem = base64_field(user, u_body, "client-key-data");
  c.client_key_file = path_field(user, u_body, "client-key", base);
  const bool has_cert = !c.client_cert_pem.empty() || !c.client_cert_file.empty();
  const bool has_key = !c.client_key_pem.empty() || !c.client_key_file.empty();
  if (has_cert != has_key) {
    throw FieldError{u_body + (has_cert ? ".client-key" : ".client-certificate"),
                     has_cert ? "is missing (client-certificate needs its key)"
                              : "is missing (client-key needs its certificate)"};
  }
  return c;
}

/// current-context of a kubeconfig text, or "" when unset or unparsable.
std::string current_context(const std::string& text) {
  try {
    const YAML::Node root = YAML::Load(text);
    if (root.IsMap() && root["current-context"] && root["current-context"].IsScalar())
      return root["current-context"].Scalar();
  } catch (const YAML::Exception&) {
  }
  return {};
}

}  // namespace

std::optional<std::string> process_getenv(const char* name) {
  const char* v = std::getenv(name);  // NOLINT(concurrency-mt-unsafe): read before threads start
  if (v == nullptr) return std::nullopt;
  return std::string(v);
}

bool in_cluster_environment(const Getenv& getenv) {
  const auto host = getenv("KUBERNETES_SERVICE_HOST");
  return host && !host->empty();
}

Result<ClusterConfig> in_cluster_config(const Getenv& getenv, const fs::path& sa_dir) {
  const auto host = getenv("KUBERNETES_SERVICE_HOST");
  const auto port = getenv("KUBERNETES_SERVICE_PORT");
  if (!host || host->empty() || !port || port->empty()) {
    return make_error(
        0, "not in a cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must both be set");
  }
  ClusterConfig c;
  c.source = "in-cluster service account (" + sa_dir.string() + ")";
  // An IPv6 service address needs brackets in a URL.
  const bool v6 = host->find(':') != std::string::npos;
  c.server = "https://" + (v6 ? "[" + *host + "]" : *host) + ":" + *port;
  c.token_file = sa_dir / "token";
  c.ca_file = sa_dir / "ca.crt";
  for (const auto& f : {c.token_file, c.ca_file}) {
    std::error_code ec;
    if (!fs::exists(f, ec)) {
      return make_error(ENOENT, "in-cluster configuration: {} is missing (is a service account mounted?)",
                        f.string());
    }
  }
  c.ns = trim(read_file(sa_dir / "namespace").value_or("default"));
  return c;
}

Result<ClusterConfig> parse_kubeconfig(std::string_view yaml, const fs::path& file,
                                       std::string_view context) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    return make_error(0, "kubeconfig {}: not valid YAML (line {}): {}", file.string(), e.mark.line + 1,
                      e.msg);
  } catch (const YAML::Exception& e) {
    return make_error(0, "kubeconfig {}: not valid YAML: {}", file.string(), e.what());
  }
  try {
    return parse_root(root, file, context);
  } catch (const FieldError& e) {
    return make_error(0, "kubeconfig {}: field {} {}", file.string(), e.field, e.what);
  } catch (const YAML::Exception& e) {
    return make_error(0, "kubeconfig {}: unexpected value: {}", file.string(), e.what());
  }
}

Result<ClusterConfig> read_kubeconfig(const fs::path& file, std::string_view context) {
  const auto text = read_file(file);
  if (!text) return make_error(errno, "cannot read kubeconfig {}", file.string());
  return parse_kubeconfig(*text, file, context);
}

Result<ClusterConfig> load_config(const ConfigOptions& options) {
  if (options.kubeconfig) return read_kubeconfig(*options.kubeconfig);
  if (const auto list = options.getenv("KUBECONFIG"); list && !list->empty()) {
    std::string tried;
    std::size_t start = 0;
    while (start <= list->size()) {
      const auto end = std::min(list->find(':', start), list->size());
      const fs::path file = list->substr(start, end - start);
      start = end + 1;
      if (file.empty()) continue;
      tried += (tried.empty() ? "" : ", ") + file.string();
      const auto text = read_file(file);
      if (!text || current_context(*text).empty()) continue;
      return parse_kubeconfig(*text, file);
    }
    return make_error(ENOENT, "no file in $KUBECONFIG ({}) is readable and sets current-context", tried);
  }
  if (in_cluster_environment(options.getenv))
    return in_cluster_config(options.getenv, options.service_account_dir);
  if (const auto home = options.getenv("HOME"); home && !home->empty()) {
    const fs::path file = fs::path(*home) / ".kube" / "config";
    std::error_code ec;
    if (fs::exists(file, ec)) return read_kubeconfig(file);
  }
  return make_error(ENOENT,
                    "no Kubernetes API configuration: give --kubeconfig FILE, set $KUBECONFIG, run in a "
                    "pod with a service account, or create ~/.kube/config");
}

TokenSource::TokenSource(std::string token, fs::path token_file, std::chrono::seconds refresh,
                         std::function<Clock::time_point()> now)
    : token_(std::move(token)), file_(std::move(token_file)), refresh_(refresh), now_(std::move(now)) {}

Result<std::string> TokenSource::token() {
  const std::lock_guard lock(mutex_);
  if (file_.empty()) return token_;
  const auto now = now_();
  if (read_at_ && now - *read_at_ < refresh_) return token_;
  const auto text = read_file(file_);
  if (text && !trim(*text).empty()) {
    token_ = trim(*text);
    read_at_ = now;
  } else if (token_.empty()) {
    return make_error(text ? 0 : errno, "cannot read the bearer token from {}", file_.string());
  } else {
    spdlog::warn("kubernetes: cannot re-read the token from {}; keeping the previous one", file_.string());
    read_at_ = now;
  }
  return token_;
}

void TokenSource::invalidate() {
  const std::lock_guard lock(mutex_);
  read_at_.reset();
}

std::optional<std::string> decode_base64(std::string_view text) {
  auto value = [](char ch) -> int {
    if (ch >= 'A' && ch <= 'Z') return ch - 'A';
    if (ch >= 'a' && ch <= 'z') return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9') return ch - '0' + 52;
    if (ch == '+') return 62;
    if (ch == '/') return 63;
    return -1;
  };
  std::string clean;
  clean.reserve(text.size());
  for (const char ch : text) {
    if (ch != ' ' && ch != '\n' && ch != '\r' && ch != '\t') clean.push_back(ch);
  }
  if (clean.size() % 4 != 0) return std::nullopt;
  std::string out;
  out.reserve(clean.size() / 4 * 3);
  for (std::size_t i = 0; i < clean.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      const char ch = clean[i + static_cast<std::size_t>(k)];
      if (ch == '=') {
        // Padding only at the end of the last quantum, in its last one or two places.
        if (i + 4 != clean.size() || k < 2) return std::nullopt;
        ++pad;
        v[k] = 0;
        continue;
      }
      if (pad > 0) return std::nullopt;
      v[k] = value(ch);
      if (v[k] < 0) return std::nullopt;
    }
    const unsigned triple = (static_cast<unsigned>(v[0]) << 18) | (static_cast<unsigned>(v[1]) << 12) |
                            (static_cast<unsigned>(v[2]) << 6) | static_cast<unsigned>(v[3]);
    out.push_back(static_cast<char>((triple >> 16) & 0xff));
    if (pad < 2) out.push_back(static_cast<char>((triple >> 8) & 0xff));
    if (pad < 1) out.push_back(static_cast<char>(triple & 0xff));
  }
  return out;
}

}  // namespace podpath::kube
