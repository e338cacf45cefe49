#include "dataplane/metrics.hpp"

#include <rte_cycles.h>
#include <rte_ethdev.h>

#include <chrono>
#include <cstdlib>
#include <string_view>

#include "dataplane/api/metrics_text.hpp"
#include "dataplane/counters.hpp"

namespace monami::dp {

namespace {

using Type = MetricsText::Type;

// Shorter than telemetry's: a scrape that waits longer than Prometheus' default 10 s timeout
// is lost anyway, and a stuck control thread should show as such quickly.
constexpr std::chrono::milliseconds kAnswerTimeout{2000};

std::uint64_t number(const QueryReply& reply, std::string_view key) {
    const auto* v = reply.find(key);
    const auto* n = v ? std::get_if<std::uint64_t>(v) : nullptr;
    return n ? *n : 0;
}

std::string text(const QueryReply& reply, std::string_view key) {
    const auto* v = reply.find(key);
    const auto* s = v ? std::get_if<std::string>(v) : nullptr;
    return s ? *s : std::string();
}

std::vector<std::string> list(const QueryReply& reply, std::string_view key) {
    const auto* v = reply.find(key);
    const auto* l = v ? std::get_if<std::vector<std::string>>(v) : nullptr;
    return l ? *l : std::vector<std::string>();
}

void ports(MetricsText& m, const Runtime& runtime) {
    struct Figure {
        const char* name;
        const char* help;
        std::uint64_t rte_eth_stats::*field;
    };
    static constexpr Figure kFigures[] = {
        {"monami_port_rx_packets_total", "Packets the port received", &rte_eth_stats::ipackets},
        {"monami_port_tx_packets_total", "Packets the port sent", &rte_eth_stats::opackets},
        {"monami_port_rx_bytes_total", "Bytes the port received", &rte_eth_stats::ibytes},
        {"monami_port_tx_bytes_total", "Bytes the port sent", &rte_eth_stats::obytes},
        {"monami_port_rx_errors_total", "Erroneous packets the port received",
         &rte_eth_stats::ierrors},
        {"monami_port_tx_errors_total", "Packets the port failed to send", &rte_eth_stats::oerrors},
        {"monami_port_rx_missed_total",
         "Packets the NIC dropped because its RX queues were full (workers too slow)",
         &rte_eth_stats::imissed},
        {"monami_port_rx_no_mbuf_total", "RX failures for want of an mbuf",
         &rte_eth_stats::rx_nombuf},
    };
    std::vector<rte_eth_stats> stats(runtime.ports().size());
    for (std::size_t i = 0; i < stats.size(); ++i)
        if (rte_eth_stats_get(runtime.ports()[i].id, &stats[i]) != 0) stats[i] = {};
    for (const auto& f : kFigures) {
        m.family(f.name, Type::counter, f.help);
        for (std::size_t i = 0; i < stats.size(); ++i)
            m.sample(f.name, {{"port", runtime.ports()[i].name}}, stats[i].*f.field);
    }
    m.family("monami_port_up", Type::gauge, "1 when the port's link is up");
    for (const auto& p : runtime.ports()) {
        rte_eth_link link{};
        rte_eth_link_get_nowait(p.id, &link);
        m.sample("monami_port_up", {{"port", p.name}}, std::uint64_t{link.link_status != 0});
    }
}

void workers(MetricsText& m, const Runtime& runtime) {
    std::vector<WorkerCounters> counters;
    std::vector<std::string> names;
    for (unsigned i = 0; i < runtime.worker_count(); ++i) {
        counters.push_back(read_counters(runtime.worker(i).counters));
        names.push_back(std::to_string(i));
    }
    struct Figure {
        const char* name;
        const char* help;
        std::uint64_t WorkerCounters::*field;
    };
    static constexpr Figure kFigures[] = {
        {"monami_worker_rx_packets_total", "Packets the worker received",
         &WorkerCounters::rx_packets},
        {"monami_worker_rx_bytes_total", "Bytes the worker received", &WorkerCounters::rx_bytes},
        {"monami_worker_tx_packets_total", "Packets the worker sent", &WorkerCounters::tx_packets},
        {"monami_worker_tx_bytes_total", "Bytes the worker sent", &WorkerCounters::tx_bytes},
        {"monami_worker_forwarded_total", "Packets forwarded (tunnelled, decapsulated or routed)",
         &WorkerCounters::forwarded},
        {"monami_worker_encapsulated_total", "Packets tunnelled to a care-of address",
         &WorkerCounters::encapsulated},
        {"monami_worker_decapsulated_total", "Packets taken out of a mobile node's tunnel",
         &WorkerCounters::decapsulated},
        {"monami_worker_punted_total", "Packets handed to the control thread",
         &WorkerCounters::punted},
        {"monami_worker_control_tx_total", "Frames sent on behalf of the control thread",
         &WorkerCounters::control_tx},
    };
    for (const auto& f : kFigures) {
        m.family(f.name, Type::counter, f.help);
        for (std::size_t i = 0; i < counters.size(); ++i)
            m.sample(f.name, {{"worker", names[i]}}, counters[i].*f.field);
    }
    m.family("monami_worker_drops_total", Type::counter,
             "Packets the worker dropped, by reason (docs/architecture.md lists the reasons)");
    for (std::size_t i = 0; i < counters.size(); ++i)
        for (std::size_t r = 0; r < kDropReasonCount; ++r)
            m.sample("monami_worker_drops_total",
                     {{"worker", names[i]}, {"reason", kDropReasonNames[r]}}, counters[i].drops[r]);
    // rate() of this is the worker's busy share: 1 means no idle polling left.
    m.family("monami_worker_busy_seconds_total", Type::counter,
             "Time the worker spent on iterations that received packets");
    const double tsc_hz = static_cast<double>(rte_get_tsc_hz());
    for (std::size_t i = 0; i < counters.size(); ++i)
        m.sample("monami_worker_busy_seconds_total", {{"worker", names[i]}},
                 static_cast<double>(counters[i].busy_cycles) / tsc_hz);
}

bool ask(ControlQueries& queries, const char* command, QueryReply& reply) {
    return queries.ask({command, ""}, reply, kAnswerTimeout) && reply.status == 0;
}

// The control thread's counters: monami_control_<name>_total, but for the two figures of
// the last and longest failover, which are gauges in seconds.
void control(MetricsText& m, const QueryReply& reply) {
    for (const auto& e : reply.entries) {
        const auto* n = std::get_if<std::uint64_t>(&e.value);
        if (!n) continue;
        if (e.key == "failover_last_ns" || e.key == "failover_max_ns") {
            const std::string name =
                "monami_failover_" + e.key.substr(9, e.key.size() - 12) + "_seconds";
            m.family(name, Type::gauge,
                     e.key == "failover_last_ns"
                         ? "The last failover: path death detected to the snapshot published"
                         : "The longest failover: path death detected to the snapshot published");
            m.sample(name, {}, static_cast<double>(*n) / 1e9);
            continue;
        }
        std::string help = "Control thread: " + e.key;
        for (auto& c : help)
            if (c == '_') c = ' ';
        // esp_* are the ESP endpoint's own (monami_esp_...); control_* say it already.
        const bool own_prefix = e.key.starts_with("esp_") || e.key.starts_with("control_");
        const std::string name = (own_prefix ? "monami_" : "monami_control_") + e.key + "_total";
        m.family(name, Type::counter, help + " (docs/architecture.md, Metrics)");
        m.sample(name, {}, *n);
    }
}

void summary(MetricsText& m, const QueryReply& reply) {
    const struct {
        const char* name;
        const char* key;
        const char* help;
    } kGauges[] = {
        {"monami_home_addresses", "home_addresses", "Home addresses with at least one binding"},
        {"monami_bindings", "bindings", "Bindings (care-of addresses) in the binding cache"},
        {"monami_flows", "flows", "Flow bindings (RFC 6089) in the binding cache"},
        {"monami_proxied_home_addresses", "proxied",
         "Home addresses the gateway defends on the home link (proxy ND)"},
        {"monami_ports_down", "ports_down", "Ports whose link is down"},
        {"monami_republish_pending", "republish_pending",
         "Home addresses waiting for their snapshot to be rebuilt"},
    };
    for (const auto& g : kGauges) {
        m.family(g.name, Type::gauge, g.help);
        m.sample(g.name, {}, number(reply, g.key));
    }
    m.family("monami_paths", Type::gauge, "Paths (binding, care-of) by liveness state");
    for (const char* state : {"live", "suspect", "dead"})
        m.sample("monami_paths", {{"state", state}}, number(reply, std::string("paths_") + state));
}

void binding_updates(MetricsText& m, const QueryReply& reply) {
    m.family("monami_binding_acks_total", Type::counter,
             "Binding Acknowledgements by status (RFC 6275 6.1.8: below 128 accepted)");
    for (const auto& entry : list(reply, "binding_acks_by_status")) {
        const auto eq = entry.find('=');
        if (eq == std::string::npos) continue;
        m.sample("monami_binding_acks_total", {{"status", std::string_view(entry).substr(0, eq)}},
                 static_cast<std::uint64_t>(std::strtoull(entry.c_str() + eq + 1, nullptr, 10)));
    }
    const struct {
        const char* name;
        const char* key;
        const char* help;
    } kHistograms[] = {
        {"monami_binding_update_processing_seconds", "bu_processing",
         "Control thread time for one Binding Update, taken to its BA handed to the port"},
        {"monami_update_latency_seconds", "update_latency",
         "A Binding Update that changed forwarding: taken to its snapshot published to the "
         "workers"},
    };
    for (const auto& h : kHistograms) {
        const std::string key = h.key;
        m.family(h.name, Type::histogram, h.help);
        m.histogram_ns(h.name, {}, list(reply, key + "_buckets"), number(reply, key + "_count"),
                       number(reply, key + "_sum_ns"));
    }
}

void loop(MetricsText& m, const QueryReply& reply) {
    m.family("monami_control_loop_iteration_seconds", Type::histogram,
             "Control loop iterations: punted frames, timers, links, reclaim, queries");
    m.histogram_ns("monami_control_loop_iteration_seconds", {}, list(reply, "buckets"),
                   number(reply, "iterations"), number(reply, "sum_ns"));
    m.family("monami_control_loop_slow_iterations_total", Type::counter,
             "Control loop iterations over dataplane.slow_iteration_warning_us");
    m.sample("monami_control_loop_slow_iterations_total", {}, number(reply, "slow_iterations"));
    m.family("monami_control_ring_occupancy", Type::gauge,
             "Punted frames waiting for the control thread");
    m.sample("monami_control_ring_occupancy", {}, number(reply, "control_ring_occupancy"));
}

void store(MetricsText& m, const QueryReply& reply) {
    const std::string backend = text(reply, "backend");
    if (backend.empty() || backend == "none") return;
    const std::initializer_list<std::pair<std::string_view, std::string_view>> labels = {
        {"backend", backend}};
    const struct {
        const char* name;
        const char* key;
        Type type;
        const char* help;
    } kFigures[] = {
        {"monami_store_entries", "entries", Type::gauge, "Records in the binding store"},
        {"monami_store_commits_total", "commits", Type::counter, "Binding store commits"},
        {"monami_store_records_written_total", "records_written", Type::counter,
         "Records written to the binding store"},
        {"monami_store_records_removed_total", "records_removed", Type::counter,
         "Records removed from the binding store"},
        {"monami_store_errors_total", "errors", Type::counter, "Binding store errors"},
        {"monami_store_backlog_records", "backlog_records", Type::gauge,
         "Changes waiting because the store failed; non-zero means bindings are not durable"},
        {"monami_store_size_bytes", "bytes_on_disk", Type::gauge,
         "The binding store's file size (lmdb)"},
    };
    for (const auto& f : kFigures) {
        m.family(f.name, f.type, f.help);
        m.sample(f.name, labels, number(reply, f.key));
    }
    m.family("monami_store_last_commit_seconds", Type::gauge, "How long the last commit took");
    m.sample("monami_store_last_commit_seconds", labels,
             static_cast<double>(number(reply, "last_commit_us")) / 1e6);
    const std::string role = text(reply, "role");
    if (role.empty()) return;  // not a pair
    m.family("monami_pair_leader", Type::gauge, "1 when this gateway leads its pair");
    m.sample("monami_pair_leader", {}, std::uint64_t{role == "leader"});
    m.family("monami_pair_serving", Type::gauge,
             "1 when this gateway answers for the pair's addresses (0: silent)");
    m.sample("monami_pair_serving", {}, std::uint64_t{text(reply, "serving") == "yes"});
    m.family("monami_pair_revision", Type::gauge, "etcd revision applied to the binding cache");
    m.sample("monami_pair_revision", {}, number(reply, "revision"));
    m.family("monami_pair_lag_revisions", Type::gauge,
             "A standby: etcd revisions seen but not yet applied");
    m.sample("monami_pair_lag_revisions", {}, number(reply, "lag_revisions"));
    m.family("monami_pair_lag_seconds", Type::gauge,
             "A standby: how long the oldest unapplied change has waited");
    m.sample("monami_pair_lag_seconds", {}, static_cast<double>(number(reply, "lag_ms")) / 1e3);
    m.family("monami_pair_lease_remaining_seconds", Type::gauge,
             "The leader: time left on its etcd lease");
    m.sample("monami_pair_lease_remaining_seconds", {},
             static_cast<double>(number(reply, "lease_left_ms")) / 1e3);
    m.family("monami_pair_fenced_total", Type::counter,
             "Writes refused because another gateway had taken the lead");
    m.sample("monami_pair_fenced_total", {}, number(reply, "fenced"));
    m.family("monami_pair_resynced_total", Type::counter, "Full re-reads of the pair's bindings");
    m.sample("monami_pair_resynced_total", {}, number(reply, "resynced"));
}

}  // namespace

std::string render_metrics(const Runtime& runtime, ControlQueries& queries) {
    MetricsText m;
    ports(m, runtime);
    workers(m, runtime);
    m.family("monami_control_tx_ring_full_total", Type::counter,
             "Frames of the control thread lost because no worker's ring could take them");
    m.sample("monami_control_tx_ring_full_total", {}, runtime.control_tx_failures());

    bool answered = true;
    QueryReply reply;
    if ((answered = ask(queries, "/monami/control", reply))) control(m, reply);
    reply = {};
    if (answered && (answered = ask(queries, "/monami/summary", reply))) summary(m, reply);
    reply = {};
    if (answered && (answered = ask(queries, "/monami/latency", reply))) binding_updates(m, reply);
    reply = {};
    if (answered && (answered = ask(queries, "/monami/loop", reply))) loop(m, reply);
    reply = {};
    if (answered && (answered = ask(queries, "/monami/store", reply))) store(m, reply);
    m.family("monami_control_thread_answering", Type::gauge,
             "1 when the control thread answered this scrape's questions in time");
    m.sample("monami_control_thread_answering", {}, std::uint64_t{answered});
    m.family("monami_control_queries_timed_out_total", Type::counter,
             "Questions to the control thread (telemetry, metrics) not answered in time");
    m.sample("monami_control_queries_timed_out_total", {}, queries.timed_out());
    return m.text();
}

}  // namespace monami::dp
