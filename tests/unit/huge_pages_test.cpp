// util::HugePageAllocator: large arrays are mapped on their own and marked for transparent
// huge pages (MADV_HUGEPAGE shows as "hg" in the mapping's VmFlags), small ones come from
// the heap, and both hold what is stored in them across growth.
#include "util/huge_pages.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace {

using podpath::util::HugePageAllocator;

// The VmFlags of the mapping that holds `p`, from /proc/self/smaps ("" if none does).
std::string vm_flags_of(const void* p) {
  const auto addr = reinterpret_cast<std::uintptr_t>(p);
  std::ifstream smaps("/proc/self/smaps");
  std::string line;
  bool inside = false;
  while (std::getline(smaps, line)) {
    std::uintptr_t lo = 0, hi = 0;
    char dash = 0;
    std::istringstream head(line);
    if (head >> std::hex >> lo >> dash >> hi && dash == '-' && line.find(':') > line.find(' ')) {
      inside = lo <= addr && addr < hi;
      continue;
    }
    if (inside && line.rfind("VmFlags:", 0) == 0) return line;
  }
  return "";
}

TEST(HugePageAllocator, ALargeArrayIsMappedOnItsOwnAndAsksForHugePages) {
  if (!std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled")) {
    GTEST_SKIP() << "this kernel has no transparent huge pages";
  }
  std::vector<std::uint64_t, HugePageAllocator<std::uint64_t>> big(3 << 18);  // 6 MiB
  for (std::size_t i = 0; i < big.size(); ++i) big[i] = i * 7;
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(big.data()) % 4096, 0u);
  const std::string flags = vm_flags_of(big.data());
  ASSERT_FALSE(flags.empty()) << "no mapping holds the array";
  EXPECT_NE(flags.find(" hg"), std::string::npos) << flags;

  big.resize(big.size() * 2, 1);  // grows into a new mapping, the old one given back
  EXPECT_EQ(big[12345], 12345u * 7);
  EXPECT_EQ(big.back(), 1u);
  EXPECT_NE(vm_flags_of(big.data()).find(" hg"), std::string::npos);
}

TEST(HugePageAllocator, ASmallArrayComesFromTheHeap) {
  std::vector<std::uint32_t, HugePageAllocator<std::uint32_t>> small(1000, 5);
  EXPECT_EQ(vm_flags_of(small.data()).find(" hg"), std::string::npos);
  small.push_back(6);
  EXPECT_EQ(small.front(), 5u);
  EXPECT_EQ(small.back(), 6u);
}

}  // namespace
