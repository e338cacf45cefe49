// LMDB backend of the binding store: one memory-mapped file, one writer (the store's own
// thread), crash-safe commits (copy-on-write B+tree, two meta pages). Databases: "hoa" (home
// address -> HoaRecord), "esp" (SPI and direction -> EspMarks), "meta" ("format" -> the record
// version). Sync durability is LMDB's default commit (fsync'd); async opens the file MDB_NOSYNC and
// flushes it every flush_interval_ms, so a crash of the box (not of the process: the map is
// the kernel's) loses at most that much.
#include <lmdb.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "controlplane/store/batching_store.hpp"

namespace monami::store {

namespace {

constexpr std::uint32_t kStoreFormat = kRecordVersion;

std::string lmdb_error(const std::string& path, const char* what, int rc) {
    return path + ": " + what + ": " + mdb_strerror(rc);
}

MDB_val as_val(const std::vector<std::uint8_t>& bytes) {
    return {bytes.size(), const_cast<std::uint8_t*>(bytes.data())};
}

// The "esp" database's key: the SPI (network order) and the direction.
std::vector<std::uint8_t> esp_key(std::uint32_t spi, bool outbound) {
    return {static_cast<std::uint8_t>(spi >> 24), static_cast<std::uint8_t>(spi >> 16),
            static_cast<std::uint8_t>(spi >> 8), static_cast<std::uint8_t>(spi),
            static_cast<std::uint8_t>(outbound ? 1 : 0)};
}

class LmdbStore final : public BatchingStore {
  public:
    explicit LmdbStore(LmdbOptions options) : options_(std::move(options)) {}
    ~LmdbStore() override {
        stop_writer();
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
        start_writer("monami-store");
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

  private:
    void add_stats(StoreStats& s) const override {
        s.backend = "lmdb";
        s.location = options_.path;
        s.entries = entries_;
        s.bytes_on_disk = bytes_on_disk_;
    }
    std::chrono::milliseconds flush_interval() const override {
        return options_.durability == Durability::Async
                   ? std::chrono::milliseconds(options_.flush_interval_ms)
                   : std::chrono::milliseconds(0);
    }
    void flush() override { mdb_env_sync(env_, 1); }

    void refresh_size_and_entries() {
        MDB_txn* txn = nullptr;
        if (mdb_txn_begin(env_, nullptr, MDB_RDONLY, &txn) == 0) {
            MDB_stat st{};
            if (mdb_stat(txn, hoa_db_, &st) == 0) {
                std::lock_guard lock(mutex_);
                entries_ = st.ms_entries;
            }
            mdb_txn_abort(txn);
        }
        struct stat file {};
        if (::stat(options_.path.c_str(), &file) == 0) {
            std::lock_guard lock(mutex_);
            bytes_on_disk_ = static_cast<std::uint64_t>(file.st_blocks) * 512;
        }
    }

    // Every queued batch in one transaction: the group commit.
    CommitResult commit(const std::deque<Batch>& work) override {
        CommitResult result;
        MDB_txn* txn = nullptr;
        int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
        for (const auto& batch : work)
            for (const auto& op : batch.ops) {
                if (rc) break;
                if (op.kind == StoreOp::Kind::RemoveHoa) {
                    MDB_val key{16, const_cast<std::uint8_t*>(op.home_address.bytes.data())};
                    rc = mdb_del(txn, hoa_db_, &key, nullptr);
                    if (rc == MDB_NOTFOUND) rc = 0;
                    ++result.removed;
                } else if (op.kind == StoreOp::Kind::PutHoa) {
                    MDB_val key{16, const_cast<std::uint8_t*>(op.home_address.bytes.data())};
                    MDB_val value = as_val(op.value);
                    rc = mdb_put(txn, hoa_db_, &key, &value, 0);
                    ++result.written;
                } else {
                    const auto k = esp_key(op.spi, op.outbound);
                    MDB_val key = as_val(k), value = as_val(op.value);
                    rc = mdb_put(txn, esp_db_, &key, &value, 0);
                    ++result.written;
                }
            }
        if (rc == 0) {
            rc = mdb_txn_commit(txn);
        } else if (txn) {
            mdb_txn_abort(txn);
        }
        if (rc) {
            result.error = lmdb_error(options_.path, "commit failed", rc) +
                           (rc == MDB_MAP_FULL ? " (raise state.map_size_mb)" : "");
            return result;
        }
        refresh_size_and_entries();
        return result;
    }

    LmdbOptions options_;
    MDB_env* env_ = nullptr;
    MDB_dbi hoa_db_ = 0, esp_db_ = 0, meta_db_ = 0;
    // Written by the writer, read by stats() (under mutex_).
    std::uint64_t entries_ = 0;
    std::uint64_t bytes_on_disk_ = 0;
};

}  // namespace

Result<std::unique_ptr<BindingStore>, std::string> open_lmdb_store(const LmdbOptions& options) {
    auto store = std::make_unique<LmdbStore>(options);
    if (auto error = store->open()) return Err{*error};
    return std::unique_ptr<BindingStore>(std::move(store));
}

}  // namespace monami::store
