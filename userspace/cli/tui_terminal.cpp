#include "cli/tui_terminal.hpp"

#include <langinfo.h>

#include <clocale>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iostream>

// Last, and without its function-like macros (erase(), clear(), move() ...), which would
// rewrite any C++ that follows.
#define NCURSES_NOMACROS
#include <curses.h>

namespace podpath::cli {
namespace {

using output::live::Color;
using output::live::Key;
using output::live::KeyCode;

enum Pair : short { kRed = 1, kGreen, kYellow, kCyan };

// Keys that arrive as characters, not as KEY_* codes.
constexpr wint_t kEscape = 0x1b;
constexpr wint_t kCtrlH = 0x08;   // backspace on some terminals
constexpr wint_t kDelete = 0x7f;  // backspace on most

bool utf8_ctype() {
  const char* codeset = nl_langinfo(CODESET);
  return codeset != nullptr && std::strcmp(codeset, "UTF-8") == 0;
}

}  // namespace

Result<std::unique_ptr<TuiTerminal>> TuiTerminal::open(bool color) {
  std::unique_ptr<TuiTerminal> t(new TuiTerminal());
  // ncursesw draws the arrows and ✗ from UTF-8 only under a UTF-8 LC_CTYPE; only the
  // character type changes (numbers keep the C locale's decimal point).
  if (const char* old = std::setlocale(LC_CTYPE, nullptr)) t->saved_ctype_ = old;
  if (std::setlocale(LC_CTYPE, "") == nullptr || !utf8_ctype()) std::setlocale(LC_CTYPE, "C.UTF-8");

  std::cout.flush();  // podpath's own stdout buffer (cli/fd_output.hpp), then stdio's
  std::fflush(stdout);
  t->screen_ = newterm(nullptr, stdout, stdin);
  if (t->screen_ == nullptr) {
    const char* term = std::getenv("TERM");
    return make_error(ENOTTY, "cannot drive the terminal '{}' (unknown to ncurses)",
                      term != nullptr ? term : "");
  }
  set_term(t->screen_);
  cbreak();  // keys one by one; Ctrl-C stays a signal (StopOnSignal ends the view)
  noecho();
  nonl();
  keypad(stdscr, TRUE);
  nodelay(stdscr, TRUE);
  intrflush(stdscr, FALSE);
  set_escdelay(25);
  curs_set(0);
  if (color && has_colors()) {
    start_color();
    use_default_colors();
    init_pair(kRed, COLOR_RED, -1);
    init_pair(kGreen, COLOR_GREEN, -1);
    init_pair(kYellow, COLOR_YELLOW, -1);
    init_pair(kCyan, COLOR_CYAN, -1);
    t->color_ = true;
  }
  return t;
}

TuiTerminal::~TuiTerminal() {
  if (screen_ != nullptr) {
    curs_set(1);
    endwin();  // leaves the alternate screen, restores the terminal modes
    delscreen(screen_);
  }
  std::setlocale(LC_CTYPE, saved_ctype_.c_str());
}

output::live::Size TuiTerminal::size() const {
  int rows = 0, cols = 0;
  getmaxyx(stdscr, rows, cols);
  return {static_cast<std::size_t>(rows > 0 ? rows : 0), static_cast<std::size_t>(cols > 0 ? cols : 0)};
}

int TuiTerminal::attributes(const output::live::Attr& a) const {
  auto bits = static_cast<int>(A_NORMAL);
  if (a.bold) bits |= static_cast<int>(A_BOLD);
  if (a.dim) bits |= static_cast<int>(A_DIM);
  if (a.reverse) bits |= static_cast<int>(A_REVERSE);
  if (color_) {
    switch (a.color) {
    case Color::Red:
      bits |= static_cast<int>(COLOR_PAIR(kRed));
      break;
    case Color::Green:
      bits |= static_cast<int>(COLOR_PAIR(kGreen));
      break;
    case Color::Yellow:
      bits |= static_cast<int>(COLOR_PAIR(kYellow));
      break;
    case Color::Cyan:
      bits |= static_cast<int>(COLOR_PAIR(kCyan));
      break;
    case Color::Default:
      break;
    }
  }
  return bits;
}

void TuiTerminal::draw(const output::live::Screen& screen) {
  const auto cols = size().cols;
  for (std::size_t y = 0; y < screen.lines.size(); ++y) {
    const auto& line = screen.lines[y];
    wmove(stdscr, static_cast<int>(y), 0);
    for (const auto& span : line.spans) {
      wattrset(stdscr, attributes(span.attr));
      waddstr(stdscr, span.text.c_str());  // ERR at the bottom-right cell: the cell is written
    }
    wattrset(stdscr, A_NORMAL);
    // A full line has moved the cursor to the next one: clearing would erase that.
    if (line.width() < cols) wclrtoeol(stdscr);
  }
  wnoutrefresh(stdscr);
  doupdate();
}

std::optional<Key> TuiTerminal::read_key() {
  wint_t ch = 0;
  const int r = wget_wch(stdscr, &ch);
  if (r == ERR) return std::nullopt;
  if (r == KEY_CODE_YES) {
    switch (ch) {
    case KEY_UP:
      return Key::of(KeyCode::Up);
    case KEY_DOWN:
      return Key::of(KeyCode::Down);
    case KEY_PPAGE:
      return Key::of(KeyCode::PageUp);
    case KEY_NPAGE:
      return Key::of(KeyCode::PageDown);
    case KEY_HOME:
      return Key::of(KeyCode::Home);
    case KEY_END:
      return Key::of(KeyCode::End);
    case KEY_ENTER:
      return Key::of(KeyCode::Enter);
    case KEY_BACKSPACE:
      return Key::of(KeyCode::Backspace);
    case KEY_RESIZE:
      return Key::of(KeyCode::Resize);
    default:
      return Key::of(KeyCode::Other);
    }
  }
  switch (ch) {
  case L'\n':
  case L'\r':
    return Key::of(KeyCode::Enter);
  case kEscape:
    return Key::of(KeyCode::Escape);
  case kCtrlH:
  case kDelete:
    return Key::of(KeyCode::Backspace);
  default:
    return Key::character(static_cast<char32_t>(ch));
  }
}

}  // namespace podpath::cli
