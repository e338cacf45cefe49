// What every backend of the binding store shares: the batch the control thread assembles,
// the hand-over to a writer thread, group commit (every queued batch in one commit), and
// retry after a failure with later batches folded in. A backend supplies only the commit
// of one batch (and, if it wants, a periodic flush); durable_batch() moves only when a
// commit succeeded, so a BA held for a batch never leaves for a change that was lost.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "controlplane/store/binding_store.hpp"

namespace monami::store {

struct StoreOp {
    enum class Kind : std::uint8_t { PutHoa, RemoveHoa, PutEsp } kind = Kind::PutHoa;
    HomeAddress home_address;         // PutHoa, RemoveHoa
    std::uint32_t spi = 0;            // PutEsp
    bool outbound = false;            // PutEsp
    std::vector<std::uint8_t> value;  // the encoded record (puts)
};

struct Batch {
    std::uint64_t number = 0;  // the last batch folded in
    std::vector<StoreOp> ops;
};

// `later` folded into `into`: one op per key, the last change of each, so a backlog kept
// while commits fail holds at most one record per home address and SA.
void fold(Batch& into, Batch& later);

class BatchingStore : public BindingStore {
  public:
    void put(const HoaRecord& record) override;
    void remove(const HomeAddress& home_address) override;
    void put(const EspMarks& marks) override;
    std::uint64_t close_batch() override;
    std::uint64_t open_batch() const override { return next_number_; }
    std::uint64_t durable_batch() const override {
        return durable_.load(std::memory_order_acquire);
    }
    StoreStats stats() const override;

  protected:
    struct CommitResult {
        std::uint64_t written = 0, removed = 0;
        std::optional<std::string> error;  // failed: retried with what follows folded in
        // Refused for good (a replicated backend that does not lead: the changes are not the
        // group's): dropped, never retried and never durable.
        bool refused = false;
    };
    // Every batch in `work` in one commit, in order.
    virtual CommitResult commit(const std::deque<Batch>& work) = 0;
    // Async durability: the longest a commit waits for flush() (zero: no flushing).
    virtual std::chrono::milliseconds flush_interval() const { return {}; }
    virtual void flush() {}
    // The backend's own figures (entries, size, ...), added to the shared ones.
    virtual void add_stats(StoreStats& stats) const = 0;

    // Backends call these around their lifetime: the writer runs between them.
    void start_writer(const char* thread_name);
    void stop_writer();
    // Counts what the control thread can read under the lock (writer side).
    mutable std::mutex mutex_;

  private:
    void run_writer();

    // Control thread only.
    Batch current_;
    std::uint64_t next_number_ = 1;
    // Shared with the writer (under mutex_).
    std::condition_variable wake_;
    std::deque<Batch> queued_;
    bool stopping_ = false;
    std::uint64_t batches_ = 0;
    StoreStats counts_;
    std::atomic<std::uint64_t> durable_{0};
    std::thread writer_;
};

}  // namespace monami::store
