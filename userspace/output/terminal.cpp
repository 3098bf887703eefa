#include "output/terminal.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

namespace podpath::output {
namespace {

bool is_stdout_tty(const std::ostream& out) {
  return out.rdbuf() == std::cout.rdbuf() && ::isatty(STDOUT_FILENO) == 1;
}

}  // namespace

bool no_color_requested() {
  const char* no_color = std::getenv("NO_COLOR");
  return no_color != nullptr && *no_color != '\0';
}

bool use_color(const std::ostream& out) {
  const char* term = std::getenv("TERM");
  const bool dumb = term != nullptr && std::string_view(term) == "dumb";
  return !no_color_requested() && !dumb && is_stdout_tty(out);
}

bool is_interactive(const std::ostream& out) { return is_stdout_tty(out) && ::isatty(STDIN_FILENO) == 1; }

std::size_t terminal_width(const std::ostream& out) {
  if (!is_stdout_tty(out)) return 0;
  if (const char* cols = std::getenv("COLUMNS")) {
    try {
      const long n = std::stol(cols);
      if (n > 0) return static_cast<std::size_t>(n);
    } catch (const std::exception&) {
    }
  }
  winsize ws{};
  if (::ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0) return ws.ws_col;
  return 0;
}

}  // namespace podpath::output
