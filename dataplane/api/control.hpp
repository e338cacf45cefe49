// The interface between the control thread and the data plane (STYLE.md (b)): what the
// control plane may ask of the data plane. Implemented by dp::Runtime (dataplane/runtime.hpp)
// over DPDK; the control plane sees only this header, so it builds and tests without an EAL.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "dataplane/api/snapshot.hpp"
#include "dataplane/api/types.hpp"

namespace monami {

using PortId = std::uint16_t;

// Why a worker handed a packet to the control thread.
enum class PuntReason : std::uint8_t {
    Local = 0,         // addressed to us (unicast or multicast): ND, echo, MH, ESP, DHAAD
    NeedsResolution,   // next hop has no link-layer address yet
    HopLimitExceeded,  // would leave with hop limit 0: ICMPv6 Time Exceeded
    TooBig,            // larger than the egress (tunnel) MTU: ICMPv6 Packet Too Big
    EncapLimit,        // tunnel encapsulation limit reached: ICMPv6 Parameter Problem
};

// Per-binding counters, summed over the workers.
struct PathCounters {
    std::uint64_t packets = 0;
    std::uint64_t bytes = 0;
    std::uint64_t reverse_packets = 0;  // decapsulated from this CoA
    std::uint64_t reverse_bytes = 0;
};

// One route the data plane forwards by. Connected prefixes have no `via`.
struct Route {
    Ipv6Prefix prefix;
    PortId port = 0;
    std::optional<Ipv6Address> via;
};

struct Neighbor {
    Ipv6Address address;
    PortId port = 0;
    MacAddress mac;
};

// Everything the data plane needs to forward plain IPv6: built by the control thread,
// compiled and published as one immutable table.
struct RoutingState {
    std::vector<Route> routes;
    std::vector<Neighbor> neighbors;           // resolved link-layer addresses
    std::vector<Ipv6Address> local_addresses;  // punted to the control thread
};

class DataPlane {
  public:
    virtual ~DataPlane() = default;
    // Queues a complete Ethernet frame for transmission on `port`. False when the frame was
    // dropped (no buffer, ring full); the data plane counts it.
    virtual bool send_frame(PortId port, std::span<const std::uint8_t> frame) = 0;
    // Hands an IPv6 packet (no Ethernet header) to the fast path as if it had been received:
    // routed, or tunnelled when its destination is a registered home address.
    virtual bool route_packet(std::span<const std::uint8_t> ipv6_packet) = 0;
    // Replaces the forwarding table; workers switch at their next burst.
    virtual void publish_routing(const RoutingState& state) = 0;
    // Installs or replaces one resolved neighbor (learned by ND) without touching the rest.
    virtual void publish_neighbor(const Neighbor& neighbor) = 0;
    // Installs or replaces the snapshot of snapshot.home_address (and of the mobile network
    // prefixes it lists); workers see it from their next burst. The data plane keeps a packed
    // copy, not `snapshot` (the caller may reuse it).
    virtual void publish_hoa(const HoaSnapshot& snapshot) = 0;
    // Removes a home address and its prefixes.
    virtual void withdraw_hoa(const HomeAddress& home_address) = 0;
    // Per-binding counters of a DeliveryPath::counter_slot.
    virtual PathCounters path_counters(std::uint32_t slot) const = 0;
    // Frees what no worker can still see (end of an RCU grace period). Called every tick.
    virtual void reclaim() = 0;
    // A standby of a redundant pair is silent: while not serving, workers drop every frame
    // they receive (counted `standby`) and send_frame / route_packet send nothing, so not
    // one frame leaves the ports. Serving is the default.
    virtual void set_serving(bool serving) = 0;
};

}  // namespace monami
