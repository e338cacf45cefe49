#include <gtest/gtest.h>

#include "controlplane/ha/home_agent.hpp"
#include "controlplane/mh/exthdr.hpp"
#include "controlplane/mh/parser.hpp"
#include "controlplane/net/icmpv6.hpp"
#include "controlplane/net/packet.hpp"

using namespace monami;

namespace {

// Records what the control plane asks of the data plane.
struct RecordingDataPlane : DataPlane {
    std::vector<std::pair<PortId, std::vector<std::uint8_t>>> sent;
    std::vector<RoutingState> published;
    bool send_frame(PortId port, std::span<const std::uint8_t> frame) override {
        sent.emplace_back(port, std::vector<std::uint8_t>(frame.begin(), frame.end()));
        return true;
    }
    std::map<HomeAddress, std::shared_ptr<const HoaSnapshot>> hoas;
    std::vector<HomeAddress> withdrawn;
    void publish_routing(const RoutingState& s) override { published.push_back(s); }
    void publish_hoa(std::unique_ptr<const HoaSnapshot> snap) override {
        hoas[snap->home_address] = std::move(snap);
    }
    void withdraw_hoa(const HomeAddress& hoa) override {
        hoas.erase(hoa);
        withdrawn.push_back(hoa);
    }
    PathCounters path_counters(std::uint32_t) const override { return {}; }
    void reclaim() override {}
};

const MacAddress kGwMac = *MacAddress::parse("02:00:00:00:00:01");
const MacAddress kHostMac = *MacAddress::parse("02:00:00:00:00:99");
const Ipv6Address kGw = *Ipv6Address::parse("2001:db8:1::1");
const Ipv6Address kHost = *Ipv6Address::parse("2001:db8:1::99");

ha::HaSettings settings() {
    ha::HaSettings s;
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
    // The sender's link-layer address was learned and published.
    ASSERT_EQ(dp.published.size(), 2u);
    ASSERT_EQ(dp.published[1].neighbors.size(), 1u);
    EXPECT_EQ(dp.published[1].neighbors[0].address, kHost);
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
    ASSERT_FALSE(dp.published.empty());
    ASSERT_EQ(dp.published.back().neighbors.size(), 1u);
    EXPECT_EQ(dp.published.back().neighbors[0].mac, kHostMac);
}
