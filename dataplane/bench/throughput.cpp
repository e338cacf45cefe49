// monami-bench's throughput scenarios: the same traffic through monami's pipeline, the
// equal-work peer and io forwarding, with the worker's cycles per packet for each.
#include "dataplane/bench/bench.hpp"

#include <rte_cycles.h>
#include <rte_ring.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/bench/plan.hpp"

namespace monami::bench {

ScenarioResult Bench::throughput(const std::string& name, Direction dir,
                                 const std::vector<std::uint16_t>& sizes, Distribution dist) {
    ScenarioResult r;
    r.name = name;
    r.direction = dir;
    r.distribution = bench::to_string(dist);
    r.sizes = sizes.size() == 1 ? std::to_string(sizes[0]) + "B" : "IMIX";
    TrafficSpec spec;
    spec.direction = dir;
    spec.sizes = sizes;
    if (dir == Direction::Ncast) {
        spec.destination_port = bench::kNcastPort;
        std::uint32_t count = opt_.hoas / ncast_period_;
        auto seq = bench::destination_sequence(dist, 0, count, 1u << 18, opt_.zipf_s, 7);
        for (auto& x : seq) x = x * ncast_period_ + ncast_period_ - 1;
        spec.destinations = std::move(seq);
    } else {
        spec.destinations = bench::destination_sequence(
            dist, 0, opt_.hoas, std::min<std::size_t>(1u << 20, opt_.hoas * 4u), opt_.zipf_s, 1);
    }
    int in = dir == Direction::Decap ? 1 : 0;
    generator_->use(&spec, rx_[in], ports_[in]);
    unsigned copies = dir == Direction::Ncast ? 2 : 1;

    // Pipeline, then the peer router, then the io baseline, the same traffic; the worker
    // always sees full bursts: the generator offers 512 packets, the worker runs until its RX
    // ring is empty (timed), the collector takes what came out.
    for (Forwarder forwarder : {Forwarder::Monami, Forwarder::Peer, Forwarder::IoBaseline}) {
        shared_.forwarder.store(forwarder);
        using Expect = Collector::Expect;
        collector_.expect = forwarder == Forwarder::Monami       ? Expect::Pipeline
                            : forwarder == Forwarder::IoBaseline ? Expect::Anything
                            : dir == Direction::Decap            ? Expect::RoutedToHome
                                                                 : Expect::RoutedToAccess;
        Mark m0 = mark();
        std::uint64_t busy0 = shared_.busy_cycles, packets0 = shared_.packets;
        shared_.sample_count = 0;
        std::uint64_t start = rte_rdtsc();
        auto end = start + static_cast<std::uint64_t>(opt_.duration_s * tsc_hz_);
        while (rte_rdtsc() < end) {
            generator_->fill(256);
            generator_->fill(256);
            while (rte_ring_count(rx_[in]) != 0) worker_step();
            collect();
        }
        flush();
        double seconds = static_cast<double>(rte_rdtsc() - start) / tsc_hz_;
        Mark m1 = mark();
        const char* suffix = forwarder == Forwarder::Peer         ? " (peer)"
                             : forwarder == Forwarder::IoBaseline ? " (baseline)"
                                                                  : "";
        // n-cast copies are monami's work; the peer and the baseline send each packet once.
        check_counts(name + suffix, m0, m1, forwarder == Forwarder::Monami ? copies : 1, forwarder);
        double packets = static_cast<double>(shared_.packets - packets0);
        (void)busy0;
        CycleStats st = cycle_stats(shared_);
        double cpp = st.cycles_per_packet;
        double mpps = cpp > 0 ? tsc_hz_ / cpp / 1e6 : 0;
        if (forwarder == Forwarder::IoBaseline) {
            r.baseline_raw_cycles_per_packet = st.raw_cycles_per_packet;
            r.baseline_cycles_per_packet = cpp;
            r.baseline_mpps = mpps;
        } else if (forwarder == Forwarder::Peer) {
            r.peer_raw_cycles_per_packet = st.raw_cycles_per_packet;
            r.peer_cycles_per_packet = cpp;
            r.peer_mpps = mpps;
        } else {
            r.packets = static_cast<std::uint64_t>(packets);
            r.cycles_per_packet = cpp;
            r.raw_cycles_per_packet = st.raw_cycles_per_packet;
            r.preempted_share = st.trimmed_share;
            r.mpps = mpps;
            r.wall_mpps = packets / seconds / 1e6;
        }
    }
    shared_.forwarder.store(Forwarder::Monami);
    collector_.expect = Collector::Expect::Pipeline;
    if (!opt_.json || isatty(2))
        std::fprintf(stderr,
                     "[%s] %.2f Mpps, %.0f cycles/packet; peer %.0f cycles/packet (x%.2f); "
                     "baseline %.2f Mpps, %.0f cycles/packet\n",
                     name.c_str(), r.mpps, r.cycles_per_packet, r.peer_cycles_per_packet,
                     r.vs_peer(), r.baseline_mpps, r.baseline_cycles_per_packet);
    scenarios_.push_back(r);
    return r;
}

}  // namespace monami::bench
