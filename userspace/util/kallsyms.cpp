#include "util/kallsyms.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <iterator>

#include "util/system.hpp"

namespace podpath {
namespace {

/// The next whitespace-separated field of `line` from `pos`; empty at the end.
std::string_view next_field(std::string_view line, std::size_t& pos) {
  while (pos < line.size() && (line[pos] == ' ' || line[pos] == '\t')) ++pos;
  const std::size_t start = pos;
  while (pos < line.size() && line[pos] != ' ' && line[pos] != '\t') ++pos;
  return line.substr(start, pos - start);
}

/// No kernel function is this long: a larger offset means the address lies beyond the
/// last symbol known (or in memory kallsyms does not list).
constexpr std::uint64_t kMaxOffset = 0x100000;

bool is_text(std::string_view type) {
  return type.size() == 1 && (type[0] == 't' || type[0] == 'T' || type[0] == 'w' || type[0] == 'W');
}

}  // namespace

Kallsyms Kallsyms::parse(std::string_view text) {
  Kallsyms k;
  bool any = false;
  bool nonzero = false;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view line = text.substr(start, end - start);
    start = end + 1;
    std::size_t pos = 0;
    const auto addr_text = next_field(line, pos);
    const auto type = next_field(line, pos);
    const auto name = next_field(line, pos);
    const auto module = next_field(line, pos);
    if (addr_text.empty() || name.empty() || !is_text(type)) continue;
    std::uint64_t addr = 0;
    const auto [p, ec] = std::from_chars(addr_text.data(), addr_text.data() + addr_text.size(), addr, 16);
    if (ec != std::errc() || p != addr_text.data() + addr_text.size()) continue;
    any = true;
    if (addr == 0) continue;
    nonzero = true;
    KernelSymbol s{addr, std::string(name), {}};
    if (module.size() > 2 && module.front() == '[' && module.back() == ']') {
      s.module = std::string(module.substr(1, module.size() - 2));
    }
    k.symbols_.push_back(std::move(s));
  }
  k.hidden_ = any && !nonzero;
  std::stable_sort(k.symbols_.begin(), k.symbols_.end(),
                   [](const KernelSymbol& a, const KernelSymbol& b) { return a.address < b.address; });
  return k;
}

Result<Kallsyms> Kallsyms::load(const std::filesystem::path& file) {
  const auto text = read_file(file);
  if (!text) return make_error(errno, "cannot read {}", file.string());
  return parse(*text);
}

std::optional<KernelSymbol> Kallsyms::lookup(std::uint64_t address) const {
  auto it = std::upper_bound(symbols_.begin(), symbols_.end(), address,
                             [](std::uint64_t a, const KernelSymbol& s) { return a < s.address; });
  if (it == symbols_.begin()) return std::nullopt;
  --it;
  // Aliases share an address: report the first one listed.
  while (it != symbols_.begin() && std::prev(it)->address == it->address) --it;
  // Past the end of a symbol table's last function: not something kallsyms names.
  if (address - it->address > kMaxOffset) return std::nullopt;
  return *it;
}

std::string Kallsyms::symbolize(std::uint64_t address) const {
  const auto s = lookup(address);
  if (!s) return fmt::format("{:#x}", address);
  std::string out = fmt::format("{}+{:#x}", s->name, address - s->address);
  if (!s->module.empty()) out += " [" + s->module + "]";
  return out;
}

}  // namespace podpath
