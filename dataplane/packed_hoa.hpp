// The workers' form of a HoaSnapshot: one cache-line-aligned block per home address holding
// everything a worker reads, with no pointer to chase. Built from the control thread's
// HoaSnapshot when it is published (HoaTable::publish) and freed after a grace period.
//
//   line 0          PackedHoa: path count, rule count, the home address (the key the HoA
//                   index compares, dataplane/hoa_index.hpp), the default action (64
//                   choice slots at 4 bits), the counter slots of the first 2 paths
//   lines 1..2n     DeliveryPath[n], inline, two lines each
//   after them      FlowRule[rule_count], inline (empty in the common case)
//
// A packet to a HoA without rules reads line 0 and the chosen path; the addresses of both
// follow from the block's address alone, so the worker prefetches them together.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <vector>

#include "dataplane/api/snapshot.hpp"

namespace monami::dp {

inline constexpr std::uint8_t kNoChoice = 0xf;  // a 4-bit slot with no path

inline constexpr unsigned kLineCounterSlots = 2;
// The shortest header DeliveryPath::plain_tunnel_length marks: the burst loop writes a plain
// tunnel's header as two overlapping copies of half kMaxDeliveryHeader.
inline constexpr unsigned kPlainHeaderMin = kMaxDeliveryHeader / 2;

struct alignas(64) PackedHoa {
    std::uint8_t path_count = 0;
    std::uint8_t ncast_mask = 0;  // of the default action
    std::uint8_t lines = 0;       // size of the block in cache lines (0: more than the arena's)
    std::uint8_t reserved = 0;
    std::uint16_t rule_count = 0;
    std::uint16_t reserved2 = 0;
    // Immutable while the block is reachable: a reader of the HoA index compares it with
    // the address it looks up, so it never takes another HoA's block.
    HomeAddress home_address;
    std::uint8_t choice[kChoiceSlots / 2] = {};  // slot s: nibble s % 2 of byte s / 2
    // paths()[i].counter_slot of the first paths, so that a packet's counters are
    // prefetched together with its path instead of after it.
    std::uint32_t counter_slots[kLineCounterSlots] = {};

    const DeliveryPath* paths() const { return reinterpret_cast<const DeliveryPath*>(this + 1); }
    DeliveryPath* paths() { return reinterpret_cast<DeliveryPath*>(this + 1); }
    std::span<const FlowRule> rules() const {
        return {reinterpret_cast<const FlowRule*>(paths() + path_count), rule_count};
    }
    std::uint32_t counter_slot(unsigned path) const {
        return path < kLineCounterSlots ? counter_slots[path] : paths()[path].counter_slot;
    }
    // The default action's path for a flow hash, or kNoBinding.
    std::uint8_t default_choice(std::uint32_t hash) const {
        unsigned slot = hash & (kChoiceSlots - 1);
        unsigned nibble = (choice[slot / 2] >> ((slot & 1) * 4)) & 0xf;
        return nibble == kNoChoice ? kNoBinding : static_cast<std::uint8_t>(nibble);
    }
    // The path index for an address registered as CoA, or kNoBinding (ingress filtering).
    // Inline: it runs for every reverse-tunnelled packet.
    // The source is read once as two words; each CoA is two loads and one test.
    std::uint8_t path_of_care_of(const std::uint8_t* source) const {
        std::uint64_t low, high;
        std::memcpy(&low, source, sizeof low);
        std::memcpy(&high, source + sizeof low, sizeof high);
        const DeliveryPath* p = paths();
        for (std::uint8_t i = 0; i < path_count; ++i) {
            std::uint64_t care_low, care_high;
            std::memcpy(&care_low, p[i].care_of.bytes.data(), sizeof care_low);
            std::memcpy(&care_high, p[i].care_of.bytes.data() + sizeof care_low, sizeof care_high);
            if (((care_low ^ low) | (care_high ^ high)) == 0 && !p[i].native) return i;
        }
        return kNoBinding;
    }
};
static_assert(sizeof(PackedHoa) == 64);
static_assert(offsetof(PackedHoa, home_address) == 8);
static_assert(kMaxBindingsPerHoa < kNoChoice, "path indices fit in 4 bits");

// Bytes a packed block of this snapshot needs.
std::size_t packed_size(const HoaSnapshot& snapshot);

// Fixed-size blocks of 1-kMaxArenaLines cache lines carved from large rte_malloc chunks
// (hugepage-backed when the EAL has hugepages), one free list per size; larger blocks come
// from rte_malloc directly. Control thread only (frees run from the RCU defer queue, which
// the control thread drains).
class SnapshotArena {
  public:
    static constexpr unsigned kMaxArenaLines = 40;
    SnapshotArena() = default;
    SnapshotArena(const SnapshotArena&) = delete;
    SnapshotArena& operator=(const SnapshotArena&) = delete;
    ~SnapshotArena();

    // A packed copy of `snapshot`, or nullptr when out of memory.
    PackedHoa* pack(const HoaSnapshot& snapshot);
    void release(const PackedHoa* block);
    // Bytes of the live blocks (what the allocator hands out for them).
    std::size_t bytes_in_use() const { return in_use_; }

  private:
    void* allocate(unsigned lines);

    std::vector<void*> free_[kMaxArenaLines + 1];
    std::vector<void*> chunks_;
    std::uint8_t* cursor_ = nullptr;
    std::uint8_t* end_ = nullptr;
    std::size_t in_use_ = 0;
};

}  // namespace monami::dp
