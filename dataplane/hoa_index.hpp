// The exact home address index of HoaTable: HoA -> PackedHoa, read by every worker without
// locks, written by the control thread alone.
//
// A bucket is one cache line of 8 atomic words: 7 entries `tag << 48 | block address` (the
// tag is the top 16 bits of the key's 32-bit signature, the address a 48-bit user-space
// pointer) and one overflow word for the keys whose home bucket is this one but which live
// in a later bucket (linear probing): how many there are and how far the farthest lies.
// The key itself is not in the bucket but in the block (PackedHoa::home_address, line 0,
// immutable while the block is reachable): a reader compares it after loading the entry,
// so it never returns the block of another key, whatever the writer does meanwhile, and
// the line it compares is the one the worker reads next anyway.
//
// Writer rules (the control thread): a block is fully written before the release-store of
// its entry; a replaced or removed block is freed only after a grace period (Reclaimer);
// entries never move, so a key present during a whole lookup is always found; the overflow
// word is raised before the far entry is stored. Entry slots are reused at once: a reader
// holding a stale entry compares keys and moves on.
#pragma once

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include <atomic>
#include <bit>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>

#include "dataplane/packed_hoa.hpp"

namespace monami::dp {

class HoaIndex {
  public:
    static constexpr unsigned kEntriesPerBucket = 7;
    // Buckets are sized so that at most this share of the entries is in use at capacity.
    static constexpr unsigned kMaxLoadPercent = 50;
    static constexpr unsigned kMaxBulk = 64;

    // Room for `capacity` keys, or nullptr (and `error`) when out of memory.
    static std::unique_ptr<HoaIndex> create(std::uint32_t capacity, std::string& error);
    ~HoaIndex();
    HoaIndex(const HoaIndex&) = delete;
    HoaIndex& operator=(const HoaIndex&) = delete;

    // Control thread. `block` holds the key in its home_address; the caller keeps the
    // returned slot (entry index) to replace or erase the key, and never inserts a key
    // twice. False when the block's address does not fit in 48 bits or no slot is free.
    bool insert(std::uint32_t signature, const PackedHoa* block, std::uint32_t& slot);
    // A new block for the key in `slot` (same key, same signature): one atomic store.
    void replace(std::uint32_t slot, std::uint32_t signature, const PackedHoa* block);
    void erase(std::uint32_t slot, std::uint32_t signature);
    static bool fits(const PackedHoa* block) {
        return (reinterpret_cast<std::uintptr_t>(block) >> kTagShift) == 0;
    }

    // Workers.
    const PackedHoa* find(const std::uint8_t* key, std::uint32_t signature) const {
        std::uint64_t low, high;
        std::memcpy(&low, key, 8);
        std::memcpy(&high, key + 8, 8);
        return find(low, high, signature);
    }
    // Up to kMaxBulk keys (16-byte addresses at any alignment), l3fwd style: every home
    // bucket is prefetched, then scanned, and the block of the first tag match in each is
    // prefetched before any key is compared.
    void find_bulk(const void* const* keys, const std::uint32_t* signatures, unsigned n,
                   std::uint64_t* hit_mask, void** blocks) const;

    std::size_t bytes() const { return std::size_t{mask_ + 1} * sizeof(Bucket); }
    std::uint32_t bucket_count() const { return mask_ + 1; }
    // Entries stored outside their home bucket (a measure of probing, for tests).
    std::size_t displaced() const { return displaced_; }

  private:
    static constexpr unsigned kTagShift = 48;
    static constexpr std::uint64_t kAddressMask = (std::uint64_t{1} << kTagShift) - 1;
    static constexpr std::uint64_t kDistanceMask = 0xffff;  // overflow word: bits 0-15
    static constexpr unsigned kCountShift = 16;             // bits 16-63: how many
    static constexpr std::uint32_t kMaxDistance = 0xffff;

    struct alignas(64) Bucket {
        std::atomic<std::uint64_t> entries[kEntriesPerBucket];
        std::atomic<std::uint64_t> overflow;
    };
    static_assert(sizeof(Bucket) == 64);
    static_assert(sizeof(void*) == 8, "entries hold 48-bit pointers");
    static_assert(std::atomic<std::uint64_t>::is_always_lock_free);

    HoaIndex() = default;
    static std::uint64_t tag_of(std::uint32_t signature) {
        return std::uint64_t{signature >> 16} << kTagShift;
    }
    static const PackedHoa* block_of(std::uint64_t entry) {
        return reinterpret_cast<const PackedHoa*>(entry & kAddressMask);
    }
    static bool holds(const PackedHoa* block, std::uint64_t low, std::uint64_t high) {
        std::uint64_t key[2];
        std::memcpy(key, block->home_address.bytes.data(), 16);
        return ((key[0] ^ low) | (key[1] ^ high)) == 0;
    }
    // Entries of `bucket` whose tag may equal `tag`: bit 8 * e + 7 for entry e. A hint only:
    // each is loaded again atomically (entry()) before it is used. With AVX2, two vector
    // compares of the line's 16-bit lanes (the overflow word's lane is masked out); an
    // entry written meanwhile may be seen torn here, which only adds or drops a candidate
    // that a lookup racing its store may take or miss anyway.
    static std::uint64_t tag_candidates(const Bucket& bucket, std::uint64_t tag) {
#if defined(__AVX2__)
        const __m256i wanted = _mm256_set1_epi16(static_cast<short>(tag >> kTagShift));
        const auto* line = reinterpret_cast<const __m256i*>(&bucket);
        auto low = static_cast<std::uint32_t>(
            _mm256_movemask_epi8(_mm256_cmpeq_epi16(_mm256_load_si256(line), wanted)));
        auto high = static_cast<std::uint32_t>(
            _mm256_movemask_epi8(_mm256_cmpeq_epi16(_mm256_load_si256(line + 1), wanted)));
        return (std::uint64_t{high} << 32 | low) & 0x0080808080808080ull;
#else
        std::uint64_t candidates = 0;
        for (unsigned e = 0; e < kEntriesPerBucket; ++e)
            if ((bucket.entries[e].load(std::memory_order_relaxed) & ~kAddressMask) == tag)
                candidates |= std::uint64_t{0x80} << (8 * e);
        return candidates;
#endif
    }
    // Entry e of `bucket` if it holds this tag (and a block), else 0.
    static std::uint64_t entry(const Bucket& bucket, std::uint64_t candidates, std::uint64_t tag) {
        std::uint64_t entry =
            bucket.entries[std::countr_zero(candidates) / 8].load(std::memory_order_acquire);
        return (entry & ~kAddressMask) == tag ? entry & kAddressMask : 0;
    }
    // The block of the first entry of `bucket` with this tag that holds the key.
    static const PackedHoa* scan(const Bucket& bucket, std::uint64_t tag, std::uint64_t low,
                                 std::uint64_t high) {
        for (std::uint64_t c = tag_candidates(bucket, tag); c != 0; c &= c - 1) {
            if (std::uint64_t address = entry(bucket, c, tag)) {
                const PackedHoa* block = block_of(address);
                if (holds(block, low, high)) return block;
            }
        }
        return nullptr;
    }
    const PackedHoa* find(std::uint64_t low, std::uint64_t high, std::uint32_t signature) const {
        std::uint32_t home = signature & mask_;
        std::uint64_t tag = tag_of(signature);
        if (const PackedHoa* block = scan(buckets_[home], tag, low, high)) return block;
        std::uint64_t distance =
            buckets_[home].overflow.load(std::memory_order_acquire) & kDistanceMask;
        for (std::uint32_t d = 1; d <= distance; ++d)
            if (const PackedHoa* block = scan(buckets_[(home + d) & mask_], tag, low, high))
                return block;
        return nullptr;
    }

    Bucket* buckets_ = nullptr;
    std::uint32_t mask_ = 0;
    std::size_t displaced_ = 0;
};

}  // namespace monami::dp
