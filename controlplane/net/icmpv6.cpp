#include "controlplane/net/icmpv6.hpp"

#include "controlplane/net/checksum.hpp"
#include "controlplane/net/packet.hpp"

namespace monami::net {

std::string_view to_string(PacketError e) {
    switch (e) {
        case PacketError::TooShort:
            return "too short";
        case PacketError::NotIpv6:
            return "not IPv6";
        case PacketError::BadVersion:
            return "bad IP version";
        case PacketError::BadPayloadLength:
            return "bad payload length";
        case PacketError::NotIcmpv6:
            return "not ICMPv6";
        case PacketError::BadChecksum:
            return "bad checksum";
        case PacketError::BadHopLimit:
            return "bad hop limit";
        case PacketError::BadCode:
            return "bad code";
        case PacketError::BadLength:
            return "bad length";
        case PacketError::BadTarget:
            return "bad target";
        case PacketError::BadOption:
            return "bad option";
        case PacketError::BadSourceForDad:
            return "bad source for DAD";
    }
    return "unknown";
}

Result<Ipv6Packet, PacketError> parse_ipv6_frame(std::span<const std::uint8_t> frame) {
    if (frame.size() < kEthernetHeaderSize + kIpv6HeaderSize) return Err{PacketError::TooShort};
    if (load_be16(frame.data() + 12) != kEtherTypeIpv6) return Err{PacketError::NotIpv6};
    auto ip = frame.subspan(kEthernetHeaderSize);
    Ipv6HeaderView h{ip.data()};
    if (h.version() != 6) return Err{PacketError::BadVersion};
    std::size_t total = kIpv6HeaderSize + h.payload_length();
    if (total > ip.size()) return Err{PacketError::BadPayloadLength};
    Ipv6Packet p;
    p.eth_destination = MacAddress::from_bytes(frame.data());
    p.eth_source = MacAddress::from_bytes(frame.data() + 6);
    p.source = h.source();
    p.destination = h.destination();
    p.hop_limit = h.hop_limit();
    p.next_header = h.next_header();
    p.ip = ip.first(total);
    p.payload = p.ip.subspan(kIpv6HeaderSize);
    return p;
}

Result<Icmpv6Message, PacketError> parse_icmpv6(const Ipv6Packet& packet) {
    if (packet.next_header != kProtoIcmpv6) return Err{PacketError::NotIcmpv6};
    if (packet.payload.size() < 4) return Err{PacketError::TooShort};
    if (ipv6_upper_layer_checksum(packet.source, packet.destination, kProtoIcmpv6,
                                  packet.payload) != 0)
        return Err{PacketError::BadChecksum};
    return Icmpv6Message{packet.payload[0], packet.payload[1], packet.payload.subspan(4)};
}

namespace {

constexpr std::uint8_t kOptSourceLinkLayer = 1;
constexpr std::uint8_t kOptTargetLinkLayer = 2;

// Walks ND options (RFC 4861 s.4.6); returns the first link-layer address option of `type`.
Result<std::optional<MacAddress>, PacketError> find_link_layer_option(
    std::span<const std::uint8_t> options, std::uint8_t type) {
    std::optional<MacAddress> found;
    while (!options.empty()) {
        if (options.size() < 2) return Err{PacketError::BadOption};
        std::size_t len = static_cast<std::size_t>(options[1]) * 8;
        if (len == 0 || len > options.size()) return Err{PacketError::BadOption};
        if (options[0] == type && len == 8 && !found)
            found = MacAddress::from_bytes(options.data() + 2);
        options = options.subspan(len);
    }
    return found;
}

}  // namespace

Result<NeighborSolicitation, PacketError> parse_neighbor_solicitation(const Ipv6Packet& packet,
                                                                      const Icmpv6Message& m) {
    if (packet.hop_limit != 255) return Err{PacketError::BadHopLimit};
    if (m.code != 0) return Err{PacketError::BadCode};
    if (m.body.size() < 20) return Err{PacketError::BadLength};
    NeighborSolicitation ns;
    ns.target = Ipv6Address::from_bytes(m.body.data() + 4);
    if (ns.target.is_multicast()) return Err{PacketError::BadTarget};
    auto lla = find_link_layer_option(m.body.subspan(20), kOptSourceLinkLayer);
    if (!lla) return Err{lla.error()};
    ns.source_link_layer = *lla;
    if (packet.source.is_unspecified()) {
        // DAD probe: must go to a solicited-node group and carry no source link-layer option.
        if (packet.destination != ns.target.solicited_node() || ns.source_link_layer)
            return Err{PacketError::BadSourceForDad};
    }
    return ns;
}

Result<NeighborAdvertisement, PacketError> parse_neighbor_advertisement(const Ipv6Packet& packet,
                                                                        const Icmpv6Message& m) {
    if (packet.hop_limit != 255) return Err{PacketError::BadHopLimit};
    if (m.code != 0) return Err{PacketError::BadCode};
    if (m.body.size() < 20) return Err{PacketError::BadLength};
    NeighborAdvertisement na;
    na.router = m.body[0] & 0x80;
    na.solicited = m.body[0] & 0x40;
    na.override_flag = m.body[0] & 0x20;
    na.target = Ipv6Address::from_bytes(m.body.data() + 4);
    if (na.target.is_multicast()) return Err{PacketError::BadTarget};
    if (na.solicited && packet.destination.is_multicast()) return Err{PacketError::BadTarget};
    auto lla = find_link_layer_option(m.body.subspan(20), kOptTargetLinkLayer);
    if (!lla) return Err{lla.error()};
    na.target_link_layer = *lla;
    return na;
}

std::vector<std::uint8_t> build_icmpv6_frame(const MacAddress& eth_dst, const MacAddress& eth_src,
                                             const Ipv6Address& src, const Ipv6Address& dst,
                                             std::uint8_t hop_limit, std::uint8_t type,
                                             std::uint8_t code,
                                             std::span<const std::uint8_t> body) {
    std::vector<std::uint8_t> frame;
    build_icmpv6_frame_into(frame, eth_dst, eth_src, src, dst, hop_limit, type, code, body);
    return frame;
}

void build_icmpv6_frame_into(std::vector<std::uint8_t>& frame, const MacAddress& eth_dst,
                             const MacAddress& eth_src, const Ipv6Address& src,
                             const Ipv6Address& dst, std::uint8_t hop_limit, std::uint8_t type,
                             std::uint8_t code, std::span<const std::uint8_t> body) {
    std::size_t icmp_len = 4 + body.size();
    frame.assign(kEthernetHeaderSize + kIpv6HeaderSize + icmp_len, 0);
    write_ethernet_header(frame.data(), eth_dst, eth_src);
    std::uint8_t* ip = frame.data() + kEthernetHeaderSize;
    write_ipv6_header(ip, static_cast<std::uint16_t>(icmp_len), kProtoIcmpv6, hop_limit, src, dst);
    std::uint8_t* icmp = ip + kIpv6HeaderSize;
    icmp[0] = type;
    icmp[1] = code;
    std::copy(body.begin(), body.end(), icmp + 4);
    std::uint16_t sum =
        ipv6_upper_layer_checksum(src, dst, kProtoIcmpv6, std::span(icmp, icmp_len));
    store_be16(icmp + 2, sum);
}

std::vector<std::uint8_t> build_neighbor_advertisement(const MacAddress& eth_dst,
                                                       const MacAddress& our_mac,
                                                       const Ipv6Address& src,
                                                       const Ipv6Address& dst,
                                                       const NeighborAdvertisement& na) {
    std::vector<std::uint8_t> frame;
    build_neighbor_advertisement_into(frame, eth_dst, our_mac, src, dst, na);
    return frame;
}

void build_neighbor_advertisement_into(std::vector<std::uint8_t>& frame, const MacAddress& eth_dst,
                                       const MacAddress& our_mac, const Ipv6Address& src,
                                       const Ipv6Address& dst, const NeighborAdvertisement& na) {
    std::uint8_t body[28] = {};
    body[0] = static_cast<std::uint8_t>((na.router ? 0x80 : 0) | (na.solicited ? 0x40 : 0) |
                                        (na.override_flag ? 0x20 : 0));
    na.target.copy_to(body + 4);
    std::size_t len = 20;
    if (na.target_link_layer) {
        body[20] = kOptTargetLinkLayer;
        body[21] = 1;
        std::copy(na.target_link_layer->bytes.begin(), na.target_link_layer->bytes.end(),
                  body + 22);
        len = 28;
    }
    build_icmpv6_frame_into(frame, eth_dst, our_mac, src, dst, 255, icmp6::kNeighborAdvertisement,
                            0, std::span(body, len));
}

std::vector<std::uint8_t> build_neighbor_solicitation(const MacAddress& our_mac,
                                                      const Ipv6Address& src,
                                                      const Ipv6Address& target) {
    std::uint8_t body[28] = {};
    target.copy_to(body + 4);
    body[20] = kOptSourceLinkLayer;
    body[21] = 1;
    std::copy(our_mac.bytes.begin(), our_mac.bytes.end(), body + 22);
    // A DAD probe (unspecified source) carries no Source Link-Layer Address option (RFC 4861
    // s.4.3).
    const std::size_t length = src.is_unspecified() ? 20 : sizeof body;
    Ipv6Address group = target.solicited_node();
    return build_icmpv6_frame(MacAddress::for_ipv6_multicast(group), our_mac, src, group, 255,
                              icmp6::kNeighborSolicitation, 0,
                              std::span<const std::uint8_t>(body, length));
}

std::vector<std::uint8_t> build_echo_reply(const Ipv6Packet& request, const Icmpv6Message& m,
                                           const MacAddress& our_mac) {
    return build_icmpv6_frame(request.eth_source, our_mac, request.destination, request.source, 64,
                              icmp6::kEchoReply, 0, m.body);
}

}  // namespace monami::net
