// The home addresses whose tunnel headers carry (or wait for) a neighbor's MAC, by next hop:
// when a neighbor changes, only its users are republished, a slice per control iteration.
//
// One list per next hop, newest user at the head. Each HoA keeps where it is in those lists
// (`Uses`, in the home agent's record of the HoA, which a republication touches anyway), so
// adding a user it already is, or removing all of a HoA's memberships, costs no lookup in a
// table of every user: at a million HoAs that lookup was a cache miss or three in an ordered
// set of (next hop, HoA) pairs (docs/performance.md, "Round 6: the next-hop users").
//
// A sweep over one next hop's users takes them oldest first, each taken user removed (the
// home agent adds it again if it still goes that way), and stops at the first user added
// after the sweep started: a user added again is not visited twice, and a sweep started
// anew (the neighbor changed again) visits every user once more.
#pragma once

#include <absl/container/inlined_vector.h>

#include <cstdint>
#include <deque>
#include <optional>

#include "dataplane/api/address_map.hpp"
#include "dataplane/api/types.hpp"

namespace monami::ha {

class NextHopUsers {
  public:
    // A HoA's membership of one next hop's list; kept by the HoA's owner, read and written
    // only through this class.
    struct Use {
        Ipv6Address next_hop;
        std::uint32_t node = 0;
    };
    using Uses = absl::InlinedVector<Use, 1>;

    // Makes `hoa` a user of `next_hop` (nothing when it is one already).
    void add(const Ipv6Address& next_hop, const HomeAddress& hoa, Uses& uses);
    // Removes `hoa` from every list it is in; `uses` is left empty.
    void remove_all(Uses& uses);

    // The mark of a sweep starting now: the users added before it are the ones it visits.
    std::uint64_t start_sweep() { return ++clock_; }
    // The oldest user of `next_hop` added before `sweep`, removed from the list, or nullopt
    // when there is none. The caller then forgets that membership (forget()).
    std::optional<HomeAddress> take_oldest(const Ipv6Address& next_hop, std::uint64_t sweep);
    // Whether take_oldest(next_hop, sweep) would return a user.
    bool has_older(const Ipv6Address& next_hop, std::uint64_t sweep) const;
    // Drops the entry for `next_hop` from a HoA's memberships after take_oldest() took it.
    static void forget(Uses& uses, const Ipv6Address& next_hop);

    std::size_t users() const { return nodes_.size() - free_count_; }
    std::size_t next_hops() const { return lists_.size(); }

  private:
    static constexpr std::uint32_t kNone = UINT32_MAX;
    struct Node {
        HomeAddress hoa;
        std::uint32_t newer = kNone;  // toward the head
        std::uint32_t older = kNone;  // toward the tail
        std::uint64_t added = 0;      // clock_ when added
    };
    struct List {
        std::uint32_t head = kNone;  // newest
        std::uint32_t tail = kNone;  // oldest
    };
    void unlink(const Ipv6Address& next_hop, std::uint32_t node);

    // Nodes by index; a deque grows without moving (or copying) the nodes already there.
    // Free nodes are chained through `older`.
    std::deque<Node> nodes_;
    std::uint32_t free_head_ = kNone;
    std::size_t free_count_ = 0;
    AddressMap<List> lists_;  // next hops with at least one user
    std::uint64_t clock_ = 0;
};

}  // namespace monami::ha
