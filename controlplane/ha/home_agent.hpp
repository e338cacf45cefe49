// The control thread's packet handler: everything punted by the workers arrives here.
// Neighbor Discovery on our links, ICMPv6 errors for the fast path, Mobility Header
// signalling through the binding cache, proxy ND for registered home addresses, DHAAD and
// mobile prefix discovery, and the per-HoA snapshots the workers forward with.
// Plain C++ over the DataPlane interface, so it unit-tests without an EAL.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "config/schema.hpp"
#include "controlplane/bcache/binding_cache.hpp"
#include "controlplane/ha/address_hash.hpp"
#include "controlplane/ha/liveness.hpp"
#include "controlplane/ha/next_hop_users.hpp"
#include "controlplane/ha/security.hpp"
#include "controlplane/mh/exthdr.hpp"
#include "controlplane/mh/parser.hpp"
#include "controlplane/net/icmpv6.hpp"
#include "controlplane/policy/policy_engine.hpp"
#include "controlplane/store/binding_store.hpp"
#include "dataplane/api/address_map.hpp"
#include "dataplane/api/control.hpp"
#include "dataplane/api/histogram.hpp"
#include "dataplane/api/types.hpp"

namespace monami::ha {

struct InterfaceAddress {
    Ipv6Address address;
    std::uint8_t prefix_length = 64;
};

struct Interface {
    PortId port = 0;
    std::string name;
    MacAddress mac;
    std::vector<InterfaceAddress> addresses;  // a link-local one is derived from the MAC
    std::uint16_t mtu = 1500;
};

struct TunnelSettings {
    std::uint8_t hop_limit = 64;
    std::optional<std::uint8_t> encapsulation_limit = 4;  // RFC 2473 s.5.1
    std::uint16_t mtu = 1452;                             // largest inner packet
};

struct PeerHomeAgent {
    Ipv6Address address;
    std::int16_t preference = 0;
};

// How much of a large change the control thread does in one iteration: a change that touches
// every HoA (a port's link, the access router's MAC) or a burst of timers (a million bindings
// registered in the same seconds expire in the same seconds) is done in slices, so BUs,
// heartbeats and failure detection go on between them.
struct TickBudget {
    std::size_t republish = 64;    // snapshots rebuilt per iteration beyond the change at hand
    std::size_t heartbeats = 256;  // heartbeat paths handled per iteration
    std::size_t timers = 256;      // expiry and refresh timers handled per iteration
};

// What a summary of the binding cache reports (telemetry /monami/summary), kept as it changes.
struct BindingSummary {
    std::size_t home_addresses = 0;
    std::size_t bindings = 0;
    std::size_t flows = 0;
    std::size_t paths_live = 0;  // liveness of the tracked paths (heartbeats, ICMPv6)
    std::size_t paths_suspect = 0;
    std::size_t paths_dead = 0;
    std::size_t ports_down = 0;
    std::size_t proxied = 0;            // HoAs defended by proxy ND
    std::size_t republish_pending = 0;  // HoAs waiting for a slice (TickBudget)
    std::size_t timers_queued = 0;
};

struct HaSettings {
    std::vector<Interface> interfaces;
    std::vector<Route> static_routes;
    std::vector<Neighbor> static_neighbors;
    std::uint32_t resolution_retry_ms = 1000;  // RFC 4861 RetransTimer

    // Home agent role. Without home prefixes the gateway only routes.
    std::vector<Ipv6Address> ha_addresses;
    std::vector<Ipv6Prefix> home_prefixes;
    std::int16_t preference = 0;       // DHAAD (RFC 6275 s.10.5.1)
    std::uint16_t ha_lifetime = 1800;  // seconds
    // Duplicate Address Detection before a first registration (RFC 6275 s.10.3.1): the wait
    // for a defending NA is RFC 4861's RetransTimer, one probe (DupAddrDetectTransmits 1).
    bool duplicate_address_detection = true;
    std::uint32_t dad_wait_ms = 1000;
    std::size_t max_pending_dad = 262144;  // BUs waiting at once; more are answered 130
    std::vector<PeerHomeAgent> peer_home_agents;
    bcache::BindingCacheSettings bindings;
    TunnelSettings tunnel;
    mh::ParseLimits parse_limits;
    std::uint32_t max_paths = 65536;             // per-binding counter slots in the data plane
    std::uint32_t icmp_errors_per_second = 100;  // RFC 4443 s.2.4(f) rate limit

    // Operator policy for flows the MN did not bind (docs/policies.md), with per-MN profiles.
    config::Policies policies;
    std::map<std::vector<std::uint8_t>, std::size_t> profile_by_mn_id;
    std::map<HomeAddress, std::size_t> profile_by_home_address;

    // ESP for signalling and admission of punted frames (security.cpp, docs/security.md).
    SecuritySettings security;
    LivenessSettings liveness;  // heartbeats (RFC 5847), failure detection (liveness.cpp)
    TickBudget budget;
};

// What a configuration reload replaces (the gateway derives it from config::diff_config);
// HomeAgent::reconfigure takes the rest of a HaSettings built from the new file as it is.
struct Reconfiguration {
    bool routing = false;       // static routes and neighbors
    bool home_agent = false;    // DHAAD, DAD, parse limits, binding limits, lifetimes, flags
    bool mobile_nodes = false;  // authorization and per-MN profiles
    bool tunnel = false;        // hop limit, encapsulation limit, MTU
    bool heartbeat = false;
    bool security = false;  // mode and admission limits
    bool policies = false;
    // SAs: removed by (SPI, direction), then added. `keep_sequence`: the SA replaces one with
    // the same SPI, direction and keys (only the window, ESN or HoA changed), so its sequence
    // numbers and replay window go on where the old one was (the peer's SA goes on too).
    std::vector<std::pair<std::uint32_t, esp::Direction>> sas_removed;
    struct AddedSa {
        esp::SecurityAssociation sa;
        bool keep_sequence = false;
    };
    std::vector<AddedSa> sas_added;
};

enum class ReloadOutcome : std::uint8_t { applied, unchanged, refused, invalid };

// Control-plane counters; read by telemetry through a copy made on the control thread.
#define MONAMI_HA_COUNTERS(X)                                                           \
    X(frames)                                                                           \
    X(malformed)                                                                        \
    X(neighbor_solicitations_answered)                                                  \
    X(proxy_neighbor_advertisements)                                                    \
    X(unsolicited_neighbor_advertisements)                                              \
    X(neighbor_advertisements_received)                                                 \
    X(neighbor_solicitations_sent)                                                      \
    X(echo_replies)                                                                     \
    X(unresolved_drops)                                                                 \
    X(icmp_errors_sent)                                                                 \
    X(icmp_errors_rate_limited)                                                         \
    X(not_handled)                                                                      \
    X(tx_failures)                                                                      \
    X(mh_received)                                                                      \
    X(mh_malformed)                                                                     \
    X(binding_updates)                                                                  \
    X(binding_updates_discarded) /* silently: RFC 6275 s.9.5.1 */                       \
    X(dad_probes_sent)           /* before a first registration, RFC 6275 s.10.3.1 */   \
    X(dad_duplicates)            /* answered 134 */                                     \
    X(dad_pending_full)          /* answered 130: too many BUs waiting */               \
    X(binding_acks_sent)                                                                \
    X(binding_acks_withheld) /* sync store failing: held BAs dropped, the MN retries */ \
    X(replicated_changes)    /* a standby: the leader's committed changes applied */    \
    X(takeovers)             /* a standby became the serving leader */                  \
    X(binding_errors_sent)                                                              \
    X(binding_refresh_requests_sent)                                                    \
    X(bindings_expired)                                                                 \
    X(snapshots_published)                                                              \
    X(snapshots_unchanged) /* a refresh built the snapshot already published */         \
    X(haad_replies)                                                                     \
    X(mobile_prefix_advertisements)                                                     \
    X(esp_required_drops)     /* MH in clear with security.mode esp */                  \
    X(esp_rejected)           /* ESP that did not open: see the esp_* counters */       \
    X(esp_opened)             /* signalling opened from ESP */                          \
    X(esp_protected_sent)     /* BA, BRR, heartbeat sent inside ESP */                  \
    X(esp_protect_failures)   /* no outbound SA: the reply was not sent */              \
    X(control_rate_limited)   /* the source's token bucket was empty */                 \
    X(control_deferred)       /* unknown source queued behind known ones */             \
    X(control_deferred_drops) /* that queue was full */                                 \
    X(heartbeats_sent)                                                                  \
    X(heartbeat_responses)                                                              \
    X(heartbeat_responses_late)                                                         \
    X(heartbeat_responses_unmatched)                                                    \
    X(heartbeat_requests_answered)                                                      \
    X(heartbeat_misses)                                                                 \
    X(icmp_unreachable_received)                                                        \
    X(port_link_changes)                                                                \
    X(paths_suspect)                                                                    \
    X(paths_dead)                                                                       \
    X(paths_recovered)                                                                  \
    X(failover_publishes)                                                               \
    X(failover_last_ns)                                                                 \
    X(failover_max_ns)                                                                  \
    X(reloads_applied)   /* SIGHUP / monami-ctl reload: a change applied live */        \
    X(reloads_unchanged) /* the file said what was running */                           \
    X(reloads_refused)   /* it changed keys that need a restart: nothing applied */     \
    X(reloads_invalid)   /* it did not load: nothing applied */                         \
    X(reload_revoked)    /* HoAs whose bindings a reload's mobile_nodes withdrew */

struct HaCounters {
#define MONAMI_X(name) std::uint64_t name = 0;
    MONAMI_HA_COUNTERS(MONAMI_X)
#undef MONAMI_X
    std::vector<std::pair<const char*, std::uint64_t>> items() const;
};

// Whether the workers would forward with `a` exactly as with `b` (the generation aside):
// a refresh that changes only lifetimes is not published again.
bool same_forwarding(const HoaSnapshot& a, const HoaSnapshot& b);

// EUI-64 link-local address of a MAC (RFC 4291 appendix A).
Ipv6Address link_local_from_mac(const MacAddress& mac);
// The Mobile IPv6 Home-Agents anycast address of a /64 home prefix (RFC 2526, RFC 6275 s.10.5).
Ipv6Address home_agents_anycast(const Ipv6Prefix& prefix);

class HomeAgent {
  public:
    HomeAgent(HaSettings settings, DataPlane& dataplane);

    // Sizes every table that grows with the bindings for bindings.max_bindings now, so none
    // is rehashed or copied whole (O(all) in one step) while they register. The gateway calls
    // it at start; memory is touched only as entries arrive.
    void reserve_capacity();
    // Publishes the initial forwarding table.
    void start(std::uint64_t now_ms);
    void on_frame(PortId port, PuntReason reason, std::uint16_t aux,
                  std::span<const std::uint8_t> frame, std::uint64_t now_ms);
    void on_tick(std::uint64_t now_ms);
    // The egress port's link went down or came up: paths leaving by it are Dead while down.
    void on_port_link(PortId port, bool up, std::uint64_t now_ms);
    // Receives one line per liveness transition (the gateway logs them).
    void set_event_log(std::function<void(const std::string&)> log) { event_log_ = std::move(log); }
    std::optional<PathLiveness> path_liveness(const HomeAddress& hoa, std::uint16_t bid,
                                              bool mcoa) const;

    const HaCounters& counters() const { return counters_; }
    // Binding Acknowledgements by status (RFC 6275 s.6.1.8), a BA held for the store included.
    const std::array<std::uint64_t, 256>& binding_acks_by_status() const { return acks_by_status_; }
    // The control thread's time for one Binding Update, from taking it to its BA handed to
    // the port (or held for a sync store) ...
    const LatencyHistogram& bu_processing() const { return bu_processing_; }
    // ... and, for a BU that changed forwarding, from taking it to the new snapshot
    // published to the workers (the data plane forwards by it from then on).
    const LatencyHistogram& update_latency() const { return update_latency_; }
    // counters() followed by the ESP endpoint's esp_* counters (telemetry, final stats).
    std::vector<std::pair<std::string, std::uint64_t>> counter_items() const;
    // Why the configured SAs could not be installed; the agent then refuses all signalling.
    const std::string& security_error() const { return security_error_; }
    // Heartbeats and other signalling use the BU/BA path's ESP (security.cpp): `ip` starts
    // at the IPv6 header. open_signalling: the packet without ESP, or nullopt (counted) if
    // it does not open or is in clear while ESP is required. protect_signalling: inside ESP
    // when ESP is required or the request came protected, else unchanged; nullopt (counted)
    // when no outbound SA can protect it.
    std::optional<std::vector<std::uint8_t>> open_signalling(std::span<const std::uint8_t> ip,
                                                             bool& was_protected);
    std::optional<std::vector<std::uint8_t>> protect_signalling(std::span<const std::uint8_t> ip,
                                                                bool reply_to_protected);
    const HaSettings& settings() const { return settings_; }
    const bcache::BindingCache& binding_cache() const { return cache_; }
    // Resolved neighbors (static and learned).
    std::vector<Neighbor> neighbors() const;
    // At most `max` of them above `after` (all: nullptr), in address order (telemetry pages).
    std::vector<Neighbor> neighbors_after(const Ipv6Address* after, std::size_t max) const;
    // One row per binding of `hoa`: HoA, MN-ID, BID, CoA, state, lifetime, counters
    // (telemetry, monami-ctl). Empty when it has none.
    using BindingRow = std::map<std::string, std::string>;
    std::vector<BindingRow> binding_rows(const HomeAddress& hoa, std::uint64_t now_ms) const;
    BindingSummary summary() const;
    bool is_proxied(const HomeAddress& hoa) const { return proxied_.count(hoa) != 0; }

    // The binding store (persistence.cpp). restore() enters what the store read back, before
    // the workers forward: expired bindings and flows are dropped, the rest published with
    // their timers from their absolute deadlines; the unsolicited NAs for the home link go
    // out a slice per iteration. attach_store() then hands every committed change to
    // `store` (not owned), one batch per iteration; with `sync` a BA that changed something
    // leaves only once its batch is durable.
    struct RestoreReport {
        std::size_t home_addresses = 0;  // restored
        std::size_t bindings = 0;
        std::size_t flows = 0;
        std::size_t expired = 0;  // home addresses with nothing left, dropped
        std::uint64_t took_us = 0;
    };
    RestoreReport restore(const store::StoredState& state, std::uint64_t now_ms,
                          std::uint64_t now_unix_ms);
    void attach_store(store::BindingStore* store, bool sync);
    const store::BindingStore* binding_store() const { return store_; }
    const RestoreReport& last_restore() const { return restore_report_; }
    // The record of `entry` with its deadlines as Unix times (`unix_minus_steady`: the wall
    // clock minus the agent's clock, in ms).
    static store::HoaRecord to_record(const bcache::HoaEntry& entry,
                                      std::int64_t unix_minus_steady);

    // Redundancy (a replicated store: persistence.cpp). A standby is silent (the data plane
    // too: DataPlane::set_serving) and follows the leader: apply_changes() enters what the
    // leader committed, so its snapshots are published and warm. take_over() makes it serve:
    // unsolicited NAs with Override for its own addresses at once and for every proxied home
    // address a slice per iteration, fresh ESP sequence reservations; become_standby() stops
    // every frame and drops the BAs still held.
    void apply_changes(std::vector<store::Change>& changes, std::uint64_t now_ms,
                       std::uint64_t now_unix_ms);
    void take_over(std::uint64_t now_ms);
    void become_standby();
    bool serving() const { return serving_; }

    // A configuration reload (reconfigure.cpp), on the control thread between two
    // iterations: `what` says which parts of `next` replace the running ones. Each part costs
    // O(its configuration); what must reach every HoA's snapshot (policies, profiles, tunnel
    // headers, next hops after a route change, heartbeats turned on) is rebuilt by the sliced
    // sweep over the cache (republish_all), and with new mobile_nodes the same sweep removes
    // the HoAs they no longer authorize. Returns an error (an SA that could not be added;
    // the rest is applied) or "".
    std::string reconfigure(HaSettings next, Reconfiguration what, std::uint64_t now_ms);
    void count_reload(ReloadOutcome outcome);

  private:
    // A BA waiting for its store batch to be durable.
    struct HeldAck {
        std::uint64_t batch = 0;
        enum class Way : std::uint8_t { Framed, Ip, Routed } way = Way::Framed;
        PortId port = 0;
        MacAddress next_hop;
        std::vector<std::uint8_t> bytes;
    };
    // A republication over every HoA (next_hop unset), from just above `after`, or over the
    // users of one next hop added before `started` (NextHopUsers::start_sweep).
    struct Sweep {
        std::optional<Ipv6Address> next_hop;
        std::optional<HomeAddress> after;
        bool revalidate = false;  // every HoA: removed when its authorization was withdrawn
        std::uint64_t started = 0;
    };
    struct LearnedNeighbor {
        PortId port;
        MacAddress mac;
    };
    struct PendingResolution {
        PortId port;
        std::uint64_t last_sent_ms;
    };
    struct Egress {  // where a frame towards some address leaves
        PortId port = 0;
        MacAddress next_hop_mac;
    };
    using PathKey = PathId;  // a binding of a HoA, as the liveness tracker names it
    struct PathKeyHash {
        std::size_t operator()(const PathKey& k) const {
            return static_cast<std::size_t>(
                mix_address(k.hoa, (std::uint64_t{k.bid} << 1 | k.mcoa) * 0x9e3779b97f4a7c15ull));
        }
    };
    struct PathSlot {
        std::uint32_t slot;
        PathCounters baseline;  // counts of the slot's previous owner
    };
    struct OwnedSlot {
        std::uint16_t bid;
        bool mcoa;
        PathSlot slot;
    };
    // What the agent keeps per registered HoA, in one hash lookup.
    struct HoaState {
        std::uint32_t generation = 0;
        std::vector<OwnedSlot> slots;  // at most kMaxBindingsPerHoa
        // A copy of the last snapshot published (policy keeps flows on their paths across
        // updates). Held by value: copy-assignment reuses its vectors' storage.
        bool has_published = false;
        HoaSnapshot published;
        NextHopUsers::Uses next_hops;  // the next hops whose users this HoA is
    };

    const Interface* interface_of(PortId port) const;
    const Interface* home_interface_for(const Ipv6Address& hoa) const;
    bool owns(PortId port, const Ipv6Address& a) const;
    bool is_ha_address(const Ipv6Address& a) const;
    std::optional<Ipv6Address> source_for(PortId port, const Ipv6Address& dst) const;
    void build_routes();
    const Route* route_to(const Ipv6Address& dst) const;  // longest prefix match
    std::optional<MacAddress> neighbor_mac(const Ipv6Address& a) const;
    // `next_hop`, when given, receives the neighbor the route goes through (resolved or not).
    std::optional<Egress> egress_toward(const Ipv6Address& dst, std::uint64_t now_ms,
                                        Ipv6Address* next_hop = nullptr);
    void publish_routing();
    void learn(PortId port, const Ipv6Address& a, const MacAddress& mac);
    void send(PortId port, const std::vector<std::uint8_t>& frame);
    void send_ip(PortId port, const MacAddress& eth_dst, std::span<const std::uint8_t> ip);
    // `frame`: room for the Ethernet header (written here), then the IPv6 packet.
    void send_framed(PortId port, const MacAddress& eth_dst, std::vector<std::uint8_t>& frame);

    void handle_local(PortId port, std::span<const std::uint8_t> frame, std::uint64_t now_ms);
    void handle_icmpv6(PortId port, const net::Ipv6Packet& packet, std::uint64_t now_ms);
    void handle_neighbor_solicitation(PortId port, const net::Ipv6Packet& packet,
                                      const net::Icmpv6Message& icmp);
    void handle_haad_request(PortId port, const net::Ipv6Packet& packet,
                             const net::Icmpv6Message& icmp);
    void handle_mobile_prefix_solicitation(PortId port, const net::Ipv6Packet& packet,
                                           const net::Icmpv6Message& icmp, std::uint64_t now_ms);
    // A solicitation from a mobile node away from home (possibly opened from ESP): sent from
    // a CoA with a Home Address option, or reverse-tunnelled from the home address. `ip` is
    // the packet `chain` walked.
    void handle_mobile_prefix_solicitation_from_away(PortId port, const net::Ipv6Packet& packet,
                                                     const mh::Ipv6HeaderChain& chain,
                                                     std::span<const std::uint8_t> ip,
                                                     bool was_protected, std::uint64_t now_ms);
    // Whether `hoa` has a binding to a care-of address (the mobile node is away); to `coa`.
    bool away_from_home(const HomeAddress& hoa) const;
    bool bound_at(const HomeAddress& hoa, const CareOfAddress& coa) const;
    // Identifier echoed from the solicitation's body, a Prefix Information option per home
    // prefix (RFC 6275 s.6.8).
    std::vector<std::uint8_t> mobile_prefix_advertisement_body(
        std::span<const std::uint8_t> solicitation) const;
    void request_resolution(std::span<const std::uint8_t> frame, std::uint64_t now_ms);
    void send_resolution(const Ipv6Address& target, PortId port, std::uint64_t now_ms);
    // One token of the error-message bucket (ICMPv6 errors and Binding Errors, RFC 4443
    // s.2.4(f)): false, and counted, when it is empty.
    bool take_error_token(std::uint64_t now_ms);
    void send_icmp_error(PortId port, std::span<const std::uint8_t> frame, std::uint8_t type,
                         std::uint8_t code, std::uint32_t parameter, std::uint64_t now_ms);

    // Security (security.cpp).
    void init_security(SecuritySettings settings);
    bool admit_frame(PortId port, PuntReason reason, std::uint16_t aux,
                     std::span<const std::uint8_t> frame, std::uint64_t now_ms);
    void handle_deferred(std::uint64_t now_ms);
    void dispatch(PortId port, PuntReason reason, std::uint16_t aux,
                  std::span<const std::uint8_t> frame, std::uint64_t now_ms);
    void update_known_sources(const HomeAddress& hoa, const bcache::HoaEntry* entry);
    // Whether signalling leaving now goes inside ESP (protect_signalling seals it).
    bool signalling_needs_esp(bool reply_to_protected) const;

    // Mobility (mobility.cpp).
    // `packet` was parsed from `frame` (an ICMPv6 error about it quotes the frame's packet).
    void handle_mobility(PortId port, std::span<const std::uint8_t> frame,
                         const net::Ipv6Packet& packet, std::uint64_t now_ms);
    // RFC 6275 s.9.3.3: never to a source that is not unicast, rate-limited with the ICMPv6
    // errors.
    void send_binding_error(PortId port, const net::Ipv6Packet& packet, std::uint8_t status,
                            const Ipv6Address& home_address, std::uint64_t now_ms);
    // A parsed BU (in `ip`, opened from ESP when `was_protected`), from `reply_mac` on
    // `port`: held for Duplicate Address Detection first when it would create a binding
    // (duplicate_address.cpp), then processed and answered.
    void handle_binding_update(PortId port, const MacAddress& reply_mac,
                               const mh::Ipv6HeaderChain& chain, std::span<const std::uint8_t> ip,
                               const mh::BindingUpdate& bu, bool was_protected, bool dad_done,
                               std::uint64_t now_ms);
    // `ack` from `ha_address` to `destination` (type 2 routing header naming `routed_to`
    // when given), inside ESP when needed, back to `reply_mac` on `port`.
    void send_binding_ack(PortId port, const MacAddress& reply_mac, bool was_protected,
                          const mh::BindingAck& ack, const Ipv6Address& ha_address,
                          const Ipv6Address& destination,
                          const std::optional<HomeAddress>& routed_to);
    void republish(const std::vector<HomeAddress>& changed, std::uint64_t now_ms);
    // Republishes the first TickBudget::republish of `changed` now and queues the rest.
    void republish_sliced(const std::vector<HomeAddress>& changed, std::uint64_t now_ms);
    // Every HoA, a slice per iteration (from the lowest address: the cache's order);
    // `revalidate`: each is checked against the authorized mobile nodes first (a reload).
    void republish_all(std::uint64_t now_ms, bool revalidate = false);
    // Removes the HoAs of `slice` the binding cache no longer authorizes (they stay in the
    // slice: republish() withdraws them).
    void revoke_unauthorized(const std::vector<HomeAddress>& slice);
    // The HoAs whose tunnels go through `next_hop`, a slice per iteration.
    void republish_users_of(const Ipv6Address& next_hop, std::uint64_t now_ms);
    // One iteration's slice of the queue and of the sweeps; false when nothing is pending.
    bool republish_pending(std::uint64_t now_ms);
    // Adds up to `room` HoAs of `sweep` to `slice`; false when the sweep is done.
    bool continue_sweep(Sweep& sweep, std::vector<HomeAddress>& slice, std::size_t room);
    // The snapshot to publish (snapshot_, valid until the next call), or nullptr when it
    // equals the one published last (same_forwarding).
    const HoaSnapshot* build_snapshot(const bcache::HoaEntry& entry, std::uint64_t now_ms);
    std::uint32_t slot_for(HoaState& state, const PathKey& key);
    void release_slots(const HomeAddress& hoa, HoaState* state, const std::vector<PathKey>& keep);
    const HoaState* state_of(const HomeAddress& hoa) const;
    void update_proxy(const HomeAddress& hoa, const bcache::HoaEntry* entry);
    // Hands the state of `changed` to the store (a record, or its removal).
    void persist(const std::vector<HomeAddress>& changed);
    // Closes the iteration's batch, sends the BAs whose batch is durable and a slice of the
    // deferred announcements.
    void store_tick(std::uint64_t now_ms);
    // ESP sequence numbers in the store: reserves the next block for `sa` (outbound) once
    // the last one sent nears the reserved end; after each protect().
    void reserve_sequences(esp::SaState& sa);
    void note_outbound_sequence();
    // Sends a BA, or keeps it for its batch when hold_acks_for_batch_ is set.
    void send_or_hold_ack(HeldAck::Way way, PortId port, const MacAddress& next_hop,
                          std::span<const std::uint8_t> bytes);
    // The link-local address a mobile node that set the L flag uses on its home link: fe80::
    // with the home address's interface identifier (RFC 6275 s.10.4.1).
    static Ipv6Address mobile_link_local(const HomeAddress& hoa);
    // The home address whose link-local address `target` is and that is proxied on `itf`.
    const Interface* proxy_interface_for(const Ipv6Address& target) const;

    // Duplicate Address Detection before a first registration (duplicate_address.cpp):
    // RFC 6275 s.10.3.1, RFC 4862 s.5.4.
    bool needs_dad(const HomeAddress& hoa, const mh::BindingUpdate& bu) const;
    void hold_for_dad(const HomeAddress& hoa, PortId port, const MacAddress& reply_mac,
                      std::span<const std::uint8_t> ip, const mh::BindingUpdate& bu,
                      bool was_protected, std::uint64_t now_ms);
    // A Neighbor Advertisement for `target`, or a DAD probe from another node, heard on
    // `port`: a duplicate when that is the home link of the address a BU waits on.
    void dad_conflict(PortId port, const Ipv6Address& target);
    // BUs whose wait is over, at most `budget` of them: processed, or answered 134.
    void dad_tick(std::uint64_t now_ms, std::size_t budget);
    void send_dad_probe(const Interface& home, const Ipv6Address& target);

    // Failure detection (liveness.cpp).
    BindingState path_state(const bcache::HoaEntry& entry, const bcache::Binding& b, PortId port,
                            std::uint64_t now_ms);
    void forget_liveness(const HomeAddress& hoa, const std::vector<PathKey>& keep);
    void liveness_tick(std::uint64_t now_ms);
    // `chain`: the (opened) packet's headers; `was_protected`: it came inside ESP.
    void handle_heartbeat(PortId port, const net::Ipv6Packet& packet,
                          const mh::Ipv6HeaderChain& chain, bool was_protected,
                          const mh::Heartbeat& hb, std::uint64_t now_ms);
    void handle_unreachable(const net::Ipv6Packet& packet, const net::Icmpv6Message& icmp,
                            std::uint64_t now_ms);
    void apply_transitions(const std::vector<LivenessTransition>& transitions,
                           std::uint64_t detected_ns, std::uint64_t now_ms);
    void log_event(const std::string& line);
    void send_unsolicited_na(const Interface& itf, const Ipv6Address& target);

    HaSettings settings_;
    DataPlane& dataplane_;
    bcache::BindingCache cache_;
    policy::PolicyEngine policy_;
    StableAddressMap<HoaState> hoas_;
    std::vector<Route> routes_;               // connected prefixes, then static routes
    std::vector<std::size_t> longest_first_;  // indices into routes_ by prefix length
    // Each interface's global prefixes (interface index), in configuration order.
    std::vector<std::pair<Ipv6Prefix, std::size_t>> on_link_;
    std::map<Ipv6Address, LearnedNeighbor> learned_;
    std::map<Ipv6Address, PendingResolution> pending_;
    // Where the last BU of a binding came from: the way back when the route has no
    // resolved next hop, and the MN's own MAC for native delivery at home.
    absl::flat_hash_map<PathKey, Egress, PathKeyHash, std::equal_to<PathKey>,
                        LargePageAllocator<std::pair<const PathKey, Egress>>>
        signalling_ingress_;
    std::vector<std::uint32_t> free_slots_;
    std::uint32_t next_slot_ = 0;
    AddressSet proxied_;
    // The binding store, when there is one (persistence.cpp).
    store::BindingStore* store_ = nullptr;
    bool store_sync_ = false;
    std::uint64_t hold_acks_for_batch_ = 0;  // set while a changing BU's BA is built
    std::deque<HeldAck> held_acks_;          // in batch order
    std::uint64_t store_checked_ms_ = 0;
    bool store_failing_ = false;
    bool serving_ = true;  // false: the silent standby of a pair
    // Takeover: the proxied home addresses still to announce, in address order.
    bool takeover_sweep_ = false;
    std::optional<HomeAddress> takeover_after_;
    // The entry of a stored record, its deadlines on this clock; false in `complete` when a
    // binding or flow had expired and was left out.
    bcache::HoaEntry entry_from_record(const store::HoaRecord& record, std::uint64_t now_ms,
                                       std::uint64_t now_unix_ms, bool& complete) const;
    void apply_esp_mark(const store::EspMarks& marks);
    void continue_takeover();  // its commits fail (logged once each way)
    struct Reservation {
        std::uint64_t batch = 0;
        std::uint64_t last = 0;
    };
    std::map<std::uint32_t, Reservation> reservations_;     // outbound SPI -> in flight
    std::map<std::uint32_t, std::uint64_t> inbound_marks_;  // inbound SPI -> last persisted
    bool defer_announcements_ = false;
    std::deque<std::pair<PortId, Ipv6Address>> announcements_;  // unsolicited NAs to send
    RestoreReport restore_report_;
    AddressMap<HomeAddress> proxied_link_local_;  // L flag: link-local address -> its HoA
    struct PendingDad {
        std::uint64_t deadline_ms = 0;
        PortId port = 0;
        MacAddress reply_mac;
        std::vector<std::uint8_t> ip;  // the latest BU for the HoA, opened from ESP
        bool was_protected = false;
        bool duplicate = false;
    };
    AddressMap<PendingDad> pending_dad_;
    AddressMap<HomeAddress> dad_link_local_;  // tentative link-local address -> its HoA
    std::deque<std::pair<std::uint64_t, HomeAddress>> dad_queue_;  // FIFO: one wait for all
    // Care-of addresses that are (or were) home addresses -> the HoAs registered behind them.
    AddressMap<std::set<HomeAddress>> users_of_care_of_;
    // The HoAs whose tunnel headers carry (or wait for) a neighbor's MAC: a neighbor change
    // republishes only them, in slices (each HoA's memberships in HoaState::next_hops).
    NextHopUsers next_hop_users_;
    std::vector<Ipv6Address> known_sources_;  // update_known_sources' scratch, reused
    // Scratch reused across BUs (cleared, storage kept): the frame being sent (a BA, an
    // unsolicited NA), and what build_snapshot collects and builds.
    std::vector<std::uint8_t> frame_;
    HoaSnapshot snapshot_;
    mh::ParsedMh parsed_mh_;        // the MH being handled
    bcache::BuOutcome bu_outcome_;  // what the binding cache made of it
    std::vector<PathKey> snapshot_keep_;
    std::vector<policy::PathInfo> snapshot_infos_;
    std::vector<policy::MnFlowBinding> snapshot_flows_;
    std::uint64_t now_ms_ = 0;  // of the frame or tick being handled
    double icmp_tokens_ = 0;
    std::uint64_t icmp_tokens_ms_ = 0;
    HaCounters counters_;
    std::array<std::uint64_t, 256> acks_by_status_{};
    LatencyHistogram bu_processing_;
    LatencyHistogram update_latency_;
    std::unique_ptr<ControlSecurity> security_;
    std::string security_error_;
    LivenessTracker liveness_;
    std::set<PortId> ports_down_;
    // Republications waiting for a slice: queued HoAs, then sweeps in order (Sweep).
    std::deque<HomeAddress> republish_queue_;
    AddressSet republish_queued_;
    std::deque<Sweep> sweeps_;
    std::function<void(const std::string&)> event_log_;
};

}  // namespace monami::ha
