#include "dataplane/telemetry.hpp"

#include <rte_telemetry.h>

#include <cerrno>
#include <cstdlib>

namespace monami::dp {

namespace {

const Runtime* g_runtime = nullptr;
ControlView* g_view = nullptr;

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

WorkerCounters snapshot(const WorkerCounters& c) {
    WorkerCounters s;
    s.rx_packets = read_counter(c.rx_packets);
    s.rx_bytes = read_counter(c.rx_bytes);
    s.tx_packets = read_counter(c.tx_packets);
    s.tx_bytes = read_counter(c.tx_bytes);
    s.forwarded = read_counter(c.forwarded);
    s.punted = read_counter(c.punted);
    s.control_tx = read_counter(c.control_tx);
    s.encapsulated = read_counter(c.encapsulated);
    s.decapsulated = read_counter(c.decapsulated);
    for (std::size_t r = 0; r < kDropReasonCount; ++r) s.drops[r] = read_counter(c.drops[r]);
    return s;
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
    add_worker_counters(d, snapshot(w.counters));
    return 0;
}

int cmd_drops(const char*, const char*, rte_tel_data* d) {
    WorkerCounters t = g_runtime->totals();
    rte_tel_data_start_dict(d);
    for (std::size_t r = 0; r < kDropReasonCount; ++r)
        rte_tel_data_add_dict_u64(d, std::string(kDropReasonNames[r]).c_str(), t.drops[r]);
    return 0;
}

int cmd_control(const char*, const char*, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    std::lock_guard lock(g_view->mutex);
    for (const auto& [k, v] : g_view->control_counters) rte_tel_data_add_dict_u64(d, k.c_str(), v);
    rte_tel_data_add_dict_u64(d, "control_tx_failures", g_runtime->control_tx_failures());
    rte_tel_data_add_dict_u64(d, "home_addresses", g_runtime->home_address_count());
    rte_tel_data_add_dict_u64(d, "synchronous_reclaims", g_runtime->synchronous_reclaims());
    return 0;
}

int cmd_config(const char*, const char*, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    std::lock_guard lock(g_view->mutex);
    for (const auto& [k, v] : g_view->config_summary)
        rte_tel_data_add_dict_string(d, k.c_str(), v.c_str());
    rte_tel_data_add_dict_u64(d, "workers", g_runtime->worker_count());
    rte_tel_data_add_dict_string(d, "lcore_mode",
                                 g_runtime->one_lcore_mode() ? "one-lcore" : "workers");
    return 0;
}

// A table as {"total": N, "start": S, "r<S>": [...], ...}, at most kPage records per call;
// the parameter is the first record wanted.
int table_page(const std::vector<std::map<std::string, std::string>>& rows, const char* params,
               rte_tel_data* d) {
    constexpr std::size_t kPage = 200;
    std::size_t start = params && *params ? std::strtoul(params, nullptr, 10) : 0;
    rte_tel_data_start_dict(d);
    rte_tel_data_add_dict_u64(d, "total", rows.size());
    rte_tel_data_add_dict_u64(d, "start", start);
    for (std::size_t i = start; i < rows.size() && i < start + kPage; ++i) {
        std::vector<std::string> items;
        for (const auto& [k, v] : rows[i]) items.push_back(k + "=" + v);
        rte_tel_data_add_dict_container(d, ("r" + std::to_string(i)).c_str(), string_array(items),
                                        0);
    }
    return 0;
}

int cmd_neighbors(const char*, const char* params, rte_tel_data* d) {
    std::lock_guard lock(g_view->mutex);
    return table_page(g_view->neighbors, params, d);
}

int cmd_table(const char* cmd, const char* params, rte_tel_data* d) {
    std::string name = std::string(cmd).substr(std::string("/monami/").size());
    std::lock_guard lock(g_view->mutex);
    return table_page(g_view->tables[name], params, d);
}

}  // namespace

void register_telemetry(const Runtime& runtime, ControlView& view) {
    g_runtime = &runtime;
    g_view = &view;
    rte_telemetry_register_cmd("/monami/ports", cmd_ports, "monami ports. No parameters");
    rte_telemetry_register_cmd("/monami/workers", cmd_workers,
                               "Counters and drops by reason, all workers. No parameters");
    rte_telemetry_register_cmd("/monami/worker", cmd_worker,
                               "Counters and drops of one worker. Parameter: worker number");
    rte_telemetry_register_cmd("/monami/drops", cmd_drops,
                               "Drops by reason, all workers. No parameters");
    rte_telemetry_register_cmd("/monami/control", cmd_control,
                               "Control-thread counters. No parameters");
    rte_telemetry_register_cmd("/monami/config", cmd_config,
                               "Configuration summary. No parameters");
    rte_telemetry_register_cmd("/monami/neighbors", cmd_neighbors,
                               "Resolved neighbors. Parameter: first record (optional)");
    rte_telemetry_register_cmd("/monami/bindings", cmd_table,
                               "Bindings: HoA, BID, CoA, lifetime, counters. Parameter: first "
                               "record (optional, 200 per call)");
}

}  // namespace monami::dp
