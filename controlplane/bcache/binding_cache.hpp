// Home Agent binding cache for multihomed mobile nodes and mobile routers: Binding Update
// processing (RFC 6275 s.9.5.1, 10.3.1, 10.3.2), multiple care-of addresses and bulk
// registration (RFC 5648 s.6), NEMO prefixes (RFC 3963 s.6) and flow bindings (RFC 6089).
// Plain C++, owned by the control thread; the data plane only sees snapshots the lead
// builds from HoaEntry after each change.
#pragma once

#include <absl/container/btree_set.h>

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "controlplane/mh/messages.hpp"
#include "dataplane/api/address_map.hpp"
#include "dataplane/api/types.hpp"

namespace monami::bcache {

struct AuthorizedMobileNode {
    std::vector<std::uint8_t> mn_id;  // RFC 4283 identifier bytes (NAI); empty = not checked
    std::vector<HomeAddress> home_addresses;
    std::vector<Ipv6Prefix> mobile_network_prefixes;  // prefixes the MN may claim as an MR
};

struct BindingCacheSettings {
    std::uint32_t max_lifetime_s = 3600;
    std::size_t max_bindings = 1u << 20;   // over all HoAs
    std::size_t max_bindings_per_mn = 16;  // over all HoAs of one MN (grouped by MN-ID)
    std::size_t max_flows_per_hoa = 64;
    bool allow_mcoa = true;
    bool allow_bulk_registration = true;
    bool allow_simultaneous_home_foreign = true;
    bool allow_mobile_routers = true;
    std::vector<Ipv6Prefix> home_prefixes;
    std::vector<Ipv6Address> ha_addresses;  // our own addresses: never valid CoAs
    // Empty: any MN whose HoA lies in a home prefix, and any valid MNP.
    std::vector<AuthorizedMobileNode> authorized_mns;
    std::uint32_t refresh_advice_s = 0;  // 0: no Binding Refresh Advice option in BAs
    std::uint32_t refresh_request_before_expiry_s = 0;  // 0: no BRR candidates
};

struct Binding {
    std::uint16_t bid = 0;       // meaningful only when mcoa
    bool mcoa = false;           // registered with a Binding Identifier option (RFC 5648)
    CareOfAddress care_of;       // the HoA itself when at_home
    bool at_home = false;        // RFC 5648 s.5.6: this interface is on the home link (H flag)
    Ipv6Address ha_address;      // the HA address the BU was sent to: outer source towards the CoA
    std::uint16_t sequence = 0;  // of the last BU accepted for this binding
    std::uint64_t expiry_ms = 0;
    bool refresh_requested = false;  // a BRR candidate was already handed out
    // Deadlines of this binding's queued timer entries (0: none). A refresh only moves
    // expiry_ms: the queued entry, when it comes due, queues itself again at the new time.
    std::uint64_t expiry_timer_ms = 0;
    std::uint64_t refresh_timer_ms = 0;
};

struct FlowBinding {  // RFC 6089
    std::uint16_t fid = 0;
    std::uint16_t priority = 0;
    std::vector<std::uint16_t> bids;  // n-cast when more than one
    mh::TrafficSelector selector;
    std::uint64_t expiry_ms = 0;
    std::uint64_t expiry_timer_ms = 0;  // deadline of the queued expiry entry (0: none)
};

struct HoaEntry {
    HomeAddress home_address;
    std::vector<std::uint8_t> mn_id;           // from the MN-ID option or the authorized list
    bool mobile_router = false;                // R flag accepted
    bool link_local_compat = false;            // L flag: proxy ND also defends fe80::<HoA IID>
    std::uint16_t last_sequence = 0;           // of the last BU accepted for this HoA
    std::uint64_t generation = 0;              // bumped on every accepted change
    std::vector<Binding> bindings;             // sorted by BID; one non-MCoA binding or MCoA ones
    std::vector<Ipv6Prefix> network_prefixes;  // RFC 3963 mobile network prefixes
    std::vector<FlowBinding> flows;            // sorted by FID

    const Binding* find_binding(std::uint16_t bid) const;
    const FlowBinding* find_flow(std::uint16_t fid) const;
};

struct BuRequest {
    Ipv6Address packet_source;       // IPv6 source: the CoA, or the HoA when sent from home
    Ipv6Address packet_destination;  // the HA address the BU was sent to
    std::optional<Ipv6Address> home_address_option;  // absent when sent from home
    const mh::BindingUpdate& bu;
    std::uint64_t now_ms = 0;
};

struct BuOutcome {
    bool send_ack = false;
    bool discarded = false;  // silently, no BA (RFC 6275 s.9.5.1)
    mh::BindingAck ack;
    Ipv6Address ack_destination;
    bool ack_needs_routing_header = false;  // type 2 RH carrying ack_home_address
    HomeAddress ack_home_address;
    std::vector<HomeAddress> changed;  // HoAs whose state changed: republish them
};

struct BrrDue {  // a binding close to expiry: the lead may send a Binding Refresh Request
    HomeAddress home_address;
    std::uint16_t bid = 0;
    bool mcoa = false;
    CareOfAddress care_of;
    Ipv6Address ha_address;
};

class BindingCache {
  public:
    explicit BindingCache(BindingCacheSettings settings);
    // Room for `bindings` without growing a table or a timer heap on the way (each growth
    // copies or rehashes every entry in one step).
    void reserve(std::size_t bindings);

    BuOutcome process_binding_update(const BuRequest& request);
    // The same, into `out` (every field is set; its vectors' storage is reused).
    void process_binding_update(const BuRequest& request, BuOutcome& out);

    // Drops bindings and flow bindings whose lifetime ended at or before now_ms, at most
    // `max_timers` timer entries per call (the rest stay due: next_deadline_ms() says so).
    std::vector<HomeAddress> expire(std::uint64_t now_ms, std::size_t max_timers = SIZE_MAX);
    // Earliest time expire() or refresh_requests_due() has work, if any.
    std::optional<std::uint64_t> next_deadline_ms() const;
    // Bindings within refresh_request_before_expiry_s of expiry, each handed out once per
    // registration.
    std::vector<BrrDue> refresh_requests_due(std::uint64_t now_ms,
                                             std::size_t max_timers = SIZE_MAX);
    // Entries in the timer queues, live or waiting to be discarded (bounded by the bindings
    // and flows plus those removed within the longest lifetime).
    std::size_t queued_timers() const { return expiry_heap_.size() + refresh_heap_.size(); }

    // A home address read back from the binding store at start, entered as it was with its
    // timers armed from its deadlines (already on this clock). False, and nothing entered,
    // when it has no binding or its address is already there.
    bool restore(HoaEntry entry, std::uint64_t now_ms);
    // A home address as the leader of a redundant pair committed it (a standby following
    // it): entered or replaced whole, timers armed from its deadlines; an entry without
    // bindings removes the home address.
    void replicate(HoaEntry entry, std::uint64_t now_ms);

    // A configuration reload: new limits, lifetimes, flags and authorized mobile nodes, for
    // the next Binding Update (what is registered keeps what it was granted; authorized()
    // says whether it still would be). The home prefixes and HA addresses stay: they cannot
    // change while running.
    void reconfigure(BindingCacheSettings settings);
    const BindingCacheSettings& settings() const { return settings_; }
    // Whether the authorized mobile nodes still admit `entry` as registered: its home address
    // listed (an empty list admits all), under the MN-ID it registered with, and its mobile
    // network prefixes covered by that MN's.
    bool authorized(const HoaEntry& entry) const;
    // Removes a home address with its bindings and flows (its authorization was withdrawn);
    // false when it had none. Its queued timers are discarded when they come due.
    bool remove(const HomeAddress& home_address);

    const HoaEntry* find(const HomeAddress& home_address) const;
    // The entry of the lowest registered HoA above `after` (the lowest of all without it),
    // or nullptr: walks the cache in address order a page at a time (telemetry), each HoA
    // registered throughout the walk seen exactly once, whatever changes meanwhile.
    const HoaEntry* next_after(const HomeAddress* after) const;
    std::size_t binding_count() const { return binding_count_; }
    std::size_t hoa_count() const { return entries_.size(); }
    std::size_t flow_count() const { return flow_count_; }
    // Longest-prefix match over registered mobile network prefixes.
    const HomeAddress* owner_of_prefix(const Ipv6Address& address) const;
    // Deterministic text of the whole state (entries sorted by HoA), for tests and the CLI.
    std::string dump() const;

  private:
    enum class TimerKind : std::uint8_t { BindingExpiry, FlowExpiry, RefreshRequest };
    // One queued deadline of a binding (by BID and MCoA flag) or flow (by FID). An entry
    // is live while its item still names its deadline (Binding::expiry_timer_ms, ...);
    // any other is discarded when it comes due.
    struct Timer {
        std::uint64_t deadline_ms;
        HomeAddress home_address;
        TimerKind kind;
        bool mcoa;
        std::uint16_t id;  // BID or FID
    };
    struct TimerLater {
        bool operator()(const Timer& a, const Timer& b) const {
            return a.deadline_ms > b.deadline_ms;
        }
    };
    // The binding or flow a live timer stands for, else nullptr.
    Binding* timer_binding(const Timer& timer);
    FlowBinding* timer_flow(const Timer& timer);
    bool timer_is_live(const Timer& timer) const;
    void push_timer(std::vector<Timer>& heap, const Timer& timer);
    // Discards dead entries at the top of the queues and moves postponed ones to their
    // item's deadline.
    void settle_timer_tops();
    // Replaces the entry of entry.home_address and starts timers for what is new in it.
    // `entry` is left with the replaced entry's contents (or moved from, for a new HoA).
    void commit(HoaEntry& entry, std::uint64_t now_ms);
    void erase_entry(const HomeAddress& home_address);
    void index_prefixes(const HoaEntry& entry, bool add);
    // Bindings of the MN owning `entry` on its other HoAs (grouped by MN-ID; an HoA
    // without MN-ID is a group of its own).
    std::size_t bindings_on_other_hoas(const HoaEntry& entry) const;
    void join_mn_group(const HoaEntry& entry);
    void leave_mn_group(const HoaEntry& entry);
    bool would_loop(const HomeAddress& home_address, const CareOfAddress& care_of) const;
    const HomeAddress* exact_prefix_owner(const Ipv6Prefix& prefix) const;
    bool prefix_overlaps_other_owner(const Ipv6Prefix& prefix, const HomeAddress& owner) const;

    BindingCacheSettings settings_;
    StableAddressMap<HoaEntry> entries_;  // find() hands out pointers
    std::map<Ipv6Prefix, HomeAddress> prefix_owner_;
    std::map<std::uint8_t, std::size_t> prefix_lengths_in_use_;  // length -> count
    std::map<std::vector<std::uint8_t>, std::vector<HomeAddress>> mn_members_;
    absl::btree_set<HomeAddress> order_;  // entries_' keys in address order (next_after)
    std::size_t binding_count_ = 0;
    std::size_t flow_count_ = 0;
    std::vector<Timer> expiry_heap_;  // min-heap (TimerLater), lazily invalidated
    std::vector<Timer> refresh_heap_;
    std::vector<std::uint8_t> per_bid_;  // process_binding_update's per-BID status, reused
    HoaEntry next_;                      // process_binding_update's copy being modified
};

// RFC 6275 s.9.5.1: a is newer than b when (a - b) mod 2^16 lies in [1, 32767].
inline bool sequence_newer(std::uint16_t a, std::uint16_t b) {
    const auto diff = static_cast<std::uint16_t>(a - b);
    return diff != 0 && diff < 0x8000;
}

}  // namespace monami::bcache
