#include "controlplane/mh/exthdr.hpp"

#include "controlplane/mh/builder.hpp"
#include "controlplane/mh/wire.hpp"
#include "controlplane/net/checksum.hpp"
#include "controlplane/net/packet.hpp"

namespace monami::mh {

namespace {

using Bytes = std::span<const std::uint8_t>;
using Failure = std::optional<ExtHdrError>;

constexpr std::uint8_t kPad1 = 0;
constexpr std::uint8_t kPadN = 1;
constexpr std::size_t kHomeAddressOptionLength = 16;
constexpr std::uint8_t kType2HdrExtLen = 2;  // 24 octets: one address
constexpr std::uint8_t kType2SegmentsLeft = 1;
constexpr std::size_t kFragmentHeaderLength = 8;

Failure fail(ExtHdrErrorCode code, std::size_t offset) {
    return ExtHdrError{code, offset};
}

// Options of a Hop-by-Hop or Destination Options header (RFC 8200 s.4.2) from `begin` to
// `end`; `header` is where the extension header starts, for the alignment rule.
Failure walk_options(Bytes p, std::size_t header, std::size_t begin, std::size_t end,
                     bool destination_options, Ipv6HeaderChain& chain) {
    std::size_t at = begin;
    while (at < end) {
        const std::uint8_t type = p[at];
        if (type == kPad1) {
            ++at;
            continue;
        }
        if (at + 2 > end) return fail(ExtHdrErrorCode::BadOptionLength, at);
        const std::size_t length = p[at + 1];
        if (at + 2 + length > end) return fail(ExtHdrErrorCode::BadOptionLength, at + 1);
        if (destination_options && type == kHomeAddressOptionType) {
            if (length != kHomeAddressOptionLength)
                return fail(ExtHdrErrorCode::BadHomeAddressOption, at + 1);
            if ((at - header) % 8 != 6 || chain.home_address_option)  // 8n+6, at most one
                return fail(ExtHdrErrorCode::BadHomeAddressOption, at);
            chain.home_address_option = Ipv6Address::from_bytes(p.data() + at + 2);
        } else if (type != kPadN && (type >> 6) != 0) {
            // The two high bits say what to do with an unknown option; 00 is "skip".
            return fail(ExtHdrErrorCode::UnrecognizedOption, at);
        }
        at += 2 + length;
    }
    return std::nullopt;
}

void put_address(std::vector<std::uint8_t>& out, const Ipv6Address& a) {
    wire::put_bytes(out, a.bytes.data(), a.bytes.size());
}

}  // namespace

std::string_view to_string(ExtHdrErrorCode code) {
    switch (code) {
        case ExtHdrErrorCode::Truncated:
            return "truncated";
        case ExtHdrErrorCode::NotIpv6:
            return "not IPv6";
        case ExtHdrErrorCode::BadPayloadLength:
            return "bad payload length";
        case ExtHdrErrorCode::HopByHopNotFirst:
            return "hop-by-hop header not first";
        case ExtHdrErrorCode::BadOptionLength:
            return "bad option length";
        case ExtHdrErrorCode::UnrecognizedOption:
            return "unrecognized option";
        case ExtHdrErrorCode::BadHomeAddressOption:
            return "bad Home Address option";
        case ExtHdrErrorCode::BadType2RoutingHeader:
            return "bad type 2 routing header";
        case ExtHdrErrorCode::UnsupportedRoutingHeader:
            return "unsupported routing header";
        case ExtHdrErrorCode::TooManyHeaders:
            return "too many extension headers";
    }
    return "unknown error";
}

Result<Ipv6HeaderChain, ExtHdrError> walk_ipv6_headers(std::span<const std::uint8_t> packet,
                                                       const ExtHdrLimits& limits) {
    if (packet.size() < kIpv6HeaderLength)
        return Err{ExtHdrError{ExtHdrErrorCode::Truncated, packet.size()}};
    if (packet[0] >> 4 != 6) return Err{ExtHdrError{ExtHdrErrorCode::NotIpv6, 0}};
    const std::size_t end = kIpv6HeaderLength + wire::get16(packet.data() + 4);
    if (end > packet.size()) return Err{ExtHdrError{ExtHdrErrorCode::BadPayloadLength, 4}};

    Ipv6HeaderChain chain;
    chain.source = Ipv6Address::from_bytes(packet.data() + 8);
    chain.destination = Ipv6Address::from_bytes(packet.data() + 24);
    chain.hop_limit = packet[7];
    chain.packet_end = end;
    const Bytes p = packet.first(end);
    std::uint8_t next = packet[6];
    std::size_t pos = kIpv6HeaderLength;

    // Each pass consumes one extension header; the count bounds the loop.
    for (;;) {
        const bool is_extension = next == kIpProtoHopByHop || next == kIpProtoRouting ||
                                  next == kIpProtoFragment || next == kIpProtoAh ||
                                  next == kIpProtoDestinationOptions;
        if (!is_extension) break;
        if (chain.extension_headers == limits.max_headers)
            return Err{ExtHdrError{ExtHdrErrorCode::TooManyHeaders, pos}};
        ++chain.extension_headers;
        if (pos + 2 > end) return Err{ExtHdrError{ExtHdrErrorCode::Truncated, pos}};

        std::size_t length = 0;
        switch (next) {
            case kIpProtoHopByHop:
            case kIpProtoDestinationOptions: {
                if (next == kIpProtoHopByHop && pos != kIpv6HeaderLength)
                    return Err{ExtHdrError{ExtHdrErrorCode::HopByHopNotFirst, pos}};
                length = (static_cast<std::size_t>(p[pos + 1]) + 1) * 8;
                if (pos + length > end)
                    return Err{ExtHdrError{ExtHdrErrorCode::Truncated, pos + 1}};
                if (auto f = walk_options(p, pos, pos + 2, pos + length,
                                          next == kIpProtoDestinationOptions, chain))
                    return Err{*f};
                break;
            }
            case kIpProtoRouting: {
                length = (static_cast<std::size_t>(p[pos + 1]) + 1) * 8;
                if (pos + 4 > end || pos + length > end)
                    return Err{ExtHdrError{ExtHdrErrorCode::Truncated, pos + 1}};
                const std::uint8_t routing_type = p[pos + 2];
                const std::uint8_t segments_left = p[pos + 3];
                if (routing_type == kRoutingType2) {
                    if (p[pos + 1] != kType2HdrExtLen)
                        return Err{ExtHdrError{ExtHdrErrorCode::BadType2RoutingHeader, pos + 1}};
                    if (segments_left != kType2SegmentsLeft)
                        return Err{ExtHdrError{ExtHdrErrorCode::BadType2RoutingHeader, pos + 3}};
                    if (chain.type2_routing_address)
                        return Err{ExtHdrError{ExtHdrErrorCode::BadType2RoutingHeader, pos}};
                    chain.type2_routing_address = Ipv6Address::from_bytes(p.data() + pos + 8);
                } else if (segments_left != 0) {
                    return Err{ExtHdrError{ExtHdrErrorCode::UnsupportedRoutingHeader, pos + 2}};
                }
                break;
            }
            case kIpProtoFragment: {
                length = kFragmentHeaderLength;
                if (pos + length > end) return Err{ExtHdrError{ExtHdrErrorCode::Truncated, pos}};
                const bool more = (p[pos + 3] & 1) != 0;
                const std::uint16_t offset = wire::get16(p.data() + pos + 2) >> 3;
                if (more || offset != 0) {
                    // A real fragment: what follows is not a whole upper-layer message.
                    chain.fragmented = true;
                    chain.upper_layer_protocol = kIpProtoFragment;
                    chain.upper_layer_offset = pos;
                    return chain;
                }
                break;  // an atomic fragment (RFC 6946) is walked through
            }
            case kIpProtoAh: {
                length = (static_cast<std::size_t>(p[pos + 1]) + 2) * 4;  // RFC 4302 s.2.2
                if (pos + length > end)
                    return Err{ExtHdrError{ExtHdrErrorCode::Truncated, pos + 1}};
                break;
            }
        }
        next = p[pos];
        pos += length;
    }
    chain.upper_layer_protocol = next;
    chain.upper_layer_offset = pos;
    return chain;
}

namespace {

// IPv6 header [+ type 2 routing header] [+ destination options with the Home Address option],
// in RFC 8200 s.4.1 order, the last one naming `upper` as its next header. The payload length
// is written by finish_packet.
void append_headers(const MhPacketAddresses& addresses, std::uint8_t upper,
                    std::vector<std::uint8_t>& out) {
    const std::uint8_t first = addresses.type2_routing_address ? kIpProtoRouting
                               : addresses.home_address_option ? kIpProtoDestinationOptions
                                                               : upper;
    const std::uint8_t header[] = {0x60, 0, 0, 0, 0, 0, first, addresses.hop_limit};
    out.insert(out.end(), std::begin(header), std::end(header));
    put_address(out, addresses.source);
    put_address(out, addresses.destination);
    if (addresses.type2_routing_address) {
        const std::uint8_t next =
            addresses.home_address_option ? kIpProtoDestinationOptions : upper;
        const std::uint8_t routing[] = {
            next, kType2HdrExtLen, kRoutingType2, kType2SegmentsLeft, 0, 0, 0, 0};
        out.insert(out.end(), std::begin(routing), std::end(routing));
        put_address(out, *addresses.type2_routing_address);
    }
    if (addresses.home_address_option) {
        const std::uint8_t options[] = {upper,
                                        2,
                                        kPadN,
                                        2,
                                        0,
                                        0,
                                        kHomeAddressOptionType,
                                        static_cast<std::uint8_t>(kHomeAddressOptionLength)};
        out.insert(out.end(), std::begin(options), std::end(options));
        put_address(out, *addresses.home_address_option);
    }
}

void finish_packet(std::size_t start, std::vector<std::uint8_t>& out) {
    const std::size_t payload = out.size() - start - kIpv6HeaderLength;
    out[start + 4] = static_cast<std::uint8_t>(payload >> 8);
    out[start + 5] = static_cast<std::uint8_t>(payload);
}

// The pseudo-header addresses of the upper-layer checksum (RFC 6275 s.6.1.1, s.6.3, s.6.4).
const Ipv6Address& checksum_source(const MhPacketAddresses& a) {
    return a.home_address_option ? *a.home_address_option : a.source;
}
const Ipv6Address& checksum_destination(const MhPacketAddresses& a) {
    return a.type2_routing_address ? *a.type2_routing_address : a.destination;
}

}  // namespace

template <class Message>
bool append_ipv6_mh_packet(const Message& message, const MhPacketAddresses& addresses,
                           std::vector<std::uint8_t>& out) {
    const std::size_t start = out.size();
    append_headers(addresses, kIpProtoMobility, out);
    if (!try_append_mh(message, checksum_source(addresses), checksum_destination(addresses), out)) {
        out.resize(start);
        return false;
    }
    finish_packet(start, out);
    return true;
}

std::vector<std::uint8_t> build_ipv6_icmpv6_packet(std::uint8_t type, std::uint8_t code,
                                                   std::span<const std::uint8_t> body,
                                                   const MhPacketAddresses& addresses) {
    std::vector<std::uint8_t> out;
    append_headers(addresses, net::kProtoIcmpv6, out);
    const std::size_t icmp = out.size();
    out.push_back(type);
    out.push_back(code);
    out.push_back(0);
    out.push_back(0);
    out.insert(out.end(), body.begin(), body.end());
    const std::uint16_t sum = net::ipv6_upper_layer_checksum(
        checksum_source(addresses), checksum_destination(addresses), net::kProtoIcmpv6,
        std::span<const std::uint8_t>(out.data() + icmp, out.size() - icmp));
    out[icmp + 2] = static_cast<std::uint8_t>(sum >> 8);
    out[icmp + 3] = static_cast<std::uint8_t>(sum);
    finish_packet(0, out);
    return out;
}

template bool append_ipv6_mh_packet<MhMessage>(const MhMessage&, const MhPacketAddresses&,
                                               std::vector<std::uint8_t>&);
template bool append_ipv6_mh_packet<BindingAck>(const BindingAck&, const MhPacketAddresses&,
                                                std::vector<std::uint8_t>&);

std::vector<std::uint8_t> build_ipv6_mh_packet(const MhMessage& message,
                                               const MhPacketAddresses& addresses) {
    std::vector<std::uint8_t> packet;
    append_ipv6_mh_packet(message, addresses, packet);
    return packet;
}

std::vector<std::uint8_t> build_bu_packet(const BindingUpdate& bu, const CareOfAddress& coa,
                                          const Ipv6Address& home_agent, const HomeAddress& hoa,
                                          std::uint8_t hop_limit) {
    return build_ipv6_mh_packet(bu, {coa, home_agent, hoa, std::nullopt, hop_limit});
}

std::vector<std::uint8_t> build_ba_packet(const BindingAck& ba, const Ipv6Address& home_agent,
                                          const CareOfAddress& coa, const HomeAddress& hoa,
                                          std::uint8_t hop_limit) {
    std::vector<std::uint8_t> packet;
    append_ipv6_mh_packet(ba, {home_agent, coa, std::nullopt, hoa, hop_limit}, packet);
    return packet;
}

}  // namespace monami::mh
