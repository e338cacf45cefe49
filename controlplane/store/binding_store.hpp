// The binding store: where committed home address state goes so that it survives a restart
// (docs/architecture.md, "Binding store"). The control thread hands it every change of an
// iteration and closes the batch; a writer thread of the backend commits batches in one
// transaction each (several queued batches in one, group commit), so the control thread
// never waits on a disk. Backends (LMDB here, etcd later) sit behind this interface and
// nothing of theirs leaks through it.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "controlplane/store/record.hpp"
#include "dataplane/api/result.hpp"

namespace monami::store {

enum class Durability : std::uint8_t {
    Sync,   // a batch counts as committed when it is on disk (the BAs wait for that)
    Async,  // committed when written; flushed to disk within the flush interval
};

// Everything a start reads back.
struct StoredState {
    std::vector<HoaRecord> hoas;
    std::vector<EspMarks> esp;
};

struct StoreStats {
    std::string backend;
    std::string location;       // the file, for a local backend
    std::uint64_t entries = 0;  // home addresses stored
    std::uint64_t commits = 0;  // transactions committed
    std::uint64_t batches = 0;  // batches closed by the control thread
    std::uint64_t records_written = 0;
    std::uint64_t records_removed = 0;
    std::uint64_t last_commit_unix_ms = 0;
    std::uint64_t last_commit_us = 0;  // how long the last transaction took, sync included
    std::uint64_t max_commit_us = 0;
    std::uint64_t bytes_on_disk = 0;
    std::uint64_t pending_batches = 0;  // closed, not yet durable
    std::uint64_t errors = 0;           // failed transactions (retried every second)
    std::string last_error;
    std::uint64_t backlog_records = 0;  // changes waiting for a failed commit's retry
    // Replicated backends only.
    std::string role;                   // "leader", "standby" ("" for a local store)
    std::string member;                 // this gateway's name in the group
    std::string leader;                 // the leader's name, as etcd has it ("" if none)
    std::int64_t revision = 0;          // the backend's revision this gateway's cache holds
    std::int64_t revision_seen = 0;     // the newest revision the backend has reported
    std::uint64_t lag_revisions = 0;    // a standby: revisions seen, not yet in its cache
    std::uint64_t lag_ms = 0;           // ... and for how long it has been behind
    std::string lease_state;            // "held" or "none" (not granted, or run out)
    std::uint64_t lease_left_ms = 0;    // until this gateway's lease could have expired
    std::int64_t answered_ms_ago = -1;  // since the backend last answered (-1: never)
    std::uint64_t fenced = 0;           // commits refused because another gateway leads
    std::uint64_t resynced = 0;         // refused changes read back as the group has them
    std::uint64_t resync_failures = 0;  // ... that could not be read back
};

// Replicated backends: what this gateway may do.
enum class Role : std::uint8_t {
    Standalone,  // a local store: always serves
    Leader,      // serves: the group's bindings are its to change
    Standby,     // silent: follows the leader's changes (take_changes)
};

// A change the leader committed, as a standby receives it.
struct Change {
    enum class Kind : std::uint8_t { PutHoa, RemoveHoa, PutEsp } kind = Kind::PutHoa;
    HoaRecord record;          // PutHoa
    HomeAddress home_address;  // RemoveHoa
    EspMarks marks;            // PutEsp
};

class BindingStore {
  public:
    virtual ~BindingStore() = default;
    // Reads everything back; called once, before the first change.
    [[nodiscard]] virtual Result<StoredState, std::string> load() = 0;
    // Changes of the batch being assembled (the last one for a key wins).
    virtual void put(const HoaRecord& record) = 0;
    virtual void remove(const HomeAddress& home_address) = 0;
    virtual void put(const EspMarks& marks) = 0;
    // Closes the batch being assembled and hands it to the writer; returns its number
    // (batches are numbered from 1; an empty batch is not handed over and keeps its number).
    virtual std::uint64_t close_batch() = 0;
    // The number the batch being assembled will get.
    virtual std::uint64_t open_batch() const = 0;
    // The highest batch number committed with the configured durability.
    virtual std::uint64_t durable_batch() const = 0;
    virtual StoreStats stats() const = 0;
    // Whether this gateway may serve now; a local store always may. A replicated backend
    // says Leader only once every change committed before its election is in take_changes()
    // and its lease cannot have expired.
    virtual Role role() const { return Role::Standalone; }
    // The changes other gateways committed since the last call, in order (a standby applies
    // them to stay warm; a new leader applies what is left before serving).
    virtual std::vector<Change> take_changes() { return {}; }
    // Why this gateway can no longer follow the group (empty while it can), e.g. the changes
    // it missed are gone from the backend's history: it neither serves nor campaigns, and
    // must start again, which reads the group's state afresh.
    virtual std::string cannot_follow() const { return {}; }
    // A clean stop (SIGTERM), once the gateway is silent: what was committed is written, then
    // a replicated backend gives its leadership up at once (a standby takes over now, not
    // when the lease runs out). Nothing is written after; the destructor does it too.
    virtual void resign() {}
};

struct LmdbOptions {
    std::string path;  // the database file (its lock file is PATH-lock)
    Durability durability = Durability::Sync;
    std::uint32_t flush_interval_ms = 100;  // async: the longest a commit waits for the disk
    std::uint64_t map_size_bytes = 4ull << 30;
    bool discard = false;  // start empty: what the file held is dropped
};

// Opens (or creates) the LMDB file. The error names the file and what is wrong with it.
[[nodiscard]] Result<std::unique_ptr<BindingStore>, std::string> open_lmdb_store(
    const LmdbOptions& options);

}  // namespace monami::store
