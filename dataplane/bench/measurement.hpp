// What monami-bench's worker lcore shares with the main lcore (WorkerShared: the stop
// flag, the probes, the busy iterations' samples and CycleStats over them), and the
// DataPlanes the bench's HomeAgents talk to: the Runtime, measured on the way.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <utility>
#include <vector>

#include "dataplane/api/control.hpp"
#include "dataplane/counters.hpp"
#include "dataplane/runtime.hpp"

namespace monami::bench {

constexpr std::uint32_t kNoProbe = 0xffffffffu;

// What the worker runs on the ports: monami's pipeline, or one of the two it is compared with.
enum class Forwarder { Monami, Peer, IoBaseline };

// Written by the worker lcore only (single-writer counters), read by the main lcore.
struct alignas(64) WorkerShared {
    std::atomic<bool> stop{false};
    std::atomic<Forwarder> forwarder{Forwarder::Monami};
    std::atomic<std::uint32_t> probe_slot{kNoProbe};
    std::atomic<std::uint64_t> probe_baseline{0};
    std::atomic<std::uint64_t> probe_seen_tsc{0};
    // Failover probe: the worker takes a baseline of the slot's (packets, bytes) itself, then
    // stamps the first iteration after which bytes != failover_unit x packets since then.
    std::atomic<std::uint32_t> failover_slot{kNoProbe};
    std::atomic<bool> failover_armed{false};
    std::atomic<std::uint64_t> failover_seen_tsc{0};
    std::uint64_t failover_unit = 0;                           // set before failover_slot
    std::uint64_t failover_packets0 = 0, failover_bytes0 = 0;  // worker only
    alignas(64) std::uint64_t busy_cycles = 0;                 // iterations that received packets
    std::uint64_t packets = 0;
    std::uint64_t io_tx = 0;
    std::uint64_t io_drops = 0;
    // Busy iterations of the current phase (cycles, packets), preallocated: a noisy machine
    // preempts some of them, and those are told apart from the rest afterwards.
    std::vector<std::pair<std::uint32_t, std::uint32_t>> samples;
    std::size_t sample_count = 0;
    std::uint64_t busy_sink = 0;  // keeps LiveMode::Busy's arithmetic from being optimised out
};

// Cycles per packet over the busy iterations, leaving out those that took more than 8x the
// median per-packet cost (the worker was preempted: this machine is shared); the share left
// out is reported.
struct CycleStats {
    double cycles_per_packet = 0;      // trimmed
    double raw_cycles_per_packet = 0;  // every busy iteration
    double trimmed_share = 0;          // of iterations
    // Iterations that received a full burst only: their cost per packet does not depend on
    // how fast the generator keeps up, so two windows compare at the same burst size.
    double full_burst_cycles_per_packet = 0;
    double mean_burst = 0;  // packets per busy iteration
};

CycleStats cycle_stats(const WorkerShared& shared);

// A HomeAgent's DataPlane that hands what it does not measure or hook to the Runtime.
class RuntimeDataPlane : public DataPlane {
  public:
    explicit RuntimeDataPlane(dp::Runtime& rt) : rt_(rt) {}

    bool route_packet(std::span<const std::uint8_t> ipv6_packet) override {
        return rt_.route_packet(ipv6_packet);
    }
    void publish_routing(const RoutingState& state) override { rt_.publish_routing(state); }
    void set_serving(bool serving) override { rt_.set_serving(serving); }
    void publish_neighbor(const Neighbor& neighbor) override { rt_.publish_neighbor(neighbor); }
    void withdraw_hoa(const HomeAddress& hoa) override { rt_.withdraw_hoa(hoa); }
    void reclaim() override { rt_.reclaim(); }

  protected:
    dp::Runtime& rt_;
};

// The DataPlane the main HomeAgent talks to: the Runtime, measured on the way.
class MeasuringDataPlane final : public RuntimeDataPlane {
  public:
    MeasuringDataPlane(dp::Runtime& rt, WorkerShared& shared)
        : RuntimeDataPlane(rt), shared_(shared) {}

    bool send_frame(PortId port, std::span<const std::uint8_t> frame) override;
    void publish_hoa(const HoaSnapshot& snapshot) override;
    PathCounters path_counters(std::uint32_t slot) const override {
        return rt_.path_counters(slot);
    }

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

    WorkerShared& shared_;
    HomeAddress probe_hoa_;
    bool probe_pending_ = false;
    bool probe_armed_ = false;
};

// The DataPlane of a second HomeAgent on the same Runtime (the ESP and failover phases):
// its counter slots are moved past the main agent's, and hooks see what it sends and
// publishes (on the control thread, before the Runtime does).
class SideDataPlane final : public RuntimeDataPlane {
  public:
    SideDataPlane(dp::Runtime& rt, std::uint32_t slot_offset)
        : RuntimeDataPlane(rt), slot_offset_(slot_offset) {}

    std::function<void(PortId, std::span<const std::uint8_t>)> on_send;
    std::function<void(const HoaSnapshot&)> on_publish;

    bool send_frame(PortId port, std::span<const std::uint8_t> frame) override;
    void publish_hoa(const HoaSnapshot& snapshot) override;
    PathCounters path_counters(std::uint32_t slot) const override {
        return rt_.path_counters(slot + slot_offset_);
    }

  private:
    std::uint32_t slot_offset_;
};

}  // namespace monami::bench
