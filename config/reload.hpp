// What a configuration reload (SIGHUP, `monami-ctl reload`) would change, and whether the
// running gateway can take it: docs/config.md "Reloading" lists which keys change live.
// Keys the running process was built around (the EAL, the ports, the data plane's pools and
// table sizes, the home agent's addresses and prefixes, the binding store) cannot; a file
// that changes any of them is refused whole, naming them, and the old configuration stays.
#pragma once

#include <string>
#include <vector>

#include "config/schema.hpp"

namespace monami::config {

struct ConfigChanges {
    // Keys that cannot change while running, as YAML paths ("ports.wifi.device",
    // "dataplane.mbufs", "home_agent.addresses"): non-empty means the reload is refused.
    std::vector<std::string> restart_keys;

    // The parts that change live (each applied only when set).
    bool log_level = false;
    bool routes = false;
    bool neighbors = false;
    bool loop = false;          // dataplane.stats_interval_ms, slow_iteration_warning_us
    bool home_agent = false;    // the home_agent keys but addresses, prefixes, max_bindings
    bool tunnel = false;        // every tunnel header is built again
    bool mobile_nodes = false;  // authorization, MN-ID, NEMO prefixes, per-MN profiles
    bool heartbeat = false;
    bool security = false;      // mode, replay window, ESN, rate limit (SAs: below)
    bool security_sas = false;  // security.sas
    bool policies = false;

    bool refused() const { return !restart_keys.empty(); }
    bool any_live() const;
    // The live sections that changed, in file order ("policies", "heartbeat", ...).
    std::vector<std::string> live_sections() const;
};

// The SAs a reload replaces, by (SPI, direction). An SA is the same when every field and
// the section-wide replay_window and esn are; otherwise the running one is removed and the
// new one added. `same_keys`: the added SA replaces one with the same algorithm and keys,
// so its sequence numbers go on (only its window, ESN or home address changed).
struct SaChanges {
    std::vector<const SecurityAssociation*> removed;  // into the running configuration
    struct Added {
        const SecurityAssociation* sa = nullptr;  // into the new configuration
        bool same_keys = false;
    };
    std::vector<Added> added;
    bool empty() const { return removed.empty() && added.empty(); }
};
SaChanges diff_sas(const Security& running, const Security& next);

// Compares the running configuration with the one read from the file.
ConfigChanges diff_config(const Config& running, const Config& next);

// "reload refused: ports.wifi.device, dataplane.mbufs cannot change while running; restart
// to apply"
std::string refusal_message(const ConfigChanges& changes);

}  // namespace monami::config
