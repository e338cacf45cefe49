// monami-bench's failover phase: one HoA's CoA stops answering heartbeats under traffic,
// timed from detection to the worker carrying its flows on the other CoA.
#include "dataplane/bench/bench.hpp"

#include <rte_cycles.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <iterator>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "config/schema.hpp"
#include "controlplane/mh/exthdr.hpp"
#include "controlplane/mh/parser.hpp"
#include "controlplane/net/icmpv6.hpp"
#include "controlplane/net/packet.hpp"
#include "dataplane/bench/plan.hpp"
#include "dataplane/counters.hpp"

namespace monami::bench {

// Failover of one HoA with two CoAs under traffic (worker on lcore 1, control and generator
// on lcore 0), through a HomeAgent with RFC 5847 heartbeats and a weighted policy (flows
// spread over both CoAs). Per cycle: register the HoA anew (fresh CoAs), learn which CoA
// carries which of its flows, answer both CoAs' heartbeats for two intervals, then leave
// one CoA's unanswered. The agent's clock is virtual (an interval per step), so the misses
// come at once; the packets are real. Detection = the start of the on_tick after which the
// agent published that CoA no longer Live (the first miss makes it Suspect, and the policy
// takes its flows off it then; three misses make it Dead). The worker's probe stamps the
// first iteration in which the other CoA's counter slot carried a packet of those flows.
void Bench::failover() {
    const unsigned cycles = std::min(opt_.probes, 200u);
    if (cycles == 0) return;
    ha::HaSettings s = settings_;
    s.bindings.max_bindings = kFailoverPaths;
    s.max_paths = kFailoverPaths;
    s.liveness = ha::LivenessSettings{};  // heartbeats every second, Dead after 3 misses
    config::Rule spread;
    spread.mode = config::RuleMode::weighted;
    s.policies.profiles.push_back({"bench-failover", {spread}});
    s.policies.default_profile = "bench-failover";
    s.policies.default_profile_index = s.policies.profiles.size() - 1;
    const std::uint32_t interval = s.liveness.interval_ms;
    const HomeAddress hoa = Plan::home_address(failover_hoa_);

    struct Watch {
        Ipv6Address coa[2];
        std::uint32_t slot[2] = {};
        bool present[2] = {};
        BindingState state[2] = {};
        int failing = -1;  // CoA number whose publications are watched
        std::uint64_t left_live_tsc = 0;
        bool dead = false;
    } watch;
    SideDataPlane side(*rt_, failover_slot_offset_);
    side.on_publish = [&](const HoaSnapshot& snap) {
        if (snap.home_address != hoa) return;
        for (int k = 0; k < 2; ++k) {
            watch.present[k] = false;
            for (unsigned i = 0; i < snap.path_count; ++i)
                if (snap.paths[i].care_of == watch.coa[k]) {
                    watch.present[k] = true;
                    watch.slot[k] = snap.paths[i].counter_slot;
                    watch.state[k] = snap.paths[i].state;
                }
        }
        if (watch.failing < 0) return;
        BindingState st =
            watch.present[watch.failing] ? watch.state[watch.failing] : BindingState::Dead;
        if (st != BindingState::Live && watch.left_live_tsc == 0) watch.left_live_tsc = rte_rdtsc();
        if (st == BindingState::Dead) watch.dead = true;
    };
    std::vector<std::pair<CareOfAddress, std::uint32_t>> requests;  // heartbeats sent
    side.on_send = [&](PortId, std::span<const std::uint8_t> frame) {
        auto p = net::parse_ipv6_frame(frame);
        if (!p || p->next_header != net::kProtoMobility) return;
        auto chain = mh::walk_ipv6_headers(p->ip);
        if (!chain.ok() || chain->upper_layer_protocol != net::kProtoMobility) return;
        auto parsed = mh::parse_mh(chain->upper_layer(p->ip), chain->checksum_source(),
                                   chain->checksum_destination());
        if (!parsed.ok()) return;
        if (const auto* hb = std::get_if<mh::Heartbeat>(&parsed->message))
            if (!hb->response) requests.push_back({p->destination, hb->sequence});
    };
    std::uint64_t clock = now_ms();  // the agent's (virtual) milliseconds
    ha::HomeAgent agent(s, side);
    agent.start(clock);
    rt_->reclaim();  // the routing state start() replaced
    auto answer_all_but = [&](int silent) {
        auto pending = std::move(requests);
        requests.clear();
        for (const auto& [coa, sequence] : pending)
            if (silent < 0 || coa != watch.coa[silent])
                agent.on_frame(ports_[1], PuntReason::Local, 0,
                               bench::build_heartbeat_response_frame(plan_, coa, sequence), clock);
    };

    FailoverFlows flows;
    flows.hoa = failover_hoa_;
    TrafficSpec spec;
    spec.direction = Direction::Encap;
    spec.sizes = {64};
    spec.destinations =
        bench::destination_sequence(Distribution::Uniform, 0, opt_.hoas,
                                    std::min<std::size_t>(1u << 20, opt_.hoas * 4u), 0, 11);
    spec.failover = &flows;
    generator_->use(&spec, rx_[0], ports_[0]);
    collector_.strict_care_of = false;  // the failover HoA's CoAs change every cycle
    auto& seen = collector_.failover;
    seen.enabled = true;
    seen.hoa = hoa;

    Mark m0 = mark();
    std::function<void()> loop = [this] {
        dp::WorkerCtx& w = rt_->worker(0);
        rt_->worker_online(w);
        while (!shared_.stop.load(std::memory_order_relaxed)) worker_step();
        rt_->worker_offline(w);
    };
    const bool threaded = worker_lcore_ < RTE_MAX_LCORE;
    shared_.stop.store(false);
    if (threaded) rte_eal_remote_launch(worker_lcore_main, &loop, worker_lcore_);
    dp::WorkerCtx& w = rt_->worker(0);
    auto pump = [&] {
        if (rte_ring_count(rx_[0]) < 512) generator_->fill(128);
        collect();
        if (!threaded)
            while (rte_ring_count(rx_[0]) != 0 || rte_ring_count(w.control_tx) != 0) worker_step();
        rt_->reclaim();
    };
    auto failover_state = [&] {
        dp::WorkerCounters t = rt_->totals();
        std::string out = "offered " + std::to_string(flows.offered_total()) + ", collected " +
                          std::to_string(seen.total) + " (" +
                          std::to_string(seen.other_generation) +
                          " of other cycles), generator mbufs free " +
                          std::to_string(rte_mempool_avail_count(pool_)) + ", RX ring " +
                          std::to_string(rte_ring_count(rx_[0])) + ", drops:";
        for (std::size_t i = 0; i < dp::kDropReasonCount; ++i)
            if (t.drops[i] != 0)
                out +=
                    " " + std::string(dp::kDropReasonNames[i]) + " " + std::to_string(t.drops[i]);
        return out;
    };
    auto ticks = [&](double us) { return static_cast<std::uint64_t>(us * tsc_hz_ / 1e6); };
    auto pump_for = [&](double us) {
        std::uint64_t end = rte_rdtsc() + ticks(us);
        while (rte_rdtsc() < end) pump();
    };
    auto pump_until = [&](const std::function<bool()>& done, double us) {
        std::uint64_t end = rte_rdtsc() + ticks(us);
        while (!done()) {
            if (rte_rdtsc() > end) return false;
            pump();
        }
        return true;
    };

    std::vector<double> latencies, publish;
    std::uint64_t flows_offered0[3] = {};
    std::uint64_t started = rte_rdtsc();
    std::uint16_t sequence = 0;
    std::string problem;
    for (unsigned cycle = 0; cycle < cycles && problem.empty(); ++cycle) {
        if (rte_rdtsc() - started > ticks(5e6)) break;  // at most 5 s
        auto generation = static_cast<std::uint8_t>(cycle % 255 + 1);
        for (int k = 0; k < 2; ++k) watch.coa[k] = Plan::care_of(failover_hoa_, k, generation);
        watch.failing = -1;
        watch.left_live_tsc = 0;
        watch.dead = false;
        seen.start_cycle(generation);
        std::copy(std::begin(flows.offered), std::end(flows.offered), flows_offered0);
        std::fill(std::begin(flows.size), std::end(flows.size), FailoverFlows::kLearnSize);

        // A fresh registration: both CoAs new, so both paths start Live.
        clock += 10 * interval;
        bench::Registration r;
        r.hoa = failover_hoa_;
        r.coas = 2;
        r.generation = generation;
        r.sequence = ++sequence;
        agent.on_frame(ports_[1], PuntReason::Local, 0, bench::build_bu_frame(plan_, r), clock);
        agent.on_tick(clock);
        requests.clear();
        if (!watch.present[0] || !watch.present[1]) {
            problem = "the registration was not published";
            break;
        }
        flows.on = true;
        if (!pump_until(
                [&] {
                    return std::none_of(std::begin(seen.last_coa), std::end(seen.last_coa),
                                        [](std::uint8_t c) { return c == 0xff; });
                },
                1e6)) {
            problem = "flows of the failover HoA did not all come out (" + failover_state() + ")";
            break;
        }
        int failing = seen.last_coa[0];
        int healthy = 1 - failing;
        unsigned healthy_flows = 0;
        for (unsigned i = 0; i < FailoverFlows::kFlows; ++i) {
            bool moves = seen.last_coa[i] == failing;
            flows.size[i] = moves ? FailoverFlows::kMovedSize : FailoverFlows::kHealthySize;
            healthy_flows += !moves;
        }
        // Learning packets out first: the probe must see only this cycle's sizes.
        bool learnt_out = pump_until(
            [&] {
                std::uint64_t out = 0;
                for (auto c : seen.by_size_and_coa[1]) out += c;
                return out == flows.offered[1] - flows_offered0[1];
            },
            1e6);
        if (healthy_flows == 0 || !learnt_out) {  // all flows hashed onto one CoA: no test
            ++failover_skipped_;
            flows.on = false;
            pump_until([&] { return seen.total == flows.offered_total(); }, 1e6);
            continue;
        }
        for (int step = 0; step < 2; ++step) {  // both CoAs answer
            clock += interval;
            agent.on_tick(clock);
            answer_all_but(-1);
            pump_for(100);
        }
        shared_.failover_unit = FailoverFlows::kHealthySize - net::kEthernetHeaderSize;
        shared_.failover_seen_tsc.store(0);
        shared_.failover_armed.store(false);
        shared_.failover_slot.store(watch.slot[healthy], std::memory_order_release);
        if (!pump_until([&] { return shared_.failover_armed.load(); }, 1e6)) {
            problem = "the worker did not arm the probe";
            break;
        }
        // CoA `failing` stops answering.
        watch.failing = failing;
        std::uint64_t detected = 0, healthy_at_detection = 0;
        for (int step = 0; step < 10 && !watch.dead; ++step) {
            clock += interval;
            std::uint64_t t = rte_rdtsc();
            agent.on_tick(clock);
            if (watch.left_live_tsc != 0 && detected == 0) {
                detected = t;
                healthy_at_detection = seen.by_size_and_coa[0][healthy];
                publish.push_back(static_cast<double>(watch.left_live_tsc - t) / tsc_hz_ * 1e6);
                pump_until([&] { return shared_.failover_seen_tsc.load() != 0; }, 1e4);
                std::uint64_t at = shared_.failover_seen_tsc.load();
                if (at == 0) {
                    ++failover_timeouts_;
                } else if (at < t) {
                    problem = "flows moved before the failure was detected";
                } else {
                    latencies.push_back(static_cast<double>(at - t) / tsc_hz_ * 1e6);
                }
            }
            answer_all_but(failing);
            pump_for(100);
        }
        shared_.failover_slot.store(kNoProbe);
        if (detected == 0 || !watch.dead) {
            problem = "heartbeats unanswered did not make the CoA Dead";
            break;
        }
        pump_for(1000);
        flows.on = false;
        if (!pump_until([&] { return seen.total == flows.offered_total(); }, 1e6)) {
            problem = "packets of the failover HoA did not all come out (" + failover_state() + ")";
            break;
        }
        std::uint64_t offered = flows.offered[0] - flows_offered0[0];
        std::uint64_t delivered = seen.by_size_and_coa[0][healthy];
        failover_healthy_offered_ += offered;
        failover_healthy_loss_ += offered - std::min(offered, delivered);
        failover_healthy_before_ += healthy_at_detection;
        failover_healthy_after_ += delivered - healthy_at_detection;
        failover_moved_ += seen.by_size_and_coa[2][healthy];
        ++failover_cycles_;
    }
    flows.on = false;
    shared_.failover_slot.store(kNoProbe);
    shared_.stop.store(true);
    if (threaded) rte_eal_wait_lcore(worker_lcore_);
    flush();
    seen.enabled = false;
    Mark m1 = mark();
    check_counts("failover", m0, m1, 1);
    failover_ = percentiles(latencies);
    failover_publish_ = percentiles(publish);
    if (!problem.empty()) failures_.push_back("failover: " + problem);
    if (failover_healthy_loss_ != 0)
        failures_.push_back("failover: " + std::to_string(failover_healthy_loss_) + " of " +
                            std::to_string(failover_healthy_offered_) +
                            " packets of flows on the healthy CoA lost");
    std::fprintf(stderr,
                 "[failover] p50 %.1f us, p99 %.1f us, max %.1f us after detection (%zu samples, "
                 "%u timeouts, %u skipped); healthy flows: %lu lost of %lu\n",
                 failover_.p50, failover_.p99, failover_.max, failover_.samples, failover_timeouts_,
                 failover_skipped_, failover_healthy_loss_, failover_healthy_offered_);
}

}  // namespace monami::bench
