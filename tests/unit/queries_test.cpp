// The control thread's answers to telemetry (controlplane/ha/queries.*), the question
// mailbox between threads (dataplane/api/control_query.*), the loop's latency histogram, and
// the agent's bounded slices of large changes (TickBudget).
#include <gtest/gtest.h>

#include <set>
#include <thread>

#include "controlplane/ha/home_agent.hpp"
#include "controlplane/ha/queries.hpp"
#include "controlplane/mh/builder.hpp"
#include "controlplane/net/packet.hpp"
#include "dataplane/api/control_query.hpp"
#include "dataplane/api/histogram.hpp"
#include "tests/unit/recording_dataplane.hpp"

using namespace monami;
using monami::test_support::RecordingDataPlane;

namespace {

const MacAddress kGwMac = *MacAddress::parse("02:00:00:00:00:01");
const MacAddress kAccessMac = *MacAddress::parse("02:00:00:00:00:02");
const MacAddress kRouterMac = *MacAddress::parse("02:00:00:00:00:fe");
const Ipv6Address kGw = *Ipv6Address::parse("2001:db8:1::1");
const Ipv6Address kRouter = *Ipv6Address::parse("2001:db8:f::fe");

ha::HaSettings settings() {
    ha::HaSettings s;
    s.duplicate_address_detection = false;  // BAs at once; DAD has its own tests
    s.interfaces.push_back({0, "home", kGwMac, {{kGw, 64}}, 1500});
    s.interfaces.push_back(
        {1, "access", kAccessMac, {{*Ipv6Address::parse("2001:db8:f::1"), 64}}, 1500});
    s.static_routes.push_back({*Ipv6Prefix::parse("2001:db8:a::/48"), 1, kRouter});
    s.static_neighbors.push_back({kRouter, 1, kRouterMac});
    s.ha_addresses = {kGw};
    s.home_prefixes = {*Ipv6Prefix::parse("2001:db8:1::/64")};
    s.bindings.max_lifetime_s = 400;
    s.liveness.heartbeats = false;
    s.security.admission.packets_per_second = 1'000'000'000;
    s.security.admission.burst = 1'000'000;
    s.security.admission.unknown_per_iteration = 1'000'000;
    return s;
}

Ipv6Address hoa(std::uint32_t i) {
    auto a = *Ipv6Address::parse("2001:db8:1::");
    a.bytes[12] = static_cast<std::uint8_t>(i >> 24);
    a.bytes[13] = static_cast<std::uint8_t>(i >> 16);
    a.bytes[14] = static_cast<std::uint8_t>(i >> 8);
    a.bytes[15] = static_cast<std::uint8_t>(i);
    a.bytes[11] = 1;  // never the subnet-router anycast (::) nor our ::1
    return a;
}

Ipv6Address coa(std::uint32_t i, std::uint8_t link) {
    auto a = hoa(i);
    a.bytes[4] = 0;
    a.bytes[5] = 0x0a;  // 2001:db8:a::/48
    a.bytes[6] = link;
    return a;
}

// A bulk BU of `home` with `links` CoAs (BIDs 1..links), as a frame from the access router.
std::vector<std::uint8_t> bu_frame(const Ipv6Address& home, const Ipv6Address& first_coa,
                                   unsigned links, std::uint16_t seq = 1,
                                   std::uint16_t lifetime_4s = 50) {
    mh::BindingUpdate bu;
    bu.sequence = seq;
    bu.ack_requested = true;
    bu.home_registration = true;
    bu.lifetime_4s = lifetime_4s;
    for (unsigned l = 0; l < links; ++l) {
        auto c = first_coa;
        c.bytes[6] = static_cast<std::uint8_t>(l);
        bu.options.binding_ids.push_back(
            {static_cast<std::uint16_t>(l + 1), 0, false, false, c, {}});
    }
    auto ip = mh::build_bu_packet(bu, first_coa, kGw, home);
    std::vector<std::uint8_t> frame(net::kEthernetHeaderSize);
    net::write_ethernet_header(frame.data(), kAccessMac, kRouterMac);
    frame.insert(frame.end(), ip.begin(), ip.end());
    return frame;
}

struct Fixture {
    RecordingDataPlane dp;
    ha::HomeAgent agent;
    explicit Fixture(ha::HaSettings s = settings()) : agent(std::move(s), dp) {
        dp.only_port = 0;  // BAs (port 1) are not kept: thousands of them
        agent.start(0);
    }
    void register_hoas(std::uint32_t first, std::uint32_t n, unsigned links, std::uint64_t now) {
        for (std::uint32_t i = first; i < first + n; ++i) {
            agent.on_frame(1, PuntReason::Local, 0, bu_frame(hoa(i), coa(i, 0), links), now);
            agent.on_tick(now);  // BUs from new CoAs wait one iteration (admission)
        }
    }
};

std::vector<std::map<std::string, std::string>> records(const QueryReply& reply) {
    std::vector<std::map<std::string, std::string>> out;
    for (std::size_t i = 0;; ++i) {
        const auto* v = reply.find("r" + std::to_string(i));
        if (!v) return out;
        std::map<std::string, std::string> row;
        for (const auto& item : std::get<std::vector<std::string>>(*v)) {
            auto eq = item.find('=');
            row[item.substr(0, eq)] = item.substr(eq + 1);
        }
        out.push_back(std::move(row));
    }
}

std::uint64_t number(const QueryReply& reply, const std::string& key) {
    const auto* v = reply.find(key);
    return v ? std::get<std::uint64_t>(*v) : ~std::uint64_t{0};
}

std::string text(const QueryReply& reply, const std::string& key) {
    const auto* v = reply.find(key);
    return v ? std::get<std::string>(*v) : "<absent>";
}

QueryReply ask(const ha::HomeAgent& agent, const std::string& command, const std::string& params,
               const ha::ReplyLimits& limits = {}) {
    QueryReply reply;
    EXPECT_TRUE(ha::answer_query(agent, {command, params}, 1000, reply, limits));
    return reply;
}

// JSON bytes DPDK telemetry writes for the records of a reply (strings quoted, commas).
std::size_t reply_bytes(const QueryReply& reply) {
    std::size_t n = 0;
    for (const auto& e : reply.entries) {
        n += e.key.size() + 4;
        if (const auto* items = std::get_if<std::vector<std::string>>(&e.value))
            for (const auto& s : *items) n += s.size() + 3;
        else if (const auto* s = std::get_if<std::string>(&e.value))
            n += s->size() + 2;
        else
            n += 20;
    }
    return n;
}

}  // namespace

TEST(ControlQueries, AnsweredByTheServingThread) {
    ControlQueries queries;
    std::atomic<bool> stop{false};
    std::thread control([&] {
        while (!stop.load())
            queries.serve([](const Query& q, QueryReply& r) { r.add("echo", q.params); });
    });
    for (int i = 0; i < 50; ++i) {
        QueryReply reply;
        ASSERT_TRUE(queries.ask({"/x", std::to_string(i)}, reply, std::chrono::seconds(10)));
        EXPECT_EQ(text(reply, "echo"), std::to_string(i));
    }
    stop = true;
    control.join();
    EXPECT_EQ(queries.answered(), 50u);
    EXPECT_EQ(queries.timed_out(), 0u);
}

TEST(ControlQueries, NobodyServingTimesOutAndLeavesNothingBehind) {
    ControlQueries queries;
    QueryReply reply;
    EXPECT_FALSE(queries.ask({"/x", ""}, reply, std::chrono::milliseconds(20)));
    EXPECT_EQ(queries.timed_out(), 1u);
    // The withdrawn question is not answered later (its reply no longer exists).
    unsigned calls = 0;
    EXPECT_EQ(queries.serve([&](const Query&, QueryReply&) { ++calls; }), 0u);
    EXPECT_EQ(calls, 0u);
}

TEST(LatencyHistogram, BucketsBoundTheirValuesWithinAnEighth) {
    for (std::uint64_t v : {0ull, 1023ull, 1024ull, 1500ull, 4095ull, 999'999ull, 1'000'000ull,
                            123'456'789ull, 30'000'000'000ull}) {
        const std::size_t b = LatencyHistogram::bucket_of(v);
        EXPECT_LE(v, LatencyHistogram::upper_bound_ns(b)) << v;
        if (b > 0) {
            EXPECT_GT(v, LatencyHistogram::upper_bound_ns(b - 1)) << v;
            if (b + 1 < LatencyHistogram::kBuckets) {
                EXPECT_LE(LatencyHistogram::upper_bound_ns(b), v + v / 8) << v;
            }
        }
    }
    EXPECT_EQ(LatencyHistogram::bucket_of(UINT64_MAX), LatencyHistogram::kBuckets - 1);
    LatencyHistogram h;
    for (int i = 0; i < 990; ++i) h.record(10'000);    // 10 us
    for (int i = 0; i < 10; ++i) h.record(2'000'000);  // 2 ms
    EXPECT_EQ(h.count(), 1000u);
    EXPECT_GE(h.quantile_ns(0.5), 10'000u);
    EXPECT_LE(h.quantile_ns(0.5), 11'250u);
    EXPECT_GE(h.quantile_ns(0.995), 2'000'000u);
    EXPECT_EQ(h.quantile_ns(1.0), 2'000'000u);  // never above the max
    EXPECT_EQ(h.max_ns(), 2'000'000u);
}

TEST(ControlAnswers, PagesYieldEveryHoaOnceInAddressOrderWithinTheReplyLimits) {
    Fixture f;
    f.register_hoas(0, 1000, 2, 1000);
    ASSERT_EQ(f.agent.binding_cache().hoa_count(), 1000u);
    const ha::ReplyLimits limits{};
    std::vector<Ipv6Address> seen;
    std::size_t bindings = 0, pages = 0;
    std::string after = "-";
    while (true) {
        QueryReply page = ask(f.agent, "/monami/bindings", after + ",1000", limits);
        ASSERT_EQ(page.status, 0);
        EXPECT_EQ(number(page, "home_addresses"), 1000u);
        EXPECT_EQ(number(page, "bindings"), 2000u);
        EXPECT_LE(reply_bytes(page), limits.bytes);
        EXPECT_LE(page.entries.size(), limits.entries);
        std::size_t hoas_in_page = 0;
        for (const auto& r : records(page)) {  // a HoA's rows are consecutive
            auto h = *Ipv6Address::parse(r.at("home_address"));
            if (hoas_in_page == 0 || seen.back() != h) {
                seen.push_back(h);
                ++hoas_in_page;
            }
            ++bindings;
        }
        EXPECT_EQ(number(page, "count"), hoas_in_page);
        ++pages;
        after = text(page, "next");
        if (after.empty()) break;
        ASSERT_LT(pages, 1000u);
    }
    EXPECT_GT(pages, 1u);  // the byte limit split the table
    EXPECT_EQ(bindings, 2000u);
    ASSERT_EQ(seen.size(), 1000u);
    EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));
    EXPECT_EQ(std::set<Ipv6Address>(seen.begin(), seen.end()).size(), 1000u);
}

TEST(ControlAnswers, HoasPresentThroughoutAPagedWalkAreSeenOnceWhateverChanges) {
    Fixture f;
    f.register_hoas(0, 300, 1, 1000);
    std::set<std::string> seen;
    std::string after = "-";
    std::uint32_t added = 1000;
    bool first = true;
    while (first || !after.empty()) {
        first = false;
        QueryReply page = ask(f.agent, "/monami/bindings", after + ",7");
        for (const auto& r : records(page))
            EXPECT_TRUE(seen.insert(r.at("home_address")).second) << r.at("home_address");
        after = text(page, "next");
        f.register_hoas(added, 3, 1, 1000);  // new HoAs between pages, everywhere in order
        added += 50;
    }
    for (std::uint32_t i = 0; i < 300; ++i) EXPECT_EQ(seen.count(hoa(i).to_string()), 1u) << i;
}

TEST(ControlAnswers, OneHoaMatchesTheCacheAndBadParametersAreRefused) {
    Fixture f;
    f.register_hoas(0, 10, 3, 1000);
    QueryReply one = ask(f.agent, "/monami/binding", hoa(4).to_string());
    ASSERT_EQ(one.status, 0);
    EXPECT_EQ(number(one, "count"), 3u);
    auto rows = records(one);
    ASSERT_EQ(rows.size(), 3u);
    for (unsigned l = 0; l < 3; ++l) {
        EXPECT_EQ(rows[l].at("home_address"), hoa(4).to_string());
        EXPECT_EQ(rows[l].at("bid"), std::to_string(l + 1));
        auto c = coa(4, 0);
        c.bytes[6] = static_cast<std::uint8_t>(l);
        EXPECT_EQ(rows[l].at("care_of"), c.to_string());
        EXPECT_EQ(rows[l].at("sequence"), "1");
    }
    EXPECT_EQ(number(ask(f.agent, "/monami/binding", hoa(500).to_string()), "count"), 0u);
    EXPECT_EQ(ask(f.agent, "/monami/binding", "nonsense").status, -EINVAL);
    EXPECT_EQ(ask(f.agent, "/monami/bindings", "-,0").status, -EINVAL);
    EXPECT_EQ(ask(f.agent, "/monami/bindings", "zz,5").status, -EINVAL);
    QueryReply none;
    EXPECT_FALSE(ha::answer_query(f.agent, {"/monami/unknown", ""}, 0, none));
}

TEST(ControlAnswers, SummaryCountsAreKeptAsTheCacheChanges) {
    Fixture f;
    f.register_hoas(0, 20, 2, 1000);
    QueryReply s = ask(f.agent, "/monami/summary", "");
    EXPECT_EQ(number(s, "home_addresses"), 20u);
    EXPECT_EQ(number(s, "bindings"), 40u);
    EXPECT_EQ(number(s, "paths_live"), 40u);
    EXPECT_EQ(number(s, "paths_dead"), 0u);
    EXPECT_EQ(number(s, "proxied"), 20u);
    // Expiry (lifetime 200 s) empties it, and the counts follow.
    f.agent.on_tick(1000 + 200'000);
    s = ask(f.agent, "/monami/summary", "");
    EXPECT_EQ(number(s, "home_addresses"), 0u);
    EXPECT_EQ(number(s, "bindings"), 0u);
    EXPECT_EQ(number(s, "paths_live"), 0u);
    EXPECT_EQ(number(s, "proxied"), 0u);
    EXPECT_EQ(number(s, "timers_queued"), 0u);
}

TEST(TickBudget, ALinkDownReachesEveryHoaInSlices) {
    auto s = settings();
    s.budget.republish = 16;
    Fixture f(s);
    f.register_hoas(0, 100, 1, 1000);
    const auto published = f.agent.counters().snapshots_published;
    f.agent.on_port_link(1, false, 2000);
    // The first slice at once, the rest one slice per iteration.
    EXPECT_EQ(f.agent.counters().snapshots_published, published + 16);
    EXPECT_GT(f.agent.summary().republish_pending, 0u);
    unsigned ticks = 0;
    while (f.agent.summary().republish_pending && ticks < 100) f.agent.on_tick(2000 + ++ticks);
    EXPECT_EQ(ticks, 6u);  // 84 more HoAs, 16 a tick (the last tick finds the end)
    EXPECT_EQ(f.agent.counters().snapshots_published, published + 100);
    for (std::uint32_t i = 0; i < 100; ++i)
        EXPECT_EQ(f.dp.hoas.at(hoa(i))->paths[0].state, BindingState::Dead) << i;
}

TEST(TickBudget, ExpiryOfManyBindingsAtOnceIsSliced) {
    auto s = settings();
    s.budget.timers = 10;
    Fixture f(s);
    f.register_hoas(0, 35, 1, 1000);  // all expire at 201 s
    f.agent.on_tick(201'000);
    EXPECT_EQ(f.agent.binding_cache().hoa_count(), 25u);
    f.agent.on_tick(201'001);
    f.agent.on_tick(201'002);
    EXPECT_EQ(f.agent.binding_cache().hoa_count(), 5u);
    f.agent.on_tick(201'003);
    EXPECT_EQ(f.agent.binding_cache().hoa_count(), 0u);
    EXPECT_TRUE(f.dp.hoas.empty());
}

TEST(TickBudget, ARouterChangingAgainMidSweepReachesEveryHoaAgain) {
    auto s = settings();
    s.static_neighbors.clear();
    s.budget.republish = 16;
    Fixture f(s);
    auto learn = [&](const MacAddress& mac, std::uint64_t now) {
        net::NeighborAdvertisement na{true, false, true, kRouter, mac};
        f.agent.on_frame(1, PuntReason::Local, 0,
                         net::build_neighbor_advertisement(
                             kAccessMac, mac, kRouter, *Ipv6Address::parse("2001:db8:f::1"), na),
                         now);
    };
    learn(kRouterMac, 500);
    f.register_hoas(0, 50, 1, 1000);
    const MacAddress moved = *MacAddress::parse("02:00:00:00:00:aa");
    learn(moved, 2000);  // 16 HoAs republished with `moved`, 34 to go
    f.agent.on_tick(2001);
    learn(kRouterMac, 2002);  // back before the sweep ended: every HoA again
    const auto published = f.agent.counters().snapshots_published;
    unsigned ticks = 0;
    while (f.agent.summary().republish_pending && ticks < 100) f.agent.on_tick(2002 + ++ticks);
    // The restarted sweep visits all 50, oldest first: the 18 the first sweep never reached
    // (unchanged, so not published again), then the 32 it republished with `moved`.
    EXPECT_EQ(f.agent.counters().snapshots_published, published + 32);
    for (std::uint32_t i = 0; i < 50; ++i)
        EXPECT_EQ(MacAddress::from_bytes(f.dp.hoas.at(hoa(i))->paths[0].header), kRouterMac) << i;
}

TEST(TickBudget, ANewRouterMacReachesItsHoasInSlicesAndNoOthers) {
    auto s = settings();
    s.static_neighbors.clear();  // the access router is learned by ND
    s.static_routes.push_back({*Ipv6Prefix::parse("2001:db8:b::/48"), 1,
                               *Ipv6Address::parse("2001:db8:f::fd")});  // another router
    s.budget.republish = 16;
    Fixture f(s);
    auto learn = [&](const Ipv6Address& router, const MacAddress& mac, std::uint64_t now) {
        net::NeighborAdvertisement na{true, false, true, router, mac};
        f.agent.on_frame(1, PuntReason::Local, 0,
                         net::build_neighbor_advertisement(
                             kAccessMac, mac, router, *Ipv6Address::parse("2001:db8:f::1"), na),
                         now);
    };
    learn(kRouter, kRouterMac, 500);
    f.register_hoas(0, 50, 1, 1000);               // CoAs in 2001:db8:a::/48: behind kRouter
    for (std::uint32_t i = 1000; i < 1010; ++i) {  // CoAs in 2001:db8:b::/48: the other one
        auto c = coa(i, 0);
        c.bytes[5] = 0x0b;
        f.agent.on_frame(1, PuntReason::Local, 0, bu_frame(hoa(i), c, 1), 1000);
        f.agent.on_tick(1000);
    }
    const auto published = f.agent.counters().snapshots_published;
    const MacAddress moved = *MacAddress::parse("02:00:00:00:00:aa");
    learn(kRouter, moved, 2000);  // the router's MAC changed (a new box, a VRRP failover)
    EXPECT_EQ(f.agent.counters().snapshots_published, published + 16);
    unsigned ticks = 0;
    while (f.agent.summary().republish_pending && ticks < 100) f.agent.on_tick(2000 + ++ticks);
    EXPECT_EQ(ticks, 3u);  // 34 more: 16, 16, 2
    EXPECT_EQ(f.agent.counters().snapshots_published, published + 50);
    for (std::uint32_t i = 0; i < 50; ++i)
        EXPECT_EQ(MacAddress::from_bytes(f.dp.hoas.at(hoa(i))->paths[0].header), moved) << i;
    // The walk put every HoA back under the router: the next change reaches them all again.
    learn(kRouter, kRouterMac, 3000);
    while (f.agent.summary().republish_pending && ticks < 100) f.agent.on_tick(3000 + ++ticks);
    EXPECT_EQ(f.agent.counters().snapshots_published, published + 100);
    for (std::uint32_t i = 0; i < 50; ++i)
        EXPECT_EQ(MacAddress::from_bytes(f.dp.hoas.at(hoa(i))->paths[0].header), kRouterMac) << i;
}
