// Snapshot publication under load: a worker lcore forwards continuously while the control
// thread replaces and withdraws HoA snapshots as fast as it can. Every packet must leave
// exactly once (n-cast: once per path), towards a care-of address of a snapshot that was
// current at some moment between its injection and its transmission, with its payload
// intact; nothing may be dropped. Under ASan (build-asan-eal) a worker reading a snapshot
// freed before its grace period ended is a heap-use-after-free report.
#include <rte_cycles.h>
#include <rte_launch.h>

#include <bit>
#include <chrono>
#include <cinttypes>
#include <random>

#include "tests/unit/eal_harness.hpp"

namespace monami::test {
namespace {

[[maybe_unused]] ::testing::Environment* const eal =
    ::testing::AddGlobalTestEnvironment(new EalEnvironment("0-1"));

const MacAddress kAccessMac = mac("02:00:00:00:01:01");
const MacAddress kCoreMac = mac("02:00:00:00:02:02");
const MacAddress kRouterMac = mac("02:00:00:00:02:fe");
const MacAddress kHostMac = mac("02:00:00:00:01:77");
const Ipv6Address kHomeAgent = ip("2001:db8:1::1");
const Ipv6Address kCorrespondent = ip("2001:db8:ff::5");

constexpr unsigned kHomeAddresses = 64;
constexpr std::uint32_t kMaxUpdates = 200000;
constexpr auto kMaxDuration = std::chrono::seconds(10);
constexpr unsigned kInFlight = 512;  // injected but not yet seen leaving
constexpr unsigned kPacketsPerUpdate = 4;
constexpr std::uint32_t kMagic = 0x6d6f6e61;
constexpr std::size_t kEth = net::kEthernetHeaderSize;
constexpr std::size_t kIp = net::kIpv6HeaderSize;
constexpr std::size_t kPayload = 64;  // magic, seq, hoa, version, then a pattern

// Home address i, and the mobile network prefix it has in some versions.
Ipv6Address home_address(unsigned i) {
    Ipv6Address a = ip("2001:db8:1::");
    a.bytes[14] = static_cast<std::uint8_t>(i >> 8);
    a.bytes[15] = static_cast<std::uint8_t>(i + 2);
    return a;
}
Ipv6Prefix network_prefix(unsigned i) {
    Ipv6Address a = ip("2001:db8:100::");
    a.bytes[6] = static_cast<std::uint8_t>(i >> 8);
    a.bytes[7] = static_cast<std::uint8_t>(i);
    return {a, 64};
}
Ipv6Address inside_prefix(unsigned i) {
    Ipv6Address a = network_prefix(i).address;
    a.bytes[15] = 5;
    return a;
}

// The CoA of path p of version v of HoA i: the outer destination names what was used.
Ipv6Address care_of(unsigned i, std::uint32_t v, unsigned p) {
    Ipv6Address a = ip("2001:db8:c00::");
    net::store_be16(a.bytes.data() + 6, static_cast<std::uint16_t>(i));
    net::store_be32(a.bytes.data() + 8, v);
    a.bytes[15] = static_cast<std::uint8_t>(p);
    return a;
}

// What version v of a HoA contains; version 0 is "not registered", as is any withdrawal.
struct Version {
    bool registered = false;
    std::uint8_t paths = 0;
    bool ncast = false;
    bool prefix = false;
};
Version shape_of(std::uint32_t v) {
    return {true, static_cast<std::uint8_t>(1 + v % 3), v % 4 == 0, v % 3 != 0};
}

std::unique_ptr<HoaSnapshot> build(unsigned i, std::uint32_t v, const Version& shape, PortId core,
                                   const ha::TunnelSettings& tunnel) {
    std::vector<DeliveryPath> paths;
    for (unsigned p = 0; p < shape.paths; ++p)
        paths.push_back(tunnel_path(care_of(i, v, p), kHomeAgent, core, kRouterMac, kCoreMac,
                                    tunnel, i * kMaxBindingsPerHoa + p,
                                    static_cast<std::uint16_t>(p + 1)));
    FlowAction action{};
    for (unsigned s = 0; s < kChoiceSlots; ++s)
        action.choice[s] = static_cast<std::uint8_t>(s % shape.paths);
    if (shape.ncast) action.ncast_mask = static_cast<std::uint8_t>((1u << shape.paths) - 1);
    auto snap = snapshot(home_address(i), std::move(paths), action, v);
    if (shape.prefix) snap->network_prefixes = {network_prefix(i)};
    if (v % 5 == 0 && !shape.ncast) {  // a flow rule: the worker reads the rules vector too
        FlowRule rule;
        rule.selector.destination_port = {7000, 7999};
        rule.selector.needs_ports = true;
        rule.action = to_path(static_cast<std::uint8_t>(shape.paths - 1));
        snap->rules.push_back(rule);
    }
    return snap;
}

// The control thread's record of everything it published, to judge each output packet.
struct History {
    std::vector<std::vector<Version>> versions;  // [hoa][version]
    // Last version at which the HoA (or its prefix) could not be reached through a tunnel:
    // a packet injected at version v0 may be routed natively iff this is >= v0.
    std::vector<std::uint32_t> last_unregistered;
    std::vector<std::uint32_t> last_without_prefix;

    History()
        : versions(kHomeAddresses, std::vector<Version>(1)),
          last_unregistered(kHomeAddresses, 0),
          last_without_prefix(kHomeAddresses, 0) {}
    std::uint32_t current(unsigned i) const {
        return static_cast<std::uint32_t>(versions[i].size() - 1);
    }
    void add(unsigned i, const Version& shape) {
        versions[i].push_back(shape);
        if (!shape.registered) last_unregistered[i] = current(i);
        if (!shape.registered || !shape.prefix) last_without_prefix[i] = current(i);
    }
};

struct Sent {
    std::uint32_t hoa = 0;
    std::uint32_t version = 0;  // of the HoA when injected
    bool to_prefix = false;
    std::uint32_t used_version = 0;  // from the first copy seen
    std::uint8_t paths_seen = 0;     // bit per path index
    bool routed = false;
    bool done = false;
};

TEST(PublisherTest, WorkersNeverSeeAFreedOrWrongSnapshotWhileItChanges) {
    RingPort access, core;
    ASSERT_TRUE(access.create("access"));
    ASSERT_TRUE(core.create("core"));
    dp::RuntimeSettings settings;
    settings.ports = {{"access", access.device, kAccessMac, 1500},
                      {"core", core.device, kCoreMac, 1500}};
    settings.mbufs = 8191;
    settings.mbuf_cache = 128;
    settings.max_home_addresses = 1024;
    settings.max_paths = kHomeAddresses * kMaxBindingsPerHoa;
    std::string error;
    auto rt = dp::Runtime::create(settings, error);
    ASSERT_TRUE(rt) << error;
    ASSERT_FALSE(rt->one_lcore_mode()) << "needs a worker lcore (-l 0-1)";

    // Unregistered home addresses and prefixes are routed natively to the router, so every
    // packet leaves on the core port whatever the state of its HoA.
    RoutingState routing;
    routing.routes = {{prefix("2001:db8:1::/64"), core.id, ip("2001:db8:2::fe")},
                      {prefix("2001:db8:100::/48"), core.id, ip("2001:db8:2::fe")}};
    routing.neighbors = {{ip("2001:db8:2::fe"), core.id, kRouterMac}};
    routing.local_addresses = {kHomeAgent};
    rt->publish_routing(routing);
    rt->launch_workers();

    ha::TunnelSettings tunnel;
    History history;
    std::vector<Sent> sent;
    sent.reserve(kMaxUpdates * kPacketsPerUpdate + 1);
    std::mt19937 random(12345);
    std::uint64_t received_packets = 0, outputs = 0, punts = 0;
    std::uint64_t misrouted = 0, corrupt = 0, duplicates = 0;
    std::string first_problem;
    auto problem = [&](std::uint64_t& counter, const std::string& what) {
        if (counter++ == 0 && first_problem.empty()) first_problem = what;
    };

    auto check_output = [&](rte_mbuf* m) {
        auto frame = bytes_of(m);
        rte_pktmbuf_free(m);
        ++outputs;
        if (frame.size() < kEth + kIp) return problem(corrupt, "short frame");
        bool tunnelled = frame[kEth + 6] == net::kProtoDestinationOptions;
        std::size_t inner_at = tunnelled ? kEth + kIp + 8 : kEth;
        if (frame.size() != inner_at + kIp + 8 + kPayload) return problem(corrupt, "frame size");
        const std::uint8_t* inner = frame.data() + inner_at;
        const std::uint8_t* payload = inner + kIp + 8;
        std::uint32_t seq = net::load_be32(payload + 4);
        if (net::load_be32(payload) != kMagic || seq >= sent.size())
            return problem(corrupt, "payload header");
        for (std::size_t b = 16; b < kPayload; ++b)
            if (payload[b] != static_cast<std::uint8_t>(seq * 7 + b))
                return problem(corrupt, "payload bytes of packet " + std::to_string(seq));
        Sent& s = sent[seq];
        Ipv6Address destination = Ipv6Address::from_bytes(inner + 24);
        if (destination != (s.to_prefix ? inside_prefix(s.hoa) : home_address(s.hoa)))
            return problem(corrupt, "inner destination of packet " + std::to_string(seq));
        if (s.done && !(tunnelled && history.versions[s.hoa][s.used_version].ncast))
            return problem(duplicates, "packet " + std::to_string(seq) + " seen twice");
        if (!tunnelled) {
            // Routed natively: only valid if the HoA (or prefix) was unreachable at some
            // point since the packet was injected.
            std::uint32_t last =
                s.to_prefix ? history.last_without_prefix[s.hoa] : history.last_unregistered[s.hoa];
            if (MacAddress::from_bytes(frame.data()) != kRouterMac || last < s.version)
                return problem(misrouted, "packet " + std::to_string(seq) + " to " +
                                              destination.to_string() + " routed natively: hoa " +
                                              std::to_string(s.hoa) + " reachable since v" +
                                              std::to_string(last + 1) + ", injected at v" +
                                              std::to_string(s.version));
            s.routed = s.done = true;
            ++received_packets;
            return;
        }
        Ipv6Address coa = Ipv6Address::from_bytes(frame.data() + kEth + 24);
        unsigned coa_hoa = net::load_be16(coa.bytes.data() + 6);
        std::uint32_t v = net::load_be32(coa.bytes.data() + 8);
        unsigned path = coa.bytes[15];
        bool valid = coa_hoa == s.hoa && v >= s.version && v <= history.current(s.hoa);
        const Version* shape = valid ? &history.versions[s.hoa][v] : nullptr;
        valid =
            valid && shape->registered && path < shape->paths && (!s.to_prefix || shape->prefix);
        if (!valid)
            return problem(misrouted, "packet " + std::to_string(seq) + " (hoa " +
                                          std::to_string(s.hoa) + " v" + std::to_string(s.version) +
                                          ") sent to " + coa.to_string());
        if (s.done && (s.routed || v != s.used_version || (s.paths_seen >> path) & 1))
            return problem(duplicates, "packet " + std::to_string(seq) + " copy repeated");
        if (!s.done) {
            s.done = true;
            s.used_version = v;
            ++received_packets;
        }
        s.paths_seen = static_cast<std::uint8_t>(s.paths_seen | 1u << path);
    };
    auto drain = [&] {
        rte_mbuf* out[64];
        unsigned n;
        while ((n = rte_ring_dequeue_burst(core.tx, reinterpret_cast<void**>(out), 64, nullptr)) >
               0)
            for (unsigned k = 0; k < n; ++k) check_output(out[k]);
        rt->poll_control(
            [&](PortId, PuntReason, std::uint16_t, std::span<const std::uint8_t>) { ++punts; });
    };
    auto inject = [&](unsigned i, bool to_prefix) {
        auto seq = static_cast<std::uint32_t>(sent.size());
        std::vector<std::uint8_t> payload(kPayload);
        net::store_be32(payload.data(), kMagic);
        net::store_be32(payload.data() + 4, seq);
        net::store_be32(payload.data() + 8, i);
        net::store_be32(payload.data() + 12, history.current(i));
        for (std::size_t b = 16; b < kPayload; ++b)
            payload[b] = static_cast<std::uint8_t>(seq * 7 + b);
        auto packet = ipv6_udp(kCorrespondent, to_prefix ? inside_prefix(i) : home_address(i), 0,
                               static_cast<std::uint16_t>(6990 + seq % 20));
        packet.insert(packet.end(), payload.begin(), payload.end());
        net::store_be16(packet.data() + 4, static_cast<std::uint16_t>(8 + kPayload));
        net::store_be16(packet.data() + kIp + 4, static_cast<std::uint16_t>(8 + kPayload));
        rte_mbuf* m = to_mbuf(ethernet(kAccessMac, kHostMac, packet), access.id);
        if (!m) return false;
        if (rte_ring_enqueue(access.rx, m) != 0) {
            rte_pktmbuf_free(m);
            return false;
        }
        sent.push_back({i, history.current(i), to_prefix});
        return true;
    };

    auto start = std::chrono::steady_clock::now();
    std::uint32_t updates = 0, withdrawals = 0;
    while (updates < kMaxUpdates && std::chrono::steady_clock::now() - start < kMaxDuration) {
        unsigned i = random() % kHomeAddresses;
        if (random() % 8 == 0) {
            rt->withdraw_hoa(home_address(i));
            history.add(i, Version{});
            ++withdrawals;
        } else {
            std::uint32_t v = history.current(i) + 1;
            Version shape = shape_of(v);
            rt->publish_hoa(*build(i, v, shape, core.id, tunnel));
            history.add(i, shape);
        }
        ++updates;
        rt->reclaim();
        for (unsigned k = 0; k < kPacketsPerUpdate && sent.size() - received_packets < kInFlight;
             ++k) {
            unsigned target = random() % kHomeAddresses;
            if (!inject(target, random() % 2 == 0)) break;
        }
        drain();
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (received_packets < sent.size() && std::chrono::steady_clock::now() < deadline) {
        drain();
        rte_delay_us_block(50);
    }
    rt->stop();
    drain();
    for (unsigned i = 0; i < kHomeAddresses; ++i) rt->withdraw_hoa(home_address(i));
    rt->reclaim();

    std::uint64_t incomplete = 0;
    for (const auto& s : sent) {
        if (!s.done || s.routed) continue;
        const Version& shape = history.versions[s.hoa][s.used_version];
        auto expected = static_cast<std::uint8_t>(shape.ncast ? (1u << shape.paths) - 1 : 0);
        if (shape.ncast ? s.paths_seen != expected : std::popcount(s.paths_seen) != 1) ++incomplete;
    }
    auto totals = rt->totals();
    std::uint64_t drops = 0;
    for (auto d : totals.drops) drops += d;
    std::printf("%u updates (%u withdrawals), %zu packets, %" PRIu64 " frames out, %" PRIu64
                " synchronous reclaims\n",
                updates, withdrawals, sent.size(), outputs, rt->synchronous_reclaims());

    EXPECT_GE(updates, 1000u);
    EXPECT_EQ(received_packets, sent.size()) << "packets lost";
    EXPECT_EQ(misrouted, 0u) << first_problem;
    EXPECT_EQ(corrupt, 0u) << first_problem;
    EXPECT_EQ(duplicates, 0u) << first_problem;
    EXPECT_EQ(incomplete, 0u) << "n-cast packets without one copy per path";
    EXPECT_EQ(totals.rx_packets, sent.size());
    EXPECT_EQ(drops + punts, 0u);
    EXPECT_EQ(totals.tx_packets, outputs);
    EXPECT_EQ(totals.encapsulated + totals.forwarded, outputs);
    rt.reset();
    access.destroy();
    core.destroy();
}

}  // namespace
}  // namespace monami::test
