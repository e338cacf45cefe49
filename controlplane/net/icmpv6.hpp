// ICMPv6 codecs the gateway needs to live on a link: Neighbor Discovery (RFC 4861 s.4.3,
// 4.4, 7.1) and echo (RFC 4443 s.4). Frames are Ethernet + IPv6 + ICMPv6 byte vectors.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "dataplane/api/result.hpp"
#include "dataplane/api/types.hpp"

namespace monami::net {

// A received IPv6 packet located inside an Ethernet frame, after basic checks.
struct Ipv6Packet {
    MacAddress eth_source;
    MacAddress eth_destination;
    Ipv6Address source;
    Ipv6Address destination;
    std::uint8_t hop_limit = 0;
    std::uint8_t next_header = 0;           // of the fixed header
    std::span<const std::uint8_t> ip;       // from the IPv6 header to the payload end
    std::span<const std::uint8_t> payload;  // after the fixed header
};

enum class PacketError : std::uint8_t {
    TooShort,
    NotIpv6,
    BadVersion,
    BadPayloadLength,
    NotIcmpv6,
    BadChecksum,
    BadHopLimit,
    BadCode,
    BadLength,
    BadTarget,
    BadOption,
    BadSourceForDad,
};
std::string_view to_string(PacketError e);

// Parses Ethernet + fixed IPv6 header; trailing Ethernet padding is cut off.
Result<Ipv6Packet, PacketError> parse_ipv6_frame(std::span<const std::uint8_t> frame);

struct Icmpv6Message {
    std::uint8_t type = 0;
    std::uint8_t code = 0;
    std::span<const std::uint8_t> body;  // after type, code, checksum
};
// The ICMPv6 header of a packet whose fixed header says next header 58; checksum verified.
Result<Icmpv6Message, PacketError> parse_icmpv6(const Ipv6Packet& packet);

struct NeighborSolicitation {
    Ipv6Address target;
    std::optional<MacAddress> source_link_layer;
};
struct NeighborAdvertisement {
    bool router = false;
    bool solicited = false;
    bool override_flag = false;
    Ipv6Address target;
    std::optional<MacAddress> target_link_layer;
};

// RFC 4861 s.7.1.1 / 7.1.2 validity checks included (hop limit 255, code 0, lengths,
// options, DAD source rules).
Result<NeighborSolicitation, PacketError> parse_neighbor_solicitation(const Ipv6Packet& packet,
                                                                      const Icmpv6Message& m);
Result<NeighborAdvertisement, PacketError> parse_neighbor_advertisement(const Ipv6Packet& packet,
                                                                        const Icmpv6Message& m);

// A complete frame with an ICMPv6 message: Ethernet + IPv6 + ICMPv6 header + body, checksum set.
std::vector<std::uint8_t> build_icmpv6_frame(const MacAddress& eth_dst, const MacAddress& eth_src,
                                             const Ipv6Address& src, const Ipv6Address& dst,
                                             std::uint8_t hop_limit, std::uint8_t type,
                                             std::uint8_t code, std::span<const std::uint8_t> body);

std::vector<std::uint8_t> build_neighbor_advertisement(const MacAddress& eth_dst,
                                                       const MacAddress& our_mac,
                                                       const Ipv6Address& src,
                                                       const Ipv6Address& dst,
                                                       const NeighborAdvertisement& na);
// The same frame written into `frame` (resized; a reused buffer keeps its storage).
void build_icmpv6_frame_into(std::vector<std::uint8_t>& frame, const MacAddress& eth_dst,
                             const MacAddress& eth_src, const Ipv6Address& src,
                             const Ipv6Address& dst, std::uint8_t hop_limit, std::uint8_t type,
                             std::uint8_t code, std::span<const std::uint8_t> body);
void build_neighbor_advertisement_into(std::vector<std::uint8_t>& frame, const MacAddress& eth_dst,
                                       const MacAddress& our_mac, const Ipv6Address& src,
                                       const Ipv6Address& dst, const NeighborAdvertisement& na);
std::vector<std::uint8_t> build_neighbor_solicitation(const MacAddress& our_mac,
                                                      const Ipv6Address& src,
                                                      const Ipv6Address& target);
// Echo reply to `request` (an echo request to one of our addresses): same identifier,
// sequence and data, source = the address it was sent to.
std::vector<std::uint8_t> build_echo_reply(const Ipv6Packet& request, const Icmpv6Message& m,
                                           const MacAddress& our_mac);

}  // namespace monami::net
