#include "dataplane/gw/settings.hpp"

namespace monami::gw {

// config SAs -> ESP SAs: the GCM salt goes back after the key (RFC 4106 s.8.1).
esp::SecurityAssociation esp_sa(const config::SecurityAssociation& c, const config::Security& sec) {
    esp::SecurityAssociation sa;
    sa.spi = c.spi;
    sa.dir =
        c.direction == config::SaDirection::in ? esp::Direction::Inbound : esp::Direction::Outbound;
    sa.home_address = c.home_address;
    switch (c.algorithm) {
        case config::EspAlgorithm::aes_gcm_128:
            sa.alg = esp::Algorithm::AesGcm128;
            break;
        case config::EspAlgorithm::aes_gcm_256:
            sa.alg = esp::Algorithm::AesGcm256;
            break;
        case config::EspAlgorithm::aes_cbc_128_hmac_sha256:
            sa.alg = esp::Algorithm::AesCbc128HmacSha256128;
            break;
        case config::EspAlgorithm::aes_cbc_256_hmac_sha256:
            sa.alg = esp::Algorithm::AesCbc256HmacSha256128;
            break;
    }
    sa.key = c.key;
    sa.key.insert(sa.key.end(), c.salt.begin(), c.salt.end());
    sa.auth_key = c.auth_key;
    sa.esn = sec.esn;
    sa.replay_window = sec.replay_window;
    return sa;
}

ha::SecuritySettings security_settings(const config::Security& sec) {
    ha::SecuritySettings out;
    out.esp_required = sec.mode == config::SecurityMode::esp;
    for (const auto& c : sec.sas) out.sas.push_back(esp_sa(c, sec));
    out.admission.packets_per_second = sec.control_rate_limit.packets_per_second;
    out.admission.burst = sec.control_rate_limit.burst;
    return out;
}

ha::HaSettings ha_settings(const config::Config& cfg, const dp::Runtime& rt) {
    ha::HaSettings s;
    const auto& ports = rt.ports();
    for (std::size_t i = 0; i < cfg.ports.size(); ++i) {
        ha::Interface itf;
        itf.port = ports[i].id;
        itf.name = cfg.ports[i].name;
        itf.mac = ports[i].mac;
        itf.mtu = cfg.ports[i].mtu;
        for (const auto& a : cfg.ports[i].addresses)
            itf.addresses.push_back({a.address, a.prefix_length});
        s.interfaces.push_back(std::move(itf));
    }
    for (const auto& r : cfg.routes)
        s.static_routes.push_back({r.prefix, ports[r.port_index].id, r.via});
    for (const auto& n : cfg.neighbors)
        s.static_neighbors.push_back({n.address, ports[n.port_index].id, n.mac});
    const auto& h = cfg.home_agent;
    s.ha_addresses = h.addresses;
    s.home_prefixes = h.home_prefixes;
    s.preference = h.preference;
    s.ha_lifetime = h.lifetime;
    s.duplicate_address_detection = h.duplicate_address_detection;
    s.dad_wait_ms = h.dad_wait_ms;
    for (const auto& peer : h.home_agents)
        s.peer_home_agents.push_back({peer.address, peer.preference});
    auto& b = s.bindings;
    b.max_lifetime_s = h.max_binding_lifetime;
    b.max_bindings = h.max_bindings;
    b.max_bindings_per_mn = h.max_bindings_per_mn;
    b.max_flows_per_hoa = h.max_flows_per_hoa;
    b.allow_mcoa = h.allow_mcoa;
    b.allow_bulk_registration = h.allow_bulk_registration;
    b.allow_simultaneous_home_foreign = h.allow_simultaneous_home_foreign;
    b.allow_mobile_routers = h.allow_mobile_routers;
    b.refresh_advice_s = h.refresh_advice;
    b.refresh_request_before_expiry_s = h.refresh_request_before_expiry;
    for (const auto& mn : cfg.mobile_nodes)
        b.authorized_mns.push_back({std::vector<std::uint8_t>(mn.id.begin(), mn.id.end()),
                                    mn.home_addresses, mn.network_prefixes});
    s.parse_limits.max_options = h.max_options_per_message;
    s.tunnel = {cfg.tunnel.hop_limit, cfg.tunnel.encapsulation_limit, cfg.tunnel.mtu};
    s.max_paths = h.max_bindings;
    s.policies = cfg.policies;
    // With security.mode esp, heartbeats go inside ESP (RFC 5847 s.6, ha/liveness.cpp).
    s.liveness = {cfg.heartbeat.enabled, cfg.heartbeat.interval_ms, cfg.heartbeat.missed_limit,
                  cfg.heartbeat.recovery, cfg.heartbeat.care_of_prefixes};
    for (const auto& mn : cfg.mobile_nodes) {
        if (!mn.policy_index) continue;
        s.profile_by_mn_id[std::vector<std::uint8_t>(mn.id.begin(), mn.id.end())] =
            *mn.policy_index;
        for (const auto& hoa : mn.home_addresses) s.profile_by_home_address[hoa] = *mn.policy_index;
    }
    s.security = security_settings(cfg.security);
    return s;
}

}  // namespace monami::gw
