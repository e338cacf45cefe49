// Could a port steer the control thread's signalling to a dedicated RX queue in hardware?
// The issue asks for rte_flow steering of Mobility Header and ESP packets to our addresses
// where the port supports it, and the software classifier otherwise. Only the probe exists:
// the dedicated queue is not built, so the classifier in use is always the software one
// (workers find signalling by FIB lookup and punt it); the probe says what a port offers.
#pragma once

#include <span>
#include <string>

#include "dataplane/api/control.hpp"
#include "dataplane/api/types.hpp"

namespace monami::dp {

// The classifier the workers use to find signalling: always "software" for now.
inline constexpr const char* kClassifierInUse = "software";

struct SteeringProbe {
    bool rte_flow = false;  // the port validated every rule
    std::string detail;     // why not, e.g. "rte_flow_validate: Function not implemented"
};

// rte_flow_validate of one ingress rule per (address, next header 135 / 50) sending to RX
// `queue` of the configured `port`. With no addresses, one rule on the next header alone.
SteeringProbe probe_signalling_steering(PortId port, std::span<const Ipv6Address> addresses,
                                        std::uint16_t queue = 0);

}  // namespace monami::dp
