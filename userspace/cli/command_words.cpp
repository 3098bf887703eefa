#include "cli/command_words.hpp"

#include <fmt/format.h>

#include <algorithm>

#include "util/text.hpp"

namespace podpath::cli {

std::optional<std::string> command_word(const std::vector<std::string>& args) {
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--log-level") {
      ++i;
      continue;
    }
    if (!args[i].empty() && args[i].front() == '-') continue;
    return args[i];
  }
  return std::nullopt;
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> row(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::size_t diagonal = row[0];
    row[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = up;
    }
  }
  return row[b.size()];
}

std::string unknown_command_message(const std::string& word, const std::vector<std::string>& commands) {
  constexpr std::size_t kCloseEnough = 2;
  std::string list, closest;
  std::size_t best = kCloseEnough + 1;
  for (const auto& c : commands) {
    list += (list.empty() ? "" : ", ") + c;
    if (const std::size_t d = edit_distance(word, c); d < best) best = d, closest = c;
  }
  return fmt::format("podpath: unknown command '{}'{}; the commands are: {}\n"
                     "Run 'podpath COMMAND --help' for what a command does.\n",
                     printable(word), closest.empty() ? "" : " (did you mean '" + closest + "'?)", list);
}

}  // namespace podpath::cli
