// monami-bench's report: every figure against its target (SPEC.md), as a table or as one
// JSON object on stdout.
#include "dataplane/bench/bench.hpp"

#include <rte_eal.h>
#include <rte_lcore.h>

#include <cstdio>
#include <string>
#include <tuple>

namespace monami::bench {

namespace {

const char* verdict(bool met) {
    return met ? "met" : "MISSED";
}

// The equal-work peer beside a scenario: its cost, and monami's over it (goal: no more).
void print_peer_rows(const ScenarioResult& s) {
    char m[64];
    std::snprintf(m, sizeof m, "%.2f Mpps, %.0f cyc/pkt", s.peer_mpps, s.peer_cycles_per_packet);
    std::printf("%-44s %-30s %-30s\n", "  peer: l3fwd-EM IPv6 router, same ports", m, "");
    std::snprintf(m, sizeof m, "%.3f", s.vs_peer());
    std::printf("%-44s %-30s %-30s %s\n", "  monami / peer (cyc/pkt)", m, "<= 1.00",
                verdict(s.peer_cycles_per_packet > 0 && s.vs_peer() <= 1.0));
}

}  // namespace

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
        // The equal-work peer on the encap traffic, and monami's cycles over the peer's.
        std::printf("  \"peer_cycles_per_packet\": %.1f,\n",
                    fwd ? fwd->peer_cycles_per_packet : 0.0);
        std::printf("  \"peer_mpps\": %.3f,\n", fwd ? fwd->peer_mpps : 0.0);
        std::printf("  \"encap_vs_peer\": %.3f,\n", fwd ? fwd->vs_peer() : 0.0);
        std::printf("  \"decap_peer_cycles_per_packet\": %.1f,\n",
                    rev ? rev->peer_cycles_per_packet : 0.0);
        std::printf("  \"decap_vs_peer\": %.3f,\n", rev ? rev->vs_peer() : 0.0);
        std::printf("  \"bu_per_second\": %.0f,\n", bu_per_second_);
        std::printf("  \"bu_per_second_refresh\": %.0f,\n", bu_per_second_refresh_);
        std::printf("  \"refreshed\": %u,\n", refreshed_);
        std::printf("  \"bu_per_second_while_forwarding\": %.0f,\n", bu_live_per_second_);
        std::printf("  \"updates_while_forwarding\": %lu,\n", live_updates_);
        std::printf("  \"forward_cycles_per_packet_quiet\": %.1f,\n", live_quiet_cpp_);
        std::printf("  \"forward_cycles_per_packet_during_updates\": %.1f,\n", live_flood_cpp_);
        std::printf("  \"forward_drop_during_updates\": %.3f,\n", drop);
        // Iterations with full bursts only, so every window compares at the same burst size.
        std::printf(
            "  \"forward_cycles_per_packet_full_bursts\": {\"quiet\": %.1f, "
            "\"during_updates\": %.1f, \"busy_neighbour\": %.1f, \"storm_cost\": %.3f, "
            "\"busy_neighbour_cost\": %.3f},\n",
            live_quiet_full_cpp_, live_flood_full_cpp_, live_busy_full_cpp_,
            over_quiet_full_bursts(live_flood_full_cpp_),
            over_quiet_full_bursts(live_busy_full_cpp_));
        std::printf("  \"mean_burst\": {\"quiet\": %.2f, \"during_updates\": %.2f},\n",
                    live_quiet_burst_, live_flood_burst_);
        std::printf("  \"control_frames_during_updates\": %lu,\n", live_control_frames_);
        std::printf(
            "  \"update_latency_us\": {\"p50\": %.2f, \"p99\": %.2f, \"p999\": %.2f, \"max\": "
            "%.2f, "
            "\"samples\": %zu, \"timeouts\": %u},\n",
            latency_.p50, latency_.p99, latency_.p999, latency_.max, latency_.samples,
            probe_timeouts_);
        std::printf("  \"bu_per_second_esp\": %.0f,\n", bu_per_second_esp_);
        std::printf(
            "  \"esp\": {\"binding_updates\": %lu, \"binding_acks_in_esp\": %lu, \"sampled\": %lu, "
            "\"sampled_accepted\": %lu},\n",
            esp_updates_, esp_acks_, esp_sampled_, esp_sample_accepted_);
        std::printf(
            "  \"failover_us\": {\"p50\": %.2f, \"p99\": %.2f, \"max\": %.2f, \"samples\": %zu, "
            "\"timeouts\": %u, \"cycles\": %u, \"skipped\": %u},\n",
            failover_.p50, failover_.p99, failover_.max, failover_.samples, failover_timeouts_,
            failover_cycles_, failover_skipped_);
        std::printf("  \"failover_publish_us\": {\"p50\": %.2f, \"max\": %.2f},\n",
                    failover_publish_.p50, failover_publish_.max);
        std::printf("  \"failover_healthy_loss\": %lu,\n", failover_healthy_loss_);
        std::printf(
            "  \"failover_healthy_packets\": {\"offered\": %lu, \"before_detection\": %lu, "
            "\"after_detection\": %lu},\n",
            failover_healthy_offered_, failover_healthy_before_, failover_healthy_after_);
        std::printf("  \"failover_moved_packets\": %lu,\n", failover_moved_);
        std::printf("  \"bytes_per_binding\": %.1f,\n", bytes_per_binding);
        std::printf(
            "  \"memory\": {\"hash_bytes\": %zu, \"snapshot_bytes\": %zu, \"counter_bytes\": %zu, "
            "\"control_bytes_per_binding\": %.1f},\n",
            hash_bytes_, snapshot_bytes_, counter_bytes_, control_bytes_per_binding_);
        std::printf("  \"bindings\": %.0f,\n", bindings);
        std::printf("  \"home_addresses\": %u,\n", opt_.hoas);
        std::printf("  \"registration_order\": \"%s\",\n",
                    opt_.shuffled_registrations ? "shuffled" : "sequential");
        std::printf("  \"coas_per_hoa\": %u,\n", opt_.coas);
        std::printf("  \"binding_acks\": %lu,\n", acks_);
        std::printf("  \"tsc_hz\": %.0f,\n", tsc_hz_);
        std::printf("  \"mode\": \"%s\",\n", mode);
        std::printf("  \"scheduling\": \"%s\",\n", opt_.realtime ? "fifo" : "other");
        std::printf("  \"hugepages\": %s,\n", rte_eal_has_hugepages() ? "true" : "false");
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
                "\"peer_mpps\": %.3f, \"peer_cycles_per_packet\": %.1f, "
                "\"peer_raw_cycles_per_packet\": %.1f, \"vs_peer\": %.3f, "
                "\"preempted_share\": %.4f}%s\n",
                s.name.c_str(), to_string(s.direction), s.sizes.c_str(), s.distribution.c_str(),
                s.packets, s.mpps, s.cycles_per_packet, s.wall_mpps, s.baseline_mpps,
                s.baseline_cycles_per_packet, s.baseline_mpps > 0 ? s.mpps / s.baseline_mpps : 0.0,
                s.raw_cycles_per_packet, s.baseline_raw_cycles_per_packet, s.peer_mpps,
                s.peer_cycles_per_packet, s.peer_raw_cycles_per_packet, s.vs_peer(),
                s.preempted_share, i + 1 < scenarios_.size() ? "," : "");
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
        "monami-bench: %u HoAs x %u CoAs = %.0f bindings, TSC %.3f GHz, %s (%s), %s, %.1f s "
        "per scenario\n",
        opt_.hoas, opt_.coas, bindings, tsc_hz_ / 1e9, mode,
        opt_.realtime ? "SCHED_FIFO" : "shared: tails include descheduling",
        rte_eal_has_hugepages() ? "hugepages" : "4 KB pages", opt_.duration_s);
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
        print_peer_rows(*fwd);
    }
    if (rev) {
        char m[64];
        std::snprintf(m, sizeof m, "%.2f Mpps, %.0f cyc/pkt", rev->mpps, rev->cycles_per_packet);
        std::printf("%-44s %-30s %-30s %s\n", "reverse (ingress check + decap)", m, "<= 80 cyc/pkt",
                    verdict(rev->cycles_per_packet <= 80));
        print_peer_rows(*rev);
    }
    char m[96];
    std::snprintf(m, sizeof m, "%.0f /s", bu_per_second_);
    std::printf("%-44s %-30s %-30s %s\n", "Binding Updates (no ESP), provisioning", m,
                ">= 1,000,000/s", verdict(bu_per_second_ >= 1e6));
    if (refreshed_ != 0) {
        std::snprintf(m, sizeof m, "%.0f /s (%u HoAs)", bu_per_second_refresh_, refreshed_);
        std::printf("%-44s %-30s %-30s %s\n", "Binding Updates (no ESP), lifetime refresh", m,
                    ">= 1,000,000/s", verdict(bu_per_second_refresh_ >= 1e6));
    }
    if (live_updates_ != 0) {
        std::snprintf(m, sizeof m, "%.0f /s", bu_live_per_second_);
        std::printf("%-44s %-30s %-30s %s\n", "Binding Updates while forwarding", m,
                    ">= 1,000,000/s", verdict(bu_live_per_second_ >= 1e6));
        std::snprintf(m, sizeof m, "%.0f -> %.0f cyc/pkt (%+.1f%%)", live_quiet_cpp_,
                      live_flood_cpp_, drop * 100);
        std::printf("%-44s %-30s %-30s\n", "  forwarding cost during those updates", m, "");
        for (auto [label, cpp, target] :
             {std::tuple{"  the same in full bursts of 32", live_flood_full_cpp_, "<= +10%"},
              std::tuple{"  beside a core busy with arithmetic alone", live_busy_full_cpp_, ""}}) {
            std::snprintf(m, sizeof m, "%.0f -> %.0f cyc/pkt (%+.1f%%)", live_quiet_full_cpp_, cpp,
                          over_quiet_full_bursts(cpp) * 100);
            std::printf("%-44s %-30s %-30s\n", label, m, target);
        }
    } else {
        std::printf("%-44s %-30s %-30s\n", "Binding Updates while forwarding", "not run",
                    ">= 1,000,000/s");
    }
    std::snprintf(m, sizeof m, "p50 %.1f, p99 %.1f, p99.9 %.1f us", latency_.p50, latency_.p99,
                  latency_.p999);
    std::printf("%-44s %-30s %-30s %s\n", "BA built -> worker uses the new binding", m,
                "p99 <= 100 us", verdict(latency_.samples > 0 && latency_.p99 <= 100));
    if (esp_updates_ != 0)
        std::snprintf(m, sizeof m, "%.0f /s (%lu BUs)", bu_per_second_esp_, esp_updates_);
    else
        std::snprintf(m, sizeof m, "not run");
    std::printf("%-44s %-30s %-30s %s\n", "Binding Updates (ESP AES-GCM)", m, ">= 500,000/s",
                esp_updates_ ? verdict(bu_per_second_esp_ >= 5e5) : "");
    bool failover_ran = failover_cycles_ != 0;
    if (failover_ran)
        std::snprintf(m, sizeof m, "p50 %.1f, p99 %.1f, max %.1f us", failover_.p50, failover_.p99,
                      failover_.max);
    else
        std::snprintf(m, sizeof m, "not run");
    // SPEC: within 1 ms of detection (p99, as for the update latency), and zero loss on flows
    // of healthy CoAs; each half gets its own verdict.
    std::printf("%-44s %-30s %-30s %s\n", "failover: detection -> flows on other CoA", m,
                "p99 <= 1 ms after detection",
                failover_ran ? verdict(failover_.samples > 0 && failover_.p99 <= 1000 &&
                                       failover_timeouts_ == 0)
                             : "");
    std::snprintf(m, sizeof m, "%lu lost of %lu", failover_healthy_loss_,
                  failover_healthy_offered_);
    std::printf(
        "%-44s %-30s %-30s %s\n", "  packets of flows on the healthy CoA", m, "zero loss",
        failover_ran ? verdict(failover_healthy_offered_ > 0 && failover_healthy_loss_ == 0) : "");
    std::snprintf(m, sizeof m, "%.0f bytes", bytes_per_binding);
    std::printf("%-44s %-30s %-30s %s\n", "memory per binding (hash + snapshots)", m,
                "<= 256 bytes", verdict(bytes_per_binding <= 256));
    std::snprintf(m, sizeof m, "+%.0f counters, +%.0f control",
                  static_cast<double>(counter_bytes_) / bindings, control_bytes_per_binding_);
    std::printf("%-44s %-30s\n", "  not counted above (bytes per binding)", m);
    std::printf("\n%-30s %-8s %-8s %10s %9s %10s %9s %7s %12s %9s %7s\n", "scenario", "size",
                "dist", "Mpps", "cyc/pkt", "wall Mpps", "peer cyc", "/peer", "base Mpps",
                "base cyc", "ratio");
    for (const auto& s : scenarios_)
        std::printf("%-30s %-8s %-8s %10.2f %9.0f %10.2f %9.0f %7.3f %12.2f %9.0f %7.3f\n",
                    s.name.c_str(), s.sizes.c_str(), s.distribution.c_str(), s.mpps,
                    s.cycles_per_packet, s.wall_mpps, s.peer_cycles_per_packet, s.vs_peer(),
                    s.baseline_mpps, s.baseline_cycles_per_packet,
                    s.baseline_mpps > 0 ? s.mpps / s.baseline_mpps : 0.0);
    std::printf("\ncounts: %s\n", failures_.empty()
                                      ? "ok (in = out + counted drops; sampled CoAs as registered)"
                                      : "FAILED");
    for (const auto& f : failures_) std::printf("  %s\n", f.c_str());
}

}  // namespace monami::bench
