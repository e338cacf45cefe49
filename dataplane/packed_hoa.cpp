#include "dataplane/packed_hoa.hpp"

#include <rte_malloc.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <type_traits>

// Under ASan a released block is poisoned until it is handed out again, so that a worker
// reading a snapshot freed before its grace period is still reported (eal_publisher), as it
// was when snapshots were heap objects.
#if defined(__SANITIZE_ADDRESS__)
#define MONAMI_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define MONAMI_ASAN 1
#endif
#endif
#ifdef MONAMI_ASAN
#include <sanitizer/asan_interface.h>
#define MONAMI_POISON(p, n) ASAN_POISON_MEMORY_REGION(p, n)
#define MONAMI_UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION(p, n)
#else
#define MONAMI_POISON(p, n) ((void)(p), (void)(n))
#define MONAMI_UNPOISON(p, n) ((void)(p), (void)(n))
#endif

namespace monami::dp {

namespace {

constexpr std::size_t kLine = 64;
// 2 MB: one hugepage, so a chunk costs one TLB entry when the EAL has hugepages.
constexpr std::size_t kChunkBytes = std::size_t{2} << 20;

static_assert(std::is_trivially_copyable_v<DeliveryPath>);
static_assert(std::is_trivially_copyable_v<FlowRule>);
static_assert(alignof(FlowRule) <= alignof(DeliveryPath));

std::uint8_t nibble_of(std::uint8_t path, std::uint8_t path_count) {
    return path < path_count ? path : kNoChoice;
}

}  // namespace

namespace {
std::uint8_t packed_path_count(const HoaSnapshot& s) {
    return static_cast<std::uint8_t>(std::min<std::size_t>(
        std::min<std::size_t>(s.paths.size(), s.path_count), kMaxBindingsPerHoa));
}
}  // namespace

std::size_t packed_size(const HoaSnapshot& snapshot) {
    std::size_t paths = packed_path_count(snapshot);
    return sizeof(PackedHoa) + paths * sizeof(DeliveryPath) +
           snapshot.rules.size() * sizeof(FlowRule);
}

SnapshotArena::~SnapshotArena() {
    for (void* c : chunks_) {
        MONAMI_UNPOISON(c, kChunkBytes);
        rte_free(c);
    }
}

void* SnapshotArena::allocate(unsigned lines) {
    if (lines > kMaxArenaLines) return rte_malloc("monami_snapshot", lines * kLine, kLine);
    auto& list = free_[lines];
    if (!list.empty()) {
        void* block = list.back();
        list.pop_back();
        MONAMI_UNPOISON(block, lines * kLine);
        return block;
    }
    std::size_t bytes = lines * kLine;
    if (cursor_ == nullptr || static_cast<std::size_t>(end_ - cursor_) < bytes) {
        // The tail of the old chunk goes to the free list of its size, if it has one.
        if (cursor_ != nullptr && end_ > cursor_)
            free_[(end_ - cursor_) / kLine].push_back(cursor_);
        void* chunk = rte_malloc("monami_snapshots", kChunkBytes, kLine);
        if (!chunk) return nullptr;
        chunks_.push_back(chunk);
        cursor_ = static_cast<std::uint8_t*>(chunk);
        end_ = cursor_ + kChunkBytes;
    }
    void* block = cursor_;
    cursor_ += bytes;
    return block;
}

PackedHoa* SnapshotArena::pack(const HoaSnapshot& s) {
    std::size_t size = packed_size(s);
    auto lines = static_cast<unsigned>((size + kLine - 1) / kLine);
    void* memory = allocate(lines);
    if (!memory) return nullptr;
    auto* packed = new (memory) PackedHoa();
    packed->path_count = packed_path_count(s);
    packed->ncast_mask = s.default_action.ncast_mask;
    packed->lines = lines > kMaxArenaLines ? 0 : static_cast<std::uint8_t>(lines);
    packed->rule_count = static_cast<std::uint16_t>(s.rules.size());
    packed->home_address = s.home_address;
    // Two slots per byte, computed in locals: a read-modify-write of packed->choice through
    // a byte pointer may alias everything and costed ~15 instructions per slot.
    const std::uint8_t count = packed->path_count;
    const std::uint8_t* choice = s.default_action.choice;
    for (unsigned pair = 0; pair < kChoiceSlots / 2; ++pair)
        packed->choice[pair] = static_cast<std::uint8_t>(
            nibble_of(choice[2 * pair], count) | nibble_of(choice[2 * pair + 1], count) << 4);
    if (packed->path_count != 0)
        std::memcpy(static_cast<void*>(packed->paths()), s.paths.data(),
                    packed->path_count * sizeof(DeliveryPath));
    for (unsigned i = 0; i < packed->path_count; ++i) {
        DeliveryPath& path = packed->paths()[i];
        bool plain = !path.native && !path.chained && path.header_length >= kPlainHeaderMin &&
                     path.header_length <= kMaxDeliveryHeader;
        path.plain_tunnel_length = plain ? path.header_length : 0;
    }
    for (unsigned i = 0; i < packed->path_count && i < kLineCounterSlots; ++i)
        packed->counter_slots[i] = s.paths[i].counter_slot;
    if (!s.rules.empty())
        std::memcpy(static_cast<void*>(packed->paths() + packed->path_count), s.rules.data(),
                    s.rules.size() * sizeof(FlowRule));
    in_use_ += std::size_t{lines} * kLine;
    return packed;
}

void SnapshotArena::release(const PackedHoa* block) {
    if (!block) return;
    unsigned lines = block->lines;
    if (lines == 0) {
        std::size_t size = sizeof(PackedHoa) + block->path_count * sizeof(DeliveryPath) +
                           block->rule_count * sizeof(FlowRule);
        in_use_ -= (size + kLine - 1) / kLine * kLine;
        rte_free(const_cast<PackedHoa*>(block));
        return;
    }
    in_use_ -= std::size_t{lines} * kLine;
    free_[lines].push_back(const_cast<PackedHoa*>(block));
    MONAMI_POISON(block, lines * kLine);
}

}  // namespace monami::dp
