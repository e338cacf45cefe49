// Hashing of 16-byte addresses for the control plane's unordered maps (the ordered maps'
// memcmp comparisons were 15% of a Binding Update's cost, docs/performance.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "dataplane/api/types.hpp"

namespace monami::ha {

inline std::uint64_t mix_address(const Ipv6Address& a, std::uint64_t extra = 0) {
    std::uint64_t hi, lo;
    std::memcpy(&hi, a.bytes.data(), 8);
    std::memcpy(&lo, a.bytes.data() + 8, 8);
    // The interface identifier (lo) varies most: mix it fully (splitmix64 finalizer).
    std::uint64_t h = (lo ^ extra) + hi * 0x9e3779b97f4a7c15ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

struct Ipv6AddressHash {
    std::size_t operator()(const Ipv6Address& a) const {
        return static_cast<std::size_t>(mix_address(a));
    }
};

}  // namespace monami::ha
