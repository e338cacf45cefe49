// The compiled, immutable forwarding table workers read: an rte_lpm6 whose next-hop ids
// index a small array. Routes and our own addresses (/128 entries of kind Local) only: the
// link-layer address of a next hop comes from the NeighborTable, so learning a neighbor does
// not rebuild this table (each rte_lpm6 is 64 MB).
#pragma once

#include <rte_ether.h>
#include <rte_lpm6.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/api/control.hpp"

namespace monami::dp {

// OnLink: the destination itself is the neighbor to send to; Via: `via` is.
enum class NextHopKind : std::uint8_t { Local, OnLink, Via };

struct NextHop {
    NextHopKind kind = NextHopKind::OnLink;
    PortId port = 0;
    std::uint8_t via[16] = {};
};

class Fib {
  public:
    // Builds the table from the routes and local addresses of `state` (its neighbors go to
    // the NeighborTable); nullptr with `error` set when DPDK could not allocate it.
    static std::unique_ptr<Fib> compile(const RoutingState& state, std::string& error);
    // Whether `state` would compile to this same table.
    bool same_as(const RoutingState& state) const;
    ~Fib();
    Fib(const Fib&) = delete;
    Fib& operator=(const Fib&) = delete;

    // Looks up `n` destination addresses; next_hop_ids[i] < 0 means no route.
    void lookup_bulk(std::uint8_t (*destinations)[16], std::int32_t* next_hop_ids,
                     unsigned n) const {
        rte_lpm6_lookup_bulk_func(lpm_, destinations, next_hop_ids, n);
    }
    const NextHop& next_hop(std::int32_t id) const {
        return next_hops_[static_cast<std::size_t>(id)];
    }
    std::size_t next_hop_count() const { return next_hops_.size(); }
    // One of our addresses: what lookup_bulk answers with a Local next hop for it (a /128,
    // added after every other entry, is the longest match), without the LPM walk.
    bool is_local(const std::uint8_t* address) const {
        for (const auto& a : local_addresses_)
            if (std::memcmp(a.bytes.data(), address, 16) == 0) return true;
        return false;
    }

  private:
    Fib() = default;
    rte_lpm6* lpm_ = nullptr;
    std::vector<NextHop> next_hops_;
    std::vector<Route> routes_;
    std::vector<Ipv6Address> local_addresses_;
};

}  // namespace monami::dp
