#include "config/reload.hpp"

namespace monami::config {

namespace {

// Appends `key` when the two values differ.
template <class T>
void restart_if(std::vector<std::string>& keys, const char* key, const T& a, const T& b) {
    if (!(a == b)) keys.emplace_back(key);
}

// Ports are named by their `name` (the operator's word for them): a field of a port in both
// files is "ports.NAME.FIELD", a port only in one is "ports.NAME". The port ids follow the
// list's order, so a reordered list is a change of its own.
void diff_ports(const std::vector<Port>& a, const std::vector<Port>& b,
                std::vector<std::string>& keys) {
    auto find = [](const std::vector<Port>& ports, const std::string& name) -> const Port* {
        for (const auto& p : ports)
            if (p.name == name) return &p;
        return nullptr;
    };
    for (const auto& p : a) {
        const Port* q = find(b, p.name);
        const std::string key = "ports." + p.name;
        if (!q) {
            keys.push_back(key);
            continue;
        }
        if (p.device != q->device) keys.push_back(key + ".device");
        if (p.mac != q->mac) keys.push_back(key + ".mac");
        if (p.addresses != q->addresses) keys.push_back(key + ".addresses");
        if (p.mtu != q->mtu) keys.push_back(key + ".mtu");
    }
    for (const auto& q : b)
        if (!find(a, q.name)) keys.push_back("ports." + q.name);
    if (keys.empty() && a.size() == b.size()) {
        for (std::size_t i = 0; i < a.size(); ++i)
            if (a[i].name != b[i].name) {
                keys.emplace_back("ports (order)");
                break;
            }
    }
}

// home_agent without the keys that size or address the running process.
HomeAgent live_part(HomeAgent h) {
    h.addresses.clear();
    h.home_prefixes.clear();
    h.max_bindings = 0;
    return h;
}

Security without_sas(Security s) {
    s.sas.clear();
    return s;
}

}  // namespace

SaChanges diff_sas(const Security& a, const Security& b) {
    const bool window_changed = a.replay_window != b.replay_window || a.esn != b.esn;
    auto find = [](const Security& s, const SecurityAssociation& sa) {
        for (const auto& x : s.sas)
            if (x.spi == sa.spi && x.direction == sa.direction) return &x;
        return static_cast<const SecurityAssociation*>(nullptr);
    };
    SaChanges c;
    for (const auto& sa : a.sas) {
        const SecurityAssociation* now = find(b, sa);
        if (!now || window_changed || !(*now == sa)) c.removed.push_back(&sa);
    }
    for (const auto& sa : b.sas) {
        const SecurityAssociation* before = find(a, sa);
        if (before && !window_changed && *before == sa) continue;
        const bool same_keys = before && before->algorithm == sa.algorithm &&
                               before->key == sa.key && before->salt == sa.salt &&
                               before->auth_key == sa.auth_key;
        c.added.push_back({&sa, same_keys});
    }
    return c;
}

bool ConfigChanges::any_live() const {
    return log_level || routes || neighbors || loop || home_agent || tunnel || mobile_nodes ||
           heartbeat || security || security_sas || policies;
}

std::vector<std::string> ConfigChanges::live_sections() const {
    std::vector<std::string> out;
    if (log_level) out.emplace_back("log_level");
    if (routes) out.emplace_back("routes");
    if (neighbors) out.emplace_back("neighbors");
    if (loop) out.emplace_back("dataplane");
    if (home_agent) out.emplace_back("home_agent");
    if (tunnel) out.emplace_back("tunnel");
    if (mobile_nodes) out.emplace_back("mobile_nodes");
    if (heartbeat) out.emplace_back("heartbeat");
    if (security) out.emplace_back("security");
    if (security_sas) out.emplace_back("security.sas");
    if (policies) out.emplace_back("policies");
    return out;
}

ConfigChanges diff_config(const Config& a, const Config& b) {
    ConfigChanges c;
    auto& keys = c.restart_keys;
    // EAL arguments were consumed by rte_eal_init.
    restart_if(keys, "eal", a.eal_args, b.eal_args);
    // Ports: devices are probed and configured once; their addresses are the home agent's,
    // the FIB's local entries and the signalling steering rules.
    diff_ports(a.ports, b.ports, keys);
    // Pools, rings and descriptors are allocated at start; the signalling queue is a queue
    // of the port's configuration.
    const Dataplane& d = a.dataplane;
    const Dataplane& e = b.dataplane;
    restart_if(keys, "dataplane.mbufs", d.mbufs, e.mbufs);
    restart_if(keys, "dataplane.mbuf_cache", d.mbuf_cache, e.mbuf_cache);
    restart_if(keys, "dataplane.rx_descriptors", d.rx_descriptors, e.rx_descriptors);
    restart_if(keys, "dataplane.tx_descriptors", d.tx_descriptors, e.tx_descriptors);
    restart_if(keys, "dataplane.control_ring", d.control_ring, e.control_ring);
    restart_if(keys, "dataplane.signalling_steering", d.signalling_steering, e.signalling_steering);
    // Addresses and prefixes: every binding was accepted for them (its outer source is one,
    // its HoA in one), and proxy ND defends HoAs inside them; max_bindings sizes the HoA
    // index, the path counters and every control table.
    restart_if(keys, "home_agent.addresses", a.home_agent.addresses, b.home_agent.addresses);
    restart_if(keys, "home_agent.home_prefixes", a.home_agent.home_prefixes,
               b.home_agent.home_prefixes);
    restart_if(keys, "home_agent.max_bindings", a.home_agent.max_bindings,
               b.home_agent.max_bindings);
    // The binding store is opened (and for etcd, a lease held) before the EAL.
    const State& s = a.state;
    const State& t = b.state;
    restart_if(keys, "state.backend", s.backend, t.backend);
    restart_if(keys, "state.path", s.path, t.path);
    restart_if(keys, "state.durability", s.durability, t.durability);
    restart_if(keys, "state.flush_interval_ms", s.flush_interval_ms, t.flush_interval_ms);
    restart_if(keys, "state.map_size_mb", s.map_size_mb, t.map_size_mb);
    restart_if(keys, "state.etcd", s.etcd, t.etcd);
    // The metrics server binds its address once, after the ports.
    restart_if(keys, "metrics.listen", a.metrics.listen, b.metrics.listen);

    c.log_level = a.log_level != b.log_level;
    c.routes = a.routes != b.routes;
    c.neighbors = a.neighbors != b.neighbors;
    c.loop = d.stats_interval_ms != e.stats_interval_ms ||
             d.slow_iteration_warning_us != e.slow_iteration_warning_us;
    c.home_agent = !(live_part(a.home_agent) == live_part(b.home_agent));
    c.tunnel = a.tunnel != b.tunnel;
    c.mobile_nodes = a.mobile_nodes != b.mobile_nodes;
    c.heartbeat = a.heartbeat != b.heartbeat;
    c.security = !(without_sas(a.security) == without_sas(b.security));
    c.security_sas = a.security.sas != b.security.sas;
    c.policies = a.policies != b.policies;
    return c;
}

std::string refusal_message(const ConfigChanges& changes) {
    std::string keys;
    for (const auto& k : changes.restart_keys) keys += (keys.empty() ? "" : ", ") + k;
    return "reload refused: " + keys + " cannot change while running; restart to apply";
}

}  // namespace monami::config
