#include <gtest/gtest.h>

#include <set>

#include "controlplane/ha/home_agent.hpp"
#include "controlplane/mh/exthdr.hpp"
#include "controlplane/mh/parser.hpp"
#include "controlplane/net/checksum.hpp"
#include "controlplane/net/icmpv6.hpp"
#include "controlplane/net/packet.hpp"
#include "tests/unit/fake_store.hpp"
#include "tests/unit/recording_dataplane.hpp"

using namespace monami;

namespace {

using monami::test_support::RecordingDataPlane;

const MacAddress kGwMac = *MacAddress::parse("02:00:00:00:00:01");
const MacAddress kHostMac = *MacAddress::parse("02:00:00:00:00:99");
const Ipv6Address kGw = *Ipv6Address::parse("2001:db8:1::1");
const Ipv6Address kHost = *Ipv6Address::parse("2001:db8:1::99");

ha::HaSettings settings() {
    ha::HaSettings s;
    s.duplicate_address_detection = false;  // BAs at once; DAD has its own tests
    s.interfaces.push_back({0, "home", kGwMac, {{kGw, 64}}, 1500});
    s.static_routes.push_back(
        {*Ipv6Prefix::parse("2001:db8:cafe::/48"), 0, *Ipv6Address::parse("2001:db8:1::fe")});
    return s;
}

}  // namespace

TEST(HomeAgent, PublishesConnectedAndStaticRoutesAtStart) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(settings(), dp);
    agent.start(0);
    ASSERT_EQ(dp.published.size(), 1u);
    const auto& st = dp.published[0];
    ASSERT_EQ(st.routes.size(), 2u);
    EXPECT_EQ(st.routes[0].prefix.to_string(), "2001:db8:1::/64");
    EXPECT_EQ(st.routes[1].prefix.to_string(), "2001:db8:cafe::/48");
    // The global address and the derived EUI-64 link-local one are local.
    ASSERT_EQ(st.local_addresses.size(), 2u);
    EXPECT_EQ(st.local_addresses[1].to_string(), "fe80::ff:fe00:1");
}

TEST(HomeAgent, AnswersSolicitationAndLearnsSender) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(settings(), dp);
    agent.start(0);
    auto ns = net::build_neighbor_solicitation(kHostMac, kHost, kGw);
    agent.on_frame(0, PuntReason::Local, 0, ns, 1);
    ASSERT_EQ(dp.sent.size(), 1u);
    auto p = net::parse_ipv6_frame(dp.sent[0].second);
    ASSERT_TRUE(p.ok());
    EXPECT_EQ(p->destination, kHost);
    EXPECT_EQ(p->eth_destination, kHostMac);
    auto m = net::parse_icmpv6(*p);
    ASSERT_TRUE(m.ok());
    auto na = net::parse_neighbor_advertisement(*p, *m);
    ASSERT_TRUE(na.ok());
    EXPECT_TRUE(na->solicited);
    EXPECT_EQ(na->target, kGw);
    EXPECT_EQ(*na->target_link_layer, kGwMac);
    // The sender's link-layer address was learned and published as one entry: the routes
    // (and the LPM table) are not built again.
    ASSERT_EQ(dp.published.size(), 1u);
    ASSERT_EQ(dp.neighbors.size(), 1u);
    EXPECT_EQ(dp.neighbors[0].address, kHost);
    EXPECT_EQ(dp.neighbors[0].mac, kHostMac);
    EXPECT_EQ(agent.counters().neighbor_solicitations_answered, 1u);
}

TEST(HomeAgent, IgnoresSolicitationForForeignTarget) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(settings(), dp);
    auto ns =
        net::build_neighbor_solicitation(kHostMac, kHost, *Ipv6Address::parse("2001:db8:1::5"));
    agent.on_frame(0, PuntReason::Local, 0, ns, 1);
    EXPECT_TRUE(dp.sent.empty());
    EXPECT_EQ(agent.counters().not_handled, 1u);
}

TEST(HomeAgent, RepliesToEcho) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(settings(), dp);
    std::uint8_t body[6] = {0, 1, 0, 2, 'x', 'y'};
    auto req = net::build_icmpv6_frame(kGwMac, kHostMac, kHost, kGw, 64, net::icmp6::kEchoRequest,
                                       0, body);
    agent.on_frame(0, PuntReason::Local, 0, req, 1);
    ASSERT_EQ(dp.sent.size(), 1u);
    auto p = net::parse_ipv6_frame(dp.sent[0].second);
    auto m = net::parse_icmpv6(*p);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->type, net::icmp6::kEchoReply);
    EXPECT_EQ(agent.counters().echo_replies, 1u);
}

TEST(HomeAgent, ResolvesNextHopOncePerRetryInterval) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(settings(), dp);
    agent.start(0);
    std::uint8_t body[4] = {};
    auto pkt =
        net::build_icmpv6_frame(kGwMac, kHostMac, kHost, *Ipv6Address::parse("2001:db8:cafe::7"),
                                64, net::icmp6::kEchoRequest, 0, body);
    agent.on_frame(0, PuntReason::NeedsResolution, 0, pkt, 1000);
    agent.on_frame(0, PuntReason::NeedsResolution, 0, pkt, 1500);
    ASSERT_EQ(dp.sent.size(), 1u);  // second one within RetransTimer
    auto p = net::parse_ipv6_frame(dp.sent[0].second);
    auto m = net::parse_icmpv6(*p);
    auto ns = net::parse_neighbor_solicitation(*p, *m);
    ASSERT_TRUE(ns.ok());
    EXPECT_EQ(ns->target.to_string(), "2001:db8:1::fe");  // the route's next hop
    agent.on_frame(0, PuntReason::NeedsResolution, 0, pkt, 2100);
    EXPECT_EQ(dp.sent.size(), 2u);
    EXPECT_EQ(agent.counters().unresolved_drops, 3u);

    // The answer is learned and published.
    net::NeighborAdvertisement na{true, true, true, *Ipv6Address::parse("2001:db8:1::fe"),
                                  kHostMac};
    auto frame = net::build_neighbor_advertisement(kGwMac, kHostMac,
                                                   *Ipv6Address::parse("2001:db8:1::fe"), kGw, na);
    agent.on_frame(0, PuntReason::Local, 0, frame, 2200);
    ASSERT_EQ(dp.neighbors.size(), 1u);
    EXPECT_EQ(dp.neighbors[0].address, *Ipv6Address::parse("2001:db8:1::fe"));
    EXPECT_EQ(dp.neighbors[0].mac, kHostMac);
}

// ---- Home agent role -------------------------------------------------------------------

namespace {

const Ipv6Address kHoa = *Ipv6Address::parse("2001:db8:1::100");
const Ipv6Address kCoa1 = *Ipv6Address::parse("2001:db8:a::100");
const Ipv6Address kCoa2 = *Ipv6Address::parse("2001:db8:b::100");
const MacAddress kRouterMac = *MacAddress::parse("02:00:00:00:00:fe");

// A home link (port 0) and an access link (port 1) whose router is resolved statically.
ha::HaSettings ha_settings() {
    ha::HaSettings s;
    s.duplicate_address_detection = false;  // BAs at once; DAD has its own tests
    s.interfaces.push_back({0, "home", kGwMac, {{kGw, 64}}, 1500});
    s.interfaces.push_back({1,
                            "access",
                            *MacAddress::parse("02:00:00:00:00:02"),
                            {{*Ipv6Address::parse("2001:db8:f::1"), 64}},
                            1500});
    auto router = *Ipv6Address::parse("2001:db8:f::fe");
    s.static_routes.push_back({*Ipv6Prefix::parse("2001:db8::/32"), 1, router});
    s.static_neighbors.push_back({router, 1, kRouterMac});
    s.ha_addresses = {kGw};
    s.home_prefixes = {*Ipv6Prefix::parse("2001:db8:1::/64")};
    s.preference = 10;
    s.peer_home_agents = {{*Ipv6Address::parse("2001:db8:1::2"), 20},
                          {*Ipv6Address::parse("2001:db8:1::3"), 5}};
    s.bindings.max_lifetime_s = 400;
    s.tunnel = {64, 4, 1400};
    return s;
}

std::vector<std::uint8_t> with_ethernet(const std::vector<std::uint8_t>& ip, const MacAddress& src,
                                        const MacAddress& dst) {
    std::vector<std::uint8_t> frame(net::kEthernetHeaderSize);
    net::write_ethernet_header(frame.data(), dst, src);
    frame.insert(frame.end(), ip.begin(), ip.end());
    return frame;
}

std::vector<std::uint8_t> bulk_bu(std::uint16_t seq, std::uint16_t lifetime_4s) {
    mh::BindingUpdate bu;
    bu.sequence = seq;
    bu.ack_requested = true;
    bu.home_registration = true;
    bu.lifetime_4s = lifetime_4s;
    bu.options.binding_ids = {{1, 0, false, false, kCoa1, {}}, {2, 0, false, false, kCoa2, {}}};
    return with_ethernet(mh::build_bu_packet(bu, kCoa1, kGw, kHoa), kRouterMac,
                         *MacAddress::parse("02:00:00:00:00:02"));
}

// The Mobility Header of a frame the agent sent, parsed with the checksum addresses the
// extension headers give.
std::optional<mh::ParsedMh> sent_mh(const std::vector<std::uint8_t>& frame) {
    std::span<const std::uint8_t> ip(frame.data() + net::kEthernetHeaderSize,
                                     frame.size() - net::kEthernetHeaderSize);
    auto chain = mh::walk_ipv6_headers(ip);
    if (!chain || chain->upper_layer_protocol != net::kProtoMobility) return std::nullopt;
    auto parsed = mh::parse_mh(chain->upper_layer(ip), chain->checksum_source(),
                               chain->checksum_destination());
    if (!parsed) return std::nullopt;
    return parsed.value();
}

}  // namespace

TEST(HomeAgentMobility, BulkRegistrationPublishesTunnelPathsAndAnswers) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(), dp);
    agent.start(0);
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(7, 50), 1000);

    // The BA goes back to the router it came from, to CoA1, with both BIDs accepted.
    ASSERT_FALSE(dp.sent.empty());
    auto ba_frame = dp.sent.back();
    EXPECT_EQ(ba_frame.first, 1);
    EXPECT_EQ(MacAddress::from_bytes(ba_frame.second.data()), kRouterMac);
    auto ba = sent_mh(ba_frame.second);
    ASSERT_TRUE(ba);
    const auto& ack = std::get<mh::BindingAck>(ba->message);
    EXPECT_EQ(ack.status, 0);
    EXPECT_EQ(ack.sequence, 7);
    EXPECT_EQ(ack.lifetime_4s, 50);
    ASSERT_EQ(ack.options.binding_ids.size(), 2u);

    // The snapshot: two tunnel paths, each with a ready header towards its CoA.
    ASSERT_EQ(dp.hoas.count(kHoa), 1u);
    const HoaSnapshot& snap = *dp.hoas[kHoa];
    ASSERT_EQ(snap.path_count, 2);
    for (const auto& path : snap.paths) {
        EXPECT_FALSE(path.native);
        EXPECT_EQ(path.port, 1);
        EXPECT_EQ(path.mtu, 1400);
        EXPECT_EQ(path.header_length, 14 + 40 + 8);
        EXPECT_EQ(MacAddress::from_bytes(path.header), kRouterMac);
        net::Ipv6HeaderView outer{path.header + 14};
        EXPECT_EQ(outer.source(), kGw);
        EXPECT_EQ(outer.destination(), path.care_of);
        EXPECT_EQ(outer.next_header(), net::kProtoDestinationOptions);
        EXPECT_EQ(path.header[54 + 2], 4);  // Tunnel Encapsulation Limit option
        EXPECT_EQ(path.header[54 + 4], 4);  // limit
    }
    // Every flow-hash slot leads to one of the two paths.
    for (unsigned s = 0; s < kChoiceSlots; ++s) EXPECT_LT(snap.default_action.choice[s], 2);
    EXPECT_TRUE(agent.is_proxied(kHoa));
    EXPECT_EQ(agent.binding_rows(kHoa, 1000).size(), 2u);

    // Deregistration withdraws the snapshot and stops proxy ND.
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(8, 0), 2000);
    EXPECT_EQ(dp.hoas.count(kHoa), 0u);
    ASSERT_EQ(dp.withdrawn.size(), 1u);
    EXPECT_FALSE(agent.is_proxied(kHoa));
}

namespace {

std::size_t unsolicited_nas(const RecordingDataPlane& dp) {
    std::size_t count = 0;
    for (const auto& [port, frame] : dp.sent) {
        auto packet = net::parse_ipv6_frame(frame);
        // ICMPv6 type 136 to all-nodes: the HA announcing itself for a HoA.
        if (port == 0 && packet && packet->next_header == net::kProtoIcmpv6 &&
            !packet->payload.empty() && packet->payload[0] == 136 &&
            packet->destination == *Ipv6Address::parse("ff02::1"))
            ++count;
    }
    return count;
}

}  // namespace

TEST(HomeAgentMobility, RefreshKeepsTheSnapshotAndSendsNoSecondNeighborAdvertisement) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(), dp);
    agent.start(0);
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(1, 50), 1000);
    ASSERT_EQ(dp.hoas.count(kHoa), 1u);
    const HoaSnapshot* first = dp.hoas[kHoa].get();
    // RFC 6275 s.10.4.1: the HA announces itself on the home link when it begins to defend
    // the HoA.
    EXPECT_EQ(unsolicited_nas(dp), 1u);
    EXPECT_EQ(agent.counters().snapshots_published, 1u);

    // A refresh from the same CoAs: a BA with the new lifetime, the binding's expiry moves,
    // but the workers' snapshot stays and the HoA is not announced again.
    dp.sent.clear();
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(2, 75), 100'000);
    ASSERT_FALSE(dp.sent.empty());
    auto ba = sent_mh(dp.sent.back().second);
    ASSERT_TRUE(ba);
    EXPECT_EQ(std::get<mh::BindingAck>(ba->message).status, 0);
    EXPECT_EQ(std::get<mh::BindingAck>(ba->message).lifetime_4s, 75);
    EXPECT_EQ(unsolicited_nas(dp), 0u);
    EXPECT_EQ(dp.hoas[kHoa].get(), first);
    EXPECT_EQ(agent.counters().snapshots_published, 1u);
    EXPECT_EQ(agent.counters().snapshots_unchanged, 1u);
    const bcache::HoaEntry* entry = agent.binding_cache().find(kHoa);
    ASSERT_NE(entry, nullptr);
    for (const auto& b : entry->bindings) EXPECT_EQ(b.expiry_ms, 100'000u + 75 * 4000);
    // The timers moved with it: still bound after the first lifetime (200 s) ended.
    agent.on_tick(250'000);
    EXPECT_EQ(dp.hoas.count(kHoa), 1u);
    EXPECT_EQ(agent.counters().bindings_expired, 0u);

    // A CoA change is published at once (and the HoA, still defended, is not announced).
    dp.sent.clear();
    mh::BindingUpdate bu;
    bu.sequence = 3;
    bu.ack_requested = true;
    bu.home_registration = true;
    bu.lifetime_4s = 75;
    const Ipv6Address moved = *Ipv6Address::parse("2001:db8:c::100");
    bu.options.binding_ids = {{1, 0, false, false, moved, {}}};
    agent.on_frame(1, PuntReason::Local, 0,
                   with_ethernet(mh::build_bu_packet(bu, moved, kGw, kHoa), kRouterMac,
                                 *MacAddress::parse("02:00:00:00:00:02")),
                   260'000);
    EXPECT_EQ(agent.counters().snapshots_published, 2u);
    ASSERT_EQ(dp.hoas.count(kHoa), 1u);
    bool found = false;
    for (const auto& p : dp.hoas[kHoa]->paths) found |= p.bid == 1 && p.care_of == moved;
    EXPECT_TRUE(found);
    EXPECT_EQ(unsolicited_nas(dp), 0u);

    // After a de-registration, a new home registration is announced again.
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(4, 0), 270'000);
    EXPECT_FALSE(agent.is_proxied(kHoa));
    dp.sent.clear();
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(5, 50), 280'000);
    EXPECT_EQ(unsolicited_nas(dp), 1u);
    EXPECT_EQ(agent.counters().snapshots_published, 3u);
}

TEST(HomeAgentMobility, SameForwardingComparesEveryField) {
    HoaSnapshot a{};
    a.home_address = kHoa;
    a.path_count = 1;
    a.paths.resize(1);
    a.paths[0].care_of = kCoa1;
    a.rules.resize(1);
    a.network_prefixes = {*Ipv6Prefix::parse("2001:db8:77::/48")};
    HoaSnapshot b = a;
    b.generation = a.generation + 1;
    EXPECT_TRUE(ha::same_forwarding(a, b));  // the generation is no forwarding state
    auto differs = [&](auto change) {
        HoaSnapshot c = a;
        change(c);
        return !ha::same_forwarding(a, c);
    };
    EXPECT_TRUE(differs([](HoaSnapshot& c) { c.default_action.choice[63] = 1; }));
    EXPECT_TRUE(differs([](HoaSnapshot& c) { c.default_action.ncast_mask = 3; }));
    EXPECT_TRUE(differs([](HoaSnapshot& c) { c.paths[0].header[61] = 1; }));
    EXPECT_TRUE(differs([](HoaSnapshot& c) { c.paths[0].state = BindingState::Suspect; }));
    EXPECT_TRUE(differs([](HoaSnapshot& c) { c.paths[0].counter_slot = 9; }));
    EXPECT_TRUE(differs([](HoaSnapshot& c) { c.paths[0].care_of = kCoa2; }));
    EXPECT_TRUE(differs([](HoaSnapshot& c) { c.paths[0].mtu = 1280; }));
    EXPECT_TRUE(differs([](HoaSnapshot& c) { c.paths.emplace_back(); }));
    EXPECT_TRUE(differs([](HoaSnapshot& c) {
        c.rules[0].selector.destination_port = {5004, 5004};
    }));
    EXPECT_TRUE(differs([](HoaSnapshot& c) { c.rules[0].priority = 2; }));
    EXPECT_TRUE(differs([](HoaSnapshot& c) { c.network_prefixes.clear(); }));
}

TEST(HomeAgentMobility, NeighborChangeRepublishesOnlyTheHoasBehindIt) {
    // The access router is learned by ND here (not static): the HoA's tunnel headers wait
    // for it, while a host appearing on the home link concerns no HoA.
    auto s = ha_settings();
    s.static_neighbors.clear();
    RecordingDataPlane dp;
    ha::HomeAgent agent(s, dp);
    agent.start(0);
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(1, 50), 1000);
    ASSERT_EQ(dp.hoas.count(kHoa), 1u);
    auto published = agent.counters().snapshots_published;

    auto ns = net::build_neighbor_solicitation(kHostMac, kHost, kGw);  // learns kHost
    agent.on_frame(0, PuntReason::Local, 0, ns, 1100);
    EXPECT_EQ(agent.counters().snapshots_published, published);

    auto router = *Ipv6Address::parse("2001:db8:f::fe");
    net::NeighborAdvertisement na{true, true, true, router, kRouterMac};
    agent.on_frame(
        1, PuntReason::Local, 0,
        net::build_neighbor_advertisement(*MacAddress::parse("02:00:00:00:00:02"), kRouterMac,
                                          router, *Ipv6Address::parse("2001:db8:f::1"), na),
        1200);
    EXPECT_EQ(agent.counters().snapshots_published, published + 1);
    EXPECT_EQ(MacAddress::from_bytes(dp.hoas[kHoa]->paths[0].header), kRouterMac);
}

TEST(HomeAgentMobility, RejectionChangesNothingAndIsAnswered) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(), dp);
    mh::BindingUpdate bu;
    bu.sequence = 1;
    bu.ack_requested = true;
    bu.home_registration = true;
    bu.lifetime_4s = 10;
    auto foreign = *Ipv6Address::parse("2001:db8:99::5");  // not in the home prefix
    agent.on_frame(1, PuntReason::Local, 0,
                   with_ethernet(mh::build_bu_packet(bu, kCoa1, kGw, foreign), kRouterMac,
                                 *MacAddress::parse("02:00:00:00:00:02")),
                   1000);
    ASSERT_EQ(dp.sent.size(), 1u);
    auto ba = sent_mh(dp.sent[0].second);
    ASSERT_TRUE(ba);
    EXPECT_EQ(std::get<mh::BindingAck>(ba->message).status, mh::ba_status::kNotHomeSubnet);
    EXPECT_TRUE(dp.hoas.empty());
}

// A BU from CoA1 for kHoa whose one Binding Identifier option has `bid_length` bytes of
// body: the MH built byte by byte (our codec writes only valid lengths), padded to 8n.
std::vector<std::uint8_t> bu_with_bid_length(std::uint16_t seq, std::uint8_t bid_length) {
    mh::BindingUpdate empty;
    empty.sequence = seq;
    empty.ack_requested = true;
    empty.home_registration = true;
    auto valid = mh::build_bu_packet(empty, kCoa1, kGw, kHoa);
    auto chain = mh::walk_ipv6_headers(valid);
    std::vector<std::uint8_t> ip(
        valid.begin(), valid.begin() + static_cast<std::ptrdiff_t>(chain->upper_layer_offset));
    std::vector<std::uint8_t> mh = {59,
                                    0,
                                    5,
                                    0,
                                    0,
                                    0,  // header, checksum later
                                    static_cast<std::uint8_t>(seq >> 8),
                                    static_cast<std::uint8_t>(seq),
                                    0xc0,
                                    0,
                                    0,
                                    10};
    mh.push_back(35);
    mh.push_back(bid_length);
    for (std::uint8_t i = 0; i < bid_length; ++i) mh.push_back(i == 1 ? 1 : 0);  // BID 1
    const std::size_t pad = (8 - mh.size() % 8) % 8;
    if (pad == 1) mh.push_back(0);
    if (pad > 1) {
        mh.push_back(1);
        mh.push_back(static_cast<std::uint8_t>(pad - 2));
        mh.insert(mh.end(), pad - 2, 0);
    }
    mh[1] = static_cast<std::uint8_t>(mh.size() / 8 - 1);
    net::store_be16(mh.data() + 4, net::ipv6_upper_layer_checksum(kHoa, kGw, 135, mh));
    ip.insert(ip.end(), mh.begin(), mh.end());
    net::store_be16(ip.data() + 4, static_cast<std::uint16_t>(ip.size() - 40));
    return with_ethernet(ip, kRouterMac, *MacAddress::parse("02:00:00:00:00:02"));
}

TEST(HomeAgentMobility, BindingIdentifierOfWrongLengthIsRejectedWithMcoaMalformed) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(), dp);
    agent.start(0);
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(7, 50), 1000);
    const std::string before = agent.binding_cache().dump();
    const auto published = agent.counters().snapshots_published;
    for (std::uint8_t length : {3, 5, 12, 21}) {  // RFC 5648: only 4, 8 and 20 exist
        dp.sent.clear();
        agent.on_frame(1, PuntReason::Local, 0, bu_with_bid_length(20 + length, length), 2000);
        ASSERT_EQ(dp.sent.size(), 1u) << int{length};
        auto ba = sent_mh(dp.sent[0].second);
        ASSERT_TRUE(ba) << int{length};
        const auto& ack = std::get<mh::BindingAck>(ba->message);
        EXPECT_EQ(ack.status, mh::ba_status::kMcoaMalformed) << int{length};
        EXPECT_EQ(ack.sequence, 20 + length);
        EXPECT_EQ(ack.lifetime_4s, 0);
        // Back to the CoA, the HoA in the type 2 routing header, the way the BU came.
        EXPECT_EQ(MacAddress::from_bytes(dp.sent[0].second.data()), kRouterMac);
        std::span<const std::uint8_t> ip(dp.sent[0].second.data() + net::kEthernetHeaderSize,
                                         dp.sent[0].second.size() - net::kEthernetHeaderSize);
        auto chain = mh::walk_ipv6_headers(ip);
        ASSERT_TRUE(chain);
        EXPECT_EQ(chain->destination, kCoa1);
        EXPECT_EQ(chain->type2_routing_address, kHoa);
    }
    EXPECT_EQ(agent.binding_cache().dump(), before);  // nothing changed
    EXPECT_EQ(agent.counters().snapshots_published, published);
    EXPECT_EQ(agent.counters().mh_malformed, 4u);
}

TEST(HomeAgentMobility, BadPayloadProtoOrHeaderLenGetsAParameterProblemPointingAtIt) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(), dp);
    agent.start(0);
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(7, 50), 1000);
    const std::string before = agent.binding_cache().dump();
    mh::BindingUpdate bu;
    bu.sequence = 9;
    bu.ack_requested = true;
    bu.home_registration = true;
    const auto valid = mh::build_bu_packet(bu, kCoa1, kGw, kHoa);
    const auto chain = mh::walk_ipv6_headers(valid);
    ASSERT_TRUE(chain);
    const std::size_t mh_at = chain->upper_layer_offset;
    // (field, the broken message) -> the pointer RFC 6275 s.9.2 asks for.
    auto broken = [&](bool short_header) {
        std::vector<std::uint8_t> ip(valid.begin(), valid.end());
        if (short_header) {
            ip.resize(mh_at + 8);  // Header Len 0: 8 bytes, a BU needs 12
            ip[mh_at + 1] = 0;
            net::store_be16(ip.data() + 4, static_cast<std::uint16_t>(ip.size() - 40));
        } else {
            ip[mh_at] = 58;  // Payload Proto must be 59
        }
        ip[mh_at + 4] = ip[mh_at + 5] = 0;
        std::span<const std::uint8_t> mh(ip.data() + mh_at, ip.size() - mh_at);
        net::store_be16(ip.data() + mh_at + 4, net::ipv6_upper_layer_checksum(kHoa, kGw, 135, mh));
        return with_ethernet(ip, kRouterMac, *MacAddress::parse("02:00:00:00:00:02"));
    };
    for (bool short_header : {false, true}) {
        dp.sent.clear();
        agent.on_frame(1, PuntReason::Local, 0, broken(short_header), 2000);
        ASSERT_EQ(dp.sent.size(), 1u) << short_header;
        auto p = net::parse_ipv6_frame(dp.sent[0].second);
        ASSERT_TRUE(p.ok());
        EXPECT_EQ(p->destination, kCoa1);  // to the packet's source (RFC 4443)
        auto m = net::parse_icmpv6(*p);
        ASSERT_TRUE(m.ok());
        EXPECT_EQ(m->type, net::icmp6::kParameterProblem);
        EXPECT_EQ(m->code, 0);
        EXPECT_EQ(net::load_be32(m->body.data()), mh_at + (short_header ? 1 : 0));
    }
    EXPECT_EQ(agent.counters().icmp_errors_sent, 2u);
    EXPECT_EQ(agent.binding_cache().dump(), before);
}

TEST(HomeAgentDiscovery, MobilePrefixSolicitationFromACareOfAddressIsAnsweredThere) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(), dp);
    agent.start(0);
    const std::uint8_t solicitation[] = {0x12, 0x34, 0, 0};  // Identifier, Reserved
    const auto mps = with_ethernet(
        mh::build_ipv6_icmpv6_packet(net::icmp6::kMobilePrefixSolicitation, 0, solicitation,
                                     {kCoa1, kGw, kHoa, std::nullopt, 64}),
        kRouterMac, *MacAddress::parse("02:00:00:00:00:02"));
    // Not registered yet: no advertisement, a Binding Error status 1 (RFC 6275 s.9.3.1).
    agent.on_frame(1, PuntReason::Local, 0, mps, 500);
    ASSERT_EQ(dp.sent.size(), 1u);
    auto be = sent_mh(dp.sent[0].second);
    ASSERT_TRUE(be);
    ASSERT_TRUE(std::holds_alternative<mh::BindingError>(be->message));
    EXPECT_EQ(std::get<mh::BindingError>(be->message).status,
              mh::be_status::kUnknownHomeAddressBinding);
    EXPECT_EQ(std::get<mh::BindingError>(be->message).home_address, kHoa);
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(7, 50), 1000);
    dp.sent.clear();
    agent.on_frame(1, PuntReason::Local, 0, mps, 2000);
    ASSERT_EQ(dp.sent.size(), 1u);
    EXPECT_EQ(dp.sent[0].first, 1);
    std::span<const std::uint8_t> ip(dp.sent[0].second.data() + net::kEthernetHeaderSize,
                                     dp.sent[0].second.size() - net::kEthernetHeaderSize);
    auto chain = mh::walk_ipv6_headers(ip);
    ASSERT_TRUE(chain);
    EXPECT_EQ(chain->source, kGw);
    EXPECT_EQ(chain->destination, kCoa1);
    EXPECT_EQ(chain->type2_routing_address, kHoa);  // RFC 6275 s.6.8: MUST
    ASSERT_EQ(chain->upper_layer_protocol, net::kProtoIcmpv6);
    auto icmp = chain->upper_layer(ip);
    EXPECT_EQ(net::ipv6_upper_layer_checksum(kGw, kHoa, net::kProtoIcmpv6, icmp), 0);
    ASSERT_EQ(icmp.size(), 8u + 32u);
    EXPECT_EQ(icmp[0], net::icmp6::kMobilePrefixAdvertisement);
    EXPECT_EQ(icmp[4], 0x12);  // the Identifier echoed
    EXPECT_EQ(icmp[5], 0x34);
    EXPECT_EQ(icmp[8], 3);                                      // Prefix Information
    EXPECT_EQ(icmp[10], 64);                                    // 2001:db8:1::/64
    EXPECT_EQ(Ipv6Address::from_bytes(icmp.data() + 24), kGw);  // R: the HA's address
    EXPECT_EQ(agent.counters().mobile_prefix_advertisements, 1u);
}

TEST(HomeAgentMobility, ExpiryWithdrawsAndRefreshRequestComesFirst) {
    auto s = ha_settings();
    s.bindings.refresh_request_before_expiry_s = 20;
    RecordingDataPlane dp;
    ha::HomeAgent agent(s, dp);
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(1, 15), 0);  // 60 s
    dp.sent.clear();
    agent.on_tick(45'000);             // within 20 s of expiry: one BRR per binding
    std::vector<std::uint16_t> named;  // RFC 5648 s.6.4: each BRR names its binding's BID
    for (const auto& [port, frame] : dp.sent) {
        auto m = sent_mh(frame);
        ASSERT_TRUE(m);  // BRRs, and heartbeats when failure detection is on
        if (m->type != mh::MhType::BindingRefreshRequest) continue;
        const auto& brr = std::get<mh::BindingRefreshRequest>(m->message);
        ASSERT_EQ(brr.options.binding_ids.size(), 1u);
        named.push_back(brr.options.binding_ids[0].bid);
    }
    std::sort(named.begin(), named.end());
    EXPECT_EQ(named, (std::vector<std::uint16_t>{1, 2}));
    EXPECT_EQ(dp.hoas.count(kHoa), 1u);
    agent.on_tick(61'000);
    EXPECT_EQ(dp.hoas.count(kHoa), 0u);
    EXPECT_EQ(agent.counters().bindings_expired, 1u);
}

TEST(HomeAgentDiscovery, HaadReplyListsAgentsByPreference) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(), dp);
    auto anycast = ha::home_agents_anycast(*Ipv6Prefix::parse("2001:db8:1::/64"));
    EXPECT_EQ(anycast.to_string(), "2001:db8:1:0:fdff:ffff:ffff:fffe");
    std::uint8_t body[4] = {0xab, 0xcd, 0, 0};
    auto req = net::build_icmpv6_frame(kGwMac, kHostMac, kCoa1, anycast, 64,
                                       net::icmp6::kHaadRequest, 0, body);
    agent.on_frame(0, PuntReason::Local, 0, req, 1);
    ASSERT_EQ(dp.sent.size(), 1u);
    auto p = net::parse_ipv6_frame(dp.sent[0].second);
    auto m = net::parse_icmpv6(*p);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->type, net::icmp6::kHaadReply);
    EXPECT_EQ(p->destination, kCoa1);
    ASSERT_EQ(m->body.size(), 4u + 3 * 16);
    EXPECT_EQ(m->body[0], 0xab);
    EXPECT_EQ(m->body[1], 0xcd);
    // Preference 20 (peer), 10 (us), 5 (peer).
    EXPECT_EQ(Ipv6Address::from_bytes(m->body.data() + 4).to_string(), "2001:db8:1::2");
    EXPECT_EQ(Ipv6Address::from_bytes(m->body.data() + 20), kGw);
    EXPECT_EQ(Ipv6Address::from_bytes(m->body.data() + 36).to_string(), "2001:db8:1::3");
}

TEST(HomeAgentDiscovery, MobilePrefixAdvertisementCarriesHomePrefix) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(), dp);
    std::uint8_t body[4] = {0x12, 0x34, 0, 0};
    auto req = net::build_icmpv6_frame(kGwMac, kHostMac, kHoa, kGw, 64,
                                       net::icmp6::kMobilePrefixSolicitation, 0, body);
    agent.on_frame(0, PuntReason::Local, 0, req, 1);
    ASSERT_EQ(dp.sent.size(), 1u);
    auto p = net::parse_ipv6_frame(dp.sent[0].second);
    auto m = net::parse_icmpv6(*p);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->type, net::icmp6::kMobilePrefixAdvertisement);
    ASSERT_EQ(m->body.size(), 4u + 32);
    EXPECT_EQ(m->body[0], 0x12);
    EXPECT_EQ(m->body[4], 3);            // Prefix Information
    EXPECT_EQ(m->body[6], 64);           // prefix length
    EXPECT_EQ(m->body[7] & 0xe0, 0xe0);  // L, A, R
    EXPECT_EQ(Ipv6Address::from_bytes(m->body.data() + 4 + 16), kGw);
}

// RFC 6275 s.6.7: a solicitation with a code other than 0, or shorter than its 8 octets,
// is silently discarded.
TEST(HomeAgentDiscovery, MalformedSolicitationsAreDiscarded) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(), dp);
    std::uint8_t body[4] = {0x12, 0x34, 0, 0};
    agent.on_frame(0, PuntReason::Local, 0,
                   net::build_icmpv6_frame(kGwMac, kHostMac, kHoa, kGw, 64,
                                           net::icmp6::kMobilePrefixSolicitation, 1, body),
                   1);
    agent.on_frame(0, PuntReason::Local, 0,
                   net::build_icmpv6_frame(kGwMac, kHostMac, kHoa, kGw, 64,
                                           net::icmp6::kMobilePrefixSolicitation, 0,
                                           std::span<const std::uint8_t>(body, 2)),
                   2);
    EXPECT_TRUE(dp.sent.empty());
    EXPECT_EQ(agent.counters().malformed, 2u);
    EXPECT_EQ(agent.counters().mobile_prefix_advertisements, 0u);
}

TEST(HomeAgentErrors, PacketTooBigCarriesMtuAndInvokingPacket) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(), dp);
    std::vector<std::uint8_t> payload(1300, 0x5a);
    auto big = net::build_icmpv6_frame(kGwMac, kHostMac, kHost, kHoa, 64, net::icmp6::kEchoRequest,
                                       0, payload);
    agent.on_frame(0, PuntReason::TooBig, 1400, big, 1000);
    ASSERT_EQ(dp.sent.size(), 1u);
    auto p = net::parse_ipv6_frame(dp.sent[0].second);
    auto m = net::parse_icmpv6(*p);
    ASSERT_TRUE(m.ok());
    EXPECT_EQ(m->type, net::icmp6::kPacketTooBig);
    EXPECT_EQ(net::load_be32(m->body.data()), 1400u);
    EXPECT_EQ(p->destination, kHost);
    EXPECT_LE(p->ip.size(), 1280u);  // RFC 4443 s.2.4(c)
    // An error about an error is never sent.
    auto error = dp.sent[0].second;
    agent.on_frame(0, PuntReason::TooBig, 1280, error, 1001);
    EXPECT_EQ(dp.sent.size(), 1u);
}

// ---- Duplicate Address Detection before a first registration (RFC 6275 s.10.3.1) --------

namespace {

ha::HaSettings dad_settings() {
    auto s = ha_settings();
    s.duplicate_address_detection = true;
    s.dad_wait_ms = 1000;
    return s;
}

// The DAD probes the agent sent: (port, target).
std::vector<std::pair<PortId, Ipv6Address>> dad_probes(const RecordingDataPlane& dp) {
    std::vector<std::pair<PortId, Ipv6Address>> out;
    for (const auto& [port, frame] : dp.sent) {
        auto p = net::parse_ipv6_frame(frame);
        if (!p || !p->source.is_unspecified()) continue;
        auto m = net::parse_icmpv6(*p);
        if (!m || m->type != net::icmp6::kNeighborSolicitation) continue;
        auto ns = net::parse_neighbor_solicitation(*p, *m);
        if (ns) out.emplace_back(port, ns->target);
    }
    return out;
}

std::vector<mh::BindingAck> sent_acks(const RecordingDataPlane& dp) {
    std::vector<mh::BindingAck> out;
    for (const auto& [port, frame] : dp.sent)
        if (auto m = sent_mh(frame))
            if (const auto* ba = std::get_if<mh::BindingAck>(&m->message)) out.push_back(*ba);
    return out;
}

}  // namespace

TEST(HomeAgentDad, FirstRegistrationWaitsForTheProbeThenIsAnswered) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(dad_settings(), dp);
    agent.start(0);
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(7, 50), 1000);
    EXPECT_TRUE(sent_acks(dp).empty());  // held
    EXPECT_EQ(dad_probes(dp), (std::vector<std::pair<PortId, Ipv6Address>>{{0, kHoa}}));
    EXPECT_EQ(agent.binding_cache().find(kHoa), nullptr);
    EXPECT_FALSE(agent.is_proxied(kHoa));
    // A retransmission (a newer sequence) replaces the held BU; no second probe.
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(8, 50), 1500);
    EXPECT_EQ(dad_probes(dp).size(), 1u);
    // An advertisement for the address heard on another link (the access link) is no
    // duplicate on the home link.
    const auto all_nodes = *Ipv6Address::parse("ff02::1");
    net::NeighborAdvertisement na{false, false, true, kHoa, kHostMac};
    agent.on_frame(1, PuntReason::Local, 0,
                   net::build_neighbor_advertisement(MacAddress::for_ipv6_multicast(all_nodes),
                                                     kHostMac, kHoa, all_nodes, na),
                   1600);
    agent.on_tick(1999);
    EXPECT_TRUE(sent_acks(dp).empty());
    agent.on_tick(2000);
    auto acks = sent_acks(dp);
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].status, 0);
    EXPECT_EQ(acks[0].sequence, 8);
    ASSERT_NE(agent.binding_cache().find(kHoa), nullptr);
    EXPECT_TRUE(agent.is_proxied(kHoa));
    EXPECT_EQ(agent.counters().dad_probes_sent, 1u);
    // A refresh of the binding is not held.
    dp.sent.clear();
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(9, 50), 3000);
    ASSERT_EQ(sent_acks(dp).size(), 1u);
    EXPECT_TRUE(dad_probes(dp).empty());
}

TEST(HomeAgentDad, AnAnswerToTheProbeRejectsTheBindingWith134) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(dad_settings(), dp);
    agent.start(0);
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(7, 50), 1000);
    // The owner of the address defends it (RFC 4862 s.5.4.4).
    const auto all_nodes = *Ipv6Address::parse("ff02::1");
    net::NeighborAdvertisement na{false, false, true, kHoa, kHostMac};
    agent.on_frame(0, PuntReason::Local, 0,
                   net::build_neighbor_advertisement(MacAddress::for_ipv6_multicast(all_nodes),
                                                     kHostMac, kHoa, all_nodes, na),
                   1300);
    agent.on_tick(2000);
    auto acks = sent_acks(dp);
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].status, mh::ba_status::kDadFailed);
    EXPECT_EQ(acks[0].sequence, 7);
    EXPECT_EQ(acks[0].lifetime_4s, 0);
    ASSERT_EQ(acks[0].options.binding_ids.size(), 2u);
    EXPECT_EQ(acks[0].options.binding_ids[0].status, mh::ba_status::kDadFailed);
    EXPECT_EQ(agent.binding_cache().find(kHoa), nullptr);
    EXPECT_FALSE(agent.is_proxied(kHoa));
    EXPECT_TRUE(dp.hoas.empty());
    EXPECT_EQ(agent.counters().dad_duplicates, 1u);
    // Another node's probe for the address during the wait counts the same.
    dp.sent.clear();
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(8, 50), 3000);
    agent.on_frame(0, PuntReason::Local, 0,
                   net::build_neighbor_solicitation(kHostMac, Ipv6Address{}, kHoa), 3100);
    agent.on_tick(4000);
    acks = sent_acks(dp);
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].status, mh::ba_status::kDadFailed);
}

TEST(HomeAgentDad, TooManyWaitingAreAnsweredInsufficientResources) {
    auto s = dad_settings();
    s.max_pending_dad = 1;
    RecordingDataPlane dp;
    ha::HomeAgent agent(s, dp);
    agent.start(0);
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(7, 50), 1000);
    mh::BindingUpdate other;
    other.sequence = 3;
    other.ack_requested = other.home_registration = true;
    other.lifetime_4s = 50;
    const auto hoa2 = *Ipv6Address::parse("2001:db8:1::200");
    agent.on_frame(1, PuntReason::Local, 0,
                   with_ethernet(mh::build_bu_packet(other, kCoa1, kGw, hoa2), kRouterMac,
                                 *MacAddress::parse("02:00:00:00:00:02")),
                   1001);
    auto acks = sent_acks(dp);
    ASSERT_EQ(acks.size(), 1u);
    EXPECT_EQ(acks[0].status, mh::ba_status::kInsufficientResources);
    EXPECT_EQ(agent.counters().dad_pending_full, 1u);
}

// RFC 6275 s.10.4.1 with the L flag: the MN's link-local address is probed first and then
// defended by proxy on the home link like the home address.
TEST(HomeAgentDad, LinkLocalAddressIsProbedAndDefended) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(dad_settings(), dp);
    agent.start(0);
    mh::BindingUpdate bu;
    bu.sequence = 1;
    bu.ack_requested = bu.home_registration = bu.link_local_compat = true;
    bu.lifetime_4s = 50;
    agent.on_frame(1, PuntReason::Local, 0,
                   with_ethernet(mh::build_bu_packet(bu, kCoa1, kGw, kHoa), kRouterMac,
                                 *MacAddress::parse("02:00:00:00:00:02")),
                   1000);
    const auto link_local = *Ipv6Address::parse("fe80::100");
    EXPECT_EQ(dad_probes(dp),
              (std::vector<std::pair<PortId, Ipv6Address>>{{0, kHoa}, {0, link_local}}));
    agent.on_tick(2000);
    ASSERT_EQ(sent_acks(dp).size(), 1u);
    EXPECT_EQ(sent_acks(dp)[0].status, 0);
    dp.sent.clear();
    agent.on_frame(
        0, PuntReason::Local, 0,
        net::build_neighbor_solicitation(kHostMac, *Ipv6Address::parse("fe80::99"), link_local),
        2100);
    ASSERT_EQ(dp.sent.size(), 1u);
    auto p = net::parse_ipv6_frame(dp.sent[0].second);
    ASSERT_TRUE(p);
    auto m = net::parse_icmpv6(*p);
    ASSERT_TRUE(m);
    auto answer = net::parse_neighbor_advertisement(*p, *m);
    ASSERT_TRUE(answer);
    EXPECT_EQ(answer->target, link_local);
    EXPECT_EQ(answer->target_link_layer, kGwMac);
    EXPECT_FALSE(answer->override_flag);  // a proxy does not override the owner's entry
}

// ---- Binding store (persistence.cpp) -----------------------------------------------------

namespace {

using monami::test_support::FakeStore;

std::size_t acks_in(const RecordingDataPlane& dp) {
    std::size_t n = 0;
    for (const auto& [port, frame] : dp.sent)
        if (auto m = sent_mh(frame); m && std::holds_alternative<mh::BindingAck>(m->message)) ++n;
    return n;
}

}  // namespace

TEST(HomeAgentStore, SyncDurabilityHoldsTheBaUntilItsBatchIsDurable) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(), dp);
    FakeStore fake;
    agent.attach_store(&fake, true);
    agent.start(0);
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(7, 50), 1000);
    EXPECT_EQ(acks_in(dp), 0u);  // held: batch 1 is not durable
    ASSERT_EQ(fake.records.count(kHoa), 1u);
    EXPECT_EQ(fake.records[kHoa].bindings.size(), 2u);
    agent.on_tick(1001);  // closes batch 1
    EXPECT_EQ(fake.next, 2u);
    EXPECT_EQ(acks_in(dp), 0u);
    fake.durable = 1;
    agent.on_tick(1002);
    EXPECT_EQ(acks_in(dp), 1u);
    EXPECT_EQ(agent.counters().binding_acks_sent, 1u);
    // A BU that changes nothing (rejected: sequence 7 again) is answered at once.
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(7, 50), 1003);
    EXPECT_EQ(acks_in(dp), 2u);
    // Expiry removes the record.
    agent.on_tick(1000 + 200'000);
    EXPECT_EQ(fake.records.count(kHoa), 0u);
    EXPECT_EQ(fake.removed, (std::vector<HomeAddress>{kHoa}));
}

// A store whose commits fail never makes a batch durable: the BAs held for it are bounded,
// the oldest dropped and counted (the mobile nodes retransmit), not kept without end.
TEST(HomeAgentStore, HeldBasAreBoundedWhileTheStoreFails) {
    RecordingDataPlane dp;
    auto settings = ha_settings();
    settings.security.admission.packets_per_second = 1'000'000;  // one source sends them all
    settings.security.admission.burst = 1'000'000;
    ha::HomeAgent agent(settings, dp);
    FakeStore fake;
    agent.attach_store(&fake, true);
    agent.start(0);
    constexpr std::uint64_t kHeldAtMost = 1u << 16, kMore = 3;
    std::uint64_t now = 1000;
    for (std::uint64_t i = 0; i < kHeldAtMost + kMore; ++i) {
        agent.on_frame(
            1, PuntReason::Local, 0,
            bulk_bu(static_cast<std::uint16_t>(i + 1), static_cast<std::uint16_t>(50 + i % 2)),
            ++now);
        if (i % 64 == 0) agent.on_tick(now);
    }
    agent.on_tick(++now);
    EXPECT_EQ(acks_in(dp), 0u);
    EXPECT_EQ(agent.counters().binding_acks_withheld, kMore);
    fake.durable = fake.next - 1;  // the store recovers: every held BA leaves
    agent.on_tick(++now);
    EXPECT_EQ(agent.counters().binding_acks_sent, kHeldAtMost);
}

// A standby of a pair: silent (the data plane too), follows the leader's committed changes
// with published snapshots, and on takeover announces its addresses and every proxied home
// address with Override, then answers BUs from the replicated sequence number on.
TEST(HomeAgentStore, StandbyIsSilentFollowsTheLeaderAndTakesOver) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(), dp);
    FakeStore fake;
    agent.attach_store(&fake, false);
    agent.start(0);
    dp.sent.clear();
    agent.become_standby();
    EXPECT_FALSE(dp.serving);
    // What the leader committed: kHoa with two bindings, last sequence 7.
    store::HoaRecord leader_record;
    {
        RecordingDataPlane leader_dp;
        ha::HomeAgent leader(ha_settings(), leader_dp);
        leader.start(0);
        leader.on_frame(1, PuntReason::Local, 0, bulk_bu(7, 50), 1000);
        leader_record = ha::HomeAgent::to_record(*leader.binding_cache().find(kHoa), 0);
    }
    std::vector<store::Change> changes(1);
    changes[0].kind = store::Change::Kind::PutHoa;
    changes[0].record = leader_record;
    agent.apply_changes(changes, 1000, 1000);
    agent.on_tick(1001);
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(8, 50), 1002);  // not answered: standby
    agent.on_tick(1003);
    EXPECT_TRUE(dp.sent.empty());
    EXPECT_TRUE(fake.records.empty());   // a standby writes nothing
    ASSERT_EQ(dp.hoas.count(kHoa), 1u);  // warm: published
    EXPECT_EQ(dp.hoas[kHoa]->path_count, 2u);
    EXPECT_EQ(agent.counters().replicated_changes, 1u);
    EXPECT_TRUE(agent.is_proxied(kHoa));

    agent.take_over(1004);
    agent.on_tick(1005);
    EXPECT_TRUE(dp.serving);
    EXPECT_EQ(agent.counters().takeovers, 1u);
    std::set<Ipv6Address> announced;
    for (const auto& [port, frame] : dp.sent) {
        auto p = net::parse_ipv6_frame(frame);
        if (!p) continue;
        auto m = net::parse_icmpv6(*p);
        if (!m) continue;
        auto na = net::parse_neighbor_advertisement(*p, *m);
        if (!na) continue;
        EXPECT_TRUE(na->override_flag);
        announced.insert(na->target);
    }
    EXPECT_TRUE(announced.count(kGw));   // the HA address
    EXPECT_TRUE(announced.count(kHoa));  // the proxied home address
    // The next BU is taken with the replicated sequence number in force.
    dp.sent.clear();
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(7, 50), 1006);
    ASSERT_EQ(sent_acks(dp).size(), 1u);
    EXPECT_EQ(sent_acks(dp)[0].status, 135);  // 7 is not newer than the leader's 7
    dp.sent.clear();
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(8, 50), 1007);
    ASSERT_EQ(sent_acks(dp).size(), 1u);
    EXPECT_EQ(sent_acks(dp)[0].status, 0);
    EXPECT_EQ(fake.records.count(kHoa), 1u);  // and the new leader writes it
}

TEST(HomeAgentStore, AsyncDurabilitySendsTheBaAtOnce) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(), dp);
    FakeStore fake;
    agent.attach_store(&fake, false);
    agent.start(0);
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(7, 50), 1000);
    EXPECT_EQ(acks_in(dp), 1u);
    EXPECT_EQ(fake.records.count(kHoa), 1u);
}

TEST(HomeAgentStore, RestoreCarriesOnWithTheSameDeadlinesAndDropsWhatExpired) {
    // What one agent stored (its clock taken as the wall clock: offset 0) ...
    RecordingDataPlane first_dp;
    ha::HomeAgent first(ha_settings(), first_dp);
    first.start(0);
    first.on_frame(1, PuntReason::Local, 0, bulk_bu(7, 50), 1000);  // expires at 201 s
    store::StoredState state;
    state.hoas.push_back(ha::HomeAgent::to_record(*first.binding_cache().find(kHoa), 0));
    store::HoaRecord old = state.hoas[0];
    old.home_address = *Ipv6Address::parse("2001:db8:1::200");
    for (auto& b : old.bindings) b.expiry_unix_ms = 5000;  // past at the restart
    state.hoas.push_back(old);
    // ... another one restores 30 s later.
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(), dp);
    FakeStore fake;
    agent.attach_store(&fake, true);
    agent.start(31'000);
    dp.sent.clear();
    auto report = agent.restore(state, 31'000, 31'000);
    EXPECT_EQ(report.home_addresses, 1u);
    EXPECT_EQ(report.bindings, 2u);
    EXPECT_EQ(report.expired, 1u);
    const bcache::HoaEntry* e = agent.binding_cache().find(kHoa);
    ASSERT_NE(e, nullptr);
    EXPECT_EQ(e->bindings[0].expiry_ms, 201'000u);  // not reset by the restart
    EXPECT_EQ(e->last_sequence, 7);
    EXPECT_EQ(dp.hoas.count(kHoa), 1u);  // published before any frame
    EXPECT_TRUE(agent.is_proxied(kHoa));
    EXPECT_TRUE(dp.sent.empty());  // the unsolicited NA waits for the loop
    agent.on_tick(31'001);
    ASSERT_EQ(dp.sent.size(), 1u);
    EXPECT_EQ(agent.counters().unsolicited_neighbor_advertisements, 1u);
    // The expired one is removed from the store; a replayed BU is out of the window.
    EXPECT_EQ(fake.removed, (std::vector<HomeAddress>{*Ipv6Address::parse("2001:db8:1::200")}));
    dp.sent.clear();
    agent.on_frame(1, PuntReason::Local, 0, bulk_bu(7, 50), 31'002);
    ASSERT_EQ(dp.sent.size(), 1u);
    auto ba = sent_mh(dp.sent[0].second);
    ASSERT_TRUE(ba);
    EXPECT_EQ(std::get<mh::BindingAck>(ba->message).status, mh::ba_status::kSequenceOutOfWindow);
    // Expiry runs from the restored deadline.
    agent.on_tick(201'000);
    EXPECT_EQ(agent.binding_cache().find(kHoa), nullptr);
}
