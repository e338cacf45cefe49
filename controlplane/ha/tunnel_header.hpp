// The ready-made header of a tunnel delivery path (STYLE.md habit 5): built once per binding
// change, prepended by the workers. Shared by the home agent and the data-plane tests.
#pragma once

#include "dataplane/api/snapshot.hpp"
#include "dataplane/api/types.hpp"

namespace monami::ha {

struct TunnelSettings;

// Writes Ethernet + IPv6 (+ destination options with the Tunnel Encapsulation Limit option,
// RFC 2473 s.5.1) into `path.header` with payload length 0, outer destination
// `path.care_of`, and sets `path.header_length`; the worker patches the length.
void write_tunnel_header(DeliveryPath& path, const MacAddress& dst_mac, const MacAddress& src_mac,
                         const Ipv6Address& outer_source, const TunnelSettings& tunnel);

}  // namespace monami::ha
