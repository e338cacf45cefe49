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

// One worker's counters as another thread reads them (relaxed loads, field by field).
inline WorkerCounters read_counters(const WorkerCounters& c) {
    WorkerCounters s;
    s.rx_packets = read_counter(c.rx_packets);
    s.rx_bytes = read_counter(c.rx_bytes);
    s.tx_packets = read_counter(c.tx_packets);
    s.tx_bytes = read_counter(c.tx_bytes);
    s.forwarded = read_counter(c.forwarded);
    s.punted = read_counter(c.punted);
    s.control_tx = read_counter(c.control_tx);
    s.encapsulated = read_counter(c.encapsulated);
    s.decapsulated = read_counter(c.decapsulated);
    s.busy_cycles = read_counter(c.busy_cycles);
    for (std::size_t r = 0; r < kDropReasonCount; ++r) s.drops[r] = read_counter(c.drops[r]);
    return s;
}

inline WorkerCounters& operator+=(WorkerCounters& total, const WorkerCounters& c) {
    total.rx_packets += c.rx_packets;
    total.rx_bytes += c.rx_bytes;
    total.tx_packets += c.tx_packets;
    total.tx_bytes += c.tx_bytes;
    total.forwarded += c.forwarded;
    total.punted += c.punted;
    total.control_tx += c.control_tx;
    total.encapsulated += c.encapsulated;
    total.decapsulated += c.decapsulated;
    total.busy_cycles += c.busy_cycles;
    for (std::size_t r = 0; r < kDropReasonCount; ++r) total.drops[r] += c.drops[r];
    return total;
}

}  // namespace monami::dp
