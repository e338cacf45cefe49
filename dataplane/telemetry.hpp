// monami's DPDK telemetry commands (read with dpdk-telemetry.py):
//   /monami/ports        ports: name -> [port_id=, device=, mac=, link=, signalling=,
//                        signalling_queue=, signalling_queue_rx=, _strays=, signalling_rules=]
//   /monami/workers      counters and drops by reason, all workers together
//   /monami/worker,N     the same for worker N
//   /monami/drops        drops by reason
//   /monami/control      control-thread counters
//   /monami/config       configuration summary
//   /monami/neighbors    resolved neighbors, as a table
//   /monami/bindings[,S] bindings, as a table: {"total", "start", "rS": ["key=value", ...]}
// Telemetry runs on its own thread: worker counters are read with relaxed loads; what the
// control thread owns is read from a copy it refreshes (ControlView).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/runtime.hpp"

namespace monami::dp {

struct ControlView {
    std::mutex mutex;
    std::vector<std::pair<std::string, std::uint64_t>> control_counters;
    std::vector<std::pair<std::string, std::string>> config_summary;
    std::vector<std::map<std::string, std::string>> neighbors;
    // Extra dictionaries by command suffix, filled by later subsystems (bindings, ...).
    std::map<std::string, std::vector<std::map<std::string, std::string>>> tables;
};

// Registers the commands; `runtime` and `view` must outlive the EAL.
void register_telemetry(const Runtime& runtime, ControlView& view);

}  // namespace monami::dp
