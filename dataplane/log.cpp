#include "dataplane/log.hpp"

RTE_LOG_REGISTER(monami_logtype_dp, monami.dp, INFO);
RTE_LOG_REGISTER(monami_logtype_cp, monami.cp, INFO);
RTE_LOG_REGISTER(monami_logtype_gw, monami.gw, INFO);
