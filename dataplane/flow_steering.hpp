// Signalling steering with rte_flow: on a port whose driver installs flow rules, the control
// thread's traffic goes to a dedicated RX queue that the control thread polls itself, so a
// signalling flood never passes through (or queues behind) the workers. The workers' software
// classifier (FIB Local entries and multicast -> punt) stays active on every port: it catches
// whatever no rule matched, and it is all there is on ports without rte_flow.
#pragma once

#include <rte_flow.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "dataplane/api/control.hpp"
#include "dataplane/api/result.hpp"
#include "dataplane/api/types.hpp"

namespace monami::dp {

// Next headers steered when addressed to one of our unicast addresses: Mobility Header,
// ESP, ICMPv6, and Destination Options (a Binding Update carries a Home Address option).
// Tunnel packets (41) are not: the workers decapsulate them.
inline constexpr std::uint8_t kSteeredNextHeaders[] = {135, 50, 58, 60};

// Why `port` cannot steer to RX `queue`, or nullopt when it can: one rule is validated,
// created and destroyed (net_tap validates rules it then cannot install without the
// kernel's multiq qdisc).
std::optional<std::string> signalling_steering_unavailable(PortId port, std::uint16_t queue);

// The rules for `addresses` (each with every kSteeredNextHeaders), plus ICMPv6 to any
// multicast address (Neighbor Discovery), all to RX `queue`. All or nothing: on error the
// rules created so far are destroyed and the driver's message is returned.
Result<std::vector<rte_flow*>, std::string> install_signalling_rules(
    PortId port, std::span<const Ipv6Address> addresses, std::uint16_t queue);
void remove_signalling_rules(PortId port, std::vector<rte_flow*>& flows);

}  // namespace monami::dp
