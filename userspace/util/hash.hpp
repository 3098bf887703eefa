#pragma once
/// @file
/// @brief Hashing for podpath's own hash indexes (the flow store, the change log's key sets):
/// a 64x64->128-bit multiply folded to 64 bits, over a key's 64-bit words.

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace podpath::util {

__extension__ typedef unsigned __int128 Wide128;  // GCC and Clang, on every 64-bit target

inline constexpr std::uint64_t kHashSeed = 0x9e3779b97f4a7c15ULL;
inline constexpr std::uint64_t kHashMul = 0xbf58476d1ce4e5b9ULL;

/// One 64x64->128-bit multiply folded to 64 bits: a strong, cheap mixing step.
inline std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
  const Wide128 r = static_cast<Wide128>(a) * b;
  return static_cast<std::uint64_t>(r) ^ static_cast<std::uint64_t>(r >> 64);
}

/// The hash of `size` bytes read as 64-bit words (`size` a multiple of 8).
inline std::uint64_t hash_words(const void* data, std::size_t size) {
  const auto* bytes = static_cast<const unsigned char*>(data);
  std::uint64_t h = kHashSeed;
  for (std::size_t at = 0; at + 8 <= size; at += 8) {
    std::uint64_t w = 0;
    std::memcpy(&w, bytes + at, 8);
    h = mix(h ^ w, kHashMul);
  }
  return mix(h ^ size, kHashSeed);
}

}  // namespace podpath::util
