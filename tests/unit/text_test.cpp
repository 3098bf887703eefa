// Issue 15 item 12: names chosen by others never reach the terminal as escape sequences,
// and never abort JSON output.
#include <gtest/gtest.h>

#include <string>

#include "util/text.hpp"

using podpath::json_text;
using podpath::printable;

TEST(Printable, PlainNamesPassUnchanged) {
  EXPECT_EQ(printable("eth0"), "eth0");
  EXPECT_EQ(printable("default/web-7d4b9-x2k4q"), "default/web-7d4b9-x2k4q");
  EXPECT_EQ(printable("café→ünïcode"), "café→ünïcode");
}

TEST(Printable, NoEscapeSequenceSurvives) {
  // An interface a pod named "\e]0;owned\a\e[2J": it would retitle and clear the terminal.
  const std::string hostile = "eth\x1b]0;owned\x07\x1b[2Jx";
  const std::string shown = printable(hostile);
  EXPECT_EQ(shown, "eth\\x1b]0;owned\\x07\\x1b[2Jx");
  EXPECT_EQ(shown.find('\x1b'), std::string::npos);
  EXPECT_EQ(printable("a\nb\rc\td\x7f"), "a\\x0ab\\x0dc\\x09d\\x7f");
}

TEST(Printable, C1ControlsDirectionOverridesAndBadBytesAreEscaped) {
  EXPECT_EQ(printable("\xc2\x9b"
                      "31m"),
            "\\u009b31m");  // CSI as a C1 code point
  EXPECT_EQ(printable("pod\xe2\x80\xae"
                      "gnp"),
            "pod\\u202egnp");  // right-to-left override
  EXPECT_EQ(printable("bad\xff\xfe"), "bad\\xff\\xfe");
  EXPECT_EQ(printable("\xc0\xaf"), "\\xc0\\xaf");  // overlong '/'
  EXPECT_EQ(printable("cut\xe2\x82"), "cut\\xe2\\x82");
}

TEST(JsonText, InvalidUtf8IsReplacedNotThrown) {
  const nlohmann::json j = {{"interface", std::string("veth\xff\xfe")}};
  EXPECT_THROW((void)j.dump(), nlohmann::json::type_error);  // what podpath did before
  std::string text;
  ASSERT_NO_THROW(text = json_text(j));
  EXPECT_EQ(text, "{\"interface\":\"veth\xef\xbf\xbd\xef\xbf\xbd\"}");
  EXPECT_TRUE(nlohmann::json::accept(text));
  EXPECT_EQ(json_text({{"a", 1}}, 2), "{\n  \"a\": 1\n}");
}
