// Internet checksum (RFC 1071) and the IPv6 upper-layer pseudo-header (RFC 8200 s.8.1),
// used by ICMPv6, the Mobility Header and UDP/TCP alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "dataplane/api/types.hpp"

namespace monami::net {

// Adds bytes to a running one's-complement sum (not yet folded).
inline std::uint32_t checksum_add(std::uint32_t sum, std::span<const std::uint8_t> bytes) {
    std::size_t i = 0;
    for (; i + 1 < bytes.size(); i += 2)
        sum += static_cast<std::uint32_t>(bytes[i] << 8 | bytes[i + 1]);
    if (i < bytes.size()) sum += static_cast<std::uint32_t>(bytes[i] << 8);
    return sum;
}

inline std::uint16_t checksum_fold(std::uint32_t sum) {
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return static_cast<std::uint16_t>(~sum & 0xffff);
}

// Checksum of an upper-layer message over the IPv6 pseudo-header. The checksum field
// inside `payload` must be zero when building; when verifying, a correct message sums
// to 0.
inline std::uint16_t ipv6_upper_layer_checksum(const Ipv6Address& src, const Ipv6Address& dst,
                                               std::uint8_t next_header,
                                               std::span<const std::uint8_t> payload) {
    std::uint32_t sum = 0;
    sum = checksum_add(sum, src.bytes);
    sum = checksum_add(sum, dst.bytes);
    auto len = static_cast<std::uint32_t>(payload.size());
    sum += len >> 16;
    sum += len & 0xffff;
    sum += next_header;
    sum = checksum_add(sum, payload);
    return checksum_fold(sum);
}

}  // namespace monami::net
