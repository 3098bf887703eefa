#include "output/json_writer.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>

#include <nlohmann/json.hpp>

#include "util/text.hpp"

using podpath::output::JsonWriter;

namespace {

template <typename T> std::string written(T v) {
  std::string out;
  JsonWriter(out).value(v);
  return out;
}

}  // namespace

// Each value is written as nlohmann::json::dump() writes it: the agent's text and a
// document's dump must not differ.
TEST(JsonWriter, StringsAreEscapedAsNlohmannDoes) {
  std::string all;
  for (int c = 1; c < 0x80; ++c) all += static_cast<char>(c);
  for (const std::string& s : {std::string(), all, std::string("a\0b", 3), std::string("é → ✓"),
                               std::string("quote \" backslash \\ slash /")}) {
    EXPECT_EQ(written(std::string_view(s)), nlohmann::json(s).dump()) << s;
  }
}

// Valid UTF-8 passes as it is; what does not decode (overlong forms, surrogates, past
// U+10FFFF, cut short, stray continuation bytes) is replaced as json_text() replaces it.
TEST(JsonWriter, Utf8PassesAndWhatDoesNotDecodeIsReplacedAsJsonTextDoes) {
  const std::string cases[] = {"\xc3\xa9", "\xe2\x86\x92 gateway", "\xf0\x9f\x98\x80", "\xf4\x8f\xbf\xbf",
                               "\xed\x9f\xbf", "\xee\x80\x80",
                               // not UTF-8:
                               "\xc0\x80", "\xc1\xbf", "\xe0\x80\x80", "\xed\xa0\x80", "\xf4\x90\x80\x80",
                               "\xf5\x80\x80\x80", "\xe2\x82", "eth\x80", "\xff", "a\xc3",
                               "\xbf\xbf ok \xe2\x86\x92"};
  for (const std::string& s : cases) {
    EXPECT_EQ(written(std::string_view(s)), podpath::json_text(nlohmann::json(s))) << s;
  }
}

TEST(JsonWriter, NumbersAreWrittenAsNlohmannDoes) {
  for (double d : {0.0, -0.0, 1.0, 0.1, 12.5, 1e21, 1e-7, 123456789.123, 2.0 / 3.0, 5e-324,
                   std::numeric_limits<double>::max(), -std::numeric_limits<double>::max()}) {
    EXPECT_EQ(written(d), nlohmann::json(d).dump()) << d;
  }
  EXPECT_EQ(written(std::nan("")), "null");
  EXPECT_EQ(written(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(written(std::numeric_limits<std::uint64_t>::max()), "18446744073709551615");
  EXPECT_EQ(written(std::numeric_limits<std::int64_t>::min()), "-9223372036854775808");
  EXPECT_EQ(written(std::uint8_t{200}), "200");  // a number, not a character
  EXPECT_EQ(written(std::uint16_t{0}), "0");
  EXPECT_EQ(written(-7), "-7");
  EXPECT_EQ(written(true), "true");
  EXPECT_EQ(written(nullptr), "null");
  EXPECT_EQ(written("text"), "\"text\"");  // a string, not a bool
}

TEST(JsonWriter, NestingAndSeparatorsMatchADump) {
  std::string out;
  JsonWriter w(out);
  w.begin_object();
  w.key("a").begin_array().end_array();
  w.key("b").begin_object().end_object();
  w.key("c").begin_array();
  w.begin_object().key("x").value(1).key("y").value(nullptr).end_object();
  w.value(2.5).value("s").begin_array().value(false).end_array();
  w.end_array();
  w.key("d").string_or_null("");
  w.key("e").string_or_null("v");
  w.end_object();
  const nlohmann::json doc = {{"a", nlohmann::json::array()},
                              {"b", nlohmann::json::object()},
                              {"c", {{{"x", 1}, {"y", nullptr}}, 2.5, "s", {false}}},
                              {"d", nullptr},
                              {"e", "v"}};
  EXPECT_EQ(out, doc.dump());
}

TEST(JsonWriter, IndentedAsADumpWithIndent) {
  const nlohmann::json inner = {{"k", {1, 2}}, {"e", nlohmann::json::object()}};
  for (int indent : {0, 2, 4}) {
    std::string out;
    JsonWriter w(out, indent);
    w.begin_array();
    w.begin_object();
    w.key("a").begin_array().end_array();
    w.key("b").begin_object().end_object();
    w.key("c").begin_array().value(1).begin_object().key("x").value("s").end_object().end_array();
    w.key("d").document(inner);
    w.end_object();
    w.value(nullptr);
    w.end_array();
    const nlohmann::json doc = nlohmann::json::array({{{"a", nlohmann::json::array()},
                                                       {"b", nlohmann::json::object()},
                                                       {"c", nlohmann::json::array({1, {{"x", "s"}}})},
                                                       {"d", inner}},
                                                      nullptr});
    EXPECT_EQ(out, doc.dump(indent)) << indent;
  }
  std::string top;
  JsonWriter(top, 2).document(inner);
  EXPECT_EQ(top, inner.dump(2));
}
