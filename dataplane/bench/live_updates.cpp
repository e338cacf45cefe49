// monami-bench's live phases: forwarding on the worker lcore while the main lcore feeds
// Binding Updates (live_updates) or moves one HoA and times the worker's switch
// (update_latency), both through live_window.
#include "dataplane/bench/bench.hpp"

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_ring.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "dataplane/bench/plan.hpp"

namespace monami::bench {

// Forwarding on the worker lcore while the main lcore offers traffic and (Flood) feeds
// Binding Updates (handovers of every HoA in turn) or (Probe) moves one HoA to a new CoA
// at random intervals and waits for the worker to use it.
Bench::Window Bench::live_window(LiveMode mode, double seconds, TrafficSpec& spec) {
    Window win;
    generator_->use(&spec, rx_[0], ports_[0]);
    std::function<void()> loop = [this] {
        dp::WorkerCtx& w = rt_->worker(0);
        rt_->worker_online(w);
        while (!shared_.stop.load(std::memory_order_relaxed)) worker_step();
        rt_->worker_offline(w);
    };
    bool threaded = worker_lcore_ < RTE_MAX_LCORE;
    shared_.stop.store(false);
    if (threaded) rte_eal_remote_launch(worker_lcore_main, &loop, worker_lcore_);

    std::uint64_t busy0 = shared_.busy_cycles, packets0 = shared_.packets;
    const std::uint64_t control_frames0 = rt_->worker(0).counters.control_tx;
    shared_.sample_count = 0;
    std::uint64_t start = rte_rdtsc();
    auto end = start + static_cast<std::uint64_t>(seconds * tsc_hz_);
    std::uint32_t next_hoa = 0;
    std::mt19937 rng(3);
    std::vector<std::vector<std::uint8_t>> frames(32);
    std::vector<double> latencies;
    unsigned probe = 0;
    bool waiting = false;
    std::uint64_t next_probe = start, probe_started = 0;
    dp::WorkerCtx& w = rt_->worker(0);
    while (rte_rdtsc() < end) {
        if (rte_ring_count(rx_[0]) < 512) generator_->fill(128);
        collect();
        if (mode == LiveMode::Busy) {
            // About as long as a batch of 32 BUs, then the generator's turn again.
            std::uint64_t x = rte_rdtsc() | 1;
            const std::uint64_t until = rte_rdtsc() + static_cast<std::uint64_t>(tsc_hz_ / 3000);
            while (rte_rdtsc() < until)
                for (int k = 0; k < 64; ++k) {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                }
            shared_.busy_sink += x;
        } else if (mode == LiveMode::Flood && rte_ring_count(w.control_tx) < 512) {
            for (auto& f : frames) {
                bench::Registration r;
                r.hoa = next_hoa;
                r.coas = opt_.coas;
                r.generation = static_cast<std::uint8_t>(generation_ + 1);
                r.sequence = next_sequence(r.hoa);
                f = bench::build_bu_frame(plan_, r);
                if (++next_hoa == opt_.hoas) {
                    next_hoa = 0;
                    generation_ = static_cast<std::uint8_t>(generation_ + 1);
                }
            }
            std::uint64_t t0 = rte_rdtsc();
            for (const auto& f : frames) feed_control(f);
            rt_->reclaim();
            agent_->on_tick(now_ms());
            win.control_cycles += rte_rdtsc() - t0;
            win.updates += frames.size();
        } else if (mode == LiveMode::Probe) {
            std::uint64_t now = rte_rdtsc();
            if (!waiting && now >= next_probe && probe < opt_.probes) {
                bench::Registration r;
                r.hoa = 0;
                r.sequence = next_sequence(0);
                r.handover = true;
                Ipv6Address coa{{0x20, 0x01, 0x0d, 0xb8, 0xc1, 0}};
                Plan::store(coa.bytes.data() + 12, probe + 1);
                r.handover_coa = coa;
                auto frame = bench::build_bu_frame(plan_, r);
                dataplane_->expect_probe(Plan::home_address(0));
                feed_control(frame);
                rt_->reclaim();
                if (!dataplane_->probe_armed() || dataplane_->probe_ba_tsc == 0) {
                    failures_.push_back("latency probe " + std::to_string(probe) +
                                        " was not accepted");
                    break;
                }
                waiting = true;
                probe_started = now;
            } else if (waiting) {
                std::uint64_t seen = shared_.probe_seen_tsc.load(std::memory_order_acquire);
                if (seen != 0) {
                    auto delta = static_cast<std::int64_t>(seen - dataplane_->probe_ba_tsc);
                    latencies.push_back(std::max<std::int64_t>(0, delta) / tsc_hz_ * 1e6);
                    waiting = false;
                    ++probe;
                    // 20..200 us apart: updates land anywhere in the worker's loop.
                    next_probe =
                        now + static_cast<std::uint64_t>((20 + rng() % 180) * tsc_hz_ / 1e6);
                } else if (now - probe_started > static_cast<std::uint64_t>(tsc_hz_ / 100)) {
                    shared_.probe_slot.store(kNoProbe);
                    ++probe_timeouts_;
                    waiting = false;
                    ++probe;
                }
            }
            if (probe >= opt_.probes && !waiting) break;
            rt_->reclaim();
        } else {
            rt_->reclaim();
        }
        if (!threaded)
            while (rte_ring_count(rx_[0]) != 0 || rte_ring_count(w.control_tx) != 0) worker_step();
    }
    win.seconds = static_cast<double>(rte_rdtsc() - start) / tsc_hz_;
    shared_.stop.store(true);
    if (threaded) rte_eal_wait_lcore(worker_lcore_);
    win.busy_cycles = shared_.busy_cycles - busy0;
    win.packets = shared_.packets - packets0;
    win.control_frames = rt_->worker(0).counters.control_tx - control_frames0;
    win.stats = cycle_stats(shared_);
    if (mode == LiveMode::Probe) latency_ = percentiles(latencies);
    flush();
    return win;
}

void Bench::live_updates() {
    TrafficSpec spec;
    spec.direction = Direction::Encap;
    spec.sizes = {64};
    spec.destinations = bench::destination_sequence(
        Distribution::Uniform, 0, opt_.hoas, std::min<std::size_t>(1u << 20, opt_.hoas * 4u), 0, 5);
    collector_.strict_care_of = false;  // handovers move HoAs to other CoAs from now on
    Mark m0 = mark();
    Window quiet = live_window(LiveMode::Quiet, opt_.duration_s, spec);
    Window flood = live_window(LiveMode::Flood, opt_.duration_s, spec);
    Window busy = live_window(LiveMode::Busy, opt_.duration_s, spec);
    Mark m1 = mark();
    check_counts("forwarding during updates", m0, m1, 1);
    auto cpp = [](const Window& w) {
        return w.packets ? static_cast<double>(w.busy_cycles) / w.packets : 0.0;
    };
    live_quiet_cpp_ = cpp(quiet);
    live_flood_cpp_ = cpp(flood);
    live_quiet_wall_mpps_ = quiet.packets / quiet.seconds / 1e6;
    live_flood_wall_mpps_ = flood.packets / flood.seconds / 1e6;
    live_updates_ = flood.updates;
    bu_live_per_second_ =
        flood.control_cycles ? flood.updates / (flood.control_cycles / tsc_hz_) : 0;
    live_quiet_full_cpp_ = quiet.stats.full_burst_cycles_per_packet;
    live_flood_full_cpp_ = flood.stats.full_burst_cycles_per_packet;
    live_busy_full_cpp_ = busy.stats.full_burst_cycles_per_packet;
    live_quiet_burst_ = quiet.stats.mean_burst;
    live_flood_burst_ = flood.stats.mean_burst;
    live_control_frames_ = flood.control_frames;
    std::fprintf(stderr,
                 "[updates while forwarding] %.0f BU/s; worker %.0f -> %.0f cycles/packet "
                 "(bursts of %.1f -> %.1f packets, %lu control frames sent); in full bursts "
                 "%.0f -> %.0f, and %.0f beside a core busy with arithmetic alone\n",
                 bu_live_per_second_, live_quiet_cpp_, live_flood_cpp_, live_quiet_burst_,
                 live_flood_burst_, live_control_frames_, live_quiet_full_cpp_,
                 live_flood_full_cpp_, live_busy_full_cpp_);
}

void Bench::update_latency() {
    if (opt_.probes == 0) return;
    TrafficSpec spec;
    spec.direction = Direction::Encap;
    spec.sizes = {64};
    spec.destinations = bench::destination_sequence(
        Distribution::Uniform, 0, opt_.hoas, std::min<std::size_t>(1u << 20, opt_.hoas * 4u), 0, 9);
    spec.probe_hoa = 0;
    collector_.strict_care_of = false;  // HoA 0 moves to new CoAs
    Mark m0 = mark();
    live_window(LiveMode::Probe, 3600, spec);
    Mark m1 = mark();
    check_counts("update latency", m0, m1, 1);
    std::fprintf(
        stderr,
        "[update latency] p50 %.1f us, p99 %.1f us, p99.9 %.1f us (%zu samples, %u timeouts)\n",
        latency_.p50, latency_.p99, latency_.p999, latency_.samples, probe_timeouts_);
}

}  // namespace monami::bench
