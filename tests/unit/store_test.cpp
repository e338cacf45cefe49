// The binding store: its record encoding (every field round-trips; damaged bytes are typed
// errors) and the LMDB backend on a real file (group commit, durability, reload, damage).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <csignal>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <lmdb.h>
#include "controlplane/store/binding_store.hpp"
#include "controlplane/store/record.hpp"

namespace monami {
namespace {

Ipv6Address addr(const char* text) {
    return *Ipv6Address::parse(text);
}

store::HoaRecord full_record() {
    store::HoaRecord r;
    r.home_address = addr("2001:db8:1::100");
    r.mn_id = {'m', 'n', '1', '@', 'e', 'x'};
    r.mobile_router = true;
    r.link_local_compat = true;
    r.last_sequence = 0xfffe;
    r.bindings = {
        {1, true, false, addr("2001:db8:a::100"), addr("2001:db8:1::1"), 7, 1'900'000'000'123ull},
        {2, true, true, addr("2001:db8:1::100"), addr("2001:db8:1::1"), 8, 42}};
    r.network_prefixes = {*Ipv6Prefix::parse("2001:db8:100::/48"),
                          *Ipv6Prefix::parse("2001:db8:200:1::/64")};
    mh::TrafficSelectorV6 v6;
    v6.source_address = mh::Range<Ipv6Address>{addr("2001:db8::1"), addr("2001:db8::9")};
    v6.destination_address =
        mh::Range<Ipv6Address>{addr("2001:db8:1::100"), addr("2001:db8:1::100")};
    v6.ipsec_spi = mh::Range<std::uint32_t>{0x100, 0x1ff};
    v6.flow_label = mh::Range<std::uint32_t>{0xabcde, 0xfffff};
    v6.source_port = mh::Range<std::uint16_t>{1024, 65535};
    v6.destination_port = mh::Range<std::uint16_t>{5060, 5060};
    v6.traffic_class = mh::Range<std::uint8_t>{46, 46};
    v6.next_header = mh::Range<std::uint8_t>{17, 17};
    mh::TrafficSelectorV4 v4;
    v4.source_address = mh::Range<std::array<std::uint8_t, 4>>{{10, 0, 0, 1}, {10, 0, 0, 9}};
    v4.destination_address = mh::Range<std::array<std::uint8_t, 4>>{{192, 0, 2, 1}, {192, 0, 2, 1}};
    v4.ipsec_spi = mh::Range<std::uint32_t>{7, 7};
    v4.source_port = mh::Range<std::uint16_t>{5000, 6000};
    v4.destination_port = mh::Range<std::uint16_t>{53, 53};
    v4.dscp = mh::Range<std::uint8_t>{46, 46};
    v4.protocol = mh::Range<std::uint8_t>{17, 17};
    r.flows = {{1, 10, {1, 2}, v6, 1'900'000'000'999ull}, {2, 20, {2}, v4, 5}};
    return r;
}

TEST(StoreRecord, EveryFieldRoundTrips) {
    const auto r = full_record();
    const auto bytes = store::encode(r);
    auto back = store::decode_hoa(bytes);
    ASSERT_TRUE(back.ok()) << store::to_string(back.error());
    EXPECT_EQ(*back, r);
    store::HoaRecord empty;
    auto empty_back = store::decode_hoa(store::encode(empty));
    ASSERT_TRUE(empty_back.ok());
    EXPECT_EQ(*empty_back, empty);
    store::EspMarks marks{0xdeadbeef, true, 1ull << 40};
    auto marks_back = store::decode_esp(store::encode(marks));
    ASSERT_TRUE(marks_back.ok());
    EXPECT_EQ(*marks_back, marks);
}

TEST(StoreRecord, DamageIsATypedError) {
    const auto bytes = store::encode(full_record());
    for (std::size_t n = 0; n < bytes.size(); ++n) {
        auto cut = store::decode_hoa(std::span(bytes.data(), n));
        ASSERT_FALSE(cut.ok()) << n;
        EXPECT_TRUE(cut.error() == store::RecordError::Truncated ||
                    cut.error() == store::RecordError::BadMagic ||
                    cut.error() == store::RecordError::BadValue)
            << n;
    }
    auto longer = bytes;
    longer.push_back(0);
    EXPECT_EQ(store::decode_hoa(longer).error(), store::RecordError::TrailingData);
    auto magic = bytes;
    magic[0] = 'X';
    EXPECT_EQ(store::decode_hoa(magic).error(), store::RecordError::BadMagic);
    auto version = bytes;
    version[2] = store::kRecordVersion + 1;
    EXPECT_EQ(store::decode_hoa(version).error(), store::RecordError::BadVersion);
    auto flags = bytes;
    flags[4 + 16] = 0x80;  // the HoA flags octet
    EXPECT_EQ(store::decode_hoa(flags).error(), store::RecordError::BadValue);
    // An ESP record is not a home address record.
    EXPECT_EQ(store::decode_hoa(store::encode(store::EspMarks{})).error(),
              store::RecordError::BadMagic);
}

// The fuzz corpus seeds (tests/fuzz/corpus/store) are written from the documented layout
// by hand: they decode, so the fuzzer starts from records that go deep.
TEST(StoreRecord, FuzzSeedsDecode) {
    auto read = [](const char* name) {
        std::ifstream f(std::string(MONAMI_SOURCE_ROOT) + "/tests/fuzz/corpus/store/" + name,
                        std::ios::binary);
        return std::vector<std::uint8_t>(std::istreambuf_iterator<char>(f), {});
    };
    auto hoa = store::decode_hoa(read("hoa_full"));
    ASSERT_TRUE(hoa.ok()) << store::to_string(hoa.error());
    EXPECT_EQ(hoa->bindings.size(), 2u);
    ASSERT_EQ(hoa->flows.size(), 1u);
    EXPECT_EQ(store::encode(*hoa), read("hoa_full"));
    auto esp = store::decode_esp(read("esp_marks"));
    ASSERT_TRUE(esp.ok());
    EXPECT_EQ(esp->spi, 0x1000u);
}

// A fresh file per test, removed afterwards (its lock file too).
class LmdbStoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        path_ = (std::filesystem::temp_directory_path() /
                 ("monami-store-" + std::to_string(::getpid()) + "-" +
                  ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                    .string();
        cleanup();
    }
    void TearDown() override { cleanup(); }
    void cleanup() {
        std::filesystem::remove(path_);
        std::filesystem::remove(path_ + "-lock");
    }
    std::unique_ptr<store::BindingStore> open(store::Durability d = store::Durability::Sync,
                                              bool discard = false) {
        store::LmdbOptions o;
        o.path = path_;
        o.durability = d;
        o.flush_interval_ms = 20;
        o.map_size_bytes = 64ull << 20;
        o.discard = discard;
        auto s = store::open_lmdb_store(o);
        EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error());
        return s.ok() ? std::move(s.value()) : nullptr;
    }
    static void wait_durable(const store::BindingStore& s, std::uint64_t batch) {
        for (int i = 0; i < 500 && s.durable_batch() < batch; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        ASSERT_GE(s.durable_batch(), batch);
    }
    std::string path_;
};

TEST_F(LmdbStoreTest, BatchesCommitAndReloadInEachDurability) {
    for (auto d : {store::Durability::Sync, store::Durability::Async}) {
        cleanup();
        {
            auto s = open(d);
            ASSERT_TRUE(s);
            auto loaded = s->load();
            ASSERT_TRUE(loaded.ok());
            EXPECT_TRUE(loaded->hoas.empty());
            EXPECT_EQ(s->close_batch(), 0u);  // nothing to commit: no batch
            auto r = full_record();
            s->put(r);
            r.home_address = addr("2001:db8:1::200");
            s->put(r);
            s->put(store::EspMarks{7, true, 100});
            s->put(store::EspMarks{7, false, 50});  // the same SPI, the other direction
            EXPECT_EQ(s->open_batch(), 1u);
            EXPECT_EQ(s->close_batch(), 1u);
            s->remove(addr("2001:db8:1::200"));  // the next batch removes one again
            r.home_address = addr("2001:db8:1::300");
            s->put(r);
            EXPECT_EQ(s->close_batch(), 2u);
            wait_durable(*s, 2);
            auto stats = s->stats();
            EXPECT_EQ(stats.backend, "lmdb");
            EXPECT_EQ(stats.entries, 2u);
            EXPECT_GE(stats.commits, 1u);
            EXPECT_EQ(stats.records_written, 5u);
            EXPECT_EQ(stats.records_removed, 1u);
            EXPECT_GT(stats.bytes_on_disk, 0u);
            EXPECT_EQ(stats.pending_batches, 0u);
        }
        auto s = open(d);
        ASSERT_TRUE(s);
        auto loaded = s->load();
        ASSERT_TRUE(loaded.ok()) << loaded.error();
        ASSERT_EQ(loaded->hoas.size(), 2u);
        EXPECT_EQ(loaded->hoas[0], full_record());
        EXPECT_EQ(loaded->hoas[1].home_address, addr("2001:db8:1::300"));
        ASSERT_EQ(loaded->esp.size(), 2u);
        EXPECT_EQ(loaded->esp[0], (store::EspMarks{7, false, 50}));
        EXPECT_EQ(loaded->esp[1], (store::EspMarks{7, true, 100}));
    }
}

TEST_F(LmdbStoreTest, DamagedFileIsAnErrorNamingItAndDiscardStartsEmpty) {
    {
        auto s = open();
        s->put(full_record());
        wait_durable(*s, s->close_batch());
    }
    // Not an LMDB file at all.
    {
        std::ofstream f(path_, std::ios::binary | std::ios::trunc);
        f << std::string(8192, 'x');
    }
    std::filesystem::remove(path_ + "-lock");
    store::LmdbOptions o;
    o.path = path_;
    o.map_size_bytes = 64ull << 20;
    auto bad = store::open_lmdb_store(o);
    ASSERT_FALSE(bad.ok());
    EXPECT_NE(bad.error().find(path_), std::string::npos) << bad.error();
    EXPECT_NE(bad.error().find("--discard-state"), std::string::npos) << bad.error();
    auto fresh = open(store::Durability::Sync, true);
    ASSERT_TRUE(fresh);
    auto loaded = fresh->load();
    ASSERT_TRUE(loaded.ok());
    EXPECT_TRUE(loaded->hoas.empty());
}

// A file that opens but holds a record that does not decode: load() names the file and the
// home address, never returns an empty state.
TEST_F(LmdbStoreTest, DamagedRecordIsAnErrorNamingTheHomeAddress) {
    {
        auto s = open();
        s->put(full_record());
        wait_durable(*s, s->close_batch());
    }
    {
        // Cut the stored record short, with LMDB itself (what a bad disk or tool could do).
        MDB_env* env = nullptr;
        ASSERT_EQ(mdb_env_create(&env), 0);
        mdb_env_set_maxdbs(env, 4);
        ASSERT_EQ(mdb_env_open(env, path_.c_str(), MDB_NOSUBDIR, 0640), 0);
        MDB_txn* txn = nullptr;
        ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
        MDB_dbi db;
        ASSERT_EQ(mdb_dbi_open(txn, "hoa", 0, &db), 0);
        auto hoa = addr("2001:db8:1::100");
        auto bytes = store::encode(full_record());
        MDB_val key{16, hoa.bytes.data()}, value{bytes.size() - 3, bytes.data()};
        ASSERT_EQ(mdb_put(txn, db, &key, &value, 0), 0);
        ASSERT_EQ(mdb_txn_commit(txn), 0);
        mdb_env_close(env);
    }
    auto s = open();
    ASSERT_TRUE(s);
    auto loaded = s->load();
    ASSERT_FALSE(loaded.ok());
    EXPECT_EQ(loaded.error(), path_ +
                                  ": the record of home address 2001:db8:1::100 is damaged: "
                                  "truncated record (use --discard-state to start empty)");
}

// A commit that fails (here the file may not grow: RLIMIT_FSIZE, as a full disk would) is
// retried every second with every batch closed since folded in, one record per key; nothing
// counts durable until the retry succeeds, and then everything does, last values winning.
TEST_F(LmdbStoreTest, FailedCommitsAreRetriedWithLaterBatchesFolded) {
    auto s = open();
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->load().ok());
    s->put(full_record());
    wait_durable(*s, s->close_batch());
    struct stat file {};
    ASSERT_EQ(::stat(path_.c_str(), &file), 0);
    rlimit old{};
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
    auto previous_handler = std::signal(SIGXFSZ, SIG_IGN);  // a write past it fails, EFBIG
    rlimit capped = old;
    capped.rlim_cur = static_cast<rlim_t>(file.st_size);
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &capped), 0);

    constexpr int kHoas = 300;
    auto batch_of = [&](std::uint64_t sequence) {
        for (int i = 0; i < kHoas; ++i) {
            auto r = full_record();
            r.home_address.bytes[14] = static_cast<std::uint8_t>(i >> 8);
            r.home_address.bytes[15] = static_cast<std::uint8_t>(i);
            r.last_sequence = static_cast<std::uint16_t>(sequence);
            s->put(r);
        }
        return s->close_batch();
    };
    auto wait_errors = [&](std::uint64_t n) {
        for (int i = 0; i < 500 && s->stats().errors < n; ++i)
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        ASSERT_GE(s->stats().errors, n);
    };
    const std::uint64_t first = batch_of(1);
    wait_errors(1);
    std::uint64_t last = first;
    for (std::uint64_t sequence = 2; sequence <= 10; ++sequence) last = batch_of(sequence);
    wait_errors(2);  // the retry, with the nine later batches folded in, fails again
    auto failing = s->stats();
    EXPECT_EQ(s->durable_batch(), first - 1);
    EXPECT_EQ(failing.backlog_records, static_cast<std::uint64_t>(kHoas));
    EXPECT_NE(failing.last_error.find(path_), std::string::npos) << failing.last_error;

    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old), 0);  // the disk has room again
    std::signal(SIGXFSZ, previous_handler);
    wait_durable(*s, last);
    EXPECT_EQ(s->stats().backlog_records, 0u);
    EXPECT_EQ(s->stats().entries, static_cast<std::uint64_t>(kHoas));  // one is the first record's
    s.reset();
    auto reopened = open();
    auto loaded = reopened->load();
    ASSERT_TRUE(loaded.ok()) << loaded.error();
    ASSERT_EQ(loaded->hoas.size(), static_cast<std::size_t>(kHoas));
    for (const auto& r : loaded->hoas) EXPECT_EQ(r.last_sequence, 10u);
}

}  // namespace
}  // namespace monami
