// Loader tests: the shipped examples load, and each kind of mistake yields one
// exact "FILE:LINE:COLUMN: message".
#include <gtest/gtest.h>

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "config/load.hpp"

using namespace monami::config;
using monami::Ipv6Address;
using monami::Ipv6Prefix;
using monami::MacAddress;

namespace {

std::string source_path(const std::string& relative) {
    return std::string(MONAMI_SOURCE_ROOT) + "/" + relative;
}

using Errors = std::vector<std::string>;

Errors errors_of(const std::string& yaml) {
    auto result = load_config_string(yaml, "t.yaml");
    Errors out;
    if (result) return out;
    for (const auto& e : result.error()) out.push_back(e.to_string());
    return out;
}

Config load_ok(const std::string& yaml) {
    auto result = load_config_string(yaml, "t.yaml");
    if (!result) {
        for (const auto& e : result.error()) ADD_FAILURE() << e.to_string();
        return Config{};
    }
    return *result;
}

Ipv6Address addr(const char* text) {
    return *Ipv6Address::parse(text);
}
Ipv6Prefix prefix(const char* text) {
    return *Ipv6Prefix::parse(text);
}

// Lines 1-4 of most test documents: one valid port with home prefix 2001:db8:1::/64.
const std::string kPort =
    "ports:\n"
    "  - name: home\n"
    "    device: net_null0\n"
    "    addresses: [\"2001:db8:1::1/64\"]\n";

// kPort plus an upstream port (lines 5-7), two access classes and two traffic
// classes (lines 8-15).
const std::string kPolicyBase = kPort +
                                "  - name: up\n"
                                "    device: net_null1\n"
                                "    addresses: [\"2001:db8:2::1/64\"]\n"
                                "policies:\n"
                                "  access_classes:\n"
                                "    - {name: wifi, prefixes: [\"2001:db8:a::/48\"]}\n"
                                "    - {name: cell, prefixes: [\"2001:db8:c::/48\"]}\n"
                                "  traffic_classes:\n"
                                "    - {name: voice, match: {protocol: udp}}\n"
                                "    - {name: bulk, match: {protocol: tcp}}\n"
                                "  profiles:\n"
                                "    - name: p\n"
                                "      rules:\n";  // rules start at line 18

// One GCM SA for HoA 2001:db8:1::100 as lines 5.. with the given extra lines.
std::string sa_doc(const std::string& sa_lines) {
    return kPort +
           "security:\n"
           "  sas:\n"
           "    - spi: 0x1001\n"
           "      direction: in\n" +
           sa_lines;
}

}  // namespace

// ---------------------------------------------------------------- examples

TEST(ConfigExamples, CompleteExampleLoadsWithEverySection) {
    auto result = load_config_file(source_path("config/monami.yaml"));
    if (!result) {
        for (const auto& e : result.error()) ADD_FAILURE() << e.to_string();
        return;
    }
    const Config& c = *result;
    EXPECT_EQ(c.eal_args, (std::vector<std::string>{"--no-huge", "-m", "1024"}));
    EXPECT_EQ(c.state.backend, StateBackend::lmdb);
    EXPECT_EQ(c.state.path, "/var/lib/monami/bindings.mdb");
    EXPECT_EQ(c.state.durability, StateDurability::sync);
    EXPECT_EQ(c.state.flush_interval_ms, 100u);
    EXPECT_EQ(c.state.map_size_mb, 4096u);
    EXPECT_EQ(c.log_level, LogLevel::info);
    ASSERT_EQ(c.ports.size(), 2u);
    EXPECT_EQ(c.ports[0].name, "home");
    EXPECT_EQ(c.ports[0].mac, MacAddress::parse("02:00:00:00:00:01"));
    ASSERT_EQ(c.ports[0].addresses.size(), 2u);
    EXPECT_EQ(c.ports[0].addresses[0].on_link_prefix(), prefix("2001:db8:1::/64"));
    EXPECT_FALSE(c.ports[1].mac);
    ASSERT_EQ(c.routes.size(), 3u);
    EXPECT_EQ(c.routes[0].port_index, 1u);
    EXPECT_EQ(c.routes[0].via, addr("2001:db8:2::fe"));
    EXPECT_FALSE(c.routes[2].via);
    ASSERT_EQ(c.neighbors.size(), 1u);
    EXPECT_EQ(c.neighbors[0].mac.to_string(), "02:00:00:00:00:fe");
    EXPECT_EQ(c.dataplane.stats_interval_ms, 1000u);
    EXPECT_EQ(c.home_agent.addresses, std::vector<Ipv6Address>{addr("2001:db8:1::1")});
    EXPECT_EQ(c.home_agent.refresh_advice, 300u);
    ASSERT_EQ(c.home_agent.home_agents.size(), 1u);
    EXPECT_EQ(c.home_agent.home_agents[0].preference, 5);
    EXPECT_EQ(c.tunnel.encapsulation_limit, 4);
    EXPECT_EQ(c.tunnel.mtu, 1452);
    ASSERT_EQ(c.mobile_nodes.size(), 2u);
    EXPECT_EQ(c.mobile_nodes[0].policy_index, 1u);
    EXPECT_EQ(c.mobile_nodes[1].network_prefixes,
              std::vector<Ipv6Prefix>{prefix("2001:db8:100::/56")});
    EXPECT_EQ(c.security.mode, SecurityMode::esp);
    ASSERT_EQ(c.security.sas.size(), 4u);
    const auto& gcm = c.security.sas[0];
    EXPECT_EQ(gcm.spi, 0x1001u);
    EXPECT_EQ(gcm.key.size(), 16u);
    EXPECT_EQ(gcm.key[0], 0x00);
    EXPECT_EQ(gcm.key[15], 0xff);
    EXPECT_EQ(gcm.salt, (std::vector<std::uint8_t>{1, 2, 3, 4}));
    EXPECT_TRUE(gcm.auth_key.empty());
    const auto& cbc = c.security.sas[3];
    EXPECT_EQ(cbc.direction, SaDirection::out);
    EXPECT_EQ(cbc.algorithm, EspAlgorithm::aes_cbc_256_hmac_sha256);
    EXPECT_EQ(cbc.key.size(), 32u);
    EXPECT_EQ(cbc.auth_key.size(), 32u);
    EXPECT_TRUE(cbc.salt.empty());
    const auto& pol = c.policies;
    ASSERT_EQ(pol.access_classes.size(), 2u);
    EXPECT_EQ(pol.access_classes[1].prefixes.size(), 2u);
    const auto& voice = pol.traffic_classes[0].match;
    EXPECT_EQ(voice.protocol, 17);
    EXPECT_EQ(voice.destination_ports.first, 5060);
    EXPECT_EQ(voice.destination_ports.last, 5090);
    EXPECT_TRUE(voice.source_ports.is_any());
    EXPECT_EQ(voice.dscp, 46);
    ASSERT_EQ(pol.profiles.size(), 2u);
    const auto& rules = pol.profiles[0].rules;
    ASSERT_EQ(rules.size(), 4u);
    EXPECT_EQ(rules[0].mode, RuleMode::prefer);
    ASSERT_EQ(rules[0].order.size(), 2u);
    EXPECT_EQ(rules[0].order[1].index, 1u);
    ASSERT_EQ(rules[1].weights.size(), 2u);
    EXPECT_EQ(rules[1].weights[0].access_class.name, "wifi");
    EXPECT_EQ(rules[1].weights[0].weight, 3u);
    EXPECT_EQ(rules[2].mode, RuleMode::ncast);
    EXPECT_FALSE(rules[3].traffic_class_index);  // "any"
    EXPECT_TRUE(rules[3].weights.empty());
    EXPECT_EQ(pol.default_profile_index, 0u);
}

TEST(ConfigExamples, MinimalExampleGetsDefaults) {
    auto result = load_config_file(source_path("config/minimal.yaml"));
    if (!result) {
        for (const auto& e : result.error()) ADD_FAILURE() << e.to_string();
        return;
    }
    const Config& c = *result;
    EXPECT_EQ(c.ports[0].mtu, 1500);
    EXPECT_EQ(c.home_agent.addresses, std::vector<Ipv6Address>{addr("2001:db8:1::1")});
    EXPECT_EQ(c.home_agent.home_prefixes, std::vector<Ipv6Prefix>{prefix("2001:db8:1::/64")});
    EXPECT_EQ(c.home_agent.max_binding_lifetime, 600u);
    EXPECT_EQ(c.state.backend, StateBackend::none);  // bindings in memory only
    EXPECT_EQ(c.state.path, "/var/lib/monami/bindings.mdb");
    EXPECT_EQ(c.state.durability, StateDurability::sync);
    EXPECT_TRUE(c.home_agent.allow_mcoa);
    EXPECT_EQ(c.dataplane.mbufs, 16383u);
    EXPECT_EQ(c.dataplane.rx_descriptors, 1024);
    EXPECT_EQ(c.tunnel.hop_limit, 64);
    EXPECT_EQ(c.tunnel.encapsulation_limit, 4);
    EXPECT_EQ(c.heartbeat.interval_ms, 1000u);
    EXPECT_EQ(c.security.mode, SecurityMode::none);
    EXPECT_EQ(c.security.replay_window, 64u);
    EXPECT_FALSE(c.policies.default_profile);
}

TEST(ConfigLoad, DefaultHomeAgentSkipsLinkLocalAddresses) {
    auto c = load_ok(
        "ports:\n"
        "  - {name: a, device: \"0000:03:00.0\", addresses: [\"fe80::1/64\", "
        "\"2001:db8:5::9/48\"]}\n");
    EXPECT_EQ(c.home_agent.addresses, std::vector<Ipv6Address>{addr("2001:db8:5::9")});
    EXPECT_EQ(c.home_agent.home_prefixes, std::vector<Ipv6Prefix>{prefix("2001:db8:5::/48")});
}

TEST(ConfigLoad, EncapsulationLimitNullMeansNoOption) {
    auto c = load_ok(kPort + "tunnel: {encapsulation_limit: null, hop_limit: 255}\n");
    EXPECT_FALSE(c.tunnel.encapsulation_limit);
    EXPECT_EQ(c.tunnel.hop_limit, 255);
}

TEST(ConfigLoad, HeartbeatCareOfPrefixesAndSlowIterationBound) {
    auto c = load_ok(kPort +
                     "heartbeat: {care_of_prefixes: [\"2001:db8:c001::/122\", "
                     "\"2001:db8:a::/48\"]}\n"
                     "dataplane: {slow_iteration_warning_us: 250}\n");
    EXPECT_EQ(c.heartbeat.care_of_prefixes,
              (std::vector<Ipv6Prefix>{prefix("2001:db8:c001::/122"), prefix("2001:db8:a::/48")}));
    EXPECT_EQ(c.dataplane.slow_iteration_warning_us, 250u);
    auto d = load_ok(kPort);
    EXPECT_TRUE(d.heartbeat.care_of_prefixes.empty());  // every CoA
    EXPECT_EQ(d.dataplane.slow_iteration_warning_us, 1000u);
    EXPECT_EQ(errors_of(kPort + "heartbeat: {care_of_prefixes: [\"2001:db8::/200\"]}\n").size(),
              1u);
    EXPECT_EQ(errors_of(kPort + "dataplane: {slow_iteration_warning_us: -1}\n").size(), 1u);
}

TEST(ConfigLoad, SameSpiInBothDirectionsIsAllowed) {
    auto c = load_ok(kPort +
                     "security:\n"
                     "  sas:\n"
                     "    - {spi: 300, direction: in, home_address: \"2001:db8:1::5\", "
                     "algorithm: aes-gcm-256, key: \"" +
                     std::string(72, 'a') +
                     "\"}\n"
                     "    - {spi: 300, direction: out, home_address: \"2001:db8:1::5\", "
                     "algorithm: aes-gcm-256, key: \"0x" +
                     std::string(72, 'b') + "\"}\n");
    ASSERT_EQ(c.security.sas.size(), 2u);
    EXPECT_EQ(c.security.sas[1].key.size(), 32u);
    EXPECT_EQ(c.security.sas[1].salt, (std::vector<std::uint8_t>{0xbb, 0xbb, 0xbb, 0xbb}));
}

TEST(ConfigLoad, PortRangeForms) {
    auto c =
        load_ok(kPort +
                "policies:\n"
                "  traffic_classes:\n"
                "    - {name: a, match: {protocol: 6, destination_ports: 80}}\n"
                "    - {name: b, match: {protocol: sctp, source_ports: \"1-2\", dscp: any}}\n");
    const auto& tcs = c.policies.traffic_classes;
    ASSERT_EQ(tcs.size(), 2u);
    EXPECT_EQ(tcs[0].match.destination_ports.first, 80);
    EXPECT_EQ(tcs[0].match.destination_ports.last, 80);
    EXPECT_EQ(tcs[1].match.protocol, 132);
    EXPECT_EQ(tcs[1].match.source_ports.last, 2);
    EXPECT_FALSE(tcs[1].match.dscp);
}

TEST(ConfigLoad, EnumNamesRoundTrip) {
    EXPECT_EQ(to_string(LogLevel::warning), "warning");
    EXPECT_EQ(to_string(EspAlgorithm::aes_cbc_128_hmac_sha256), "aes-cbc-128-hmac-sha256");
    EXPECT_EQ(to_string(RuleMode::ncast), "ncast");
    EXPECT_EQ(load_ok(kPort + "log_level: debug\n").log_level, LogLevel::debug);
}

TEST(ConfigError, FormatsOneBasedPosition) {
    EXPECT_EQ((ConfigError{"f.yaml", 3, 7, "oops"}).to_string(), "f.yaml:3:7: oops");
    EXPECT_EQ((ConfigError{"f.yaml", 0, 0, "oops"}).to_string(), "f.yaml: oops");
}

// ---------------------------------------------------------------- whole file

TEST(ConfigBad, MissingFile) {
    auto result = load_config_file("/nonexistent/monami.yaml");
    ASSERT_FALSE(result);
    ASSERT_EQ(result.error().size(), 1u);
    EXPECT_EQ(result.error()[0].to_string(),
              "/nonexistent/monami.yaml: cannot open: No such file or directory");
}

TEST(ConfigBad, YamlSyntaxErrorHasItsMark) {
    EXPECT_EQ(errors_of("ports:\n  - name: home\n   device: x\n"),
              Errors{"t.yaml:3:4: YAML syntax error: end of sequence not found"});
    EXPECT_EQ(errors_of("ports: [\n"),
              Errors{"t.yaml:2:1: YAML syntax error: end of sequence flow not found"});
}

TEST(ConfigBad, EmptyDocument) {
    EXPECT_EQ(errors_of(""), Errors{"t.yaml: empty configuration (at least 'ports' is required)"});
}

TEST(ConfigBad, TopLevelNotAMapping) {
    EXPECT_EQ(errors_of("- a\n- b\n"),
              Errors{"t.yaml:1:1: configuration: expected a mapping, got a sequence"});
}

TEST(ConfigBad, MissingPorts) {
    EXPECT_EQ(errors_of("log_level: info\n"),
              Errors{"t.yaml:1:1: missing required key 'ports' at top level"});
}

TEST(ConfigBad, EmptyPorts) {
    EXPECT_EQ(errors_of("ports: []\n"), Errors{"t.yaml:1:8: ports: at least one port is required"});
}

// ---------------------------------------------------------------- unknown / duplicate keys

TEST(ConfigBad, UnknownTopLevelKey) {
    EXPECT_EQ(errors_of(kPort + "colour: blue\n"),
              Errors{"t.yaml:5:1: unknown key 'colour' at top level"});
}

TEST(ConfigBad, UnknownKeyInPort) {
    EXPECT_EQ(errors_of(kPort + "    speed: 10\n"),
              Errors{"t.yaml:5:5: unknown key 'speed' in ports[0]"});
}

TEST(ConfigBad, UnknownKeyInNestedMatch) {
    EXPECT_EQ(errors_of(kPort + "policies:\n"
                                "  traffic_classes:\n"
                                "    - name: v\n"
                                "      match: {protocol: udp, port: 5060}\n"),
              Errors{"t.yaml:8:30: unknown key 'port' in policies.traffic_classes[0].match"});
}

TEST(ConfigBad, UnknownKeyInEverySection) {
    const char* sections[] = {"dataplane", "home_agent", "tunnel",
                              "heartbeat", "security",   "policies"};
    for (const char* section : sections) {
        EXPECT_EQ(errors_of(kPort + section + ":\n  nope: 1\n"),
                  Errors{"t.yaml:6:3: unknown key 'nope' in " + std::string(section)})
            << section;
    }
}

TEST(ConfigBad, DuplicateKey) {
    EXPECT_EQ(errors_of(kPort + "    mtu: 1500\n    mtu: 9000\n"),
              Errors{"t.yaml:6:5: duplicate key 'mtu' in ports[0] (first at line 5)"});
}

TEST(ConfigBad, MissingRequiredPortKey) {
    EXPECT_EQ(errors_of("ports:\n  - name: home\n    addresses: [\"2001:db8:1::1/64\"]\n"),
              Errors{"t.yaml:2:5: missing required key 'device' in ports[0]"});
}

TEST(ConfigBad, NullValueIsReportedAtItsKey) {
    EXPECT_EQ(errors_of("ports:\n  - name: home\n    device:\n    mtu: 1500\n"),
              Errors{"t.yaml:3:5: ports[0].device: expected a string, got null"});
}

// ---------------------------------------------------------------- types and ranges

TEST(ConfigBad, IntegerExpected) {
    EXPECT_EQ(errors_of(kPort + "    mtu: big\n"),
              Errors{"t.yaml:5:10: ports[0].mtu: expected an integer, got 'big'"});
}

TEST(ConfigBad, SequenceExpected) {
    EXPECT_EQ(errors_of(kPort + "eal: --no-huge\n"),
              Errors{"t.yaml:5:6: eal: expected a sequence, got '--no-huge'"});
}

TEST(ConfigBad, BooleanExpected) {
    EXPECT_EQ(errors_of(kPort + "heartbeat: {enabled: yes}\n"),
              Errors{"t.yaml:5:22: heartbeat.enabled: expected true or false, got 'yes'"});
}

TEST(ConfigBad, MtuOutOfRange) {
    EXPECT_EQ(errors_of(kPort + "    mtu: 1000\n"),
              Errors{"t.yaml:5:10: ports[0].mtu: 1000 is out of range 1280..9000"});
}

TEST(ConfigBad, HugeNumberIsOutOfRange) {
    EXPECT_EQ(errors_of(kPort + "dataplane: {mbufs: 99999999999999999999999}\n"),
              Errors{"t.yaml:5:20: dataplane.mbufs: 99999999999999999999999 is out of range "
                     "1023..67108864"});
}

TEST(ConfigBad, TooFewMbufs) {
    EXPECT_EQ(errors_of(kPort + "dataplane: {mbufs: 511, mbuf_cache: 0}\n"),
              Errors{"t.yaml:5:20: dataplane.mbufs: 511 is out of range 1023..67108864"});
}

TEST(ConfigBad, MbufCacheAboveMempoolMaximum) {
    EXPECT_EQ(errors_of(kPort + "dataplane: {mbuf_cache: 513}\n"),
              Errors{"t.yaml:5:25: dataplane.mbuf_cache: 513 is out of range 0..512"});
}

TEST(ConfigBad, DescriptorsNotPowerOfTwo) {
    EXPECT_EQ(errors_of(kPort + "dataplane:\n  rx_descriptors: 1000\n  control_ring: 4095\n"),
              (Errors{"t.yaml:6:19: dataplane.rx_descriptors: 1000 is not a power of two",
                      "t.yaml:7:17: dataplane.control_ring: 4095 is not a power of two"}));
}

TEST(ConfigBad, UnknownSignallingSteering) {
    EXPECT_EQ(errors_of(kPort + "dataplane: {signalling_steering: hardware}\n"),
              Errors{"t.yaml:5:34: dataplane.signalling_steering: unknown value 'hardware' "
                     "(expected auto, software)"});
}

TEST(ConfigLoad, SignallingSteeringDefaultsToAuto) {
    EXPECT_EQ(load_ok(kPort).dataplane.signalling_steering, SignallingSteering::automatic);
    EXPECT_EQ(load_ok(kPort + "dataplane: {signalling_steering: software}\n")
                  .dataplane.signalling_steering,
              SignallingSteering::software);
}

TEST(ConfigBad, UnknownLogLevel) {
    EXPECT_EQ(errors_of(kPort + "log_level: verbose\n"),
              Errors{"t.yaml:5:12: log_level: unknown value 'verbose' (expected emerg, alert, "
                     "crit, err, warning, notice, info, debug)"});
}

TEST(ConfigBad, BindingLifetimeNotInUnitsOfFour) {
    EXPECT_EQ(errors_of(kPort + "home_agent: {max_binding_lifetime: 601}\n"),
              Errors{"t.yaml:5:36: home_agent.max_binding_lifetime: 601 is not a multiple of 4 "
                     "(the protocol counts units of 4 s)"});
}

// RFC 6275 s.10.3.1: no binding outlives the home prefix it is in.
TEST(ConfigBad, BindingLifetimeBeyondThePrefixLifetime) {
    EXPECT_EQ(errors_of(kPort + "home_agent: {lifetime: 100, max_binding_lifetime: 104}\n"),
              Errors{"t.yaml:5:51: home_agent.max_binding_lifetime: max_binding_lifetime 104 "
                     "exceeds the home prefixes' valid lifetime (lifetime: 100)"});
    EXPECT_EQ(errors_of(kPort + "home_agent: {lifetime: 100}\n"),
              Errors{"t.yaml:5:24: home_agent.lifetime: max_binding_lifetime 600 exceeds the "
                     "home prefixes' valid lifetime (lifetime: 100)"});
}

TEST(ConfigBad, StateSection) {
    EXPECT_EQ(
        errors_of(kPort + "state: {backend: redis, durability: maybe, path: \"\"}\n"),
        (Errors{"t.yaml:5:18: state.backend: unknown value 'redis' (expected none, lmdb, etcd)",
                "t.yaml:5:37: state.durability: unknown value 'maybe' (expected sync, async)",
                "t.yaml:5:50: state.path: must not be empty"}));
}

TEST(ConfigBad, StateEtcd) {
    EXPECT_EQ(errors_of(kPort + "state: {backend: etcd}\n"),
              Errors{"t.yaml:5:8: state.etcd.endpoints: required with backend etcd"});
    EXPECT_EQ(
        errors_of(kPort + "state: {backend: etcd, etcd: {endpoints: [\"http://e:2379\", e2], "
                          "prefix: /a, lease_ttl_s: 0, cert_file: c.pem}}\n"),
        (Errors{"t.yaml:5:8: state.etcd.endpoints: required with backend etcd",
                "t.yaml:5:30: state.etcd: cert_file and key_file go together",
                "t.yaml:5:30: state.etcd: a client certificate needs ca_file (TLS)",
                "t.yaml:5:43: state.etcd.endpoints[0]: \"http://e:2379\": expected "
                "host:port (no scheme)",
                "t.yaml:5:60: state.etcd.endpoints[1]: \"e2\": expected host:port (no scheme)",
                "t.yaml:5:73: state.etcd.prefix: must end with '/'",
                "t.yaml:5:90: state.etcd.lease_ttl_s: 0 is out of range 1..60"}));
}

TEST(ConfigGood, StateEtcd) {
    auto c = load_ok(kPort +
                     "state: {backend: etcd, durability: async, etcd: {endpoints: "
                     "[\"10.0.0.1:2379\", \"[2001:db8::1]:2379\"], prefix: /monami/pair1/, "
                     "member: gw-a, lease_ttl_s: 2}}\n");
    EXPECT_EQ(c.state.backend, StateBackend::etcd);
    EXPECT_EQ(c.state.etcd.endpoints,
              (std::vector<std::string>{"10.0.0.1:2379", "[2001:db8::1]:2379"}));
    EXPECT_EQ(c.state.etcd.prefix, "/monami/pair1/");
    EXPECT_EQ(c.state.etcd.member, "gw-a");
    EXPECT_EQ(c.state.etcd.lease_ttl_s, 2u);
    EXPECT_EQ(c.state.etcd.request_timeout_ms, 1000u);
}

TEST(ConfigBad, RefreshAdviceNotBelowLifetime) {
    EXPECT_EQ(errors_of(kPort + "home_agent: {max_binding_lifetime: 400, refresh_advice: 400}\n"),
              Errors{"t.yaml:5:57: home_agent.refresh_advice: 400 must be less than "
                     "max_binding_lifetime (400)"});
}

TEST(ConfigBad, EncapsulationLimitOutOfRange) {
    EXPECT_EQ(errors_of(kPort + "tunnel: {encapsulation_limit: 256}\n"),
              Errors{"t.yaml:5:31: tunnel.encapsulation_limit: 256 is out of range 0..255"});
}

TEST(ConfigBad, ReplayWindowNotMultipleOf32) {
    EXPECT_EQ(errors_of(kPort + "security: {replay_window: 100}\n"),
              Errors{"t.yaml:5:27: security.replay_window: 100 is not a multiple of 32"});
}

// ---------------------------------------------------------------- ports

TEST(ConfigBad, InvalidPortName) {
    EXPECT_EQ(errors_of("ports:\n  - name: Home_Port_Number_1\n    device: net_null0\n"),
              Errors{"t.yaml:2:11: ports[0].name: 'Home_Port_Number_1' is not a valid name "
                     "([a-z0-9_-], 1 to 15 characters)"});
}

TEST(ConfigBad, DuplicatePortName) {
    EXPECT_EQ(errors_of(kPort + "  - {name: home, device: net_null1}\n"),
              Errors{"t.yaml:5:12: ports[1].name: duplicate port name 'home' (first at line 2)"});
}

TEST(ConfigBad, DuplicateDeviceIgnoringDevargs) {
    EXPECT_EQ(errors_of(kPort + "  - {name: b, device: \"net_null0,size=64\"}\n"),
              Errors{"t.yaml:5:23: ports[1].device: duplicate device 'net_null0' (first at "
                     "line 3)"});
}

TEST(ConfigBad, DeviceNeitherPciNorVdev) {
    EXPECT_EQ(errors_of(kPort + "  - {name: b, device: eth0}\n"),
              Errors{"t.yaml:5:23: ports[1].device: 'eth0' is neither a PCI address "
                     "(0000:03:00.0) nor a net_ vdev name (net_pcap0)"});
}

TEST(ConfigBad, BadMac) {
    EXPECT_EQ(errors_of(kPort + "    mac: \"02:00:00:00:00\"\n"),
              Errors{"t.yaml:5:10: ports[0].mac: '02:00:00:00:00' is not a MAC address "
                     "(expected xx:xx:xx:xx:xx:xx)"});
}

TEST(ConfigBad, MulticastMac) {
    EXPECT_EQ(errors_of(kPort + "    mac: \"33:33:00:00:00:01\"\n"),
              Errors{"t.yaml:5:10: ports[0].mac: 33:33:00:00:00:01 is a multicast MAC address"});
}

TEST(ConfigBad, BadInterfaceAddress) {
    EXPECT_EQ(
        errors_of("ports:\n  - {name: a, device: net_null0, addresses: [\"2001:db8::g/64\"]}\n"),
        Errors{"t.yaml:2:46: ports[0].addresses[0]: '2001:db8::g' is not an IPv6 address"});
}

TEST(ConfigBad, InterfaceAddressWithoutPrefixLength) {
    EXPECT_EQ(errors_of("ports:\n  - {name: a, device: net_null0, addresses: [\"2001:db8::1\"]}\n"),
              Errors{"t.yaml:2:46: ports[0].addresses[0]: '2001:db8::1' has no prefix length "
                     "(expected ADDRESS/LENGTH, e.g. 2001:db8::1/64)"});
}

TEST(ConfigBad, AddressOnTwoPorts) {
    EXPECT_EQ(
        errors_of(kPort + "  - {name: b, device: net_null1, addresses: [\"2001:db8:1::1/64\"]}\n"),
        Errors{"t.yaml:5:46: ports[1].addresses[0]: 2001:db8:1::1 is already an address of "
               "port 'home'"});
}

// ---------------------------------------------------------------- routes, neighbors

TEST(ConfigBad, RoutePrefixWithHostBits) {
    EXPECT_EQ(errors_of(kPort + "routes:\n  - {prefix: \"2001:db8:cafe::1/48\", port: home}\n"),
              Errors{"t.yaml:6:14: routes[0].prefix: '2001:db8:cafe::1/48' has host bits set (did "
                     "you mean 2001:db8:cafe::/48?)"});
}

TEST(ConfigBad, RouteToUnknownPort) {
    EXPECT_EQ(errors_of(kPort + "routes:\n  - {prefix: \"::/0\", port: upstream}\n"),
              Errors{"t.yaml:6:28: routes[0].port: unknown port 'upstream'"});
}

TEST(ConfigBad, RouteViaNotOnLink) {
    EXPECT_EQ(
        errors_of(kPort + "routes:\n  - {prefix: \"::/0\", port: home, via: \"2001:db8:9::1\"}\n"),
        Errors{"t.yaml:6:39: routes[0].via: 2001:db8:9::1 is not on-link on port 'home'"});
}

TEST(ConfigBad, DuplicateRoute) {
    EXPECT_EQ(errors_of(kPort + "routes:\n"
                                "  - {prefix: \"::/0\", port: home}\n"
                                "  - {prefix: \"::/0\", port: home, via: \"fe80::1\"}\n"),
              Errors{"t.yaml:7:14: routes[1].prefix: duplicate route for ::/0 (first at line 6)"});
}

TEST(ConfigBad, NeighborOnUnknownPort) {
    EXPECT_EQ(
        errors_of(kPort +
                  "neighbors:\n"
                  "  - {address: \"2001:db8:1::fe\", mac: \"02:00:00:00:00:fe\", port: up}\n"),
        Errors{"t.yaml:6:65: neighbors[0].port: unknown port 'up'"});
}

TEST(ConfigBad, NeighborMissingMac) {
    EXPECT_EQ(errors_of(kPort + "neighbors:\n  - {address: \"2001:db8:1::fe\", port: home}\n"),
              Errors{"t.yaml:6:5: missing required key 'mac' in neighbors[0]"});
}

// ---------------------------------------------------------------- home agent

TEST(ConfigBad, HomeAgentAddressNotOwnedByPort) {
    EXPECT_EQ(errors_of(kPort + "home_agent:\n  addresses: [\"2001:db8:1::2\"]\n"),
              Errors{"t.yaml:6:15: home_agent.addresses[0]: 2001:db8:1::2 is not an address of "
                     "any port"});
}

TEST(ConfigBad, HomePrefixNotOnLink) {
    EXPECT_EQ(
        errors_of(kPort +
                  "home_agent:\n  home_prefixes: [\"2001:db8:1::/64\", \"2001:db8:7::/64\"]\n"),
        Errors{"t.yaml:6:38: home_agent.home_prefixes[1]: 2001:db8:7::/64 is not on-link on "
               "any port"});
}

TEST(ConfigBad, NoHomeAgentAddressAtAll) {
    EXPECT_EQ(errors_of("ports:\n  - {name: a, device: net_null0}\n"),
              Errors{"t.yaml:1:1: no home agent address: give home_agent.addresses or a global "
                     "address to a port"});
}

TEST(ConfigBad, PeerHomeAgentOutsideHomePrefix) {
    EXPECT_EQ(
        errors_of(kPort + "home_agent:\n  home_agents:\n    - {address: \"2001:db8:2::2\"}\n"),
        Errors{"t.yaml:7:17: home_agent.home_agents[0].address: 2001:db8:2::2 is not inside "
               "any home prefix"});
}

TEST(ConfigBad, PreferenceOutOfRange) {
    EXPECT_EQ(errors_of(kPort + "home_agent: {preference: 40000}\n"),
              Errors{"t.yaml:5:26: home_agent.preference: 40000 is out of range -32768..32767"});
}

// ---------------------------------------------------------------- mobile nodes

TEST(ConfigBad, HomeAddressOutsideHomePrefixes) {
    EXPECT_EQ(errors_of(kPort + "mobile_nodes:\n"
                                "  - id: mn1@example.com\n"
                                "    home_addresses: [\"2001:db8:1::100\", \"2001:db8:2::100\"]\n"),
              Errors{"t.yaml:7:41: mobile_nodes[0].home_addresses[1]: 2001:db8:2::100 is not "
                     "inside any home prefix"});
}

TEST(ConfigBad, DuplicateMobileNodeId) {
    EXPECT_EQ(errors_of(kPort + "mobile_nodes:\n"
                                "  - {id: mn@x, home_addresses: [\"2001:db8:1::100\"]}\n"
                                "  - {id: mn@x, home_addresses: [\"2001:db8:1::101\"]}\n"),
              Errors{"t.yaml:7:10: mobile_nodes[1].id: duplicate mobile node id 'mn@x' (first at "
                     "line 6)"});
}

TEST(ConfigBad, HomeAddressOfTwoMobileNodes) {
    EXPECT_EQ(errors_of(kPort + "mobile_nodes:\n"
                                "  - {id: a, home_addresses: [\"2001:db8:1::100\"]}\n"
                                "  - {id: b, home_addresses: [\"2001:db8:1::100\"]}\n"),
              Errors{"t.yaml:7:30: mobile_nodes[1].home_addresses[0]: 2001:db8:1::100 is already "
                     "a home address of mobile node 'a'"});
}

TEST(ConfigBad, NetworkPrefixesWithMobileRoutersDisabled) {
    EXPECT_EQ(errors_of(kPort + "home_agent: {allow_mobile_routers: false}\n"
                                "mobile_nodes:\n"
                                "  - id: r\n"
                                "    home_addresses: [\"2001:db8:1::100\"]\n"
                                "    network_prefixes: [\"2001:db8:100::/56\"]\n"),
              Errors{"t.yaml:9:23: mobile_nodes[0].network_prefixes: mobile routers are disabled "
                     "(home_agent.allow_mobile_routers: false)"});
}

TEST(ConfigBad, MobileNodePolicyNotDefined) {
    EXPECT_EQ(
        errors_of(
            kPort +
            "mobile_nodes:\n  - {id: a, home_addresses: [\"2001:db8:1::100\"], policy: gold}\n"),
        Errors{"t.yaml:6:58: mobile_nodes[0].policy: unknown profile 'gold'"});
}

// ---------------------------------------------------------------- security

TEST(ConfigBad, EspWithoutSas) {
    EXPECT_EQ(errors_of(kPort + "security:\n  mode: esp\n"),
              Errors{"t.yaml:6:9: security.mode: 'esp' needs at least one SA in security.sas"});
}

TEST(ConfigBad, EspNeedsSasInBothDirections) {
    const std::string rest =
        ", home_address: \"2001:db8:1::100\", algorithm: aes-gcm-128, key: \"" +
        std::string(40, '0') + "\"}\n";
    EXPECT_EQ(errors_of(kPort + "security:\n  mode: esp\n  sas:\n" +
                        "    - {spi: 0x1001, direction: in" + rest),
              Errors{"t.yaml:8:7: security.sas[0]: home address 2001:db8:1::100 has an 'in' SA "
                     "but no 'out' SA"});
    // Without ESP the SAs are only stored: no pairing needed.
    EXPECT_EQ(errors_of(kPort + "security:\n  sas:\n" + "    - {spi: 0x1001, direction: in" + rest),
              Errors{});
}

TEST(ConfigBad, SaHomeAddressNotUnderHomePrefix) {
    EXPECT_EQ(errors_of(sa_doc("      home_address: \"2001:db8:9::1\"\n"
                               "      algorithm: aes-gcm-128\n"
                               "      key: \"00112233445566778899aabbccddeeff01020304\"\n")),
              Errors{"t.yaml:9:21: security.sas[0].home_address: 2001:db8:9::1 is not inside any "
                     "home prefix"});
}

TEST(ConfigBad, GcmKeyWithoutSalt) {
    EXPECT_EQ(errors_of(sa_doc("      home_address: \"2001:db8:1::100\"\n"
                               "      algorithm: aes-gcm-128\n"
                               "      key: \"00112233445566778899aabbccddeeff\"\n")),
              Errors{"t.yaml:11:12: security.sas[0].key: aes-gcm-128 needs 20 bytes (16-byte key "
                     "+ 4-byte salt), got 16"});
}

TEST(ConfigBad, CbcKeyWrongSize) {
    EXPECT_EQ(errors_of(sa_doc("      home_address: \"2001:db8:1::100\"\n"
                               "      algorithm: aes-cbc-256-hmac-sha256\n"
                               "      key: \"00112233445566778899aabbccddeeff\"\n"
                               "      auth_key: \"" +
                               std::string(64, '1') + "\"\n")),
              Errors{"t.yaml:11:12: security.sas[0].key: aes-cbc-256-hmac-sha256 needs 32 bytes, "
                     "got 16"});
}

TEST(ConfigBad, HmacAlgorithmNeedsAuthKey) {
    EXPECT_EQ(errors_of(sa_doc("      home_address: \"2001:db8:1::100\"\n"
                               "      algorithm: aes-cbc-128-hmac-sha256\n"
                               "      key: \"00112233445566778899aabbccddeeff\"\n")),
              Errors{"t.yaml:7:7: missing required key 'auth_key' in security.sas[0] "
                     "(aes-cbc-128-hmac-sha256 needs a 32-byte HMAC key)"});
}

TEST(ConfigBad, GcmTakesNoAuthKey) {
    EXPECT_EQ(errors_of(sa_doc("      home_address: \"2001:db8:1::100\"\n"
                               "      algorithm: aes-gcm-128\n"
                               "      key: \"00112233445566778899aabbccddeeff01020304\"\n"
                               "      auth_key: \"00\"\n")),
              Errors{"t.yaml:12:17: security.sas[0].auth_key: aes-gcm-128 takes no auth_key (GCM "
                     "authenticates with its key)"});
}

TEST(ConfigBad, AuthKeyWrongSize) {
    EXPECT_EQ(errors_of(sa_doc("      home_address: \"2001:db8:1::100\"\n"
                               "      algorithm: aes-cbc-128-hmac-sha256\n"
                               "      key: \"00112233445566778899aabbccddeeff\"\n"
                               "      auth_key: \"00112233445566778899aabbccddeeff\"\n")),
              Errors{"t.yaml:12:17: security.sas[0].auth_key: aes-cbc-128-hmac-sha256 needs 32 "
                     "bytes, got 16"});
}

TEST(ConfigBad, BadHexKeyIsNotEchoed) {
    auto errors =
        errors_of(sa_doc("      home_address: \"2001:db8:1::100\"\n"
                         "      algorithm: aes-gcm-128\n"
                         "      key: \"s3cr3tpassw0rd\"\n"));
    EXPECT_EQ(errors, Errors{"t.yaml:11:12: security.sas[0].key: not a hex string (an even number "
                             "of hex digits expected)"});
    for (const auto& e : errors) EXPECT_EQ(e.find("s3cr3t"), std::string::npos);
}

TEST(ConfigBad, SpiBelow256) {
    EXPECT_EQ(errors_of(kPort +
                        "security:\n"
                        "  sas:\n"
                        "    - {spi: 255, direction: in, home_address: \"2001:db8:1::100\", "
                        "algorithm: aes-gcm-128, key: \"" +
                        std::string(40, '0') + "\"}\n"),
              Errors{"t.yaml:7:13: security.sas[0].spi: 255 is out of range 256..4294967295"});
}

TEST(ConfigBad, DuplicateSpiInOneDirection) {
    const std::string rest =
        ", home_address: \"2001:db8:1::100\", algorithm: aes-gcm-128, key: \"" +
        std::string(40, '0') + "\"}\n";
    EXPECT_EQ(errors_of(kPort + "security:\n  sas:\n" + "    - {spi: 0x1001, direction: out" +
                        rest + "    - {spi: 4097, direction: out" + rest),
              Errors{"t.yaml:8:13: security.sas[1].spi: duplicate SPI 0x1001 for direction out "
                     "(first at line 7)"});
}

TEST(ConfigBad, UnknownAlgorithm) {
    EXPECT_EQ(
        errors_of(sa_doc("      home_address: \"2001:db8:1::100\"\n"
                         "      algorithm: des\n"
                         "      key: \"0011\"\n")),
        Errors{"t.yaml:10:18: security.sas[0].algorithm: unknown value 'des' (expected "
               "aes-gcm-128, aes-gcm-256, aes-cbc-128-hmac-sha256, aes-cbc-256-hmac-sha256)"});
}

// ---------------------------------------------------------------- policies

TEST(ConfigBad, DuplicateAccessClassName) {
    EXPECT_EQ(errors_of(kPort + "policies:\n"
                                "  access_classes:\n"
                                "    - {name: wifi, prefixes: [\"2001:db8:a::/48\"]}\n"
                                "    - {name: wifi, prefixes: [\"2001:db8:b::/48\"]}\n"),
              Errors{"t.yaml:8:14: policies.access_classes[1].name: duplicate access class name "
                     "'wifi' (first at line 7)"});
}

TEST(ConfigBad, DuplicateTrafficClassName) {
    EXPECT_EQ(errors_of(kPolicyBase + "        - {traffic_class: any, mode: ncast}\n"
                                      "  traffic_classes:\n"),
              Errors{"t.yaml:19:3: duplicate key 'traffic_classes' in policies (first at line "
                     "12)"});
    EXPECT_EQ(errors_of(kPort + "policies:\n"
                                "  traffic_classes:\n"
                                "    - {name: v, match: {}}\n"
                                "    - {name: v, match: {dscp: 1}}\n"),
              Errors{"t.yaml:8:14: policies.traffic_classes[1].name: duplicate traffic class name "
                     "'v' (first at line 7)"});
}

TEST(ConfigBad, DuplicateProfileName) {
    EXPECT_EQ(errors_of(kPolicyBase + "        - {traffic_class: any, mode: ncast}\n"
                                      "    - name: p\n"
                                      "      rules: [{traffic_class: any, mode: ncast}]\n"),
              Errors{"t.yaml:19:13: policies.profiles[1].name: duplicate profile name 'p' (first "
                     "at line 16)"});
}

TEST(ConfigBad, TrafficClassNamedAny) {
    EXPECT_EQ(errors_of(kPort + "policies:\n  traffic_classes:\n    - {name: any, match: {}}\n"),
              Errors{"t.yaml:7:14: policies.traffic_classes[0].name: 'any' is reserved (it "
                     "matches all traffic)"});
}

TEST(ConfigBad, PortsWithoutPortProtocol) {
    EXPECT_EQ(
        errors_of(kPort + "policies:\n"
                          "  traffic_classes:\n"
                          "    - {name: v, match: {protocol: icmpv6, destination_ports: 80}}\n"),
        Errors{"t.yaml:7:62: policies.traffic_classes[0].match.destination_ports: ports "
               "need protocol tcp, udp or sctp"});
}

TEST(ConfigBad, BadPortRange) {
    EXPECT_EQ(
        errors_of(kPort + "policies:\n"
                          "  traffic_classes:\n"
                          "    - {name: v, match: {protocol: udp, source_ports: \"90-80\"}}\n"),
        Errors{"t.yaml:7:54: policies.traffic_classes[0].match.source_ports: '90-80' is an "
               "empty range (first port above last)"});
}

TEST(ConfigBad, RuleNamesUnknownTrafficClass) {
    EXPECT_EQ(errors_of(kPolicyBase + "        - {traffic_class: video, mode: ncast}\n"),
              Errors{"t.yaml:18:27: policies.profiles[0].rules[0].traffic_class: unknown traffic "
                     "class 'video'"});
}

TEST(ConfigBad, RuleUnknownMode) {
    EXPECT_EQ(errors_of(kPolicyBase + "        - {traffic_class: voice, mode: fastest}\n"),
              Errors{"t.yaml:18:40: policies.profiles[0].rules[0].mode: unknown value 'fastest' "
                     "(expected prefer, weighted, ncast)"});
}

TEST(ConfigBad, ZeroWeight) {
    EXPECT_EQ(
        errors_of(kPolicyBase +
                  "        - {traffic_class: bulk, mode: weighted, weights: {wifi: 0, cell: 1}}\n"),
        Errors{"t.yaml:18:65: policies.profiles[0].rules[0].weights.wifi: weight must be in "
               "1..1000000, got 0"});
}

TEST(ConfigBad, NegativeWeight) {
    EXPECT_EQ(errors_of(kPolicyBase +
                        "        - {traffic_class: bulk, mode: weighted, weights: {cell: -2}}\n"),
              Errors{"t.yaml:18:65: policies.profiles[0].rules[0].weights.cell: weight must be in "
                     "1..1000000, got -2"});
}

TEST(ConfigBad, WeightForUnknownAccessClass) {
    EXPECT_EQ(errors_of(kPolicyBase +
                        "        - {traffic_class: bulk, mode: weighted, weights: {lte: 1}}\n"),
              Errors{"t.yaml:18:59: policies.profiles[0].rules[0].weights: unknown access class "
                     "'lte'"});
}

TEST(ConfigBad, WeightsNeedWeightedMode) {
    EXPECT_EQ(errors_of(kPolicyBase +
                        "        - {traffic_class: bulk, mode: prefer, weights: {wifi: 1}}\n"),
              Errors{"t.yaml:18:56: policies.profiles[0].rules[0].weights: only valid with mode "
                     "'weighted'"});
}

TEST(ConfigBad, OrderNamesUnknownAccessClass) {
    EXPECT_EQ(errors_of(kPolicyBase +
                        "        - {traffic_class: voice, mode: prefer, order: [wifi, dsl]}\n"),
              Errors{"t.yaml:18:62: policies.profiles[0].rules[0].order[1]: unknown access class "
                     "'dsl'"});
}

TEST(ConfigBad, RuleAfterAnyIsUnreachable) {
    EXPECT_EQ(errors_of(kPolicyBase + "        - {traffic_class: any, mode: ncast}\n"
                                      "        - {traffic_class: voice, mode: ncast}\n"),
              Errors{"t.yaml:19:27: policies.profiles[0].rules[1].traffic_class: unreachable "
                     "rule: rules[0] already matches any traffic"});
}

TEST(ConfigBad, DefaultProfileNotDefined) {
    EXPECT_EQ(errors_of(kPolicyBase + "        - {traffic_class: any, mode: ncast}\n"
                                      "  default_profile: gold\n"),
              Errors{"t.yaml:19:20: policies.default_profile: unknown profile 'gold'"});
}

TEST(ConfigBad, ProfileWithoutRules) {
    EXPECT_EQ(errors_of(kPolicyBase + "        []\n"),
              Errors{"t.yaml:18:9: policies.profiles[0].rules: at least one rule is required"});
}

// ---------------------------------------------------------------- several errors at once

TEST(ConfigBad, CollectsAllErrorsInFileOrder) {
    EXPECT_EQ(errors_of("tunnel: {hop_limit: 0}\n"
                        "ports:\n"
                        "  - name: home\n"
                        "    device: net_null0\n"
                        "    addresses: [\"2001:db8:1::1/64\"]\n"
                        "    mtu: 100000\n"
                        "routes:\n"
                        "  - {prefix: \"2001:db8::/32\", port: nowhere}\n"
                        "extra: 1\n"),
              (Errors{"t.yaml:1:21: tunnel.hop_limit: 0 is out of range 1..255",
                      "t.yaml:6:10: ports[0].mtu: 100000 is out of range 1280..9000",
                      "t.yaml:8:37: routes[0].port: unknown port 'nowhere'",
                      "t.yaml:9:1: unknown key 'extra' at top level"}));
}

// Any prefix of the example is some malformed document: the loader must answer
// with errors (or a config), never throw or crash.
TEST(ConfigRobustness, TruncatedExamplesNeverThrow) {
    std::ifstream in(source_path("config/monami.yaml"));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    ASSERT_GT(text.size(), 1000u);
    std::size_t failures = 0;
    for (std::size_t length = 0; length < text.size(); length += 3) {
        EXPECT_NO_THROW({
            auto result = load_config_string(std::string_view(text).substr(0, length), "cut");
            if (!result) {
                ++failures;
                for (const auto& e : result.error()) EXPECT_FALSE(e.message.empty());
            }
        }) << "length "
           << length;
    }
    EXPECT_GT(failures, 0u);
}

TEST(ConfigGood, Metrics) {
    EXPECT_TRUE(load_ok(kPort).metrics.host.empty());  // off unless asked for
    auto v6 = load_ok(kPort + "metrics: {listen: \"[::1]:9469\"}\n");
    EXPECT_EQ(v6.metrics.host, "::1");
    EXPECT_EQ(v6.metrics.port, 9469);
    auto v4 = load_ok(kPort + "metrics: {listen: \"127.0.0.1:9100\"}\n");
    EXPECT_EQ(v4.metrics.host, "127.0.0.1");
    EXPECT_EQ(v4.metrics.port, 9100);
}

TEST(ConfigBad, Metrics) {
    const std::string expected =
        ": expected [IPv6]:PORT or IPv4:PORT (a literal address, port 1-65535)";
    EXPECT_EQ(errors_of(kPort + "metrics: {listen: \"::1:9469\"}\n"),
              Errors{"t.yaml:5:19: metrics.listen: \"::1:9469\"" + expected});
    EXPECT_EQ(errors_of(kPort + "metrics: {listen: \"[::1]:0\"}\n"),
              Errors{"t.yaml:5:19: metrics.listen: \"[::1]:0\"" + expected});
    EXPECT_EQ(errors_of(kPort + "metrics: {listen: \"localhost:9469\"}\n"),
              Errors{"t.yaml:5:19: metrics.listen: \"localhost:9469\"" + expected});
    EXPECT_EQ(errors_of(kPort + "metrics: {port: 9469}\n"),
              Errors{"t.yaml:5:11: unknown key 'port' in metrics"});
}
