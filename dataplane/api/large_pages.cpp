#include "dataplane/api/large_pages.hpp"

#include <sys/mman.h>

#include <cstdint>

namespace monami {
namespace {

std::size_t rounded(std::size_t bytes) {
    return (bytes + kLargePageBytes - 1) & ~(kLargePageBytes - 1);
}

}  // namespace

void* map_large(std::size_t bytes) {
    const std::size_t length = rounded(bytes);
    // Mapped one large page longer, then trimmed to a 2 MB boundary at both ends.
    void* raw = mmap(nullptr, length + kLargePageBytes, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED) throw std::bad_alloc();
    const auto start = reinterpret_cast<std::uintptr_t>(raw);
    const std::uintptr_t aligned = rounded(start);
    if (aligned != start) munmap(raw, aligned - start);
    const std::size_t tail = start + length + kLargePageBytes - (aligned + length);
    if (tail) munmap(reinterpret_cast<void*>(aligned + length), tail);
    // Advice only: where THP is off the pages stay 4 KB and everything still works.
    madvise(reinterpret_cast<void*>(aligned), length, MADV_HUGEPAGE);
    // Faulted in now (a table is reserved at start), not 2 MB at a time under the first
    // registrations that touch it. Kernels before 5.14 refuse it: then they fault as touched.
    madvise(reinterpret_cast<void*>(aligned), length, MADV_POPULATE_WRITE);
    return reinterpret_cast<void*>(aligned);
}

void unmap_large(void* p, std::size_t bytes) {
    munmap(p, rounded(bytes));
}

}  // namespace monami
