// Per-worker counters: written by one worker only, read by telemetry with relaxed loads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace monami::dp {

enum class DropReason : std::uint8_t {
#define X(name, text, meaning) name,
#include "dataplane/drop_reasons.def"
#undef X
    Count
};
inline constexpr std::size_t kDropReasonCount = static_cast<std::size_t>(DropReason::Count);

inline constexpr std::string_view kDropReasonNames[] = {
#define X(name, text, meaning) text,
#include "dataplane/drop_reasons.def"
#undef X
};
static_assert(std::size(kDropReasonNames) == kDropReasonCount);

// Single-writer counter update: a plain add that readers on other threads may load
// without a data race.
inline void bump(std::uint64_t& counter, std::uint64_t n = 1) {
    __atomic_store_n(&counter, counter + n, __ATOMIC_RELAXED);
}
inline std::uint64_t read_counter(const std::uint64_t& counter) {
    return __atomic_load_n(&counter, __ATOMIC_RELAXED);
}

struct alignas(64) WorkerCounters {
    std::uint64_t rx_packets = 0;
    std::uint64_t rx_bytes = 0;
    std::uint64_t tx_packets = 0;
    std::uint64_t tx_bytes = 0;
    std::uint64_t forwarded = 0;
    std::uint64_t punted = 0;
    std::uint64_t control_tx = 0;  // frames sent on behalf of the control thread
    std::uint64_t encapsulated = 0;
    std::uint64_t decapsulated = 0;
    // TSC cycles of the iterations that received packets (from before the RX bursts to after
    // the last packet was handled): busy_cycles / rx_packets is the worker's cost per packet
    // whatever the offered load, busy_cycles / elapsed cycles its busy share.
    std::uint64_t busy_cycles = 0;
    std::uint64_t drops[kDropReasonCount] = {};
};

}  // namespace monami::dp
