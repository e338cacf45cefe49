// monami-bench's Bench: setup on ring ports, the worker's loop (monami's pipeline, the peer
// or io forwarding, timed), flushing, the counts around a phase, teardown.
#include "dataplane/bench/bench.hpp"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>

#include "dataplane/hoa_table.hpp"
#include "dataplane/tuning.hpp"

namespace monami::bench {

std::uint64_t now_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

Percentiles percentiles(std::vector<double> v) {
    Percentiles p;
    p.samples = v.size();
    if (v.empty()) return p;
    std::sort(v.begin(), v.end());
    auto at = [&](double q) {
        auto i = static_cast<std::size_t>(std::ceil(q * static_cast<double>(v.size())));
        return v[std::min(v.size() - 1, i == 0 ? 0 : i - 1)];
    };
    p.p50 = at(0.5);
    p.p99 = at(0.99);
    p.p999 = at(0.999);
    p.max = v.back();
    return p;
}

bool Bench::setup(std::string& error) {
    tsc_hz_ = static_cast<double>(rte_get_tsc_hz());
    unsigned lcore = rte_get_next_lcore(static_cast<unsigned>(-1), 1, 0);
    if (lcore < RTE_MAX_LCORE) worker_lcore_ = lcore;
    int socket = static_cast<int>(rte_socket_id());
    pool_ = rte_pktmbuf_pool_create("bench_gen", 32767, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (!pool_) {
        error = std::string("generator pool: ") + rte_strerror(rte_errno);
        return false;
    }
    const char* names[2] = {"bench_home", "bench_access"};
    for (int i = 0; i < 2; ++i) {
        std::string rx = std::string(names[i]) + "_rx", tx = std::string(names[i]) + "_tx";
        rx_[i] = rte_ring_create(rx.c_str(), 4096, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
        tx_[i] = rte_ring_create(tx.c_str(), 4096, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (!rx_[i] || !tx_[i]) {
            error = std::string("rings: ") + rte_strerror(rte_errno);
            return false;
        }
        int id =
            rte_eth_from_rings(names[i], &rx_[i], 1, &tx_[i], 1, static_cast<unsigned>(socket));
        if (id < 0) {
            error = std::string("ring port: ") + rte_strerror(rte_errno);
            return false;
        }
    }
    dp::RuntimeSettings rs;
    // rte_eth_from_rings names the ethdevs net_ring_<name>.
    rs.ports.push_back({"home", std::string("net_ring_") + names[0], plan_.home_mac, 1500});
    rs.ports.push_back({"access", std::string("net_ring_") + names[1], plan_.access_mac, 9000});
    std::uint32_t main_home_addresses = opt_.hoas + 64;
    std::uint32_t main_paths = opt_.hoas * opt_.coas + 4096;
    esp_hoas_ = std::min(opt_.hoas, kEspMaxHoas);
    esp_first_hoa_ = opt_.hoas + 16;
    failover_hoa_ = esp_first_hoa_ + kEspMaxHoas;
    esp_slot_offset_ = main_paths;
    esp_paths_ = esp_hoas_ * opt_.coas + 64;
    failover_slot_offset_ = esp_slot_offset_ + esp_paths_;
    rs.max_home_addresses = main_home_addresses + esp_hoas_ + 16;
    rs.max_paths = failover_slot_offset_ + kFailoverPaths;
    rt_ = dp::Runtime::create(rs, error);
    if (!rt_) return false;
    ports_[0] = rt_->ports()[0].id;
    ports_[1] = rt_->ports()[1].id;
    // The main agent's share (the other phases' slots are not the figure's bindings).
    counter_bytes_ = std::size_t{main_paths} * sizeof(PathCounters) * rt_->worker_count();

    // What the HoA table of this capacity costs: the same table, created alone.
    rte_malloc_socket_stats before{}, after{};
    rte_malloc_get_socket_stats(socket, &before);
    {
        auto probe = dp::HoaTable::create(main_home_addresses, *rt_, error);
        if (!probe) return false;
        rte_malloc_get_socket_stats(socket, &after);
    }
    hash_bytes_ = after.heap_allocsz_bytes - before.heap_allocsz_bytes;

    ha::HaSettings s;

    s.duplicate_address_detection = false;  // BU processing measured alone (docs/performance.md)
    s.interfaces.push_back({ports_[0], "home", plan_.home_mac, {{plan_.ha_address, 64}}, 1500});
    s.interfaces.push_back(
        {ports_[1], "access", plan_.access_mac, {{plan_.access_address, 64}}, 9000});
    s.static_routes.push_back({plan_.correspondent_prefix, ports_[0], plan_.home_router});
    s.static_routes.push_back({plan_.care_of_prefix, ports_[1], plan_.access_router});
    s.static_neighbors.push_back({plan_.home_router, ports_[0], plan_.home_router_mac});
    s.static_neighbors.push_back({plan_.access_router, ports_[1], plan_.access_router_mac});
    s.ha_addresses = {plan_.ha_address};
    s.home_prefixes = {plan_.home_prefix};
    s.bindings.max_bindings = std::size_t{opt_.hoas} * opt_.coas + 64;
    s.tunnel.mtu = 1500;  // IMIX's 1500-byte packets fit: the access link runs jumbo frames
    s.max_paths = main_paths;
    // Nothing answers heartbeats here: without this every path would turn Dead mid-run.
    s.liveness.heartbeats = false;
    settings_ = s;
    dataplane_ = std::make_unique<MeasuringDataPlane>(*rt_, shared_);
    agent_ = std::make_unique<ha::HomeAgent>(s, *dataplane_);
    agent_->reserve_capacity();  // as monami-gw does
    agent_->start(now_ms());
    generator_ = std::make_unique<Generator>(plan_, pool_, opt_.coas);
    peer_ = bench::PeerRouter::create(plan_, opt_.hoas, ports_, error);
    if (!peer_) return false;
    shared_.samples.resize(1u << 22);
    sequence_.assign(opt_.hoas, 0);
    ncast_period_ =
        opt_.flow_share > 0
            ? static_cast<std::uint32_t>(std::max(1.0, std::round(1.0 / opt_.flow_share)))
            : 0;
    return true;
}

void Bench::progress(const char* phase, std::uint64_t done, std::uint64_t total, double rate,
                     const char* unit) {
    double t = static_cast<double>(rte_rdtsc()) / tsc_hz_;
    if (t - last_progress_ < 0.5 && done != total) return;
    last_progress_ = t;
    bool tty = isatty(2);
    std::fprintf(stderr, "%s[%s] %lu/%lu (%.0f %s)%s", tty ? "\r" : "", phase, done, total, rate,
                 unit, tty ? "   " : "\n");
    std::fflush(stderr);
}

void Bench::end_progress() {
    if (isatty(2)) std::fprintf(stderr, "\n");
}

unsigned Bench::io_forward_iteration() {
    rte_mbuf* pkts[dp::kBurstSize];
    unsigned total = 0;
    for (int p = 0; p < 2; ++p) {
        std::uint16_t n = rte_eth_rx_burst(ports_[p], 0, pkts, dp::kBurstSize);
        if (n == 0) continue;
        std::uint16_t sent = rte_eth_tx_burst(ports_[1 - p], 0, pkts, n);
        if (sent < n) {
            rte_pktmbuf_free_bulk(pkts + sent, n - sent);
            dp::bump(shared_.io_drops, n - sent);
        }
        dp::bump(shared_.io_tx, sent);
        total += n;
    }
    return total;
}

// One worker iteration with rte_rdtsc around it; only iterations that received packets
// count as busy.
unsigned Bench::worker_step() {
    dp::WorkerCtx& w = rt_->worker(0);
    std::uint64_t t0 = rte_rdtsc();
    unsigned n;
    Forwarder forwarder = shared_.forwarder.load(std::memory_order_relaxed);
    if (forwarder == Forwarder::IoBaseline) {
        n = io_forward_iteration();
    } else if (forwarder == Forwarder::Peer) {
        n = peer_->iteration();
    } else {
        std::uint64_t before = w.counters.rx_packets;
        rt_->worker_iteration(w);
        n = static_cast<unsigned>(w.counters.rx_packets - before);
    }
    std::uint64_t t1 = rte_rdtsc();
    if (n != 0) {
        dp::bump(shared_.busy_cycles, t1 - t0);
        dp::bump(shared_.packets, n);
        if (shared_.sample_count < shared_.samples.size())
            shared_.samples[shared_.sample_count] = {
                static_cast<std::uint32_t>(std::min<std::uint64_t>(t1 - t0, UINT32_MAX)), n};
        ++shared_.sample_count;
    }
    std::uint32_t slot = shared_.probe_slot.load(std::memory_order_acquire);
    if (slot != kNoProbe && dp::read_counter(w.path_counters[slot].packets) !=
                                shared_.probe_baseline.load(std::memory_order_relaxed)) {
        shared_.probe_seen_tsc.store(t1, std::memory_order_release);
        shared_.probe_slot.store(kNoProbe, std::memory_order_relaxed);
    }
    std::uint32_t failover_slot = shared_.failover_slot.load(std::memory_order_acquire);
    if (failover_slot != kNoProbe) {
        const PathCounters& c = w.path_counters[failover_slot];
        std::uint64_t packets = dp::read_counter(c.packets), bytes = dp::read_counter(c.bytes);
        if (!shared_.failover_armed.load(std::memory_order_relaxed)) {
            shared_.failover_packets0 = packets;
            shared_.failover_bytes0 = bytes;
            shared_.failover_armed.store(true, std::memory_order_release);
        } else if (bytes - shared_.failover_bytes0 !=
                   shared_.failover_unit * (packets - shared_.failover_packets0)) {
            shared_.failover_seen_tsc.store(t1, std::memory_order_release);
            shared_.failover_slot.store(kNoProbe, std::memory_order_relaxed);
        }
    }
    return n;
}

int worker_lcore_main(void* arg) {
    auto* step = static_cast<std::function<void()>*>(arg);
    (*step)();
    return 0;
}

// Everything in flight comes out: RX rings empty, control frames sent, TX buffers drained.
void Bench::flush() {
    dp::WorkerCtx& w = rt_->worker(0);
    for (;;) {
        while (rte_ring_count(rx_[0]) + rte_ring_count(rx_[1]) + rte_ring_count(w.control_tx) != 0)
            worker_step();
        // The worker drains its TX buffers every 100 us: pass one drain point.
        std::uint64_t deadline = w.next_drain_tsc + 1;
        while (rte_rdtsc() <= deadline) rte_pause();
        rt_->worker_iteration(w);
        peer_->drain();
        collect();
        if (rte_ring_count(rx_[0]) + rte_ring_count(rx_[1]) + rte_ring_count(w.control_tx) == 0)
            break;
    }
    collect();
}

void Bench::check_counts(const std::string& phase, const Mark& a, const Mark& b, unsigned copies,
                         Forwarder forwarder) {
    auto d = [](std::uint64_t x, std::uint64_t y) { return y - x; };
    std::uint64_t offered = d(a.offered, b.offered);
    std::uint64_t collected = d(a.collected, b.collected);
    std::string problem;
    if (forwarder == Forwarder::Peer) {
        // Every packet is a well-formed one to a HoA in the table (or reverse-tunnelled from
        // one): all are routed, and everything routed comes out (the collector checks where).
        const auto &p0 = a.peer, &p1 = b.peer;
        std::uint64_t received = d(p0.received, p1.received), routed = d(p0.routed, p1.routed);
        std::uint64_t tx_full = d(p0.tx_full, p1.tx_full);
        std::uint64_t not_routed = d(p0.malformed, p1.malformed) + d(p0.no_route, p1.no_route) +
                                   d(p0.hop_limit, p1.hop_limit);
        if (received != offered)
            problem =
                "received " + std::to_string(received) + " != offered " + std::to_string(offered);
        else if (routed != received)
            problem = "routed " + std::to_string(routed) + " of " + std::to_string(received) +
                      " (" + std::to_string(not_routed) + " counted as not routed)";
        else if (collected + tx_full != routed)
            problem = "collected " + std::to_string(collected) + " + tx_full " +
                      std::to_string(tx_full) + " != routed " + std::to_string(routed);
    } else if (forwarder == Forwarder::IoBaseline) {
        if (offered != d(a.io_tx, b.io_tx) + d(a.io_drops, b.io_drops))
            problem = "offered " + std::to_string(offered) + " != sent + dropped";
        else if (collected != d(a.io_tx, b.io_tx))
            problem = "collected " + std::to_string(collected) + " != sent " +
                      std::to_string(d(a.io_tx, b.io_tx));
    } else {
        std::uint64_t rx = d(a.w.rx_packets, b.w.rx_packets);
        std::uint64_t tx = d(a.w.tx_packets, b.w.tx_packets);
        std::uint64_t control = d(a.w.control_tx, b.w.control_tx);
        std::uint64_t punted = d(a.w.punted, b.w.punted);
        std::uint64_t tx_full = d(a.w.drops[static_cast<std::size_t>(dp::DropReason::TxFull)],
                                  b.w.drops[static_cast<std::size_t>(dp::DropReason::TxFull)]);
        std::uint64_t drops = 0;
        for (std::size_t r = 0; r < dp::kDropReasonCount; ++r)
            drops += d(a.w.drops[r], b.w.drops[r]);
        drops -= tx_full;
        if (rx != offered) {
            problem = "received " + std::to_string(rx) + " != offered " + std::to_string(offered);
        } else if (collected + tx_full != tx) {
            problem = "collected " + std::to_string(collected) + " + tx_full " +
                      std::to_string(tx_full) + " != transmitted " + std::to_string(tx);
        } else if (offered * copies + control != collected + (drops + punted) * copies + tx_full) {
            problem = "in " + std::to_string(offered) + " x" + std::to_string(copies) +
                      " + control " + std::to_string(control) + " != out " +
                      std::to_string(collected) + " + drops " + std::to_string(drops) +
                      " + punted " + std::to_string(punted) + " + tx_full " +
                      std::to_string(tx_full);
        }
    }
    if (!problem.empty()) failures_.push_back(phase + ": " + problem);
    if (collector_.misrouted != 0) {
        failures_.push_back(phase + ": " + std::to_string(collector_.misrouted) +
                            " packets out of the wrong port");
        collector_.misrouted = 0;
    }
    if (collector_.wrong != 0) {
        failures_.push_back(phase + ": " + std::to_string(collector_.wrong) + " of " +
                            std::to_string(collector_.checked) +
                            " sampled packets wrong, first: " + collector_.first_wrong);
        collector_.wrong = 0;
    }
}

void Bench::teardown() {
    agent_.reset();
    dataplane_.reset();
    peer_.reset();  // its TX buffers hold packets of the ports the Runtime closes
    if (rt_) rt_->stop();
    rt_.reset();
    for (int i = 0; i < 2; ++i) {
        rte_ring_free(rx_[i]);
        rte_ring_free(tx_[i]);
    }
    rte_mempool_free(pool_);
}

}  // namespace monami::bench
