#pragma once
/// @file
/// @brief Is an output stream a terminal, and how wide is it.

#include <cstddef>
#include <ostream>

namespace podpath::output {

/// @brief True when `out` writes to standard output and that is a terminal, TERM is not
/// "dumb" and the user did not set NO_COLOR (https://no-color.org). String streams
/// (tests) never are.
bool use_color(const std::ostream& out);

/// @brief The user set NO_COLOR (to anything but "").
bool no_color_requested();

/// @brief True when `out` writes to standard output, and standard input and output are
/// both a terminal: someone can watch a screen and press keys.
bool is_interactive(const std::ostream& out);

/// @brief Columns of the terminal behind `out`; 0 (no limit) when it is not a terminal.
/// COLUMNS overrides the terminal's own size.
std::size_t terminal_width(const std::ostream& out);

}  // namespace podpath::output
