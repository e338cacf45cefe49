#include "dataplane/api/types.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <bit>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace monami {

std::optional<Ipv6Address> Ipv6Address::parse(std::string_view text) {
    if (text.size() >= INET6_ADDRSTRLEN) return std::nullopt;
    char buf[INET6_ADDRSTRLEN];
    std::memcpy(buf, text.data(), text.size());
    buf[text.size()] = '\0';
    Ipv6Address a;
    if (inet_pton(AF_INET6, buf, a.bytes.data()) != 1) return std::nullopt;
    return a;
}

std::string Ipv6Address::to_string() const {
    char buf[INET6_ADDRSTRLEN];
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
    return buf;
}

std::optional<MacAddress> MacAddress::parse(std::string_view text) {
    MacAddress m;
    if (text.size() != 17) return std::nullopt;
    for (std::size_t i = 0; i < 6; ++i) {
        const char* first = text.data() + i * 3;
        if (i < 5 && first[2] != ':') return std::nullopt;
        unsigned value = 0;
        auto [end, ec] = std::from_chars(first, first + 2, value, 16);
        if (ec != std::errc{} || end != first + 2) return std::nullopt;
        m.bytes[i] = static_cast<std::uint8_t>(value);
    }
    return m;
}

std::string MacAddress::to_string() const {
    char buf[18];
    std::snprintf(buf, sizeof buf, "%02x:%02x:%02x:%02x:%02x:%02x", bytes[0], bytes[1], bytes[2],
                  bytes[3], bytes[4], bytes[5]);
    return buf;
}

std::optional<Ipv6Prefix> Ipv6Prefix::parse(std::string_view text) {
    auto slash = text.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    auto addr = Ipv6Address::parse(text.substr(0, slash));
    if (!addr) return std::nullopt;
    auto len_text = text.substr(slash + 1);
    unsigned len = 0;
    auto [end, ec] = std::from_chars(len_text.data(), len_text.data() + len_text.size(), len);
    if (ec != std::errc{} || end != len_text.data() + len_text.size() || len > 128 ||
        len_text.empty())
        return std::nullopt;
    Ipv6Prefix p = covering(*addr, static_cast<std::uint8_t>(len));
    // Host bits set is a typo an operator wants to hear about.
    if (p.address != *addr) return std::nullopt;
    return p;
}

Ipv6Prefix Ipv6Prefix::covering(const Ipv6Address& a, std::uint8_t length) {
    Ipv6Prefix p{a, length};
    for (unsigned bit = length; bit < 128; ++bit)
        p.address.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    return p;
}

bool Ipv6Prefix::contains(const Ipv6Address& a) const {
    // Two 64-bit halves, most significant byte first: the differing bits above the
    // prefix length decide (no memcmp call; the control path asks this several times
    // per Binding Update).
    auto half = [](const Ipv6Address& x, std::size_t at) {
        std::uint64_t v;
        std::memcpy(&v, x.bytes.data() + at, 8);
        if constexpr (std::endian::native == std::endian::little) v = __builtin_bswap64(v);
        return v;
    };
    const unsigned bits = std::min<unsigned>(length, 128);
    if (bits == 0) return true;
    const std::uint64_t hi = half(a, 0) ^ half(address, 0);
    if (bits <= 64) return (hi >> (64 - bits)) == 0;
    return hi == 0 && ((half(a, 8) ^ half(address, 8)) >> (128 - bits)) == 0;
}

std::string Ipv6Prefix::to_string() const {
    return address.to_string() + "/" + std::to_string(length);
}

}  // namespace monami
