// What a worker knows about one home address: an immutable snapshot built by the control
// thread, published through the SnapshotPublisher, replaced whole, freed after an RCU grace
// period. Laid out so the common case (no flow rules, one choice) reads the snapshot's first
// cache line and one binding.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <new>
#include <vector>

#include "dataplane/api/types.hpp"

namespace monami {

inline constexpr unsigned kMaxBindingsPerHoa = 8;   // BID choice masks are 8 bits
inline constexpr unsigned kChoiceSlots = 64;        // flow-hash slots of a FlowAction
inline constexpr unsigned kMaxDeliveryHeader = 64;  // Ethernet + IPv6 + TEL dest option
inline constexpr std::uint8_t kNoBinding = 0xff;
inline constexpr unsigned kMaxChainDepth = 4;
// Offset of the Tunnel Encapsulation Limit value in a DeliveryPath header that carries it.
inline constexpr unsigned kTunnelHeaderWithLimit = 14 + 40 + 8;
inline constexpr unsigned kEncapsulationLimitOffset = 14 + 40 + 4;

enum class BindingState : std::uint8_t { Live = 0, Suspect = 1, Dead = 2 };

// One way to reach the mobile node: a tunnel to a care-of address (Ethernet + outer IPv6
// [+ Tunnel Encapsulation Limit destination option], RFC 2473), or native delivery on the
// home link when the MN is at home there (Ethernet only).
struct alignas(64) DeliveryPath {
    std::uint8_t header[kMaxDeliveryHeader];  // ready to prepend; payload length left 0
    std::uint8_t header_length = 0;           // 14 (native), 54 or 62 (tunnel)
    bool native = false;                      // at home: no tunnel header
    BindingState state = BindingState::Live;
    // The CoA is itself a registered home address (seed 6.3.1): the tunnel packet is
    // delivered to that HoA in turn, up to kMaxChainDepth tunnels deep.
    bool chained = false;
    std::uint16_t bid = 0;
    std::uint16_t port = 0;    // egress port
    std::uint16_t mtu = 1500;  // largest inner packet; larger ones get Packet Too Big
    // Set by SnapshotArena::pack (the workers' copy): header_length when the path is a
    // plain tunnel whose header the burst loop's two fixed copies cover (not native, not
    // chained, 32-64 bytes), else 0. The control thread leaves it 0.
    std::uint16_t plain_tunnel_length = 0;
    std::uint32_t counter_slot = 0;  // index into the workers' per-binding counters
    Ipv6Address care_of;             // outer destination; reverse traffic must come from it
    Ipv6Address home_agent;          // outer source: the HA address the CoA registered with
};
static_assert(sizeof(DeliveryPath) == 128);

// What to do with a flow: replicate to every path in `ncast_mask` (n-cast, RFC 6089 BID
// references to several BIDs), or send to choice[flow_hash % kChoiceSlots].
struct FlowAction {
    std::uint8_t choice[kChoiceSlots];  // path index or kNoBinding
    std::uint8_t ncast_mask = 0;
};

template <class T>
struct FieldRange {
    T first{};
    T last{};
    bool contains(const T& v) const { return !(v < first) && !(last < v); }
};

// A compiled RFC 6088 traffic selector (or an operator traffic class): all fields must match;
// a field whose range is the full domain matches everything.
struct FlowSelector {
    FieldRange<Ipv6Address> source{
        Ipv6Address{}, Ipv6Address{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}};
    FieldRange<Ipv6Address> destination{source};
    FieldRange<std::uint32_t> spi{0, 0xffffffffu};
    FieldRange<std::uint32_t> flow_label{0, 0xfffff};
    FieldRange<std::uint16_t> source_port{0, 0xffff};
    FieldRange<std::uint16_t> destination_port{0, 0xffff};
    FieldRange<std::uint8_t> traffic_class{0, 0xff};
    FieldRange<std::uint8_t> next_header{0, 0xff};
    bool needs_ports = false;  // set when a port or SPI range is narrower than the domain
};

struct FlowRule {
    FlowSelector selector;
    FlowAction action;
    std::uint16_t fid = 0;       // RFC 6089 flow id; 0 for operator rules
    std::uint16_t priority = 0;  // lower first (RFC 6089 FID-PRI)
};

// The control thread's form of a HoA's forwarding state. Workers never read it: publication
// packs it into a PackedHoa (dataplane/packed_hoa.hpp) and frees it, so it needs no cache-line
// alignment (an over-aligned allocation costs the control thread more per Binding Update).
struct HoaSnapshot {
    FlowAction default_action;  // flows no rule matches (bytes 0-64)
    std::uint8_t path_count = 0;
    std::uint32_t generation = 0;
    std::vector<DeliveryPath> paths;
    std::vector<FlowRule> rules;               // by priority; empty in the common case
    HomeAddress home_address;                  // control thread only from here on
    std::vector<Ipv6Prefix> network_prefixes;  // RFC 3963 prefixes routed to this HoA

    // The path index for an address registered as CoA, or kNoBinding (ingress filtering).
    std::uint8_t path_of_care_of(const Ipv6Address& source) const {
        for (std::uint8_t i = 0; i < path_count; ++i)
            if (!paths[i].native && paths[i].care_of == source) return i;
        return kNoBinding;
    }
};

}  // namespace monami
