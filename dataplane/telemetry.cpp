#include "dataplane/telemetry.hpp"

#include <rte_telemetry.h>

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

rte_tel_data* drops_container(const WorkerCounters& c) {
    rte_tel_data* drops = rte_tel_data_alloc();
    rte_tel_data_start_dict(drops);
    for (std::size_t r = 0; r < kDropReasonCount; ++r)
        rte_tel_data_add_dict_u64(drops, std::string(kDropReasonNames[r]).c_str(), c.drops[r]);
    return drops;
}

int cmd_ports(const char*, const char*, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    for (const auto& p : g_runtime->ports()) {
        rte_tel_data* port = rte_tel_data_alloc();
        rte_tel_data_start_dict(port);
        rte_tel_data_add_dict_u64(port, "port_id", p.id);
        rte_tel_data_add_dict_string(port, "device", p.device.c_str());
        rte_tel_data_add_dict_string(port, "mac", p.mac.to_string().c_str());
        rte_eth_link link{};
        rte_eth_link_get_nowait(p.id, &link);
        rte_tel_data_add_dict_string(port, "link", link.link_status ? "up" : "down");
        rte_tel_data_add_dict_container(d, p.name.c_str(), port, 0);
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

int cmd_workers(const char*, const char*, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    for (unsigned i = 0; i < g_runtime->worker_count(); ++i) {
        const WorkerCtx& w = g_runtime->worker(i);
        WorkerCounters c = snapshot(w.counters);
        rte_tel_data* wd = rte_tel_data_alloc();
        rte_tel_data_start_dict(wd);
        rte_tel_data_add_dict_u64(wd, "lcore", w.lcore);
        add_counters(wd, c);
        rte_tel_data_add_dict_container(wd, "drops", drops_container(c), 0);
        std::string name = "worker" + std::to_string(i);
        rte_tel_data_add_dict_container(d, name.c_str(), wd, 0);
    }
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
    return 0;
}

int cmd_config(const char*, const char*, rte_tel_data* d) {
    rte_tel_data_start_dict(d);
    std::lock_guard lock(g_view->mutex);
    for (const auto& [k, v] : g_view->config_summary) rte_tel_data_add_dict_string(d, k.c_str(), v.c_str());
    rte_tel_data_add_dict_u64(d, "workers", g_runtime->worker_count());
    rte_tel_data_add_dict_string(d, "lcore_mode", g_runtime->one_lcore_mode() ? "one-lcore" : "workers");
    return 0;
}

// DPDK 22.11 refuses dicts inside an array (rte_tel_data_add_array_container takes only
// arrays of scalars), so rows go into a dict keyed by their index: {"0": {...}, "1": {...}}.
void add_rows(rte_tel_data* d, const std::vector<std::map<std::string, std::string>>& rows) {
    rte_tel_data_start_dict(d);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        rte_tel_data* r = rte_tel_data_alloc();
        rte_tel_data_start_dict(r);
        for (const auto& [k, v] : rows[i]) rte_tel_data_add_dict_string(r, k.c_str(), v.c_str());
        if (rte_tel_data_add_dict_container(d, std::to_string(i).c_str(), r, 0) != 0)
            rte_tel_data_free(r);
    }
}

int cmd_neighbors(const char*, const char*, rte_tel_data* d) {
    std::lock_guard lock(g_view->mutex);
    add_rows(d, g_view->neighbors);
    return 0;
}

int cmd_table(const char* cmd, const char*, rte_tel_data* d) {
    std::string name = std::string(cmd).substr(std::string("/monami/").size());
    std::lock_guard lock(g_view->mutex);
    add_rows(d, g_view->tables[name]);
    return 0;
}

}  // namespace

void register_telemetry(const Runtime& runtime, ControlView& view) {
    g_runtime = &runtime;
    g_view = &view;
    rte_telemetry_register_cmd("/monami/ports", cmd_ports, "monami ports. No parameters");
    rte_telemetry_register_cmd("/monami/workers", cmd_workers,
                               "Per-worker counters and drops by reason. No parameters");
    rte_telemetry_register_cmd("/monami/drops", cmd_drops, "Drops by reason, all workers. No parameters");
    rte_telemetry_register_cmd("/monami/control", cmd_control, "Control-thread counters. No parameters");
    rte_telemetry_register_cmd("/monami/config", cmd_config, "Configuration summary. No parameters");
    rte_telemetry_register_cmd("/monami/neighbors", cmd_neighbors, "Resolved neighbors. No parameters");
    rte_telemetry_register_cmd("/monami/bindings", cmd_table,
                               "Binding cache: HoA, BID, CoA, lifetime. No parameters");
}

}  // namespace monami::dp
