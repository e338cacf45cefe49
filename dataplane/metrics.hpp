// monami's Prometheus metrics (docs/architecture.md "Metrics"): what the ports and the
// workers count, read here with relaxed loads, and what the control thread owns (its
// counters, the binding cache's totals, the store and the pair, the loop and Binding Update
// histograms), asked of it one bounded answer at a time like telemetry does. Rendered on
// the metrics server's thread, never on a worker lcore or the control thread.
#pragma once

#include <string>

#include "dataplane/api/control_query.hpp"
#include "dataplane/runtime.hpp"

namespace monami::dp {

// The whole exposition (text format 0.0.4). When the control thread does not answer in
// time, its families are left out and monami_control_thread_answering is 0.
std::string render_metrics(const Runtime& runtime, ControlQueries& queries);

}  // namespace monami::dp
