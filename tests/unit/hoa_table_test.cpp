// The exact home address index (dataplane/hoa_index.*) and the HoaTable over it: inserts,
// replacements, removals, colliding tags, full buckets and probing, bulk lookups, capacity,
// and readers racing the writer. Signatures are passed explicitly to the index, so tests
// force collisions; blocks come from the real SnapshotArena (rte_malloc), hence the EAL.
#include <atomic>
#include <thread>
#include <vector>

#include "dataplane/hoa_index.hpp"
#include "dataplane/hoa_table.hpp"
#include "tests/unit/eal_harness.hpp"

namespace monami::test {
namespace {

using dp::HoaIndex;
using dp::PackedHoa;

[[maybe_unused]] ::testing::Environment* const eal =
    ::testing::AddGlobalTestEnvironment(new EalEnvironment("0"));

Ipv6Address hoa(std::uint32_t i) {
    Ipv6Address a = ip("2001:db8:1::");
    a.bytes[12] = static_cast<std::uint8_t>(i >> 24);
    a.bytes[13] = static_cast<std::uint8_t>(i >> 16);
    a.bytes[14] = static_cast<std::uint8_t>(i >> 8);
    a.bytes[15] = static_cast<std::uint8_t>(i);
    return a;
}

// A snapshot with one path whose counter slot tells versions apart.
std::unique_ptr<HoaSnapshot> snapshot(const Ipv6Address& home, std::uint32_t version) {
    auto s = std::make_unique<HoaSnapshot>();
    s->home_address = home;
    s->path_count = 1;
    s->paths.resize(1);
    s->paths[0].care_of = ip("2001:db8:c::1");
    s->paths[0].counter_slot = version;
    for (auto& c : s->default_action.choice) c = 0;
    return s;
}

class IndexTest : public ::testing::Test {
  protected:
    void SetUp() override {
        std::string error;
        index = HoaIndex::create(64, error);
        ASSERT_TRUE(index) << error;
    }
    void TearDown() override {
        for (const PackedHoa* b : blocks) arena.release(b);
    }
    const PackedHoa* block(std::uint32_t i, std::uint32_t version = 0) {
        const PackedHoa* b = arena.pack(*snapshot(hoa(i), version));
        blocks.push_back(b);
        return b;
    }
    const PackedHoa* find(std::uint32_t i, std::uint32_t signature) const {
        return index->find(hoa(i).bytes.data(), signature);
    }
    std::uint32_t insert(std::uint32_t signature, const PackedHoa* b) {
        std::uint32_t slot = ~0u;
        EXPECT_TRUE(index->insert(signature, b, slot));
        return slot;
    }

    dp::SnapshotArena arena;
    std::vector<const PackedHoa*> blocks;
    std::unique_ptr<HoaIndex> index;
};

TEST_F(IndexTest, SizedForHalfLoadAndPackedHoaCarriesItsKey) {
    // 64 keys at <= 50% of 7-entry buckets: at least 19 buckets, a power of two.
    EXPECT_EQ(index->bucket_count(), 32u);
    EXPECT_EQ(index->bytes(), 32u * 64u);
    const PackedHoa* b = block(7);
    EXPECT_EQ(b->home_address, hoa(7));
    EXPECT_TRUE(HoaIndex::fits(b));
}

TEST_F(IndexTest, InsertReplaceEraseFind) {
    const PackedHoa* v0 = block(1, 0);
    const PackedHoa* v1 = block(1, 1);
    EXPECT_EQ(find(1, 0x12345678), nullptr);
    std::uint32_t slot = insert(0x12345678, v0);
    EXPECT_EQ(find(1, 0x12345678), v0);
    EXPECT_EQ(find(2, 0x12345678), nullptr) << "same signature, other key";
    index->replace(slot, 0x12345678, v1);
    EXPECT_EQ(find(1, 0x12345678), v1);
    index->erase(slot, 0x12345678);
    EXPECT_EQ(find(1, 0x12345678), nullptr);
    // The slot is free again.
    EXPECT_EQ(insert(0x12345678, v0), slot);
    EXPECT_EQ(find(1, 0x12345678), v0);
}

TEST_F(IndexTest, CollidingTagsNeverAnswerAnotherKey) {
    // Same bucket and same tag: the key in the block decides.
    const std::uint32_t sig = 0xabcd0003;
    for (std::uint32_t i = 0; i < 5; ++i) insert(sig, block(i));
    for (std::uint32_t i = 0; i < 5; ++i) {
        const PackedHoa* b = find(i, sig);
        ASSERT_NE(b, nullptr) << i;
        EXPECT_EQ(b->home_address, hoa(i));
    }
    EXPECT_EQ(find(99, sig), nullptr);
    // Same bucket, other tag: not even compared, and not found.
    EXPECT_EQ(find(0, 0xabce0003), nullptr);
}

TEST_F(IndexTest, FullBucketsProbeOnAndWrapAround) {
    // 20 keys homed in the last bucket: 7 there, the rest in buckets 0 and 1 (wrapping).
    const std::uint32_t last = index->bucket_count() - 1;
    std::vector<std::uint32_t> slots;
    for (std::uint32_t i = 0; i < 20; ++i)
        slots.push_back(insert((i << 16) | last, block(i)));  // distinct tags
    EXPECT_EQ(index->displaced(), 13u);
    EXPECT_EQ(slots[7] / HoaIndex::kEntriesPerBucket, 0u);
    EXPECT_EQ(slots[19] / HoaIndex::kEntriesPerBucket, 1u);
    // A key homed in bucket 0 goes after the displaced ones, and is found there.
    std::uint32_t own = insert(0x77770000, block(100));
    EXPECT_EQ(own / HoaIndex::kEntriesPerBucket, 1u);
    EXPECT_EQ(find(100, 0x77770000)->home_address, hoa(100));
    for (std::uint32_t i = 0; i < 20; ++i) ASSERT_EQ(find(i, (i << 16) | last), blocks[i]) << i;
    // Removing keys from the home bucket keeps the displaced ones reachable.
    for (std::uint32_t i = 0; i < 7; ++i) index->erase(slots[i], (i << 16) | last);
    for (std::uint32_t i = 7; i < 20; ++i) ASSERT_EQ(find(i, (i << 16) | last), blocks[i]) << i;
    for (std::uint32_t i = 0; i < 7; ++i) EXPECT_EQ(find(i, (i << 16) | last), nullptr);
    // Removing the displaced ones resets the overflow word; the keys are gone.
    for (std::uint32_t i = 7; i < 20; ++i) index->erase(slots[i], (i << 16) | last);
    EXPECT_EQ(index->displaced(), 1u) << "the key homed in bucket 0";
    for (std::uint32_t i = 0; i < 20; ++i) EXPECT_EQ(find(i, (i << 16) | last), nullptr);
    EXPECT_EQ(find(100, 0x77770000)->home_address, hoa(100));
}

TEST_F(IndexTest, RefusesWhenEveryEntryIsTaken) {
    std::uint32_t entries = index->bucket_count() * HoaIndex::kEntriesPerBucket;
    std::uint32_t slot = 0;
    for (std::uint32_t i = 0; i < entries; ++i)
        ASSERT_TRUE(index->insert(i * 2654435761u, block(i), slot)) << i;
    EXPECT_FALSE(index->insert(0x1234, block(entries), slot));
    for (std::uint32_t i = 0; i < entries; ++i) ASSERT_EQ(find(i, i * 2654435761u), blocks[i]) << i;
}

// 32 and 64 keys: hits, misses, colliding tags and displaced keys, each as find() answers.
TEST_F(IndexTest, BulkLookupAgreesWithFind) {
    const std::uint32_t last = index->bucket_count() - 1;
    auto signature = [&](std::uint32_t i) -> std::uint32_t {
        if (i % 3 == 0) return 0x00420000 | last;  // one tag in one bucket: probing
        if (i % 3 == 1) return (i << 16) | 3;      // one bucket, distinct tags
        return i * 2654435761u;
    };
    for (std::uint32_t i = 0; i < 64; i += 2) insert(signature(i), block(i));  // even: present
    for (unsigned n : {32u, 64u}) {
        std::vector<Ipv6Address> keys;
        std::vector<const void*> pointers;
        std::vector<std::uint32_t> signatures;
        for (std::uint32_t i = 0; i < n; ++i) keys.push_back(hoa(i));
        for (std::uint32_t i = 0; i < n; ++i) {
            pointers.push_back(keys[i].bytes.data());
            signatures.push_back(signature(i));
        }
        std::uint64_t hits = 0;
        void* found[64];
        index->find_bulk(pointers.data(), signatures.data(), n, &hits, found);
        for (std::uint32_t i = 0; i < n; ++i) {
            bool hit = (hits >> i) & 1;
            EXPECT_EQ(hit, i % 2 == 0) << "key " << i << " of " << n;
            EXPECT_EQ(found[i], hit ? static_cast<const void*>(blocks[i / 2]) : nullptr) << i;
            EXPECT_EQ(found[i], static_cast<const void*>(find(i, signature(i)))) << i;
        }
        if (n == 64) {
            EXPECT_EQ(hits, 0x5555555555555555ull);
        }
    }
    EXPECT_GT(index->displaced(), 0u);
}

// One writer inserting, replacing and erasing keys that share a home bucket (so they spill
// into the next ones) while a reader looks them up: every answer holds the key asked for,
// and keys that are never removed are always found. Blocks are not freed before the end.
TEST_F(IndexTest, ReaderRacingTheWriterNeverSeesAnotherKey) {
    constexpr std::uint32_t kKeys = 24;
    constexpr std::uint32_t kVersions = 4;
    const std::uint32_t sig = 0x55550005;
    std::vector<const PackedHoa*> versions(kKeys * kVersions);
    for (std::uint32_t i = 0; i < kKeys; ++i)
        for (std::uint32_t v = 0; v < kVersions; ++v) versions[i * kVersions + v] = block(i, v);
    std::vector<std::uint32_t> slots(kKeys);
    // Keys 0..3 stay for the whole test (0 in the home bucket, 3 displaced after churn).
    for (std::uint32_t i = 0; i < 4; ++i) slots[i] = insert(sig, versions[i * kVersions]);
    std::atomic<bool> stop{false};
    std::atomic<std::uint64_t> wrong{0}, lost{0}, lookups{0};
    std::thread reader([&] {
        std::uint64_t n = 0;
        while (!stop.load(std::memory_order_relaxed)) {
            for (std::uint32_t i = 0; i < kKeys; ++i) {
                const PackedHoa* b = index->find(hoa(i).bytes.data(), sig);
                if (b && b->home_address != hoa(i)) wrong.fetch_add(1);
                if (!b && i < 4) lost.fetch_add(1);
            }
            const void* keys[kKeys];
            std::uint32_t sigs[kKeys];
            Ipv6Address addresses[kKeys];
            for (std::uint32_t i = 0; i < kKeys; ++i) {
                addresses[i] = hoa(i);
                keys[i] = addresses[i].bytes.data();
                sigs[i] = sig;
            }
            std::uint64_t hits = 0;
            void* found[kKeys];
            index->find_bulk(keys, sigs, kKeys, &hits, found);
            for (std::uint32_t i = 0; i < kKeys; ++i) {
                const auto* b = static_cast<const PackedHoa*>(found[i]);
                if (((hits >> i) & 1) != (b != nullptr)) wrong.fetch_add(1);
                if (b && b->home_address != hoa(i)) wrong.fetch_add(1);
                if (!b && i < 4) lost.fetch_add(1);
            }
            n += 2 * kKeys;
        }
        lookups.store(n);
    });
    std::vector<bool> present(kKeys, false);
    for (std::uint32_t i = 0; i < 4; ++i) present[i] = true;
    std::uint32_t state = 1;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(500);
    for (std::uint64_t round = 0; std::chrono::steady_clock::now() < deadline; ++round) {
        state = state * 1103515245 + 12345;
        std::uint32_t i = (state >> 8) % kKeys;
        const PackedHoa* next = versions[i * kVersions + (state >> 20) % kVersions];
        if (i < 4) {
            index->replace(slots[i], sig, next);
        } else if (present[i]) {
            index->erase(slots[i], sig);
            present[i] = false;
        } else {
            slots[i] = insert(sig, next);
            present[i] = true;
        }
    }
    stop.store(true);
    reader.join();
    EXPECT_EQ(wrong.load(), 0u);
    EXPECT_EQ(lost.load(), 0u);
    EXPECT_GT(lookups.load(), 1000u);
}

// Frees deferred blocks only when told to, like the RCU queue after a grace period.
class DeferringReclaimer : public dp::Reclaimer {
  public:
    void defer(FreeFn fn, void* object, std::uintptr_t arg) override {
        pending.push_back({fn, object, arg});
    }
    void reclaim_now() override {
        for (auto& p : pending) p.fn(p.object, p.arg);
        pending.clear();
    }
    struct Pending {
        FreeFn fn;
        void* object;
        std::uintptr_t arg;
    };
    std::vector<Pending> pending;
};

TEST(HoaTable, PublishReplaceWithdrawAndBulkLookup) {
    DeferringReclaimer reclaimer;
    std::string error;
    auto table = dp::HoaTable::create(100, reclaimer, error);
    ASSERT_TRUE(table) << error;
    for (std::uint32_t i = 0; i < 50; ++i) ASSERT_TRUE(table->publish(*snapshot(hoa(i), 1)));
    EXPECT_EQ(table->size(), 50u);
    ASSERT_TRUE(table->publish(*snapshot(hoa(7), 2)));
    EXPECT_EQ(table->size(), 50u);
    EXPECT_EQ(reclaimer.pending.size(), 1u) << "the replaced block waits for a grace period";
    EXPECT_EQ(table->lookup(hoa(7).bytes.data())->paths()[0].counter_slot, 2u);
    table->withdraw(hoa(8));
    EXPECT_EQ(table->lookup(hoa(8).bytes.data()), nullptr);
    EXPECT_EQ(table->size(), 49u);
    reclaimer.reclaim_now();

    const void* keys[64];
    std::uint32_t signatures[64];
    Ipv6Address addresses[64];
    for (std::uint32_t i = 0; i < 64; ++i) {
        addresses[i] = hoa(i * 2);  // 0..48 published (but 8), 50.. not
        keys[i] = addresses[i].bytes.data();
        signatures[i] = dp::HoaTable::signature(addresses[i].bytes.data());
    }
    std::uint64_t hits = 0, plain_hits = 0;
    void* found[64];
    void* plain[64];
    table->lookup_bulk(keys, signatures, 64, &hits, found);
    table->lookup_bulk(keys, 64, &plain_hits, plain);
    EXPECT_EQ(hits, plain_hits);
    for (std::uint32_t i = 0; i < 64; ++i) {
        bool expected = i * 2 < 50 && i * 2 != 8;
        ASSERT_EQ((hits >> i) & 1, expected ? 1u : 0u) << i;
        if (!expected) continue;
        const auto* b = static_cast<const PackedHoa*>(found[i]);
        EXPECT_EQ(b->home_address, addresses[i]);
        EXPECT_EQ(b->paths()[0].counter_slot, i * 2 == 7 ? 2u : 1u);
        EXPECT_EQ(plain[i], found[i]);
    }
}

TEST(HoaTable, RefusesBeyondItsCapacityButStillReplaces) {
    DeferringReclaimer reclaimer;
    std::string error;
    auto table = dp::HoaTable::create(16, reclaimer, error);
    ASSERT_TRUE(table) << error;
    for (std::uint32_t i = 0; i < 16; ++i) ASSERT_TRUE(table->publish(*snapshot(hoa(i), 1)));
    EXPECT_FALSE(table->publish(*snapshot(hoa(16), 1)));
    EXPECT_EQ(table->lookup(hoa(16).bytes.data()), nullptr);
    EXPECT_TRUE(table->publish(*snapshot(hoa(3), 2)));
    table->withdraw(hoa(0));
    EXPECT_TRUE(table->publish(*snapshot(hoa(16), 1)));
    EXPECT_EQ(table->size(), 16u);
    EXPECT_NE(table->lookup(hoa(16).bytes.data()), nullptr);
    reclaimer.reclaim_now();
}

}  // namespace
}  // namespace monami::test
