#include <gtest/gtest.h>

#include "controlplane/net/checksum.hpp"
#include "controlplane/net/icmpv6.hpp"
#include "controlplane/net/packet.hpp"

using namespace monami;
using namespace monami::net;

namespace {
const MacAddress kOurMac = *MacAddress::parse("02:00:00:00:00:01");
const MacAddress kPeerMac = *MacAddress::parse("02:00:00:00:00:99");
const Ipv6Address kOurs = *Ipv6Address::parse("2001:db8:1::1");
const Ipv6Address kPeer = *Ipv6Address::parse("2001:db8:1::99");

Ipv6Packet must_parse(const std::vector<std::uint8_t>& frame) {
    auto p = parse_ipv6_frame(frame);
    EXPECT_TRUE(p.ok());
    return p.value();
}
}  // namespace

TEST(Checksum, KnownIcmpv6EchoValue) {
    // Echo request fe80::1 -> fe80::2, id 0x1234 seq 1, no data: checksum computed by hand
    // from the RFC 1071 algorithm over the pseudo-header.
    auto src = *Ipv6Address::parse("fe80::1");
    auto dst = *Ipv6Address::parse("fe80::2");
    std::uint8_t msg[8] = {128, 0, 0, 0, 0x12, 0x34, 0x00, 0x01};
    std::uint16_t sum = ipv6_upper_layer_checksum(src, dst, 58, msg);
    // pseudo: fe80+0001+fe80+0002 + 0008 + 003a ; msg: 8000+1234+0001
    std::uint32_t manual =
        0xfe80 + 0x0001 + 0xfe80 + 0x0002 + 0x0008 + 0x003a + 0x8000 + 0x1234 + 0x0001;
    while (manual >> 16) manual = (manual & 0xffff) + (manual >> 16);
    EXPECT_EQ(sum, static_cast<std::uint16_t>(~manual));
    store_be16(msg + 2, sum);
    EXPECT_EQ(ipv6_upper_layer_checksum(src, dst, 58, msg), 0);
}

TEST(NeighborDiscovery, SolicitationRoundTrip) {
    auto frame = build_neighbor_solicitation(kPeerMac, kPeer, kOurs);
    auto p = must_parse(frame);
    EXPECT_EQ(p.destination, kOurs.solicited_node());
    EXPECT_EQ(p.eth_destination.to_string(), "33:33:ff:00:00:01");
    auto m = parse_icmpv6(p);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->type, icmp6::kNeighborSolicitation);
    auto ns = parse_neighbor_solicitation(p, *m);
    ASSERT_TRUE(ns.ok());
    EXPECT_EQ(ns->target, kOurs);
    ASSERT_TRUE(ns->source_link_layer);
    EXPECT_EQ(*ns->source_link_layer, kPeerMac);
}

TEST(NeighborDiscovery, AdvertisementRoundTrip) {
    NeighborAdvertisement na{false, true, true, kOurs, kOurMac};
    auto frame = build_neighbor_advertisement(kPeerMac, kOurMac, kOurs, kPeer, na);
    auto p = must_parse(frame);
    auto m = parse_icmpv6(p);
    ASSERT_TRUE(m.ok());
    auto back = parse_neighbor_advertisement(p, *m);
    ASSERT_TRUE(back.ok());
    EXPECT_TRUE(back->solicited);
    EXPECT_TRUE(back->override_flag);
    EXPECT_FALSE(back->router);
    EXPECT_EQ(back->target, kOurs);
    EXPECT_EQ(*back->target_link_layer, kOurMac);
}

TEST(NeighborDiscovery, RejectsBadHopLimitCodeAndChecksum) {
    auto frame = build_neighbor_solicitation(kPeerMac, kPeer, kOurs);
    auto hop = frame;
    hop[kEthernetHeaderSize + 7] = 64;  // hop limit != 255 (checksum unaffected)
    auto p = must_parse(hop);
    auto m = parse_icmpv6(p);
    ASSERT_TRUE(m.ok());
    auto ns = parse_neighbor_solicitation(p, *m);
    ASSERT_FALSE(ns.ok());
    EXPECT_EQ(ns.error(), PacketError::BadHopLimit);

    auto sum = frame;
    sum.back() ^= 0x01;
    auto p2 = must_parse(sum);
    auto m2 = parse_icmpv6(p2);
    ASSERT_FALSE(m2.ok());
    EXPECT_EQ(m2.error(), PacketError::BadChecksum);
}

TEST(NeighborDiscovery, DadProbeRules) {
    // DAD probe from :: with a source link-layer option is invalid (RFC 4861 s.7.1.1).
    std::uint8_t body[28] = {};
    kOurs.copy_to(body + 4);
    body[20] = 1;  // Source Link-Layer Address
    body[21] = 1;
    const Ipv6Address group = kOurs.solicited_node();
    auto frame = build_icmpv6_frame(MacAddress::for_ipv6_multicast(group), kPeerMac, Ipv6Address{},
                                    group, 255, icmp6::kNeighborSolicitation, 0, body);
    auto p = must_parse(frame);
    auto m = parse_icmpv6(p);
    ASSERT_TRUE(m.ok());
    auto ns = parse_neighbor_solicitation(p, *m);
    ASSERT_FALSE(ns.ok());
    EXPECT_EQ(ns.error(), PacketError::BadSourceForDad);
    // The builder's probe leaves the option out, so it is valid.
    auto probe = build_neighbor_solicitation(kPeerMac, Ipv6Address{}, kOurs);
    auto pp = must_parse(probe);
    auto pm = parse_icmpv6(pp);
    ASSERT_TRUE(pm.ok());
    EXPECT_EQ(pm->body.size(), 20u);
    auto valid = parse_neighbor_solicitation(pp, *pm);
    ASSERT_TRUE(valid.ok());
    EXPECT_EQ(valid->target, kOurs);
    EXPECT_FALSE(valid->source_link_layer);
}

TEST(NeighborDiscovery, ZeroLengthOptionRejected) {
    std::uint8_t body[28] = {};
    kOurs.copy_to(body + 4);
    body[20] = 1;
    body[21] = 0;  // length 0 must be discarded
    auto frame = build_icmpv6_frame(kOurMac, kPeerMac, kPeer, kOurs.solicited_node(), 255,
                                    icmp6::kNeighborSolicitation, 0, body);
    auto p = must_parse(frame);
    auto m = parse_icmpv6(p);
    ASSERT_TRUE(m.ok());
    auto ns = parse_neighbor_solicitation(p, *m);
    ASSERT_FALSE(ns.ok());
    EXPECT_EQ(ns.error(), PacketError::BadOption);
}

TEST(Echo, ReplyMirrorsRequest) {
    std::uint8_t body[12] = {0xab, 0xcd, 0x00, 0x07, 'h', 'e', 'l', 'l', 'o', '!', '!', '!'};
    auto req =
        build_icmpv6_frame(kOurMac, kPeerMac, kPeer, kOurs, 64, icmp6::kEchoRequest, 0, body);
    auto p = must_parse(req);
    auto m = parse_icmpv6(p);
    ASSERT_TRUE(m.ok());
    auto reply = build_echo_reply(p, *m, kOurMac);
    auto rp = must_parse(reply);
    EXPECT_EQ(rp.source, kOurs);
    EXPECT_EQ(rp.destination, kPeer);
    EXPECT_EQ(rp.eth_destination, kPeerMac);
    auto rm = parse_icmpv6(rp);
    ASSERT_TRUE(rm.ok());
    EXPECT_EQ(rm->type, icmp6::kEchoReply);
    EXPECT_TRUE(std::equal(rm->body.begin(), rm->body.end(), body));
}

TEST(Frames, TruncatedAndWrongEthertype) {
    std::vector<std::uint8_t> tiny(20, 0);
    EXPECT_EQ(parse_ipv6_frame(tiny).error(), PacketError::TooShort);
    auto frame = build_neighbor_solicitation(kPeerMac, kPeer, kOurs);
    auto v4 = frame;
    v4[12] = 0x08;
    v4[13] = 0x00;
    EXPECT_EQ(parse_ipv6_frame(v4).error(), PacketError::NotIpv6);
    auto cut = frame;
    cut.resize(cut.size() - 4);
    EXPECT_EQ(parse_ipv6_frame(cut).error(), PacketError::BadPayloadLength);
}
