// The fast path of the real Runtime on hand-built frames: classification, encapsulation
// (RFC 2473), n-cast, Packet Too Big punts, ingress-checked decapsulation, mobile network
// prefixes, the FIB and every drop reason on the way. Ports are ring-backed ethdevs, the
// EAL runs on one lcore (one-lcore mode: poll_control() runs the worker iteration).
#include <rte_cycles.h>
#include <optional>

#include "dataplane/flow_steering.hpp"
#include "tests/unit/eal_harness.hpp"

namespace monami::test {
namespace {

using dp::DropReason;

[[maybe_unused]] ::testing::Environment* const eal =
    ::testing::AddGlobalTestEnvironment(new EalEnvironment("0"));

const MacAddress kHomeMac = mac("02:00:00:00:01:01");    // our port on the home link
const MacAddress kCoreMac = mac("02:00:00:00:02:02");    // our port towards the CoAs
const MacAddress kRouterMac = mac("02:00:00:00:02:fe");  // the router behind kCoreMac
const MacAddress kHostMac = mac("02:00:00:00:01:77");    // a host on the home link
const Ipv6Address kHomeAgent = ip("2001:db8:1::1");
const Ipv6Address kHoa = ip("2001:db8:1::100");
const Ipv6Address kOtherHoa = ip("2001:db8:1::200");
const Ipv6Address kCareOf = ip("2001:db8:c::1");
const Ipv6Address kOtherCareOf = ip("2001:db8:c:2::1");
const Ipv6Address kCorrespondent = ip("2001:db8:ff::5");  // routed via the router
const Ipv6Address kUnresolved = ip("2001:db8:2::77");     // on the core link, not resolved

constexpr std::size_t kEth = net::kEthernetHeaderSize;
constexpr std::size_t kIp = net::kIpv6HeaderSize;

struct Punt {
    PortId port;
    PuntReason reason;
    std::uint16_t aux;
    std::vector<std::uint8_t> frame;
};

class DataPlaneTest : public ::testing::Test {
  protected:
    void SetUp() override {
        static unsigned serial = 0;
        ++serial;
        ASSERT_TRUE(home.create("home" + std::to_string(serial)));
        ASSERT_TRUE(core.create("core" + std::to_string(serial)));
        dp::RuntimeSettings settings;
        settings.ports = {{"home", home.device, kHomeMac, 1500},
                          {"core", core.device, kCoreMac, 1500}};
        settings.mbufs = 4095;
        settings.mbuf_cache = 64;
        settings.max_home_addresses = 1024;
        settings.max_paths = 1024;
        std::string error;
        rt = dp::Runtime::create(settings, error);
        ASSERT_TRUE(rt) << error;
        ASSERT_TRUE(rt->one_lcore_mode());
        ASSERT_EQ(rt->ports()[0].id, home.id);
        ASSERT_EQ(rt->ports()[1].id, core.id);

        RoutingState routing;
        routing.routes = {{prefix("2001:db8:1::/64"), home.id, std::nullopt},
                          {prefix("2001:db8:2::/64"), core.id, std::nullopt},
                          {prefix("2001:db8:c::/48"), core.id, ip("2001:db8:2::fe")},
                          {prefix("2001:db8:ff::/48"), core.id, ip("2001:db8:2::fe")}};
        routing.neighbors = {{ip("2001:db8:2::fe"), core.id, kRouterMac}};
        routing.local_addresses = {kHomeAgent};
        rt->publish_routing(routing);
    }
    void TearDown() override {
        rt.reset();
        home.destroy();
        core.destroy();
    }

    void inject(RingPort& port, const std::vector<std::uint8_t>& frame) {
        rte_mbuf* m = to_mbuf(frame, port.id);
        ASSERT_NE(m, nullptr);
        ASSERT_EQ(rte_ring_enqueue(port.rx, m), 0);
    }
    // Runs the worker over what was injected and lets the TX drain deadline pass, so every
    // transmitted frame is on a TX ring and every punted one in `punts`.
    void pump() {
        auto collect = [this](PortId port, PuntReason reason, std::uint16_t aux,
                              std::span<const std::uint8_t> frame) {
            punts.push_back({port, reason, aux, {frame.begin(), frame.end()}});
        };
        rt->poll_control(collect);
        rte_delay_us_block(static_cast<unsigned>(dp::kTxDrainMicroseconds) + 20);
        rt->poll_control(collect);
    }
    // The frames sent on `port`, as bytes (the mbufs are freed).
    std::vector<std::vector<std::uint8_t>> sent(RingPort& port) {
        std::vector<std::vector<std::uint8_t>> out;
        for (rte_mbuf* m : port.take_sent()) {
            out.push_back(bytes_of(m));
            rte_pktmbuf_free(m);
        }
        return out;
    }
    std::uint64_t dropped(DropReason reason) const {
        return rt->totals().drops[static_cast<std::size_t>(reason)];
    }
    std::uint64_t all_drops() const {
        std::uint64_t sum = 0;
        for (auto d : rt->totals().drops) sum += d;
        return sum;
    }
    DeliveryPath path_to(const Ipv6Address& care_of, RingPort& port, std::uint32_t slot,
                         std::uint16_t bid = 1) {
        const MacAddress& next_hop = &port == &core ? kRouterMac : kHostMac;
        const MacAddress& own = &port == &core ? kCoreMac : kHomeMac;
        return tunnel_path(care_of, kHomeAgent, port.id, next_hop, own, tunnel, slot, bid);
    }
    void publish(std::unique_ptr<HoaSnapshot> s) { rt->publish_hoa(*s); }

    RingPort home, core;
    std::unique_ptr<dp::Runtime> rt;
    ha::TunnelSettings tunnel;  // hop limit 64, encapsulation limit 4, MTU 1452
    std::vector<Punt> punts;
};

// `inner` with its hop limit lowered by one: what the HA forwards (RFC 2473 s.3).
std::vector<std::uint8_t> decremented(std::vector<std::uint8_t> inner) {
    --inner[7];
    return inner;
}

Ipv6Address outer_destination(const std::vector<std::uint8_t>& frame) {
    return Ipv6Address::from_bytes(frame.data() + kEth + 24);
}

// Checks the tunnel header the worker prepended and returns the inner packet.
std::vector<std::uint8_t> expect_tunnelled(const std::vector<std::uint8_t>& frame,
                                           const Ipv6Address& care_of, bool with_limit,
                                           std::uint8_t limit = 4) {
    std::size_t header = kEth + kIp + (with_limit ? 8 : 0);
    EXPECT_GE(frame.size(), header + kIp);
    if (frame.size() < header + kIp) return {};
    EXPECT_EQ(MacAddress::from_bytes(frame.data()), kRouterMac);
    EXPECT_EQ(MacAddress::from_bytes(frame.data() + 6), kCoreMac);
    EXPECT_EQ(net::load_be16(frame.data() + 12), net::kEtherTypeIpv6);
    const std::uint8_t* outer = frame.data() + kEth;
    EXPECT_EQ(outer[0] >> 4, 6);
    EXPECT_EQ(net::load_be16(outer + 4), frame.size() - kEth - kIp) << "outer payload length";
    EXPECT_EQ(outer[6], with_limit ? net::kProtoDestinationOptions : net::kProtoIpv6InIpv6);
    EXPECT_EQ(outer[7], 64) << "tunnel hop limit";
    EXPECT_EQ(Ipv6Address::from_bytes(outer + 8), kHomeAgent);
    EXPECT_EQ(Ipv6Address::from_bytes(outer + 24), care_of);
    if (with_limit) {
        const std::uint8_t* opt = outer + kIp;
        EXPECT_EQ(opt[0], net::kProtoIpv6InIpv6);
        EXPECT_EQ(opt[1], 0);  // 8 bytes
        EXPECT_EQ(opt[2], 4);  // Tunnel Encapsulation Limit
        EXPECT_EQ(opt[3], 1);
        EXPECT_EQ(opt[4], limit);
    }
    return {frame.begin() + static_cast<std::ptrdiff_t>(header), frame.end()};
}

TEST_F(DataPlaneTest, EncapsulatesToARegisteredHoaWithTheEncapsulationLimitOption) {
    publish(snapshot(kHoa, {path_to(kCareOf, core, 7)}, to_path(0)));
    auto inner = ipv6_udp(kCorrespondent, kHoa, 100);
    inject(core, ethernet(kCoreMac, kRouterMac, inner));
    pump();
    auto out = sent(core);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].size(), kEth + kIp + 8 + inner.size());
    EXPECT_EQ(expect_tunnelled(out[0], kCareOf, true), decremented(inner));
    auto totals = rt->totals();
    EXPECT_EQ(totals.encapsulated, 1u);
    EXPECT_EQ(totals.tx_packets, 1u);
    EXPECT_EQ(all_drops(), 0u);
    EXPECT_TRUE(punts.empty());
    auto counters = rt->path_counters(7);
    EXPECT_EQ(counters.packets, 1u);
    EXPECT_EQ(counters.bytes, inner.size());
}

TEST_F(DataPlaneTest, EncapsulatesWithNextHeader41WithoutALimit) {
    tunnel.encapsulation_limit.reset();
    publish(snapshot(kHoa, {path_to(kCareOf, core, 1)}, to_path(0)));
    auto inner = ipv6_udp(kCorrespondent, kHoa, 333, 80, 17);
    inject(home, ethernet(kHomeMac, kHostMac, inner));
    pump();
    auto out = sent(core);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0].size(), kEth + kIp + inner.size());
    EXPECT_EQ(expect_tunnelled(out[0], kCareOf, false), decremented(inner));
    EXPECT_TRUE(sent(home).empty());
}

TEST_F(DataPlaneTest, DeliversNativelyOnTheHomeLink) {
    DeliveryPath at_home{};
    at_home.native = true;
    at_home.port = home.id;
    at_home.mtu = 1500;
    at_home.counter_slot = 2;
    const MacAddress mn_mac = mac("02:00:00:00:01:99");
    net::write_ethernet_header(at_home.header, mn_mac, kHomeMac);
    at_home.header_length = kEth;
    publish(snapshot(kHoa, {at_home}, to_path(0)));
    auto inner = ipv6_udp(kCorrespondent, kHoa, 64);
    inject(core, ethernet(kCoreMac, kRouterMac, inner));
    pump();
    auto out = sent(home);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], ethernet(mn_mac, kHomeMac, decremented(inner)));
    EXPECT_EQ(rt->totals().encapsulated, 0u);
    EXPECT_EQ(rt->totals().forwarded, 1u);
}

TEST_F(DataPlaneTest, NcastRuleMakesChainedCopiesSharingOnePayload) {
    // Path 0 leaves on the core port, path 1 on the home port, so each copy is on its own ring.
    auto s = snapshot(kHoa, {path_to(kCareOf, core, 1, 1), path_to(kOtherCareOf, home, 2, 2)},
                      to_path(0));
    FlowRule rule;
    rule.selector.destination_port = {5000, 5000};
    rule.selector.needs_ports = true;
    rule.action = ncast(0b11);
    rule.fid = 1;
    s->rules.push_back(rule);
    publish(std::move(s));

    auto inner = ipv6_udp(kCorrespondent, kHoa, 200, 5000);
    inject(core, ethernet(kCoreMac, kRouterMac, inner));
    pump();
    auto first = core.take_sent();
    auto last = home.take_sent();
    ASSERT_EQ(first.size(), 1u);
    ASSERT_EQ(last.size(), 1u);
    // The last path's copy is the received mbuf with the header prepended; every other copy
    // is a fresh header segment chained to an indirect clone of it.
    rte_mbuf* head = first[0];
    rte_mbuf* original = last[0];
    EXPECT_EQ(original->nb_segs, 1);
    ASSERT_EQ(head->nb_segs, 2);
    ASSERT_NE(head->next, nullptr);
    EXPECT_EQ(head->data_len, kEth + kIp + 8);
    EXPECT_TRUE(RTE_MBUF_CLONED(head->next));
    EXPECT_EQ(rte_mbuf_from_indirect(head->next), original);
    EXPECT_EQ(rte_mbuf_refcnt_read(original), 2);
    EXPECT_EQ(rte_pktmbuf_mtod(head->next, std::uint8_t*),
              rte_pktmbuf_mtod(original, std::uint8_t*) + kEth + kIp + 8)
        << "the clone must point at the original's inner packet";
    EXPECT_EQ(expect_tunnelled(bytes_of(head), kCareOf, true), decremented(inner));
    auto last_bytes = bytes_of(original);
    ASSERT_EQ(last_bytes.size(), kEth + kIp + 8 + inner.size());
    EXPECT_EQ(Ipv6Address::from_bytes(last_bytes.data() + kEth + 24), kOtherCareOf);
    EXPECT_EQ(MacAddress::from_bytes(last_bytes.data()), kHostMac);
    EXPECT_EQ(std::vector<std::uint8_t>(last_bytes.begin() + kEth + kIp + 8, last_bytes.end()),
              decremented(inner))
        << "the hop limit is decremented once for all copies";
    rte_pktmbuf_free(head);
    EXPECT_EQ(rte_mbuf_refcnt_read(original), 1) << "freeing a copy releases its reference";
    rte_pktmbuf_free(original);
    EXPECT_EQ(rt->totals().encapsulated, 2u);
    EXPECT_EQ(rt->path_counters(1).packets, 1u);
    EXPECT_EQ(rt->path_counters(2).packets, 1u);

    // A flow the rule does not select takes the default action: path 0 only.
    inject(core, ethernet(kCoreMac, kRouterMac, ipv6_udp(kCorrespondent, kHoa, 200, 6000)));
    pump();
    auto unicast = core.take_sent();
    ASSERT_EQ(unicast.size(), 1u);
    EXPECT_EQ(unicast[0]->nb_segs, 1);
    EXPECT_EQ(outer_destination(bytes_of(unicast[0])), kCareOf);
    rte_pktmbuf_free(unicast[0]);
    EXPECT_TRUE(sent(home).empty());
}

TEST_F(DataPlaneTest, TooBigForTheTunnelIsPuntedWithTheMtu) {
    tunnel.mtu = 1280;
    publish(snapshot(kHoa, {path_to(kCareOf, core, 1)}, to_path(0)));
    auto fits = ipv6_udp(kCorrespondent, kHoa, 1280 - kIp - 8);
    auto too_big = ipv6_udp(kCorrespondent, kHoa, 1281 - kIp - 8);
    inject(core, ethernet(kCoreMac, kRouterMac, fits));
    inject(core, ethernet(kCoreMac, kRouterMac, too_big));
    pump();
    auto out = sent(core);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(expect_tunnelled(out[0], kCareOf, true), decremented(fits));
    ASSERT_EQ(punts.size(), 1u);
    EXPECT_EQ(punts[0].reason, PuntReason::TooBig);
    EXPECT_EQ(punts[0].aux, 1280);
    EXPECT_EQ(punts[0].port, core.id);
    ASSERT_EQ(punts[0].frame.size(), kEth + too_big.size());
    EXPECT_EQ(Ipv6Address::from_bytes(punts[0].frame.data() + kEth + 24), kHoa);
}

TEST_F(DataPlaneTest, ReverseTunnelFromTheRegisteredCareOfIsDecapsulated) {
    publish(snapshot(kHoa, {path_to(kCareOf, core, 3)}, to_path(0)));
    publish(snapshot(kOtherHoa, {path_to(kOtherCareOf, core, 4)}, to_path(0)));
    // To an unresolved neighbor: punted, so the decapsulated frame is seen as it left decap.
    auto to_neighbor = ipv6_udp(kHoa, kUnresolved, 64);
    // To a routed correspondent: forwarded with MACs rewritten.
    auto to_correspondent = ipv6_udp(kHoa, kCorrespondent, 90);
    // To another mobile node: tunnelled again.
    auto to_mobile_node = ipv6_udp(kHoa, kOtherHoa, 70);
    for (const auto* inner : {&to_neighbor, &to_correspondent, &to_mobile_node})
        inject(core, ethernet(kCoreMac, kRouterMac, ipv6_in_ipv6(kCareOf, kHomeAgent, *inner)));
    pump();

    ASSERT_EQ(punts.size(), 1u);
    EXPECT_EQ(punts[0].reason, PuntReason::NeedsResolution);
    EXPECT_EQ(punts[0].frame, ethernet(kCoreMac, kRouterMac, to_neighbor))
        << "Ethernet header kept, inner packet intact";
    auto out = sent(core);
    ASSERT_EQ(out.size(), 2u);
    // Tunnelled and routed packets leave in the classifier's order, not the arrival order.
    if (out[0][kEth + 6] != net::kProtoDestinationOptions) std::swap(out[0], out[1]);
    EXPECT_EQ(expect_tunnelled(out[0], kOtherCareOf, true), decremented(to_mobile_node));
    EXPECT_EQ(out[1], ethernet(kRouterMac, kCoreMac, decremented(to_correspondent)));
    auto totals = rt->totals();
    EXPECT_EQ(totals.decapsulated, 3u);
    EXPECT_EQ(totals.encapsulated, 1u);
    EXPECT_EQ(all_drops(), 0u);
    auto counters = rt->path_counters(3);
    EXPECT_EQ(counters.reverse_packets, 3u);
    EXPECT_EQ(counters.reverse_bytes,
              to_neighbor.size() + to_correspondent.size() + to_mobile_node.size());
    EXPECT_EQ(rt->path_counters(4).packets, 1u);
}

// Decapsulated packets skip the HoA lookup only when no HoA shares their destination's /64:
// a HoA in a second /64 is still reached, and a /64 whose last HoA left is routed again.
TEST_F(DataPlaneTest, ReverseTunnelToAHoaInAnotherSlash64IsTunnelledAgain) {
    const Ipv6Address far_hoa = ip("2001:db8:ff:1::9");  // in the correspondents' route
    publish(snapshot(kHoa, {path_to(kCareOf, core, 3)}, to_path(0)));
    publish(snapshot(far_hoa, {path_to(kOtherCareOf, core, 4)}, to_path(0)));
    auto to_far = ipv6_udp(kHoa, far_hoa, 70);
    inject(core, ethernet(kCoreMac, kRouterMac, ipv6_in_ipv6(kCareOf, kHomeAgent, to_far)));
    pump();
    auto out = sent(core);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(expect_tunnelled(out[0], kOtherCareOf, true), decremented(to_far));

    rt->withdraw_hoa(far_hoa);
    inject(core, ethernet(kCoreMac, kRouterMac, ipv6_in_ipv6(kCareOf, kHomeAgent, to_far)));
    pump();
    out = sent(core);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], ethernet(kRouterMac, kCoreMac, decremented(to_far))) << "routed";
    EXPECT_EQ(rt->path_counters(4).packets, 1u);
    EXPECT_EQ(all_drops(), 0u);
}

TEST_F(DataPlaneTest, SpoofedReverseTunnelsAreDroppedAndCounted) {
    publish(snapshot(kHoa, {path_to(kCareOf, core, 1)}, to_path(0)));
    auto from_hoa = ipv6_udp(kHoa, kCorrespondent, 64);
    // A registered HoA tunnelled from an address that is not its care-of address.
    inject(core, ethernet(kCoreMac, kRouterMac,
                          ipv6_in_ipv6(ip("2001:db8:c::99"), kHomeAgent, from_hoa)));
    // An inner source without any binding, from a registered CoA.
    inject(core, ethernet(kCoreMac, kRouterMac,
                          ipv6_in_ipv6(kCareOf, kHomeAgent,
                                       ipv6_udp(ip("2001:db8:1::300"), kCorrespondent, 64))));
    pump();
    EXPECT_TRUE(sent(core).empty());
    EXPECT_TRUE(punts.empty());
    EXPECT_EQ(dropped(DropReason::SpoofedTunnel), 1u);
    EXPECT_EQ(dropped(DropReason::NoBinding), 1u);
    EXPECT_EQ(rt->totals().decapsulated, 0u);
    EXPECT_EQ(rt->path_counters(1).reverse_packets, 0u);
}

TEST_F(DataPlaneTest, MobileNetworkPrefixesRouteToTheLongestMatch) {
    auto wide = snapshot(kHoa, {path_to(kCareOf, core, 1)}, to_path(0));
    wide->network_prefixes = {prefix("2001:db8:100::/48")};
    auto narrow = snapshot(kOtherHoa, {path_to(kOtherCareOf, core, 2)}, to_path(0));
    narrow->network_prefixes = {prefix("2001:db8:100:5::/64")};
    publish(std::move(wide));
    publish(std::move(narrow));

    auto destination_of = [&](const char* destination) {
        inject(core, ethernet(kCoreMac, kRouterMac, ipv6_udp(kCorrespondent, ip(destination), 32)));
        pump();
        auto out = sent(core);
        EXPECT_EQ(out.size(), 1u) << destination;
        return out.empty() ? Ipv6Address{} : outer_destination(out[0]);
    };
    EXPECT_EQ(destination_of("2001:db8:100:5::1"), kOtherCareOf);
    EXPECT_EQ(destination_of("2001:db8:100:5::"), kOtherCareOf);
    EXPECT_EQ(destination_of("2001:db8:100:6::1"), kCareOf);
    EXPECT_EQ(destination_of("2001:db8:100:ffff:1::1"), kCareOf);

    // A reverse tunnel from inside a prefix passes the ingress check for its owner's CoA only.
    inject(core, ethernet(kCoreMac, kRouterMac,
                          ipv6_in_ipv6(kCareOf, kHomeAgent,
                                       ipv6_udp(ip("2001:db8:100:6::9"), kCorrespondent, 16))));
    inject(core, ethernet(kCoreMac, kRouterMac,
                          ipv6_in_ipv6(kCareOf, kHomeAgent,
                                       ipv6_udp(ip("2001:db8:100:5::9"), kCorrespondent, 16))));
    pump();
    EXPECT_EQ(sent(core).size(), 1u);
    EXPECT_EQ(rt->totals().decapsulated, 1u);
    EXPECT_EQ(dropped(DropReason::SpoofedTunnel), 1u);

    // Without the narrower prefix, its addresses fall back to the wider one.
    rt->withdraw_hoa(kOtherHoa);
    rt->reclaim();
    EXPECT_EQ(destination_of("2001:db8:100:5::1"), kCareOf);
    // Without any, they are routed like any address (here: no route).
    rt->withdraw_hoa(kHoa);
    rt->reclaim();
    inject(core,
           ethernet(kCoreMac, kRouterMac, ipv6_udp(kCorrespondent, ip("2001:db8:100:5::1"), 32)));
    pump();
    EXPECT_TRUE(sent(core).empty());
    EXPECT_EQ(dropped(DropReason::NoRoute), 1u);
}

TEST_F(DataPlaneTest, FibForwardsPuntsAndDrops) {
    auto routed = ipv6_udp(ip("2001:db8:1::9"), kCorrespondent, 50);
    auto to_us = ipv6_udp(ip("2001:db8:1::9"), kHomeAgent, 50);
    auto unresolved = ipv6_udp(ip("2001:db8:1::9"), kUnresolved, 50);
    auto unroutable = ipv6_udp(ip("2001:db8:1::9"), ip("2001:db9::1"), 50);
    for (const auto* p : {&routed, &to_us, &unresolved, &unroutable})
        inject(home, ethernet(kHomeMac, kHostMac, *p));
    pump();
    auto out = sent(core);
    ASSERT_EQ(out.size(), 1u);
    EXPECT_EQ(out[0], ethernet(kRouterMac, kCoreMac, decremented(routed)));
    EXPECT_TRUE(sent(home).empty());
    ASSERT_EQ(punts.size(), 2u);
    EXPECT_EQ(punts[0].reason, PuntReason::Local);
    EXPECT_EQ(punts[0].port, home.id);
    EXPECT_EQ(punts[0].frame, ethernet(kHomeMac, kHostMac, to_us));
    EXPECT_EQ(punts[1].reason, PuntReason::NeedsResolution);
    EXPECT_EQ(punts[1].frame, ethernet(kHomeMac, kHostMac, unresolved));
    EXPECT_EQ(dropped(DropReason::NoRoute), 1u);
    EXPECT_EQ(all_drops(), 1u);
    auto totals = rt->totals();
    EXPECT_EQ(totals.forwarded, 1u);
    EXPECT_EQ(totals.punted, 2u);
    EXPECT_EQ(totals.rx_packets, 4u);
}

// Neighbors live in their own table, changed in place: learning, changing or forgetting one
// does not rebuild the LPM forwarding table (64 MB each); a route change does.
TEST_F(DataPlaneTest, NeighborChangesDoNotRebuildTheForwardingTable) {
    ASSERT_EQ(rt->forwarding_table_builds(), 1u);
    RoutingState routing;
    routing.routes = {{prefix("2001:db8:1::/64"), home.id, std::nullopt},
                      {prefix("2001:db8:2::/64"), core.id, std::nullopt},
                      {prefix("2001:db8:c::/48"), core.id, ip("2001:db8:2::fe")},
                      {prefix("2001:db8:ff::/48"), core.id, ip("2001:db8:2::fe")}};
    routing.local_addresses = {kHomeAgent};
    // The on-link destination is learned; the router moves to another MAC.
    routing.neighbors = {{ip("2001:db8:2::fe"), core.id, kHostMac},
                         {kUnresolved, core.id, kCoreMac}};
    rt->publish_routing(routing);
    auto routed = ipv6_udp(ip("2001:db8:1::9"), kCorrespondent, 50);
    auto on_link = ipv6_udp(ip("2001:db8:1::9"), kUnresolved, 50);
    inject(home, ethernet(kHomeMac, kHostMac, routed));
    inject(home, ethernet(kHomeMac, kHostMac, on_link));
    pump();
    auto out = sent(core);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0], ethernet(kHostMac, kCoreMac, decremented(routed)));
    EXPECT_EQ(out[1], ethernet(kCoreMac, kCoreMac, decremented(on_link)));
    EXPECT_TRUE(punts.empty());
    EXPECT_EQ(rt->forwarding_table_builds(), 1u);

    // Forgotten again: resolution is requested.
    routing.neighbors.pop_back();
    rt->publish_routing(routing);
    inject(home, ethernet(kHomeMac, kHostMac, on_link));
    pump();
    EXPECT_TRUE(sent(core).empty());
    ASSERT_EQ(punts.size(), 1u);
    EXPECT_EQ(punts[0].reason, PuntReason::NeedsResolution);
    EXPECT_EQ(rt->forwarding_table_builds(), 1u);

    routing.routes.push_back({prefix("2001:db8:d::/48"), core.id, ip("2001:db8:2::fe")});
    rt->publish_routing(routing);
    EXPECT_EQ(rt->forwarding_table_builds(), 2u);
}

// One burst through several next hops, interleaved: each packet gets its own next hop's
// neighbor (the burst resolves each distinct next hop once), unresolved ones are punted.
TEST_F(DataPlaneTest, ABurstThroughSeveralNextHopsResolvesEachPacketsOwn) {
    RoutingState routing;
    routing.routes = {{prefix("2001:db8:1::/64"), home.id, std::nullopt},
                      {prefix("2001:db8:2::/64"), core.id, std::nullopt},
                      {prefix("2001:db8:ff::/48"), core.id, ip("2001:db8:2::fe")},
                      {prefix("2001:db8:ee::/48"), core.id, ip("2001:db8:2::fd")},
                      {prefix("2001:db8:dd::/48"), core.id, ip("2001:db8:2::fc")}};
    routing.neighbors = {{ip("2001:db8:2::fe"), core.id, kRouterMac},
                         {ip("2001:db8:2::fc"), core.id, kHostMac},
                         {kUnresolved, core.id, kCoreMac}};
    routing.local_addresses = {kHomeAgent};
    rt->publish_routing(routing);
    const Ipv6Address source = ip("2001:db8:1::9");
    std::vector<std::pair<std::vector<std::uint8_t>, std::optional<MacAddress>>> expected = {
        {ipv6_udp(source, ip("2001:db8:ff::1"), 50), kRouterMac},
        {ipv6_udp(source, ip("2001:db8:ee::1"), 51), std::nullopt},
        {ipv6_udp(source, ip("2001:db8:ff::2"), 52), kRouterMac},
        {ipv6_udp(source, ip("2001:db8:dd::1"), 53), kHostMac},
        {ipv6_udp(source, kUnresolved, 54), kCoreMac},
        {ipv6_udp(source, ip("2001:db8:ee::2"), 55), std::nullopt},
        {ipv6_udp(source, ip("2001:db8:ff::3"), 56), kRouterMac},
        {ipv6_udp(source, ip("2001:db8:dd::2"), 57), kHostMac},
    };
    for (const auto& [packet, neighbor] : expected)
        inject(home, ethernet(kHomeMac, kHostMac, packet));
    pump();
    auto out = sent(core);
    std::size_t next = 0, punted = 0;
    for (const auto& [packet, neighbor] : expected) {
        if (!neighbor) {
            ASSERT_LT(punted, punts.size());
            EXPECT_EQ(punts[punted].reason, PuntReason::NeedsResolution);
            EXPECT_EQ(punts[punted++].frame, ethernet(kHomeMac, kHostMac, packet));
            continue;
        }
        ASSERT_LT(next, out.size());
        EXPECT_EQ(out[next++], ethernet(*neighbor, kCoreMac, decremented(packet)));
    }
    EXPECT_EQ(next, out.size());
    EXPECT_EQ(punted, punts.size());
    EXPECT_EQ(rt->totals().forwarded, 6u);
}

TEST_F(DataPlaneTest, HopLimitOneIsPuntedNotForwarded) {
    publish(snapshot(kHoa, {path_to(kCareOf, core, 1)}, to_path(0)));
    auto to_hoa = ipv6_udp(kCorrespondent, kHoa, 20, 5000, 1);
    auto routed = ipv6_udp(ip("2001:db8:1::9"), kCorrespondent, 20, 5000, 1);
    auto last_hop = ipv6_udp(kCorrespondent, kHoa, 20, 5000, 2);
    inject(core, ethernet(kCoreMac, kRouterMac, to_hoa));
    inject(home, ethernet(kHomeMac, kHostMac, routed));
    inject(core, ethernet(kCoreMac, kRouterMac, last_hop));
    pump();
    ASSERT_EQ(punts.size(), 2u);
    for (const auto& p : punts) EXPECT_EQ(p.reason, PuntReason::HopLimitExceeded);
    auto out = sent(core);
    ASSERT_EQ(out.size(), 1u);
    auto inner = expect_tunnelled(out[0], kCareOf, true);
    ASSERT_EQ(inner.size(), last_hop.size());
    EXPECT_EQ(inner[7], 1);
    EXPECT_EQ(rt->totals().encapsulated, 1u);
}

TEST_F(DataPlaneTest, FramesForAnotherMacAreDroppedMulticastIsPunted) {
    publish(snapshot(kHoa, {path_to(kCareOf, core, 1)}, to_path(0)));
    inject(core,
           ethernet(mac("02:00:00:00:02:03"), kRouterMac, ipv6_udp(kCorrespondent, kHoa, 20)));
    auto all_nodes = ipv6_udp(ip("fe80::1"), ip("ff02::1"), 20);
    inject(home, ethernet(mac("33:33:00:00:00:01"), kHostMac, all_nodes));
    pump();
    EXPECT_TRUE(sent(core).empty());
    EXPECT_EQ(dropped(DropReason::NotForUs), 1u);
    ASSERT_EQ(punts.size(), 1u);
    EXPECT_EQ(punts[0].reason, PuntReason::Local);
    EXPECT_EQ(punts[0].port, home.id);
}

TEST_F(DataPlaneTest, NonIpv6AndMalformedFramesAreDropped) {
    publish(snapshot(kHoa, {path_to(kCareOf, core, 1)}, to_path(0)));
    std::vector<std::uint8_t> arp(46, 0);
    inject(home, ethernet(kHomeMac, kHostMac, arp, 0x0806));
    inject(home, ethernet(kHomeMac, kHostMac, arp, 0x0800));
    // IPv6 ethertype, version 4 in the header.
    auto wrong_version = ipv6_udp(kCorrespondent, kHoa, 20);
    wrong_version[0] = 0x45;
    inject(home, ethernet(kHomeMac, kHostMac, wrong_version));
    // Payload length beyond the frame.
    auto truncated = ipv6_udp(kCorrespondent, kHoa, 20);
    truncated.resize(truncated.size() - 4);
    inject(home, ethernet(kHomeMac, kHostMac, truncated));
    // Shorter than an IPv6 header.
    inject(home, ethernet(kHomeMac, kHostMac, std::vector<std::uint8_t>(20, 0x60)));
    // Too short for Ethernet.
    inject(home, std::vector<std::uint8_t>(10, 0));
    pump();
    EXPECT_TRUE(sent(core).empty());
    EXPECT_TRUE(punts.empty());
    EXPECT_EQ(dropped(DropReason::NotIpv6), 3u);
    EXPECT_EQ(dropped(DropReason::Malformed), 3u);
    EXPECT_EQ(rt->totals().encapsulated, 0u);
}

TEST_F(DataPlaneTest, ReplacedAndWithdrawnSnapshotsTakeEffectAtTheNextBurst) {
    publish(snapshot(kHoa, {path_to(kCareOf, core, 1)}, to_path(0), 1));
    inject(core, ethernet(kCoreMac, kRouterMac, ipv6_udp(kCorrespondent, kHoa, 20)));
    pump();
    publish(snapshot(kHoa, {path_to(kOtherCareOf, core, 1)}, to_path(0), 2));
    rt->reclaim();
    inject(core, ethernet(kCoreMac, kRouterMac, ipv6_udp(kCorrespondent, kHoa, 20)));
    pump();
    rt->withdraw_hoa(kHoa);
    rt->reclaim();
    EXPECT_EQ(rt->home_address_count(), 0u);
    // Without a binding the HoA is an address on the home link: resolution is requested.
    inject(core, ethernet(kCoreMac, kRouterMac, ipv6_udp(kCorrespondent, kHoa, 20)));
    pump();
    auto out = sent(core);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(outer_destination(out[0]), kCareOf);
    EXPECT_EQ(outer_destination(out[1]), kOtherCareOf);
    ASSERT_EQ(punts.size(), 1u);
    EXPECT_EQ(punts[0].reason, PuntReason::NeedsResolution);
}

TEST_F(DataPlaneTest, RingPortsOfferNoRteFlowSteering) {
    auto why_not = dp::signalling_steering_unavailable(home.id, 0);
    ASSERT_TRUE(why_not.has_value());
    EXPECT_NE(why_not->find("rte_flow_validate"), std::string::npos) << *why_not;
    EXPECT_EQ(rt->ports()[0].signalling_queue, -1);
    EXPECT_STREQ(rt->classifier_in_use(), "software");
}

// Can this kernel run net_tap's rte_flow rules? The tap PMD puts them under a multiq qdisc.
bool kernel_has_multiq() {
    if (access("/sys/module/sch_multiq", F_OK) == 0) return true;
    FILE* config = popen("zcat /proc/config.gz 2>/dev/null", "r");
    if (!config) return false;
    char line[256];
    bool builtin = false;
    while (fgets(line, sizeof line, config))
        if (std::string_view(line).starts_with("CONFIG_NET_SCH_MULTIQ=y")) builtin = true;
    pclose(config);
    return builtin;
}

// net_tap implements rte_flow with TC flower under a multiq qdisc. Where the kernel has
// multiq, signalling gets its own RX queue and one rule per (address, next header) plus one
// for multicast ICMPv6; where it does not, the port falls back to one queue pair per worker
// and says why. Needs root for the tap.
TEST(SignallingSteering, TapPortSteersSignallingWhereTheKernelCan) {
    if (geteuid() != 0) GTEST_SKIP() << "net_tap needs root";
    dp::RuntimeSettings settings;
    settings.ports = {{"tap",
                       "net_tap_monami" + std::to_string(getpid() % 10000) + ",iface=mtap" +
                           std::to_string(getpid() % 10000),
                       std::nullopt, 1500}};
    settings.mbufs = 1023;
    settings.mbuf_cache = 32;
    settings.max_home_addresses = 64;
    settings.max_paths = 64;
    settings.rx_descriptors = 128;  // two RX queues' mbufs must fit in the pool
    settings.tx_descriptors = 128;
    settings.steer_signalling = true;
    std::string error;
    auto rt = dp::Runtime::create(settings, error);
    ASSERT_TRUE(rt) << error;
    const auto& port = rt->ports()[0];
    rte_eth_dev_info info{};
    RoutingState routing;
    routing.local_addresses = {kHomeAgent, ip("2001:db8:1::2"), ip("fe80::1")};
    routing.routes.push_back({*Ipv6Prefix::parse("2001:db8:1::/64"), port.id, std::nullopt});
    rt->publish_routing(routing);
    if (kernel_has_multiq()) {
        EXPECT_EQ(port.signalling_queue, 1) << port.steering;
        EXPECT_STREQ(rt->classifier_in_use(), "rte_flow+software");
        ASSERT_EQ(rte_eth_dev_info_get(port.id, &info), 0);
        EXPECT_EQ(info.nb_rx_queues, 2u);
        EXPECT_EQ(rt->signalling_queue_counters(port.id).rules, 1u + 3u * 4u);
        // New addresses replace the rules.
        routing.local_addresses.pop_back();
        rt->publish_routing(routing);
        EXPECT_EQ(rt->signalling_queue_counters(port.id).rules, 1u + 2u * 4u);
    } else {
        EXPECT_EQ(port.signalling_queue, -1);
        EXPECT_EQ(port.steering.rfind("software (rte_flow_create", 0), 0u) << port.steering;
        EXPECT_STREQ(rt->classifier_in_use(), "software");
        // Reconfigured back to one queue pair per worker, so nothing waits in an unpolled queue.
        ASSERT_EQ(rte_eth_dev_info_get(port.id, &info), 0);
        EXPECT_EQ(info.nb_rx_queues, 1u);
        EXPECT_EQ(rt->signalling_queue_counters(port.id).rules, 0u);
    }
}

}  // namespace
}  // namespace monami::test
