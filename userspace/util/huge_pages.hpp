#pragma once
/// @file
/// @brief An allocator for large arrays read at random places (the flow store and the
/// aggregator's arrays indexed by flow): from 2 MiB on, an array is mapped on its own and
/// asks for transparent huge pages. A lookup in an array of hundreds of MB then costs a
/// cache miss, not a cache miss and a TLB miss (docs/datapath.md, "Userspace memory").
/// Where THP is off (`/sys/kernel/mm/transparent_hugepage/enabled` is `never`), the array
/// gets ordinary pages; smaller arrays come from the heap as usual.

#include <sys/mman.h>

#include <cstddef>
#include <memory>
#include <new>

namespace podpath::util {

template <typename T> class HugePageAllocator {
 public:
  using value_type = T;
  static constexpr std::size_t kHugePage = std::size_t{2} << 20;

  HugePageAllocator() noexcept = default;
  template <typename U>
  HugePageAllocator(const HugePageAllocator<U>& /*other*/) noexcept {}  // NOLINT: as std::allocator

  [[nodiscard]] T* allocate(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < kHugePage) return std::allocator<T>{}.allocate(n);
    void* p = mmap(nullptr, mapped(bytes), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    (void)madvise(p, mapped(bytes), MADV_HUGEPAGE);  // a request: refused, the pages stay small
    return static_cast<T*>(p);
  }

  void deallocate(T* p, std::size_t n) noexcept {
    const std::size_t bytes = n * sizeof(T);
    if (bytes < kHugePage) {
      std::allocator<T>{}.deallocate(p, n);
    } else {
      munmap(p, mapped(bytes));
    }
  }

  template <typename U> bool operator==(const HugePageAllocator<U>& /*other*/) const noexcept { return true; }

 private:
  static std::size_t mapped(std::size_t bytes) { return (bytes + kHugePage - 1) / kHugePage * kHugePage; }
};

}  // namespace podpath::util
