#include "dataplane/gw/loop_health.hpp"

#include <cstdio>

namespace monami::dp {

namespace {

const char* const kPhaseNames[LoopHealth::kPhases] = {"frames", "timers", "links", "reclaim",
                                                      "queries"};

std::string phase_text(const LoopHealth::Phases& phases) {
    std::string out;
    for (unsigned p = 0; p < LoopHealth::kPhases; ++p)
        out += std::string(out.empty() ? "" : " ") + kPhaseNames[p] + "=" +
               std::to_string(phases[p] / 1000) + "us";
    return out;
}

}  // namespace

std::string LoopHealth::slow_iterations(std::uint64_t now_ms) {
    if (slow_unreported_ == 0 || (last_warning_ms_ != 0 && now_ms - last_warning_ms_ < 1000))
        return {};
    char line[300];
    std::snprintf(
        line, sizeof line,
        "control loop: %lu iteration(s) over %lu us since the last report, the slowest "
        "%lu us (%s; %lu over the bound since start)",
        static_cast<unsigned long>(slow_unreported_), static_cast<unsigned long>(warn_ns_ / 1000),
        static_cast<unsigned long>(slowest_unreported_ns_ / 1000),
        phase_text(slowest_unreported_phases_).c_str(), static_cast<unsigned long>(slow_));
    slow_unreported_ = 0;
    slowest_unreported_ns_ = 0;
    last_warning_ms_ = now_ms;
    return line;
}

void LoopHealth::report(QueryReply& reply, std::uint64_t ring_drops) const {
    reply.add("iterations", iterations_.count());
    reply.add("busy_iterations", busy_iterations_);
    reply.add("frames", frames_);
    reply.add("max_frames_per_iteration", max_frames_);
    reply.add("p50_ns", iterations_.quantile_ns(0.50));
    reply.add("p99_ns", iterations_.quantile_ns(0.99));
    reply.add("p999_ns", iterations_.quantile_ns(0.999));
    reply.add("max_ns", iterations_.max_ns());
    reply.add("sum_ns", iterations_.sum_ns());
    reply.add("slowest_phases", phase_text(slowest_phases_));
    reply.add("slow_iterations", slow_);
    reply.add("slow_iteration_bound_ns", warn_ns_);
    reply.add("control_ring_occupancy", ring_now_);
    reply.add("control_ring_max_occupancy", max_ring_);
    reply.add("control_ring_drops", ring_drops);
    reply.add("buckets", iterations_.bucket_entries());
}

std::string LoopHealth::summary_line() const {
    char line[300];
    std::snprintf(line, sizeof line,
                  "iterations %lu p50_us %.1f p99_us %.1f max_us %.1f slow %lu frames %lu "
                  "max_frames %lu ring_max %lu",
                  static_cast<unsigned long>(iterations_.count()),
                  static_cast<double>(iterations_.quantile_ns(0.5)) / 1000.0,
                  static_cast<double>(iterations_.quantile_ns(0.99)) / 1000.0,
                  static_cast<double>(iterations_.max_ns()) / 1000.0,
                  static_cast<unsigned long>(slow_), static_cast<unsigned long>(frames_),
                  static_cast<unsigned long>(max_frames_), static_cast<unsigned long>(max_ring_));
    return line;
}

}  // namespace monami::dp
