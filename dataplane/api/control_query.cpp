#include "dataplane/api/control_query.hpp"

#include <algorithm>

namespace monami {

const QueryReply::Value* QueryReply::find(std::string_view key) const {
    for (const auto& e : entries)
        if (e.key == key) return &e.value;
    return nullptr;
}

bool ControlQueries::ask(Query query, QueryReply& reply, std::chrono::milliseconds timeout) {
    Pending pending{std::move(query), &reply};
    std::unique_lock lock(mutex_);
    queue_.push_back(&pending);
    waiting_.store(static_cast<unsigned>(queue_.size()), std::memory_order_relaxed);
    if (answered_cv_.wait_for(lock, timeout, [&] { return pending.done || pending.taken; })) {
        answered_cv_.wait(lock, [&] { return pending.done; });
        return true;
    }
    // Still queued: withdraw it, so the control thread never writes to a reply nobody owns.
    queue_.erase(std::find(queue_.begin(), queue_.end(), &pending));
    waiting_.store(static_cast<unsigned>(queue_.size()), std::memory_order_relaxed);
    timed_out_.fetch_add(1, std::memory_order_relaxed);
    return false;
}

ControlQueries::Pending* ControlQueries::take() {
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (!lock.owns_lock() || queue_.empty()) return nullptr;
    Pending* pending = queue_.front();
    queue_.pop_front();
    waiting_.store(static_cast<unsigned>(queue_.size()), std::memory_order_relaxed);
    pending->taken = true;
    return pending;
}

void ControlQueries::finish(Pending* pending) {
    {
        // The asker holds the lock only to queue, withdraw or wake: never for long.
        std::lock_guard lock(mutex_);
        pending->done = true;
    }
    answered_.fetch_add(1, std::memory_order_relaxed);
    answered_cv_.notify_all();
}

}  // namespace monami
