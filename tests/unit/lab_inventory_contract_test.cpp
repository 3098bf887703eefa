// The lab inventory contract (docs/inventory.md). The file scripts/lab writes
// (scripts/lib/lab_inventory.sh, run on fixture data by lab_inventory_writer.sh) must be read
// back by podpath's reader with every field and value, and must hold exactly the fields the
// document's table lists: a field added, renamed or dropped on one side only fails here.
#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

#include <nlohmann/json.hpp>

#include "inventory/lab_inventory.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using podpath::inventory::read_lab_inventory;

const fs::path kRepo = fs::path(PODPATH_TEST_DATA).parent_path().parent_path().parent_path();
// What the writer's first pod runs (lab_inventory_writer.sh): everything JSON escapes, and
// text that is not ASCII.
const std::string kCommand = "sleep infinity # \"quoted\" \\ back\ttab\nnewline \xc3\xa9";

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  return {std::istreambuf_iterator<char>(in), {}};
}

/// The paths of a document's leaves, elements of an array as "[]": "pods[].containers[].pid".
void leaf_paths(const json& j, const std::string& path, std::set<std::string>& out) {
  if (j.is_object()) {
    for (const auto& [key, value] : j.items()) leaf_paths(value, path.empty() ? key : path + "." + key, out);
  } else if (j.is_array()) {
    for (const auto& value : j) leaf_paths(value, path + "[]", out);
  } else {
    out.insert(path);
  }
}

/// Removes the leaves at the given paths.
void erase_leaves(json& j, const std::string& path, const std::set<std::string>& drop) {
  if (j.is_array()) {
    for (auto& value : j) erase_leaves(value, path + "[]", drop);
    return;
  }
  if (!j.is_object()) return;
  for (auto it = j.begin(); it != j.end();) {
    const std::string p = path.empty() ? it.key() : path + "." + it.key();
    if (!it->is_structured() && drop.count(p) != 0) {
      it = j.erase(it);
    } else {
      erase_leaves(*it, p, drop);
      ++it;
    }
  }
}

/// The fields in the first column of docs/inventory.md's "Fields" table, and those of them
/// whose row says podpath does not read them.
struct Documented {
  std::set<std::string> fields;
  std::set<std::string> not_read;
};

Documented documented_fields() {
  Documented doc;
  std::istringstream in(read_text(kRepo / "docs" / "inventory.md"));
  const std::regex code("`([^`]+)`");
  bool in_table = false;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("## ", 0) == 0) in_table = line == "## Fields";
    if (!in_table || line.rfind("| `", 0) != 0) continue;
    const std::string first_cell = line.substr(1, line.find('|', 1) - 1);
    const bool not_read = line.find("not read by podpath") != std::string::npos;
    for (std::sregex_iterator it(first_cell.begin(), first_cell.end(), code), end; it != end; ++it) {
      doc.fields.insert((*it)[1]);
      if (not_read) doc.not_read.insert((*it)[1]);
    }
  }
  return doc;
}

class LabInventoryContract : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "podpath-contract-XXXXXX").string();
    ASSERT_NE(mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
    const std::string cmd = "bash '" + (kRepo / "tests" / "unit" / "lab_inventory_writer.sh").string() +
                            "' '" + kRepo.string() + "' '" + dir_.string() + "' 2>&1";
    FILE* pipe = popen(cmd.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    std::string output;
    std::array<char, 512> buf{};
    while (fgets(buf.data(), static_cast<int>(buf.size()), pipe) != nullptr) output += buf.data();
    ASSERT_EQ(pclose(pipe), 0) << "the lab's inventory writer failed (it needs bash and jq):\n" << output;
    file_ = dir_ / "inventory.json";
    written_ = json::parse(read_text(file_));
  }
  void TearDown() override {
    if (!dir_.empty()) fs::remove_all(dir_);
  }

  fs::path dir_;
  fs::path file_;
  json written_;
};

}  // namespace

TEST_F(LabInventoryContract, ReaderGivesBackEveryFieldTheWriterWrote) {
  const auto cluster = read_lab_inventory(file_);
  ASSERT_TRUE(cluster) << cluster.error().to_string();
  json expected = written_;
  erase_leaves(expected, "", documented_fields().not_read);
  const json read_back = json::parse(podpath::inventory::to_lab_inventory_json(*cluster));
  EXPECT_TRUE(read_back == expected) << "what the reader changed (JSON patch from the written file):\n"
                                     << json::diff(expected, read_back).dump(2);
}

TEST_F(LabInventoryContract, WriterWritesExactlyTheDocumentedFields) {
  std::set<std::string> written;
  leaf_paths(written_, "", written);
  const Documented doc = documented_fields();
  ASSERT_FALSE(doc.fields.empty()) << "no field table found in docs/inventory.md";
  for (const auto& f : written)
    EXPECT_EQ(doc.fields.count(f), 1u) << f << " is written but not in docs/inventory.md";
  for (const auto& f : doc.fields)
    EXPECT_EQ(written.count(f), 1u) << f << " is in docs/inventory.md but not written";
}

TEST_F(LabInventoryContract, ValuesArriveUnchanged) {
  const auto c = read_lab_inventory(file_);
  ASSERT_TRUE(c) << c.error().to_string();
  EXPECT_EQ(c->lab, "fx");
  ASSERT_EQ(c->nodes.size(), 2u);
  EXPECT_EQ(c->nodes[0].name, "node1");  // written in reverse, ordered by number
  EXPECT_EQ(c->nodes[1].pod_cidr.to_string(), "10.10.130.0/24");
  ASSERT_EQ(c->pods.size(), 2u);
  const auto* web = c->find_pod("default/web-w49lf7rsvl-htzdc");
  ASSERT_NE(web, nullptr);
  EXPECT_EQ(web, &c->pods[0]);  // ordered by node
  ASSERT_EQ(web->containers.size(), 2u);
  EXPECT_EQ(web->containers[0].command, kCommand);
  EXPECT_EQ(web->containers[1].name, "sidecar");
  EXPECT_EQ(web->containers[1].pid, 4243);
  const auto* cart = c->find_pod("shop/cart-jjtphbnw8v-xphr9");
  ASSERT_NE(cart, nullptr);
  ASSERT_EQ(cart->containers.size(), 2u);
  EXPECT_EQ(cart->containers[0].cgroup_id, 4294967297u);  // beyond 32 bits
  EXPECT_EQ(cart->containers[1].name, "debug-otherns");
  EXPECT_EQ(cart->containers[1].cgroup_id, 1301u);
}
