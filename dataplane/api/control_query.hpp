// Questions to the control thread from other threads (DPDK telemetry's), answered by the
// control thread itself between two of its iterations. Whatever the control thread owns
// (binding cache, neighbors, counters) is read where it lives, one bounded answer at a time,
// instead of being copied out on a schedule: a million bindings cost nothing until somebody
// asks for a page of them.
//
// The asking thread blocks (with a timeout) while the question waits; the control thread
// never blocks on it: it only try-locks the queue, and answers at most a few questions per
// iteration. Plain C++ (no DPDK), so the control plane's answers unit-test without an EAL.
#pragma once

#include <any>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace monami {

// An answer as DPDK telemetry shows it: a dictionary of numbers, strings and arrays of
// strings, in insertion order. `status` is 0 or a negative errno (-EINVAL: bad parameters).
struct QueryReply {
    using Value = std::variant<std::uint64_t, std::string, std::vector<std::string>>;
    struct Entry {
        std::string key;
        Value value;
    };
    std::vector<Entry> entries;
    int status = 0;

    void add(std::string key, std::uint64_t value) { entries.push_back({std::move(key), value}); }
    void add(std::string key, std::string value) {
        entries.push_back({std::move(key), std::move(value)});
    }
    void add(std::string key, std::vector<std::string> value) {
        entries.push_back({std::move(key), std::move(value)});
    }
    const Value* find(std::string_view key) const;
};

struct Query {
    std::string command;  // "/monami/bindings"
    std::string params;   // what followed the first comma, or empty
    // What the asking thread prepared for the control thread beyond text (a reload: the
    // configuration it read and validated, so the control thread only applies it).
    std::any payload{};
};

class ControlQueries {
  public:
    // Any thread but the control thread: waits until the control thread answered, or until
    // `timeout` passed while the question was still queued (false: not answered; the
    // control thread is stuck or gone). A question the control thread already took is
    // waited for to the end (its answers are bounded).
    bool ask(Query query, QueryReply& reply, std::chrono::milliseconds timeout);

    // Control thread: answers up to `max_answers` waiting questions with `answer(const
    // Query&, QueryReply&)`. Never blocks: when an asking thread holds the queue, the
    // questions wait for the next iteration. Returns how many were answered.
    template <class Answer>
    unsigned serve(Answer&& answer, unsigned max_answers = 4);

    // How many questions were answered, and how many gave up waiting.
    std::uint64_t answered() const { return answered_.load(std::memory_order_relaxed); }
    std::uint64_t timed_out() const { return timed_out_.load(std::memory_order_relaxed); }

  private:
    struct Pending {
        Query query;
        QueryReply* reply = nullptr;
        bool taken = false;
        bool done = false;
    };
    Pending* take();
    void finish(Pending* pending);

    std::mutex mutex_;
    std::condition_variable answered_cv_;
    std::deque<Pending*> queue_;
    std::atomic<unsigned> waiting_{0};  // queue_.size(), read without the lock
    std::atomic<std::uint64_t> answered_{0};
    std::atomic<std::uint64_t> timed_out_{0};
};

template <class Answer>
unsigned ControlQueries::serve(Answer&& answer, unsigned max_answers) {
    unsigned n = 0;
    while (n < max_answers && waiting_.load(std::memory_order_relaxed) != 0) {
        Pending* pending = take();
        if (!pending) break;
        answer(static_cast<const Query&>(pending->query), *pending->reply);
        finish(pending);
        ++n;
    }
    return n;
}

}  // namespace monami
