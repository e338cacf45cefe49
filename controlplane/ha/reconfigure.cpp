// A configuration reload applied to the running agent (SIGHUP, `monami-ctl reload`): the
// gateway has checked that nothing changed that needs a restart (config/reload.hpp), so
// interfaces, HA addresses, home prefixes and table sizes are those the agent was built with.
#include <algorithm>
#include <map>

#include "controlplane/ha/home_agent.hpp"

namespace monami::ha {

void HomeAgent::count_reload(ReloadOutcome outcome) {
    switch (outcome) {
        case ReloadOutcome::applied:
            ++counters_.reloads_applied;
            return;
        case ReloadOutcome::unchanged:
            ++counters_.reloads_unchanged;
            return;
        case ReloadOutcome::refused:
            ++counters_.reloads_refused;
            return;
        case ReloadOutcome::invalid:
            ++counters_.reloads_invalid;
            return;
    }
}

void HomeAgent::revoke_unauthorized(const std::vector<HomeAddress>& slice) {
    std::vector<HomeAddress> revoked;
    for (const auto& hoa : slice) {
        const bcache::HoaEntry* entry = cache_.find(hoa);
        if (!entry || cache_.authorized(*entry)) continue;
        cache_.remove(hoa);
        revoked.push_back(hoa);
        log_event("reload: " + hoa.to_string() +
                  " is no longer authorized by mobile_nodes; its bindings are removed");
    }
    counters_.reload_revoked += revoked.size();
    persist(revoked);  // removed from the store too: a restart must not bring them back
}

std::string HomeAgent::reconfigure(HaSettings next, Reconfiguration what, std::uint64_t now_ms) {
    now_ms_ = now_ms;
    // The SAs to add come in `what` (only those that changed); these copies are not used.
    for (auto& sa : next.security.sas) sa.wipe_keys();
    bool sweep = false;
    bool revalidate = false;
    std::string error;

    if (what.routing) {
        settings_.static_routes = std::move(next.static_routes);
        settings_.static_neighbors = std::move(next.static_neighbors);
        // A static entry overrides what Neighbor Discovery learned for the same address.
        for (const auto& n : settings_.static_neighbors) {
            learned_.erase(n.address);
            pending_.erase(n.address);
        }
        build_routes();
        publish_routing();  // the FIB is replaced whole (RCU), the neighbor table synced
        sweep = true;       // tunnel headers carry the next hop's port and MAC
    }
    if (what.home_agent) {
        settings_.preference = next.preference;
        settings_.ha_lifetime = next.ha_lifetime;
        settings_.duplicate_address_detection = next.duplicate_address_detection;
        settings_.dad_wait_ms = next.dad_wait_ms;
        settings_.peer_home_agents = std::move(next.peer_home_agents);
        settings_.parse_limits = next.parse_limits;
    }
    if (what.home_agent || what.mobile_nodes) {
        // Limits and flags apply to the next BU; what is registered keeps what it was granted.
        next.bindings.home_prefixes = settings_.home_prefixes;
        next.bindings.ha_addresses = settings_.ha_addresses;
        settings_.bindings = next.bindings;
        cache_.reconfigure(std::move(next.bindings));
    }
    if (what.mobile_nodes) revalidate = sweep = true;
    if (what.policies || what.mobile_nodes) {
        // Profiles are indexes into the policies: both go together.
        settings_.policies = std::move(next.policies);
        settings_.profile_by_mn_id = std::move(next.profile_by_mn_id);
        settings_.profile_by_home_address = std::move(next.profile_by_home_address);
        policy_ = policy::PolicyEngine(settings_.policies);
        sweep = true;
    }
    if (what.tunnel) {
        settings_.tunnel = next.tunnel;
        sweep = true;
    }
    if (what.heartbeat) {
        const bool more_heartbeats =
            (next.liveness.heartbeats && !settings_.liveness.heartbeats) ||
            (next.liveness.heartbeats &&
             next.liveness.care_of_prefixes != settings_.liveness.care_of_prefixes);
        settings_.liveness = next.liveness;
        liveness_.reconfigure(std::move(next.liveness));
        // Paths that now get heartbeats start when the sweep tracks them again; those that
        // no longer do stop at their next heartbeat (LivenessTracker::tick).
        if (more_heartbeats) sweep = true;
    }
    if (what.security) {
        security_->set_esp_required(next.security.esp_required);
        security_->set_admission(next.security.admission);
    }
    if (!what.sas_removed.empty() || !what.sas_added.empty()) {
        // Sequence state of the SAs replaced with the same keys, taken before removal.
        std::map<std::pair<std::uint32_t, esp::Direction>, std::pair<std::uint64_t, std::uint64_t>>
            kept;
        esp::SaDatabase* sas = security_->sa_database();
        for (const auto& added : what.sas_added) {
            if (!added.keep_sequence || !sas) continue;
            if (esp::SaState* old = sas->find(added.sa.spi, added.sa.dir))
                kept[{added.sa.spi, added.sa.dir}] = {old->last_sent_sequence(),
                                                      old->replay_window().highest()};
        }
        for (const auto& [spi, direction] : what.sas_removed) security_->remove_sa(spi, direction);
        for (auto& added : what.sas_added) {
            auto state = security_->add_sa(added.sa);
            if (!state) {
                if (error.empty()) error = state.error();
                continue;
            }
            esp::SaState& sa = *state.value();
            if (auto k = kept.find({sa.spi(), sa.direction()}); k != kept.end()) {
                sa.resume_after(k->second.first);
                if (k->second.second > 0) sa.replay_window().resume_after(k->second.second);
            } else if (sa.direction() == esp::Direction::Inbound) {
                // New keys: the peer counts from 1 again; the stored mark of the SA this
                // SPI named before must not raise the window after a restart.
                inbound_marks_.erase(sa.spi());
                if (store_ && serving_) store_->put(store::EspMarks{sa.spi(), false, 0});
            }
            // With a store nothing is sent beyond a durable reservation (persistence.cpp).
            if (store_ && sa.direction() == esp::Direction::Outbound) {
                sa.set_reserved_until(sa.last_sent_sequence());
                reserve_sequences(sa);
            }
        }
    }
    if (sweep) republish_all(now_ms, revalidate);
    ++counters_.reloads_applied;
    return error;
}

}  // namespace monami::ha
