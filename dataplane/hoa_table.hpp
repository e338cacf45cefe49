// Home address -> PackedHoa (the workers' form of a HoaSnapshot, dataplane/packed_hoa.hpp),
// read by every worker without locks: our own index of one-line buckets for the exact
// 16-byte HoA (dataplane/hoa_index.hpp), plus one lock-free rte_hash per mobile network
// prefix length in use (RFC 3963) behind an RCU-published index of the lengths.
// Only the control thread writes; what it replaces is freed through the Reclaimer after a
// grace period (blocks, and the prefix hashes' slots of deleted keys: NO_FREE_ON_DEL).
#pragma once

#include <rte_hash.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/api/address_map.hpp"
#include "dataplane/api/snapshot.hpp"
#include "dataplane/hoa_index.hpp"
#include "dataplane/packed_hoa.hpp"
#include "dataplane/stages/crc32c.hpp"

namespace monami::dp {

// Defers a free until no worker can hold the object (implemented by the Runtime with an
// rte_rcu_qsbr defer queue).
class Reclaimer {
  public:
    using FreeFn = void (*)(void* object, std::uintptr_t arg);
    virtual ~Reclaimer() = default;
    virtual void defer(FreeFn fn, void* object, std::uintptr_t arg) = 0;
    // Waits for a grace period and runs every deferred free (a table is full of slots
    // waiting for one).
    virtual void reclaim_now() = 0;
};

class HoaTable {
  public:
    static std::unique_ptr<HoaTable> create(std::uint32_t capacity, Reclaimer& reclaimer,
                                            std::string& error);
    ~HoaTable();

    // Control thread. The snapshot is packed into one block; the caller keeps its own.
    bool publish(const HoaSnapshot& snapshot);
    void withdraw(const HomeAddress& home_address);
    // Read by workers too (to skip the lookup when empty), hence not current_.size().
    std::size_t size() const { return count_.load(std::memory_order_relaxed); }
    // Bytes of the live packed snapshots.
    std::size_t snapshot_bytes() const { return arena_.bytes_in_use(); }

    // Workers: up to 64 keys (pointers to 16-byte addresses, e.g. inside packets). A miss
    // leaves nullptr in `snapshots`.
    void lookup_bulk(const void** keys, unsigned n, std::uint64_t* hit_mask,
                     void** snapshots) const {
        hash_sig_t signatures[HoaIndex::kMaxBulk];
        for (unsigned i = 0; i < n; ++i)
            signatures[i] = signature(static_cast<const std::uint8_t*>(keys[i]));
        index_->find_bulk(keys, signatures, n, hit_mask, snapshots);
    }
    // The index's hash of a key (CRC32C over 16 bytes, initial value 0, as rte_hash_crc
    // computes it): two CRC32 instructions, computed by the worker while its parser holds
    // the address.
    static hash_sig_t signature(const std::uint8_t* key) {
        std::uint64_t low, high;
        std::memcpy(&low, key, 8);
        std::memcpy(&high, key + 8, 8);
        return crc32c_u64(crc32c_u64(0, low), high);
    }
    // Same as lookup_bulk with precomputed signatures.
    void lookup_bulk(const void** keys, const hash_sig_t* signatures, unsigned n,
                     std::uint64_t* hit_mask, void** snapshots) const {
        index_->find_bulk(keys, signatures, n, hit_mask, snapshots);
    }
    const PackedHoa* lookup(const std::uint8_t* address) const {
        return index_->find(address, signature(address));
    }
    // Longest mobile network prefix containing `address`, or nullptr.
    const PackedHoa* lookup_prefix(const std::uint8_t* address) const;
    bool has_prefixes() const { return prefix_index_.load(std::memory_order_relaxed) != nullptr; }
    // False only when no registered HoA shares the /64 of `address`, so the exact lookup
    // can be skipped (routing decapsulated packets, whose destinations are mostly not HoAs).
    bool may_hold(const std::uint8_t* address) const {
        const HomeNets* nets = home_nets_.load(std::memory_order_acquire);
        if (!nets) return false;
        if (nets->count > kMaxHomeNets) return true;
        std::uint64_t net;
        std::memcpy(&net, address, 8);
        for (unsigned i = 0; i < nets->count; ++i)
            if (nets->nets[i] == net) return true;
        return false;
    }

  private:
    static constexpr unsigned kMaxHomeNets = 8;  // more: may_hold answers true
    struct HomeNets {                            // immutable: the /64s holding HoAs
        unsigned count = 0;                      // > kMaxHomeNets: too many to list
        std::uint64_t nets[kMaxHomeNets] = {};
    };
    struct PrefixIndex {  // immutable: lengths in use, longest first, and their tables
        unsigned count = 0;
        std::uint8_t lengths[129];
        rte_hash* tables[129];
    };
    struct Current {  // what the control thread keeps of a published HoA
        const PackedHoa* packed = nullptr;
        std::uint32_t slot = 0;  // its entry in index_
        std::vector<Ipv6Prefix> network_prefixes;
    };
    HoaTable(Reclaimer& reclaimer) : reclaimer_(reclaimer) {}
    int add(rte_hash* table, const std::uint8_t* key, const PackedHoa* snapshot);
    rte_hash* prefix_table(std::uint8_t length);
    void set_prefix(const Ipv6Prefix& prefix, const PackedHoa* owner);
    static void free_packed(void* object, std::uintptr_t table);
    void remove_prefix(const Ipv6Prefix& prefix);
    void republish_prefix_index();
    void count_home_net(const HomeAddress& home_address, int delta);
    static void free_home_nets(void* object, std::uintptr_t);

    Reclaimer& reclaimer_;
    std::unique_ptr<HoaIndex> index_;
    std::uint32_t capacity_ = 0;
    SnapshotArena arena_;
    AddressMap<Current> current_;
    std::atomic<std::size_t> count_{0};  // current_.size()
    std::map<std::uint8_t, rte_hash*> prefix_tables_;
    std::map<std::uint8_t, std::size_t> prefixes_per_length_;
    std::atomic<const PrefixIndex*> prefix_index_{nullptr};
    std::map<std::uint64_t, std::size_t> home_net_counts_;  // /64 (raw bytes) -> HoAs
    std::atomic<const HomeNets*> home_nets_{nullptr};
};

}  // namespace monami::dp
