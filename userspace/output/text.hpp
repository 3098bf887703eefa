#pragma once
/// @file
/// @brief Small text helpers for terminal output: human rates and sizes, ANSI styles
/// that vanish when colour is off, and padding/truncation that count what the terminal
/// shows (UTF-8 characters, not bytes; escape sequences count as nothing).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "model/flow.hpp"

namespace podpath::output {

/// @brief "0 pkt/s", "950 pkt/s", "1.2 kpkt/s", "3.4 Mpkt/s".
std::string format_pps(double pps);
/// @brief "0 bit/s", "800 bit/s", "9.8 Mbit/s", "1.0 Gbit/s".
std::string format_bps(double bps);
/// @brief "512 B", "1.5 KiB", "2.0 MiB".
std::string format_bytes(std::uint64_t bytes);

/// @brief "43512→5432" (TCP/UDP/SCTP), "echo request id 17" / "echo reply id 17"
/// (ICMP/ICMPv6 echo), "type 3 code 1" (other ICMP), "fragment" for non-first fragments.
std::string format_ports(const model::FlowKey& key);

/// @brief ANSI styles; every call returns "" when colour is off.
class Style {
 public:
  explicit Style(bool enabled) : enabled_(enabled) {}
  [[nodiscard]] bool enabled() const { return enabled_; }
  [[nodiscard]] std::string bold(std::string_view s) const { return wrap("1", s); }
  [[nodiscard]] std::string dim(std::string_view s) const { return wrap("2", s); }
  [[nodiscard]] std::string red(std::string_view s) const { return wrap("1;31", s); }
  [[nodiscard]] std::string green(std::string_view s) const { return wrap("32", s); }
  [[nodiscard]] std::string yellow(std::string_view s) const { return wrap("1;33", s); }
  [[nodiscard]] std::string cyan(std::string_view s) const { return wrap("36", s); }

 private:
  [[nodiscard]] std::string wrap(const char* code, std::string_view s) const;
  bool enabled_;
};

/// @brief Characters the terminal shows: UTF-8 code points outside ANSI escape sequences.
std::size_t display_width(std::string_view s);
/// @brief Pads with spaces on the right to `width` shown characters (never cuts).
std::string pad_right(std::string_view s, std::size_t width);
/// @brief Pads on the left.
std::string pad_left(std::string_view s, std::size_t width);
/// @brief Cuts plain (unstyled) text to `width` shown characters, ending with "…" when
/// cut; width 0 means no limit.
std::string truncate(std::string_view s, std::size_t width);

}  // namespace podpath::output
