// monami-bench's provisioning phases: every HoA registered through HomeAgent::on_frame
// (register_all, provision), then the lifetime renewals (refresh).
#include "dataplane/bench/bench.hpp"

#include <malloc.h>
#include <rte_cycles.h>
#include <rte_ring.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "dataplane/bench/plan.hpp"

namespace monami::bench {

// Bulk registrations of every HoA through HomeAgent::on_frame, timed on the control side
// (parse, validate, binding cache, snapshot, publish, BA built and queued).
// Registers (or re-registers) HoAs 0..count-1 with their provisioned CoAs, 256 BUs at a
// time, and returns the control thread's cycles for them (on_frame through BA, reclaim).
std::uint64_t Bench::register_all(const char* phase, std::uint32_t count) {
    constexpr unsigned kChunk = 256;  // BAs and NAs of a chunk fit the control TX ring
    dp::WorkerCtx& w = rt_->worker(0);
    std::uint64_t control_cycles = 0;
    std::vector<std::vector<std::uint8_t>> frames(kChunk);
    std::vector<std::uint32_t> order(count);
    std::iota(order.begin(), order.end(), 0u);
    if (opt_.shuffled_registrations) std::shuffle(order.begin(), order.end(), std::mt19937(7));
    for (std::uint32_t first = 0; first < count; first += kChunk) {
        unsigned n = std::min<std::uint32_t>(kChunk, count - first);
        for (unsigned j = 0; j < n; ++j) {
            bench::Registration r;
            r.hoa = order[first + j];
            r.coas = opt_.coas;
            r.sequence = next_sequence(r.hoa);
            r.ncast_flow = is_ncast_hoa(r.hoa);
            frames[j] = bench::build_bu_frame(plan_, r);
        }
        std::uint64_t t0 = rte_rdtsc();
        for (unsigned j = 0; j < n; ++j) feed_control(frames[j]);
        rt_->reclaim();
        control_cycles += rte_rdtsc() - t0;
        while (rte_ring_count(w.control_tx) != 0) rt_->worker_iteration(w);  // BAs and NAs out
        collect();
        progress(phase, first + n, count,
                 (first + n) / (static_cast<double>(control_cycles) / tsc_hz_), "BU/s");
    }
    flush();
    end_progress();
    return control_cycles;
}

void Bench::provision() {
    struct mallinfo2 heap0 = mallinfo2();
    Mark m0 = mark();
    std::uint64_t control_cycles = register_all("provision", opt_.hoas);
    struct mallinfo2 heap1 = mallinfo2();
    bu_seconds_ = static_cast<double>(control_cycles) / tsc_hz_;
    bu_per_second_ = opt_.hoas / bu_seconds_;
    acks_ = collector_.acks;
    snapshot_bytes_ = rt_->snapshot_bytes();  // packed blocks, from the rte_malloc arena
    double bindings = static_cast<double>(opt_.hoas) * opt_.coas;
    control_bytes_per_binding_ =
        (static_cast<double>(heap1.uordblks) - static_cast<double>(heap0.uordblks)) / bindings;
    if (collector_.acks != opt_.hoas || collector_.rejected_acks != 0)
        failures_.push_back("provision: " + std::to_string(collector_.acks) + " BAs accepted, " +
                            std::to_string(collector_.rejected_acks) + " rejected, of " +
                            std::to_string(opt_.hoas) + " BUs");
    if (rt_->home_address_count() != opt_.hoas)
        failures_.push_back("provision: " + std::to_string(rt_->home_address_count()) +
                            " HoAs in the data plane");
    Mark m1 = mark();
    check_counts("provision", m0, m1, 1);
}

// Lifetime renewals: the same CoAs again with the next sequence number, for the first
// min(N, kRefreshed) HoAs (the steady state of a registered population).
void Bench::refresh() {
    constexpr std::uint32_t kRefreshed = 200000;
    std::uint32_t count = std::min(opt_.hoas, kRefreshed);
    std::uint64_t acks0 = collector_.acks, rejected0 = collector_.rejected_acks;
    Mark m0 = mark();
    std::uint64_t control_cycles = register_all("refresh", count);
    refreshed_ = count;
    bu_per_second_refresh_ = count / (static_cast<double>(control_cycles) / tsc_hz_);
    if (collector_.acks - acks0 != count || collector_.rejected_acks != rejected0)
        failures_.push_back("refresh: " + std::to_string(collector_.acks - acks0) +
                            " BAs accepted, " +
                            std::to_string(collector_.rejected_acks - rejected0) +
                            " rejected, of " + std::to_string(count) + " BUs");
    if (rt_->home_address_count() != opt_.hoas)
        failures_.push_back("refresh: " + std::to_string(rt_->home_address_count()) +
                            " HoAs in the data plane");
    Mark m1 = mark();
    check_counts("refresh", m0, m1, 1);
}

}  // namespace monami::bench
