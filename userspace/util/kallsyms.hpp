#pragma once
/// @file
/// @brief Kernel text addresses to "function+0xoffset", from /proc/kallsyms.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "util/result.hpp"

namespace podpath {

/// @brief One kernel text symbol.
struct KernelSymbol {
  std::uint64_t address = 0;
  std::string name;
  std::string module;  ///< "" for the core kernel, else the module ("nf_tables")
};

/// @brief A sorted table of the kernel's text symbols.
class Kallsyms {
 public:
  /// @brief Parses /proc/kallsyms text ("ffffffff81000000 T _stext", "... t foo\t[mod]").
  /// Only text symbols (t/T/w/W) are kept; malformed lines are skipped.
  static Kallsyms parse(std::string_view text);
  /// @brief Reads and parses a kallsyms file (default /proc/kallsyms).
  static Result<Kallsyms> load(const std::filesystem::path& file = "/proc/kallsyms");

  /// @brief The symbol containing `address` (the closest one at or below it), or nullopt.
  [[nodiscard]] std::optional<KernelSymbol> lookup(std::uint64_t address) const;
  /// @brief "nf_hook_slow+0x5c", "nft_do_chain+0x1a0 [nf_tables]", or "0xffffffff81234567"
  /// when nothing contains it (or the addresses are hidden).
  [[nodiscard]] std::string symbolize(std::uint64_t address) const;
  /// @brief Every address read as 0: kptr_restrict hides them from this process.
  [[nodiscard]] bool addresses_hidden() const { return hidden_; }
  [[nodiscard]] std::size_t size() const { return symbols_.size(); }

 private:
  std::vector<KernelSymbol> symbols_;  // by address
  bool hidden_ = false;
};

}  // namespace podpath
