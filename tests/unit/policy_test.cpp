#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <vector>

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
