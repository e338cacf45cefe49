// The telemetry commands the control thread answers itself (dataplane/api/control_query.hpp),
// each one bounded whatever the size of the binding cache:
//   /monami/bindings[,AFTER[,COUNT]]  the bindings of up to COUNT HoAs (default 100, at most
//                                     1000) above AFTER (a HoA; empty or "-": from the lowest),
//                                     in address order, as many as fit one reply; "next" is
//                                     the AFTER of the next page ("" at the end)
//   /monami/binding,HOA               the bindings of one HoA
//   /monami/summary                   counts: HoAs, bindings, flows, paths by state, ...
//   /monami/control                   the control thread's counters
//   /monami/neighbors[,AFTER]         resolved neighbors above AFTER, a page at a time
//   /monami/store                     the binding store's figures, the pair's where paired
//   /monami/latency                   BU processing and update latency histograms (count,
//                                     sum_ns, max_ns, buckets "UPPER_NS=COUNT"), and the
//                                     BAs by status ("STATUS=COUNT")
// Records are arrays of "key=value" strings under "r0", "r1", ... (DPDK 22.11 telemetry nests
// only arrays of numbers or strings inside a dictionary).
#pragma once

#include <cstddef>
#include <cstdint>

#include "controlplane/ha/home_agent.hpp"
#include "dataplane/api/control_query.hpp"

namespace monami::ha {

// What one reply may hold: DPDK telemetry drops what does not fit its output buffer and
// dictionary, so pages stop short of both.
struct ReplyLimits {
    std::size_t bytes = 12 * 1024;
    std::size_t entries = 200;
};

// Answers `query` if it is one of the commands above (true), else leaves `reply` alone.
bool answer_query(const HomeAgent& agent, const Query& query, std::uint64_t now_ms,
                  QueryReply& reply, const ReplyLimits& limits = {});

}  // namespace monami::ha
