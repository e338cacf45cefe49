// The compiled, immutable forwarding table workers read: an rte_lpm6 whose next-hop ids
// index a small array. Connected prefixes resolve per destination, so every resolved
// neighbor becomes a /128 entry; our own addresses are /128 entries of kind Local.
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

enum class NextHopKind : std::uint8_t { Forward, Local, Resolve };

struct NextHop {
    NextHopKind kind = NextHopKind::Resolve;
    PortId port = 0;
    rte_ether_addr destination_mac{};
};

class Fib {
  public:
    // Builds the table; nullptr with `error` set when DPDK could not allocate it.
    static std::unique_ptr<Fib> compile(const RoutingState& state, std::string& error);
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
    std::vector<Ipv6Address> local_addresses_;
};

}  // namespace monami::dp
