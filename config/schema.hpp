// monami's configuration as typed, validated values: what config/load.hpp produces
// from YAML. Plain structs, no DPDK. docs/config.md documents every key and default.
//
// Cross references are resolved by the loader: wherever the YAML names a port,
// class or profile, the struct keeps the name (for messages) and its index into
// the owning vector (for use), and the loader guarantees the index is valid.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "dataplane/api/types.hpp"

namespace monami::config {

// Severity names and order as syslog and DPDK's RTE_LOG_* (emerg = 1 ... debug = 8).
enum class LogLevel : std::uint8_t {
    emerg = 1,
    alert = 2,
    crit = 3,
    err = 4,
    warning = 5,
    notice = 6,
    info = 7,
    debug = 8,
};

// An address of our own together with the length of its on-link prefix
// ("2001:db8:1::1/64").
struct InterfaceAddress {
    Ipv6Address address;
    std::uint8_t prefix_length = 64;

    Ipv6Prefix on_link_prefix() const;
    friend bool operator==(const InterfaceAddress&, const InterfaceAddress&) = default;
};

struct Port {
    std::string name;               // [a-z0-9_-]{1,15}, unique
    std::string device;             // PCI address or vdev string, passed to DPDK as is
    std::optional<MacAddress> mac;  // absent: the device's own MAC
    std::vector<InterfaceAddress> addresses;
    std::uint16_t mtu = 1500;  // 1280..9000

    // True when `a` is inside the on-link prefix of one of this port's addresses
    // or is link-local.
    bool is_on_link(const Ipv6Address& a) const;
    friend bool operator==(const Port&, const Port&) = default;
};

struct Route {
    Ipv6Prefix prefix;
    std::string port;
    std::size_t port_index = 0;
    std::optional<Ipv6Address> via;  // absent: destinations are on-link
    friend bool operator==(const Route&, const Route&) = default;
};

struct Neighbor {
    Ipv6Address address;
    MacAddress mac;
    std::string port;
    std::size_t port_index = 0;
    friend bool operator==(const Neighbor&, const Neighbor&) = default;
};

enum class SignallingSteering { automatic, software };

struct Dataplane {
    std::uint32_t mbufs = 16383;  // per pool; 2^n - 1 is the mempool's sweet spot
    std::uint32_t mbuf_cache = 256;
    std::uint16_t rx_descriptors = 1024;
    std::uint16_t tx_descriptors = 1024;
    std::uint32_t control_ring = 4096;    // worker -> control thread ring entries
    std::uint32_t stats_interval_ms = 0;  // 0: no periodic stats line
    // A control iteration longer than this is logged (rate-limited); 0: never.
    std::uint32_t slow_iteration_warning_us = 1000;
    // auto: rte_flow steers signalling to a dedicated RX queue where the port can;
    // software: the workers' classifier only.
    SignallingSteering signalling_steering = SignallingSteering::automatic;
    friend bool operator==(const Dataplane&, const Dataplane&) = default;
};

// Another home agent on the home link, announced in DHAAD replies (RFC 6275 s.10.5.1).
struct PeerHomeAgent {
    Ipv6Address address;
    std::int16_t preference = 0;
    friend bool operator==(const PeerHomeAgent&, const PeerHomeAgent&) = default;
};

struct HomeAgent {
    // Absent in YAML: every non-link-local address of every port.
    std::vector<Ipv6Address> addresses;
    // Absent in YAML: the on-link prefixes of `addresses`.
    std::vector<Ipv6Prefix> home_prefixes;
    std::int16_t preference = 0;
    std::uint16_t lifetime = 1800;             // seconds, 1..65535
    std::uint32_t max_binding_lifetime = 600;  // seconds, multiple of 4, <= 262140
    std::uint32_t max_bindings = 1'000'000;
    std::uint32_t max_bindings_per_mn = 8;
    std::uint32_t max_flows_per_hoa = 64;
    std::uint32_t max_options_per_message = 64;
    std::uint32_t refresh_advice = 0;                 // seconds; 0: no Binding Refresh Advice
    std::uint32_t refresh_request_before_expiry = 0;  // seconds; 0: never send a BRR
    bool allow_mcoa = true;                           // RFC 5648
    bool allow_bulk_registration = true;              // RFC 5648 s.5.3
    bool allow_simultaneous_home_foreign = true;      // RFC 5648 s.5.6
    bool allow_mobile_routers = true;                 // RFC 3963
    // RFC 6275 s.10.3.1: a first registration waits for Duplicate Address Detection of the
    // home address on the home link (RFC 4862), dad_wait_ms (RetransTimer) long.
    bool duplicate_address_detection = true;
    std::uint32_t dad_wait_ms = 1000;
    std::vector<PeerHomeAgent> home_agents;
    friend bool operator==(const HomeAgent&, const HomeAgent&) = default;
};

struct Tunnel {
    std::uint8_t hop_limit = 64;
    // RFC 2473 s.5.1 Tunnel Encapsulation Limit option; nullopt: option not sent.
    std::optional<std::uint8_t> encapsulation_limit = 4;
    std::uint16_t mtu =
        1452;  // 1500 - 40 (IPv6) - 8 (TEL option): inner packets above get Packet Too Big
    friend bool operator==(const Tunnel&, const Tunnel&) = default;
};

struct MobileNode {
    std::string id;  // MN-ID NAI (RFC 4283), unique
    std::vector<Ipv6Address> home_addresses;
    std::vector<Ipv6Prefix> network_prefixes;  // NEMO mobile network prefixes (RFC 3963)
    std::optional<std::string> policy;         // profile name
    std::optional<std::size_t> policy_index;   // into Policies::profiles
    friend bool operator==(const MobileNode&, const MobileNode&) = default;
};

struct Heartbeat {
    bool enabled = true;
    std::uint32_t interval_ms = 1000;
    std::uint32_t missed_limit = 3;
    std::uint32_t recovery = 3;  // consecutive answers before a dead CoA carries flows again
    // Only CoAs inside these get heartbeats (the access networks that need fast failure
    // detection); empty: every CoA.
    std::vector<Ipv6Prefix> care_of_prefixes;
    friend bool operator==(const Heartbeat&, const Heartbeat&) = default;
};

enum class SecurityMode : std::uint8_t { none, esp };
enum class SaDirection : std::uint8_t { in, out };  // in: MN -> HA, out: HA -> MN
enum class EspAlgorithm : std::uint8_t {
    aes_gcm_128,              // RFC 4106, 16-byte ICV
    aes_gcm_256,              // RFC 4106, 16-byte ICV
    aes_cbc_128_hmac_sha256,  // RFC 3602 + RFC 4868 (HMAC-SHA-256-128)
    aes_cbc_256_hmac_sha256,
};

// A manually keyed SA (RFC 4877 s.3). Key bytes never appear in messages.
struct SecurityAssociation {
    std::uint32_t spi = 0;
    SaDirection direction = SaDirection::in;
    Ipv6Address home_address;
    EspAlgorithm algorithm = EspAlgorithm::aes_gcm_128;
    std::vector<std::uint8_t> key;       // cipher key only (16 or 32 bytes)
    std::vector<std::uint8_t> salt;      // GCM: the 4 bytes after the key (RFC 4106 s.8.1)
    std::vector<std::uint8_t> auth_key;  // HMAC algorithms: 32 bytes; GCM: empty
    friend bool operator==(const SecurityAssociation&, const SecurityAssociation&) = default;
};

struct RateLimit {
    std::uint32_t packets_per_second = 1000;
    std::uint32_t burst = 100;
    friend bool operator==(const RateLimit&, const RateLimit&) = default;
};

struct Security {
    SecurityMode mode = SecurityMode::none;
    std::uint32_t replay_window = 64;  // 32..4096, multiple of 32
    bool esn = false;                  // 64-bit extended sequence numbers (RFC 4303 s.2.2.1)
    std::vector<SecurityAssociation> sas;
    RateLimit control_rate_limit;
    friend bool operator==(const Security&, const Security&) = default;
};

// An access technology, recognised by the prefix the CoA comes from.
struct AccessClass {
    std::string name;
    std::vector<Ipv6Prefix> prefixes;
    std::uint32_t cost = 0;       // lower is cheaper; breaks preference ties
    std::int32_t preference = 0;  // higher first when a rule gives no explicit order
    friend bool operator==(const AccessClass&, const AccessClass&) = default;
};

struct PortRange {
    std::uint16_t first = 0;
    std::uint16_t last = 65535;
    bool is_any() const { return first == 0 && last == 65535; }
    friend bool operator==(const PortRange&, const PortRange&) = default;
};

struct TrafficMatch {
    std::optional<std::uint8_t> protocol;  // IPv6 next header; nullopt: any
    PortRange source_ports;
    PortRange destination_ports;
    std::optional<std::uint8_t> dscp;  // nullopt: any
    Ipv6Prefix source_prefix;          // default ::/0
    Ipv6Prefix destination_prefix;     // default ::/0
    friend bool operator==(const TrafficMatch&, const TrafficMatch&) = default;
};

struct TrafficClass {
    std::string name;  // "any" is reserved: it names the implicit match-all class
    TrafficMatch match;
    friend bool operator==(const TrafficClass&, const TrafficClass&) = default;
};

enum class RuleMode : std::uint8_t {
    prefer,    // first live access class in `order`
    weighted,  // flows spread over live access classes by `weights`
    ncast,     // replicated to every live CoA (RFC 6089 BID reference to several BIDs)
};

struct AccessClassRef {
    std::string name;
    std::size_t index = 0;  // into Policies::access_classes
    friend bool operator==(const AccessClassRef&, const AccessClassRef&) = default;
};

struct Weight {
    AccessClassRef access_class;
    std::uint32_t weight = 1;  // > 0
    friend bool operator==(const Weight&, const Weight&) = default;
};

struct Rule {
    std::string traffic_class;                       // a class name or "any"
    std::optional<std::size_t> traffic_class_index;  // nullopt: "any"
    RuleMode mode = RuleMode::prefer;
    std::vector<AccessClassRef> order;  // prefer; empty: by preference, then cost
    std::vector<Weight> weights;        // weighted; empty: equal weights
    friend bool operator==(const Rule&, const Rule&) = default;
};

struct Profile {
    std::string name;
    std::vector<Rule> rules;  // first matching rule wins
    friend bool operator==(const Profile&, const Profile&) = default;
};

struct Policies {
    std::vector<AccessClass> access_classes;
    std::vector<TrafficClass> traffic_classes;
    std::vector<Profile> profiles;
    std::optional<std::string> default_profile;
    std::optional<std::size_t> default_profile_index;  // into profiles
    friend bool operator==(const Policies&, const Policies&) = default;
};

// The binding store (docs/config.md `state`): bindings survive a restart.
enum class StateBackend : std::uint8_t { none, lmdb, etcd };
enum class StateDurability : std::uint8_t { sync, async };
struct State {
    StateBackend backend = StateBackend::none;
    std::string path = "/var/lib/monami/bindings.mdb";
    StateDurability durability = StateDurability::sync;
    std::uint32_t flush_interval_ms = 100;  // async: the longest a commit waits for the disk
    std::uint32_t map_size_mb = 4096;       // the most the file may grow to
    // backend etcd: a redundant pair (docs/architecture.md, "Redundancy on etcd").
    struct Etcd {
        std::vector<std::string> endpoints;       // host:port each, required
        std::string prefix = "/monami/default/";  // one per pair (ends with '/')
        std::string member;                       // this gateway's name; default the host name
        std::uint32_t lease_ttl_s = 1;
        std::uint32_t request_timeout_ms = 1000;
        std::string ca_file, cert_file, key_file;  // TLS when ca_file is set
        friend bool operator==(const Etcd&, const Etcd&) = default;
    } etcd;
    friend bool operator==(const State&, const State&) = default;
};

// The Prometheus /metrics endpoint (docs/config.md "metrics"); off unless `listen` is set.
struct Metrics {
    std::string listen;  // as written: "[::1]:9469", "127.0.0.1:9469"
    std::string host;    // the address to bind, without brackets; empty: off
    std::uint16_t port = 0;
    friend bool operator==(const Metrics&, const Metrics&) = default;
};

struct Config {
    std::vector<std::string> eal_args;  // prepended to the command line's EAL arguments
    LogLevel log_level = LogLevel::info;
    std::vector<Port> ports;  // at least one
    std::vector<Route> routes;
    std::vector<Neighbor> neighbors;
    Dataplane dataplane;
    HomeAgent home_agent;
    Tunnel tunnel;
    std::vector<MobileNode> mobile_nodes;
    Heartbeat heartbeat;
    Security security;
    Policies policies;
    State state;
    Metrics metrics;
    friend bool operator==(const Config&, const Config&) = default;
};

std::string_view to_string(LogLevel level);
std::string_view to_string(SecurityMode mode);
std::string_view to_string(SaDirection direction);
std::string_view to_string(EspAlgorithm algorithm);
std::string_view to_string(RuleMode mode);
std::string_view to_string(StateBackend backend);
std::string_view to_string(StateDurability durability);

}  // namespace monami::config
