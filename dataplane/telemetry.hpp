// monami's DPDK telemetry commands (read with dpdk-telemetry.py or monami-ctl):
//   /monami/ports        ports: name -> [port_id=, device=, mac=, link=, signalling=,
//                        signalling_queue=, signalling_queue_rx=, _strays=, signalling_rules=]
//   /monami/workers      counters and drops by reason, all workers together
//   /monami/worker,N     the same for worker N
//   /monami/drops        drops by reason
//   /monami/reload       reads the configuration file again (on the telemetry thread) and
//                        has the control thread apply it; the answer is the outcome
//                        (dataplane/gw/reload.hpp)
// and, answered by the control thread itself (controlplane/ha/queries.hpp, the gateway's
// loop): /monami/config (summary and the last reload), /monami/control, /monami/summary,
// /monami/bindings[,AFTER[,COUNT]], /monami/binding,HOA, /monami/neighbors[,AFTER],
// /monami/loop, /monami/store.
// Telemetry runs on its own threads: worker counters are read with relaxed loads; what the
// control thread owns is asked of it (dataplane/api/control_query.hpp), one bounded answer
// at a time, never copied out on a schedule.
#pragma once

#include <any>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "dataplane/api/control_query.hpp"
#include "dataplane/runtime.hpp"

namespace monami::dp {

// Registers the commands. `runtime` and `queries` must outlive the EAL; `config_summary` is
// copied.
// `read_config`: reads and validates the configuration file for /monami/reload (called on
// the telemetry thread); its result goes to the control thread as the query's payload.
void register_telemetry(const Runtime& runtime, ControlQueries& queries,
                        std::function<std::any()> read_config);

}  // namespace monami::dp
