// monami-bench's Bench: the Runtime on two ring ports, the main HomeAgent, the generator,
// the collector, the peer router, and every phase's results. One class, defined by phase:
// bench.cpp (setup, the worker's loop, flushing, the counts around a phase, teardown),
// provision.cpp (registrations, lifetime refresh), throughput.cpp, live_updates.cpp
// (updates while forwarding, update latency), esp.cpp, failover.cpp, report.cpp.
#pragma once

#include <rte_lcore.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "controlplane/ha/home_agent.hpp"
#include "dataplane/bench/measurement.hpp"
#include "dataplane/bench/options.hpp"
#include "dataplane/bench/peer_router.hpp"
#include "dataplane/bench/plan.hpp"
#include "dataplane/bench/traffic.hpp"
#include "dataplane/counters.hpp"
#include "dataplane/runtime.hpp"

namespace monami::bench {

// The steady clock in milliseconds: the HomeAgents' clock.
std::uint64_t now_ms();

// One throughput scenario: monami's figures, the equal-work peer's and the io baseline's.
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
    double peer_cycles_per_packet = 0;
    double peer_mpps = 0;
    double peer_raw_cycles_per_packet = 0;
    double preempted_share = 0;
    double vs_peer() const {
        return peer_cycles_per_packet > 0 ? cycles_per_packet / peer_cycles_per_packet : 0;
    }
};

// Of latency samples in microseconds (nearest rank).
struct Percentiles {
    double p50 = 0, p99 = 0, p999 = 0, max = 0;
    std::size_t samples = 0;
};

Percentiles percentiles(std::vector<double> v);

// The worker lcore's entry (rte_eal_remote_launch): runs the std::function<void()> at arg.
int worker_lcore_main(void* arg);

class Bench {
  public:
    Bench(const Options& o) : opt_(o), collector_(plan_, o.coas, o.check_all) {}

    bool setup(std::string& error);
    void provision();
    void refresh();
    std::uint64_t register_all(const char* phase, std::uint32_t count);
    ScenarioResult throughput(const std::string& name, Direction dir,
                              const std::vector<std::uint16_t>& sizes, Distribution dist);
    void live_updates();
    void update_latency();
    void esp_updates();
    void failover();
    void teardown();
    void report() const;
    bool counts_ok() const { return failures_.empty(); }

  private:
    // Busy: the main lcore spins on arithmetic instead of handling BUs (no memory, no
    // publication, no frames): what any busy neighbour core costs the worker on this machine.
    enum class LiveMode { Quiet, Flood, Probe, Busy };
    struct Window {
        std::uint64_t busy_cycles = 0, packets = 0, control_cycles = 0, updates = 0;
        std::uint64_t control_frames = 0;  // BAs, NAs... the worker sent for the control thread
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
    // The same for the agents of the ESP and failover phases.
    void feed_agent(ha::HomeAgent& agent, unsigned& fed, const std::vector<std::uint8_t>& frame,
                    std::uint64_t now) {
        agent.on_frame(ports_[1], PuntReason::Local, 0, frame, now);
        if (++fed == kControlBurst) {
            agent.on_tick(now);
            fed = 0;
        }
    }
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
        bench::PeerRouter::Counters peer;
    };
    Mark mark() const {
        return {rt_->totals(), generator_->offered, collector_.total(),
                shared_.io_tx, shared_.io_drops,    peer_->counters()};
    }
    void check_counts(const std::string& phase, const Mark& a, const Mark& b, unsigned copies,
                      Forwarder forwarder = Forwarder::Monami);

    Options opt_;
    Plan plan_;
    Collector collector_;
    WorkerShared shared_;
    std::unique_ptr<dp::Runtime> rt_;
    std::unique_ptr<MeasuringDataPlane> dataplane_;
    std::unique_ptr<ha::HomeAgent> agent_;
    std::unique_ptr<Generator> generator_;
    std::unique_ptr<bench::PeerRouter> peer_;
    rte_mempool* pool_ = nullptr;
    rte_ring* rx_[2] = {};
    rte_ring* tx_[2] = {};
    PortId ports_[2] = {};
    unsigned worker_lcore_ = RTE_MAX_LCORE;  // none: one lcore interleaves everything
    double tsc_hz_ = 0;
    std::uint32_t ncast_period_ = 0;
    std::vector<std::uint16_t> sequence_;
    std::uint8_t generation_ = 0;
    ha::HaSettings settings_;  // of the main agent; the other phases' agents start from it

    // The ESP and failover phases run their own HomeAgent on the same Runtime, with HoAs
    // numbered after the main agent's and counter slots after its slots.
    static constexpr std::uint32_t kEspMaxHoas = 10000;
    static constexpr std::uint32_t kFailoverPaths = 64;
    std::uint32_t esp_hoas_ = 0;
    std::uint32_t esp_first_hoa_ = 0;
    std::uint32_t failover_hoa_ = 0;
    std::uint32_t esp_slot_offset_ = 0, esp_paths_ = 0, failover_slot_offset_ = 0;

    // Results.
    double bu_per_second_ = 0;
    double bu_per_second_refresh_ = 0;
    std::uint32_t refreshed_ = 0;
    double bu_seconds_ = 0;
    double bu_live_per_second_ = 0;
    double live_busy_full_cpp_ = 0;
    // What a window's full-burst cycles/packet add to the quiet window's, as a share.
    double over_quiet_full_bursts(double cpp) const {
        return live_quiet_full_cpp_ > 0 ? cpp / live_quiet_full_cpp_ - 1 : 0.0;
    }
    double live_quiet_full_cpp_ = 0, live_flood_full_cpp_ = 0, live_quiet_burst_ = 0,
           live_flood_burst_ = 0;
    std::uint64_t live_control_frames_ = 0;
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
    double bu_per_second_esp_ = 0;
    std::uint64_t esp_updates_ = 0, esp_acks_ = 0, esp_sampled_ = 0, esp_sample_accepted_ = 0;
    Percentiles failover_;
    Percentiles failover_publish_;  // detection tick start -> snapshot published
    unsigned failover_cycles_ = 0, failover_timeouts_ = 0, failover_skipped_ = 0;
    std::uint64_t failover_healthy_offered_ = 0, failover_healthy_loss_ = 0;
    std::uint64_t failover_healthy_before_ = 0, failover_healthy_after_ = 0;
    std::uint64_t failover_moved_ = 0;  // packets of the failed CoA's flows on the other CoA
    std::vector<ScenarioResult> scenarios_;
    std::vector<std::string> failures_;
    double last_progress_ = 0;
};

}  // namespace monami::bench
