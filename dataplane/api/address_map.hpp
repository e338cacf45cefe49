// The control plane's tables keyed by address (home addresses, care-of addresses, next hops):
// open-addressing hash tables (Abseil's Swiss tables) instead of std::unordered_map. At a
// million HoAs every lookup of a node-based map is two or three cache misses (bucket, the
// node before, the node) plus an allocation per insert; a flat table is one probe of its
// control bytes and one slot (docs/performance.md, "Round 4, control path at scale").
//   AddressMap<V>        values move on rehash: hold no reference across an insert
//   StableAddressMap<V>  values stay put (node-based), for entries handed out by pointer
// Their slot arrays, once 2 MB or more, are on huge pages (large_pages.hpp).
#pragma once

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>
#include <absl/container/node_hash_map.h>

#include "dataplane/api/large_pages.hpp"
#include "dataplane/api/types.hpp"

namespace monami {

template <class Value>
using AddressMap =
    absl::flat_hash_map<Ipv6Address, Value, Ipv6AddressHash, std::equal_to<Ipv6Address>,
                        LargePageAllocator<std::pair<const Ipv6Address, Value>>>;
template <class Value>
using StableAddressMap =
    absl::node_hash_map<Ipv6Address, Value, Ipv6AddressHash, std::equal_to<Ipv6Address>,
                        LargePageAllocator<std::pair<const Ipv6Address, Value>>>;
using AddressSet = absl::flat_hash_set<Ipv6Address, Ipv6AddressHash, std::equal_to<Ipv6Address>,
                                       LargePageAllocator<Ipv6Address>>;

}  // namespace monami
