// `podpath trace`: which view it chooses, and the filter typed in the live view (parsed by
// the code that parses the command line's filter flags).
#include <gtest/gtest.h>
#include <netinet/in.h>

#include <CLI/CLI.hpp>

#include "../common/cli_run.hpp"
#include "cli/live.hpp"
#include "cli/trace_tui.hpp"
#include "output/filter.hpp"

namespace cli = podpath::cli;
namespace output = podpath::output;
using cli::TraceView;
using podpath::testing::run_cli;

TEST(TraceView, FullScreenOnlyOnAnInteractiveTerminal) {
  EXPECT_EQ(cli::choose_trace_view(false, false, false, true, "xterm-256color"), TraceView::Live);
  EXPECT_EQ(cli::choose_trace_view(false, false, false, true, "screen"), TraceView::Live);
  EXPECT_EQ(cli::choose_trace_view(true, false, false, true, "xterm"), TraceView::Json);
  EXPECT_EQ(cli::choose_trace_view(true, false, false, false, nullptr), TraceView::Json);
  EXPECT_EQ(cli::choose_trace_view(false, true, false, true, "xterm"), TraceView::Snapshots);  // --plain
  EXPECT_EQ(cli::choose_trace_view(false, false, true, true, "xterm"), TraceView::Snapshots);  // --once
  EXPECT_EQ(cli::choose_trace_view(false, false, false, false, "xterm"), TraceView::Snapshots);
  EXPECT_EQ(cli::choose_trace_view(false, false, false, true, "dumb"), TraceView::Snapshots);
  EXPECT_EQ(cli::choose_trace_view(false, false, false, true, ""), TraceView::Snapshots);
  EXPECT_EQ(cli::choose_trace_view(false, false, false, true, nullptr), TraceView::Snapshots);
}

TEST(TraceView, HelpNamesTheKeysAndPlain) {
  const auto r = run_cli({"trace", "--help"});
  EXPECT_EQ(r.code, 0);
  EXPECT_NE(r.out.find("--plain"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("full-screen view"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("docs/live-view.md"), std::string::npos) << r.out;
}

TEST(LiveFilter, TypedFlagsGiveTheFilterTheCommandLineWould) {
  auto f =
      cli::parse_filter("--pod web --proto tcp --port 5432 -n default --node node2 --cidr 10.10.130.0/24");
  ASSERT_TRUE(f) << f.error().message;
  EXPECT_EQ(f->pods, std::vector<std::string>{"web"});
  EXPECT_EQ(f->protos, std::vector<std::uint8_t>{IPPROTO_TCP});
  EXPECT_EQ(f->ports, std::vector<std::uint16_t>{5432});
  EXPECT_EQ(f->namespaces, std::vector<std::string>{"default"});
  EXPECT_EQ(f->nodes, std::vector<std::string>{"node2"});
  ASSERT_EQ(f->cidrs.size(), 1u);
  EXPECT_EQ(f->cidrs[0].to_string(), "10.10.130.0/24");
  EXPECT_FALSE(f->control_traffic);

  auto all = cli::parse_filter("   ");
  ASSERT_TRUE(all);
  EXPECT_TRUE(all->empty());

  auto quoted = cli::parse_filter("--pod 'default/web 1' --pod \"x\" --control");
  ASSERT_TRUE(quoted) << quoted.error().message;
  EXPECT_EQ(quoted->pods, (std::vector<std::string>{"default/web 1", "x"}));
  EXPECT_TRUE(quoted->control_traffic);
}

TEST(LiveFilter, BadFiltersAreOneSentence) {
  auto proto = cli::parse_filter("--proto quic");
  ASSERT_FALSE(proto);
  EXPECT_EQ(proto.error().message,
            "unknown protocol 'quic' (use tcp, udp, icmp, icmpv6, sctp or a number 0-255)");
  auto cidr = cli::parse_filter("--cidr 10.0.0.0/33");
  ASSERT_FALSE(cidr);
  EXPECT_NE(cidr.error().message.find("--cidr '10.0.0.0/33' is not a CIDR"), std::string::npos);
  auto word = cli::parse_filter("web");
  ASSERT_FALSE(word);
  EXPECT_NE(word.error().message.find("web"), std::string::npos) << word.error().message;
  EXPECT_NE(word.error().message.find("filters are flags: --pod"), std::string::npos) << word.error().message;
  auto port = cli::parse_filter("--port 70000");
  ASSERT_FALSE(port);
  EXPECT_NE(port.error().message.find("--port"), std::string::npos) << port.error().message;
  EXPECT_FALSE(cli::parse_filter("--pod"));
  EXPECT_FALSE(cli::parse_filter("--help"));
  auto quote = cli::parse_filter("--pod 'web");
  ASSERT_FALSE(quote);
  EXPECT_EQ(quote.error().message, "unterminated ' quote");
}

TEST(LiveFilter, FlagsPrintAsTheyAreTypedAndParseBack) {
  CLI::App app;
  cli::FilterFlags flags;
  flags.add_to(app);
  app.parse(
      std::vector<std::string>{"tcp", "--proto", "5432", "--port", "default/web 1", "--pod", "web", "--pod"});
  const std::string text = flags.to_args();
  EXPECT_EQ(text, "--pod web --pod 'default/web 1' --proto tcp --port 5432");
  auto again = cli::parse_filter(text);
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->pods, (std::vector<std::string>{"web", "default/web 1"}));
  EXPECT_EQ(cli::FilterFlags{}.to_args(), "");
}

TEST(LiveFilter, QuotedWordsSplitBackUnchanged) {
  for (const std::string word : {"web", "a b", "it's", "say \"hi\"", ""}) {
    auto words = output::split_filter_words("--pod " + output::quote_filter_word(word));
    ASSERT_TRUE(words) << word;
    EXPECT_EQ(*words, (std::vector<std::string>{"--pod", word}));
  }
  EXPECT_FALSE(output::split_filter_words("--pod 'web"));
}
