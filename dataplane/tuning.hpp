// Fast-path tuning constants, set by benchmark (l3fwd's values as the starting point).
#pragma once

#include <cstdint>

namespace monami::dp {

inline constexpr std::uint16_t kBurstSize = 32;
inline constexpr unsigned kPrefetchOffset = 3;
inline constexpr std::uint64_t kTxDrainMicroseconds = 100;
inline constexpr unsigned kControlTxRingSize = 1024;

}  // namespace monami::dp
