// Failure detection: the LivenessTracker's state machine, and the home agent sending RFC 5847
// heartbeats, moving flows off a failed CoA (and only those), bringing them back with
// hysteresis, and reacting to ICMPv6 errors and port link state.
#include <gtest/gtest.h>

#include "tests/unit/recording_dataplane.hpp"

#include "controlplane/ha/home_agent.hpp"
#include "controlplane/ha/liveness.hpp"
#include "controlplane/mh/exthdr.hpp"
#include "controlplane/mh/parser.hpp"
#include "controlplane/net/icmpv6.hpp"
#include "controlplane/net/packet.hpp"

using namespace monami;
using ha::LivenessTracker;
using ha::PathId;

namespace {

const HomeAddress kHoa = *Ipv6Address::parse("2001:db8:1::100");
const Ipv6Address kHa = *Ipv6Address::parse("2001:db8:1::1");
const CareOfAddress kCoa1 = *Ipv6Address::parse("2001:db8:a::100");
const CareOfAddress kCoa2 = *Ipv6Address::parse("2001:db8:a::101");
const CareOfAddress kCoa3 = *Ipv6Address::parse("2001:db8:a::102");

ha::LivenessSettings fast() {
    return {true, 100, 3, 2, {}};
}

}  // namespace

TEST(LivenessTracker, OneMissIsSuspectMissedLimitIsDeadRecoveryNeedsConsecutiveAnswers) {
    LivenessTracker t(fast());
    PathId p{kHoa, 1, true};
    EXPECT_EQ(t.track(p, kCoa1, 0), BindingState::Live);
    EXPECT_EQ(t.next_deadline_ms(), 100u);
    EXPECT_TRUE(t.tick(99).heartbeats.empty());

    auto first = t.tick(100);
    ASSERT_EQ(first.heartbeats.size(), 1u);
    EXPECT_EQ(first.heartbeats[0].care_of, kCoa1);
    EXPECT_TRUE(first.transitions.empty());
    std::uint32_t seq = first.heartbeats[0].sequence;

    // Unanswered for an interval: one miss, Suspect, and the next request goes out.
    auto second = t.tick(200);
    ASSERT_EQ(second.transitions.size(), 1u);
    EXPECT_EQ(second.transitions[0].from, BindingState::Live);
    EXPECT_EQ(second.transitions[0].to, BindingState::Suspect);
    EXPECT_EQ(second.transitions[0].cause, ha::LivenessCause::HeartbeatMiss);
    EXPECT_EQ(second.misses, 1u);
    ASSERT_EQ(second.heartbeats.size(), 1u);
    EXPECT_NE(second.heartbeats[0].sequence, seq);

    EXPECT_TRUE(t.tick(300).transitions.empty());  // two misses: still Suspect
    auto dead = t.tick(400);
    ASSERT_EQ(dead.transitions.size(), 1u);
    EXPECT_EQ(dead.transitions[0].to, BindingState::Dead);
    EXPECT_EQ(dead.transitions[0].misses, 3u);
    EXPECT_EQ(t.state(p), BindingState::Dead);

    // Recovery: recovery_answers (2) consecutive answers; one is not enough.
    std::optional<ha::LivenessTransition> tr;
    EXPECT_EQ(t.on_response(kCoa1, dead.heartbeats[0].sequence, 410, tr),
              ha::ResponseMatch::Matched);
    EXPECT_FALSE(tr);
    EXPECT_EQ(t.state(p), BindingState::Dead);
    auto next = t.tick(500);
    EXPECT_TRUE(next.transitions.empty());  // answered: no miss
    EXPECT_EQ(t.on_response(kCoa1, next.heartbeats[0].sequence, 510, tr),
              ha::ResponseMatch::Matched);
    ASSERT_TRUE(tr);
    EXPECT_EQ(tr->from, BindingState::Dead);
    EXPECT_EQ(tr->to, BindingState::Live);
    EXPECT_EQ(t.find(p)->transitions, 3u);
}

TEST(LivenessTracker, StateCountsFollowEveryChange) {
    LivenessTracker t(fast());
    t.track({kHoa, 1, true}, kCoa1, 0);
    t.track({kHoa, 2, true}, kCoa2, 0);
    EXPECT_EQ(t.count(BindingState::Live), 2u);
    t.tick(100);
    t.tick(200);  // one miss each: Suspect
    EXPECT_EQ(t.count(BindingState::Live), 0u);
    EXPECT_EQ(t.count(BindingState::Suspect), 2u);
    t.track({kHoa, 1, true}, kCoa3, 250);  // a new CoA restarts the path Live
    EXPECT_EQ(t.count(BindingState::Live), 1u);
    EXPECT_EQ(t.count(BindingState::Suspect), 1u);
    t.forget(kHoa, {{kHoa, 1, true}});
    EXPECT_EQ(t.count(BindingState::Suspect), 0u);
    EXPECT_EQ(t.count(BindingState::Live), 1u);
    t.forget(kHoa, {});
    EXPECT_EQ(t.count(BindingState::Live), 0u);
    EXPECT_EQ(t.size(), 0u);
}

TEST(LivenessTracker, ErrorsAndAnswersFindTheirPathsThroughTheCareOfIndex) {
    LivenessTracker t(fast());
    const HomeAddress other = *Ipv6Address::parse("2001:db8:1::200");
    t.track({kHoa, 1, true}, kCoa1, 0);
    t.track({other, 1, true}, kCoa1, 0);  // two MNs behind one CoA (a NAT-less shared CoA)
    t.track({other, 2, true}, kCoa2, 0);
    auto out = t.on_unreachable(kCoa1, 10);
    ASSERT_EQ(out.size(), 2u);
    EXPECT_EQ(out[0].path.hoa, kHoa);
    EXPECT_EQ(out[1].path.hoa, other);
    EXPECT_EQ(t.state({other, 2, true}), BindingState::Live);
    // Re-pointing a path takes it out of its old CoA's list.
    t.track({kHoa, 1, true}, kCoa3, 20);
    EXPECT_EQ(t.on_unreachable(kCoa1, 30).size(), 0u);  // `other` is Suspect already
    EXPECT_EQ(t.on_unreachable(kCoa3, 30).size(), 1u);
    t.forget(other, {});
    EXPECT_TRUE(t.on_unreachable(kCoa1, 40).empty());
    // Answers: an older request to a CoA is late, a sequence never sent to it unknown.
    auto tick = t.tick(120);
    ASSERT_EQ(tick.heartbeats.size(), 1u);
    std::optional<ha::LivenessTransition> tr;
    const auto seq = tick.heartbeats[0].sequence;
    auto later = t.tick(220);
    ASSERT_EQ(later.heartbeats.size(), 1u);
    EXPECT_EQ(t.on_response(kCoa3, seq, 230, tr), ha::ResponseMatch::Stale);
    EXPECT_EQ(t.on_response(kCoa3, seq + 100, 230, tr), ha::ResponseMatch::Unknown);
    EXPECT_EQ(t.on_response(kCoa1, seq, 230, tr), ha::ResponseMatch::Unknown);
    EXPECT_EQ(t.on_response(kCoa3, later.heartbeats[0].sequence, 230, tr),
              ha::ResponseMatch::Matched);
}

TEST(LivenessTracker, HeartbeatsOnlyToCareOfPrefixesWhenGiven) {
    auto s = fast();
    s.care_of_prefixes = {*Ipv6Prefix::parse("2001:db8:a::100/127")};  // kCoa1 and kCoa2
    LivenessTracker t(s);
    t.track({kHoa, 1, true}, kCoa1, 0);
    t.track({kHoa, 2, true}, kCoa2, 0);
    t.track({kHoa, 3, true}, kCoa3, 0);
    auto tick = t.tick(100);
    ASSERT_EQ(tick.heartbeats.size(), 2u);
    EXPECT_NE(tick.heartbeats[0].care_of, kCoa3);
    EXPECT_NE(tick.heartbeats[1].care_of, kCoa3);
    t.tick(200);
    EXPECT_EQ(t.state({kHoa, 3, true}), BindingState::Live);  // never asked, never missed
    EXPECT_EQ(t.state({kHoa, 1, true}), BindingState::Suspect);
}

TEST(LivenessTracker, AtMostTheBudgetOfPathsATick) {
    LivenessTracker t(fast());
    for (std::uint16_t b = 1; b <= 10; ++b) t.track({kHoa, b, true}, kCoa1, 0);
    EXPECT_EQ(t.tick(100, 4).heartbeats.size(), 4u);
    EXPECT_EQ(t.next_deadline_ms(), 100u);  // the rest are still due
    EXPECT_EQ(t.tick(101, 4).heartbeats.size(), 4u);
    EXPECT_EQ(t.tick(102, 4).heartbeats.size(), 2u);
    EXPECT_EQ(t.next_deadline_ms(), 200u);
}

TEST(LivenessTracker, SuspectComesBackWithOneAnswerAndAMissResetsRecovery) {
    LivenessTracker t(fast());
    PathId p{kHoa, 1, true};
    t.track(p, kCoa1, 0);
    t.tick(100);
    auto s = t.tick(200);
    ASSERT_EQ(t.state(p), BindingState::Suspect);
    std::optional<ha::LivenessTransition> tr;
    t.on_response(kCoa1, s.heartbeats[0].sequence, 250, tr);
    ASSERT_TRUE(tr);
    EXPECT_EQ(tr->to, BindingState::Live);

    // Dead, one answer, then a miss: the count of answers starts again.
    t.tick(300);
    t.tick(400);
    auto d = t.tick(500);
    t.tick(600);  // (the answer below is to the request of 500: stale now)
    ASSERT_EQ(t.state(p), BindingState::Dead);
    EXPECT_EQ(t.on_response(kCoa1, d.heartbeats[0].sequence, 610, tr), ha::ResponseMatch::Stale);
    auto a = t.tick(700);
    t.on_response(kCoa1, a.heartbeats[0].sequence, 710, tr);
    EXPECT_EQ(t.find(p)->answers, 1u);
    t.tick(800);  // answered at 710, the request of 700... the one of 800 is now outstanding
    auto miss = t.tick(900);
    EXPECT_EQ(miss.misses, 1u);
    EXPECT_EQ(t.find(p)->answers, 0u);
    t.on_response(kCoa1, miss.heartbeats[0].sequence, 910, tr);
    EXPECT_EQ(t.state(p), BindingState::Dead);
}

TEST(LivenessTracker, ResponsesAreMatchedBySequenceAndCareOf) {
    LivenessTracker t(fast());
    t.track({kHoa, 1, true}, kCoa1, 0);
    t.track({kHoa, 2, true}, kCoa2, 0);
    auto tick = t.tick(100);
    ASSERT_EQ(tick.heartbeats.size(), 2u);
    EXPECT_NE(tick.heartbeats[0].sequence, tick.heartbeats[1].sequence);
    std::optional<ha::LivenessTransition> tr;
    const auto& to1 = tick.heartbeats[0].path.bid == 1 ? tick.heartbeats[0] : tick.heartbeats[1];
    // The right sequence from the wrong CoA, and a sequence never sent.
    EXPECT_EQ(t.on_response(kCoa2, to1.sequence, 110, tr), ha::ResponseMatch::Unknown);
    EXPECT_EQ(t.on_response(kCoa1, 999999, 110, tr), ha::ResponseMatch::Unknown);
    EXPECT_EQ(t.on_response(kCoa1, to1.sequence, 110, tr), ha::ResponseMatch::Matched);
    EXPECT_EQ(t.on_response(kCoa1, to1.sequence, 111, tr), ha::ResponseMatch::Stale);
    // Only path 2 missed.
    auto next = t.tick(200);
    ASSERT_EQ(next.transitions.size(), 1u);
    EXPECT_EQ(next.transitions[0].path.bid, 2);
}

TEST(LivenessTracker, IcmpErrorSuspectsUntilTheNextAnswerOrATimeoutWithoutHeartbeats) {
    LivenessTracker t(fast());
    PathId p{kHoa, 1, true};
    t.track(p, kCoa1, 0);
    auto tr = t.on_unreachable(kCoa1, 50);
    ASSERT_EQ(tr.size(), 1u);
    EXPECT_EQ(tr[0].to, BindingState::Suspect);
    EXPECT_EQ(tr[0].cause, ha::LivenessCause::IcmpError);
    EXPECT_TRUE(t.on_unreachable(*Ipv6Address::parse("2001:db8:ff::1"), 50).empty());
    auto hb = t.tick(100);
    std::optional<ha::LivenessTransition> back;
    t.on_response(kCoa1, hb.heartbeats[0].sequence, 120, back);
    ASSERT_TRUE(back);
    EXPECT_EQ(back->to, BindingState::Live);

    LivenessTracker quiet({false, 100, 3, 2, {}});
    quiet.track(p, kCoa1, 0);
    EXPECT_FALSE(quiet.next_deadline_ms());  // no heartbeats
    quiet.on_unreachable(kCoa1, 50);
    EXPECT_EQ(quiet.next_deadline_ms(), 350u);
    EXPECT_TRUE(quiet.tick(349).transitions.empty());
    auto cleared = quiet.tick(350);
    ASSERT_EQ(cleared.transitions.size(), 1u);
    EXPECT_EQ(cleared.transitions[0].to, BindingState::Live);
    EXPECT_TRUE(cleared.heartbeats.empty());
}

TEST(LivenessTracker, NewCareOfRestartsLiveAndForgetDropsPaths) {
    LivenessTracker t(fast());
    PathId p{kHoa, 1, true};
    t.track(p, kCoa1, 0);
    t.tick(100);
    t.tick(200);
    ASSERT_EQ(t.state(p), BindingState::Suspect);
    EXPECT_EQ(t.track(p, kCoa1, 210), BindingState::Suspect);  // same CoA: state kept
    EXPECT_EQ(t.track(p, kCoa2, 220), BindingState::Live);     // moved: a new path
    EXPECT_EQ(t.tick(300).misses, 0u);  // the old schedule died with the old CoA
    t.track({kHoa, 2, true}, kCoa3, 0);
    t.forget(kHoa, {{kHoa, 2, true}});
    EXPECT_EQ(t.size(), 1u);
    EXPECT_EQ(t.find(p), nullptr);
}

// ---- the home agent ---------------------------------------------------------------------

namespace {

using monami::test_support::RecordingDataPlane;

const MacAddress kGwMac = *MacAddress::parse("02:00:00:00:00:01");
const MacAddress kAccessMac = *MacAddress::parse("02:00:00:00:00:02");
const MacAddress kMnMac = *MacAddress::parse("02:00:00:00:00:99");
constexpr PortId kHomePort = 0, kAccessPort = 1;

ha::HaSettings agent_settings(config::RuleMode mode) {
    ha::HaSettings s;
    s.duplicate_address_detection = false;  // BAs at once; DAD has its own tests
    s.interfaces.push_back({kHomePort, "home", kGwMac, {{kHa, 64}}, 1500});
    s.interfaces.push_back(
        {kAccessPort, "access", kAccessMac, {{*Ipv6Address::parse("2001:db8:a::1"), 64}}, 1500});
    for (const auto& coa : {kCoa1, kCoa2, kCoa3})
        s.static_neighbors.push_back({coa, kAccessPort, kMnMac});
    s.ha_addresses = {kHa};
    s.home_prefixes = {*Ipv6Prefix::parse("2001:db8:1::/64")};
    config::Rule any;
    any.mode = mode;
    s.policies.profiles.push_back({"default", {any}});
    s.policies.default_profile = "default";
    s.policies.default_profile_index = 0;
    s.liveness = fast();
    return s;
}

std::vector<std::uint8_t> frame_of(const std::vector<std::uint8_t>& ip, const MacAddress& dst,
                                   const MacAddress& src) {
    std::vector<std::uint8_t> frame(net::kEthernetHeaderSize + ip.size());
    net::write_ethernet_header(frame.data(), dst, src);
    std::copy(ip.begin(), ip.end(), frame.begin() + net::kEthernetHeaderSize);
    return frame;
}

// A bulk BU registering three CoAs (BIDs 1..3) from CoA 1.
std::vector<std::uint8_t> bulk_bu() {
    mh::BindingUpdate bu;
    bu.sequence = 1;
    bu.ack_requested = true;
    bu.home_registration = true;
    bu.lifetime_4s = 100;
    std::uint16_t bid = 1;
    for (const auto& coa : {kCoa1, kCoa2, kCoa3}) {
        mh::BindingIdentifier b;
        b.bid = bid++;
        b.care_of_v6 = coa;
        bu.options.binding_ids.push_back(b);
    }
    return frame_of(mh::build_bu_packet(bu, kCoa1, kHa, kHoa), kAccessMac, kMnMac);
}

struct SentHeartbeat {
    CareOfAddress to;
    std::uint32_t sequence;
};

std::vector<SentHeartbeat> heartbeats(RecordingDataPlane& dp) {
    std::vector<SentHeartbeat> out;
    for (const auto& [port, frame] : dp.sent) {
        auto p = net::parse_ipv6_frame(frame);
        if (!p) continue;
        auto chain = mh::walk_ipv6_headers(p->ip);
        if (!chain || chain->upper_layer_protocol != net::kProtoMobility) continue;
        auto parsed = mh::parse_mh(chain->upper_layer(p->ip), chain->checksum_source(),
                                   chain->checksum_destination());
        if (!parsed) continue;
        if (const auto* hb = std::get_if<mh::Heartbeat>(&parsed->message)) {
            EXPECT_EQ(port, kAccessPort);
            EXPECT_FALSE(hb->response);
            EXPECT_EQ(p->source, kHa);
            // RFC 6275 s.6.1: no type 2 routing header on anything but a BA.
            EXPECT_FALSE(chain->type2_routing_address.has_value());
            out.push_back({p->destination, hb->sequence});
        }
    }
    dp.sent.clear();
    return out;
}

std::vector<std::uint8_t> response(const SentHeartbeat& hb) {
    mh::Heartbeat r;
    r.response = true;
    r.sequence = hb.sequence;
    return frame_of(mh::build_ipv6_mh_packet(r, {hb.to, kHa, {}, {}, 64}), kAccessMac, kMnMac);
}

std::uint16_t bid_of_slot(const HoaSnapshot& snap, unsigned slot) {
    std::uint8_t path = snap.default_action.choice[slot];
    return path == kNoBinding ? 0 : snap.paths[path].bid;
}

// Answers every heartbeat except those to `silent`, and ticks at `now`.
void answer_all_but(ha::HomeAgent& agent, RecordingDataPlane& dp, const CareOfAddress& silent,
                    std::uint64_t now) {
    for (const auto& hb : heartbeats(dp))
        if (hb.to != silent)
            agent.on_frame(kAccessPort, PuntReason::Local, 0, response(hb), now + 1);
}

}  // namespace

TEST(HomeAgentLiveness, DeadCoaLosesOnlyItsFlowsAndGetsThemBackAfterHysteresis) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(agent_settings(config::RuleMode::weighted), dp);
    std::vector<std::string> log;
    agent.set_event_log([&](const std::string& line) { log.push_back(line); });
    agent.start(0);
    agent.on_frame(kAccessPort, PuntReason::Local, 0, bulk_bu(), 0);
    ASSERT_EQ(dp.hoas.count(kHoa), 1u);
    auto before = dp.hoas[kHoa];
    ASSERT_EQ(before->paths.size(), 3u);
    dp.sent.clear();

    agent.on_tick(50);
    EXPECT_TRUE(heartbeats(dp).empty());
    agent.on_tick(100);
    auto first = heartbeats(dp);
    ASSERT_EQ(first.size(), 3u);  // one per CoA
    for (const auto& hb : first)
        if (hb.to != kCoa1) agent.on_frame(kAccessPort, PuntReason::Local, 0, response(hb), 101);
    EXPECT_EQ(agent.counters().heartbeat_responses, 2u);

    // CoA 1 misses: Suspect at once, its slots go to the others, nothing else moves.
    agent.on_tick(200);
    auto suspect = dp.hoas[kHoa];
    ASSERT_NE(suspect, before);
    EXPECT_EQ(suspect->paths[0].state, BindingState::Suspect);
    unsigned moved = 0;
    for (unsigned s = 0; s < kChoiceSlots; ++s) {
        std::uint16_t was = bid_of_slot(*before, s), now = bid_of_slot(*suspect, s);
        EXPECT_NE(now, 1) << s;
        if (was != 1) {
            EXPECT_EQ(now, was) << "slot " << s << " of a healthy CoA moved";
        }
        moved += was == 1;
    }
    EXPECT_GT(moved, 10u);
    EXPECT_EQ(agent.counters().paths_suspect, 1u);
    EXPECT_EQ(agent.counters().failover_publishes, 1u);
    EXPECT_GT(agent.counters().failover_last_ns, 0u);
    answer_all_but(agent, dp, kCoa1, 200);
    agent.on_tick(300);
    answer_all_but(agent, dp, kCoa1, 300);
    agent.on_tick(400);
    EXPECT_EQ(dp.hoas[kHoa]->paths[0].state, BindingState::Dead);
    EXPECT_EQ(agent.counters().paths_dead, 1u);
    EXPECT_EQ(agent.counters().heartbeat_misses, 3u);
    auto rows = agent.binding_rows(kHoa, 400);
    ASSERT_EQ(rows.size(), 3u);
    EXPECT_EQ(rows[0]["state"], "dead");
    EXPECT_EQ(rows[0]["heartbeat_misses"], "3");
    EXPECT_EQ(rows[1]["state"], "live");
    ASSERT_FALSE(log.empty());
    EXPECT_NE(log.back().find("suspect -> dead (heartbeat miss, 3 missed) at 400 ms"),
              std::string::npos)
        << log.back();

    // Answers again: Dead until two consecutive answers (recovery 2), then the flows return.
    for (std::uint64_t now : {400u, 500u}) {
        EXPECT_EQ(dp.hoas[kHoa]->paths[0].state, BindingState::Dead) << now;
        for (const auto& hb : heartbeats(dp))
            agent.on_frame(kAccessPort, PuntReason::Local, 0, response(hb), now + 1);
        agent.on_tick(now + 100);
    }
    auto back = dp.hoas[kHoa];
    EXPECT_EQ(back->paths[0].state, BindingState::Live);
    EXPECT_EQ(agent.counters().paths_recovered, 1u);
    unsigned returned = 0;
    for (unsigned s = 0; s < kChoiceSlots; ++s) returned += bid_of_slot(*back, s) == 1;
    EXPECT_GT(returned, 10u);
}

TEST(HomeAgentLiveness, IcmpUnreachableAboutOurTunnelSuspectsThatCoa) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(agent_settings(config::RuleMode::prefer), dp);
    agent.start(0);
    agent.on_frame(kAccessPort, PuntReason::Local, 0, bulk_bu(), 0);
    ASSERT_EQ(bid_of_slot(*dp.hoas[kHoa], 0), 1);  // prefer: the lowest BID

    // A router says CoA 2 is unreachable: it was not carrying the flows, nothing moves.
    auto icmp_about = [&](const CareOfAddress& coa) {
        std::vector<std::uint8_t> invoking(net::kIpv6HeaderSize + 8);
        net::write_ipv6_header(invoking.data(), 8, net::kProtoIpv6InIpv6, 63, kHa, coa);
        std::vector<std::uint8_t> body(4);
        body.insert(body.end(), invoking.begin(), invoking.end());
        return net::build_icmpv6_frame(kAccessMac, kMnMac, *Ipv6Address::parse("2001:db8:a::fe"),
                                       kHa, 64, net::icmp6::kDestinationUnreachable, 3, body);
    };
    agent.on_frame(kAccessPort, PuntReason::Local, 0, icmp_about(kCoa2), 10);
    EXPECT_EQ(dp.hoas[kHoa]->paths[1].state, BindingState::Suspect);
    EXPECT_EQ(bid_of_slot(*dp.hoas[kHoa], 0), 1);
    agent.on_frame(kAccessPort, PuntReason::Local, 0, icmp_about(kCoa1), 20);
    EXPECT_EQ(bid_of_slot(*dp.hoas[kHoa], 0), 3);  // the only Live one
    EXPECT_EQ(agent.counters().icmp_unreachable_received, 2u);
    EXPECT_EQ(agent.counters().paths_suspect, 2u);

    // The next answered heartbeat clears it.
    dp.sent.clear();
    agent.on_tick(100);
    for (const auto& hb : heartbeats(dp))
        agent.on_frame(kAccessPort, PuntReason::Local, 0, response(hb), 101);
    EXPECT_EQ(bid_of_slot(*dp.hoas[kHoa], 0), 1);
    EXPECT_EQ(dp.hoas[kHoa]->paths[1].state, BindingState::Live);

    // An error about someone else's packet changes nothing.
    std::vector<std::uint8_t> invoking(net::kIpv6HeaderSize);
    net::write_ipv6_header(invoking.data(), 0, 59, 63, *Ipv6Address::parse("2001:db8:9::9"), kCoa1);
    std::vector<std::uint8_t> body(4);
    body.insert(body.end(), invoking.begin(), invoking.end());
    agent.on_frame(
        kAccessPort, PuntReason::Local, 0,
        net::build_icmpv6_frame(kAccessMac, kMnMac, *Ipv6Address::parse("2001:db8:a::fe"), kHa, 64,
                                net::icmp6::kDestinationUnreachable, 3, body),
        120);
    EXPECT_EQ(dp.hoas[kHoa]->paths[0].state, BindingState::Live);
}

TEST(HomeAgentLiveness, PortLinkDownKillsItsPathsAndHeartbeatRequestsAreAnswered) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(agent_settings(config::RuleMode::prefer), dp);
    agent.start(0);
    agent.on_frame(kAccessPort, PuntReason::Local, 0, bulk_bu(), 0);
    agent.on_port_link(kAccessPort, false, 5);
    for (const auto& p : dp.hoas[kHoa]->paths) EXPECT_EQ(p.state, BindingState::Dead);
    EXPECT_EQ(dp.hoas[kHoa]->default_action.choice[0], kNoBinding);
    dp.sent.clear();
    agent.on_tick(100);
    EXPECT_TRUE(heartbeats(dp).empty());  // nothing leaves by a port that is down
    agent.on_tick(200);
    EXPECT_EQ(agent.counters().heartbeat_misses, 0u);  // and what was not sent is no miss
    agent.on_port_link(kAccessPort, true, 150);
    EXPECT_EQ(bid_of_slot(*dp.hoas[kHoa], 0), 1);
    EXPECT_EQ(agent.counters().port_link_changes, 2u);

    // The MN may probe us too (RFC 5847 s.3): answered with R set and the same sequence.
    dp.sent.clear();
    mh::Heartbeat req;
    req.sequence = 77;
    agent.on_frame(
        kAccessPort, PuntReason::Local, 0,
        frame_of(mh::build_ipv6_mh_packet(req, {kCoa1, kHa, {}, {}, 64}), kAccessMac, kMnMac), 160);
    ASSERT_EQ(dp.sent.size(), 1u);
    auto p = net::parse_ipv6_frame(dp.sent[0].second);
    ASSERT_TRUE(p.ok());
    auto chain = mh::walk_ipv6_headers(p->ip);
    auto parsed = mh::parse_mh(chain->upper_layer(p->ip), chain->checksum_source(),
                               chain->checksum_destination());
    ASSERT_TRUE(parsed.ok());
    const auto* hb = std::get_if<mh::Heartbeat>(&parsed->message);
    ASSERT_NE(hb, nullptr);
    EXPECT_TRUE(hb->response);
    EXPECT_EQ(hb->sequence, 77u);
    EXPECT_EQ(p->destination, kCoa1);
    EXPECT_EQ(agent.counters().heartbeat_requests_answered, 1u);
}

TEST(HomeAgentLiveness, WhenEveryCoaIsSuspectTheSuspectOnesStillCarryTheFlows) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(agent_settings(config::RuleMode::weighted), dp);
    agent.start(0);
    agent.on_frame(kAccessPort, PuntReason::Local, 0, bulk_bu(), 0);
    agent.on_tick(100);
    agent.on_tick(200);  // nobody answers
    const auto& snap = *dp.hoas[kHoa];
    for (const auto& p : snap.paths) EXPECT_EQ(p.state, BindingState::Suspect);
    for (unsigned s = 0; s < kChoiceSlots; ++s) EXPECT_NE(bid_of_slot(snap, s), 0) << s;
    agent.on_tick(300);
    agent.on_tick(400);
    for (const auto& p : dp.hoas[kHoa]->paths) EXPECT_EQ(p.state, BindingState::Dead);
    EXPECT_EQ(dp.hoas[kHoa]->default_action.choice[0], kNoBinding);
}

// With ESP the SA vouches for a home address: a response through another HoA's SA does not
// answer this path's request, even from the right CoA with the right sequence number.
TEST(LivenessTracker, ResponseVouchedForAnotherHomeAddressDoesNotMatch) {
    LivenessTracker t(fast());
    PathId p{kHoa, 1, true};
    t.track(p, kCoa1, 0);
    auto first = t.tick(100);
    ASSERT_EQ(first.heartbeats.size(), 1u);
    const std::uint32_t seq = first.heartbeats[0].sequence;
    std::optional<ha::LivenessTransition> tr;
    const HomeAddress other = *Ipv6Address::parse("2001:db8:1::200");
    EXPECT_EQ(t.on_response(kCoa1, seq, 110, tr, other), ha::ResponseMatch::Unknown);
    EXPECT_EQ(t.find(p)->answers, 0u);
    EXPECT_EQ(t.on_response(kCoa1, seq, 120, tr, kHoa), ha::ResponseMatch::Matched);
    EXPECT_EQ(t.find(p)->answers, 1u);
}
