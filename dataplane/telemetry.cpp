#include "dataplane/telemetry.hpp"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_telemetry.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>

#include "dataplane/log.hpp"

namespace monami::dp {

namespace {

const Runtime* g_runtime = nullptr;
ControlQueries* g_queries = nullptr;
std::function<std::any()> g_read_config;

// An answer the control thread gives between two iterations; it is bounded, so the wait
// is short unless the control thread is stuck (then -EBUSY).
constexpr std::chrono::milliseconds kAnswerTimeout{3000};

void add_counters(rte_tel_data* d, const WorkerCounters& c) {
    rte_tel_data_add_dict_u64(d, "rx_packets", c.rx_packets);
    rte_tel_data_add_dict_u64(d, "rx_bytes", c.rx_bytes);
    rte_tel_data_add_dict_u64(d, "tx_packets", c.tx_packets);
    rte_tel_data_add_dict_u64(d, "tx_bytes", c.tx_bytes);
    rte_tel_data_add_dict_u64(d, "forwarded", c.forwarded);
    rte_tel_data_add_dict_u64(d, "punted", c.punted);
    rte_tel_data_add_dict_u64(d, "control_tx", c.control_tx);
    rte_tel_data_add_dict_u64(d, "encapsulated", c.encapsulated);
    rte_tel_data_add_dict_u64(d, "decapsulated", c.decapsulated);
    rte_tel_data_add_dict_u64(d, "busy_cycles", c.busy_cycles);
    std::uint64_t dropped = 0;
    for (std::size_t r = 0; r < kDropReasonCount; ++r) dropped += c.drops[r];
    rte_tel_data_add_dict_u64(d, "dropped", dropped);
}

// DPDK 22.11 telemetry nests only arrays of numbers or strings inside a dict: records are
// arrays of "key=value" strings, and per-worker detail is a separate command.
rte_tel_data* string_array(const std::vector<std::string>& items) {
    rte_tel_data* a = rte_tel_data_alloc();
    rte_tel_data_start_array(a, RTE_TEL_STRING_VAL);
    for (const auto& item : items) rte_tel_data_add_array_string(a, item.c_str());
    return a;
}

int cmd_ports(const char*, const char*, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    for (const auto& p : g_runtime->ports()) {
        rte_eth_link link{};
        rte_eth_link_get_nowait(p.id, &link);
        auto signalling = g_runtime->signalling_queue_counters(p.id);
        rte_tel_data_add_dict_container(
            d, p.name.c_str(),
            string_array({"port_id=" + std::to_string(p.id), "device=" + p.device,
                          "mac=" + p.mac.to_string(),
                          std::string("link=") + (link.link_status ? "up" : "down"),
                          "signalling=" + p.steering,
                          "signalling_queue=" + std::to_string(p.signalling_queue),
                          "signalling_queue_rx=" + std::to_string(signalling.received),
                          "signalling_queue_strays=" + std::to_string(signalling.strays),
                          "signalling_rules=" + std::to_string(signalling.rules)}),
            0);
    }
    return 0;
}

void add_worker_counters(rte_tel_data* d, const WorkerCounters& c) {
    add_counters(d, c);
    for (std::size_t r = 0; r < kDropReasonCount; ++r)
        rte_tel_data_add_dict_u64(d, ("drop_" + std::string(kDropReasonNames[r])).c_str(),
                                  c.drops[r]);
}

// /monami/workers: totals over all workers; /monami/worker,N: one worker.
int cmd_workers(const char*, const char*, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "workers", g_runtime->worker_count());
    rte_tel_data_add_dict_u64(d, "tsc_hz", rte_get_tsc_hz());
    add_worker_counters(d, g_runtime->totals());
    return 0;
}

int cmd_worker(const char*, const char* params, rte_tel_data* d) {
    char* end = nullptr;
    unsigned long index = params ? std::strtoul(params, &end, 10) : 0;
    if (!params || end == params || index >= g_runtime->worker_count()) return -EINVAL;
    const WorkerCtx& w = g_runtime->worker(static_cast<unsigned>(index));
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "lcore", w.lcore);
    add_worker_counters(d, read_counters(w.counters));
    return 0;
}

int cmd_drops(const char*, const char*, rte_tel_data* d) {
    WorkerCounters t = g_runtime->totals();
    rte_tel_data_start_dict(d);
    for (std::size_t r = 0; r < kDropReasonCount; ++r)
        rte_tel_data_add_dict_u64(d, std::string(kDropReasonNames[r]).c_str(), t.drops[r]);
    return 0;
}

// The control thread's answer as a telemetry dictionary.
int ask_control(Query query, rte_tel_data* d, QueryReply& reply) {
    if (!g_queries->ask(std::move(query), reply, kAnswerTimeout)) return -EBUSY;
    if (reply.status != 0) return reply.status;
    rte_tel_data_start_dict(d);
    for (const auto& e : reply.entries) {
        if (const auto* n = std::get_if<std::uint64_t>(&e.value))
            rte_tel_data_add_dict_u64(d, e.key.c_str(), *n);
        else if (const auto* text = std::get_if<std::string>(&e.value))
            rte_tel_data_add_dict_string(d, e.key.c_str(), text->c_str());
        else
            rte_tel_data_add_dict_container(
                d, e.key.c_str(), string_array(std::get<std::vector<std::string>>(e.value)), 0);
    }
    return 0;
}

int ask_control(const char* cmd, const char* params, rte_tel_data* d, QueryReply& reply) {
    return ask_control(Query{cmd, params ? params : "", {}}, d, reply);
}

int cmd_ask(const char* cmd, const char* params, rte_tel_data* d) {
    QueryReply reply;
    return ask_control(cmd, params, d, reply);
}

// The file is read and validated here, on the telemetry thread; the control thread only
// compares and applies it.
int cmd_reload(const char* cmd, const char*, rte_tel_data* d) {
    QueryReply reply;
    return ask_control(Query{cmd, "", g_read_config()}, d, reply);
}

int cmd_control(const char* cmd, const char* params, rte_tel_data* d) {
    QueryReply reply;
    if (int rc = ask_control(cmd, params, d, reply); rc != 0) return rc;
    rte_tel_data_add_dict_u64(d, "control_tx_failures", g_runtime->control_tx_failures());
    rte_tel_data_add_dict_u64(d, "home_addresses", g_runtime->home_address_count());
    rte_tel_data_add_dict_u64(d, "synchronous_reclaims", g_runtime->synchronous_reclaims());
    rte_tel_data_add_dict_u64(d, "queries_answered", g_queries->answered());
    rte_tel_data_add_dict_u64(d, "queries_timed_out", g_queries->timed_out());
    return 0;
}

int cmd_config(const char* cmd, const char* params, rte_tel_data* d) {
    QueryReply reply;
    if (int rc = ask_control(cmd, params, d, reply); rc != 0) return rc;
    rte_tel_data_add_dict_u64(d, "workers", g_runtime->worker_count());
    rte_tel_data_add_dict_string(d, "lcore_mode",
                                 g_runtime->one_lcore_mode() ? "one-lcore" : "workers");
    return 0;
}

}  // namespace

void register_telemetry(const Runtime& runtime, ControlQueries& queries,
                        std::function<std::any()> read_config) {
    g_runtime = &runtime;
    g_queries = &queries;
    g_read_config = std::move(read_config);
    // DPDK refuses a help text of RTE_TEL_MAX_STRING_LEN (128) or more: keep them short.
    const struct {
        const char* command;
        telemetry_cb callback;
        const char* help;
    } commands[] = {
        {"/monami/ports", cmd_ports, "monami ports. No parameters"},
        {"/monami/workers", cmd_workers, "Counters and drops by reason, all workers"},
        {"/monami/worker", cmd_worker, "Counters and drops of one worker. Parameter: N"},
        {"/monami/drops", cmd_drops, "Drops by reason, all workers"},
        {"/monami/control", cmd_control, "Control-thread counters"},
        {"/monami/config", cmd_config, "Configuration summary and the last reload"},
        {"/monami/reload", cmd_reload, "Read the configuration file again and apply it"},
        {"/monami/summary", cmd_ask, "Totals: HoAs, bindings, flows, paths by state"},
        {"/monami/bindings", cmd_ask,
         "A page of bindings. Parameters: AFTER (HoA or -)[,COUNT]; 'next': the next AFTER"},
        {"/monami/binding", cmd_ask, "The bindings of one HoA. Parameter: HoA"},
        {"/monami/neighbors", cmd_ask, "Resolved neighbors, a page. Parameter: AFTER"},
        {"/monami/loop", cmd_ask, "Control loop: iteration times, frames, control ring"},
        {"/monami/store", cmd_ask, "Binding store: backend, entries, commits, size, restore"},
        {"/monami/latency", cmd_ask, "BU processing and update latency histograms, BAs by status"},
    };
    for (const auto& c : commands)
        if (int rc = rte_telemetry_register_cmd(c.command, c.callback, c.help); rc != 0)
            MONAMI_LOG(ERR, gw, "telemetry command %s not registered: %s", c.command,
                       rte_strerror(-rc));
}

}  // namespace monami::dp
