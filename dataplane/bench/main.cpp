// monami-bench [EAL args] -- [options]
// Measures the real worker pipeline (dp::Runtime::worker_iteration) on ring ports and the
// real control path (ha::HomeAgent::on_frame with Binding Updates), beside a testpmd-style
// io forwarding baseline on the same ports. docs/performance.md explains every figure.
#include <malloc.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_pause.h>
#include <rte_ring.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "controlplane/ha/home_agent.hpp"
#include "controlplane/net/packet.hpp"
#include "dataplane/bench/plan.hpp"
#include "dataplane/hoa_table.hpp"
#include "dataplane/runtime.hpp"

using namespace monami;
using bench::Distribution;
using bench::Plan;

namespace {

// ---- Options -----------------------------------------------------------------------------

struct Options {
    std::uint32_t hoas = 100000;
    unsigned coas = 2;
    double duration_s = 2.0;  // per throughput scenario and per live window
    std::vector<Distribution> distributions{Distribution::Uniform, Distribution::Zipf};
    double zipf_s = 0.99;
    double flow_share = 1.0 / 16;  // HoAs with the n-cast flow binding
    unsigned probes = 2000;
    bool json = false;
    bool check_all = false;  // verify every packet (smoke run), not one in 64
    bool verbose = false;
    std::vector<std::string> only;  // phases to run (empty: all)
    bool runs(const char* phase) const {
        return only.empty() || std::find(only.begin(), only.end(), phase) != only.end();
    }
};

void usage() {
    std::fprintf(
        stderr,
        "usage: monami-bench [EAL args --] [options]\n"
        "  --hoas N | --bindings N   home addresses to register (1000..1000000; default 100000)\n"
        "  --coas C                  care-of addresses per home address (1..4; default 2)\n"
        "  --duration S              seconds per scenario and per live window (default 2)\n"
        "  --distribution D          uniform, zipf or both (default both)\n"
        "  --zipf-s X                Zipf exponent (default 0.99)\n"
        "  --flow-share F            share of HoAs with an n-cast flow binding (default 0.0625)\n"
        "  --probes N                update-latency samples (default 2000)\n"
        "  --check                   verify every packet, not one in 64\n"
        "  --json                    one JSON object on stdout; progress on stderr\n"
        "  --verbose                 DPDK and monami logs at INFO\n"
        "Without EAL args: -l 0,1 --no-huge -m <sized> --no-shconf --file-prefix <own> "
        "--no-pci.\n");
}

std::optional<Options> parse_options(int argc, char** argv, int first) {
    Options o;
    for (int i = first; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        auto number = [&](double lo, double hi) -> std::optional<double> {
            const char* v = value();
            if (!v) return std::nullopt;
            char* end = nullptr;
            double x = std::strtod(v, &end);
            if (*end != '\0' || x < lo || x > hi) return std::nullopt;
            return x;
        };
        if (a == "--hoas" || a == "--bindings") {
            auto x = number(1, 4e6);
            if (!x) return std::nullopt;
            o.hoas = static_cast<std::uint32_t>(*x);
        } else if (a == "--coas") {
            auto x = number(1, 4);
            if (!x) return std::nullopt;
            o.coas = static_cast<unsigned>(*x);
        } else if (a == "--duration") {
            auto x = number(0.01, 3600);
            if (!x) return std::nullopt;
            o.duration_s = *x;
        } else if (a == "--zipf-s") {
            auto x = number(0.1, 4);
            if (!x) return std::nullopt;
            o.zipf_s = *x;
        } else if (a == "--flow-share") {
            auto x = number(0, 1);
            if (!x) return std::nullopt;
            o.flow_share = *x;
        } else if (a == "--probes") {
            auto x = number(0, 1e7);
            if (!x) return std::nullopt;
            o.probes = static_cast<unsigned>(*x);
        } else if (a == "--distribution") {
            const char* v = value();
            if (!v) return std::nullopt;
            std::string d = v;
            if (d == "uniform")
                o.distributions = {Distribution::Uniform};
            else if (d == "zipf")
                o.distributions = {Distribution::Zipf};
            else if (d == "both")
                o.distributions = {Distribution::Uniform, Distribution::Zipf};
            else
                return std::nullopt;
        } else if (a == "--only") {
            const char* v = value();
            if (!v) return std::nullopt;
            std::string list = v;
            for (std::size_t at = 0; at <= list.size();) {
                std::size_t comma = std::min(list.find(',', at), list.size());
                std::string phase = list.substr(at, comma - at);
                static const char* known[] = {"encap", "imix",    "decap",
                                              "ncast", "latency", "updates"};
                if (std::find_if(std::begin(known), std::end(known),
                                 [&](const char* k) { return phase == k; }) == std::end(known))
                    return std::nullopt;
                o.only.push_back(phase);
                at = comma + 1;
            }
        } else if (a == "--check") {
            o.check_all = true;
        } else if (a == "--json") {
            o.json = true;
        } else if (a == "--verbose") {
            o.verbose = true;
        } else {
            std::fprintf(stderr, "monami-bench: unknown option '%s'\n", a.c_str());
            return std::nullopt;
        }
    }
    return o;
}

std::uint64_t now_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

// ---- The DataPlane the HomeAgent talks to: the Runtime, measured on the way --------------

constexpr std::uint32_t kNoProbe = 0xffffffffu;

// Written by the worker lcore only (single-writer counters), read by the main lcore.
struct alignas(64) WorkerShared {
    std::atomic<bool> stop{false};
    std::atomic<bool> io_forward{false};  // run the baseline instead of the pipeline
    std::atomic<std::uint32_t> probe_slot{kNoProbe};
    std::atomic<std::uint64_t> probe_baseline{0};
    std::atomic<std::uint64_t> probe_seen_tsc{0};
    alignas(64) std::uint64_t busy_cycles = 0;  // iterations that received packets
    std::uint64_t packets = 0;
    std::uint64_t io_tx = 0;
    std::uint64_t io_drops = 0;
    // Busy iterations of the current phase (cycles, packets), preallocated: a noisy machine
    // preempts some of them, and those are told apart from the rest afterwards.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> samples;
    std::size_t sample_count = 0;
};

// Cycles per packet over the busy iterations, leaving out those that took more than 8x the
// median per-packet cost (the worker was preempted: this machine is shared); the share left
// out is reported.
struct CycleStats {
    double cycles_per_packet = 0;      // trimmed
    double raw_cycles_per_packet = 0;  // every busy iteration
    double trimmed_share = 0;          // of iterations
};

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

class MeasuringDataPlane final : public DataPlane {
  public:
    MeasuringDataPlane(dp::Runtime& rt, WorkerShared& shared) : rt_(rt), shared_(shared) {}

    bool send_frame(PortId port, std::span<const std::uint8_t> frame) override {
        if (probe_pending_ && probe_armed_) {
            probe_ba_tsc = rte_rdtsc();  // the BA is built: the only frame a probe BU causes
            probe_pending_ = false;
        }
        return rt_.send_frame(port, frame);
    }
    bool route_packet(std::span<const std::uint8_t> ipv6_packet) override {
        return rt_.route_packet(ipv6_packet);
    }
    void publish_routing(const RoutingState& state) override { rt_.publish_routing(state); }
    void publish_hoa(std::unique_ptr<const HoaSnapshot> snapshot) override {
        ++published;
        if (probe_pending_ && snapshot->home_address == probe_hoa_ && snapshot->path_count == 1) {
            // Armed before the worker can see the snapshot: the first packet counted on the
            // new path after this point was encapsulated with the new CoA.
            std::uint32_t slot = snapshot->paths[0].counter_slot;
            shared_.probe_seen_tsc.store(0, std::memory_order_relaxed);
            shared_.probe_baseline.store(read_worker_packets(slot), std::memory_order_relaxed);
            shared_.probe_slot.store(slot, std::memory_order_release);
            probe_armed_ = true;
        }
        rt_.publish_hoa(std::move(snapshot));
    }
    void withdraw_hoa(const HomeAddress& hoa) override { rt_.withdraw_hoa(hoa); }
    PathCounters path_counters(std::uint32_t slot) const override {
        return rt_.path_counters(slot);
    }
    void reclaim() override { rt_.reclaim(); }

    // The next publication of `hoa` with one path arms the worker's probe; the BA that
    // follows stamps probe_ba_tsc.
    void expect_probe(const HomeAddress& hoa) {
        probe_hoa_ = hoa;
        probe_pending_ = true;
        probe_armed_ = false;
        probe_ba_tsc = 0;
    }
    bool probe_armed() const { return probe_armed_; }

    std::uint64_t published = 0;
    std::uint64_t probe_ba_tsc = 0;

  private:
    std::uint64_t read_worker_packets(std::uint32_t slot) const {
        return dp::read_counter(rt_.worker(0).path_counters[slot].packets);
    }

    dp::Runtime& rt_;
    WorkerShared& shared_;
    HomeAddress probe_hoa_;
    bool probe_pending_ = false;
    bool probe_armed_ = false;
};

// ---- Traffic --------------------------------------------------------------------------

enum class Direction { Encap, Decap, Ncast };
const char* to_string(Direction d) {
    switch (d) {
        case Direction::Encap:
            return "encap";
        case Direction::Decap:
            return "decap";
        case Direction::Ncast:
            return "ncast";
    }
    return "?";
}

struct TrafficSpec {
    Direction direction = Direction::Encap;
    std::vector<std::uint16_t> sizes;         // frame sizes of the inner (CN-side) packet
    std::vector<std::uint32_t> destinations;  // HoA indices, cycled
    std::uint16_t destination_port = bench::kPlainPort;
    std::optional<std::uint32_t> probe_hoa;  // every 4th packet goes there
};

class Generator {
  public:
    Generator(const Plan& plan, rte_mempool* pool, unsigned coas)
        : plan_(plan), pool_(pool), coas_(coas) {}

    void use(const TrafficSpec* spec, rte_ring* ring, PortId port) {
        spec_ = spec;
        ring_ = ring;
        port_ = port;
    }
    // Offers up to n new packets; returns how many the RX ring took.
    unsigned fill(unsigned n) {
        rte_mbuf* m[256];
        n = std::min(n, 256u);
        if (rte_pktmbuf_alloc_bulk(pool_, m, n) != 0) return 0;
        for (unsigned i = 0; i < n; ++i) write(m[i]);
        unsigned taken = rte_ring_sp_enqueue_burst(ring_, reinterpret_cast<void**>(m), n, nullptr);
        if (taken < n) rte_pktmbuf_free_bulk(m + taken, n - taken);
        offered += taken;
        return taken;
    }
    std::uint64_t offered = 0;

  private:
    void write(rte_mbuf* m) {
        const TrafficSpec& s = *spec_;
        std::uint16_t size = s.sizes[size_pos_++ % s.sizes.size()];
        std::uint32_t hoa = s.destinations[dest_pos_++ % s.destinations.size()];
        if (s.probe_hoa && (flow_ & 3) == 0) hoa = *s.probe_hoa;
        std::uint32_t flow = flow_++;
        auto* d = rte_pktmbuf_mtod(m, std::uint8_t*);
        std::uint16_t frame = size;
        std::uint8_t* inner = d + net::kEthernetHeaderSize;
        if (s.direction == Direction::Decap) {
            // Reverse tunnel from CoA k of the HoA to the HA, plain IPv6-in-IPv6.
            frame = static_cast<std::uint16_t>(size + net::kIpv6HeaderSize);
            net::write_ethernet_header(d, plan_.access_mac, plan_.access_router_mac);
            net::write_ipv6_header(
                inner, static_cast<std::uint16_t>(size - net::kEthernetHeaderSize),
                net::kProtoIpv6InIpv6, 64, Plan::care_of(hoa, flow % coas_), plan_.ha_address);
            inner += net::kIpv6HeaderSize;
            net::write_ipv6_header(inner, static_cast<std::uint16_t>(size - 54), net::kProtoUdp, 64,
                                   Plan::home_address(hoa), Plan::correspondent(flow & 0xff));
        } else {
            net::write_ethernet_header(d, plan_.home_mac, plan_.home_router_mac);
            net::write_ipv6_header(inner, static_cast<std::uint16_t>(size - 54), net::kProtoUdp, 64,
                                   Plan::correspondent(flow & 0xff), Plan::home_address(hoa));
        }
        std::uint8_t* udp = inner + net::kIpv6HeaderSize;
        net::store_be16(udp, static_cast<std::uint16_t>(1024 + (flow & 0x3fff)));
        net::store_be16(udp + 2, s.destination_port);
        net::store_be16(udp + 4, static_cast<std::uint16_t>(size - 54));
        net::store_be16(udp + 6, 0);
        m->data_len = frame;
        m->pkt_len = frame;
        m->port = port_;  // the ring PMD does not set it; NIC PMDs do
    }

    const Plan& plan_;
    rte_mempool* pool_;
    unsigned coas_;
    const TrafficSpec* spec_ = nullptr;
    rte_ring* ring_ = nullptr;
    PortId port_ = 0;
    std::size_t size_pos_ = 0, dest_pos_ = 0;
    std::uint32_t flow_ = 0;
};

// Drains the TX rings, sorts what came out (data, BAs, NAs), verifies a sample.
class Collector {
  public:
    Collector(const Plan& plan, unsigned coas, bool check_all)
        : plan_(plan), coas_(coas), sample_mask_(check_all ? 0 : 63) {}

    bool strict_care_of = true;  // CoA must be one provisioned for the HoA
    bool verify = true;          // off for the baseline (packets come out unchanged)
    std::uint64_t data = 0, acks = 0, rejected_acks = 0, advertisements = 0, other = 0;
    std::uint64_t checked = 0, wrong = 0;
    std::string first_wrong;

    void collect(rte_ring* ring, bool access_side) {
        rte_mbuf* m[64];
        unsigned n;
        while ((n = rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(m), 64, nullptr)) !=
               0) {
            for (unsigned i = 0; i < n; ++i) classify(m[i], access_side);
            rte_pktmbuf_free_bulk(m, n);
        }
    }
    std::uint64_t total() const { return data + acks + rejected_acks + advertisements + other; }

  private:
    void classify(rte_mbuf* m, bool access_side) {
        std::uint8_t copy[160];
        std::uint32_t len = std::min<std::uint32_t>(rte_pktmbuf_pkt_len(m), sizeof copy);
        const auto* p = static_cast<const std::uint8_t*>(rte_pktmbuf_read(m, 0, len, copy));
        if (!p || len < 54) {
            ++other;
            return;
        }
        const std::uint8_t* ip = p + net::kEthernetHeaderSize;
        std::uint8_t nh = ip[6];
        if (nh == net::kProtoRouting && access_side) {  // BA: RH2 (24 bytes) then MH
            bool ok = len >= 54 + 24 + 8 && ip[40 + 24 + 2] == 6 && ip[40 + 24 + 6] < 128;
            ++(ok ? acks : rejected_acks);
            return;
        }
        if (nh == 58 && !access_side) {  // proxy ND announcements on the home link
            ++advertisements;
            return;
        }
        ++data;
        if (!verify || (data & sample_mask_) != 0) return;
        ++checked;
        const char* problem = access_side ? check_tunnelled(p, len, rte_pktmbuf_pkt_len(m))
                                          : check_decapsulated(p, len);
        if (problem) {
            if (wrong++ == 0) first_wrong = problem;
        }
    }
    const char* check_tunnelled(const std::uint8_t* p, std::uint32_t len, std::uint32_t pkt_len) {
        if (len < 14 + 40 + 8 + 40) return "tunnelled packet too short";
        if (std::memcmp(p, plan_.access_router_mac.bytes.data(), 6) != 0)
            return "wrong next-hop MAC";
        const std::uint8_t* outer = p + 14;
        if (outer[6] != 60 || outer[40] != net::kProtoIpv6InIpv6)
            return "no TEL destination option";
        if (std::memcmp(outer + 8, plan_.ha_address.bytes.data(), 16) != 0)
            return "wrong outer source";
        if (net::load_be16(outer + 4) + 54u != pkt_len) return "wrong outer payload length";
        const std::uint8_t* inner = outer + 48;
        if (!Plan::is_home_address(inner + 24)) return "inner destination is not a HoA";
        if (inner[7] != 63) return "inner hop limit not decremented once";
        std::uint32_t hoa = Plan::home_index(inner + 24);
        const std::uint8_t* coa = outer + 24;
        if (!strict_care_of) {
            return std::memcmp(coa, plan_.care_of_prefix.address.bytes.data(), 4) == 0 &&
                           (coa[4] & 0xf0) == 0xc0
                       ? nullptr
                       : "CoA outside the CoA prefix";
        }
        for (unsigned k = 0; k < coas_; ++k)
            if (std::memcmp(coa, Plan::care_of(hoa, k).bytes.data(), 16) == 0) return nullptr;
        return "CoA not registered for the HoA";
    }
    const char* check_decapsulated(const std::uint8_t* p, std::uint32_t len) {
        if (len < 14 + 40) return "decapsulated packet too short";
        if (std::memcmp(p, plan_.home_router_mac.bytes.data(), 6) != 0) return "wrong next-hop MAC";
        const std::uint8_t* ip = p + 14;
        if (ip[6] != net::kProtoUdp) return "not the inner packet";
        if (!Plan::is_home_address(ip + 8)) return "source is not a HoA";
        if (ip[7] != 63) return "hop limit not decremented once";
        return nullptr;
    }

    const Plan& plan_;
    unsigned coas_;
    std::uint64_t sample_mask_;
};

// ---- Results --------------------------------------------------------------------------

struct ScenarioResult {
    std::string name;
    Direction direction;
    std::string sizes;
    std::string distribution;
    std::uint64_t packets = 0;
    double cycles_per_packet = 0;
    double mpps = 0;       // worker capacity: packets / busy worker seconds
    double wall_mpps = 0;  // packets out / elapsed seconds, generator included
    double baseline_cycles_per_packet = 0;
    double baseline_mpps = 0;
    double raw_cycles_per_packet = 0;  // preempted iterations included
    double baseline_raw_cycles_per_packet = 0;
    double preempted_share = 0;
};

struct Percentiles {
    double p50 = 0, p99 = 0, p999 = 0, max = 0;
    std::size_t samples = 0;
};

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

// ---- The bench ------------------------------------------------------------------------

class Bench {
  public:
    Bench(const Options& o) : opt_(o), collector_(plan_, o.coas, o.check_all) {}

    bool setup(std::string& error);
    void provision();
    ScenarioResult throughput(const std::string& name, Direction dir,
                              const std::vector<std::uint16_t>& sizes, Distribution dist);
    void live_updates();
    void update_latency();
    void teardown();
    void report() const;
    bool counts_ok() const { return failures_.empty(); }

  private:
    enum class LiveMode { Quiet, Flood, Probe };
    struct Window {
        std::uint64_t busy_cycles = 0, packets = 0, control_cycles = 0, updates = 0;
        double seconds = 0;
        CycleStats stats;
    };

    unsigned worker_step();
    unsigned io_forward_iteration();
    void flush();
    void collect() {
        collector_.collect(tx_[0], false);
        collector_.collect(tx_[1], true);
    }
    // As the gateway's control loop does: frames, then a tick per burst (which is also when
    // the admission control serves deferred frames of unknown sources).
    void feed_control(const std::vector<std::uint8_t>& frame) {
        agent_->on_frame(ports_[1], PuntReason::Local, 0, frame, now_ms());
        if (++fed_since_tick_ == kControlBurst) {
            agent_->on_tick(now_ms());
            fed_since_tick_ = 0;
        }
    }
    static constexpr unsigned kControlBurst = 16;
    unsigned fed_since_tick_ = 0;
    std::uint16_t next_sequence(std::uint32_t hoa) { return ++sequence_[hoa]; }
    bool is_ncast_hoa(std::uint32_t i) const {
        return ncast_period_ != 0 && opt_.coas >= 2 && i % ncast_period_ == ncast_period_ - 1;
    }
    Window live_window(LiveMode mode, double seconds, TrafficSpec& spec);
    void progress(const char* phase, std::uint64_t done, std::uint64_t total, double rate,
                  const char* unit);
    void end_progress();

    // Counts around a phase: everything offered is received, everything sent is collected
    // or counted as dropped.
    struct Mark {
        dp::WorkerCounters w;
        std::uint64_t offered, collected, io_tx, io_drops;
    };
    Mark mark() const {
        return {rt_->totals(), generator_->offered, collector_.total(), shared_.io_tx,
                shared_.io_drops};
    }
    void check_counts(const std::string& phase, const Mark& a, const Mark& b, unsigned copies,
                      bool io_forward);

    Options opt_;
    Plan plan_;
    Collector collector_;
    WorkerShared shared_;
    std::unique_ptr<dp::Runtime> rt_;
    std::unique_ptr<MeasuringDataPlane> dataplane_;
    std::unique_ptr<ha::HomeAgent> agent_;
    std::unique_ptr<Generator> generator_;
    rte_mempool* pool_ = nullptr;
    rte_ring* rx_[2] = {};
    rte_ring* tx_[2] = {};
    PortId ports_[2] = {};
    unsigned worker_lcore_ = RTE_MAX_LCORE;  // none: one lcore interleaves everything
    double tsc_hz_ = 0;
    std::uint32_t ncast_period_ = 0;
    std::vector<std::uint16_t> sequence_;
    std::uint8_t generation_ = 0;

    // Results.
    double bu_per_second_ = 0;
    double bu_seconds_ = 0;
    double bu_live_per_second_ = 0;
    double live_quiet_cpp_ = 0, live_flood_cpp_ = 0, live_quiet_wall_mpps_ = 0,
           live_flood_wall_mpps_ = 0;
    std::uint64_t live_updates_ = 0;
    Percentiles latency_;
    unsigned probe_timeouts_ = 0;
    std::size_t hash_bytes_ = 0;
    std::size_t snapshot_bytes_ = 0;
    std::size_t counter_bytes_ = 0;
    double control_bytes_per_binding_ = 0;
    std::uint64_t acks_ = 0;
    std::vector<ScenarioResult> scenarios_;
    std::vector<std::string> failures_;
    double last_progress_ = 0;
};

int worker_lcore_main(void* arg);

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
    rs.max_home_addresses = opt_.hoas + 64;
    rs.max_paths = opt_.hoas * opt_.coas + 4096;
    rt_ = dp::Runtime::create(rs, error);
    if (!rt_) return false;
    ports_[0] = rt_->ports()[0].id;
    ports_[1] = rt_->ports()[1].id;
    counter_bytes_ = std::size_t{rs.max_paths} * sizeof(PathCounters) * rt_->worker_count();

    // What the HoA table of this capacity costs: the same table, created alone.
    rte_malloc_socket_stats before{}, after{};
    rte_malloc_get_socket_stats(socket, &before);
    {
        auto probe = dp::HoaTable::create(rs.max_home_addresses, *rt_, error);
        if (!probe) return false;
        rte_malloc_get_socket_stats(socket, &after);
    }
    hash_bytes_ = after.heap_allocsz_bytes - before.heap_allocsz_bytes;

    ha::HaSettings s;
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
    s.max_paths = rs.max_paths;
    // Nothing answers heartbeats here: without this every path would turn Dead mid-run.
    s.liveness.heartbeats = false;
    dataplane_ = std::make_unique<MeasuringDataPlane>(*rt_, shared_);
    agent_ = std::make_unique<ha::HomeAgent>(s, *dataplane_);
    agent_->start(now_ms());
    generator_ = std::make_unique<Generator>(plan_, pool_, opt_.coas);
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
    if (shared_.io_forward.load(std::memory_order_relaxed)) {
        n = io_forward_iteration();
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
        collect();
        if (rte_ring_count(rx_[0]) + rte_ring_count(rx_[1]) + rte_ring_count(w.control_tx) == 0)
            break;
    }
    collect();
}

void Bench::check_counts(const std::string& phase, const Mark& a, const Mark& b, unsigned copies,
                         bool io_forward) {
    auto d = [](std::uint64_t x, std::uint64_t y) { return y - x; };
    std::uint64_t offered = d(a.offered, b.offered);
    std::uint64_t collected = d(a.collected, b.collected);
    std::string problem;
    if (io_forward) {
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
    if (collector_.wrong != 0) {
        failures_.push_back(phase + ": " + std::to_string(collector_.wrong) + " of " +
                            std::to_string(collector_.checked) +
                            " sampled packets wrong, first: " + collector_.first_wrong);
        collector_.wrong = 0;
    }
}

// Bulk registrations of every HoA through HomeAgent::on_frame, timed on the control side
// (parse, validate, binding cache, snapshot, publish, BA built and queued).
void Bench::provision() {
    constexpr unsigned kChunk = 256;  // BAs and NAs of a chunk fit the control TX ring
    dp::WorkerCtx& w = rt_->worker(0);
    struct mallinfo2 heap0 = mallinfo2();
    Mark m0 = mark();
    std::uint64_t control_cycles = 0;
    std::vector<std::vector<std::uint8_t>> frames(kChunk);
    for (std::uint32_t first = 0; first < opt_.hoas; first += kChunk) {
        unsigned n = std::min<std::uint32_t>(kChunk, opt_.hoas - first);
        for (unsigned j = 0; j < n; ++j) {
            bench::Registration r;
            r.hoa = first + j;
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
        progress("provision", first + n, opt_.hoas,
                 (first + n) / (static_cast<double>(control_cycles) / tsc_hz_), "BU/s");
    }
    flush();
    end_progress();
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
    check_counts("provision", m0, m1, 1, false);
}

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

    // Pipeline then baseline, the same traffic; the worker always sees full bursts: the
    // generator offers 512 packets, the worker runs until its RX ring is empty (timed),
    // the collector takes what came out.
    for (int pass = 0; pass < 2; ++pass) {
        bool io = pass == 1;
        shared_.io_forward.store(io);
        collector_.verify = !io;
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
        check_counts(name + (io ? " (baseline)" : ""), m0, m1, io ? 1 : copies, io);
        double packets = static_cast<double>(shared_.packets - packets0);
        (void)busy0;
        CycleStats st = cycle_stats(shared_);
        double cpp = st.cycles_per_packet;
        double mpps = cpp > 0 ? tsc_hz_ / cpp / 1e6 : 0;
        if (io) {
            r.baseline_raw_cycles_per_packet = st.raw_cycles_per_packet;
            r.baseline_cycles_per_packet = cpp;
            r.baseline_mpps = mpps;
        } else {
            r.packets = static_cast<std::uint64_t>(packets);
            r.cycles_per_packet = cpp;
            r.raw_cycles_per_packet = st.raw_cycles_per_packet;
            r.preempted_share = st.trimmed_share;
            r.mpps = mpps;
            r.wall_mpps = packets / seconds / 1e6;
        }
    }
    shared_.io_forward.store(false);
    collector_.verify = true;
    if (!opt_.json || isatty(2))
        std::fprintf(stderr,
                     "[%s] %.2f Mpps, %.0f cycles/packet; baseline %.2f Mpps, %.0f cycles/packet\n",
                     name.c_str(), r.mpps, r.cycles_per_packet, r.baseline_mpps,
                     r.baseline_cycles_per_packet);
    scenarios_.push_back(r);
    return r;
}

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
        if (mode == LiveMode::Flood && rte_ring_count(w.control_tx) < 512) {
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
    Mark m1 = mark();
    check_counts("forwarding during updates", m0, m1, 1, false);
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
    std::fprintf(stderr,
                 "[updates while forwarding] %.0f BU/s; worker %.0f -> %.0f cycles/packet\n",
                 bu_live_per_second_, live_quiet_cpp_, live_flood_cpp_);
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
    check_counts("update latency", m0, m1, 1, false);
    std::fprintf(
        stderr,
        "[update latency] p50 %.1f us, p99 %.1f us, p99.9 %.1f us (%zu samples, %u timeouts)\n",
        latency_.p50, latency_.p99, latency_.p999, latency_.samples, probe_timeouts_);
}

void Bench::teardown() {
    agent_.reset();
    dataplane_.reset();
    if (rt_) rt_->stop();
    rt_.reset();
    for (int i = 0; i < 2; ++i) {
        rte_ring_free(rx_[i]);
        rte_ring_free(tx_[i]);
    }
    rte_mempool_free(pool_);
}

const char* verdict(bool met) {
    return met ? "met" : "MISSED";
}

void Bench::report() const {
    const ScenarioResult* fwd = nullptr;
    const ScenarioResult* rev = nullptr;
    for (const auto& s : scenarios_) {
        if (!fwd && s.direction == Direction::Encap && s.sizes == "64B" &&
            s.distribution == "uniform")
            fwd = &s;
        if (!rev && s.direction == Direction::Decap) rev = &s;
    }
    if (!fwd)
        for (const auto& s : scenarios_)
            if (!fwd && s.direction == Direction::Encap) fwd = &s;
    double bindings = static_cast<double>(opt_.hoas) * opt_.coas;
    double bytes_per_binding =
        (static_cast<double>(hash_bytes_) + static_cast<double>(snapshot_bytes_)) / bindings;
    double ratio = fwd && fwd->baseline_mpps > 0 ? fwd->mpps / fwd->baseline_mpps : 0;
    double drop = live_flood_cpp_ > 0 ? 1.0 - live_quiet_cpp_ / live_flood_cpp_ : 0;
    const char* mode = worker_lcore_ < RTE_MAX_LCORE ? "two lcores" : "one lcore";

    if (opt_.json) {
        std::printf("{\n");
        std::printf("  \"forward_mpps\": %.3f,\n", fwd ? fwd->mpps : 0.0);
        std::printf("  \"baseline_mpps\": %.3f,\n", fwd ? fwd->baseline_mpps : 0.0);
        std::printf("  \"forward_ratio\": %.3f,\n", ratio);
        std::printf("  \"forward_cycles_per_packet\": %.1f,\n", fwd ? fwd->cycles_per_packet : 0.0);
        std::printf("  \"baseline_cycles_per_packet\": %.1f,\n",
                    fwd ? fwd->baseline_cycles_per_packet : 0.0);
        std::printf("  \"decap_cycles_per_packet\": %.1f,\n", rev ? rev->cycles_per_packet : 0.0);
        std::printf("  \"bu_per_second\": %.0f,\n", bu_per_second_);
        std::printf("  \"bu_per_second_while_forwarding\": %.0f,\n", bu_live_per_second_);
        std::printf("  \"updates_while_forwarding\": %lu,\n", live_updates_);
        std::printf("  \"forward_cycles_per_packet_quiet\": %.1f,\n", live_quiet_cpp_);
        std::printf("  \"forward_cycles_per_packet_during_updates\": %.1f,\n", live_flood_cpp_);
        std::printf("  \"forward_drop_during_updates\": %.3f,\n", drop);
        std::printf(
            "  \"update_latency_us\": {\"p50\": %.2f, \"p99\": %.2f, \"p999\": %.2f, \"max\": "
            "%.2f, "
            "\"samples\": %zu, \"timeouts\": %u},\n",
            latency_.p50, latency_.p99, latency_.p999, latency_.max, latency_.samples,
            probe_timeouts_);
        std::printf("  \"bytes_per_binding\": %.1f,\n", bytes_per_binding);
        std::printf(
            "  \"memory\": {\"hash_bytes\": %zu, \"snapshot_bytes\": %zu, \"counter_bytes\": %zu, "
            "\"control_bytes_per_binding\": %.1f},\n",
            hash_bytes_, snapshot_bytes_, counter_bytes_, control_bytes_per_binding_);
        std::printf("  \"bindings\": %.0f,\n", bindings);
        std::printf("  \"home_addresses\": %u,\n", opt_.hoas);
        std::printf("  \"coas_per_hoa\": %u,\n", opt_.coas);
        std::printf("  \"binding_acks\": %lu,\n", acks_);
        std::printf("  \"tsc_hz\": %.0f,\n", tsc_hz_);
        std::printf("  \"mode\": \"%s\",\n", mode);
        std::printf("  \"duration_s\": %.3f,\n", opt_.duration_s);
        std::printf("  \"scenarios\": [\n");
        for (std::size_t i = 0; i < scenarios_.size(); ++i) {
            const auto& s = scenarios_[i];
            std::printf(
                "    {\"name\": \"%s\", \"direction\": \"%s\", \"size\": \"%s\", \"distribution\": "
                "\"%s\", "
                "\"packets\": %lu, \"mpps\": %.3f, \"cycles_per_packet\": %.1f, \"wall_mpps\": "
                "%.3f, "
                "\"baseline_mpps\": %.3f, \"baseline_cycles_per_packet\": %.1f, \"ratio\": "
                "%.3f, \"raw_cycles_per_packet\": %.1f, \"baseline_raw_cycles_per_packet\": %.1f, "
                "\"preempted_share\": %.4f}%s\n",
                s.name.c_str(), to_string(s.direction), s.sizes.c_str(), s.distribution.c_str(),
                s.packets, s.mpps, s.cycles_per_packet, s.wall_mpps, s.baseline_mpps,
                s.baseline_cycles_per_packet, s.baseline_mpps > 0 ? s.mpps / s.baseline_mpps : 0.0,
                s.raw_cycles_per_packet, s.baseline_raw_cycles_per_packet, s.preempted_share,
                i + 1 < scenarios_.size() ? "," : "");
        }
        std::printf("  ],\n");
        std::printf("  \"counts_ok\": %s,\n", failures_.empty() ? "true" : "false");
        std::printf("  \"failures\": [");
        for (std::size_t i = 0; i < failures_.size(); ++i)
            std::printf("%s\"%s\"", i ? ", " : "", failures_[i].c_str());
        std::printf("]\n}\n");
        return;
    }

    std::printf(
        "monami-bench: %u HoAs x %u CoAs = %.0f bindings, TSC %.3f GHz, %s, %.1f s per scenario\n",
        opt_.hoas, opt_.coas, bindings, tsc_hz_ / 1e9, mode, opt_.duration_s);
    std::printf(
        "cyc/pkt: TSC cycles around busy worker iterations, preempted ones (> 8x median) left "
        "out;\nMpps = TSC Hz / cyc/pkt (capacity at full bursts); see docs/performance.md\n\n");
    std::printf("%-44s %-30s %-30s %s\n", "figure (SPEC.md)", "measured", "target", "");
    if (fwd) {
        char m[64], b[64];
        std::snprintf(m, sizeof m, "%.2f Mpps, %.0f cyc/pkt", fwd->mpps, fwd->cycles_per_packet);
        std::snprintf(b, sizeof b, "%.2f Mpps, %.0f cyc/pkt", fwd->baseline_mpps,
                      fwd->baseline_cycles_per_packet);
        std::printf("%-44s %-30s %-30s %s\n", ("forward, " + fwd->name).c_str(), m,
                    "<= 120 cyc/pkt (stretch 90)", verdict(fwd->cycles_per_packet <= 120));
        std::printf("%-44s %-30s %-30s\n", "  baseline: io forwarding, same ports", b, "");
        std::snprintf(m, sizeof m, "%.3f", ratio);
        std::printf("%-44s %-30s %-30s %s\n", "  forward / baseline", m, ">= 0.70",
                    verdict(ratio >= 0.7));
    }
    if (rev) {
        char m[64];
        std::snprintf(m, sizeof m, "%.2f Mpps, %.0f cyc/pkt", rev->mpps, rev->cycles_per_packet);
        std::printf("%-44s %-30s %-30s %s\n", "reverse (ingress check + decap)", m, "<= 80 cyc/pkt",
                    verdict(rev->cycles_per_packet <= 80));
    }
    char m[96];
    std::snprintf(m, sizeof m, "%.0f /s", bu_per_second_);
    std::printf("%-44s %-30s %-30s %s\n", "Binding Updates (no ESP), provisioning", m,
                ">= 1,000,000/s", verdict(bu_per_second_ >= 1e6));
    std::snprintf(m, sizeof m, "%.0f /s", bu_live_per_second_);
    std::printf("%-44s %-30s %-30s %s\n", "Binding Updates while forwarding", m, ">= 1,000,000/s",
                verdict(bu_live_per_second_ >= 1e6));
    std::snprintf(m, sizeof m, "%.0f -> %.0f cyc/pkt (%+.1f%%)", live_quiet_cpp_, live_flood_cpp_,
                  drop * 100);
    std::printf("%-44s %-30s %-30s\n", "  forwarding cost during those updates", m, "");
    std::snprintf(m, sizeof m, "p50 %.1f, p99 %.1f, p99.9 %.1f us", latency_.p50, latency_.p99,
                  latency_.p999);
    std::printf("%-44s %-30s %-30s %s\n", "BA built -> worker uses the new binding", m,
                "p99 <= 100 us", verdict(latency_.samples > 0 && latency_.p99 <= 100));
    std::snprintf(m, sizeof m, "%.0f bytes", bytes_per_binding);
    std::printf("%-44s %-30s %-30s %s\n", "memory per binding (hash + snapshots)", m,
                "<= 256 bytes", verdict(bytes_per_binding <= 256));
    std::snprintf(m, sizeof m, "+%.0f counters, +%.0f control",
                  static_cast<double>(counter_bytes_) / bindings, control_bytes_per_binding_);
    std::printf("%-44s %-30s\n", "  not counted above (bytes per binding)", m);
    std::printf("\n%-30s %-8s %-8s %10s %9s %10s %12s %9s %7s\n", "scenario", "size", "dist",
                "Mpps", "cyc/pkt", "wall Mpps", "base Mpps", "base cyc", "ratio");
    for (const auto& s : scenarios_)
        std::printf("%-30s %-8s %-8s %10.2f %9.0f %10.2f %12.2f %9.0f %7.3f\n", s.name.c_str(),
                    s.sizes.c_str(), s.distribution.c_str(), s.mpps, s.cycles_per_packet,
                    s.wall_mpps, s.baseline_mpps, s.baseline_cycles_per_packet,
                    s.baseline_mpps > 0 ? s.mpps / s.baseline_mpps : 0.0);
    std::printf("\ncounts: %s\n", failures_.empty()
                                      ? "ok (in = out + counted drops; sampled CoAs as registered)"
                                      : "FAILED");
    for (const auto& f : failures_) std::printf("  %s\n", f.c_str());
}

}  // namespace

int main(int argc, char** argv) {
    int dashdash = -1;
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--") == 0) {
            dashdash = i;
            break;
        }
    auto options = parse_options(argc, argv, dashdash >= 0 ? dashdash + 1 : 1);
    if (!options) {
        usage();
        return 2;
    }
    const Options& opt = *options;
    std::vector<std::string> eal{argv[0]};
    if (dashdash > 0) {
        for (int i = 1; i < dashdash; ++i) eal.emplace_back(argv[i]);
    } else {
        // The HoA table and per-binding counters grow with the bindings.
        unsigned mb = 512 + static_cast<unsigned>(std::uint64_t{opt.hoas} * 256 >> 20);
        // A private file prefix: other DPDK processes on the machine are left alone.
        eal.insert(eal.end(), {"-l", "0,1", "--no-huge", "-m", std::to_string(mb), "--no-shconf",
                               "--file-prefix", "monami-bench-" + std::to_string(getpid()),
                               "--no-pci", "--no-telemetry"});
    }
    if (!opt.verbose) eal.emplace_back("--log-level=4");  // warnings and worse
    std::vector<char*> eal_argv;
    for (auto& s : eal) eal_argv.push_back(s.data());
    eal_argv.push_back(nullptr);
    if (rte_eal_init(static_cast<int>(eal.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "monami-bench: EAL initialisation failed: %s\n",
                     rte_strerror(rte_errno));
        return 1;
    }
    if (!opt.verbose) rte_log_set_level_pattern("monami.*", RTE_LOG_WARNING);

    int rc = 0;
    {
        Bench bench(opt);
        std::string error;
        if (!bench.setup(error)) {
            std::fprintf(stderr, "monami-bench: %s\n", error.c_str());
            bench.teardown();
            rte_eal_cleanup();
            return 1;
        }
        bench.provision();
        for (auto dist : opt.distributions)
            if (opt.runs("encap"))
                bench.throughput("encap 64B " + std::string(bench::to_string(dist)),
                                 Direction::Encap, {64}, dist);
        if (opt.runs("imix"))
            bench.throughput("encap IMIX uniform", Direction::Encap, bench::imix_sizes(),
                             Distribution::Uniform);
        for (auto dist : opt.distributions)
            if (opt.runs("decap"))
                bench.throughput("decap 64B " + std::string(bench::to_string(dist)),
                                 Direction::Decap, {64}, dist);
        if (opt.runs("ncast") && opt.coas >= 2 && opt.flow_share > 0 &&
            opt.hoas * opt.flow_share >= 1)
            bench.throughput("ncast x2 64B uniform", Direction::Ncast, {64}, Distribution::Uniform);
        if (opt.runs("latency")) bench.update_latency();
        if (opt.runs("updates")) bench.live_updates();
        bench.report();
        rc = bench.counts_ok() ? 0 : 3;
        bench.teardown();
    }
    rte_eal_cleanup();
    return rc;
}
