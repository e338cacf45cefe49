// Configuration reload: what a new file changes and whether it may (config/reload.*), and how
// the running home agent takes it (controlplane/ha/reconfigure.cpp): policies and profiles
// reach every HoA's snapshot through the sliced sweep, withdrawn authorizations remove their
// HoAs, routes are published again, heartbeats stop and start; the binding cache and the
// liveness tracker's parts of it.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "config/load.hpp"
#include "config/reload.hpp"
#include "controlplane/ha/home_agent.hpp"
#include "controlplane/ha/liveness.hpp"
#include "controlplane/mh/builder.hpp"
#include "controlplane/mh/exthdr.hpp"
#include "controlplane/net/packet.hpp"
#include "tests/unit/fake_store.hpp"
#include "tests/unit/recording_dataplane.hpp"

using namespace monami;
using monami::test_support::FakeStore;
using monami::test_support::RecordingDataPlane;

namespace {

// ---- config::diff_config over the complete example --------------------------------------

std::string example_text() {
    std::ifstream in(std::string(MONAMI_SOURCE_ROOT) + "/config/monami.yaml");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

config::Config load(const std::string& text) {
    auto loaded = config::load_config_string(text, "monami.yaml");
    if (!loaded) {
        std::string all;
        for (const auto& e : loaded.error()) all += e.to_string() + "\n";
        ADD_FAILURE() << all;
        return {};
    }
    return std::move(loaded.value());
}

// The example with `from` replaced by `to` (which must be there exactly once).
config::Config edited(const std::string& from, const std::string& to) {
    std::string text = example_text();
    const auto at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    EXPECT_EQ(text.find(from, at + 1), std::string::npos) << "twice: " << from;
    if (at != std::string::npos) text.replace(at, from.size(), to);
    return load(text);
}

config::ConfigChanges diff(const std::string& from, const std::string& to) {
    return config::diff_config(load(example_text()), edited(from, to));
}

std::vector<std::string> sections(const config::ConfigChanges& c) {
    return c.live_sections();
}

using Strings = std::vector<std::string>;

}  // namespace

TEST(ConfigReload, TheSameFileChangesNothing) {
    const auto c = config::diff_config(load(example_text()), load(example_text()));
    EXPECT_FALSE(c.refused());
    EXPECT_FALSE(c.any_live());
    EXPECT_TRUE(c.live_sections().empty());
}

TEST(ConfigReload, LiveKeysAreSortedIntoTheirSections) {
    struct Case {
        std::string from, to;
        Strings expected;
    };
    const Case cases[] = {
        {"log_level: info", "log_level: debug", {"log_level"}},
        {"{prefix: \"2001:db8:3::/64\", port: upstream}",
         "{prefix: \"2001:db8:4::/64\", port: upstream}",
         {"routes"}},
        {"mac: \"02:00:00:00:00:fe\", port: upstream",
         "mac: \"02:00:00:00:00:fd\", port: upstream",
         {"neighbors"}},
        {"stats_interval_ms: 1000", "stats_interval_ms: 0", {"dataplane"}},
        {"max_bindings_per_mn: 8", "max_bindings_per_mn: 4", {"home_agent"}},
        {"dad_wait_ms: 1000", "dad_wait_ms: 500", {"home_agent"}},
        {"hop_limit: 64", "hop_limit: 32", {"tunnel"}},
        {"    policy: phones", "    policy: default", {"mobile_nodes"}},
        {"  interval_ms: 1000\n  missed_limit",
         "  interval_ms: 100\n  missed_limit",
         {"heartbeat"}},
        {"packets_per_second: 1000", "packets_per_second: 2000", {"security"}},
        {"{traffic_class: voice, mode: prefer, order: [wifi, cellular]}",
         "{traffic_class: voice, mode: prefer, order: [cellular, wifi]}",
         {"policies"}},
        {"{name: wifi, prefixes: [\"2001:db8:a::/48\"], cost: 1, preference: 10}",
         "{name: wifi, prefixes: [\"2001:db8:a::/48\"], cost: 1, preference: 20}",
         {"policies"}},
        {"match: {protocol: tcp, destination_ports: \"20-21\"}",
         "match: {protocol: tcp, destination_ports: \"20-22\"}",
         {"policies"}},
    };
    for (const auto& c : cases) {
        const auto changes = diff(c.from, c.to);
        EXPECT_FALSE(changes.refused()) << c.from << ": " << config::refusal_message(changes);
        EXPECT_EQ(sections(changes), c.expected) << c.from;
    }
}

TEST(ConfigReload, KeysThatNeedARestartAreNamedAndRefuseTheWholeFile) {
    struct Case {
        std::string from, to, key;
    };
    const Case cases[] = {
        {"eal: [\"--no-huge\", \"-m\", \"1024\"]", "eal: [\"--no-huge\", \"-m\", \"2048\"]", "eal"},
        {"rx_pcap=home-in.pcap", "rx_pcap=home-in2.pcap", "ports.home.device"},
        {"mac: \"02:00:00:00:00:01\"", "mac: \"02:00:00:00:00:03\"", "ports.home.mac"},
        {"addresses: [\"2001:db8:2::1/64\"]",
         "addresses: [\"2001:db8:2::1/64\", \"2001:db8:5::1/64\"]", "ports.upstream.addresses"},
        {"addresses: [\"2001:db8:2::1/64\"]\n    mtu: 1500",
         "addresses: [\"2001:db8:2::1/64\"]\n    mtu: 9000", "ports.upstream.mtu"},
        {"mbufs: 16383", "mbufs: 32767", "dataplane.mbufs"},
        {"mbuf_cache: 256", "mbuf_cache: 128", "dataplane.mbuf_cache"},
        {"rx_descriptors: 1024", "rx_descriptors: 2048", "dataplane.rx_descriptors"},
        {"tx_descriptors: 1024", "tx_descriptors: 2048", "dataplane.tx_descriptors"},
        {"control_ring: 4096", "control_ring: 8192", "dataplane.control_ring"},
        {"signalling_steering: auto", "signalling_steering: software",
         "dataplane.signalling_steering"},
        {"addresses: [\"2001:db8:1::1\"]", "addresses: [\"2001:db8:2::1\"]",
         "home_agent.addresses"},
        {"max_bindings: 1000000", "max_bindings: 500000", "home_agent.max_bindings"},
        {"backend: lmdb", "backend: none", "state.backend"},
        {"path: /var/lib/monami/bindings.mdb", "path: /var/lib/monami/other.mdb", "state.path"},
        {"durability: sync", "durability: async", "state.durability"},
        {"map_size_mb: 4096", "map_size_mb: 8192", "state.map_size_mb"},
    };
    for (const auto& c : cases) {
        const auto changes = diff(c.from, c.to);
        EXPECT_EQ(changes.restart_keys, Strings{c.key}) << c.from;
    }
    // Several at once, with a live change beside them: every key is named.
    std::string text = example_text();
    auto replace = [&](const std::string& from, const std::string& to) {
        text.replace(text.find(from), from.size(), to);
    };
    replace("rx_pcap=home-in.pcap", "rx_pcap=home-in2.pcap");
    replace("mbufs: 16383", "mbufs: 32767");
    replace("log_level: info", "log_level: debug");
    const auto changes = config::diff_config(load(example_text()), load(text));
    EXPECT_EQ(changes.restart_keys, (Strings{"ports.home.device", "dataplane.mbufs"}));
    EXPECT_EQ(config::refusal_message(changes),
              "reload refused: ports.home.device, dataplane.mbufs cannot change while running; "
              "restart to apply");
}

TEST(ConfigReload, PortsAddedRemovedOrReorderedAreRefused) {
    auto base = load(example_text());
    auto fewer = base;
    fewer.ports.pop_back();
    EXPECT_EQ(config::diff_config(base, fewer).restart_keys, Strings{"ports.upstream"});
    EXPECT_EQ(config::diff_config(fewer, base).restart_keys, Strings{"ports.upstream"});
    auto swapped = base;
    std::swap(swapped.ports[0], swapped.ports[1]);
    EXPECT_EQ(config::diff_config(base, swapped).restart_keys, Strings{"ports (order)"});
}

TEST(ConfigReload, TheMetricsAddressNeedsARestart) {
    const auto base = load(example_text());
    auto served = base;
    served.metrics = {"[::1]:9469", "::1", 9469};
    EXPECT_EQ(config::diff_config(base, served).restart_keys, Strings{"metrics.listen"});
    EXPECT_EQ(config::diff_config(served, served).restart_keys, Strings{});
}

TEST(ConfigReload, SasAreReplacedOneByOneAndKeepTheirNumbersWhenTheKeysStay) {
    const auto base = load(example_text());
    // One key changed: that SA goes and comes back new.
    const auto rekeyed = edited("key: \"00112233445566778899aabbccddeeff01020304\"",
                                "key: \"00112233445566778899aabbccddeeff01020305\"");
    auto c = config::diff_config(base, rekeyed);
    EXPECT_TRUE(c.security_sas);
    EXPECT_FALSE(c.security);
    auto sas = config::diff_sas(base.security, rekeyed.security);
    ASSERT_EQ(sas.removed.size(), 1u);
    ASSERT_EQ(sas.added.size(), 1u);
    EXPECT_EQ(sas.removed[0]->spi, 0x1001u);
    EXPECT_EQ(sas.added[0].sa->spi, 0x1001u);
    EXPECT_FALSE(sas.added[0].same_keys);
    // The section's window: every SA again, with its keys (its numbers go on).
    const auto wider = edited("replay_window: 64", "replay_window: 128");
    c = config::diff_config(base, wider);
    EXPECT_TRUE(c.security);
    EXPECT_FALSE(c.security_sas);
    sas = config::diff_sas(base.security, wider.security);
    EXPECT_EQ(sas.removed.size(), 4u);
    ASSERT_EQ(sas.added.size(), 4u);
    for (const auto& a : sas.added) EXPECT_TRUE(a.same_keys) << a.sa->spi;
    // Nothing changed: nothing to do.
    EXPECT_TRUE(config::diff_sas(base.security, base.security).empty());
    // One SA less: removed only.
    auto fewer = base;
    fewer.security.sas.pop_back();
    sas = config::diff_sas(base.security, fewer.security);
    EXPECT_EQ(sas.removed.size(), 1u);
    EXPECT_TRUE(sas.added.empty());
}

TEST(ConfigReload, AnInvalidFileSaysFileLineColumn) {
    const auto loaded = config::load_config_string(
        "ports:\n  - name: home\n    device: net_null0\n    addresses: [\"2001:db8:1::1/64\"]\n"
        "heartbeat:\n  missed_limit: many\n",
        "gw.yaml");
    ASSERT_FALSE(loaded);
    ASSERT_EQ(loaded.error().size(), 1u);
    EXPECT_EQ(loaded.error()[0].to_string().rfind("gw.yaml:6:17: ", 0), 0u)
        << loaded.error()[0].to_string();
}

// ---- The home agent taking a reload --------------------------------------------------------

namespace {

const MacAddress kGwMac = *MacAddress::parse("02:00:00:00:00:01");
const MacAddress kAccessMac = *MacAddress::parse("02:00:00:00:00:02");
const MacAddress kRouterMac = *MacAddress::parse("02:00:00:00:00:fe");
const Ipv6Address kGw = *Ipv6Address::parse("2001:db8:1::1");
const Ipv6Address kRouter = *Ipv6Address::parse("2001:db8:f::fe");

// Access classes `zero` and `one` hold the CoAs of link 0 and link 1 (coa() below); the
// default profile prefers them in `order`.
config::Policies policies(const std::string& order) {
    return load(R"(ports:
  - {name: home, device: net_null0, addresses: ["2001:db8:1::1/64"]}
policies:
  access_classes:
    - {name: zero, prefixes: ["2001:db8:a::/56"]}
    - {name: one, prefixes: ["2001:db8:a:100::/56"]}
  profiles:
    - name: p
      rules:
        - {traffic_class: any, mode: prefer, order: )" +
                order + R"(}
  default_profile: p
)")
        .policies;
}

ha::HaSettings settings() {
    ha::HaSettings s;
    s.duplicate_address_detection = false;
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
    s.policies = policies("[zero, one]");
    s.budget.republish = 4;
    return s;
}

Ipv6Address hoa(std::uint32_t i) {
    auto a = *Ipv6Address::parse("2001:db8:1::");
    a.bytes[11] = 1;
    a.bytes[15] = static_cast<std::uint8_t>(i);
    return a;
}

// 2001:db8:a:LINK00::...: link 0 in class zero, link 1 in class one.
Ipv6Address coa(std::uint32_t i, std::uint8_t link) {
    auto a = hoa(i);
    a.bytes[4] = 0;
    a.bytes[5] = 0x0a;
    a.bytes[6] = link;
    return a;
}

std::vector<std::uint8_t> bu_frame(const Ipv6Address& home, std::uint32_t i) {
    mh::BindingUpdate bu;
    bu.sequence = 1;
    bu.ack_requested = true;
    bu.home_registration = true;
    bu.lifetime_4s = 50;
    for (std::uint8_t l = 0; l < 2; ++l)
        bu.options.binding_ids.push_back(
            {static_cast<std::uint16_t>(l + 1), 0, false, false, coa(i, l), {}});
    auto ip = mh::build_bu_packet(bu, coa(i, 0), kGw, home);
    std::vector<std::uint8_t> frame(net::kEthernetHeaderSize);
    net::write_ethernet_header(frame.data(), kAccessMac, kRouterMac);
    frame.insert(frame.end(), ip.begin(), ip.end());
    return frame;
}

struct Fixture {
    RecordingDataPlane dp;
    ha::HomeAgent agent;
    explicit Fixture(ha::HaSettings s = settings()) : agent(std::move(s), dp) {
        dp.only_port = 0;
        agent.start(0);
    }
    void register_hoas(std::uint32_t n) {
        for (std::uint32_t i = 0; i < n; ++i) {
            agent.on_frame(1, PuntReason::Local, 0, bu_frame(hoa(i), i), 1000);
            agent.on_tick(1000);
        }
    }
    // The CoA every flow of HoA i goes to (a `prefer` default: one path for all slots).
    Ipv6Address chosen(std::uint32_t i) {
        const HoaSnapshot& s = *dp.hoas.at(hoa(i));
        return s.paths[s.default_action.choice[0]].care_of;
    }
    unsigned finish_sweep(std::uint64_t now) {
        unsigned ticks = 0;
        while (agent.summary().republish_pending && ticks < 100) agent.on_tick(now + ++ticks);
        return ticks;
    }
};

}  // namespace

TEST(HomeAgentReload, APolicyChangeReachesEveryHoaThroughTheSlicedSweep) {
    Fixture f;
    f.register_hoas(10);
    for (std::uint32_t i = 0; i < 10; ++i) ASSERT_EQ(f.chosen(i), coa(i, 0)) << i;
    const auto published = f.agent.counters().snapshots_published;

    auto next = settings();
    next.policies = policies("[one, zero]");
    ha::Reconfiguration what;
    what.policies = true;
    EXPECT_EQ(f.agent.reconfigure(next, what, 2000), "");
    // The first slice at once (TickBudget::republish), the rest an iteration each.
    EXPECT_EQ(f.agent.counters().snapshots_published, published + 4);
    EXPECT_GT(f.agent.summary().republish_pending, 0u);
    EXPECT_EQ(f.finish_sweep(2000), 2u);  // 6 more HoAs, 4 a tick
    EXPECT_EQ(f.agent.counters().snapshots_published, published + 10);
    for (std::uint32_t i = 0; i < 10; ++i) EXPECT_EQ(f.chosen(i), coa(i, 1)) << i;
    EXPECT_EQ(f.agent.counters().reloads_applied, 1u);
    EXPECT_EQ(f.agent.binding_cache().binding_count(), 20u);  // no binding touched
    EXPECT_TRUE(f.dp.withdrawn.empty());
}

TEST(HomeAgentReload, AWithdrawnAuthorizationRemovesOnlyItsHomeAddresses) {
    auto s = settings();
    auto mn = [](const char* id, std::uint32_t first, std::uint32_t n) {
        bcache::AuthorizedMobileNode m;
        m.mn_id.assign(id, id + std::strlen(id));
        for (std::uint32_t i = first; i < first + n; ++i) m.home_addresses.push_back(hoa(i));
        return m;
    };
    s.bindings.authorized_mns = {mn("a@x", 0, 3), mn("b@x", 3, 3)};
    Fixture f(s);
    f.register_hoas(6);
    ASSERT_EQ(f.dp.hoas.size(), 6u);

    auto next = s;
    next.bindings.authorized_mns = {mn("a@x", 0, 3)};
    ha::Reconfiguration what;
    what.mobile_nodes = true;
    f.agent.reconfigure(next, what, 2000);
    f.finish_sweep(2000);
    EXPECT_EQ(f.agent.counters().reload_revoked, 3u);
    EXPECT_EQ(f.dp.hoas.size(), 3u);
    for (std::uint32_t i = 0; i < 6; ++i)
        EXPECT_EQ(f.agent.binding_cache().find(hoa(i)) != nullptr, i < 3) << i;
    EXPECT_EQ(f.dp.withdrawn.size(), 3u);
    // The next BU of a removed HoA is refused (not authorized: status 133).
    f.dp.only_port.reset();
    f.agent.on_frame(1, PuntReason::Local, 0, bu_frame(hoa(4), 4), 3000);
    f.agent.on_tick(3000);
    EXPECT_EQ(f.agent.binding_cache().find(hoa(4)), nullptr);

    // The same HoAs under another MN-ID: the registered ones are not that MN's.
    auto renamed = s;
    renamed.bindings.authorized_mns = {mn("c@x", 0, 3)};
    f.agent.reconfigure(renamed, what, 4000);
    f.finish_sweep(4000);
    EXPECT_EQ(f.agent.binding_cache().hoa_count(), 0u);
    EXPECT_EQ(f.agent.counters().reload_revoked, 6u);
}

TEST(HomeAgentReload, RoutesAreLoadedAndPublishedAgain) {
    Fixture f;
    ASSERT_EQ(f.dp.published.size(), 1u);
    auto next = settings();
    next.static_routes.push_back({*Ipv6Prefix::parse("2001:db8:c::/48"), 1, kRouter});
    ha::Reconfiguration what;
    what.routing = true;
    f.agent.reconfigure(next, what, 1000);
    ASSERT_EQ(f.dp.published.size(), 2u);
    const auto& routes = f.dp.published.back().routes;
    EXPECT_TRUE(std::any_of(routes.begin(), routes.end(), [](const Route& r) {
        return r.prefix == *Ipv6Prefix::parse("2001:db8:c::/48");
    }));
    // A part not named in `what` stays as it was.
    next.preference = 99;
    f.agent.reconfigure(next, what, 1000);
    EXPECT_EQ(f.agent.settings().preference, 0);
}

namespace {

esp::SecurityAssociation gcm_sa(std::uint32_t spi, esp::Direction dir, std::uint8_t key_byte,
                                std::uint32_t window = 64) {
    esp::SecurityAssociation sa;
    sa.spi = spi;
    sa.dir = dir;
    sa.home_address = hoa(0);
    sa.alg = esp::Algorithm::AesGcm128;
    sa.key.assign(20, key_byte);  // 16-byte key, 4-byte salt
    sa.replay_window = window;
    return sa;
}

}  // namespace

TEST(HomeAgentReload, SasAreReplacedKeepingTheirNumbersOnlyWhenTheKeysStay) {
    auto s = settings();
    s.security.sas = {gcm_sa(0x100, esp::Direction::Outbound, 1),
                      gcm_sa(0x101, esp::Direction::Inbound, 2)};
    RecordingDataPlane dp;
    ha::HomeAgent agent(s, dp);
    ASSERT_EQ(agent.security_error(), "");
    FakeStore fake;
    fake.esp[{0x101, false}] = {0x101, false, 500};  // the inbound SA's mark from a last run
    agent.attach_store(&fake, true);
    agent.start(0);
    agent.restore(fake.state(), 0, 1'000'000);  // the outbound SA reserves its first block
    std::uint64_t now = 1;
    auto settle = [&] {  // the store's batches durable, the reservations taken
        fake.durable = 1'000'000;
        agent.on_tick(++now);
    };
    settle();
    // A BA to the home address, sealed with its outbound SA: (SPI, sequence number).
    mh::BindingAck ack;
    const auto ba = mh::build_ipv6_mh_packet(ack, {kGw, hoa(0), {}, {}, 64});
    auto sealed = [&]() -> std::optional<std::pair<std::uint32_t, std::uint32_t>> {
        auto out = agent.protect_signalling(ba, true);
        if (!out) return std::nullopt;
        return std::pair{net::load_be32(out->data() + 40), net::load_be32(out->data() + 44)};
    };
    using Seen = std::optional<std::pair<std::uint32_t, std::uint32_t>>;
    EXPECT_EQ(sealed(), (Seen{{0x100, 1}}));
    EXPECT_EQ(sealed(), (Seen{{0x100, 2}}));

    // Same keys, another window: replaced, and its numbers go on.
    ha::Reconfiguration what;
    what.sas_removed = {{0x100, esp::Direction::Outbound}};
    what.sas_added.push_back({gcm_sa(0x100, esp::Direction::Outbound, 1, 128), true});
    EXPECT_EQ(agent.reconfigure(s, what, ++now), "");
    settle();
    EXPECT_EQ(sealed(), (Seen{{0x100, 3}}));

    // New keys: a new SA, counting from 1 (the peer's new SA expects that).
    what.sas_added.clear();
    what.sas_added.push_back({gcm_sa(0x100, esp::Direction::Outbound, 3), false});
    agent.reconfigure(s, what, ++now);
    settle();
    EXPECT_EQ(sealed(), (Seen{{0x100, 1}}));

    // An inbound SA with new keys: the stored mark of the old one is cleared, so a restart
    // does not start the new window above it.
    ASSERT_EQ(fake.esp.at({0x101, false}).mark, 500u);
    ha::Reconfiguration inbound;
    inbound.sas_removed = {{0x101, esp::Direction::Inbound}};
    inbound.sas_added.push_back({gcm_sa(0x101, esp::Direction::Inbound, 4), false});
    agent.reconfigure(s, inbound, ++now);
    EXPECT_EQ(fake.esp.at({0x101, false}).mark, 0u);

    // Removed: nothing seals for that home address any more (and the SA the last seal used
    // is not read after its removal: ASan would say so).
    what.sas_added.clear();
    agent.reconfigure(s, what, ++now);
    settle();
    const auto failures = agent.counters().esp_protect_failures;
    EXPECT_EQ(sealed(), std::nullopt);
    EXPECT_EQ(agent.counters().esp_protect_failures, failures + 1);
    settle();
}

TEST(HomeAgentReload, OutcomesAreCounted) {
    Fixture f;
    f.agent.count_reload(ha::ReloadOutcome::refused);
    f.agent.count_reload(ha::ReloadOutcome::invalid);
    f.agent.count_reload(ha::ReloadOutcome::invalid);
    f.agent.count_reload(ha::ReloadOutcome::unchanged);
    const auto& c = f.agent.counters();
    EXPECT_EQ(c.reloads_refused, 1u);
    EXPECT_EQ(c.reloads_invalid, 2u);
    EXPECT_EQ(c.reloads_unchanged, 1u);
    EXPECT_EQ(c.reloads_applied, 0u);
}

TEST(LivenessTrackerReload, HeartbeatsStopAtTheNextOneAndStartWhenTrackedAgain) {
    const HomeAddress h = *Ipv6Address::parse("2001:db8:1::100");
    const CareOfAddress c = *Ipv6Address::parse("2001:db8:a::100");
    ha::LivenessTracker t({true, 100, 3, 2, {}});
    ha::PathId p{h, 1, true};
    t.track(p, c, 0);
    ASSERT_EQ(t.tick(100).heartbeats.size(), 1u);
    auto missed = t.tick(200);  // unanswered: Suspect
    ASSERT_EQ(missed.transitions.size(), 1u);
    ASSERT_EQ(t.state(p), BindingState::Suspect);

    t.reconfigure({false, 100, 3, 2, {}});
    auto off = t.tick(300);
    EXPECT_TRUE(off.heartbeats.empty());
    ASSERT_EQ(off.transitions.size(), 1u);  // what the heartbeats found is forgotten
    EXPECT_EQ(off.transitions[0].to, BindingState::Live);
    EXPECT_EQ(off.transitions[0].cause, ha::LivenessCause::HeartbeatsOff);
    EXPECT_FALSE(t.next_deadline_ms());

    // On again with another interval: the path's next track() starts them.
    t.reconfigure({true, 50, 3, 2, {}});
    t.track(p, c, 400);
    EXPECT_EQ(t.next_deadline_ms(), 450u);
    EXPECT_EQ(t.tick(450).heartbeats.size(), 1u);
    // Care-of prefixes that leave the CoA out stop them too.
    t.reconfigure({true, 50, 3, 2, {*Ipv6Prefix::parse("2001:db8:b::/48")}});
    EXPECT_TRUE(t.tick(500).heartbeats.empty());
    EXPECT_FALSE(t.next_deadline_ms());
}

TEST(BindingCacheReload, AuthorizedFollowsTheMobileNodesOfTheReload) {
    bcache::BindingCacheSettings s;
    bcache::HoaEntry e;
    e.home_address = *Ipv6Address::parse("2001:db8:1::100");
    e.mn_id = {'a'};
    e.network_prefixes = {*Ipv6Prefix::parse("2001:db8:100::/56")};
    bcache::BindingCache cache(s);
    EXPECT_TRUE(cache.authorized(e));  // no list: everyone in a home prefix
    s.authorized_mns = {{{'a'}, {e.home_address}, {*Ipv6Prefix::parse("2001:db8:100::/48")}}};
    cache.reconfigure(s);
    EXPECT_TRUE(cache.authorized(e));
    s.authorized_mns[0].mobile_network_prefixes = {*Ipv6Prefix::parse("2001:db8:200::/48")};
    cache.reconfigure(s);
    EXPECT_FALSE(cache.authorized(e));  // its registered prefix is no longer covered
    s.authorized_mns[0].mobile_network_prefixes.clear();
    e.network_prefixes.clear();
    s.authorized_mns[0].mn_id = {'b'};
    cache.reconfigure(s);
    EXPECT_FALSE(cache.authorized(e));  // registered as another MN
    s.authorized_mns[0].mn_id.clear();
    cache.reconfigure(s);
    EXPECT_TRUE(cache.authorized(e));  // an MN listed without MN-ID: any
    s.authorized_mns[0].home_addresses = {*Ipv6Address::parse("2001:db8:1::101")};
    cache.reconfigure(s);
    EXPECT_FALSE(cache.authorized(e));
    EXPECT_FALSE(cache.remove(e.home_address));  // not registered
}
