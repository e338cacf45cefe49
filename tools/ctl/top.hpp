// monami-ctl top: a live view of a running gateway, refreshed every second: rates per port
// (Mpps, Gbit/s), per worker (busy share), BUs/s, the binding cache, paths by state, drops
// by reason. Redraws in place (cursor home, lines cleared to their end: no flicker) on the
// terminal's alternate screen; q or Ctrl-C leaves with the terminal as it was.
#pragma once

#include "tools/ctl/telemetry_client.hpp"

namespace monami::ctl {

// `refreshes`: stop after that many screens (0: until q or Ctrl-C). Returns the exit status:
// 0 when asked to quit, 1 when the gateway stopped answering.
int run_top(Telemetry& telemetry, const std::string& file_prefix, unsigned refreshes);

}  // namespace monami::ctl
