// Kubeconfig variants, in-cluster configuration, the order of sources, and token rotation.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "../common/temp_dir.hpp"
#include "kube/config.hpp"

namespace fs = std::filesystem;
using namespace podpath::kube;
using podpath::testing::TempDir;

namespace {

// base64 of "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n" etc.
const char* kCaB64 = "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCkNBCi0tLS0tRU5EIENFUlRJRklDQVRFLS0tLS0K";
const char* kCaPem = "-----BEGIN CERTIFICATE-----\nCA\n-----END CERTIFICATE-----\n";

std::string kubeconfig(const std::string& cluster_extra, const std::string& user_extra,
                       const std::string& current = "lab") {
  return "apiVersion: v1\nkind: Config\n" + (current.empty() ? "" : "current-context: " + current + "\n") +
         "clusters:\n- name: other\n  cluster:\n    server: https://192.0.2.1:6443\n"
         "- name: lab-cluster\n  cluster:\n    server: https://127.0.0.1:6443/\n" +
         cluster_extra +
         "contexts:\n- name: lab\n  context:\n    cluster: lab-cluster\n    user: lab-user\n    namespace: "
         "kube-system\n"
         "users:\n- name: lab-user\n  user:\n" +
         user_extra;
}

Getenv env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    const auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

}  // namespace

TEST(KubeConfig, TokenAndCaData) {
  const auto c = parse_kubeconfig(
      kubeconfig(std::string("    certificate-authority-data: ") + kCaB64 + "\n", "    token: abc.def\n"),
      "/etc/k/config");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server, "https://127.0.0.1:6443");
  EXPECT_EQ(c->context, "lab");
  EXPECT_EQ(c->ns, "kube-system");
  EXPECT_EQ(c->ca_pem, kCaPem);
  EXPECT_EQ(c->token, "abc.def");
  EXPECT_FALSE(c->insecure_skip_tls_verify);
  EXPECT_TRUE(c->warnings.empty());
  EXPECT_EQ(c->source, "kubeconfig /etc/k/config (context lab)");
}

TEST(KubeConfig, ClientCertificateFilesAreRelativeToTheKubeconfig) {
  const auto c = parse_kubeconfig(kubeconfig("    certificate-authority: pki/ca.crt\n",
                                             "    client-certificate: pki/admin.crt\n"
                                             "    client-key: /abs/admin.key\n"
                                             "    tokenFile: token\n"),
                                  "/etc/k/config");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->ca_file, "/etc/k/pki/ca.crt");
  EXPECT_EQ(c->client_cert_file, "/etc/k/pki/admin.crt");
  EXPECT_EQ(c->client_key_file, "/abs/admin.key");
  EXPECT_EQ(c->token_file, "/etc/k/token");
}

TEST(KubeConfig, ClientCertificateData) {
  const auto c = parse_kubeconfig(kubeconfig("", std::string("    client-certificate-data: ") + kCaB64 +
                                                     "\n    client-key-data: " + kCaB64 + "\n"),
                                  "k");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->client_cert_pem, kCaPem);
  EXPECT_EQ(c->client_key_pem, kCaPem);
}

TEST(KubeConfig, InsecureSkipTlsVerifyWarns) {
  const auto c = parse_kubeconfig(kubeconfig("    insecure-skip-tls-verify: true\n", "    token: t\n"), "k");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_TRUE(c->insecure_skip_tls_verify);
  ASSERT_EQ(c->warnings.size(), 1u);
  EXPECT_NE(c->warnings[0].find("insecure-skip-tls-verify is true"), std::string::npos) << c->warnings[0];
}

TEST(KubeConfig, AnExplicitContextWinsOverCurrentContext) {
  const std::string both =
      "current-context: lab\nclusters:\n- name: c1\n  cluster:\n    server: https://a:1\n"
      "- name: c2\n  cluster:\n    server: https://b:2\n"
      "contexts:\n- name: lab\n  context:\n    cluster: c1\n- name: two\n  context:\n"
      "    cluster: c2\n";
  const auto c = parse_kubeconfig(both, "k", "two");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server, "https://b:2");
  EXPECT_EQ(c->ns, "default");
  EXPECT_TRUE(c->token.empty()) << "a context without a user is anonymous";
}

TEST(KubeConfig, MalformedKubeconfigsNameTheFileAndField) {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {kubeconfig("", "    token: t\n", ""),
       "kubeconfig /k: field current-context is not set (choose one: kubectl config use-context NAME)"},
      {kubeconfig("", "    token: t\n", "nope"), "kubeconfig /k: field contexts has no entry named \"nope\""},
      {"clusters: [\n", "kubeconfig /k: not valid YAML (line 2)"},
      {"- a\n- b\n", "kubeconfig /k: field (document) is not a YAML mapping"},
      {kubeconfig("    certificate-authority-data: not*base64\n", "    token: t\n"),
       "kubeconfig /k: field clusters[1].cluster.certificate-authority-data is not valid base64"},
      {kubeconfig("    insecure-skip-tls-verify: maybe\n", "    token: t\n"),
       "kubeconfig /k: field clusters[1].cluster.insecure-skip-tls-verify must be true or false"},
      {kubeconfig("", "    client-certificate: a.crt\n"),
       "kubeconfig /k: field users[0].user.client-key is missing (client-certificate needs its key)"},
      {kubeconfig("", "    exec:\n      command: gke-gcloud-auth-plugin\n"),
       "kubeconfig /k: field users[0].user.exec is not supported by podpath"},
      {"current-context: lab\ncontexts:\n- name: lab\n  context:\n    cluster: x\n",
       "kubeconfig /k: field clusters is missing"},
      {"current-context: lab\ncontexts:\n- name: lab\n  context:\n    cluster: x\nclusters:\n- name: x\n  "
       "cluster:\n"
       "    server: ftp://x\n",
       "kubeconfig /k: field clusters[0].cluster.server must start with https://"},
  };
  for (const auto& c : cases) {
    const auto r = parse_kubeconfig(c.text, "/k");
    ASSERT_FALSE(r) << c.text;
    EXPECT_EQ(r.error().message.rfind(c.message, 0), 0u) << r.error().message;
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
  }
}

TEST(KubeConfig, InClusterReadsTheServiceAccount) {
  TempDir dir;
  dir.write("sa/token", "tok-1\n");
  dir.write("sa/ca.crt", kCaPem);
  dir.write("sa/namespace", "podpath-system");
  const auto c = in_cluster_config(
      env({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}}), dir.path() / "sa");
  ASSERT_TRUE(c) << c.error().message;
  EXPECT_EQ(c->server, "https://10.96.0.1:443");
  EXPECT_EQ(c->token_file, dir.path() / "sa/token");
  EXPECT_EQ(c->ca_file, dir.path() / "sa/ca.crt");
  EXPECT_EQ(c->ns, "podpath-system");
  const auto v6 = in_cluster_config(
      env({{"KUBERNETES_SERVICE_HOST", "fd00::1"}, {"KUBERNETES_SERVICE_PORT", "443"}}), dir.path() / "sa");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->server, "https://[fd00::1]:443");
  const auto missing =
      in_cluster_config(env({{"KUBERNETES_SERVICE_HOST", "10.96.0.1"}, {"KUBERNETES_SERVICE_PORT", "443"}}),
                        dir.path() / "none");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("token is missing (is a service account mounted?)"),
            std::string::npos);
}

TEST(KubeConfig, SourcesAreTriedInOrder) {
  TempDir dir;
  dir.write("sa/token", "sa-token");
  dir.write("sa/ca.crt", kCaPem);
  const fs::path flag = dir.write("flag.yaml", kubeconfig("", "    token: from-flag\n"));
  const fs::path no_current = dir.write("a.yaml", kubeconfig("", "    token: from-a\n", ""));
  const fs::path env_file = dir.write("b.yaml", kubeconfig("", "    token: from-env\n"));
  dir.write("home/.kube/config", kubeconfig("", "    token: from-home\n"));
  const std::map<std::string, std::string> cluster = {{"KUBERNETES_SERVICE_HOST", "10.96.0.1"},
                                                      {"KUBERNETES_SERVICE_PORT", "443"},
                                                      {"HOME", (dir.path() / "home").string()}};
  auto with = [&](std::map<std::string, std::string> extra) {
    auto vars = cluster;
    vars.merge(extra);
    return vars;
  };
  ConfigOptions o;
  o.service_account_dir = dir.path() / "sa";

  o.kubeconfig = flag;
  o.getenv = env(with({{"KUBECONFIG", env_file.string()}}));
  EXPECT_EQ(load_config(o)->token, "from-flag");

  o.kubeconfig.reset();
  o.getenv = env(with({{"KUBECONFIG", (dir.path() / "absent.yaml").string() + ":" + no_current.string() +
                                          "::" + env_file.string()}}));
  EXPECT_EQ(load_config(o)->token, "from-env") << "the first file that sets current-context";

  o.getenv = env(with({}));
  const auto in_cluster = load_config(o);
  ASSERT_TRUE(in_cluster) << in_cluster.error().message;
  EXPECT_EQ(in_cluster->server, "https://10.96.0.1:443");

  o.getenv = env({{"HOME", (dir.path() / "home").string()}});
  EXPECT_EQ(load_config(o)->token, "from-home");

  o.getenv = env({{"HOME", dir.path().string()}});
  const auto none = load_config(o);
  ASSERT_FALSE(none);
  EXPECT_NE(none.error().message.find("no Kubernetes API configuration"), std::string::npos);

  o.getenv = env({{"KUBECONFIG", no_current.string()}});
  const auto unset = load_config(o);
  ASSERT_FALSE(unset);
  EXPECT_NE(unset.error().message.find("sets current-context"), std::string::npos) << unset.error().message;
}

TEST(KubeConfig, ARotatedTokenIsReadAfterTheRefreshPeriodOrA401) {
  TempDir dir;
  const fs::path file = dir.write("token", "first\n");
  TokenSource::Clock::time_point now{};
  TokenSource tokens("", file, std::chrono::seconds(60), [&] { return now; });
  EXPECT_EQ(*tokens.token(), "first");
  dir.write("token", "second\n");  // the kubelet rotated the projected token
  now += std::chrono::seconds(59);
  EXPECT_EQ(*tokens.token(), "first") << "cached within the refresh period";
  now += std::chrono::seconds(1);
  EXPECT_EQ(*tokens.token(), "second");
  dir.write("token", "third");
  tokens.invalidate();  // a 401
  EXPECT_EQ(*tokens.token(), "third");
  fs::remove(file);
  now += std::chrono::seconds(120);
  EXPECT_EQ(*tokens.token(), "third") << "a failed re-read keeps the last good token";

  TokenSource never("", dir.path() / "absent", std::chrono::seconds(60), [&] { return now; });
  EXPECT_FALSE(never.token());
  TokenSource fixed("static", "", std::chrono::seconds(60), [&] { return now; });
  EXPECT_EQ(*fixed.token(), "static");
}

TEST(KubeConfig, Base64IsStrict) {
  EXPECT_EQ(*decode_base64("aGVsbG8="), "hello");
  EXPECT_EQ(*decode_base64("aGVs\nbG8h"), "hell"
                                          "o!");
  EXPECT_EQ(*decode_base64("aGk="), "hi");
  EXPECT_EQ(*decode_base64("aA=="), "h");
  for (const char* bad : {"aGVsbG8", "aGVsbG8*", "a===", "aG=k", "=aGk"})
    EXPECT_FALSE(decode_base64(bad)) << bad;
}
