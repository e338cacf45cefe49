// Address and identifier types shared by the control plane and the data plane.
// Plain C++: no DPDK, so codecs and tests build without an EAL.
#pragma once

#include <array>
#include <compare>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>

namespace monami {

struct Ipv6Address {
    std::array<std::uint8_t, 16> bytes{};

    static std::optional<Ipv6Address> parse(std::string_view text);
    static Ipv6Address from_bytes(const std::uint8_t* p) {
        Ipv6Address a;
        std::memcpy(a.bytes.data(), p, 16);
        return a;
    }
    std::string to_string() const;
    void copy_to(std::uint8_t* p) const { std::memcpy(p, bytes.data(), 16); }

    bool is_unspecified() const { return *this == Ipv6Address{}; }
    bool is_loopback() const {
        Ipv6Address lo;
        lo.bytes[15] = 1;
        return *this == lo;
    }
    bool is_multicast() const { return bytes[0] == 0xff; }
    bool is_link_local() const { return bytes[0] == 0xfe && (bytes[1] & 0xc0) == 0x80; }
    // Solicited-node multicast address ff02::1:ffXX:XXXX (RFC 4291 s.2.7.1).
    Ipv6Address solicited_node() const {
        Ipv6Address m;
        m.bytes[0] = 0xff;
        m.bytes[1] = 0x02;
        m.bytes[11] = 0x01;
        m.bytes[12] = 0xff;
        m.bytes[13] = bytes[13];
        m.bytes[14] = bytes[14];
        m.bytes[15] = bytes[15];
        return m;
    }

    // Equality as two 64-bit compares: the defaulted one calls memcmp, and the control path
    // compares addresses in every hash lookup and list search.
    friend bool operator==(const Ipv6Address& a, const Ipv6Address& b) {
        std::uint64_t a0, a1, b0, b1;
        std::memcpy(&a0, a.bytes.data(), 8);
        std::memcpy(&a1, a.bytes.data() + 8, 8);
        std::memcpy(&b0, b.bytes.data(), 8);
        std::memcpy(&b1, b.bytes.data() + 8, 8);
        return ((a0 ^ b0) | (a1 ^ b1)) == 0;
    }
    // Address order (byte by byte, as memcmp) as two 64-bit compares of the big-endian
    // halves: the defaulted one calls memcmp, about 20 times per insert into an ordered set
    // of a million addresses (the binding cache's address order).
    friend std::strong_ordering operator<=>(const Ipv6Address& a, const Ipv6Address& b) {
        std::uint64_t a0, a1, b0, b1;
        std::memcpy(&a0, a.bytes.data(), 8);
        std::memcpy(&a1, a.bytes.data() + 8, 8);
        std::memcpy(&b0, b.bytes.data(), 8);
        std::memcpy(&b1, b.bytes.data() + 8, 8);
        if (a0 != b0) return __builtin_bswap64(a0) <=> __builtin_bswap64(b0);
        return __builtin_bswap64(a1) <=> __builtin_bswap64(b1);
    }
};
static_assert(sizeof(Ipv6Address) == 16);
static_assert(std::has_unique_object_representations_v<Ipv6Address>);

// Names used where the role of an address matters to the reader.
using HomeAddress = Ipv6Address;
using CareOfAddress = Ipv6Address;

struct MacAddress {
    std::array<std::uint8_t, 6> bytes{};

    static std::optional<MacAddress> parse(std::string_view text);
    static MacAddress from_bytes(const std::uint8_t* p) {
        MacAddress m;
        std::memcpy(m.bytes.data(), p, 6);
        return m;
    }
    // 33:33:xx:xx:xx:xx for an IPv6 multicast group (RFC 2464 s.7).
    static MacAddress for_ipv6_multicast(const Ipv6Address& group) {
        return MacAddress{
            {0x33, 0x33, group.bytes[12], group.bytes[13], group.bytes[14], group.bytes[15]}};
    }
    std::string to_string() const;
    bool is_zero() const { return *this == MacAddress{}; }
    friend auto operator<=>(const MacAddress&, const MacAddress&) = default;
};

struct Ipv6Prefix {
    Ipv6Address address{};
    std::uint8_t length = 0;

    // "2001:db8::/64"; host bits must be zero.
    static std::optional<Ipv6Prefix> parse(std::string_view text);
    // The prefix of `length` bits that contains `a` (host bits cleared).
    static Ipv6Prefix covering(const Ipv6Address& a, std::uint8_t length);
    bool contains(const Ipv6Address& a) const;
    std::string to_string() const;
    friend auto operator<=>(const Ipv6Prefix&, const Ipv6Prefix&) = default;
};

// A hash of 16-byte addresses for unordered maps keyed by address.
inline std::uint64_t mix_address(const Ipv6Address& a, std::uint64_t extra = 0) {
    std::uint64_t hi, lo;
    std::memcpy(&hi, a.bytes.data(), 8);
    std::memcpy(&lo, a.bytes.data() + 8, 8);
    // The interface identifier (lo) varies most: mix it fully (splitmix64 finalizer).
    std::uint64_t h = (lo ^ extra) + hi * 0x9e3779b97f4a7c15ull;
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebull;
    return h ^ (h >> 31);
}

struct Ipv6AddressHash {
    std::size_t operator()(const Ipv6Address& a) const {
        return static_cast<std::size_t>(mix_address(a));
    }
};

}  // namespace monami
