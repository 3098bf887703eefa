// Kernel address symbolisation from a /proc/kallsyms-format fixture.
#include <gtest/gtest.h>

#include <filesystem>

#include "util/kallsyms.hpp"

using podpath::Kallsyms;

namespace {

Kallsyms fixture() {
  auto k = Kallsyms::load(std::filesystem::path(PODPATH_TEST_DATA) / "kallsyms.txt");
  EXPECT_TRUE(k) << k.error().to_string();
  return k ? *k : Kallsyms();
}

}  // namespace

TEST(Kallsyms, KeepsTextSymbolsOnly) {
  const auto k = fixture();
  EXPECT_EQ(k.size(), 8u);  // the data symbol and the two malformed lines are skipped
  EXPECT_FALSE(k.addresses_hidden());
}

TEST(Kallsyms, FunctionPlusOffset) {
  const auto k = fixture();
  EXPECT_EQ(k.symbolize(0xffffffff81a0005cULL), "nf_hook_slow+0x5c");
  EXPECT_EQ(k.symbolize(0xffffffff81a00000ULL), "nf_hook_slow+0x0");
  EXPECT_EQ(k.symbolize(0xffffffff81a00210ULL), "nf_hook_entries_grow+0x10");
  // The data symbol is not a function: its addresses belong to the function before it.
  EXPECT_EQ(k.symbolize(0xffffffff81a00404ULL), "nf_hook_entries_grow+0x204");
  EXPECT_EQ(k.symbolize(0xffffffff81c00104ULL), "weak_helper+0x4");
}

TEST(Kallsyms, ModuleSymbolsNameTheirModule) {
  const auto k = fixture();
  EXPECT_EQ(k.symbolize(0xffffffffc04001a0ULL), "nft_do_chain+0x1a0 [nf_tables]");
  const auto s = k.lookup(0xffffffffc0400900ULL);
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->name, "nft_immediate_eval");
  EXPECT_EQ(s->module, "nf_tables");
}

TEST(Kallsyms, AliasesReportTheFirstName) {
  const auto k = fixture();
  EXPECT_EQ(k.symbolize(0xffffffff81000010ULL), "_stext+0x10");
}

TEST(Kallsyms, UnknownAddressesStayNumeric) {
  const auto k = fixture();
  EXPECT_EQ(k.symbolize(0x1000), "0x1000");                             // below every symbol
  EXPECT_EQ(k.symbolize(0xffffffffc0600000ULL), "0xffffffffc0600000");  // far past the last one
  EXPECT_FALSE(k.lookup(0x1000).has_value());
}

TEST(Kallsyms, HiddenAddressesAreDetected) {
  // What an unprivileged reader sees with kptr_restrict: every address 0.
  const auto k = Kallsyms::parse("0000000000000000 T _stext\n0000000000000000 T nf_hook_slow\n");
  EXPECT_TRUE(k.addresses_hidden());
  EXPECT_EQ(k.size(), 0u);
  EXPECT_EQ(k.symbolize(0xffffffff81a0005cULL), "0xffffffff81a0005c");
}

TEST(Kallsyms, MissingFileIsAnError) {
  const auto k = Kallsyms::load("/nonexistent/kallsyms");
  ASSERT_FALSE(k);
  EXPECT_NE(k.error().message.find("/nonexistent/kallsyms"), std::string::npos);
}
