// Flow classification for packets towards a home address: which fields identify the flow,
// which FlowRule of the HoA's snapshot it matches, and which slot of the FlowAction it
// hashes to. Runs per packet in the workers: header-only, plain C++, no allocation, no
// exceptions, no virtual calls, no DPDK (so it unit-tests without an EAL).
//
// Two extractors:
//  - extract_fields walks the IPv6 extension header chain to the upper layer; used when the
//    snapshot has flow rules (RFC 6088 selectors may name the upper-layer protocol, ports or
//    SPI behind extension headers).
//  - extract_fast_fields reads only the fixed header plus ports/SPI when the first next
//    header is already TCP/UDP/SCTP/ESP; used when the snapshot has no rules and only the
//    hash matters. For packets without extension headers both give identical fields, so a
//    flow keeps its hash (and its path) when its HoA gains or loses rules.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>

#include "dataplane/api/snapshot.hpp"
#include "dataplane/api/types.hpp"
#include "dataplane/stages/crc32c.hpp"

namespace monami::dp {

namespace ipproto {
inline constexpr std::uint8_t kHopByHop = 0;
inline constexpr std::uint8_t kTcp = 6;
inline constexpr std::uint8_t kUdp = 17;
inline constexpr std::uint8_t kRouting = 43;
inline constexpr std::uint8_t kFragment = 44;
inline constexpr std::uint8_t kEsp = 50;
inline constexpr std::uint8_t kAh = 51;
inline constexpr std::uint8_t kNoNextHeader = 59;
inline constexpr std::uint8_t kDestinationOptions = 60;
inline constexpr std::uint8_t kSctp = 132;
}  // namespace ipproto

// More extension headers than this is not a real packet; refusing bounds the walk.
inline constexpr unsigned kMaxExtensionHeaders = 8;
inline constexpr std::size_t kIpv6HeaderLength = 40;

struct PacketFields {
    Ipv6Address source;
    Ipv6Address destination;
    std::uint8_t traffic_class = 0;
    std::uint32_t flow_label = 0;  // 20 bits
    std::uint8_t next_header = 0;  // final upper-layer protocol (or 59, no next header)
    std::uint16_t source_port = 0;
    std::uint16_t destination_port = 0;
    std::uint32_t spi = 0;     // ESP only
    bool has_ports = false;    // TCP/UDP/SCTP ports were read
    bool has_spi = false;      // an ESP SPI was read
    bool is_fragment = false;  // a Fragment header was seen (first or later fragment)
};

namespace detail {

inline std::uint16_t load_be16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>((p[0] << 8) | p[1]);
}
inline std::uint32_t load_be32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}
inline bool carries_ports(std::uint8_t protocol) {
    return protocol == ipproto::kTcp || protocol == ipproto::kUdp || protocol == ipproto::kSctp;
}

inline void read_fixed_header(const std::uint8_t* ipv6, PacketFields& out) {
    std::uint32_t first_word = load_be32(ipv6);
    out.traffic_class = static_cast<std::uint8_t>(first_word >> 20);
    out.flow_label = first_word & 0xfffff;
    out.next_header = ipv6[6];
    std::memcpy(out.source.bytes.data(), ipv6 + 8, 16);
    std::memcpy(out.destination.bytes.data(), ipv6 + 24, 16);
    out.source_port = 0;
    out.destination_port = 0;
    out.spi = 0;
    out.has_ports = false;
    out.has_spi = false;
    out.is_fragment = false;
}

// Reads ports or SPI of `protocol` at `p` (`available` bytes). False when truncated.
inline bool read_transport(std::uint8_t protocol, const std::uint8_t* p, std::size_t available,
                           PacketFields& out) {
    if (carries_ports(protocol)) {
        if (available < 4) return false;
        out.source_port = load_be16(p);
        out.destination_port = load_be16(p + 2);
        out.has_ports = true;
    } else if (protocol == ipproto::kEsp) {
        if (available < 4) return false;
        out.spi = load_be32(p);
        out.has_spi = true;
    }
    return true;
}

}  // namespace detail

// Fills `out` from the IPv6 packet at `ipv6` (starting at the IPv6 header). Walks hop-by-hop,
// routing, fragment, destination options and AH headers to the upper layer. A non-first
// fragment has no ports. Returns false when the packet is not IPv6, is truncated before the
// fields it announces, or has more than kMaxExtensionHeaders extension headers.
inline bool extract_fields(const std::uint8_t* ipv6, std::size_t length, PacketFields& out) {
    if (length < kIpv6HeaderLength || (ipv6[0] >> 4) != 6) return false;
    detail::read_fixed_header(ipv6, out);
    std::size_t offset = kIpv6HeaderLength;
    std::uint8_t protocol = out.next_header;
    for (unsigned headers = 0;; ++headers) {
        const std::uint8_t* p = ipv6 + offset;
        std::size_t available = length - offset;
        std::size_t header_length = 0;
        switch (protocol) {
            case ipproto::kHopByHop:
            case ipproto::kRouting:
            case ipproto::kDestinationOptions:
                if (available < 2) return false;
                header_length = (std::size_t{p[1]} + 1) * 8;
                break;
            case ipproto::kAh:  // RFC 4302 s.2.2: length in 4-octet units, minus 2
                if (available < 2) return false;
                header_length = (std::size_t{p[1]} + 2) * 4;
                break;
            case ipproto::kFragment: {
                if (available < 8) return false;
                out.is_fragment = true;
                std::uint16_t fragment_offset = detail::load_be16(p + 2) >> 3;
                if (fragment_offset != 0) {  // later fragment: the upper header is elsewhere
                    out.next_header = p[0];
                    return true;
                }
                header_length = 8;
                break;
            }
            default:
                out.next_header = protocol;
                return detail::read_transport(protocol, p, available, out);
        }
        // `headers` extension headers came before this one.
        if (headers == kMaxExtensionHeaders || available < header_length) return false;
        protocol = p[0];
        offset += header_length;
    }
}

// The common case (snapshot without rules): fixed header, plus ports or SPI only when the
// first next header is TCP/UDP/SCTP/ESP. No extension header walk.
inline bool extract_fast_fields(const std::uint8_t* ipv6, std::size_t length, PacketFields& out) {
    if (length < kIpv6HeaderLength || (ipv6[0] >> 4) != 6) return false;
    detail::read_fixed_header(ipv6, out);
    return detail::read_transport(out.next_header, ipv6 + kIpv6HeaderLength,
                                  length - kIpv6HeaderLength, out);
}

namespace detail {
inline std::uint64_t load_u64(const std::uint8_t* p) {
    std::uint64_t v;
    std::memcpy(&v, p, 8);
    return v;
}
}  // namespace detail

// A stable 32-bit hash of the flow: source and destination address, upper-layer protocol,
// flow label, and ports (or SPI) when read. Fragments hash without ports, so every fragment
// of a datagram takes the same path. CRC32C over the words (one instruction each, source
// and destination in two independent chains that overlap), then one multiplication so the
// low bits that pick a choice slot depend on every input bit (CRC alone is linear). Not
// keyed: the result must be identical in every worker and across restarts for the same flow.
namespace detail {
// The hash of flow_hash over the addresses' bytes (as 8-byte loads) and the other fields
// packed into one word.
inline std::uint32_t flow_hash_words(const std::uint8_t* source, const std::uint8_t* destination,
                                     std::uint64_t transport, std::uint32_t flow_label,
                                     std::uint8_t next_header) {
    std::uint64_t misc = (transport << 32) | (std::uint64_t{flow_label} << 8) | next_header;
    std::uint32_t a = crc32c_u64(0x6d6f6e61u, load_u64(source));
    std::uint32_t b = crc32c_u64(0x6d693676u, load_u64(destination));
    a = crc32c_u64(a, load_u64(source + 8));
    b = crc32c_u64(b, load_u64(destination + 8));
    a = crc32c_u64(a, misc);
    std::uint64_t h = ((std::uint64_t{a} << 32) | b) * 0x9e3779b97f4a7c15ull;
    return static_cast<std::uint32_t>(h >> 32);
}
}  // namespace detail

inline std::uint32_t flow_hash(const PacketFields& f) {
    std::uint64_t transport = 0;
    if (!f.is_fragment) {
        if (f.has_ports)
            transport = (std::uint64_t{f.source_port} << 16) | f.destination_port;
        else if (f.has_spi)
            transport = f.spi;
    }
    return detail::flow_hash_words(f.source.bytes.data(), f.destination.bytes.data(), transport,
                                   f.flow_label, f.next_header);
}

// flow_hash(fields of extract_fast_fields) read straight from the packet, without filling a
// PacketFields: the per-packet hash of HoAs without rules. Same value for every input,
// including the ones extract_fast_fields refuses (they hash as an empty PacketFields).
inline std::uint32_t fast_flow_hash(const std::uint8_t* ipv6, std::size_t length) {
    if (length < kIpv6HeaderLength || (ipv6[0] >> 4) != 6) return flow_hash(PacketFields{});
    std::uint8_t protocol = ipv6[6];
    std::uint64_t transport = 0;
    // Source and destination port, or the SPI: the first four bytes after the header.
    if (length >= kIpv6HeaderLength + 4 &&
        (detail::carries_ports(protocol) || protocol == ipproto::kEsp))
        transport = detail::load_be32(ipv6 + kIpv6HeaderLength);
    return detail::flow_hash_words(ipv6 + 8, ipv6 + 24, transport,
                                   detail::load_be32(ipv6) & 0xfffff, protocol);
}

namespace detail {
// Big-endian 128-bit compare without a byte loop.
struct U128 {
    std::uint64_t high;
    std::uint64_t low;
};
inline U128 as_u128(const Ipv6Address& a) {
    std::uint64_t high = load_u64(a.bytes.data());
    std::uint64_t low = load_u64(a.bytes.data() + 8);
    if constexpr (std::endian::native == std::endian::little) {
        high = __builtin_bswap64(high);
        low = __builtin_bswap64(low);
    }
    return {high, low};
}
inline bool less_or_equal(const U128& a, const U128& b) {
    return a.high < b.high || (a.high == b.high && a.low <= b.low);
}
inline bool address_in(const FieldRange<Ipv6Address>& range, const Ipv6Address& a) {
    U128 value = as_u128(a);
    return less_or_equal(as_u128(range.first), value) && less_or_equal(value, as_u128(range.last));
}
template <class T>
bool in(const FieldRange<T>& range, T value) {
    return range.first <= value && value <= range.last;
}
template <class T>
bool is_full(const FieldRange<T>& range, T last) {
    return range.first == 0 && range.last == last;
}
}  // namespace detail

// True when every field of `f` lies in its range of `s`. A selector that narrows ports
// matches only packets whose ports were read (not ESP, not later fragments); one that
// narrows the SPI matches only ESP packets whose SPI was read.
inline bool matches(const FlowSelector& s, const PacketFields& f) {
    if (!detail::in(s.next_header, f.next_header) || !detail::in(s.traffic_class, f.traffic_class))
        return false;
    if (s.needs_ports) {
        bool narrows_ports = !detail::is_full(s.source_port, std::uint16_t{0xffff}) ||
                             !detail::is_full(s.destination_port, std::uint16_t{0xffff});
        if (narrows_ports && !f.has_ports) return false;
        if (!detail::is_full(s.spi, std::uint32_t{0xffffffff}) && !f.has_spi) return false;
        if (!detail::in(s.source_port, f.source_port) ||
            !detail::in(s.destination_port, f.destination_port) || !detail::in(s.spi, f.spi))
            return false;
    }
    return detail::in(s.flow_label, f.flow_label) &&
           detail::address_in(s.destination, f.destination) &&
           detail::address_in(s.source, f.source);
}

// The action of the first rule that matches (rules are sorted by priority), else nullptr.
inline const FlowAction* select_rule_action(std::span<const FlowRule> rules,
                                            const PacketFields& f) {
    for (const FlowRule& rule : rules)
        if (matches(rule.selector, f)) return &rule.action;
    return nullptr;
}

// The action of the first rule that matches, else the snapshot's default action.
inline const FlowAction& select_action(const HoaSnapshot& snapshot, const PacketFields& f) {
    const FlowAction* action = select_rule_action(snapshot.rules, f);
    return action ? *action : snapshot.default_action;
}

static_assert(std::has_single_bit(kChoiceSlots), "slot index is a mask of the hash");

// The path a unicast action sends a flow with hash `hash` to (kNoBinding: none).
inline std::uint8_t chosen_path(const FlowAction& action, std::uint32_t hash) {
    return action.choice[hash & (kChoiceSlots - 1)];
}

}  // namespace monami::dp
