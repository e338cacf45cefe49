#include "dataplane/hoa_table.hpp"

#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>

#include <atomic>
#include <cstring>

#include "dataplane/lf_hash.hpp"
#include "dataplane/log.hpp"

namespace monami::dp {

namespace {

void free_prefix_index(void* object, std::uintptr_t) {
    ::operator delete(object);
}

}  // namespace

std::unique_ptr<HoaTable> HoaTable::create(std::uint32_t capacity, Reclaimer& reclaimer,
                                           std::string& error) {
    std::unique_ptr<HoaTable> t(new HoaTable(reclaimer));
    t->capacity_ = capacity;
    t->index_ = HoaIndex::create(capacity, error);
    if (!t->index_) return nullptr;
    // Sized now: a rehash of a million entries would stop the control thread for tens of ms.
    t->current_.reserve(capacity);
    return t;
}

void HoaTable::free_packed(void* object, std::uintptr_t table) {
    reinterpret_cast<HoaTable*>(table)->arena_.release(static_cast<const PackedHoa*>(object));
}

HoaTable::~HoaTable() {
    for (auto& [key, entry] : current_) arena_.release(entry.packed);
    for (auto& [len, table] : prefix_tables_) rte_hash_free(table);
    delete prefix_index_.load();
    delete home_nets_.load();
}

bool HoaTable::publish(const HoaSnapshot& snapshot) {
    const PackedHoa* packed = arena_.pack(snapshot);
    if (!packed) return false;
    if (!HoaIndex::fits(packed)) {
        MONAMI_LOG(ERR, dp, "snapshot block at %p: beyond 48 bits, cannot be indexed",
                   static_cast<const void*>(packed));
        arena_.release(packed);
        return false;
    }
    const hash_sig_t sig = signature(snapshot.home_address.bytes.data());
    auto it = current_.find(snapshot.home_address);
    const PackedHoa* old = nullptr;
    std::vector<Ipv6Prefix> old_prefixes;
    if (it == current_.end()) {
        std::uint32_t slot = 0;
        if (current_.size() >= capacity_ || !index_->insert(sig, packed, slot)) {
            arena_.release(packed);
            return false;
        }
        it = current_.emplace(snapshot.home_address, Current{}).first;
        it->second.slot = slot;
        count_home_net(snapshot.home_address, +1);
    } else {
        // One atomic store: readers see the old block or the new one.
        index_->replace(it->second.slot, sig, packed);
        old = it->second.packed;
        old_prefixes = std::move(it->second.network_prefixes);
    }
    it->second.packed = packed;
    it->second.network_prefixes = snapshot.network_prefixes;
    count_.store(current_.size(), std::memory_order_relaxed);
    for (const auto& p : it->second.network_prefixes) set_prefix(p, packed);
    for (const auto& p : old_prefixes) {
        bool kept = false;
        for (const auto& q : it->second.network_prefixes) kept = kept || q == p;
        if (!kept) remove_prefix(p);
    }
    if (old)
        reclaimer_.defer(free_packed, const_cast<PackedHoa*>(old),
                         reinterpret_cast<std::uintptr_t>(this));
    return true;
}

void HoaTable::withdraw(const HomeAddress& home_address) {
    auto it = current_.find(home_address);
    if (it == current_.end()) return;
    const PackedHoa* old = it->second.packed;
    index_->erase(it->second.slot, signature(home_address.bytes.data()));
    std::vector<Ipv6Prefix> prefixes = std::move(it->second.network_prefixes);
    current_.erase(it);
    count_.store(current_.size(), std::memory_order_relaxed);
    count_home_net(home_address, -1);
    for (const auto& p : prefixes) remove_prefix(p);
    reclaimer_.defer(free_packed, const_cast<PackedHoa*>(old),
                     reinterpret_cast<std::uintptr_t>(this));
}

// Deleted keys of a prefix table keep their slots until a grace period has passed, so a
// table can be full of slots waiting for slow workers: then wait for the grace period and
// try once more.
int HoaTable::add(rte_hash* table, const std::uint8_t* key, const PackedHoa* snapshot) {
    void* data = const_cast<PackedHoa*>(snapshot);
    int rc = rte_hash_add_key_data(table, key, data);
    if (rc == -ENOSPC) {
        reclaimer_.reclaim_now();
        rc = rte_hash_add_key_data(table, key, data);
    }
    return rc;
}

rte_hash* HoaTable::prefix_table(std::uint8_t length) {
    auto it = prefix_tables_.find(length);
    if (it != prefix_tables_.end()) return it->second;
    rte_hash* t = create_lf_hash("monami_mnp", capacity_ / 4 + 64);
    if (t) prefix_tables_[length] = t;
    return t;
}

void HoaTable::set_prefix(const Ipv6Prefix& prefix, const PackedHoa* owner) {
    rte_hash* t = prefix_table(prefix.length);
    if (!t) return;
    bool fresh = rte_hash_lookup(t, prefix.address.bytes.data()) < 0;
    if (int rc = add(t, prefix.address.bytes.data(), owner); rc < 0) {
        MONAMI_LOG(ERR, dp, "mobile network prefix %s not published: %s",
                   prefix.to_string().c_str(), rte_strerror(-rc));
        return;
    }
    if (fresh && prefixes_per_length_[prefix.length]++ == 0) republish_prefix_index();
}

void HoaTable::remove_prefix(const Ipv6Prefix& prefix) {
    auto it = prefix_tables_.find(prefix.length);
    if (it == prefix_tables_.end()) return;
    std::int32_t pos = rte_hash_del_key(it->second, prefix.address.bytes.data());
    if (pos < 0) return;
    reclaimer_.defer(free_key_slot, it->second, static_cast<std::uintptr_t>(pos));
    if (--prefixes_per_length_[prefix.length] == 0) {
        prefixes_per_length_.erase(prefix.length);
        republish_prefix_index();
    }
}

void HoaTable::republish_prefix_index() {
    PrefixIndex* index = nullptr;
    if (!prefixes_per_length_.empty()) {
        index = static_cast<PrefixIndex*>(::operator new(sizeof(PrefixIndex)));
        index->count = 0;
        for (auto it = prefixes_per_length_.rbegin(); it != prefixes_per_length_.rend(); ++it) {
            index->lengths[index->count] = it->first;
            index->tables[index->count] = prefix_tables_[it->first];
            ++index->count;
        }
    }
    const PrefixIndex* old = prefix_index_.exchange(index, std::memory_order_acq_rel);
    if (old) reclaimer_.defer(free_prefix_index, const_cast<PrefixIndex*>(old), 0);
}

// Keeps the list of /64s that hold HoAs (HomeNets) in step with the table; republished
// only when a /64 gains its first HoA or loses its last.
void HoaTable::count_home_net(const HomeAddress& home_address, int delta) {
    std::uint64_t net;
    std::memcpy(&net, home_address.bytes.data(), 8);
    bool changed = false;
    if (delta > 0) {
        changed = home_net_counts_[net]++ == 0;
    } else if (auto it = home_net_counts_.find(net); it != home_net_counts_.end()) {
        if (--it->second == 0) {
            home_net_counts_.erase(it);
            changed = true;
        }
    }
    if (!changed) return;
    HomeNets* nets = nullptr;
    if (!home_net_counts_.empty()) {
        nets = new HomeNets();
        nets->count = static_cast<unsigned>(home_net_counts_.size());
        if (nets->count <= kMaxHomeNets) {
            unsigned i = 0;
            for (const auto& [n, count] : home_net_counts_) nets->nets[i++] = n;
        }
    }
    const HomeNets* old = home_nets_.exchange(nets, std::memory_order_acq_rel);
    if (old) reclaimer_.defer(free_home_nets, const_cast<HomeNets*>(old), 0);
}

void HoaTable::free_home_nets(void* object, std::uintptr_t) {
    delete static_cast<const HomeNets*>(object);
}

const PackedHoa* HoaTable::lookup_prefix(const std::uint8_t* address) const {
    const PrefixIndex* index = prefix_index_.load(std::memory_order_acquire);
    if (!index) return nullptr;
    for (unsigned i = 0; i < index->count; ++i) {
        std::uint8_t key[16];
        unsigned length = index->lengths[i];
        unsigned full = length / 8;
        std::memcpy(key, address, full);
        std::memset(key + full, 0, 16 - full);
        if (length % 8)
            key[full] = static_cast<std::uint8_t>(address[full] & (0xff00u >> (length % 8)));
        void* data = nullptr;
        if (rte_hash_lookup_data(index->tables[i], key, &data) >= 0)
            return static_cast<const PackedHoa*>(data);
    }
    return nullptr;
}

}  // namespace monami::dp
