// monami-mn: the option parser and the mobile node engine, driven with frames built by the
// project's own codecs (the HA side of each exchange) and checked with its parsers.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "controlplane/mh/builder.hpp"
#include "controlplane/mh/exthdr.hpp"
#include "controlplane/mh/parser.hpp"
#include "controlplane/net/icmpv6.hpp"
#include "controlplane/net/packet.hpp"
#include "tools/mn/mobile_node.hpp"
#include "tools/mn/options.hpp"

using namespace monami;
using namespace monami::mn;

namespace {

Ipv6Address addr(const char* text) {
    return *Ipv6Address::parse(text);
}
MacAddress mac(const char* text) {
    return *MacAddress::parse(text);
}

const MacAddress kGatewayMac = mac("02:00:00:00:00:01");
const MacAddress kWifiMac = mac("02:00:00:00:0a:01");
const MacAddress kCellMac = mac("02:00:00:00:0b:01");

MnOptions parse_ok(std::vector<std::string> args) {
    auto parsed = parse_command_line(args);
    EXPECT_TRUE(parsed.ok()) << (parsed.ok() ? "" : parsed.error());
    return parsed.ok() ? *parsed : MnOptions{};
}

std::vector<std::string> base_args() {
    return {"--home-address",
            "2001:db8:1::100",
            "--home-agent",
            "2001:db8:1::1",
            "--link",
            "wifi:veth-w:2001:db8:a::100",
            "--link",
            "cell:veth-c:2001:db8:b::100",
            "--gateway-mac",
            "02:00:00:00:00:01",
            "--initial-timeout",
            "1000",
            "--max-timeout",
            "4000"};
}

struct Sent {
    std::size_t link;
    std::vector<std::uint8_t> frame;
};

struct Harness {
    std::vector<Sent> sent;
    std::vector<std::string> events;
    std::vector<std::vector<std::uint8_t>> tun;
    MobileNode node;

    explicit Harness(const MnOptions& options)
        : node(
              options,
              {LinkEnvironment{kWifiMac, std::nullopt, true},
               LinkEnvironment{kCellMac, std::nullopt, true}},
              [this](std::size_t link, std::span<const std::uint8_t> frame) {
                  sent.push_back({link, {frame.begin(), frame.end()}});
                  return true;
              },
              [this](const std::string& line) { events.push_back(line); },
              [this](std::span<const std::uint8_t> ip) {
                  tun.emplace_back(ip.begin(), ip.end());
              }) {}

    // The frames whose IPv6 payload is a Mobility Header, decoded.
    std::vector<std::pair<Sent, mh::ParsedMh>> mobility(std::size_t from = 0) const {
        std::vector<std::pair<Sent, mh::ParsedMh>> out;
        for (std::size_t i = from; i < sent.size(); ++i) {
            auto ip = std::span(sent[i].frame).subspan(net::kEthernetHeaderSize);
            auto chain = mh::walk_ipv6_headers(ip);
            if (!chain || chain->upper_layer_protocol != net::kProtoMobility) continue;
            auto parsed = mh::parse_mh(chain->upper_layer(ip), chain->checksum_source(),
                                       chain->checksum_destination());
            EXPECT_TRUE(parsed.ok());
            if (parsed.ok()) out.emplace_back(sent[i], *parsed);
        }
        return out;
    }
    bool saw(const std::string& fragment) const {
        for (const auto& e : events)
            if (e.find(fragment) != std::string::npos) return true;
        return false;
    }
};

std::vector<std::uint8_t> frame_to(const MacAddress& dst, std::span<const std::uint8_t> ip) {
    std::vector<std::uint8_t> frame(net::kEthernetHeaderSize + ip.size());
    net::write_ethernet_header(frame.data(), dst, kGatewayMac);
    std::copy(ip.begin(), ip.end(), frame.begin() + net::kEthernetHeaderSize);
    return frame;
}

// The BA a home agent answers `bu` with (every BID accepted unless `status` says otherwise).
std::vector<std::uint8_t> ba_frame(const mh::BindingUpdate& bu, const CareOfAddress& coa,
                                   const MacAddress& to, std::uint8_t status = 0,
                                   std::optional<std::uint16_t> sequence = std::nullopt) {
    mh::BindingAck ba;
    ba.status = status;
    ba.sequence = sequence.value_or(bu.sequence);
    ba.lifetime_4s = bu.lifetime_4s;
    ba.options.binding_ids = bu.options.binding_ids;
    for (auto& b : ba.options.binding_ids) b.status = status;
    for (const auto& f : bu.options.flows) {
        mh::FlowIdentification answer;
        answer.fid = f.fid;
        answer.priority = f.priority;
        ba.options.flows.push_back(answer);
    }
    return frame_to(to,
                    mh::build_ba_packet(ba, addr("2001:db8:1::1"), coa, addr("2001:db8:1::100")));
}

}  // namespace

// ---- options ---------------------------------------------------------------------------

TEST(MnOptions, ParsesFullCommandLine) {
    auto args = base_args();
    for (const char* a :
         {"--mn-id", "mn1@example.com", "--lifetime", "120", "--bulk", "--flow",
          "fid=1,prio=10,bids=1+cell,proto=17,dport=5000-5100", "--prefix", "2001:db8:100::/56",
          "--run-for", "2.5", "--deregister-at-exit", "--tap", "mn0"})
        args.push_back(a);
    auto o = parse_ok(args);
    EXPECT_EQ(o.home_address, addr("2001:db8:1::100"));
    EXPECT_EQ(o.home_agent, addr("2001:db8:1::1"));
    ASSERT_EQ(o.links.size(), 2u);
    EXPECT_EQ(o.links[1].name, "cell");
    EXPECT_EQ(o.links[1].interface, "veth-c");
    EXPECT_EQ(o.links[1].care_of, addr("2001:db8:b::100"));
    EXPECT_EQ(o.mn_id, "mn1@example.com");
    EXPECT_EQ(o.lifetime_s, 120u);
    EXPECT_TRUE(o.bulk);
    EXPECT_TRUE(o.deregister_at_exit);
    EXPECT_EQ(o.gateway_mac, kGatewayMac);
    EXPECT_DOUBLE_EQ(*o.run_for_s, 2.5);
    ASSERT_EQ(o.flows.size(), 1u);
    EXPECT_EQ(o.flows[0].bids, (std::vector<std::uint16_t>{1, 2}));
    EXPECT_EQ(o.flows[0].priority, 10);
    EXPECT_EQ(o.flows[0].selector.next_header, (mh::Range<std::uint8_t>{17, 17}));
    EXPECT_EQ(o.flows[0].selector.destination_port, (mh::Range<std::uint16_t>{5000, 5100}));
    ASSERT_EQ(o.prefixes.size(), 1u);
    EXPECT_EQ(o.prefixes[0].length, 56);
    EXPECT_EQ(o.tap, "mn0");
    ASSERT_EQ(o.tap_routes.size(), 1u);  // ::/0 by default
    EXPECT_EQ(o.tap_routes[0].length, 0);
}

TEST(MnOptions, LinkSpecWithViaAndMac) {
    auto link =
        parse_link_spec("cell:veth-c:2001:db8:b::100,via=2001:db8:b::1,mac=02:00:00:00:00:02");
    ASSERT_TRUE(link.ok()) << link.error();
    EXPECT_EQ(link->via, addr("2001:db8:b::1"));
    EXPECT_EQ(link->gateway_mac, mac("02:00:00:00:00:02"));
    EXPECT_FALSE(parse_link_spec("cell:veth-c").ok());
    EXPECT_FALSE(parse_link_spec("cell:veth-c:not-an-address").ok());
    EXPECT_FALSE(parse_link_spec("cell:veth-c:2001:db8:b::100,colour=blue").ok());
}

TEST(MnOptions, FlowSpecRangesAndErrors) {
    std::vector<LinkSpec> links(2);
    links[0].name = "wifi";
    links[1].name = "cell";
    auto f =
        parse_flow_spec("fid=7,bids=cell,src=2001:db8:5::/64,dst=2001:db8:1::100,tc=46", links);
    ASSERT_TRUE(f.ok()) << f.error();
    EXPECT_EQ(f->bids, (std::vector<std::uint16_t>{2}));
    EXPECT_EQ(f->selector.source_address->start, addr("2001:db8:5::"));
    EXPECT_EQ(f->selector.source_address->end, addr("2001:db8:5::ffff:ffff:ffff:ffff"));
    EXPECT_EQ(f->selector.destination_address->start, f->selector.destination_address->end);
    EXPECT_EQ(f->selector.traffic_class, (mh::Range<std::uint8_t>{46, 46}));
    EXPECT_FALSE(parse_flow_spec("bids=1", links).ok());          // no fid
    EXPECT_FALSE(parse_flow_spec("fid=1", links).ok());           // no bids
    EXPECT_FALSE(parse_flow_spec("fid=1,bids=lte", links).ok());  // unknown link
    EXPECT_FALSE(parse_flow_spec("fid=1,bids=1,dport=9-3", links).ok());
    EXPECT_FALSE(parse_flow_spec("fid=70000,bids=1", links).ok());
}

TEST(MnOptions, RejectsIncompleteOrInconsistentCommandLines) {
    EXPECT_FALSE(
        parse_command_line(std::vector<std::string>{"--home-agent", "2001:db8:1::1"}).ok());
    auto args = base_args();
    args.insert(args.end(), {"--flow", "fid=1,bids=3"});  // only two links
    EXPECT_FALSE(parse_command_line(args).ok());
    args = base_args();
    args.insert(args.end(), {"--lifetime", "1"});
    EXPECT_FALSE(parse_command_line(args).ok());
    args = base_args();
    args.insert(args.end(), {"--link", "wifi:x:2001:db8:c::1"});  // duplicate name
    EXPECT_FALSE(parse_command_line(args).ok());
    args = base_args();
    args.push_back("--frobnicate");
    EXPECT_FALSE(parse_command_line(args).ok());
}

// ---- registration ----------------------------------------------------------------------

TEST(MobileNode, BulkRegistrationCarriesEveryBidWithItsCoa) {
    auto args = base_args();
    args.insert(args.end(), {"--bulk", "--mn-id", "mn1@example.com", "--prefix",
                             "2001:db8:100::/56", "--flow", "fid=1,prio=5,bids=1+2,proto=17"});
    Harness h(parse_ok(args));
    h.node.start(0);
    auto mhs = h.mobility();
    ASSERT_EQ(mhs.size(), 1u);
    const auto& [sent, parsed] = mhs[0];
    EXPECT_EQ(sent.link, 0u);  // over the first live link
    // Ethernet: to the configured gateway MAC from the wifi interface.
    EXPECT_EQ(MacAddress::from_bytes(sent.frame.data()), kGatewayMac);
    EXPECT_EQ(MacAddress::from_bytes(sent.frame.data() + 6), kWifiMac);
    auto chain = mh::walk_ipv6_headers(std::span(sent.frame).subspan(14));
    ASSERT_TRUE(chain.ok());
    EXPECT_EQ(chain->source, addr("2001:db8:a::100"));
    EXPECT_EQ(chain->destination, addr("2001:db8:1::1"));
    EXPECT_EQ(chain->home_address_option, addr("2001:db8:1::100"));
    const auto& bu = std::get<mh::BindingUpdate>(parsed.message);
    EXPECT_TRUE(bu.ack_requested);
    EXPECT_TRUE(bu.home_registration);
    EXPECT_TRUE(bu.mobile_router);
    EXPECT_EQ(bu.lifetime_4s, 15);
    ASSERT_EQ(bu.options.binding_ids.size(), 2u);
    EXPECT_EQ(bu.options.binding_ids[0].bid, 1);
    EXPECT_EQ(bu.options.binding_ids[0].care_of_v6, addr("2001:db8:a::100"));
    EXPECT_EQ(bu.options.binding_ids[1].bid, 2);
    EXPECT_EQ(bu.options.binding_ids[1].care_of_v6, addr("2001:db8:b::100"));
    ASSERT_TRUE(bu.options.mn_id.has_value());
    EXPECT_EQ(std::string(bu.options.mn_id->identifier.begin(), bu.options.mn_id->identifier.end()),
              "mn1@example.com");
    ASSERT_EQ(bu.options.network_prefixes.size(), 1u);
    EXPECT_EQ(bu.options.network_prefixes[0].prefix_length, 56);
    // The flow rides in the same BU: its BIDs are registered by it.
    ASSERT_EQ(bu.options.flows.size(), 1u);
    EXPECT_EQ(bu.options.flows[0].bid_references, (std::vector<std::uint16_t>{1, 2}));

    h.node.on_frame(0, ba_frame(bu, addr("2001:db8:a::100"), kWifiMac), 100);
    EXPECT_TRUE(h.node.registered(1));
    EXPECT_TRUE(h.node.registered(2));
    EXPECT_TRUE(h.saw(R"({"event":"ba","link":"wifi","seq":)" + std::to_string(bu.sequence) +
                      R"(,"status":0,"lifetime":60,"bids":{"1":0,"2":0},"flows":{"1":0}})"));
    // Refresh at 80% of the granted lifetime, with a Flow Summary for the registered flow.
    EXPECT_EQ(h.node.next_deadline_ms(), 100u + 48000u);
    std::size_t before = h.sent.size();
    h.node.on_tick(100 + 48000);
    auto refresh = h.mobility(before);
    ASSERT_EQ(refresh.size(), 1u);
    const auto& again = std::get<mh::BindingUpdate>(refresh[0].second.message);
    EXPECT_EQ(again.sequence, bu.sequence + 1);
    EXPECT_EQ(again.options.binding_ids.size(), 2u);
    EXPECT_EQ(again.options.flow_summary, (std::vector<std::uint16_t>{1}));
    EXPECT_TRUE(again.options.flows.empty());
}

TEST(MobileNode, RetransmitsWithNewSequenceAndDoublingTimeout) {
    Harness h(parse_ok(base_args()));
    h.node.start(0);
    auto first = h.mobility();
    ASSERT_EQ(first.size(), 2u);  // one BU per link, each with its own BID and no CoA in it
    for (std::size_t i = 0; i < 2; ++i) {
        const auto& bu = std::get<mh::BindingUpdate>(first[i].second.message);
        ASSERT_EQ(bu.options.binding_ids.size(), 1u);
        EXPECT_EQ(bu.options.binding_ids[0].bid, i + 1);
        EXPECT_FALSE(bu.options.binding_ids[0].care_of_v6.has_value());
        EXPECT_EQ(first[i].first.link, i);
    }
    // Answer the cell BU only; the wifi BU is retransmitted at 1 s, 3 s, 7 s, 11 s (cap 4 s).
    const auto& cell_bu = std::get<mh::BindingUpdate>(first[1].second.message);
    h.node.on_frame(1, ba_frame(cell_bu, addr("2001:db8:b::100"), kCellMac), 10);
    EXPECT_TRUE(h.node.registered(2));
    EXPECT_FALSE(h.node.registered(1));
    std::vector<std::uint64_t> times;
    std::vector<std::uint16_t> sequences;
    std::uint64_t now = 0;
    for (int i = 0; i < 4; ++i) {
        now = *h.node.next_deadline_ms();
        std::size_t before = h.sent.size();
        h.node.on_tick(now);
        auto mhs = h.mobility(before);
        ASSERT_EQ(mhs.size(), 1u);
        EXPECT_EQ(mhs[0].first.link, 0u);
        times.push_back(now);
        sequences.push_back(std::get<mh::BindingUpdate>(mhs[0].second.message).sequence);
    }
    EXPECT_EQ(times, (std::vector<std::uint64_t>{1000, 3000, 7000, 11000}));
    for (std::size_t i = 1; i < sequences.size(); ++i)
        EXPECT_EQ(sequences[i], sequences[i - 1] + 1);
    // A BA for an older transmission is ignored; the latest one is accepted.
    mh::BindingUpdate stale = std::get<mh::BindingUpdate>(first[0].second.message);
    h.node.on_frame(0, ba_frame(stale, addr("2001:db8:a::100"), kWifiMac), now + 1);
    EXPECT_FALSE(h.node.registered(1));
    EXPECT_TRUE(h.saw("sequence matches no pending BU"));
    stale.sequence = sequences.back();
    h.node.on_frame(0, ba_frame(stale, addr("2001:db8:a::100"), kWifiMac), now + 2);
    EXPECT_TRUE(h.node.registered(1));
}

TEST(MobileNode, SequenceOutOfWindowResynchronises) {
    Harness h(parse_ok(base_args()));
    h.node.start(0);
    auto first = h.mobility();
    const auto& bu = std::get<mh::BindingUpdate>(first[0].second.message);
    // The HA last accepted 5000 for this binding: status 135 carries that number.
    h.node.on_frame(0, ba_frame(bu, addr("2001:db8:a::100"), kWifiMac, 135, 5000), 5);
    auto resent = h.mobility(first.size());
    ASSERT_FALSE(resent.empty());
    EXPECT_EQ(std::get<mh::BindingUpdate>(resent[0].second.message).sequence, 5001);
}

TEST(MobileNode, RejectedAndMisaddressedAcksDoNotRegister) {
    Harness h(parse_ok(base_args()));
    h.node.start(0);
    auto first = h.mobility();
    const auto& wifi = std::get<mh::BindingUpdate>(first[0].second.message);
    // No type 2 routing header: not a BA for an MN away from home.
    mh::BindingAck ba;
    ba.sequence = wifi.sequence;
    ba.lifetime_4s = 15;
    ba.options.binding_ids = wifi.options.binding_ids;
    auto plain = mh::build_ipv6_mh_packet(
        ba, {addr("2001:db8:1::1"), addr("2001:db8:a::100"), std::nullopt, std::nullopt, 64});
    h.node.on_frame(0, frame_to(kWifiMac, plain), 1);
    EXPECT_FALSE(h.node.registered(1));
    EXPECT_TRUE(h.saw("no type 2 routing header"));
    // Rejected (129 administratively prohibited): stays unregistered, no more retries.
    const auto& cell = std::get<mh::BindingUpdate>(first[1].second.message);
    h.node.on_frame(1, ba_frame(cell, addr("2001:db8:b::100"), kCellMac, 129), 2);
    EXPECT_FALSE(h.node.registered(2));
    EXPECT_TRUE(h.saw(R"("status":129)"));
}

TEST(MobileNode, AnswersHeartbeatAndRefreshRequest) {
    Harness h(parse_ok(base_args()));
    h.node.start(0);
    std::size_t before = h.sent.size();
    mh::Heartbeat hb;
    hb.sequence = 77;
    auto request = mh::build_ipv6_mh_packet(
        hb, {addr("2001:db8:1::1"), addr("2001:db8:b::100"), std::nullopt, std::nullopt, 64});
    h.node.on_frame(1, frame_to(kCellMac, request), 10);
    auto replies = h.mobility(before);
    ASSERT_EQ(replies.size(), 1u);
    EXPECT_EQ(replies[0].first.link, 1u);
    const auto& reply = std::get<mh::Heartbeat>(replies[0].second.message);
    EXPECT_TRUE(reply.response);
    EXPECT_FALSE(reply.unsolicited);
    EXPECT_EQ(reply.sequence, 77u);

    before = h.sent.size();
    mh::BindingRefreshRequest brr;
    auto brr_ip = mh::build_ipv6_mh_packet(brr, {addr("2001:db8:1::1"), addr("2001:db8:b::100"),
                                                 std::nullopt, addr("2001:db8:1::100"), 64});
    h.node.on_frame(1, frame_to(kCellMac, brr_ip), 20);
    auto bus = h.mobility(before);
    ASSERT_EQ(bus.size(), 1u);
    EXPECT_EQ(bus[0].first.link, 1u);
    EXPECT_EQ(std::get<mh::BindingUpdate>(bus[0].second.message).options.binding_ids[0].bid, 2);

    // RFC 5648 s.5.8: a BRR naming BID 1 (whichever link it came in on) refreshes BID 1.
    before = h.sent.size();
    brr.options.binding_ids.push_back(mh::BindingIdentifier{});
    brr.options.binding_ids.back().bid = 1;
    brr_ip = mh::build_ipv6_mh_packet(brr, {addr("2001:db8:1::1"), addr("2001:db8:b::100"),
                                            std::nullopt, addr("2001:db8:1::100"), 64});
    h.node.on_frame(1, frame_to(kCellMac, brr_ip), 30);
    bus = h.mobility(before);
    ASSERT_EQ(bus.size(), 1u);
    EXPECT_EQ(bus[0].first.link, 0u);
    EXPECT_EQ(std::get<mh::BindingUpdate>(bus[0].second.message).options.binding_ids[0].bid, 1);
}

// RFC 6089 s.5: a flow goes out once its BIDs are registered (here by the BU before, still
// in flight: the HA takes BUs in sequence order), every later BU names it in the Flow
// Summary, and it is removed by leaving it out.
TEST(MobileNode, FlowRidesOnceItsBidsAreBoundAndIsRemovedByOmission) {
    auto args = base_args();
    args.insert(args.end(), {"--flow", "fid=3,bids=wifi+cell,proto=6"});
    Harness h(parse_ok(args));
    h.node.start(0);
    auto first = h.mobility();
    ASSERT_EQ(first.size(), 2u);
    const auto& wifi_bu = std::get<mh::BindingUpdate>(first[0].second.message);
    const auto& cell_bu = std::get<mh::BindingUpdate>(first[1].second.message);
    EXPECT_TRUE(wifi_bu.options.flows.empty());  // BID 2 not bound yet
    EXPECT_FALSE(wifi_bu.options.flow_summary.has_value());
    ASSERT_EQ(cell_bu.options.flows.size(), 1u);
    EXPECT_EQ(cell_bu.options.flows[0].fid, 3);
    EXPECT_EQ(cell_bu.options.flows[0].bid_references, (std::vector<std::uint16_t>{1, 2}));
    h.node.on_frame(0, ba_frame(wifi_bu, addr("2001:db8:a::100"), kWifiMac), 5);
    h.node.on_frame(1, ba_frame(cell_bu, addr("2001:db8:b::100"), kCellMac), 6);
    EXPECT_TRUE(h.saw(R"("flows":{"3":0})"));
    EXPECT_EQ(h.mobility(2).size(), 0u);  // nothing left to send

    // A refresh names the flow in the Flow Summary, unchanged.
    std::size_t before = h.sent.size();
    h.node.on_tick(48100);
    auto refreshes = h.mobility(before);
    ASSERT_FALSE(refreshes.empty());
    for (const auto& [sent, parsed] : refreshes) {
        const auto& bu = std::get<mh::BindingUpdate>(parsed.message);
        EXPECT_TRUE(bu.options.flows.empty());
        EXPECT_EQ(bu.options.flow_summary, (std::vector<std::uint16_t>{3}));
        h.node.on_frame(sent.link,
                        ba_frame(bu, sent.link ? addr("2001:db8:b::100") : addr("2001:db8:a::100"),
                                 sent.link ? kCellMac : kWifiMac),
                        100001);
    }

    // Removal goes out at once: a BU that names no flow.
    before = h.sent.size();
    EXPECT_EQ(h.node.command("flow remove 3", 100002), CommandOutcome::Ok);
    auto removal = h.mobility(before);
    ASSERT_EQ(removal.size(), 1u);
    const auto& rm = std::get<mh::BindingUpdate>(removal[0].second.message);
    EXPECT_TRUE(rm.options.flows.empty());
    EXPECT_FALSE(rm.options.flow_summary.has_value());
    h.node.on_frame(
        removal[0].first.link,
        ba_frame(rm, removal[0].first.link ? addr("2001:db8:b::100") : addr("2001:db8:a::100"),
                 removal[0].first.link ? kCellMac : kWifiMac),
        100003);
    before = h.sent.size();
    h.node.emit_stats();
    EXPECT_TRUE(h.saw(R"("flows":[])"));
    EXPECT_EQ(h.mobility(before).size(), 0u);
    EXPECT_EQ(h.node.command("flow remove 99", 100004), CommandOutcome::Error);
}

// A refused change is given up (not resent with every BU); a flow the HA no longer holds
// (FID NOT FOUND for the summary) is added again with the next BU.
TEST(MobileNode, RefusedFlowIsGivenUpAndALostOneReAdded) {
    auto args = base_args();
    args.insert(args.end(), {"--bulk", "--flow", "fid=3,bids=wifi,proto=6"});
    Harness h(parse_ok(args));
    h.node.start(0);
    auto first = h.mobility();
    ASSERT_EQ(first.size(), 1u);
    auto bu = std::get<mh::BindingUpdate>(first[0].second.message);
    ASSERT_EQ(bu.options.flows.size(), 1u);
    h.node.on_frame(0, ba_frame(bu, addr("2001:db8:a::100"), kWifiMac), 5);
    // The HA lost flow 3: the next refresh's summary is answered 132.
    std::size_t before = h.sent.size();
    h.node.on_tick(48100);
    auto refresh = h.mobility(before);
    ASSERT_EQ(refresh.size(), 1u);
    auto refresh_bu = std::get<mh::BindingUpdate>(refresh[0].second.message);
    EXPECT_EQ(refresh_bu.options.flow_summary, (std::vector<std::uint16_t>{3}));
    mh::BindingAck ba;
    ba.sequence = refresh_bu.sequence;
    ba.lifetime_4s = refresh_bu.lifetime_4s;
    ba.options.binding_ids = refresh_bu.options.binding_ids;
    mh::FlowIdentification lost;
    lost.fid = 3;
    lost.status = mh::fid_status::kFidNotFound;
    ba.options.flows.push_back(lost);
    before = h.sent.size();
    h.node.on_frame(
        0,
        frame_to(kWifiMac, mh::build_ba_packet(ba, addr("2001:db8:1::1"), addr("2001:db8:a::100"),
                                               addr("2001:db8:1::100"))),
        100001);
    auto readd = h.mobility(before);
    ASSERT_EQ(readd.size(), 1u);
    const auto& readd_bu = std::get<mh::BindingUpdate>(readd[0].second.message);
    ASSERT_EQ(readd_bu.options.flows.size(), 1u);
    EXPECT_EQ(readd_bu.options.flows[0].fid, 3);
    // Refused (administratively prohibited): given up, nothing more is sent for it.
    ba = {};
    ba.sequence = readd_bu.sequence;
    ba.lifetime_4s = readd_bu.lifetime_4s;
    ba.options.binding_ids = readd_bu.options.binding_ids;
    mh::FlowIdentification refused;
    refused.fid = 3;
    refused.status = mh::fid_status::kAdministrativelyProhibited;
    ba.options.flows.push_back(refused);
    before = h.sent.size();
    h.node.on_frame(
        0,
        frame_to(kWifiMac, mh::build_ba_packet(ba, addr("2001:db8:1::1"), addr("2001:db8:a::100"),
                                               addr("2001:db8:1::100"))),
        100002);
    EXPECT_EQ(h.mobility(before).size(), 0u);
    h.node.emit_stats();
    EXPECT_TRUE(h.saw(R"("flows":[])"));
}

TEST(MobileNode, LinkDownSilencesTheLinkAndUpReregisters) {
    Harness h(parse_ok(base_args()));
    h.node.start(0);
    auto first = h.mobility();
    for (std::size_t i = 0; i < 2; ++i)
        h.node.on_frame(i,
                        ba_frame(std::get<mh::BindingUpdate>(first[i].second.message),
                                 i ? addr("2001:db8:b::100") : addr("2001:db8:a::100"),
                                 i ? kCellMac : kWifiMac),
                        5);
    EXPECT_EQ(h.node.command("link down cell", 10), CommandOutcome::Ok);
    std::size_t before = h.sent.size();
    mh::Heartbeat hb;
    hb.sequence = 1;
    auto request = mh::build_ipv6_mh_packet(
        hb, {addr("2001:db8:1::1"), addr("2001:db8:b::100"), std::nullopt, std::nullopt, 64});
    h.node.on_frame(1, frame_to(kCellMac, request), 20);
    h.node.on_tick(60000);  // refreshes only what is up
    for (std::size_t i = before; i < h.sent.size(); ++i) EXPECT_EQ(h.sent[i].link, 0u);
    EXPECT_EQ(h.node.counters(1).rx_frames, 1u);  // only the first BA, nothing while down
    before = h.sent.size();
    EXPECT_EQ(h.node.command("link up cell", 60001), CommandOutcome::Ok);
    auto bus = h.mobility(before);
    ASSERT_EQ(bus.size(), 1u);
    EXPECT_EQ(bus[0].first.link, 1u);
    EXPECT_EQ(h.node.command("link up lte", 1), CommandOutcome::Error);
}

TEST(MobileNode, ShutdownDeregistersEverythingAndWaitsForTheAck) {
    auto args = base_args();
    args.insert(args.end(), {"--bulk", "--deregister-at-exit"});
    Harness h(parse_ok(args));
    h.node.start(0);
    auto first = h.mobility();
    h.node.on_frame(0,
                    ba_frame(std::get<mh::BindingUpdate>(first[0].second.message),
                             addr("2001:db8:a::100"), kWifiMac),
                    5);
    std::size_t before = h.sent.size();
    h.node.begin_shutdown(100);
    EXPECT_FALSE(h.node.shutdown_complete(100));
    auto dereg = h.mobility(before);
    ASSERT_EQ(dereg.size(), 1u);
    const auto& bu = std::get<mh::BindingUpdate>(dereg[0].second.message);
    EXPECT_EQ(bu.lifetime_4s, 0);
    EXPECT_TRUE(bu.options.binding_ids.empty());  // RFC 5648: no BID = every binding
    h.node.on_frame(0, ba_frame(bu, addr("2001:db8:a::100"), kWifiMac), 150);
    EXPECT_TRUE(h.node.shutdown_complete(150));
    EXPECT_FALSE(h.node.registered(1));
    EXPECT_FALSE(h.node.registered(2));
}

TEST(MobileNode, SolicitsTheNextHopAndHoldsPacketsUntilResolved) {
    auto args = parse_ok({"--home-address", "2001:db8:1::100", "--home-agent", "2001:db8:1::1",
                          "--link", "wifi:veth-w:2001:db8:a::100,via=2001:db8:a::1"});
    std::vector<Sent> sent;
    std::vector<std::string> events;
    MobileNode node(
        args, {LinkEnvironment{kWifiMac, std::nullopt, true}},
        [&](std::size_t link, std::span<const std::uint8_t> f) {
            sent.push_back({link, {f.begin(), f.end()}});
            return true;
        },
        [&](const std::string& e) { events.push_back(e); });
    node.start(0);
    ASSERT_EQ(sent.size(), 1u);  // the NS; the BU waits
    auto ns_packet = net::parse_ipv6_frame(sent[0].frame);
    ASSERT_TRUE(ns_packet.ok());
    auto icmp = net::parse_icmpv6(*ns_packet);
    ASSERT_TRUE(icmp.ok());
    auto ns = net::parse_neighbor_solicitation(*ns_packet, *icmp);
    ASSERT_TRUE(ns.ok());
    EXPECT_EQ(ns->target, addr("2001:db8:a::1"));
    EXPECT_EQ(ns->source_link_layer, kWifiMac);
    net::NeighborAdvertisement na{true, true, true, addr("2001:db8:a::1"), kGatewayMac};
    node.on_frame(0,
                  net::build_neighbor_advertisement(kWifiMac, kGatewayMac, addr("2001:db8:a::1"),
                                                    addr("2001:db8:a::100"), na),
                  5);
    ASSERT_EQ(sent.size(), 2u);  // the BU, now to the router's MAC
    EXPECT_EQ(MacAddress::from_bytes(sent[1].frame.data()), kGatewayMac);
}

// ---- tunnel ----------------------------------------------------------------------------

TEST(MobileNode, DecapsulatesFromTheHaAndReverseTunnelsByFlow) {
    auto args = base_args();
    args.insert(args.end(), {"--bulk", "--flow", "fid=1,bids=cell,proto=17,dport=5000"});
    Harness h(parse_ok(args));
    h.node.start(0);
    auto first = h.mobility();
    h.node.on_frame(0,
                    ba_frame(std::get<mh::BindingUpdate>(first[0].second.message),
                             addr("2001:db8:a::100"), kWifiMac),
                    5);
    // Inner: CN -> HoA, UDP to port 5000.
    std::vector<std::uint8_t> inner(48, 0);
    net::write_ipv6_header(inner.data(), 8, net::kProtoUdp, 63, addr("2001:db8:5::1"),
                           addr("2001:db8:1::100"));
    net::store_be16(inner.data() + 40, 40000);
    net::store_be16(inner.data() + 42, 5000);
    net::store_be16(inner.data() + 44, 8);
    std::vector<std::uint8_t> outer(40 + inner.size());
    net::write_ipv6_header(outer.data(), static_cast<std::uint16_t>(inner.size()),
                           net::kProtoIpv6InIpv6, 64, addr("2001:db8:1::1"),
                           addr("2001:db8:a::100"));
    std::copy(inner.begin(), inner.end(), outer.begin() + 40);
    h.node.on_frame(0, frame_to(kWifiMac, outer), 10);
    ASSERT_EQ(h.tun.size(), 1u);
    EXPECT_EQ(h.tun[0], inner);
    EXPECT_EQ(h.node.counters(0).rx_tunnelled, 1u);
    // Spoofed outer source: dropped.
    net::write_ipv6_header(outer.data(), static_cast<std::uint16_t>(inner.size()),
                           net::kProtoIpv6InIpv6, 64, addr("2001:db8:6::1"),
                           addr("2001:db8:a::100"));
    h.node.on_frame(0, frame_to(kWifiMac, outer), 11);
    EXPECT_EQ(h.tun.size(), 1u);
    EXPECT_EQ(h.node.counters(0).dropped, 1u);

    // Uplink of the same flow (HoA:5000 -> CN): the flow binds it to cell.
    std::vector<std::uint8_t> up(48, 0);
    net::write_ipv6_header(up.data(), 8, net::kProtoUdp, 64, addr("2001:db8:1::100"),
                           addr("2001:db8:5::1"));
    net::store_be16(up.data() + 40, 5000);
    net::store_be16(up.data() + 42, 40000);
    std::size_t before = h.sent.size();
    h.node.on_tun_packet(up, 20);
    ASSERT_EQ(h.sent.size(), before + 1);
    EXPECT_EQ(h.sent.back().link, 1u);
    net::Ipv6HeaderView o{h.sent.back().frame.data() + 14};
    EXPECT_EQ(o.source(), addr("2001:db8:b::100"));
    EXPECT_EQ(o.destination(), addr("2001:db8:1::1"));
    EXPECT_EQ(o.next_header(), net::kProtoIpv6InIpv6);
    // Other traffic: the first live registered link; with cell down the flow falls back too.
    net::store_be16(up.data() + 40, 6000);
    h.node.on_tun_packet(up, 21);
    EXPECT_EQ(h.sent.back().link, 0u);
    ASSERT_EQ(h.node.command("link down wifi", 22), CommandOutcome::Ok);
    h.node.on_tun_packet(up, 23);
    EXPECT_EQ(h.sent.back().link, 1u);
    EXPECT_EQ(h.node.counters(1).tx_tunnelled, 2u);
}
