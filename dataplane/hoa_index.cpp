#include "dataplane/hoa_index.hpp"

#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include <bit>

namespace monami::dp {

std::unique_ptr<HoaIndex> HoaIndex::create(std::uint32_t capacity, std::string& error) {
    // At capacity, at most kMaxLoadPercent of the entries are used (a power of two of
    // buckets, so between half that and that).
    std::uint64_t entries = std::uint64_t{capacity} * 100 / kMaxLoadPercent;
    std::uint64_t buckets = std::bit_ceil((entries + kEntriesPerBucket - 1) / kEntriesPerBucket);
    if (buckets == 0) buckets = 1;
    if (buckets > (std::uint64_t{1} << 31)) {
        error = "home address index: capacity " + std::to_string(capacity) + " too large";
        return nullptr;
    }
    std::unique_ptr<HoaIndex> index(new HoaIndex());
    index->mask_ = static_cast<std::uint32_t>(buckets - 1);
    index->buckets_ = static_cast<Bucket*>(rte_zmalloc_socket(
        "monami_hoa_index", buckets * sizeof(Bucket), 64, static_cast<int>(rte_socket_id())));
    if (!index->buckets_) {
        error = "cannot allocate the home address index (" + std::to_string(buckets) +
                " buckets of 64 bytes)";
        return nullptr;
    }
    return index;
}

HoaIndex::~HoaIndex() {
    rte_free(buckets_);
}

bool HoaIndex::insert(std::uint32_t signature, const PackedHoa* block, std::uint32_t& slot) {
    if (!fits(block) || block == nullptr) return false;
    std::uint32_t home = signature & mask_;
    std::uint32_t limit = mask_ < kMaxDistance ? mask_ : kMaxDistance;
    for (std::uint32_t d = 0; d <= limit; ++d) {
        Bucket& bucket = buckets_[(home + d) & mask_];
        for (unsigned e = 0; e < kEntriesPerBucket; ++e) {
            if (bucket.entries[e].load(std::memory_order_relaxed) != 0) continue;
            if (d != 0) {
                // Readers must probe this far before they can find the entry.
                std::atomic<std::uint64_t>& overflow = buckets_[home].overflow;
                std::uint64_t word = overflow.load(std::memory_order_relaxed);
                std::uint64_t distance = std::max<std::uint64_t>(word & kDistanceMask, d);
                std::uint64_t count = (word >> kCountShift) + 1;
                overflow.store(count << kCountShift | distance, std::memory_order_release);
                ++displaced_;
            }
            bucket.entries[e].store(tag_of(signature) | reinterpret_cast<std::uintptr_t>(block),
                                    std::memory_order_release);
            slot = ((home + d) & mask_) * kEntriesPerBucket + e;
            return true;
        }
    }
    return false;
}

void HoaIndex::replace(std::uint32_t slot, std::uint32_t signature, const PackedHoa* block) {
    buckets_[slot / kEntriesPerBucket].entries[slot % kEntriesPerBucket].store(
        tag_of(signature) | reinterpret_cast<std::uintptr_t>(block), std::memory_order_release);
}

void HoaIndex::erase(std::uint32_t slot, std::uint32_t signature) {
    std::uint32_t bucket = slot / kEntriesPerBucket;
    buckets_[bucket].entries[slot % kEntriesPerBucket].store(0, std::memory_order_release);
    std::uint32_t home = signature & mask_;
    if (bucket == home) return;
    // The distance stays until no displaced key of this home bucket is left (it only has to
    // cover the keys still there).
    std::atomic<std::uint64_t>& overflow = buckets_[home].overflow;
    std::uint64_t word = overflow.load(std::memory_order_relaxed);
    std::uint64_t count = (word >> kCountShift) - 1;
    overflow.store(count == 0 ? 0 : count << kCountShift | (word & kDistanceMask),
                   std::memory_order_release);
    --displaced_;
}

void HoaIndex::find_bulk(const void* const* keys, const std::uint32_t* signatures, unsigned n,
                         std::uint64_t* hit_mask, void** blocks) const {
    // Locals: the acquire loads below would make the compiler read the members again.
    Bucket* const buckets = buckets_;
    const std::uint32_t mask = mask_;
    const Bucket* homes[kMaxBulk];
    for (unsigned j = 0; j < n; ++j) {
        homes[j] = &buckets[signatures[j] & mask];
        rte_prefetch0(homes[j]);
    }
    // The first tag match of each home bucket (prefetched); a key whose home bucket has
    // none and no displaced keys is a miss already.
    const PackedHoa* candidates[kMaxBulk];
    std::uint64_t unsure = 0;  // keys for the full lookup
    for (unsigned j = 0; j < n; ++j) {
        const Bucket& bucket = *homes[j];
        std::uint64_t tag = tag_of(signatures[j]);
        const PackedHoa* candidate = nullptr;
        // Entry 0 first: inserts fill a bucket from the front, so at half load or less most
        // hits are there, and one scalar compare is cheaper than the vector one.
        std::uint64_t first = bucket.entries[0].load(std::memory_order_acquire);
        if ((first & ~kAddressMask) == tag && (first & kAddressMask) != 0)
            candidate = block_of(first);
        for (std::uint64_t c = candidate ? 0 : tag_candidates(bucket, tag) & ~std::uint64_t{0x80};
             c != 0; c &= c - 1) {
            if (std::uint64_t address = entry(bucket, c, tag)) {
                candidate = block_of(address);
                break;
            }
        }
        candidates[j] = candidate;
        if (candidate)
            rte_prefetch0(candidate);
        else if (bucket.overflow.load(std::memory_order_acquire) != 0)
            unsure |= std::uint64_t{1} << j;
    }
    std::uint64_t hits = 0;
    for (unsigned j = 0; j < n; ++j) {
        std::uint64_t low, high;
        std::memcpy(&low, keys[j], 8);
        std::memcpy(&high, static_cast<const std::uint8_t*>(keys[j]) + 8, 8);
        const PackedHoa* block = candidates[j];
        // Another key's block with the same tag, or a key that may live further on.
        if (block ? !holds(block, low, high) : (unsure >> j) & 1)
            block = find(low, high, signatures[j]);
        blocks[j] = const_cast<PackedHoa*>(block);
        hits |= std::uint64_t{block != nullptr} << j;
    }
    *hit_mask = hits;
}

}  // namespace monami::dp
