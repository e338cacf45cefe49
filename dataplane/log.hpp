// rte_log types of monami; levels are set on the command line, e.g.
// --log-level=monami.*:debug or --log-level=monami.dp:info.
#pragma once

#include <rte_log.h>

extern int monami_logtype_dp;  // "monami.dp": ports, workers, publication
extern int monami_logtype_cp;  // "monami.cp": control thread, signalling
extern int monami_logtype_gw;  // "monami.gw": start-up, configuration, shutdown

#define MONAMI_LOG(level, type, fmt, ...) \
    rte_log(RTE_LOG_##level, monami_logtype_##type, "monami: " fmt "\n" __VA_OPT__(, ) __VA_ARGS__)
