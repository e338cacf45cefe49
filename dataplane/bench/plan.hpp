// monami-bench's addressing plan and packet shapes (plain C++, no EAL): which home
// addresses, care-of addresses, routers and correspondents exist, the Binding Updates that
// register them, the frames the generator offers and what the collector expects back.
#pragma once

#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "controlplane/mh/messages.hpp"
#include "dataplane/api/types.hpp"

namespace monami::bench {

// Port 0 is the home link (CN side), port 1 the access side (towards the CoAs).
struct Plan {
    MacAddress home_mac{{0x02, 0, 0, 0, 0x01, 0x01}};
    MacAddress home_router_mac{{0x02, 0, 0, 0, 0x01, 0xfe}};
    MacAddress access_mac{{0x02, 0, 0, 0, 0x02, 0x01}};
    MacAddress access_router_mac{{0x02, 0, 0, 0, 0x02, 0xfe}};
    Ipv6Address ha_address{{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
    Ipv6Address home_router{{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe}};
    Ipv6Address access_address{{0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}};
    Ipv6Address access_router{{0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xfe}};
    Ipv6Prefix home_prefix{{{0x20, 0x01, 0x0d, 0xb8, 0, 1}}, 64};
    Ipv6Prefix correspondent_prefix{{{0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff}}, 48};  // via home router
    Ipv6Prefix care_of_prefix{{{0x20, 0x01, 0x0d, 0xb8, 0xc0, 0}}, 36};  // via access router

    // HoA i: 2001:db8:1::1:<i>; i < 2^32.
    static Ipv6Address home_address(std::uint32_t i) {
        Ipv6Address a{{0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 1}};
        store(a.bytes.data() + 12, i);
        return a;
    }
    static std::uint32_t home_index(const std::uint8_t* address) { return load(address + 12); }
    static bool is_home_address(const std::uint8_t* a) {
        static const std::uint8_t prefix[12] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 1};
        return std::memcmp(a, prefix, 12) == 0;
    }
    // CoA of HoA i, BID k+1, handover generation g: 2001:db8:c0<k>:<g>::<i>.
    static Ipv6Address care_of(std::uint32_t i, unsigned k, std::uint8_t generation = 0) {
        Ipv6Address a{{0x20, 0x01, 0x0d, 0xb8, 0xc0, static_cast<std::uint8_t>(k), generation}};
        store(a.bytes.data() + 12, i);
        return a;
    }
    // Correspondent j: 2001:db8:ffff::<j>.
    static Ipv6Address correspondent(std::uint32_t j) {
        Ipv6Address a{{0x20, 0x01, 0x0d, 0xb8, 0xff, 0xff}};
        store(a.bytes.data() + 12, j);
        return a;
    }

    static void store(std::uint8_t* p, std::uint32_t v) {
        p[0] = static_cast<std::uint8_t>(v >> 24);
        p[1] = static_cast<std::uint8_t>(v >> 16);
        p[2] = static_cast<std::uint8_t>(v >> 8);
        p[3] = static_cast<std::uint8_t>(v);
    }
    static std::uint32_t load(const std::uint8_t* p) {
        return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 |
               p[3];
    }
};

inline constexpr std::uint16_t kNcastPort = 5004;  // UDP port of the bicast flow binding
inline constexpr std::uint16_t kPlainPort = 9;

// A registration as a mobile node sends it (RFC 5648 bulk: one BID option per CoA, each
// carrying its CoA), from CoA 0 to the HA, with a Home Address option. With `ncast_flow`
// also an RFC 6089 flow binding of UDP to kNcastPort onto BIDs 1 and 2 (bicasting).
// `handover`: a BU without BID option from `handover_coa`, which replaces every binding
// (RFC 5648 s.6.2; the BID option has no flag for this).
struct Registration {
    std::uint32_t hoa = 0;
    unsigned coas = 1;
    std::uint8_t generation = 0;
    std::uint16_t sequence = 1;
    bool ncast_flow = false;
    bool handover = false;  // false: bulk BIDs 1..coas
    Ipv6Address handover_coa;
};
// Ethernet frame (access router -> HA port) carrying the BU.
std::vector<std::uint8_t> build_bu_frame(const Plan& plan, const Registration& r);

// RFC 5847 Heartbeat response (R set) to request `sequence`, as the mobile node answers it
// from `care_of` (no Home Address option: the request went plainly to the CoA).
std::vector<std::uint8_t> build_heartbeat_response_frame(const Plan& plan,
                                                         const Ipv6Address& care_of,
                                                         std::uint32_t sequence);

// Manual ESP SAs (AES-GCM-128) of the ESP phase, per mobile node j: the BU direction (MN ->
// HA) and the BA direction (HA -> MN), each with its own SPI and key (16 bytes || 4 salt).
inline std::uint32_t esp_spi(std::uint32_t j, bool to_home_agent) {
    return 0x10000u + 2 * j + (to_home_agent ? 0 : 1);
}
std::vector<std::uint8_t> esp_key(std::uint32_t j, bool to_home_agent);

// Frame sizes without FCS. "64B" is the smallest IPv6/UDP frame with 2 payload bytes; IMIX
// is the 7:4:1 mix of 64, 594 and 1514 bytes (inner IPv6 packets of 50, 580, 1500 bytes).
std::vector<std::uint16_t> imix_sizes();

enum class Distribution { Uniform, Zipf };
const char* to_string(Distribution d);

// A repeating sequence of HoA indices in [first, first + count) drawn from `d` (Zipf with
// exponent s over a random permutation, so popular HoAs are spread through the table).
std::vector<std::uint32_t> destination_sequence(Distribution d, std::uint32_t first,
                                                std::uint32_t count, std::size_t length,
                                                double zipf_s, std::uint64_t seed);

}  // namespace monami::bench
