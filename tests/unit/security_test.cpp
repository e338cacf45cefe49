// Control-path protection: per-source rate limiting, admission priorities, and ESP-protected
// BU/BA between the real HomeAgent and the real monami-mn engine (no mocks: frames go from
// one to the other through recording callbacks).
#include <gtest/gtest.h>

#include "tests/unit/fake_store.hpp"
#include "tests/unit/recording_dataplane.hpp"

#include <map>
#include <string>
#include <vector>

#include "controlplane/esp/transport.hpp"
#include "controlplane/ha/home_agent.hpp"
#include "controlplane/ha/security.hpp"
#include "controlplane/mh/builder.hpp"
#include "controlplane/mh/exthdr.hpp"
#include "controlplane/mh/parser.hpp"
#include "controlplane/net/icmpv6.hpp"
#include "controlplane/net/packet.hpp"
#include "tools/mn/mobile_node.hpp"
#include "tools/mn/options.hpp"

using namespace monami;

namespace {

Ipv6Address addr(const char* text) {
    return *Ipv6Address::parse(text);
}

// Records what goes out on the access port (port 0); the home port only sees proxy ND.
struct RecordingDataPlane : monami::test_support::RecordingDataPlane {
    RecordingDataPlane() { only_port = 0; }
};

const MacAddress kGwAccessMac = *MacAddress::parse("02:00:00:00:00:01");
const MacAddress kGwHomeMac = *MacAddress::parse("02:00:00:00:00:02");
const MacAddress kMnMac = *MacAddress::parse("02:00:00:00:0a:01");
const Ipv6Address kHa = addr("2001:db8:1::1");
const Ipv6Address kHoa = addr("2001:db8:1::100");
const Ipv6Address kCoa = addr("2001:db8:a::100");
const Ipv6Address kCoa2 = addr("2001:db8:a::200");

const char* kKeyIn = "00112233445566778899aabbccddeeff01020304";   // GCM-128 key || salt
const char* kKeyOut = "ffeeddccbbaa99887766554433221100a1a2a3a4";  // BA direction

std::vector<std::uint8_t> hex(const char* text) {
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; text[i] && text[i + 1]; i += 2)
        out.push_back(static_cast<std::uint8_t>(std::stoul(std::string(text + i, 2), nullptr, 16)));
    return out;
}

esp::SecurityAssociation gateway_sa(std::uint32_t spi, esp::Direction dir, const char* key) {
    esp::SecurityAssociation sa;
    sa.spi = spi;
    sa.dir = dir;
    sa.home_address = kHoa;
    sa.alg = esp::Algorithm::AesGcm128;
    sa.key = hex(key);
    return sa;
}

ha::HaSettings ha_settings(bool esp_required, bool with_sas = true) {
    ha::HaSettings s;
    s.duplicate_address_detection = false;  // BAs at once; DAD has its own tests
    s.interfaces.push_back({0, "access", kGwAccessMac, {{addr("2001:db8:a::1"), 64}}, 1500});
    s.interfaces.push_back({1, "home", kGwHomeMac, {{kHa, 64}}, 1500});
    s.ha_addresses = {kHa};
    s.home_prefixes = {*Ipv6Prefix::parse("2001:db8:1::/64")};
    s.static_neighbors.push_back({kCoa, 0, kMnMac});
    s.static_neighbors.push_back({kCoa2, 0, kMnMac});
    s.security.esp_required = esp_required;
    if (with_sas) {
        s.security.sas.push_back(gateway_sa(0x1000, esp::Direction::Inbound, kKeyIn));
        s.security.sas.push_back(gateway_sa(0x2000, esp::Direction::Outbound, kKeyOut));
    }
    return s;
}

// The MN's mirror of the gateway's SAs: its selector is the home agent's address.
std::unique_ptr<esp::EspEndpoint> mn_endpoint() {
    auto e = esp::EspEndpoint::create();
    auto out = gateway_sa(0x1000, esp::Direction::Outbound, kKeyIn);
    out.home_address = kHa;
    auto in = gateway_sa(0x2000, esp::Direction::Inbound, kKeyOut);
    in.home_address = kHa;
    EXPECT_TRUE(e->sas().add(out).ok());
    EXPECT_TRUE(e->sas().add(in).ok());
    return e;
}

std::vector<std::uint8_t> frame_of(std::span<const std::uint8_t> ip) {
    std::vector<std::uint8_t> f(net::kEthernetHeaderSize + ip.size());
    net::write_ethernet_header(f.data(), kGwAccessMac, kMnMac);
    std::copy(ip.begin(), ip.end(), f.begin() + net::kEthernetHeaderSize);
    return f;
}

std::vector<std::uint8_t> bu_packet(std::uint16_t sequence, const Ipv6Address& coa,
                                    std::uint16_t lifetime_4s = 15) {
    mh::BindingUpdate bu;
    bu.sequence = sequence;
    bu.ack_requested = true;
    bu.home_registration = true;
    bu.lifetime_4s = lifetime_4s;
    return mh::build_bu_packet(bu, coa, kHa, kHoa);
}

std::vector<std::string> care_ofs(const ha::HomeAgent& agent) {
    std::vector<std::string> out;
    for (const auto& row : agent.binding_rows(kHoa, 0)) out.push_back(row.at("care_of"));
    return out;
}

std::uint64_t esp_counter(const ha::HomeAgent& agent, const std::string& name) {
    for (const auto& [n, v] : agent.counter_items())
        if (n == name) return v;
    ADD_FAILURE() << "no counter " << name;
    return 0;
}

}  // namespace

TEST(SourceRateLimiter, BurstThenRefillPerSource) {
    ha::SourceRateLimiter limiter(10, 5, 64, 42);
    const auto a = addr("2001:db8::a");
    const auto b = addr("2001:db8::b");
    int allowed = 0;
    for (int i = 0; i < 20; ++i) allowed += limiter.allow(a, 1000);
    EXPECT_EQ(allowed, 5);
    EXPECT_TRUE(limiter.allow(b, 1000));   // another source has its own bucket
    EXPECT_FALSE(limiter.allow(a, 1050));  // 50 ms at 10/s: half a token
    EXPECT_TRUE(limiter.allow(a, 1100));   // one token after 100 ms
    EXPECT_FALSE(limiter.allow(a, 1100));
    // A long pause refills to the burst, not beyond.
    allowed = 0;
    for (int i = 0; i < 20; ++i) allowed += limiter.allow(a, 100000);
    EXPECT_EQ(allowed, 5);
}

TEST(SourceRateLimiter, TableStaysBoundedUnderManySources) {
    ha::SourceRateLimiter limiter(1, 1, 16, 7);
    const std::size_t capacity = limiter.capacity();
    EXPECT_EQ(capacity, 16u * ha::SourceRateLimiter::kWays);
    Ipv6Address a = addr("2001:db8::");
    for (std::uint32_t i = 0; i < 100000; ++i) {
        a.bytes[12] = static_cast<std::uint8_t>(i >> 24);
        a.bytes[13] = static_cast<std::uint8_t>(i >> 16);
        a.bytes[14] = static_cast<std::uint8_t>(i >> 8);
        a.bytes[15] = static_cast<std::uint8_t>(i);
        EXPECT_TRUE(limiter.allow(a, 1));  // every new source starts with its burst
    }
    EXPECT_EQ(limiter.capacity(), capacity);
    EXPECT_EQ(limiter.evictions(), 100000u - capacity);
}

TEST(ControlSecurity, KnownSourcesFirstUnknownShareQueuedThenDropped) {
    ha::SecuritySettings settings;
    settings.admission.unknown_per_iteration = 2;
    settings.admission.unknown_queue = 3;
    std::string error;
    auto sec = ha::ControlSecurity::create(settings, error);
    ASSERT_TRUE(sec) << error;
    sec->set_known(kHoa, {kHoa, kCoa});
    EXPECT_TRUE(sec->is_known(kCoa));
    std::vector<std::uint8_t> frame(60, 0);
    using A = ha::ControlSecurity::Admission;
    std::vector<A> unknown;
    Ipv6Address source = addr("2001:db8:bad::");
    for (std::uint8_t i = 0; i < 7; ++i) {
        source.bytes[15] = i;
        unknown.push_back(sec->admit(source, false, 0, PuntReason::Local, 0, frame, 0));
    }
    EXPECT_EQ(unknown, (std::vector<A>{A::Now, A::Now, A::Deferred, A::Deferred, A::Deferred,
                                       A::QueueFull, A::QueueFull}));
    // A known source is served at once, whatever waits.
    EXPECT_EQ(sec->admit(kCoa, true, 0, PuntReason::Local, 0, frame, 0), A::Now);
    EXPECT_EQ(sec->next_iteration().size(), 2u);
    EXPECT_EQ(sec->deferred(), 1u);
    // Within that iteration the share is used up by the queue.
    EXPECT_EQ(sec->admit(addr("2001:db8:bad::99"), false, 0, PuntReason::Local, 0, frame, 0),
              A::Deferred);
    sec->set_known(kHoa, {});
    EXPECT_FALSE(sec->is_known(kCoa));
}

TEST(ControlSecurity, RateLimitsOneSourceAndCountsIt) {
    auto settings = ha_settings(false, false);
    settings.security.admission.packets_per_second = 10;
    settings.security.admission.burst = 3;
    RecordingDataPlane dp;
    ha::HomeAgent agent(settings, dp);
    std::uint8_t body[4] = {0, 1, 0, 1};
    auto echo = net::build_icmpv6_frame(kGwAccessMac, kMnMac, kCoa, addr("2001:db8:a::1"), 64,
                                        net::icmp6::kEchoRequest, 0, body);
    for (int i = 0; i < 10; ++i) agent.on_frame(0, PuntReason::Local, 0, echo, 5);
    EXPECT_EQ(agent.counters().echo_replies, 3u);
    EXPECT_EQ(agent.counters().control_rate_limited, 7u);
    agent.on_frame(0, PuntReason::Local, 0, echo, 200);  // refilled
    EXPECT_EQ(agent.counters().echo_replies, 4u);
}

TEST(EspSignalling, ProtectedBuRegistersAndBaComesBackProtected) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(true), dp);
    ASSERT_TRUE(agent.security_error().empty()) << agent.security_error();
    auto mn = mn_endpoint();
    auto sealed = mn->protect(bu_packet(1, kCoa));
    ASSERT_TRUE(sealed.ok());
    agent.on_frame(0, PuntReason::Local, 0, frame_of(*sealed), 10);
    EXPECT_EQ(care_ofs(agent), std::vector<std::string>{kCoa.to_string()});
    EXPECT_EQ(agent.counters().esp_opened, 1u);
    ASSERT_EQ(dp.sent.size(), 1u);
    auto ba = net::parse_ipv6_frame(dp.sent[0].second);
    ASSERT_TRUE(ba.ok());
    auto chain = mh::walk_ipv6_headers(ba->ip);
    ASSERT_TRUE(chain.ok());
    EXPECT_EQ(chain->upper_layer_protocol, mh::kIpProtoEsp);  // after the type 2 RH
    EXPECT_EQ(chain->type2_routing_address, kHoa);
    auto opened = mn->unprotect(ba->ip);
    ASSERT_TRUE(opened.ok()) << esp::to_string(opened.error());
    auto inner = mh::walk_ipv6_headers(*opened);
    ASSERT_TRUE(inner.ok());
    auto parsed = mh::parse_mh(inner->upper_layer(*opened), inner->checksum_source(),
                               inner->checksum_destination());
    ASSERT_TRUE(parsed.ok());
    const auto* ack = std::get_if<mh::BindingAck>(&parsed->message);
    ASSERT_NE(ack, nullptr);
    EXPECT_EQ(ack->status, 0);
    EXPECT_EQ(ack->sequence, 1);
    EXPECT_EQ(esp_counter(agent, "esp_protected_packets"), 1u);
    EXPECT_EQ(esp_counter(agent, "esp_unprotected_packets"), 1u);
    // What /metrics shows of it: one BA with status 0, one BU timed, one update published.
    EXPECT_EQ(agent.binding_acks_by_status()[0], 1u);
    EXPECT_EQ(agent.bu_processing().count(), 1u);
    EXPECT_EQ(agent.update_latency().count(), 1u);
}

// A BA that no outbound SA can protect is not sent, and not counted as a BA by status.
TEST(EspSignalling, ABaThatCannotBeProtectedIsNeitherSentNorCountedAsSent) {
    RecordingDataPlane dp;
    auto settings = ha_settings(true);
    settings.security.sas.pop_back();  // the outbound SA
    ha::HomeAgent agent(settings, dp);
    ASSERT_TRUE(agent.security_error().empty()) << agent.security_error();
    auto sealed = mn_endpoint()->protect(bu_packet(1, kCoa));
    ASSERT_TRUE(sealed.ok());
    agent.on_frame(0, PuntReason::Local, 0, frame_of(*sealed), 10);
    EXPECT_EQ(care_ofs(agent), std::vector<std::string>{kCoa.to_string()});
    EXPECT_TRUE(dp.sent.empty());
    EXPECT_EQ(agent.counters().esp_protect_failures, 1u);
    EXPECT_EQ(agent.counters().binding_acks_sent, 0u);
    EXPECT_EQ(agent.binding_acks_by_status()[0], 0u);
}

// The binding store keeps ESP sequence numbers across a restart: outbound, a block
// reserved ahead (nothing is sent beyond a durable reservation, and a restarted gateway
// resumes after it); inbound, the highest number of a committed change (a BU replayed
// after the restart is refused by the window).
TEST(EspSignalling, SequenceMarksSurviveARestart) {
    using monami::test_support::FakeStore;
    FakeStore fake;
    auto mn = mn_endpoint();
    auto ba_sequence = [&](RecordingDataPlane& dp) -> std::optional<std::uint64_t> {
        for (const auto& [port, frame] : dp.sent) {
            auto p = net::parse_ipv6_frame(frame);
            if (!p) continue;
            auto chain = mh::walk_ipv6_headers(p->ip);
            if (!chain || chain->upper_layer_protocol != mh::kIpProtoEsp) continue;
            const auto esp_header = chain->upper_layer(p->ip);
            return std::uint64_t{esp_header[4]} << 24 | std::uint64_t{esp_header[5]} << 16 |
                   std::uint64_t{esp_header[6]} << 8 | esp_header[7];
        }
        return std::nullopt;
    };
    const auto first_bu = mn->protect(bu_packet(1, kCoa));
    ASSERT_TRUE(first_bu.ok());
    {
        RecordingDataPlane dp;
        ha::HomeAgent agent(ha_settings(true), dp);
        agent.attach_store(&fake, true);
        agent.restore({}, 0, 1'000'000);
        EXPECT_EQ(fake.esp.at({0x2000, true}).mark, 65536u);  // the first block, asked for
        agent.on_tick(1);
        agent.on_frame(0, PuntReason::Local, 0, frame_of(*first_bu), 2);
        EXPECT_TRUE(dp.sent.empty());  // the reservation is not durable: nothing is sealed
        EXPECT_EQ(esp_counter(agent, "esp_sequence_not_reserved"), 1u);
        fake.durable = 1;
        agent.on_tick(3);
        const auto second_bu = mn->protect(bu_packet(2, kCoa));
        agent.on_frame(0, PuntReason::Local, 0, frame_of(*second_bu), 4);
        agent.on_tick(5);
        fake.durable = fake.next - 1;
        agent.on_tick(6);
        EXPECT_EQ(ba_sequence(dp), 1u);
        EXPECT_EQ(fake.esp.at({0x1000, false}).mark, 2u);  // the BU's ESP number, committed
    }
    // The restart: the same SAs, what the store holds.
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(true), dp);
    agent.attach_store(&fake, true);
    agent.restore(fake.state(), 10, 1'000'010);
    ASSERT_EQ(care_ofs(agent), std::vector<std::string>{kCoa.to_string()});
    EXPECT_EQ(fake.esp.at({0x2000, true}).mark, 2u * 65536);           // the next block
    agent.on_frame(0, PuntReason::Local, 0, frame_of(*first_bu), 11);  // replayed
    EXPECT_EQ(esp_counter(agent, "esp_replayed") + esp_counter(agent, "esp_too_old"), 1u);
    EXPECT_TRUE(dp.sent.empty());
    fake.durable = fake.next;
    agent.on_tick(12);  // the new block is durable
    fake.durable = fake.next;
    const auto third_bu = mn->protect(bu_packet(3, kCoa));
    agent.on_frame(0, PuntReason::Local, 0, frame_of(*third_bu), 13);
    fake.durable = fake.next;
    agent.on_tick(14);
    EXPECT_EQ(ba_sequence(dp), 65537u);  // after every number the first run may have used
}

TEST(EspSignalling, HostileBusChangeNothingAndAreCounted) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(true), dp);
    auto mn = mn_endpoint();
    auto first = mn->protect(bu_packet(1, kCoa));
    ASSERT_TRUE(first.ok());
    agent.on_frame(0, PuntReason::Local, 0, frame_of(*first), 10);
    ASSERT_EQ(care_ofs(agent), std::vector<std::string>{kCoa.to_string()});
    const auto binding_before = agent.binding_rows(kHoa, 0);
    const std::size_t sent_before = dp.sent.size();

    // 1. No ESP at all: a clear BU moving the binding to another CoA.
    agent.on_frame(0, PuntReason::Local, 0, frame_of(bu_packet(2, kCoa2)), 20);
    EXPECT_EQ(agent.counters().esp_required_drops, 1u);
    // 2. Replayed: the first BU again.
    agent.on_frame(0, PuntReason::Local, 0, frame_of(*first), 30);
    EXPECT_EQ(esp_counter(agent, "esp_replayed"), 1u);
    // 3. Bad ICV: a fresh BU to the other CoA with its last byte flipped.
    auto forged = mn->protect(bu_packet(3, kCoa2));
    ASSERT_TRUE(forged.ok());
    forged->back() ^= 1;
    agent.on_frame(0, PuntReason::Local, 0, frame_of(*forged), 40);
    EXPECT_EQ(esp_counter(agent, "esp_bad_icv"), 1u);
    // 4. Unknown SPI.
    auto other_spi = mn->protect(bu_packet(4, kCoa2));
    ASSERT_TRUE(other_spi.ok());
    const std::size_t esp_at = 40 + 24;  // after IPv6 and the Home Address option header
    (*other_spi)[esp_at + 3] ^= 0x55;
    agent.on_frame(0, PuntReason::Local, 0, frame_of(*other_spi), 50);
    EXPECT_EQ(esp_counter(agent, "esp_unknown_spi"), 1u);

    EXPECT_EQ(agent.counters().esp_rejected, 3u);
    EXPECT_EQ(agent.counters().binding_updates, 1u);  // only the first reached the cache
    EXPECT_EQ(agent.binding_rows(kHoa, 0), binding_before);
    EXPECT_EQ(dp.sent.size(), sent_before);  // nothing answered

    // The forged packet's sequence number was not recorded: the genuine one still works.
    auto genuine = mn->protect(bu_packet(5, kCoa2));
    ASSERT_TRUE(genuine.ok());
    agent.on_frame(0, PuntReason::Local, 0, frame_of(*genuine), 60);
    EXPECT_EQ(care_ofs(agent), std::vector<std::string>{kCoa2.to_string()});
}

TEST(EspSignalling, ModeNoneAcceptsClearAndAnswersEspWithEsp) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(false), dp);
    agent.on_frame(0, PuntReason::Local, 0, frame_of(bu_packet(1, kCoa)), 10);
    EXPECT_EQ(care_ofs(agent), std::vector<std::string>{kCoa.to_string()});
    ASSERT_EQ(dp.sent.size(), 1u);
    auto clear_ba = net::parse_ipv6_frame(dp.sent[0].second);
    EXPECT_EQ(mh::walk_ipv6_headers(clear_ba->ip)->upper_layer_protocol, net::kProtoMobility);
    auto mn = mn_endpoint();
    auto sealed = mn->protect(bu_packet(2, kCoa2));
    agent.on_frame(0, PuntReason::Local, 0, frame_of(*sealed), 20);
    EXPECT_EQ(care_ofs(agent), std::vector<std::string>{kCoa2.to_string()});
    ASSERT_EQ(dp.sent.size(), 2u);
    auto esp_ba = net::parse_ipv6_frame(dp.sent[1].second);
    EXPECT_EQ(mh::walk_ipv6_headers(esp_ba->ip)->upper_layer_protocol, mh::kIpProtoEsp);
}

TEST(EspSignalling, BadSaFailsClosed) {
    auto settings = ha_settings(true);
    settings.security.sas[0].key.resize(3);  // not a GCM key
    RecordingDataPlane dp;
    ha::HomeAgent agent(settings, dp);
    EXPECT_NE(agent.security_error().find("invalid_sa"), std::string::npos);
    EXPECT_EQ(agent.security_error().find("0011"), std::string::npos);  // no key material
    agent.on_frame(0, PuntReason::Local, 0, frame_of(bu_packet(1, kCoa)), 10);
    EXPECT_TRUE(care_ofs(agent).empty());
}

// monami-mn's engine and the home agent, wired back to back.
TEST(EspSignalling, MobileNodeRegistersThroughEsp) {
    auto options = mn::parse_command_line(std::vector<std::string>{
        "--home-address", kHoa.to_string(), "--home-agent", kHa.to_string(), "--link",
        "wifi:veth0:" + kCoa.to_string(), "--gateway-mac", kGwAccessMac.to_string(), "--esp-sa",
        std::string("out:0x1000:aes-gcm-128:") + kKeyIn, "--esp-sa",
        std::string("in:0x2000:aes-gcm-128:") + kKeyIn});
    ASSERT_TRUE(options.ok()) << options.error();
    // A wrong inbound key first: the BA does not open, the MN is not registered.
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(true), dp);
    std::vector<std::vector<std::uint8_t>> to_gateway;
    std::vector<std::string> events;
    {
        mn::MobileNode node(
            *options, {mn::LinkEnvironment{kMnMac, std::nullopt, true}},
            [&](std::size_t, std::span<const std::uint8_t> f) {
                to_gateway.emplace_back(f.begin(), f.end());
                return true;
            },
            [&](const std::string& line) { events.push_back(line); });
        node.start(0);
        ASSERT_EQ(to_gateway.size(), 1u);
        agent.on_frame(0, PuntReason::Local, 0, to_gateway[0], 1);
        EXPECT_EQ(care_ofs(agent), std::vector<std::string>{kCoa.to_string()});
        ASSERT_EQ(dp.sent.size(), 1u);
        node.on_frame(0, dp.sent[0].second, 2);
        EXPECT_FALSE(node.registered(1));
        ASSERT_FALSE(events.empty());
        EXPECT_NE(events.back().find("\"esp_error\""), std::string::npos) << events.back();
        EXPECT_NE(events.back().find("bad_icv"), std::string::npos) << events.back();
    }
    options = mn::parse_command_line(std::vector<std::string>{
        "--home-address", kHoa.to_string(), "--home-agent", kHa.to_string(), "--link",
        "wifi:veth0:" + kCoa2.to_string(), "--gateway-mac", kGwAccessMac.to_string(), "--esp-sa",
        std::string("out:4096:aes-gcm-128:") + kKeyIn, "--esp-sa",
        std::string("in:8192:aes-gcm-128:") + kKeyOut});
    ASSERT_TRUE(options.ok()) << options.error();
    RecordingDataPlane dp2;
    ha::HomeAgent agent2(ha_settings(true), dp2);
    to_gateway.clear();
    mn::MobileNode node(
        *options, {mn::LinkEnvironment{kMnMac, std::nullopt, true}},
        [&](std::size_t, std::span<const std::uint8_t> f) {
            to_gateway.emplace_back(f.begin(), f.end());
            return true;
        },
        [&](const std::string& line) { events.push_back(line); });
    node.start(0);
    ASSERT_EQ(to_gateway.size(), 1u);
    agent2.on_frame(0, PuntReason::Local, 0, to_gateway[0], 1);
    ASSERT_EQ(dp2.sent.size(), 1u);
    node.on_frame(0, dp2.sent[0].second, 2);
    EXPECT_TRUE(node.registered(1)) << events.back();
    EXPECT_EQ(agent2.counters().esp_opened, 1u);
}

TEST(MnOptions, EspSaParsingNeverEchoesKeys) {
    auto ok = mn::parse_esp_sa_spec(
        "out:300:aes-cbc-128-hmac-sha256:000102030405060708090a0b0c0d0e0f:"
        "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f");
    ASSERT_TRUE(ok.ok()) << ok.error();
    EXPECT_EQ(ok->spi, 300u);
    EXPECT_EQ(ok->auth_key.size(), 32u);
    auto short_key = mn::parse_esp_sa_spec("in:300:aes-gcm-128:c0ffee");
    ASSERT_FALSE(short_key.ok());
    EXPECT_EQ(short_key.error().find("c0ffee"), std::string::npos);
    EXPECT_FALSE(mn::parse_esp_sa_spec("in:12:aes-gcm-128:" + std::string(40, '0')).ok());
    EXPECT_FALSE(mn::parse_esp_sa_spec("in:300:aes-gcm-128:" + std::string(40, '0') + ":00").ok());
}

namespace {

struct HeartbeatSeen {
    mh::Heartbeat heartbeat;
    mh::Ipv6HeaderChain outer;  // the headers on the wire
    mh::Ipv6HeaderChain inner;  // after ESP, if any
};

// The heartbeat in `ip`, opened with `endpoint` when it is inside ESP.
std::optional<HeartbeatSeen> heartbeat_in(std::span<const std::uint8_t> ip,
                                          esp::EspEndpoint* endpoint) {
    auto outer = mh::walk_ipv6_headers(ip);
    if (!outer) return std::nullopt;
    std::vector<std::uint8_t> clear(ip.begin(), ip.end());
    if (outer->upper_layer_protocol == mh::kIpProtoEsp) {
        if (!endpoint) return std::nullopt;
        auto opened = endpoint->unprotect(ip);
        if (!opened) return std::nullopt;
        clear = std::move(*opened);
    }
    auto inner = mh::walk_ipv6_headers(clear);
    if (!inner || inner->upper_layer_protocol != net::kProtoMobility) return std::nullopt;
    auto parsed = mh::parse_mh(inner->upper_layer(clear), inner->checksum_source(),
                               inner->checksum_destination());
    if (!parsed) return std::nullopt;
    const auto* hb = std::get_if<mh::Heartbeat>(&parsed->message);
    if (!hb) return std::nullopt;
    return HeartbeatSeen{*hb, *outer, *inner};
}

std::vector<std::uint8_t> ip_of(std::span<const std::uint8_t> frame) {
    return {frame.begin() + net::kEthernetHeaderSize, frame.end()};
}

std::vector<std::uint8_t> heartbeat_response(std::uint32_t sequence, bool with_home_address) {
    mh::Heartbeat reply;
    reply.response = true;
    reply.sequence = sequence;
    std::optional<HomeAddress> hao;
    if (with_home_address) hao = kHoa;
    return mh::build_ipv6_mh_packet(reply, {kCoa, kHa, hao, std::nullopt, 64});
}

std::string binding_state(const ha::HomeAgent& agent) {
    auto rows = agent.binding_rows(kHoa, 0);
    return rows.empty() ? "none" : rows[0].at("state");
}

mn::MnOptions esp_mn_options() {
    auto options = mn::parse_command_line(std::vector<std::string>{
        "--home-address", kHoa.to_string(), "--home-agent", kHa.to_string(), "--link",
        "wifi:veth0:" + kCoa.to_string(), "--gateway-mac", kGwAccessMac.to_string(), "--esp-sa",
        std::string("out:4096:aes-gcm-128:") + kKeyIn, "--esp-sa",
        std::string("in:8192:aes-gcm-128:") + kKeyOut});
    EXPECT_TRUE(options.ok()) << options.error();
    return *options;
}

}  // namespace

// RFC 5847 s.6: with security.mode esp the HA's heartbeat requests go inside ESP with a type 2
// routing header naming the HoA (the SA selector, RFC 3776); monami-mn answers inside ESP with
// its Home Address option; the path stays Live through several intervals.
TEST(EspHeartbeats, ExchangeThroughEspBetweenHomeAgentAndMobileNode) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(true), dp);
    std::vector<std::vector<std::uint8_t>> to_gateway;
    std::vector<std::string> events;
    mn::MobileNode node(
        esp_mn_options(), {mn::LinkEnvironment{kMnMac, std::nullopt, true}},
        [&](std::size_t, std::span<const std::uint8_t> f) {
            to_gateway.emplace_back(f.begin(), f.end());
            return true;
        },
        [&](const std::string& line) { events.push_back(line); });
    node.start(0);
    ASSERT_EQ(to_gateway.size(), 1u);
    agent.on_frame(0, PuntReason::Local, 0, to_gateway[0], 1);
    ASSERT_EQ(dp.sent.size(), 1u);
    node.on_frame(0, dp.sent[0].second, 2);
    ASSERT_TRUE(node.registered(1));
    to_gateway.clear();
    dp.sent.clear();

    for (std::uint64_t t = 1001; t <= 6001; t += 1000) {
        agent.on_tick(t);
        ASSERT_EQ(dp.sent.size(), 1u) << "at " << t;
        auto request_ip = ip_of(dp.sent[0].second);
        auto outer = mh::walk_ipv6_headers(request_ip);
        ASSERT_TRUE(outer.ok());
        EXPECT_EQ(outer->upper_layer_protocol, mh::kIpProtoEsp);
        EXPECT_EQ(outer->destination, kCoa);
        EXPECT_EQ(outer->type2_routing_address, kHoa);
        node.on_frame(0, dp.sent[0].second, t + 1);
        dp.sent.clear();
        ASSERT_EQ(to_gateway.size(), 1u) << "no answer at " << t << ": " << events.back();
        auto response_ip = ip_of(to_gateway[0]);
        auto response = mh::walk_ipv6_headers(response_ip);
        ASSERT_TRUE(response.ok());
        EXPECT_EQ(response->upper_layer_protocol, mh::kIpProtoEsp);
        EXPECT_EQ(response->source, kCoa);
        EXPECT_EQ(response->home_address_option, kHoa);
        agent.on_frame(0, PuntReason::Local, 0, to_gateway[0], t + 2);
        to_gateway.clear();
    }
    EXPECT_EQ(agent.counters().heartbeats_sent, 6u);
    EXPECT_EQ(agent.counters().heartbeat_responses, 6u);
    EXPECT_EQ(agent.counters().heartbeat_misses, 0u);
    EXPECT_EQ(agent.counters().esp_required_drops, 0u);
    EXPECT_EQ(binding_state(agent), "live");
    bool saw_protected_request = false;
    for (const auto& e : events)
        if (e.find("\"heartbeat\"") != std::string::npos &&
            e.find("\"esp\":true") != std::string::npos)
            saw_protected_request = true;
    EXPECT_TRUE(saw_protected_request);
}

// A response in clear, or inside ESP that does not open, answers nothing: counted, and the
// path goes Suspect at the next interval; the genuine answer brings it back.
TEST(EspHeartbeats, ClearOrForgedResponsesAreIgnoredAndCounted) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(true), dp);
    auto mn = mn_endpoint();
    agent.on_frame(0, PuntReason::Local, 0, frame_of(*mn->protect(bu_packet(1, kCoa))), 1);
    ASSERT_EQ(care_ofs(agent), std::vector<std::string>{kCoa.to_string()});
    dp.sent.clear();

    agent.on_tick(1001);
    ASSERT_EQ(dp.sent.size(), 1u);
    // Nobody without the key reads it: not plain MH on the wire.
    EXPECT_FALSE(heartbeat_in(ip_of(dp.sent[0].second), nullptr));
    auto request = heartbeat_in(ip_of(dp.sent[0].second), mn.get());
    ASSERT_TRUE(request);
    EXPECT_FALSE(request->heartbeat.response);
    EXPECT_EQ(request->inner.type2_routing_address, kHoa);
    const std::uint32_t seq = request->heartbeat.sequence;
    dp.sent.clear();

    // 1. In clear, with and without the Home Address option.
    agent.on_frame(0, PuntReason::Local, 0, frame_of(heartbeat_response(seq, true)), 1010);
    agent.on_frame(0, PuntReason::Local, 0, frame_of(heartbeat_response(seq, false)), 1011);
    EXPECT_EQ(agent.counters().esp_required_drops, 2u);
    // 2. Inside ESP with a flipped ICV byte.
    auto forged = mn->protect(heartbeat_response(seq, true));
    ASSERT_TRUE(forged.ok());
    forged->back() ^= 1;
    agent.on_frame(0, PuntReason::Local, 0, frame_of(*forged), 1012);
    EXPECT_EQ(esp_counter(agent, "esp_bad_icv"), 1u);
    EXPECT_EQ(agent.counters().esp_rejected, 1u);
    EXPECT_EQ(agent.counters().heartbeat_responses, 0u);
    EXPECT_TRUE(dp.sent.empty());

    agent.on_tick(2001);  // the request went unanswered: a miss
    EXPECT_EQ(agent.counters().heartbeat_misses, 1u);
    EXPECT_EQ(binding_state(agent), "suspect");
    ASSERT_EQ(dp.sent.size(), 1u);
    auto next = heartbeat_in(ip_of(dp.sent[0].second), mn.get());
    ASSERT_TRUE(next);
    auto genuine = mn->protect(heartbeat_response(next->heartbeat.sequence, true));
    ASSERT_TRUE(genuine.ok());
    agent.on_frame(0, PuntReason::Local, 0, frame_of(*genuine), 2010);
    EXPECT_EQ(agent.counters().heartbeat_responses, 1u);
    EXPECT_EQ(binding_state(agent), "live");
}

// security.mode none: heartbeats stay plain both ways, even between peers that have SAs
// (their BUs and BAs still go inside ESP).
TEST(EspHeartbeats, ModeNoneKeepsPlainHeartbeatsAndTheMobileNodeAnswersPlainly) {
    RecordingDataPlane dp;
    ha::HomeAgent agent(ha_settings(false), dp);
    std::vector<std::vector<std::uint8_t>> to_gateway;
    mn::MobileNode node(
        esp_mn_options(), {mn::LinkEnvironment{kMnMac, std::nullopt, true}},
        [&](std::size_t, std::span<const std::uint8_t> f) {
            to_gateway.emplace_back(f.begin(), f.end());
            return true;
        },
        [](const std::string&) {});
    node.start(0);
    agent.on_frame(0, PuntReason::Local, 0, to_gateway.at(0), 1);
    node.on_frame(0, dp.sent.at(0).second, 2);
    ASSERT_TRUE(node.registered(1));
    to_gateway.clear();
    dp.sent.clear();

    agent.on_tick(1001);
    ASSERT_EQ(dp.sent.size(), 1u);
    auto request = heartbeat_in(ip_of(dp.sent[0].second), nullptr);
    ASSERT_TRUE(request);  // plain
    EXPECT_FALSE(request->outer.type2_routing_address);
    node.on_frame(0, dp.sent[0].second, 1002);
    ASSERT_EQ(to_gateway.size(), 1u);
    auto response = heartbeat_in(ip_of(to_gateway[0]), nullptr);
    ASSERT_TRUE(response);  // plain
    EXPECT_TRUE(response->heartbeat.response);
    EXPECT_FALSE(response->outer.home_address_option);
    agent.on_frame(0, PuntReason::Local, 0, to_gateway[0], 1003);
    EXPECT_EQ(agent.counters().heartbeat_responses, 1u);
    EXPECT_EQ(agent.counters().esp_protected_sent, 1u);  // the BA only
}
