// IPv6 extension headers around a Mobility Header: a bounded walker over the header chain
// (RFC 8200 s.4) that picks out the Home Address destination option (RFC 6275 s.6.3) and
// the type 2 routing header (s.6.4), and builders for the packets a home agent exchanges:
// a BU from a care-of address with a Home Address option, a BA back with a type 2
// routing header (s.6.1.7, s.9.5.4, s.11.7.1).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "controlplane/mh/messages.hpp"
#include "dataplane/api/result.hpp"
#include "dataplane/api/types.hpp"

namespace monami::mh {

inline constexpr std::uint8_t kIpProtoHopByHop = 0;
inline constexpr std::uint8_t kIpProtoRouting = 43;
inline constexpr std::uint8_t kIpProtoFragment = 44;
inline constexpr std::uint8_t kIpProtoEsp = 50;
inline constexpr std::uint8_t kIpProtoAh = 51;
inline constexpr std::uint8_t kIpProtoDestinationOptions = 60;
inline constexpr std::uint8_t kIpv6HeaderLength = 40;
inline constexpr std::uint8_t kHomeAddressOptionType = 201;  // RFC 6275 s.6.3
inline constexpr std::uint8_t kRoutingType2 = 2;             // RFC 6275 s.6.4

enum class ExtHdrErrorCode : std::uint8_t {
    Truncated,                 // a header runs past the packet or the payload length
    NotIpv6,                   // version field is not 6
    BadPayloadLength,          // payload length 0 (jumbogram) or larger than the packet
    HopByHopNotFirst,          // RFC 8200 s.4.1: only directly after the IPv6 header
    BadOptionLength,           // an option in a HbH/destination options header overruns it
    UnrecognizedOption,        // unknown option whose action bits say discard (ICMP code 2)
    BadHomeAddressOption,      // length not 16, not at 8n+6, or a second one (s.6.3)
    BadType2RoutingHeader,     // Hdr Ext Len not 2, Segments Left not 1, or a second one
    UnsupportedRoutingHeader,  // another routing type with Segments Left > 0 (RFC 8200 4.4)
    TooManyHeaders,            // more extension headers than ExtHdrLimits::max_headers
};

struct ExtHdrError {
    ExtHdrErrorCode code;
    std::size_t offset;  // from the start of the IPv6 header (an ICMP pointer)
    friend bool operator==(const ExtHdrError&, const ExtHdrError&) = default;
};

std::string_view to_string(ExtHdrErrorCode code);

struct ExtHdrLimits {
    std::size_t max_headers = 8;  // extension headers before the upper layer
};

struct Ipv6HeaderChain {
    Ipv6Address source;
    Ipv6Address destination;
    std::uint8_t hop_limit = 0;
    // The first header the walker does not step over: an upper-layer protocol (MH, ICMPv6,
    // UDP, ...), ESP, No Next Header, or a Fragment header of a real fragment.
    std::uint8_t upper_layer_protocol = 0;
    std::size_t upper_layer_offset = 0;
    std::size_t packet_end = 0;  // 40 + payload length; bytes past it are link padding
    std::size_t extension_headers = 0;
    std::optional<Ipv6Address> home_address_option;    // RFC 6275 s.6.3
    std::optional<Ipv6Address> type2_routing_address;  // RFC 6275 s.6.4
    bool fragmented = false;  // a Fragment header with offset or M flag set

    // The payload of the upper-layer header.
    std::span<const std::uint8_t> upper_layer(std::span<const std::uint8_t> packet) const {
        return packet.subspan(upper_layer_offset, packet_end - upper_layer_offset);
    }
    // Pseudo-header addresses for an upper-layer checksum (RFC 6275 s.6.1.1 / s.6.3,
    // RFC 8200 s.8.1): the home address stands for the source when a Home Address option
    // is present; the final destination is the address in a type 2 routing header.
    const Ipv6Address& checksum_source() const {
        return home_address_option ? *home_address_option : source;
    }
    const Ipv6Address& checksum_destination() const {
        return type2_routing_address ? *type2_routing_address : destination;
    }
};

[[nodiscard]] Result<Ipv6HeaderChain, ExtHdrError> walk_ipv6_headers(
    std::span<const std::uint8_t> packet, const ExtHdrLimits& limits = {});

// ---- Builders ------------------------------------------------------------------------

struct MhPacketAddresses {
    Ipv6Address source;       // IPv6 source: the CoA for a BU from away, the HA for a BA
    Ipv6Address destination;  // IPv6 destination: the HA for a BU, the CoA for a BA
    std::optional<HomeAddress> home_address_option;    // adds a destination options header
    std::optional<HomeAddress> type2_routing_address;  // adds a type 2 routing header
    std::uint8_t hop_limit = 64;
};

// IPv6 header [+ type 2 routing header] [+ destination options with the Home Address
// option] + Mobility Header, in RFC 8200 s.4.1 order; the MH checksum uses the
// pseudo-header addresses above. Empty when the message cannot be encoded.
std::vector<std::uint8_t> build_ipv6_mh_packet(const MhMessage& message,
                                               const MhPacketAddresses& addresses);

// As build_ipv6_mh_packet, appended to `out` (a frame buffer reused across messages: the
// bytes before are left alone). False, with `out` unchanged, when the message cannot be
// encoded. `Message`: MhMessage or BindingAck.
template <class Message>
bool append_ipv6_mh_packet(const Message& message, const MhPacketAddresses& addresses,
                           std::vector<std::uint8_t>& out);

// An ICMPv6 message (type, code, the body after the checksum) behind the same headers: a
// Mobile Prefix Advertisement to a mobile node away from home goes to its CoA with a type 2
// routing header naming the HoA (RFC 6275 s.6.8, s.10.6.3); the checksum's pseudo-header
// uses the final destination, and the HoA when a Home Address option is present.
std::vector<std::uint8_t> build_ipv6_icmpv6_packet(std::uint8_t type, std::uint8_t code,
                                                   std::span<const std::uint8_t> body,
                                                   const MhPacketAddresses& addresses);

// (b) BU sent by a mobile node away from home: CoA -> HA, Home Address option with the
// HoA (RFC 6275 s.11.7.1); the checksum covers HoA -> HA.
std::vector<std::uint8_t> build_bu_packet(const BindingUpdate& bu, const CareOfAddress& coa,
                                          const Ipv6Address& home_agent, const HomeAddress& hoa,
                                          std::uint8_t hop_limit = 64);

// (a) BA from the home agent to a mobile node away from home: HA -> CoA, type 2 routing
// header with the HoA (RFC 6275 s.6.1.8, s.9.5.4); the checksum covers HA -> HoA.
std::vector<std::uint8_t> build_ba_packet(const BindingAck& ba, const Ipv6Address& home_agent,
                                          const CareOfAddress& coa, const HomeAddress& hoa,
                                          std::uint8_t hop_limit = 64);

}  // namespace monami::mh
