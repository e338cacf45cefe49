// CRC32C (Castagnoli, reflected) of 8-byte words: what SSE4.2's crc32 instruction computes
// (no pre/post inversion), and what rte_hash_crc_8byte returns. Used for the flow hash and
// the HoA index's signatures. Plain C++; the bitwise form gives the same values on CPUs
// without the instruction.
#pragma once

#include <cstdint>
#if defined(__SSE4_2__) && defined(__x86_64__)
#include <nmmintrin.h>
#endif

namespace monami::dp {

inline std::uint32_t crc32c_u64_bitwise(std::uint32_t crc, std::uint64_t block) {
    std::uint64_t c = crc ^ block;
    for (int bit = 0; bit < 64; ++bit) c = (c >> 1) ^ (0x82f63b78u & (0u - (c & 1)));
    return static_cast<std::uint32_t>(c);
}

inline std::uint32_t crc32c_u64(std::uint32_t crc, std::uint64_t block) {
#if defined(__SSE4_2__) && defined(__x86_64__)
    return static_cast<std::uint32_t>(_mm_crc32_u64(crc, block));
#else
    return crc32c_u64_bitwise(crc, block);
#endif
}

}  // namespace monami::dp
