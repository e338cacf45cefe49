// Memory for the control plane's large tables on transparent huge pages. A table of a
// million HoAs spans hundreds of MB: on 4 KB pages every random probe also misses the TLB,
// and a page walk of that much memory misses in cache too (twice over in a VM). Arrays of
// at least 2 MB (the slot arrays of reserved hash tables) are mapped 2 MB-aligned and
// advised MADV_HUGEPAGE, which takes effect with THP "always" or "madvise" (the default),
// and faulted in at once; smaller ones come from the ordinary heap (docs/performance.md,
// "Round 6: large pages").
#pragma once

#include <cstddef>
#include <memory>
#include <new>

namespace monami {

// 2 MB-aligned and advised for huge pages; throws std::bad_alloc when mapping fails.
void* map_large(std::size_t bytes);
void unmap_large(void* p, std::size_t bytes);
inline constexpr std::size_t kLargePageBytes = std::size_t{2} << 20;

template <class T>
struct LargePageAllocator {
    using value_type = T;
    LargePageAllocator() = default;
    template <class U>
    LargePageAllocator(const LargePageAllocator<U>&) noexcept {}

    T* allocate(std::size_t n) {
        if (n * sizeof(T) < kLargePageBytes) return std::allocator<T>{}.allocate(n);
        return static_cast<T*>(map_large(n * sizeof(T)));
    }
    void deallocate(T* p, std::size_t n) noexcept {
        if (n * sizeof(T) < kLargePageBytes)
            std::allocator<T>{}.deallocate(p, n);
        else
            unmap_large(p, n * sizeof(T));
    }
    template <class U>
    bool operator==(const LargePageAllocator<U>&) const noexcept {
        return true;
    }
};

}  // namespace monami
