// Wire-format constants and byte helpers shared by the MH parser and builder.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "controlplane/mh/messages.hpp"
#include "dataplane/api/types.hpp"

namespace monami::mh::wire {

// Common header (RFC 6275 s.6.1.1).
inline constexpr std::size_t kPayloadProtoOffset = 0;
inline constexpr std::size_t kHeaderLenOffset = 1;
inline constexpr std::size_t kTypeOffset = 2;
inline constexpr std::size_t kChecksumOffset = 4;
inline constexpr std::size_t kMinMhLength = 8;
inline constexpr std::size_t kMaxMhLength = 256 * 8;  // Header Len 255

// Fixed part of each decoded message, common header included: where options start.
inline constexpr std::size_t kBrrFixed = 8;  // s.6.1.2: 2 reserved octets
inline constexpr std::size_t kBuFixed = 12;  // s.6.1.7: sequence, flags, lifetime
inline constexpr std::size_t kBaFixed = 12;  // s.6.1.8: status, flags, sequence, lifetime
inline constexpr std::size_t kBeFixed = 24;  // s.6.1.9: status, reserved, home address
inline constexpr std::size_t kHbFixed = 12;  // RFC 5847 s.5.1: reserved, flags, sequence

// Binding Update flags (RFC 6275 s.6.1.7; R from RFC 3963 s.4.1). The other bits of
// these two octets (M, P, F, T, B) belong to protocols the HA does not run.
inline constexpr std::uint8_t kBuFlagA = 0x80;
inline constexpr std::uint8_t kBuFlagH = 0x40;
inline constexpr std::uint8_t kBuFlagL = 0x20;
inline constexpr std::uint8_t kBuFlagK = 0x10;
inline constexpr std::uint8_t kBuFlagR = 0x04;
// Binding Acknowledgement flags (RFC 6275 s.6.1.8; R from RFC 3963 s.4.2).
inline constexpr std::uint8_t kBaFlagK = 0x80;
inline constexpr std::uint8_t kBaFlagR = 0x40;
// Heartbeat flags (RFC 5847 s.5.1), in the second octet of the message data.
inline constexpr std::uint8_t kHbFlagU = 0x02;
inline constexpr std::uint8_t kHbFlagR = 0x01;
// Binding Identifier option data (RFC 5648 s.6.1, extended by RFC 6089 s.4.1): BID (2),
// Status (1), then one octet holding the H flag and the 7-bit BID-PRI, then the optional
// IPv4 or IPv6 care-of address. Wireshark's packet-mip6.c decodes the same octet as
// hf_mip6_bi_h_flag (mask 0x80); RFC 6089 turns the 7 bits RFC 5648 left reserved into
// BID-PRI. There is no other flag in this octet.
inline constexpr std::uint8_t kBidFlagH = 0x80;
inline constexpr std::uint8_t kBidPriorityMask = 0x7f;

// Binding Identifier option lengths (RFC 5648 s.6.1).
inline constexpr std::size_t kBidLength = 4;
inline constexpr std::size_t kBidLengthV4 = 8;
inline constexpr std::size_t kBidLengthV6 = 20;
// Flow Identification fixed part (RFC 6089 s.4.2): FID, FID-PRI, Reserved, Status.
inline constexpr std::size_t kFidFixed = 6;
// Traffic selector sub-option data before the selector flags: TS Format, Reserved.
inline constexpr std::size_t kTsHeader = 2;

// RFC 6088 s.3.1/3.2 binary traffic selectors. After TS Format and Reserved comes one
// 32-bit word: the field flags from its most significant bit down (IPv4: A..N, 14 flags;
// IPv6: A..P, 16 flags), the remaining bits Reserved (zero on send, ignored on receipt).
// Each field has a start flag and an end flag; the selected values follow the word in
// flag order. The IPv6 Flow Label values are 32-bit fields holding the label zero-prefixed.
inline constexpr std::size_t kTsFlagsLength = 4;
inline constexpr std::array<std::uint8_t, 8> kTsV6FieldSizes = {16, 16, 4, 4, 2, 2, 1, 1};
inline constexpr std::array<std::uint8_t, 7> kTsV4FieldSizes = {4, 4, 4, 2, 2, 1, 1};
inline constexpr std::uint32_t kMaxFlowLabel = 0xfffff;

inline std::uint16_t get16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
inline std::uint32_t get32(const std::uint8_t* p) {
    return static_cast<std::uint32_t>(p[0]) << 24 | static_cast<std::uint32_t>(p[1]) << 16 |
           static_cast<std::uint32_t>(p[2]) << 8 | p[3];
}
inline void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
    out.push_back(static_cast<std::uint8_t>(v >> 8));
    out.push_back(static_cast<std::uint8_t>(v));
}
inline void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
    put16(out, static_cast<std::uint16_t>(v >> 16));
    put16(out, static_cast<std::uint16_t>(v));
}
inline void put_bytes(std::vector<std::uint8_t>& out, const std::uint8_t* p, std::size_t n) {
    out.insert(out.end(), p, p + n);
}

}  // namespace monami::mh::wire
