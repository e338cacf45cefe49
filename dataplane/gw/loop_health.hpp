// The control loop's health as figures (telemetry /monami/loop, the final statistics): how
// long each iteration took, what it handled, how full the control ring was, and a
// rate-limited warning for an iteration over the configured bound. Owned by the control
// thread; telemetry reads it through a question the control thread answers.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "dataplane/api/control_query.hpp"
#include "dataplane/api/histogram.hpp"

namespace monami::dp {

class LoopHealth {
  public:
    // `warn_ns`: an iteration longer than this is reported by slow_iterations() (0: never).
    explicit LoopHealth(std::uint64_t warn_ns) : warn_ns_(warn_ns) {}

    // Where an iteration's time went, in ns: punted frames, timers (on_tick), port links,
    // RCU reclaim, telemetry answers.
    enum Phase : unsigned { Frames, Timers, Links, Reclaim, Queries, kPhases };
    using Phases = std::array<std::uint64_t, kPhases>;

    // One iteration that took `ns` (`phases` of it), handled `frames` punted frames and
    // queries, and left `ring_occupancy` frames in the control ring.
    void record(std::uint64_t ns, const Phases& phases, unsigned frames, unsigned ring_occupancy) {
        iterations_.record(ns);
        if (ns > slowest_ns_) {
            slowest_ns_ = ns;
            slowest_phases_ = phases;
        }
        frames_ += frames;
        max_frames_ = std::max<std::uint64_t>(max_frames_, frames);
        if (frames) ++busy_iterations_;
        max_ring_ = std::max<std::uint64_t>(max_ring_, ring_occupancy);
        ring_now_ = ring_occupancy;
        if (warn_ns_ && ns > warn_ns_) {
            ++slow_;
            ++slow_unreported_;
            if (ns > slowest_unreported_ns_) {
                slowest_unreported_ns_ = ns;
                slowest_unreported_phases_ = phases;
            }
        }
    }

    // A line to log when iterations were slow since the last line, at most one a second
    // (`now_ms`); empty otherwise.
    std::string slow_iterations(std::uint64_t now_ms);

    // /monami/loop: counts, p50/p99/p999/max, and the histogram's non-empty buckets as
    // "UPPER_NS=COUNT" (cumulative since start: a reader subtracts two readings).
    void report(QueryReply& reply, std::uint64_t ring_drops) const;
    // The final statistics' line.
    std::string summary_line() const;

    const LatencyHistogram& iterations() const { return iterations_; }
    // A reload changed dataplane.slow_iteration_warning_us.
    void set_warning(std::uint64_t warn_ns) { warn_ns_ = warn_ns; }

  private:
    std::uint64_t warn_ns_;
    LatencyHistogram iterations_;
    std::uint64_t frames_ = 0;
    std::uint64_t max_frames_ = 0;
    std::uint64_t busy_iterations_ = 0;
    std::uint64_t max_ring_ = 0;
    std::uint64_t ring_now_ = 0;
    std::uint64_t slow_ = 0;
    std::uint64_t slow_unreported_ = 0;
    std::uint64_t slowest_unreported_ns_ = 0;
    Phases slowest_unreported_phases_{};
    std::uint64_t slowest_ns_ = 0;  // since start, and where its time went
    Phases slowest_phases_{};
    std::uint64_t last_warning_ms_ = 0;
};

}  // namespace monami::dp
