// monami-bench's measurement: cycle statistics over the worker's busy iterations, and
// what the bench's DataPlanes do on the way to the Runtime (probes armed, slots moved).
#include "dataplane/bench/measurement.hpp"

#include <rte_cycles.h>

#include <algorithm>

#include "dataplane/tuning.hpp"

namespace monami::bench {

CycleStats cycle_stats(const WorkerShared& shared) {
    CycleStats st;
    std::size_t n = std::min(shared.sample_count, shared.samples.size());
    if (n == 0) return st;
    std::vector<double> per_packet(n);
    double cycles = 0, packets = 0;
    for (std::size_t i = 0; i < n; ++i) {
        per_packet[i] = static_cast<double>(shared.samples[i].first) / shared.samples[i].second;
        cycles += shared.samples[i].first;
        packets += shared.samples[i].second;
    }
    st.raw_cycles_per_packet = cycles / packets;
    st.mean_burst = packets / static_cast<double>(n);
    double full_cycles = 0, full_packets = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (shared.samples[i].second != dp::kBurstSize) continue;
        full_cycles += shared.samples[i].first;
        full_packets += shared.samples[i].second;
    }
    st.full_burst_cycles_per_packet = full_packets > 0 ? full_cycles / full_packets : 0;
    std::vector<double> sorted = per_packet;
    std::nth_element(sorted.begin(), sorted.begin() + static_cast<std::ptrdiff_t>(n / 2),
                     sorted.end());
    double limit = 8 * sorted[n / 2];
    double kept_cycles = 0, kept_packets = 0;
    std::size_t dropped = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (per_packet[i] > limit) {
            ++dropped;
            continue;
        }
        kept_cycles += shared.samples[i].first;
        kept_packets += shared.samples[i].second;
    }
    st.cycles_per_packet = kept_packets > 0 ? kept_cycles / kept_packets : 0;
    st.trimmed_share = static_cast<double>(dropped) / static_cast<double>(n);
    return st;
}

bool MeasuringDataPlane::send_frame(PortId port, std::span<const std::uint8_t> frame) {
    if (probe_pending_ && probe_armed_) {
        probe_ba_tsc = rte_rdtsc();  // the BA is built: the only frame a probe BU causes
        probe_pending_ = false;
    }
    return rt_.send_frame(port, frame);
}

void MeasuringDataPlane::publish_hoa(const HoaSnapshot& snapshot) {
    ++published;
    if (probe_pending_ && snapshot.home_address == probe_hoa_ && snapshot.path_count == 1) {
        // Armed before the worker can see the snapshot: the first packet counted on the
        // new path after this point was encapsulated with the new CoA.
        std::uint32_t slot = snapshot.paths[0].counter_slot;
        shared_.probe_seen_tsc.store(0, std::memory_order_relaxed);
        shared_.probe_baseline.store(read_worker_packets(slot), std::memory_order_relaxed);
        shared_.probe_slot.store(slot, std::memory_order_release);
        probe_armed_ = true;
    }
    rt_.publish_hoa(snapshot);
}

bool SideDataPlane::send_frame(PortId port, std::span<const std::uint8_t> frame) {
    if (on_send) on_send(port, frame);
    return rt_.send_frame(port, frame);
}

void SideDataPlane::publish_hoa(const HoaSnapshot& snapshot) {
    // The agent's snapshot is its own: the shifted slots go into a copy.
    HoaSnapshot shifted = snapshot;
    for (unsigned i = 0; i < shifted.path_count; ++i) shifted.paths[i].counter_slot += slot_offset_;
    if (on_publish) on_publish(shifted);
    rt_.publish_hoa(shifted);
}

}  // namespace monami::bench
