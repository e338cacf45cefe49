// The control plane's settings from the configuration: shared by the gateway's start and
// its reloads (dataplane/gw/reload.*), so a reload builds exactly what a start would.
#pragma once

#include "config/schema.hpp"
#include "controlplane/ha/home_agent.hpp"
#include "dataplane/runtime.hpp"

namespace monami::gw {

// A configured SA as the ESP library takes it.
esp::SecurityAssociation esp_sa(const config::SecurityAssociation& sa,
                                const config::Security& section);
ha::SecuritySettings security_settings(const config::Security& section);
// `rt`: the running data plane, whose ports (in configuration order) give the port ids.
ha::HaSettings ha_settings(const config::Config& cfg, const dp::Runtime& rt);

}  // namespace monami::gw
