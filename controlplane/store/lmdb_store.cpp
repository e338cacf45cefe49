// LMDB backend of the binding store: one memory-mapped file, one writer (the store's own
// thread), crash-safe commits (copy-on-write B+tree, two meta pages). Databases: "hoa" (home
// address -> HoaRecord), "esp" (SPI and direction -> EspMarks), "meta" ("format" -> the record
// version). Sync durability is LMDB's default commit (fsync'd); async opens the file MDB_NOSYNC and
// flushes it every flush_interval_ms, so a crash of the box (not of the process: the map is
// the kernel's) loses at most that much.
#include <lmdb.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "controlplane/store/binding_store.hpp"

namespace monami::store {

namespace {

constexpr std::uint32_t kStoreFormat = kRecordVersion;

std::uint64_t unix_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

std::string lmdb_error(const std::string& path, const char* what, int rc) {
    return path + ": " + what + ": " + mdb_strerror(rc);
}

struct Op {
    enum class Kind : std::uint8_t { PutHoa, RemoveHoa, PutEsp } kind;
    std::vector<std::uint8_t> key;
    std::vector<std::uint8_t> value;
};

struct Batch {
    std::uint64_t number = 0;
    std::vector<Op> ops;
};

// How long a writer whose commit failed waits before it tries again (a full disk being
// cleared, for example).
constexpr auto kRetryAfter = std::chrono::seconds(1);

// `later` folded into `into`: one op per key, the last change of each, so a backlog kept
// while commits fail holds at most one record per home address and SA.
void fold(Batch& into, Batch& later) {
    std::unordered_map<std::string, std::size_t> at;
    auto id = [](const Op& op) {
        std::string k(1, op.kind == Op::Kind::PutEsp ? 'e' : 'h');
        k.append(op.key.begin(), op.key.end());
        return k;
    };
    for (std::size_t i = 0; i < into.ops.size(); ++i) at.emplace(id(into.ops[i]), i);
    for (auto& op : later.ops) {
        auto [it, fresh] = at.emplace(id(op), into.ops.size());
        if (fresh)
            into.ops.push_back(std::move(op));
        else
            into.ops[it->second] = std::move(op);
    }
    into.number = later.number;
}

MDB_val as_val(const std::vector<std::uint8_t>& bytes) {
    return {bytes.size(), const_cast<std::uint8_t*>(bytes.data())};
}

class LmdbStore final : public BindingStore {
  public:
    explicit LmdbStore(LmdbOptions options) : options_(std::move(options)) {}
    ~LmdbStore() override {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_all();
        if (writer_.joinable()) writer_.join();
        if (env_) {
            if (options_.durability == Durability::Async) mdb_env_sync(env_, 1);
            mdb_env_close(env_);
        }
    }

    std::optional<std::string> open() {
        if (options_.discard) {
            // Whatever the file held (even if it no longer opens) is dropped.
            ::unlink(options_.path.c_str());
            ::unlink((options_.path + "-lock").c_str());
        }
        int rc = mdb_env_create(&env_);
        if (rc) return lmdb_error(options_.path, "cannot create the environment", rc);
        mdb_env_set_maxdbs(env_, 4);
        rc = mdb_env_set_mapsize(env_, options_.map_size_bytes);
        if (rc) return lmdb_error(options_.path, "map size", rc);
        unsigned flags = MDB_NOSUBDIR | MDB_NOTLS;
        if (options_.durability == Durability::Async) flags |= MDB_NOSYNC;
        rc = mdb_env_open(env_, options_.path.c_str(), flags, 0640);
        if (rc) {
            mdb_env_close(env_);
            env_ = nullptr;
            return lmdb_error(options_.path,
                              "cannot open the binding store (use --discard-state to start empty)",
                              rc);
        }
        MDB_txn* txn = nullptr;
        rc = mdb_txn_begin(env_, nullptr, 0, &txn);
        if (rc) return lmdb_error(options_.path, "cannot begin a transaction", rc);
        if ((rc = mdb_dbi_open(txn, "hoa", MDB_CREATE, &hoa_db_)) ||
            (rc = mdb_dbi_open(txn, "esp", MDB_CREATE, &esp_db_)) ||
            (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &meta_db_))) {
            mdb_txn_abort(txn);
            return lmdb_error(options_.path, "cannot open its databases", rc);
        }
        // The format this file was written in: absent in a new file, which gets ours.
        std::string format_key = "format";
        MDB_val key{format_key.size(), format_key.data()}, value{};
        rc = mdb_get(txn, meta_db_, &key, &value);
        if (rc == MDB_NOTFOUND) {
            std::uint8_t ours[4] = {0, 0, 0, kStoreFormat};
            MDB_val v{sizeof ours, ours};
            rc = mdb_put(txn, meta_db_, &key, &v, 0);
        } else if (rc == 0) {
            const auto* p = static_cast<const std::uint8_t*>(value.mv_data);
            const std::uint32_t found = value.mv_size == 4 ? std::uint32_t{p[0]} << 24 |
                                                                 std::uint32_t{p[1]} << 16 |
                                                                 std::uint32_t{p[2]} << 8 | p[3]
                                                           : 0;
            if (found != kStoreFormat) {
                mdb_txn_abort(txn);
                return options_.path + ": binding store format " + std::to_string(found) +
                       ", this build reads format " + std::to_string(kStoreFormat) +
                       " (use --discard-state to start empty)";
            }
        }
        if (rc) {
            mdb_txn_abort(txn);
            return lmdb_error(options_.path, "cannot read its format", rc);
        }
        rc = mdb_txn_commit(txn);
        if (rc) return lmdb_error(options_.path, "cannot commit", rc);
        refresh_size_and_entries();
        writer_ = std::thread([this] { run_writer(); });
        // Named, so top, perf and the bench can tell its CPU time from the control thread's.
        ::pthread_setname_np(writer_.native_handle(), "monami-store");
        return std::nullopt;
    }

    Result<StoredState, std::string> load() override {
        StoredState state;
        MDB_txn* txn = nullptr;
        int rc = mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn);
        if (rc) return Err{lmdb_error(options_.path, "cannot begin a read transaction", rc)};
        std::optional<std::string> error;
        auto walk = [&](MDB_dbi db, auto&& each) {
            MDB_cursor* cursor = nullptr;
            int c = mdb_cursor_open(txn, db, &cursor);
            if (c) {
                error = lmdb_error(options_.path, "cannot open a cursor", c);
                return;
            }
            MDB_val key, value;
            for (c = mdb_cursor_get(cursor, &key, &value, MDB_FIRST); c == 0 && !error;
                 c = mdb_cursor_get(cursor, &key, &value, MDB_NEXT))
                each(std::span(static_cast<const std::uint8_t*>(key.mv_data), key.mv_size),
                     std::span(static_cast<const std::uint8_t*>(value.mv_data), value.mv_size));
            if (!error && c != MDB_NOTFOUND) error = lmdb_error(options_.path, "cannot read", c);
            mdb_cursor_close(cursor);
        };
        walk(hoa_db_, [&](auto key, auto value) {
            auto record = decode_hoa(value);
            if (!record || key.size() != 16 ||
                !std::equal(key.begin(), key.end(), record->home_address.bytes.begin())) {
                Ipv6Address named;
                if (key.size() == 16) std::copy(key.begin(), key.end(), named.bytes.begin());
                error = options_.path + ": the record of home address " + named.to_string() +
                        " is damaged: " +
                        std::string(record ? "its key names another address"
                                           : to_string(record.error())) +
                        " (use --discard-state to start empty)";
                return;
            }
            state.hoas.push_back(std::move(*record));
        });
        if (!error)
            walk(esp_db_, [&](auto, auto value) {
                auto marks = decode_esp(value);
                if (!marks) {
                    error = options_.path + ": an ESP sequence record is damaged: " +
                            std::string(to_string(marks.error())) +
                            " (use --discard-state to start empty)";
                    return;
                }
                state.esp.push_back(*marks);
            });
        mdb_txn_abort(txn);
        if (error) return Err{*error};
        return state;
    }

    void put(const HoaRecord& record) override {
        current_.ops.push_back(
            {Op::Kind::PutHoa,
             {record.home_address.bytes.begin(), record.home_address.bytes.end()},
             encode(record)});
    }
    void remove(const HomeAddress& home_address) override {
        current_.ops.push_back(
            {Op::Kind::RemoveHoa, {home_address.bytes.begin(), home_address.bytes.end()}, {}});
    }
    void put(const EspMarks& marks) override {
        std::vector<std::uint8_t> key = {
            static_cast<std::uint8_t>(marks.spi >> 24), static_cast<std::uint8_t>(marks.spi >> 16),
            static_cast<std::uint8_t>(marks.spi >> 8), static_cast<std::uint8_t>(marks.spi),
            static_cast<std::uint8_t>(marks.outbound ? 1 : 0)};
        current_.ops.push_back({Op::Kind::PutEsp, std::move(key), encode(marks)});
    }

    std::uint64_t close_batch() override {
        if (current_.ops.empty()) return next_number_ - 1;
        current_.number = next_number_++;
        const std::uint64_t number = current_.number;
        {
            std::lock_guard lock(mutex_);
            queued_.push_back(std::move(current_));
            ++batches_;
        }
        current_ = {};
        wake_.notify_one();
        return number;
    }
    std::uint64_t open_batch() const override { return next_number_; }
    std::uint64_t durable_batch() const override {
        return durable_.load(std::memory_order_acquire);
    }

    StoreStats stats() const override {
        std::lock_guard lock(mutex_);
        StoreStats s = stats_;
        s.backend = "lmdb";
        s.location = options_.path;
        s.batches = batches_;
        s.pending_batches = next_number_ - 1 - durable_.load(std::memory_order_acquire);
        return s;
    }

  private:
    void refresh_size_and_entries() {
        MDB_txn* txn = nullptr;
        if (mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) == 0) {
            MDB_stat st{};
            if (mdb_stat(txn, hoa_db_, &st) == 0) {
                std::lock_guard lock(mutex_);
                stats_.entries = st.ms_entries;
            }
            mdb_txn_abort(txn);
        }
        struct stat file {};
        if (::stat(options_.path.c_str(), &file) == 0) {
            std::lock_guard lock(mutex_);
            stats_.bytes_on_disk = static_cast<std::uint64_t>(file.st_blocks) * 512;
        }
    }

    void run_writer() {
        using Clock = std::chrono::steady_clock;
        auto last_flush = Clock::now();
        bool unflushed = false;
        const auto flush_every = std::chrono::milliseconds(options_.flush_interval_ms);
        // What failed to commit, with every batch closed since, folded: committed in order
        // and whole once a retry succeeds, and only then counted durable.
        Batch backlog;
        auto retry_at = Clock::now();
        for (;;) {
            std::deque<Batch> work;
            {
                std::unique_lock lock(mutex_);
                auto ready = [&] { return stopping_ || !queued_.empty(); };
                if (!backlog.ops.empty())
                    wake_.wait_until(lock, retry_at, [&] { return stopping_; });
                else if (options_.durability == Durability::Async && unflushed)
                    wake_.wait_until(lock, last_flush + flush_every, ready);
                else
                    wake_.wait(lock, ready);
                if (stopping_ && queued_.empty() && backlog.ops.empty()) break;
                work.swap(queued_);
            }
            if (!backlog.ops.empty()) {
                for (auto& batch : work) fold(backlog, batch);
                work.clear();
                work.push_back(std::move(backlog));
                backlog = {};
            }
            if (!work.empty()) {
                if (commit(work)) {
                    unflushed = options_.durability == Durability::Async;
                } else {
                    for (auto& batch : work) fold(backlog, batch);
                    retry_at = Clock::now() + kRetryAfter;
                    std::lock_guard lock(mutex_);
                    stats_.backlog_records = backlog.ops.size();
                    if (stopping_) break;  // the last try at a stop failed: nothing more to do
                }
            }
            if (unflushed && Clock::now() - last_flush >= flush_every) {
                mdb_env_sync(env_, 1);
                unflushed = false;
                last_flush = Clock::now();
            }
        }
    }

    // Every queued batch in one transaction: the group commit.
    bool commit(std::deque<Batch>& work) {
        const auto started = std::chrono::steady_clock::now();
        MDB_txn* txn = nullptr;
        int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
        std::uint64_t written = 0, removed = 0;
        for (auto& batch : work)
            for (auto& op : batch.ops) {
                if (rc) break;
                MDB_val key = as_val(op.key);
                if (op.kind == Op::Kind::RemoveHoa) {
                    rc = mdb_del(txn, hoa_db_, &key, nullptr);
                    if (rc == MDB_NOTFOUND) rc = 0;
                    ++removed;
                } else {
                    MDB_val value = as_val(op.value);
                    rc = mdb_put(txn, op.kind == Op::Kind::PutHoa ? hoa_db_ : esp_db_, &key, &value,
                                 0);
                    ++written;
                }
            }
        if (rc == 0) {
            rc = mdb_txn_commit(txn);
        } else if (txn) {
            mdb_txn_abort(txn);
        }
        const auto took = std::chrono::duration_cast<std::chrono::microseconds>(
                              std::chrono::steady_clock::now() - started)
                              .count();
        if (rc) {
            std::lock_guard lock(mutex_);
            ++stats_.errors;
            stats_.last_error = lmdb_error(options_.path, "commit failed", rc);
            return false;  // durable_ stays: BAs waiting on these batches stay unsent
        }
        durable_.store(work.back().number, std::memory_order_release);
        {
            std::lock_guard lock(mutex_);
            ++stats_.commits;
            stats_.records_written += written;
            stats_.records_removed += removed;
            stats_.last_commit_unix_ms = unix_ms();
            stats_.last_commit_us = static_cast<std::uint64_t>(took);
            stats_.max_commit_us = std::max(stats_.max_commit_us, stats_.last_commit_us);
            stats_.backlog_records = 0;
        }
        refresh_size_and_entries();
        return true;
    }

    LmdbOptions options_;
    MDB_env* env_ = nullptr;
    MDB_dbi hoa_db_ = 0, esp_db_ = 0, meta_db_ = 0;
    // Control thread only.
    Batch current_;
    std::uint64_t next_number_ = 1;
    // Shared with the writer.
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<Batch> queued_;
    bool stopping_ = false;
    std::uint64_t batches_ = 0;
    StoreStats stats_;
    std::atomic<std::uint64_t> durable_{0};
    std::thread writer_;
};

}  // namespace

Result<std::unique_ptr<BindingStore>, std::string> open_lmdb_store(const LmdbOptions& options) {
    auto store = std::make_unique<LmdbStore>(options);
    if (auto error = store->open()) return Err{*error};
    return std::unique_ptr<BindingStore>(std::move(store));
}

}  // namespace monami::store
