#include "output/terminal.hpp"

#include <sys/ioctl.h>
#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <string>

namespace podpath::output {
namespace {

bool is_stdout_tty(const std::ostream& out) {
  return out.rdbuf() == std::cout.rdbuf() && ::isatty(STDOUT_FILENO) == 1;
}

}  // namespace

bool use_color(const std::ostream& out) {
  const char* no_color = std::getenv("NO_COLOR");
  if (no_color != nullptr && *no_color != '\0') return false;
  return is_stdout_tty(out);
}

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
