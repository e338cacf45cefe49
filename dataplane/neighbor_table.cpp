#include "dataplane/neighbor_table.hpp"

#include <rte_errno.h>

#include "dataplane/lf_hash.hpp"
#include "dataplane/log.hpp"

namespace monami::dp {

std::unique_ptr<NeighborTable> NeighborTable::create(std::uint32_t capacity, Reclaimer& reclaimer,
                                                     std::string& error) {
    std::unique_ptr<NeighborTable> t(new NeighborTable(reclaimer));
    t->capacity_ = capacity;
    t->table_ = create_lf_hash("monami_nbr", capacity);
    if (!t->table_) {
        error = std::string("cannot create the neighbor table (") + std::to_string(capacity) +
                " entries): " + rte_strerror(rte_errno);
        return nullptr;
    }
    return t;
}

NeighborTable::~NeighborTable() {
    if (table_) rte_hash_free(table_);
}

bool NeighborTable::install(const Ipv6Address& address, std::uint64_t value) {
    // An existing key's data is replaced with one atomic store (lock-free mode).
    int rc = rte_hash_add_key_data(table_, address.bytes.data(),
                                   reinterpret_cast<void*>(static_cast<std::uintptr_t>(value)));
    if (rc == -ENOSPC) {
        // Deleted keys' slots may be waiting for their grace period.
        reclaimer_.reclaim_now();
        rc = rte_hash_add_key_data(table_, address.bytes.data(),
                                   reinterpret_cast<void*>(static_cast<std::uintptr_t>(value)));
    }
    if (rc != 0) {
        MONAMI_LOG(WARNING, dp, "neighbor %s not installed: %s (table of %u entries)",
                   address.to_string().c_str(), rte_strerror(-rc), capacity_);
        return false;
    }
    current_[address] = value;
    return true;
}

bool NeighborTable::set(const Neighbor& neighbor) {
    const std::uint64_t value = encode(neighbor.port, neighbor.mac);
    auto it = current_.find(neighbor.address);
    if (it != current_.end() && it->second == value) return true;
    return install(neighbor.address, value);
}

bool NeighborTable::sync(const std::vector<Neighbor>& neighbors) {
    std::map<Ipv6Address, std::uint64_t> wanted;
    for (const auto& n : neighbors) wanted[n.address] = encode(n.port, n.mac);
    for (auto it = current_.begin(); it != current_.end();) {
        if (wanted.count(it->first) != 0) {
            ++it;
            continue;
        }
        std::int32_t position = rte_hash_del_key(table_, it->first.bytes.data());
        if (position >= 0)
            reclaimer_.defer(free_key_slot, table_, static_cast<std::uintptr_t>(position));
        it = current_.erase(it);
    }
    bool all = true;
    for (const auto& [address, value] : wanted) {
        auto it = current_.find(address);
        if (it != current_.end() && it->second == value) continue;
        all = install(address, value) && all;
    }
    return all;
}

}  // namespace monami::dp
