#include "output/text.hpp"

#include <fmt/format.h>
#include <netinet/in.h>

#include <array>

namespace podpath::output {
namespace {

std::string scaled(double value, const char* unit) {
  static constexpr std::array<const char*, 5> kPrefixes{"", "k", "M", "G", "T"};
  std::size_t i = 0;
  while (value >= 1000.0 && i + 1 < kPrefixes.size()) {
    value /= 1000.0;
    ++i;
  }
  if (i == 0) return fmt::format("{:.0f} {}", value, unit);
  return fmt::format("{:.1f} {}{}", value, kPrefixes[i], unit);
}

bool is_continuation(unsigned char c) { return (c & 0xC0) == 0x80; }

}  // namespace

std::string format_pps(double pps) { return scaled(pps, "pkt/s"); }
std::string format_bps(double bps) { return scaled(bps, "bit/s"); }

std::string format_bytes(std::uint64_t bytes) {
  static constexpr std::array<const char*, 5> kUnits{"B", "KiB", "MiB", "GiB", "TiB"};
  auto value = static_cast<double>(bytes);
  std::size_t i = 0;
  while (value >= 1024.0 && i + 1 < kUnits.size()) {
    value /= 1024.0;
    ++i;
  }
  if (i == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.1f} {}", value, kUnits[i]);
}

std::string format_ports(const model::FlowKey& key) {
  if (key.fragment) return "fragment";
  if (key.is_icmp()) {
    if (key.is_echo_request()) return fmt::format("echo request id {}", key.sport);
    if (key.is_echo_reply()) return fmt::format("echo reply id {}", key.sport);
    return fmt::format("type {} code {}", key.icmp_type(), key.icmp_code());
  }
  return fmt::format("{}→{}", key.sport, key.dport);
}

std::string Style::wrap(const char* code, std::string_view s) const {
  if (!enabled_) return std::string(s);
  return fmt::format("\x1b[{}m{}\x1b[0m", code, s);
}

std::size_t display_width(std::string_view s) {
  std::size_t width = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c == 0x1b && i + 1 < s.size() && s[i + 1] == '[') {
      i += 2;
      while (i < s.size() && (s[i] < 0x40 || s[i] > 0x7e)) ++i;  // up to the final byte
      continue;
    }
    if (!is_continuation(c)) ++width;
  }
  return width;
}

std::string pad_right(std::string_view s, std::size_t width) {
  const std::size_t w = display_width(s);
  std::string out(s);
  if (w < width) out.append(width - w, ' ');
  return out;
}

std::string pad_left(std::string_view s, std::size_t width) {
  const std::size_t w = display_width(s);
  std::string out;
  if (w < width) out.append(width - w, ' ');
  out += s;
  return out;
}

std::string truncate(std::string_view s, std::size_t width) {
  if (width == 0 || display_width(s) <= width) return std::string(s);
  std::string out;
  std::size_t shown = 0;
  for (std::size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (!is_continuation(c)) {
      if (shown + 1 == width) break;
      ++shown;
    }
    out += s[i];
  }
  return out + "…";
}

}  // namespace podpath::output
