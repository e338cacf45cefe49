#include <gtest/gtest.h>

#include <cstdint>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "config/load.hpp"
#include "controlplane/policy/policy_engine.hpp"
#include "dataplane/stages/classify.hpp"

using namespace monami;
using namespace monami::dp;

namespace {

const Ipv6Address kCn = *Ipv6Address::parse("2001:db8:cafe::10");
const Ipv6Address kHoa = *Ipv6Address::parse("2001:db8:1::100");

// A hand-built IPv6 packet: fixed header, then `chain` (extension headers, each already
// complete except its next-header byte, which is filled in), then `upper` bytes.
struct PacketBuilder {
    std::uint8_t traffic_class = 0;
    std::uint32_t flow_label = 0;
    Ipv6Address source = kCn;
    Ipv6Address destination = kHoa;
    std::vector<std::pair<std::uint8_t, std::vector<std::uint8_t>>> chain;  // (type, bytes)
    std::uint8_t upper_protocol = ipproto::kUdp;
    std::vector<std::uint8_t> upper;

    PacketBuilder& extension(std::uint8_t type, std::vector<std::uint8_t> bytes) {
        chain.emplace_back(type, std::move(bytes));
        return *this;
    }
    PacketBuilder& ports(std::uint8_t protocol, std::uint16_t source_port,
                         std::uint16_t destination_port) {
        upper_protocol = protocol;
        upper = {static_cast<std::uint8_t>(source_port >> 8),
                 static_cast<std::uint8_t>(source_port),
                 static_cast<std::uint8_t>(destination_port >> 8),
                 static_cast<std::uint8_t>(destination_port),
                 0,
                 8,
                 0,
                 0};
        return *this;
    }
    std::vector<std::uint8_t> build() const {
        std::vector<std::uint8_t> p(40);
        std::uint32_t word = (6u << 28) | (std::uint32_t{traffic_class} << 20) | flow_label;
        p[0] = static_cast<std::uint8_t>(word >> 24);
        p[1] = static_cast<std::uint8_t>(word >> 16);
        p[2] = static_cast<std::uint8_t>(word >> 8);
        p[3] = static_cast<std::uint8_t>(word);
        p[6] = chain.empty() ? upper_protocol : chain.front().first;
        p[7] = 64;
        source.copy_to(p.data() + 8);
        destination.copy_to(p.data() + 24);
        for (std::size_t i = 0; i < chain.size(); ++i) {
            std::vector<std::uint8_t> header = chain[i].second;
            header[0] = i + 1 < chain.size() ? chain[i + 1].first : upper_protocol;
            p.insert(p.end(), header.begin(), header.end());
        }
        p.insert(p.end(), upper.begin(), upper.end());
        std::size_t payload = p.size() - 40;
        p[4] = static_cast<std::uint8_t>(payload >> 8);
        p[5] = static_cast<std::uint8_t>(payload);
        return p;
    }
};

std::vector<std::uint8_t> pad_n_options(std::size_t length_8) {  // HBH / dest options
    std::vector<std::uint8_t> h(length_8 * 8, 0);
    h[1] = static_cast<std::uint8_t>(length_8 - 1);
    h[2] = 1;  // PadN
    h[3] = static_cast<std::uint8_t>(h.size() - 4);
    return h;
}
std::vector<std::uint8_t> fragment_header(std::uint16_t offset_8, bool more) {
    std::uint16_t field = static_cast<std::uint16_t>((offset_8 << 3) | (more ? 1 : 0));
    return {0,
            0,
            static_cast<std::uint8_t>(field >> 8),
            static_cast<std::uint8_t>(field),
            0x12,
            0x34,
            0x56,
            0x78};
}
std::vector<std::uint8_t> routing_header() {  // type 2 (RFC 6275 s.6.4), one address
    std::vector<std::uint8_t> h(24, 0);
    h[1] = 2;
    h[2] = 2;
    h[3] = 1;
    return h;
}
std::vector<std::uint8_t> ah_header() {  // 12-byte ICV: (3 + 3) * 4 = 24 bytes
    std::vector<std::uint8_t> h(24, 0);
    h[1] = 4;
    return h;
}

PacketFields must_extract(const std::vector<std::uint8_t>& packet) {
    PacketFields f;
    EXPECT_TRUE(extract_fields(packet.data(), packet.size(), f));
    return f;
}

}  // namespace

// ---- extract_fields ---------------------------------------------------------------------

TEST(ExtractFields, Udp) {
    PacketBuilder b;
    b.traffic_class = 0xb8;  // DSCP 46 (EF)
    b.flow_label = 0xabcde;
    auto f = must_extract(b.ports(ipproto::kUdp, 5060, 5070).build());
    EXPECT_EQ(f.source, kCn);
    EXPECT_EQ(f.destination, kHoa);
    EXPECT_EQ(f.traffic_class, 0xb8);
    EXPECT_EQ(f.flow_label, 0xabcdeu);
    EXPECT_EQ(f.next_header, ipproto::kUdp);
    EXPECT_TRUE(f.has_ports);
    EXPECT_FALSE(f.has_spi);
    EXPECT_FALSE(f.is_fragment);
    EXPECT_EQ(f.source_port, 5060);
    EXPECT_EQ(f.destination_port, 5070);
}

TEST(ExtractFields, TcpAndSctp) {
    auto tcp = must_extract(PacketBuilder{}.ports(ipproto::kTcp, 40000, 443).build());
    EXPECT_EQ(tcp.next_header, ipproto::kTcp);
    EXPECT_EQ(tcp.source_port, 40000);
    EXPECT_EQ(tcp.destination_port, 443);
    auto sctp = must_extract(PacketBuilder{}.ports(ipproto::kSctp, 2905, 2906).build());
    EXPECT_TRUE(sctp.has_ports);
    EXPECT_EQ(sctp.destination_port, 2906);
}

TEST(ExtractFields, WalksExtensionHeaders) {
    PacketBuilder b;
    b.extension(ipproto::kHopByHop, pad_n_options(1))
        .extension(ipproto::kDestinationOptions, pad_n_options(2))
        .extension(ipproto::kRouting, routing_header())
        .extension(ipproto::kAh, ah_header())
        .extension(ipproto::kFragment, fragment_header(0, true))  // first fragment
        .ports(ipproto::kTcp, 1234, 80);
    auto f = must_extract(b.build());
    EXPECT_EQ(f.next_header, ipproto::kTcp);
    EXPECT_TRUE(f.has_ports);
    EXPECT_TRUE(f.is_fragment);
    EXPECT_EQ(f.source_port, 1234);
    EXPECT_EQ(f.destination_port, 80);
}

TEST(ExtractFields, LaterFragmentHasNoPorts) {
    PacketBuilder b;
    b.extension(ipproto::kFragment, fragment_header(185, false)).ports(ipproto::kUdp, 1, 2);
    auto f = must_extract(b.build());
    EXPECT_EQ(f.next_header, ipproto::kUdp);
    EXPECT_FALSE(f.has_ports);
    EXPECT_TRUE(f.is_fragment);
    EXPECT_EQ(f.source_port, 0);
}

TEST(ExtractFields, EspSpi) {
    PacketBuilder b;
    b.extension(ipproto::kDestinationOptions, pad_n_options(1));
    b.upper_protocol = ipproto::kEsp;
    b.upper = {0x00, 0x00, 0x10, 0x01, 0, 0, 0, 1};
    auto f = must_extract(b.build());
    EXPECT_EQ(f.next_header, ipproto::kEsp);
    EXPECT_TRUE(f.has_spi);
    EXPECT_FALSE(f.has_ports);
    EXPECT_EQ(f.spi, 0x1001u);
}

TEST(ExtractFields, NoNextHeaderAndIcmp) {
    PacketBuilder b;
    b.upper_protocol = ipproto::kNoNextHeader;
    auto none = must_extract(b.build());
    EXPECT_EQ(none.next_header, ipproto::kNoNextHeader);
    EXPECT_FALSE(none.has_ports);
    b.upper_protocol = 58;
    b.upper = {128, 0, 0, 0};
    EXPECT_EQ(must_extract(b.build()).next_header, 58);
}

TEST(ExtractFields, RejectsTruncatedPackets) {
    PacketFields f;
    auto udp = PacketBuilder{}.ports(ipproto::kUdp, 1, 2).build();
    EXPECT_FALSE(extract_fields(udp.data(), 39, f));  // inside the fixed header
    EXPECT_FALSE(extract_fields(udp.data(), 42, f));  // ports cut
    EXPECT_TRUE(extract_fields(udp.data(), 44, f));   // ports are all we need

    PacketBuilder b;
    b.extension(ipproto::kDestinationOptions, pad_n_options(2)).ports(ipproto::kTcp, 1, 2);
    auto with_options = b.build();
    for (std::size_t cut = 40; cut < 40 + 16 + 4; ++cut)
        EXPECT_FALSE(extract_fields(with_options.data(), cut, f)) << cut;
    EXPECT_TRUE(extract_fields(with_options.data(), 40 + 16 + 4, f));

    PacketBuilder fragment;
    fragment.extension(ipproto::kFragment, fragment_header(0, true)).ports(ipproto::kUdp, 1, 2);
    auto frag = fragment.build();
    EXPECT_FALSE(extract_fields(frag.data(), 47, f));

    auto not_ipv6 = udp;
    not_ipv6[0] = 0x45;
    EXPECT_FALSE(extract_fields(not_ipv6.data(), not_ipv6.size(), f));
}

TEST(ExtractFields, BoundsTheChain) {
    PacketBuilder eight;
    for (int i = 0; i < 8; ++i) eight.extension(ipproto::kDestinationOptions, pad_n_options(1));
    eight.ports(ipproto::kUdp, 7, 9);
    EXPECT_EQ(must_extract(eight.build()).destination_port, 9);
    PacketBuilder nine = eight;
    nine.extension(ipproto::kDestinationOptions, pad_n_options(1));
    auto packet = nine.build();
    PacketFields f;
    EXPECT_FALSE(extract_fields(packet.data(), packet.size(), f));
}

TEST(ExtractFields, FastVariantAgreesWithoutExtensionHeaders) {
    PacketBuilder b;
    b.flow_label = 77;
    b.traffic_class = 0x28;
    for (auto protocol : {ipproto::kUdp, ipproto::kTcp, ipproto::kSctp}) {
        auto packet = b.ports(protocol, 999, 1000).build();
        PacketFields fast, full;
        ASSERT_TRUE(extract_fast_fields(packet.data(), packet.size(), fast));
        ASSERT_TRUE(extract_fields(packet.data(), packet.size(), full));
        EXPECT_EQ(fast.destination_port, 1000);
        EXPECT_EQ(flow_hash(fast), flow_hash(full));
    }
    // With an extension header the fast variant stops at it: no ports.
    b.extension(ipproto::kHopByHop, pad_n_options(1));
    auto packet = b.ports(ipproto::kUdp, 999, 1000).build();
    PacketFields fast;
    ASSERT_TRUE(extract_fast_fields(packet.data(), packet.size(), fast));
    EXPECT_EQ(fast.next_header, ipproto::kHopByHop);
    EXPECT_FALSE(fast.has_ports);
    EXPECT_FALSE(extract_fast_fields(packet.data(), 39, fast));
}

// ---- flow_hash --------------------------------------------------------------------------
// RFC 3720 B.4 (iSCSI CRC32C test vectors): 32 bytes of zeros -> 0x8a9136aa, 32 bytes of
// ones -> 0x62a8ab43 (initial value all ones, result inverted).
TEST(FlowHash, Crc32cMatchesTheStandardVectorsWithAndWithoutTheInstruction) {
    for (auto crc32c : {&crc32c_u64, &crc32c_u64_bitwise}) {
        std::uint32_t zeros = 0xffffffffu, ones = 0xffffffffu;
        for (int i = 0; i < 4; ++i) {
            zeros = crc32c(zeros, 0);
            ones = crc32c(ones, ~std::uint64_t{0});
        }
        EXPECT_EQ(~zeros, 0x8a9136aau);
        EXPECT_EQ(~ones, 0x62a8ab43u);
    }
    std::uint64_t x = 0x0123456789abcdefull;
    for (std::uint32_t i = 0; i < 1000; ++i) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        EXPECT_EQ(crc32c_u64(i * 2654435761u, x), crc32c_u64_bitwise(i * 2654435761u, x));
    }
}

// The workers' hash read straight from the packet must equal the hash of the extracted
// fields for every input: a flow keeps its path whichever of the two computed it.
TEST(FlowHash, FromThePacketEqualsFromTheFastFields) {
    auto same = [](const std::vector<std::uint8_t>& packet, std::size_t length) {
        PacketFields fields;
        extract_fast_fields(packet.data(), length, fields);
        return fast_flow_hash(packet.data(), length) == flow_hash(fields);
    };
    std::mt19937_64 rng(11);
    unsigned checked = 0;
    for (std::uint8_t protocol : {ipproto::kUdp, ipproto::kTcp, ipproto::kSctp, ipproto::kEsp,
                                  ipproto::kHopByHop, ipproto::kNoNextHeader, std::uint8_t{58}}) {
        for (int i = 0; i < 50; ++i) {
            PacketBuilder b;
            b.flow_label = static_cast<std::uint32_t>(rng()) & 0xfffff;
            b.traffic_class = static_cast<std::uint8_t>(rng());
            for (auto& byte : b.source.bytes) byte = static_cast<std::uint8_t>(rng());
            for (auto& byte : b.destination.bytes) byte = static_cast<std::uint8_t>(rng());
            b.ports(protocol, static_cast<std::uint16_t>(rng()), static_cast<std::uint16_t>(rng()));
            auto packet = b.build();
            // Every length from a truncated fixed header to the whole packet.
            for (std::size_t length = 0; length <= packet.size(); ++length, ++checked)
                EXPECT_TRUE(same(packet, length)) << int{protocol} << " " << length;
            auto not_ipv6 = packet;
            not_ipv6[0] = 0x45;
            EXPECT_TRUE(same(not_ipv6, not_ipv6.size()));
        }
    }
    EXPECT_GT(checked, 10000u);
    // Different flows still hash apart (the comparison above cannot be vacuous).
    PacketBuilder b;
    auto one = b.ports(ipproto::kUdp, 1, 2).build();
    auto two = b.ports(ipproto::kUdp, 1, 3).build();
    EXPECT_NE(fast_flow_hash(one.data(), one.size()), fast_flow_hash(two.data(), two.size()));
}

TEST(FlowHash, StableAndSensitiveToEveryField) {
    PacketFields base;
    base.source = kCn;
    base.destination = kHoa;
    base.next_header = ipproto::kTcp;
    base.source_port = 40000;
    base.destination_port = 443;
    base.has_ports = true;
    std::uint32_t h = flow_hash(base);
    EXPECT_EQ(h, flow_hash(base));
    auto differs = [&](auto change) {
        PacketFields f = base;
        change(f);
        return flow_hash(f) != h;
    };
    EXPECT_TRUE(differs([](PacketFields& f) { f.source.bytes[15] ^= 1; }));
    EXPECT_TRUE(differs([](PacketFields& f) { f.source.bytes[0] ^= 0x80; }));
    EXPECT_TRUE(differs([](PacketFields& f) { f.destination.bytes[7] ^= 0x80; }));
    EXPECT_TRUE(differs([](PacketFields& f) { f.source_port++; }));
    EXPECT_TRUE(differs([](PacketFields& f) { f.destination_port++; }));
    EXPECT_TRUE(differs([](PacketFields& f) { f.next_header = ipproto::kUdp; }));
    EXPECT_TRUE(differs([](PacketFields& f) { f.flow_label = 1; }));
    // Not part of the flow's identity.
    EXPECT_FALSE(differs([](PacketFields& f) { f.traffic_class = 0xb8; }));
    // Fragments hash without ports, so all fragments of a datagram go the same way.
    PacketFields first = base, later = base;
    first.is_fragment = later.is_fragment = true;
    later.has_ports = false;
    later.source_port = later.destination_port = 0;
    EXPECT_EQ(flow_hash(first), flow_hash(later));
}

TEST(FlowHash, SpreadsEvenlyOverSlots) {
    std::mt19937_64 rng(7);
    std::array<unsigned, kChoiceSlots> per_slot{};
    constexpr unsigned kFlows = 64 * 1000;
    PacketFields f;
    f.source = kCn;
    f.destination = kHoa;
    f.next_header = ipproto::kUdp;
    f.has_ports = true;
    // Sequential ports from one client: the structured case a weak hash gets wrong.
    for (unsigned i = 0; i < kFlows; ++i) {
        f.source_port = static_cast<std::uint16_t>(i);
        f.destination_port = static_cast<std::uint16_t>(5000 + (i >> 16));
        per_slot[flow_hash(f) % kChoiceSlots]++;
    }
    for (unsigned n : per_slot) {
        EXPECT_GT(n, 880u);
        EXPECT_LT(n, 1120u);
    }
}

// ---- matches / select_action ------------------------------------------------------------

namespace {
PacketFields udp_fields(std::uint16_t source_port, std::uint16_t destination_port,
                        std::uint8_t traffic_class = 0) {
    PacketBuilder b;
    b.traffic_class = traffic_class;
    return must_extract(b.ports(ipproto::kUdp, source_port, destination_port).build());
}
}  // namespace

TEST(Matches, DefaultSelectorMatchesEverything) {
    FlowSelector any;
    EXPECT_TRUE(matches(any, udp_fields(1, 2)));
    PacketFields later_fragment;
    later_fragment.is_fragment = true;
    EXPECT_TRUE(matches(any, later_fragment));
}

TEST(Matches, EachFieldNarrows) {
    PacketFields f = udp_fields(5000, 5060, 0xb8);
    f.flow_label = 12;
    auto check = [&](auto narrow, bool expected) {
        FlowSelector s;
        narrow(s);
        EXPECT_EQ(matches(s, f), expected);
    };
    check([](FlowSelector& s) { s.next_header = {17, 17}; }, true);
    check([](FlowSelector& s) { s.next_header = {6, 6}; }, false);
    check([](FlowSelector& s) { s.traffic_class = {0xb8, 0xbb}; }, true);
    check([](FlowSelector& s) { s.traffic_class = {0xbc, 0xbf}; }, false);
    check([](FlowSelector& s) { s.flow_label = {12, 12}; }, true);
    check([](FlowSelector& s) { s.flow_label = {13, 0xfffff}; }, false);
    check([](FlowSelector& s) { s.destination = {kHoa, kHoa}; }, true);
    check([](FlowSelector& s) { s.source = {kHoa, kHoa}; }, false);
    check(
        [](FlowSelector& s) {
            s.source = {*Ipv6Address::parse("2001:db8:cafe::"),
                        *Ipv6Address::parse("2001:db8:cafe::ffff:ffff:ffff:ffff")};
        },
        true);
    check(
        [](FlowSelector& s) {  // the range ends just below the source address
            s.source = {*Ipv6Address::parse("2001:db8:cafe::"),
                        *Ipv6Address::parse("2001:db8:cafe::f")};
        },
        false);
    check(
        [](FlowSelector& s) {
            s.destination_port = {5060, 5090};
            s.needs_ports = true;
        },
        true);
    check(
        [](FlowSelector& s) {
            s.source_port = {5001, 6000};
            s.needs_ports = true;
        },
        false);
    check(
        [](FlowSelector& s) {  // a narrowed SPI never matches a packet without one
            s.spi = {0, 0};
            s.needs_ports = true;
        },
        false);
}

TEST(Matches, NarrowedPortsNeedPorts) {
    FlowSelector low_ports;
    low_ports.destination_port = {0, 1023};
    low_ports.needs_ports = true;
    PacketFields later_fragment = udp_fields(1, 2);
    later_fragment.has_ports = false;  // ports read as 0 would fall in the range
    later_fragment.source_port = later_fragment.destination_port = 0;
    EXPECT_FALSE(matches(low_ports, later_fragment));
    EXPECT_TRUE(matches(low_ports, udp_fields(1, 2)));

    PacketBuilder b;
    b.upper_protocol = ipproto::kEsp;
    b.upper = {0, 0, 0x10, 0x02, 0, 0, 0, 1};
    auto esp = must_extract(b.build());
    EXPECT_FALSE(matches(low_ports, esp));
    FlowSelector spi;
    spi.spi = {0x1002, 0x1002};
    spi.needs_ports = true;
    EXPECT_TRUE(matches(spi, esp));
    spi.spi = {0x1003, 0xffff};
    EXPECT_FALSE(matches(spi, esp));
}

TEST(SelectAction, FirstMatchingRuleElseDefault) {
    HoaSnapshot snapshot;
    snapshot.default_action.choice[0] = 0;
    FlowRule sip, rtp;
    sip.selector.destination_port = {5060, 5060};
    sip.selector.needs_ports = true;
    sip.action.ncast_mask = 0b11;
    rtp.selector.next_header = {17, 17};
    rtp.action.choice[0] = 1;
    snapshot.rules = {sip, rtp};
    EXPECT_EQ(&select_action(snapshot, udp_fields(1, 5060)), &snapshot.rules[0].action);
    EXPECT_EQ(&select_action(snapshot, udp_fields(1, 5061)), &snapshot.rules[1].action);
    PacketBuilder tcp;
    auto tcp_fields = must_extract(tcp.ports(ipproto::kTcp, 1, 5060).build());
    EXPECT_EQ(&select_action(snapshot, tcp_fields), &snapshot.rules[0].action);
    auto other_tcp = must_extract(tcp.ports(ipproto::kTcp, 1, 80).build());
    EXPECT_EQ(&select_action(snapshot, other_tcp), &snapshot.default_action);
}

// ---- PolicyEngine -----------------------------------------------------------------------

namespace {

using policy::MnFlowBinding;
using policy::PathInfo;
using policy::PolicyEngine;

constexpr std::string_view kPolicyYaml = R"(
ports:
  - {name: home, device: "net_null0", addresses: ["2001:db8:1::1/64"]}
policies:
  access_classes:
    - {name: wifi, prefixes: ["2001:db8:a::/48"], cost: 1, preference: 10}
    - {name: cellular, prefixes: ["2001:db8:c::/48"], cost: 10, preference: 5}
    - {name: satellite, prefixes: ["2001:db8:5a7::/48"], cost: 100, preference: 0}
    - {name: hotspot, prefixes: ["2001:db8:a:1::/64"], cost: 50, preference: 1}
  traffic_classes:
    - name: voice
      match: {protocol: udp, destination_ports: "5060-5090", dscp: 46}
    - name: bulk
      match: {protocol: tcp, destination_ports: "20-21"}
    - name: critical
      match: {dscp: 48}
  profiles:
    - name: default
      rules:
        - {traffic_class: voice, mode: prefer, order: [wifi, cellular, satellite]}
        - {traffic_class: bulk, mode: weighted, weights: {wifi: 3, cellular: 1}}
        - {traffic_class: critical, mode: ncast}
        - {traffic_class: any, mode: weighted}
    - name: phones
      rules:
        - {traffic_class: voice, mode: ncast}
        - {traffic_class: any, mode: prefer}
  default_profile: default
)";

config::Policies load_policies(std::string_view yaml) {
    auto result = config::load_config_string(yaml, "policy.yaml");
    if (!result.ok()) {
        for (const auto& e : result.error()) ADD_FAILURE() << e.to_string();
        return {};
    }
    return result.value().policies;
}

Ipv6Address wifi(unsigned host) {
    Ipv6Address a = *Ipv6Address::parse("2001:db8:a::");
    a.bytes[15] = static_cast<std::uint8_t>(host);
    return a;
}
Ipv6Address cellular(unsigned host) {
    Ipv6Address a = *Ipv6Address::parse("2001:db8:c::");
    a.bytes[15] = static_cast<std::uint8_t>(host);
    return a;
}
const Ipv6Address kSatellite = *Ipv6Address::parse("2001:db8:5a7::1");

// The snapshot a control thread would publish: paths with their BIDs, then the policy.
HoaSnapshot compile(const PolicyEngine& engine, const std::vector<PathInfo>& paths,
                    const std::vector<MnFlowBinding>& flows = {},
                    std::optional<std::size_t> profile = std::nullopt,
                    const HoaSnapshot* previous = nullptr) {
    HoaSnapshot s;
    s.home_address = kHoa;
    s.paths.resize(paths.size());
    for (std::size_t i = 0; i < paths.size(); ++i) {
        s.paths[i].bid = paths[i].bid;
        s.paths[i].care_of = paths[i].care_of;
        s.paths[i].state = paths[i].state;
    }
    s.path_count = static_cast<std::uint8_t>(paths.size());
    engine.compile(paths, flows, profile, s, previous);
    return s;
}

// BID the snapshot sends `f` to; 0 when it has no path.
std::uint16_t bid_for(const HoaSnapshot& s, const PacketFields& f) {
    std::uint8_t path = chosen_path(select_action(s, f), flow_hash(f));
    return path == kNoBinding ? 0 : s.paths.at(path).bid;
}

PacketFields voice_packet(std::uint16_t destination_port = 5060) {
    return udp_fields(40000, destination_port, 46 << 2);
}

// `count` flows with random source addresses and ports (fixed seed).
std::vector<PacketFields> random_flows(std::uint8_t protocol, std::uint16_t destination_port,
                                       unsigned count, unsigned seed = 1) {
    std::mt19937_64 rng(seed);
    std::vector<PacketFields> flows;
    for (unsigned i = 0; i < count; ++i) {
        PacketFields f;
        f.source = *Ipv6Address::parse("2001:db8:cafe::");
        std::uint64_t r = rng();
        std::memcpy(f.source.bytes.data() + 8, &r, 8);
        f.destination = kHoa;
        f.next_header = protocol;
        f.source_port = static_cast<std::uint16_t>(rng());
        f.destination_port = destination_port;
        f.has_ports = true;
        flows.push_back(f);
    }
    return flows;
}

double share_of(const HoaSnapshot& s, const std::vector<PacketFields>& flows, std::uint16_t bid) {
    unsigned n = 0;
    for (const auto& f : flows) n += bid_for(s, f) == bid;
    return double(n) / flows.size();
}

class PolicyEngineTest : public ::testing::Test {
  protected:
    config::Policies policies = load_policies(kPolicyYaml);
    PolicyEngine engine{policies};
    std::size_t phones = 1;
};

}  // namespace

TEST_F(PolicyEngineTest, AccessClassByLongestPrefix) {
    EXPECT_EQ(engine.access_class_of(wifi(5)), 0u);
    EXPECT_EQ(engine.access_class_of(cellular(5)), 1u);
    EXPECT_EQ(engine.access_class_of(kSatellite), 2u);
    EXPECT_EQ(engine.access_class_of(*Ipv6Address::parse("2001:db8:a:1::5")), 3u);
    EXPECT_EQ(engine.access_class_of(*Ipv6Address::parse("2001:db8:b::5")), std::nullopt);
}

TEST_F(PolicyEngineTest, TrafficClassSelectors) {
    FlowSelector voice = policy::to_selector(policies.traffic_classes[0].match);
    EXPECT_EQ(voice.next_header.first, 17);
    EXPECT_EQ(voice.next_header.last, 17);
    EXPECT_EQ(voice.destination_port.first, 5060);
    EXPECT_EQ(voice.destination_port.last, 5090);
    EXPECT_EQ(voice.source_port.last, 0xffff);
    EXPECT_EQ(voice.traffic_class.first, 46 << 2);
    EXPECT_EQ(voice.traffic_class.last, (46 << 2) | 3);
    EXPECT_TRUE(voice.needs_ports);
    FlowSelector critical = policy::to_selector(policies.traffic_classes[2].match);
    EXPECT_FALSE(critical.needs_ports);
    EXPECT_EQ(critical.next_header.first, 0);
    EXPECT_EQ(critical.next_header.last, 0xff);

    config::TrafficMatch prefixes;
    prefixes.source_prefix = *Ipv6Prefix::parse("2001:db8:cafe::/48");
    FlowSelector s = policy::to_selector(prefixes);
    EXPECT_EQ(s.source.first, *Ipv6Address::parse("2001:db8:cafe::"));
    EXPECT_EQ(s.source.last, *Ipv6Address::parse("2001:db8:cafe:ffff:ffff:ffff:ffff:ffff"));
    EXPECT_TRUE(matches(s, udp_fields(1, 2)));  // from 2001:db8:cafe::10
    prefixes.source_prefix = *Ipv6Prefix::parse("2001:db8:caff::/48");
    EXPECT_FALSE(matches(policy::to_selector(prefixes), udp_fields(1, 2)));
}

TEST_F(PolicyEngineTest, DscpMatchingIgnoresEcn) {
    FlowSelector voice = policy::to_selector(policies.traffic_classes[0].match);
    FlowSelector critical = policy::to_selector(policies.traffic_classes[2].match);
    EXPECT_TRUE(matches(voice, udp_fields(1, 5060, 0xb8)));   // EF
    EXPECT_TRUE(matches(voice, udp_fields(1, 5060, 0xbb)));   // EF with CE
    EXPECT_FALSE(matches(voice, udp_fields(1, 5060, 0xbc)));  // DSCP 47
    EXPECT_FALSE(matches(voice, udp_fields(1, 5060, 0)));
    EXPECT_FALSE(matches(voice, udp_fields(1, 5091, 0xb8)));  // port outside
    EXPECT_TRUE(matches(critical, udp_fields(1, 80, 48 << 2)));
    EXPECT_TRUE(matches(critical, udp_fields(1, 80, (48 << 2) | 1)));
    EXPECT_FALSE(matches(critical, udp_fields(1, 80, 49 << 2)));
}

TEST_F(PolicyEngineTest, PreferenceOrderAndFailover) {
    std::vector<PathInfo> paths = {{7, cellular(1), BindingState::Live, false},
                                   {3, wifi(1), BindingState::Live, false},
                                   {9, kSatellite, BindingState::Live, false}};
    auto voice = voice_packet();
    EXPECT_EQ(bid_for(compile(engine, paths), voice), 3);  // wifi first
    paths[1].state = BindingState::Dead;
    EXPECT_EQ(bid_for(compile(engine, paths), voice), 7);  // then cellular
    paths[0].state = BindingState::Dead;
    EXPECT_EQ(bid_for(compile(engine, paths), voice), 9);  // then satellite
    paths[1].state = BindingState::Live;
    EXPECT_EQ(bid_for(compile(engine, paths), voice), 3);  // wifi is back
    // Suspect carries traffic only when nothing is Live.
    paths[1].state = BindingState::Suspect;
    EXPECT_EQ(bid_for(compile(engine, paths), voice), 9);
    paths[2].state = BindingState::Suspect;
    EXPECT_EQ(bid_for(compile(engine, paths), voice), 3);
    for (auto& p : paths) p.state = BindingState::Dead;
    HoaSnapshot none = compile(engine, paths);
    EXPECT_EQ(bid_for(none, voice), 0);
    EXPECT_EQ(bid_for(none, udp_fields(1, 80)), 0);
}

TEST_F(PolicyEngineTest, PreferWithinAClassTakesTheLowestBid) {
    std::vector<PathInfo> paths = {{5, wifi(1), BindingState::Live, false},
                                   {2, wifi(2), BindingState::Live, false},
                                   {1, cellular(1), BindingState::Live, false}};
    EXPECT_EQ(bid_for(compile(engine, paths), voice_packet()), 2);
    paths.push_back({4, wifi(3), BindingState::Live, false});  // joins: no change
    EXPECT_EQ(bid_for(compile(engine, paths), voice_packet()), 2);
}

TEST_F(PolicyEngineTest, PreferFallsBackToAnyUsablePath) {
    // Neither listed class is present: an unclassified CoA still carries the flow.
    std::vector<PathInfo> paths = {
        {4, *Ipv6Address::parse("2001:db8:b::1"), BindingState::Live, false}};
    EXPECT_EQ(bid_for(compile(engine, paths), voice_packet()), 4);
    // Implicit order (no `order`): preference, so hotspot (1) before unclassified.
    config::Rule implicit;
    implicit.mode = config::RuleMode::prefer;
    paths.push_back({6, *Ipv6Address::parse("2001:db8:a:1::9"), BindingState::Live, false});
    paths.push_back({8, cellular(2), BindingState::Live, false});
    FlowAction a = engine.action_for(implicit, paths);
    EXPECT_EQ(paths[a.choice[0]].bid, 8);  // cellular (5) beats hotspot (1)
    paths[2].state = BindingState::Dead;
    a = engine.action_for(implicit, paths);
    EXPECT_EQ(paths[a.choice[0]].bid, 6);
}

TEST_F(PolicyEngineTest, WeightsHoldOverRandomFlows) {
    auto bulk = random_flows(ipproto::kTcp, 21, 10'000);
    // Several BID pairs: the shares are exact by construction, not by luck of the BIDs.
    for (std::uint16_t wifi_bid : {1, 2, 17, 200}) {
        std::uint16_t cell_bid = static_cast<std::uint16_t>(wifi_bid + 1);
        std::vector<PathInfo> paths = {{cell_bid, cellular(1), BindingState::Live, false},
                                       {wifi_bid, wifi(1), BindingState::Live, false}};
        HoaSnapshot s = compile(engine, paths);
        double on_wifi = share_of(s, bulk, wifi_bid);
        EXPECT_NEAR(on_wifi, 0.75, 0.03) << "wifi BID " << wifi_bid;
        EXPECT_NEAR(share_of(s, bulk, cell_bid), 1 - on_wifi, 1e-9);
    }
    // Two wifi CoAs share wifi's 3/4; the class weight is not counted twice.
    std::vector<PathInfo> three = {{1, wifi(1), BindingState::Live, false},
                                   {2, wifi(2), BindingState::Live, false},
                                   {3, cellular(1), BindingState::Live, false}};
    HoaSnapshot s = compile(engine, three);
    EXPECT_NEAR(share_of(s, bulk, 1) + share_of(s, bulk, 2), 0.75, 0.03);
    EXPECT_NEAR(share_of(s, bulk, 1), 0.375, 0.03);
    // Only cellular left: everything goes there; an unweighted class gets nothing while a
    // weighted one is usable.
    three.push_back({4, kSatellite, BindingState::Live, false});
    EXPECT_EQ(share_of(compile(engine, three), bulk, 4), 0.0);
    three[0].state = three[1].state = three[2].state = BindingState::Dead;
    EXPECT_EQ(share_of(compile(engine, three), bulk, 4), 1.0);
}

TEST_F(PolicyEngineTest, EqualWeightsSpreadEvenly) {
    auto flows = random_flows(ipproto::kUdp, 443, 10'000, 2);
    std::vector<PathInfo> paths = {{1, wifi(1), BindingState::Live, false},
                                   {2, cellular(1), BindingState::Live, false},
                                   {3, kSatellite, BindingState::Live, false}};
    HoaSnapshot s = compile(engine, paths);  // `any` is weighted without weights
    for (std::uint16_t bid : {1, 2, 3}) EXPECT_NEAR(share_of(s, flows, bid), 1.0 / 3, 0.03);
}

namespace {
struct Movement {
    unsigned moved = 0;             // flows whose BID changed
    unsigned moved_from_kept = 0;   // ... although their old path is still usable
    unsigned moved_not_to_new = 0;  // ... to a path other than `joined`
};
Movement movement(const HoaSnapshot& before, const HoaSnapshot& after,
                  const std::vector<PacketFields>& flows, std::uint16_t left,
                  std::uint16_t joined) {
    Movement m;
    for (const auto& f : flows) {
        std::uint16_t a = bid_for(before, f), b = bid_for(after, f);
        if (a == b) continue;
        m.moved++;
        m.moved_from_kept += a != left;
        m.moved_not_to_new += b != joined;
    }
    return m;
}
}  // namespace

TEST_F(PolicyEngineTest, RemovingAPathMovesOnlyItsFlows) {
    auto flows = random_flows(ipproto::kUdp, 443, 10'000, 3);
    std::vector<PathInfo> three = {{1, wifi(1), BindingState::Live, false},
                                   {2, cellular(1), BindingState::Live, false},
                                   {3, kSatellite, BindingState::Live, false}};
    HoaSnapshot a = compile(engine, three);
    // Remove the first path: the others change index, but BIDs key the slots.
    std::vector<PathInfo> two(three.begin() + 1, three.end());
    HoaSnapshot b = compile(engine, two, {}, std::nullopt, &a);
    Movement m = movement(a, b, flows, 1, 0);
    EXPECT_EQ(m.moved_from_kept, 0u);
    EXPECT_NEAR(double(m.moved) / flows.size(), 1.0 / 3, 0.03);
    EXPECT_NEAR(share_of(b, flows, 2), 0.5, 0.03);

    // It joins again: only about a third of the flows move, all of them to it.
    HoaSnapshot c = compile(engine, three, {}, std::nullopt, &b);
    m = movement(b, c, flows, 0, 1);
    EXPECT_EQ(m.moved_not_to_new, 0u);
    EXPECT_NEAR(double(m.moved) / flows.size(), 1.0 / 3, 0.03);
    for (std::uint16_t bid : {1, 2, 3}) EXPECT_NEAR(share_of(c, flows, bid), 1.0 / 3, 0.03);

    // Marked Dead instead of removed: the same.
    std::vector<PathInfo> dead = three;
    dead[2].state = BindingState::Dead;
    HoaSnapshot d = compile(engine, dead, {}, std::nullopt, &c);
    EXPECT_EQ(movement(c, d, flows, 3, 0).moved_from_kept, 0u);
}

TEST_F(PolicyEngineTest, WithoutHistoryTheAssignmentIsAFunctionOfThePaths) {
    auto flows = random_flows(ipproto::kUdp, 443, 10'000, 4);
    std::vector<PathInfo> three = {{1, wifi(1), BindingState::Live, false},
                                   {2, cellular(1), BindingState::Live, false},
                                   {3, kSatellite, BindingState::Live, false}};
    HoaSnapshot a = compile(engine, three);
    std::vector<PathInfo> reordered = {three[2], three[0], three[1]};
    HoaSnapshot again = compile(engine, reordered);
    EXPECT_EQ(movement(a, again, flows, 0, 0).moved, 0u);
    // Stateless removal: close to minimal (rendezvous claims), not exactly.
    std::vector<PathInfo> two(three.begin(), three.begin() + 2);
    Movement m = movement(a, compile(engine, two), flows, 3, 0);
    EXPECT_LT(double(m.moved_from_kept) / flows.size(), 0.10);
}

TEST_F(PolicyEngineTest, NcastMaskOfLivePaths) {
    std::vector<PathInfo> paths = {{1, wifi(1), BindingState::Live, false},
                                   {2, cellular(1), BindingState::Live, false},
                                   {3, kSatellite, BindingState::Live, false}};
    PacketFields critical = udp_fields(1, 80, 48 << 2);
    EXPECT_EQ(select_action(compile(engine, paths), critical).ncast_mask, 0b111);
    paths[1].state = BindingState::Dead;
    EXPECT_EQ(select_action(compile(engine, paths), critical).ncast_mask, 0b101);
    paths[1].state = BindingState::Suspect;  // Suspect is not used while others are Live
    EXPECT_EQ(select_action(compile(engine, paths), critical).ncast_mask, 0b101);
    paths[0].state = BindingState::Dead;
    HoaSnapshot one = compile(engine, paths);
    EXPECT_EQ(select_action(one, critical).ncast_mask, 0);  // one path: plain unicast
    EXPECT_EQ(bid_for(one, critical), 3);
}

TEST_F(PolicyEngineTest, ProfileOverride) {
    std::vector<PathInfo> paths = {{1, wifi(1), BindingState::Live, false},
                                   {2, cellular(1), BindingState::Live, false}};
    HoaSnapshot s = compile(engine, paths, {}, phones);
    EXPECT_EQ(select_action(s, voice_packet()).ncast_mask, 0b11);
    // `any` is prefer there: everything else on wifi.
    auto flows = random_flows(ipproto::kTcp, 21, 1000);
    EXPECT_EQ(share_of(s, flows, 1), 1.0);
    ASSERT_EQ(s.rules.size(), 1u);
    EXPECT_EQ(s.rules[0].fid, 0);
    EXPECT_EQ(s.rules[0].priority, policy::kOperatorRulePriority);
}

TEST_F(PolicyEngineTest, RulesThatChangeNothingAreDropped) {
    // One path: every rule's action equals the default, so the workers see no rules.
    std::vector<PathInfo> paths = {{1, wifi(1), BindingState::Live, false}};
    EXPECT_TRUE(compile(engine, paths).rules.empty());
    EXPECT_TRUE(compile(engine, paths, {}, phones).rules.empty());
    paths.push_back({2, cellular(1), BindingState::Live, false});
    EXPECT_EQ(compile(engine, paths).rules.size(), 3u);  // voice, bulk, critical
}

TEST_F(PolicyEngineTest, NoProfileMeansPreferByClassPreference) {
    config::Policies bare = policies;
    bare.profiles.clear();
    bare.default_profile.reset();
    bare.default_profile_index.reset();
    PolicyEngine plain(bare);
    std::vector<PathInfo> paths = {{1, cellular(1), BindingState::Live, false},
                                   {2, wifi(1), BindingState::Live, false}};
    HoaSnapshot s = compile(plain, paths);
    EXPECT_TRUE(s.rules.empty());
    EXPECT_EQ(bid_for(s, voice_packet()), 2);
    PolicyEngine nothing{config::Policies{}};
    EXPECT_EQ(bid_for(compile(nothing, paths), voice_packet()), 1);  // lowest BID
}

namespace {
mh::TrafficSelector v6_ports(std::uint16_t first, std::uint16_t last) {
    mh::TrafficSelectorV6 ts;
    ts.destination_port = mh::Range<std::uint16_t>{first, last};
    ts.next_header = mh::Range<std::uint8_t>{17, 17};
    return ts;
}
}  // namespace

TEST(TrafficSelectors, V6RangesMapDirectly) {
    mh::TrafficSelectorV6 ts;
    ts.source_address = mh::Range<Ipv6Address>{kCn, kCn};
    ts.ipsec_spi = mh::Range<std::uint32_t>{0x100, 0x1ff};
    ts.flow_label = mh::Range<std::uint32_t>{5, 5};
    ts.traffic_class = mh::Range<std::uint8_t>{0xb8, 0xbb};
    auto s = policy::to_selector(mh::TrafficSelector{ts});
    ASSERT_TRUE(s);
    EXPECT_EQ(s->source.first, kCn);
    EXPECT_EQ(s->source.last, kCn);
    EXPECT_EQ(s->destination.last.bytes[0], 0xff);  // absent: everything
    EXPECT_EQ(s->spi.first, 0x100u);
    EXPECT_EQ(s->spi.last, 0x1ffu);
    EXPECT_EQ(s->flow_label.first, 5u);
    EXPECT_EQ(s->traffic_class.first, 0xb8);
    EXPECT_TRUE(s->needs_ports);
    auto ports = policy::to_selector(v6_ports(5060, 5060));
    EXPECT_TRUE(ports->needs_ports);
    EXPECT_TRUE(matches(*ports, udp_fields(9, 5060)));
    EXPECT_FALSE(matches(*ports, udp_fields(9, 5061)));
    EXPECT_FALSE(policy::to_selector(mh::TrafficSelector{mh::TrafficSelectorV6{}})->needs_ports);
    EXPECT_FALSE(policy::to_selector(mh::TrafficSelector{mh::TrafficSelectorV4{}}));
}

TEST_F(PolicyEngineTest, MnFlowBindingsTakePrecedence) {
    std::vector<PathInfo> paths = {{1, wifi(1), BindingState::Live, false},
                                   {2, cellular(1), BindingState::Live, false}};
    // The operator prefers wifi for voice; the MN binds SIP (5060) to cellular.
    std::vector<MnFlowBinding> flows = {{10, 5, {2}, v6_ports(5060, 5060)}};
    HoaSnapshot s = compile(engine, paths, flows);
    EXPECT_EQ(bid_for(s, voice_packet(5060)), 2);
    EXPECT_EQ(bid_for(s, voice_packet(5061)), 1);  // not bound: operator policy
    ASSERT_FALSE(s.rules.empty());
    EXPECT_EQ(s.rules[0].fid, 10);
    EXPECT_EQ(s.rules[0].priority, 5);

    // Cellular dies: the binding falls back to operator policy instead of dropping.
    paths[1].state = BindingState::Dead;
    s = compile(engine, paths, flows);
    EXPECT_EQ(bid_for(s, voice_packet(5060)), 1);
    for (const auto& r : s.rules) EXPECT_NE(r.fid, 10);
    paths[1].state = BindingState::Live;

    // Bound to both BIDs: bicast (n-cast).
    flows[0].bids = {2, 1, 2};
    s = compile(engine, paths, flows);
    EXPECT_EQ(select_action(s, voice_packet(5060)).ncast_mask, 0b11);

    // Unknown BIDs and IPv4 selectors yield no rule.
    flows = {{11, 1, {99}, v6_ports(5060, 5060)},
             {12, 1, {2}, mh::TrafficSelector{mh::TrafficSelectorV4{}}}};
    s = compile(engine, paths, flows);
    for (const auto& r : s.rules) EXPECT_EQ(r.fid, 0);
}

TEST_F(PolicyEngineTest, MnFlowBindingsInPriorityOrder) {
    std::vector<PathInfo> paths = {{1, wifi(1), BindingState::Live, false},
                                   {2, cellular(1), BindingState::Live, false}};
    // Overlapping selectors: the lower priority value wins, whatever the list order.
    std::vector<MnFlowBinding> flows = {{20, 9, {1}, v6_ports(5000, 6000)},
                                        {21, 3, {2}, v6_ports(5060, 5060)},
                                        {22, 3, {1}, v6_ports(5060, 5061)}};
    HoaSnapshot s = compile(engine, paths, flows);
    ASSERT_GE(s.rules.size(), 3u);
    EXPECT_EQ(s.rules[0].fid, 21);  // priority 3, lower FID first
    EXPECT_EQ(s.rules[1].fid, 22);
    EXPECT_EQ(s.rules[2].fid, 20);
    EXPECT_EQ(bid_for(s, voice_packet(5060)), 2);
    EXPECT_EQ(bid_for(s, voice_packet(5061)), 1);
    EXPECT_EQ(bid_for(s, udp_fields(1, 5500)), 1);
}

TEST(PolicyConfig, ExampleConfigurationCompiles) {
    auto loaded = config::load_config_file(std::string(MONAMI_SOURCE_ROOT) + "/config/monami.yaml");
    ASSERT_TRUE(loaded.ok());
    const config::Config& c = loaded.value();
    PolicyEngine engine(c.policies);
    std::vector<PathInfo> paths = {
        {1, *Ipv6Address::parse("2001:db8:a::1"), BindingState::Live, false},
        {2, *Ipv6Address::parse("2001:db8:d::1"), BindingState::Live, false}};
    EXPECT_EQ(engine.access_class_of(paths[1].care_of), 1u);
    HoaSnapshot s = compile(engine, paths, {}, c.mobile_nodes[0].policy_index);  // phones
    EXPECT_EQ(select_action(s, voice_packet(5070)).ncast_mask, 0b11);
    s = compile(engine, paths);  // default profile: voice, bulk, critical, any weighted
    EXPECT_EQ(s.rules.size(), 3u);
    EXPECT_EQ(bid_for(s, voice_packet(5070)), 1);
}

// docs/policies.md shows YAML; each block must load (with a port added when it has none).
TEST(PolicyConfig, DocumentationExamplesLoad) {
    std::ifstream in(std::string(MONAMI_SOURCE_ROOT) + "/docs/policies.md");
    ASSERT_TRUE(in);
    std::stringstream text;
    text << in.rdbuf();
    std::string doc = text.str();
    unsigned blocks = 0;
    for (std::size_t at = doc.find("```yaml\n"); at != std::string::npos;
         at = doc.find("```yaml\n", at + 1)) {
        std::size_t start = at + 8;
        std::size_t end = doc.find("```", start);
        ASSERT_NE(end, std::string::npos);
        std::string yaml = doc.substr(start, end - start);
        if (yaml.rfind("ports:", 0) != 0 && yaml.find("\nports:") == std::string::npos)
            yaml =
                "ports:\n  - {name: home, device: net_null0, addresses: [\"2001:db8:1::1/64\"]}\n" +
                yaml;
        auto loaded =
            config::load_config_string(yaml, "policies.md block " + std::to_string(blocks));
        if (!loaded.ok())
            for (const auto& e : loaded.error()) ADD_FAILURE() << e.to_string();
        ++blocks;
    }
    EXPECT_EQ(blocks, 3u);
}
