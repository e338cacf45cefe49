// Ethernet / IPv6 / ICMPv6 wire constants and small read/write helpers over byte spans.
// Shared by the control plane codecs and the data-plane stages (header-only, no EAL).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "dataplane/api/types.hpp"

namespace monami::net {

inline constexpr std::size_t kEthernetHeaderSize = 14;
inline constexpr std::size_t kIpv6HeaderSize = 40;
inline constexpr std::uint16_t kEtherTypeIpv6 = 0x86dd;

inline constexpr std::uint8_t kProtoHopByHop = 0;
inline constexpr std::uint8_t kProtoTcp = 6;
inline constexpr std::uint8_t kProtoUdp = 17;
inline constexpr std::uint8_t kProtoIpv6InIpv6 = 41;
inline constexpr std::uint8_t kProtoRouting = 43;
inline constexpr std::uint8_t kProtoFragment = 44;
inline constexpr std::uint8_t kProtoEsp = 50;
inline constexpr std::uint8_t kProtoAh = 51;
inline constexpr std::uint8_t kProtoIcmpv6 = 58;
inline constexpr std::uint8_t kProtoNoNext = 59;
inline constexpr std::uint8_t kProtoDestinationOptions = 60;
inline constexpr std::uint8_t kProtoMobility = 135;

namespace icmp6 {
inline constexpr std::uint8_t kDestinationUnreachable = 1;
inline constexpr std::uint8_t kPacketTooBig = 2;
inline constexpr std::uint8_t kTimeExceeded = 3;
inline constexpr std::uint8_t kParameterProblem = 4;
inline constexpr std::uint8_t kEchoRequest = 128;
inline constexpr std::uint8_t kEchoReply = 129;
inline constexpr std::uint8_t kRouterSolicitation = 133;
inline constexpr std::uint8_t kRouterAdvertisement = 134;
inline constexpr std::uint8_t kNeighborSolicitation = 135;
inline constexpr std::uint8_t kNeighborAdvertisement = 136;
inline constexpr std::uint8_t kHaadRequest = 144;  // RFC 6275 s.6.5
inline constexpr std::uint8_t kHaadReply = 145;
inline constexpr std::uint8_t kMobilePrefixSolicitation = 146;
inline constexpr std::uint8_t kMobilePrefixAdvertisement = 147;
}  // namespace icmp6

inline std::uint16_t load_be16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
inline std::uint32_t load_be32(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
           static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}
inline void store_be16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
inline void store_be32(std::uint8_t* p, std::uint32_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
}

// Read-only view of a fixed IPv6 header; the caller checked the length.
struct Ipv6HeaderView {
    const std::uint8_t* p;
    std::uint8_t version() const { return p[0] >> 4; }
    std::uint8_t traffic_class() const {
        return static_cast<std::uint8_t>((p[0] << 4) | (p[1] >> 4));
    }
    std::uint32_t flow_label() const { return load_be32(p) & 0xfffff; }
    std::uint16_t payload_length() const { return load_be16(p + 4); }
    std::uint8_t next_header() const { return p[6]; }
    std::uint8_t hop_limit() const { return p[7]; }
    Ipv6Address source() const { return Ipv6Address::from_bytes(p + 8); }
    Ipv6Address destination() const { return Ipv6Address::from_bytes(p + 24); }
};

// Writes a fixed IPv6 header (version 6, given traffic class and flow label).
inline void write_ipv6_header(std::uint8_t* p, std::uint16_t payload_length,
                              std::uint8_t next_header, std::uint8_t hop_limit,
                              const Ipv6Address& src, const Ipv6Address& dst,
                              std::uint8_t traffic_class = 0, std::uint32_t flow_label = 0) {
    store_be32(p,
               6u << 28 | static_cast<std::uint32_t>(traffic_class) << 20 | (flow_label & 0xfffff));
    store_be16(p + 4, payload_length);
    p[6] = next_header;
    p[7] = hop_limit;
    src.copy_to(p + 8);
    dst.copy_to(p + 24);
}

inline void write_ethernet_header(std::uint8_t* p, const MacAddress& dst, const MacAddress& src,
                                  std::uint16_t ether_type = kEtherTypeIpv6) {
    std::memcpy(p, dst.bytes.data(), 6);
    std::memcpy(p + 6, src.bytes.data(), 6);
    store_be16(p + 12, ether_type);
}

}  // namespace monami::net
