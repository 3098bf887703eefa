#pragma once
/// @file
/// @brief The terminal behind the live view: ncurses (wide-character build) on the
/// alternate screen. Draws output::live screens, where ncurses writes only the cells that
/// changed, and decodes keys. The terminal is restored when the object goes, also when an
/// exception unwinds past it.

#include <memory>
#include <optional>
#include <string>

#include "output/live_screen.hpp"
#include "util/result.hpp"

struct screen;  // ncurses' SCREEN

namespace podpath::cli {

class TuiTerminal {
 public:
  /// @brief Takes over the terminal on stdin/stdout (alternate screen, no echo, keys one
  /// by one); fails with the reason when ncurses does not know the terminal ($TERM).
  /// `color`: use colours if the terminal has them.
  static Result<std::unique_ptr<TuiTerminal>> open(bool color);
  ~TuiTerminal();
  TuiTerminal(const TuiTerminal&) = delete;
  TuiTerminal& operator=(const TuiTerminal&) = delete;

  /// @brief The terminal's size now (it changes when the window is resized).
  [[nodiscard]] output::live::Size size() const;
  /// @brief Colours are on.
  [[nodiscard]] bool color() const { return color_; }
  /// @brief Shows `screen`; only the cells that differ from what is shown are written.
  void draw(const output::live::Screen& screen);
  /// @brief The next key pressed, if one is waiting (never blocks). A window resize is
  /// reported as KeyCode::Resize.
  [[nodiscard]] std::optional<output::live::Key> read_key();

 private:
  TuiTerminal() = default;
  [[nodiscard]] int attributes(const output::live::Attr& attr) const;

  ::screen* screen_ = nullptr;
  bool color_ = false;
  std::string saved_ctype_;  // the locale's LC_CTYPE before ours (UTF-8)
};

}  // namespace podpath::cli
