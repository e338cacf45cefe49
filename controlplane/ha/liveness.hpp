// Failure detection per binding (one delivery path of a HoA): RFC 5847 heartbeats to each
// care-of address, ICMPv6 Destination Unreachable about our tunnel packets, and the state a
// snapshot gives the policy engine (Live, Suspect, Dead). Egress port state and lifetime
// expiry are applied by the home agent (liveness.cpp); this class only keeps the per-path
// heartbeat bookkeeping, so it unit-tests with plain numbers for time.
//
// Heartbeats: every interval each tracked path gets a request with a fresh sequence number
// (one counter for all paths, so a response names exactly one request). A request still
// unanswered when the next one is due is a miss: one miss makes the path Suspect,
// `missed_limit` consecutive misses Dead. A response matching the latest request of its path
// (same CoA, same sequence) clears the misses; a Suspect path is Live again at once, a Dead
// one only after `recovery_answers` consecutive answers (hysteresis: a flapping link does
// not drag flows back and forth). An ICMPv6 error about a path makes it Suspect until its
// next answered heartbeat (without heartbeats: for interval x missed_limit).
#pragma once

#include <absl/container/inlined_vector.h>

#include <cstdint>
#include <deque>
#include <optional>
#include <set>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "controlplane/ha/address_hash.hpp"
#include "dataplane/api/address_map.hpp"
#include "dataplane/api/snapshot.hpp"
#include "dataplane/api/types.hpp"

namespace monami::ha {

struct LivenessSettings {
    bool heartbeats = true;
    std::uint32_t interval_ms = 1000;
    std::uint32_t missed_limit = 3;            // consecutive misses before Dead (RFC 5847 s.3.2)
    std::uint32_t recovery_answers = 3;        // consecutive answers before a Dead path is Live
    std::vector<Ipv6Prefix> care_of_prefixes;  // heartbeats only to CoAs inside; empty: all
};

// A binding of a HoA: BID (meaningful when mcoa), as the binding cache keys it.
struct PathId {
    HomeAddress hoa;
    std::uint16_t bid = 0;
    bool mcoa = false;
    friend auto operator<=>(const PathId&, const PathId&) = default;
};

enum class LivenessCause : std::uint8_t {
    Registered,  // new binding or new CoA
    HeartbeatMiss,
    HeartbeatAnswer,
    IcmpError,
    IcmpCleared,    // no heartbeats: the ICMP suspicion timed out
    HeartbeatsOff,  // a reload stopped heartbeats to the CoA: what they found is forgotten
};
std::string_view to_string(LivenessCause cause);
std::string_view to_string(BindingState state);

struct LivenessTransition {
    PathId path;
    CareOfAddress care_of;
    BindingState from = BindingState::Live;
    BindingState to = BindingState::Live;
    LivenessCause cause = LivenessCause::Registered;
    std::uint32_t misses = 0;
};

struct HeartbeatDue {
    PathId path;
    CareOfAddress care_of;
    std::uint32_t sequence = 0;
};

struct LivenessTick {
    std::vector<HeartbeatDue> heartbeats;  // requests to send now
    std::vector<LivenessTransition> transitions;
    std::uint64_t misses = 0;
};

enum class ResponseMatch : std::uint8_t {
    Matched,  // the latest request of a path to that CoA
    Stale,    // an earlier request, or one already answered
    Unknown,  // no request with that sequence to that CoA
};

struct PathLiveness {  // for telemetry
    BindingState state = BindingState::Live;
    LivenessCause cause = LivenessCause::Registered;
    std::uint32_t misses = 0;          // consecutive
    std::uint32_t answers = 0;         // consecutive
    std::uint64_t since_ms = 0;        // of the last state change
    std::uint64_t last_answer_ms = 0;  // 0: none yet
    std::uint32_t transitions = 0;
};

class LivenessTracker {
  public:
    explicit LivenessTracker(LivenessSettings settings);

    // Starts tracking `path` (Live) or keeps its state; a different CoA restarts it Live.
    // Returns the path's state. The first heartbeat goes one interval after registration.
    // `paths_of_hoa`: how many paths the HoA is about to have (reserved at its first).
    BindingState track(const PathId& path, const CareOfAddress& care_of, std::uint64_t now_ms,
                       std::size_t paths_of_hoa = 1);
    // Stops tracking every path of `hoa` not in `keep`.
    void forget(const HomeAddress& hoa, const std::vector<PathId>& keep);

    // Misses and the heartbeats due at now_ms, at most `max_paths` paths' worth (the rest
    // stay due: next_deadline_ms() says so, and they go out at the next call).
    LivenessTick tick(std::uint64_t now_ms, std::size_t max_paths = SIZE_MAX);
    std::optional<std::uint64_t> next_deadline_ms() const;

    // A Heartbeat response (R set) from `care_of`. On a state change, `transition` is set.
    // `home_address`: the HoA an ESP SA vouched for; then only a path of that HoA matches
    // (one mobile node's SA cannot answer for another's path through a shared CoA).
    ResponseMatch on_response(const CareOfAddress& care_of, std::uint32_t sequence,
                              std::uint64_t now_ms, std::optional<LivenessTransition>& transition,
                              const std::optional<HomeAddress>& home_address = std::nullopt);
    // The request `sequence` could not be sent (no way to the CoA yet): it is no miss.
    void unsent(const PathId& path, std::uint32_t sequence);
    // An ICMPv6 Destination Unreachable about a packet to `care_of`: its Live paths become
    // Suspect.
    std::vector<LivenessTransition> on_unreachable(const CareOfAddress& care_of,
                                                   std::uint64_t now_ms);

    BindingState state(const PathId& path) const;
    const PathLiveness* find(const PathId& path) const;
    std::size_t size() const { return path_count_; }
    // Room for `paths` paths without growing a table on the way (no rehash of a million).
    void reserve(std::size_t paths);
    // Tracked paths in `state`, kept as states change.
    std::size_t count(BindingState state) const {
        return state_counts_[static_cast<std::size_t>(state)];
    }
    const LivenessSettings& settings() const { return settings_; }
    // A configuration reload. Limits apply at the next miss or answer, a new interval from
    // each path's next heartbeat. A path whose CoA no longer gets heartbeats stops at its next
    // one (and is Live again: nothing watches it); a path that now gets them starts when
    // track() sees it again, so the home agent republishes every HoA (in slices) after a
    // change of `heartbeats` or `care_of_prefixes`.
    void reconfigure(LivenessSettings settings);

  private:
    struct Record {
        CareOfAddress care_of;
        PathLiveness view;
        BindingState heartbeat_state = BindingState::Live;
        bool icmp_suspect = false;
        std::uint64_t icmp_until_ms = 0;
        std::optional<std::uint32_t> outstanding;  // latest request, unanswered
        std::uint64_t stamp = 0;                   // identifies this record's schedule entries
        bool heartbeating = false;                 // an entry of the schedule is its
    };
    struct Path {  // one binding of a HoA: bid and mcoa, the HoA is the map's key
        std::uint16_t bid;
        bool mcoa;
        Record record;
    };
    struct Scheduled {
        std::uint64_t due_ms;
        PathId path;
        std::uint64_t stamp;
    };

    static BindingState effective(const Record& r);
    void set_state(const PathId& id, Record& r, LivenessCause cause, std::uint64_t now_ms,
                   std::vector<LivenessTransition>& out);
    void schedule(const PathId& id, Record& r, std::uint64_t due_ms);
    Record* record(const PathId& id);
    const Record* record(const PathId& id) const;
    // Every path to `care_of`, in PathId order (the order transitions are reported in).
    std::vector<std::pair<PathId, Record*>> paths_to(const CareOfAddress& care_of);
    void index_care_of(const HomeAddress& hoa, const CareOfAddress& care_of);
    // `list`: the HoA's paths after the one to `care_of` was removed or re-pointed.
    void unindex_care_of(const HomeAddress& hoa, const CareOfAddress& care_of,
                         const std::vector<Path>& list);
    void count_state(BindingState state, int delta);
    bool heartbeats_to(const CareOfAddress& care_of) const;
    static LivenessSettings clamped(LivenessSettings settings);

    LivenessSettings settings_;
    // By HoA, then a short list (at most one per binding): a BU's lookups are one hash each.
    AddressMap<std::vector<Path>> paths_;
    std::size_t path_count_ = 0;
    std::size_t state_counts_[3] = {};  // by BindingState
    // The HoAs with a path to each care-of address: ICMPv6 errors and heartbeat answers name
    // a CoA. Nearly always one HoA, held inline. A hash map reserved for every path up front
    // (reserve()): one probe per BU and no rehash as it grows; an ordered set of (CoA, HoA)
    // took a dozen dependent cache misses per insert at a million HoAs.
    AddressMap<absl::InlinedVector<HomeAddress, 1>> by_care_of_;
    // The newest request sent to each CoA with heartbeats (an answer to an older one is late).
    AddressMap<std::uint32_t> last_sequence_to_;
    // All paths share one interval, so appending keeps the queue sorted by due time.
    std::deque<Scheduled> schedule_;
    std::unordered_map<std::uint32_t, PathId> by_sequence_;  // latest request of each path
    std::set<PathId> icmp_suspects_;                         // to expire without heartbeats
    std::uint32_t next_sequence_ = 1;
    std::uint64_t next_stamp_ = 1;
};

}  // namespace monami::ha
