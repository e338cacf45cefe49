#include "controlplane/store/batching_store.hpp"

#include <pthread.h>

#include <string_view>
#include <unordered_map>

namespace monami::store {

namespace {

// How long a writer whose commit failed waits before it tries again (a full disk being
// cleared, an etcd member coming back).
constexpr auto kRetryAfter = std::chrono::seconds(1);

std::uint64_t unix_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

std::string key_of(const StoreOp& op) {
    std::string k(1, op.kind == StoreOp::Kind::PutEsp ? 'e' : 'h');
    if (op.kind == StoreOp::Kind::PutEsp) {
        k.append(reinterpret_cast<const char*>(&op.spi), sizeof op.spi);
        k.push_back(op.outbound ? 'o' : 'i');
    } else {
        k.append(op.home_address.bytes.begin(), op.home_address.bytes.end());
    }
    return k;
}

}  // namespace

void fold(Batch& into, Batch& later) {
    std::unordered_map<std::string, std::size_t> at;
    for (std::size_t i = 0; i < into.ops.size(); ++i) at.emplace(key_of(into.ops[i]), i);
    for (auto& op : later.ops) {
        auto [it, fresh] = at.emplace(key_of(op), into.ops.size());
        if (fresh)
            into.ops.push_back(std::move(op));
        else
            into.ops[it->second] = std::move(op);
    }
    into.number = later.number;
}

void BatchingStore::put(const HoaRecord& record) {
    current_.ops.push_back({StoreOp::Kind::PutHoa, record.home_address, 0, false, encode(record)});
}

void BatchingStore::remove(const HomeAddress& home_address) {
    current_.ops.push_back({StoreOp::Kind::RemoveHoa, home_address, 0, false, {}});
}

void BatchingStore::put(const EspMarks& marks) {
    current_.ops.push_back({StoreOp::Kind::PutEsp, {}, marks.spi, marks.outbound, encode(marks)});
}

std::uint64_t BatchingStore::close_batch() {
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

StoreStats BatchingStore::stats() const {
    std::lock_guard lock(mutex_);
    StoreStats s = counts_;
    s.batches = batches_;
    s.pending_batches = next_number_ - 1 - durable_.load(std::memory_order_acquire);
    add_stats(s);
    return s;
}

void BatchingStore::start_writer(const char* thread_name) {
    writer_ = std::thread([this] { run_writer(); });
    // Named, so top, perf and the bench can tell its CPU time from the control thread's.
    ::pthread_setname_np(writer_.native_handle(), thread_name);
}

void BatchingStore::stop_writer() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (writer_.joinable()) writer_.join();
}

void BatchingStore::run_writer() {
    using Clock = std::chrono::steady_clock;
    auto last_flush = Clock::now();
    bool unflushed = false;
    const auto flush_every = flush_interval();
    // What failed to commit, with every batch closed since, folded: committed in order and
    // whole once a retry succeeds, and only then counted durable.
    Batch backlog;
    auto retry_at = Clock::now();
    for (;;) {
        std::deque<Batch> work;
        {
            std::unique_lock lock(mutex_);
            auto ready = [&] { return stopping_ || !queued_.empty(); };
            if (!backlog.ops.empty())
                wake_.wait_until(lock, retry_at, [&] { return stopping_; });
            else if (flush_every.count() != 0 && unflushed)
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
            const auto started = Clock::now();
            CommitResult result = commit(work);
            const auto took = static_cast<std::uint64_t>(
                std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - started)
                    .count());
            std::lock_guard lock(mutex_);
            if (result.error && result.refused) {
                ++counts_.errors;
                counts_.last_error = *result.error;
                counts_.backlog_records = 0;
            } else if (result.error) {
                ++counts_.errors;
                counts_.last_error = *result.error;
                for (auto& batch : work) fold(backlog, batch);
                counts_.backlog_records = backlog.ops.size();
                retry_at = Clock::now() + kRetryAfter;
                if (stopping_) break;  // the last try at a stop failed: nothing more to do
            } else {
                durable_.store(work.back().number, std::memory_order_release);
                ++counts_.commits;
                counts_.records_written += result.written;
                counts_.records_removed += result.removed;
                counts_.last_commit_unix_ms = unix_ms();
                counts_.last_commit_us = took;
                counts_.max_commit_us = std::max(counts_.max_commit_us, took);
                counts_.backlog_records = 0;
                unflushed = flush_every.count() != 0;
            }
        }
        if (unflushed && Clock::now() - last_flush >= flush_every) {
            flush();
            unflushed = false;
            last_flush = Clock::now();
        }
    }
}

}  // namespace monami::store
