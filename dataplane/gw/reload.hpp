// Live reload of monami-gw's configuration (docs/config.md "Reloading"). Two triggers:
// SIGHUP (the handler only sets a flag; the control thread starts reading the file on a
// helper thread and applies it when it is read) and `monami-ctl reload` (the telemetry
// thread reads the file and hands it to the control thread through ControlQueries, so its
// answer carries the outcome). Reading and validating a file happens off the control thread;
// comparing and applying happen on it, between two iterations: it owns everything a reload
// changes.
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "config/load.hpp"
#include "config/schema.hpp"
#include "controlplane/ha/home_agent.hpp"
#include "dataplane/api/control_query.hpp"
#include "dataplane/gw/loop_health.hpp"
#include "dataplane/runtime.hpp"

namespace monami::gw {

struct ReloadRecord {
    std::uint64_t sequence = 0;  // 0: no reload yet
    std::string time;            // wall clock, ISO 8601 with milliseconds
    std::string trigger;         // "SIGHUP", "monami-ctl"
    ha::ReloadOutcome outcome = ha::ReloadOutcome::unchanged;
    // One line each: the FILE:LINE:COLUMN: errors of an invalid file, the refusal naming
    // the keys, or what was applied.
    std::vector<std::string> lines;
};

std::string_view to_string(ha::ReloadOutcome outcome);

class Reloader {
  public:
    // `running`: the configuration in force, replaced by each reload that applies.
    Reloader(std::string path, config::Config& running, const dp::Runtime& runtime,
             ha::HomeAgent& agent, dp::LoopHealth& loop);
    ~Reloader();

    // Any thread: reads and validates the file (a telemetry command does this before it asks
    // the control thread).
    static std::shared_ptr<config::LoadResult> read(const std::string& path);
    const std::string& path() const { return path_; }

    // Control thread. SIGHUP: starts reading the file on a helper thread (once more after
    // the current read when one is under way).
    void request(std::uint64_t now_ms);
    // Applies a finished read; call once an iteration.
    void poll(std::uint64_t now_ms);
    // Compares `loaded` with the running configuration and applies it, or refuses it, or
    // reports why it is invalid; logs the outcome and keeps it as last().
    const ReloadRecord& apply(config::LoadResult loaded, std::string trigger, std::uint64_t now_ms);
    const ReloadRecord& last() const { return last_; }
    // The last outcome into a telemetry answer: reload_sequence, reload_time, reload_trigger,
    // reload_result and reload_message (an array: DPDK telemetry strings hold 127 bytes, so
    // longer lines are wrapped, continuations starting with "  ").
    void report(QueryReply& reply) const;

  private:
    std::string path_;
    config::Config& running_;
    const dp::Runtime& runtime_;
    ha::HomeAgent& agent_;
    dp::LoopHealth& loop_;
    std::future<std::shared_ptr<config::LoadResult>> reading_;
    bool again_ = false;
    ReloadRecord last_;
};

}  // namespace monami::gw
