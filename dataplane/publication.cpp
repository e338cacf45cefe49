// How dp::Runtime publishes forwarding state to the workers and frees what they may still
// read: the FIB (replaced whole), neighbors, HoA snapshots; the RCU QSBR variable the workers
// report quiescent states to, and the defer queue that frees replaced state after a grace
// period.
#include "dataplane/runtime.hpp"

#include <rte_errno.h>
#include <rte_malloc.h>

#include <string>

#include "dataplane/log.hpp"

namespace monami::dp {

namespace {

// One element of the RCU defer queue: what to call on what, once no worker can see it.
struct Deferred {
    Reclaimer::FreeFn fn;
    void* object;
    std::uintptr_t arg;
};

void run_deferred(void*, void* elements, unsigned int n) {
    auto* items = static_cast<Deferred*>(elements);
    for (unsigned i = 0; i < n; ++i) items[i].fn(items[i].object, items[i].arg);
}

void free_fib(void* object, std::uintptr_t) {
    delete static_cast<const Fib*>(object);
}

}  // namespace

bool Runtime::init_rcu(std::string& error) {
    std::size_t qsbr_size = rte_rcu_qsbr_get_memsize(static_cast<std::uint32_t>(workers_.size()));
    qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("monami_qsbr", qsbr_size, RTE_CACHE_LINE_SIZE));
    if (!qsbr_ || rte_rcu_qsbr_init(qsbr_, static_cast<std::uint32_t>(workers_.size())) != 0) {
        error = "cannot initialise the RCU QSBR variable";
        return false;
    }
    rte_rcu_qsbr_dq_parameters params{};
    params.name = "monami_dq";
    // Sized for a burst of updates between two control ticks; when full, defer() waits
    // for a grace period instead (counted).
    params.size = 65536;
    params.esize = sizeof(Deferred);
    params.trigger_reclaim_limit = 0;
    params.max_reclaim_size = kBurstSize * 8;
    params.free_fn = run_deferred;
    params.p = this;
    params.v = qsbr_;
    defer_queue_ = rte_rcu_qsbr_dq_create(&params);
    if (!defer_queue_) {
        error = std::string("cannot create the RCU defer queue: ") + rte_strerror(rte_errno);
        return false;
    }
    return true;
}

void Runtime::worker_online(WorkerCtx& w) {
    rte_rcu_qsbr_thread_register(qsbr_, w.index);
    rte_rcu_qsbr_thread_online(qsbr_, w.index);
}

void Runtime::worker_offline(WorkerCtx& w) {
    rte_rcu_qsbr_thread_offline(qsbr_, w.index);
    rte_rcu_qsbr_thread_unregister(qsbr_, w.index);
}

// Neighbors change in place; the LPM table is rebuilt only when routes or our addresses do.
void Runtime::publish_routing(const RoutingState& state) {
    neighbors_->sync(state.neighbors);
    const Fib* current = fib_.load(std::memory_order_relaxed);
    if (!current || !current->same_as(state)) {
        std::string error;
        auto fib = Fib::compile(state, error);
        if (!fib) {
            MONAMI_LOG(ERR, dp, "forwarding table not replaced: %s", error.c_str());
            return;
        }
        const Fib* old = fib_.exchange(fib.release(), std::memory_order_acq_rel);
        if (old) defer(free_fib, const_cast<Fib*>(old), 0);
        ++forwarding_table_builds_;
    }
    update_signalling_rules(state.local_addresses);
}

void Runtime::publish_neighbor(const Neighbor& neighbor) {
    neighbors_->set(neighbor);
}

void Runtime::defer(FreeFn fn, void* object, std::uintptr_t arg) {
    Deferred item{fn, object, arg};
    if (rte_rcu_qsbr_dq_enqueue(defer_queue_, &item) != 0) {
        // Defer queue full: wait for every worker to pass a quiescent point instead.
        rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);
        ++synchronous_reclaims_;
        fn(object, arg);
    }
}

void Runtime::reclaim_now() {
    rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);
    ++synchronous_reclaims_;
    rte_rcu_qsbr_dq_reclaim(defer_queue_, UINT32_MAX, nullptr, nullptr, nullptr);
}

void Runtime::publish_hoa(const HoaSnapshot& snapshot) {
    const HomeAddress& hoa = snapshot.home_address;
    if (!hoas_->publish(snapshot))
        MONAMI_LOG(ERR, dp, "home address table full: %s not published", hoa.to_string().c_str());
}

void Runtime::withdraw_hoa(const HomeAddress& home_address) {
    hoas_->withdraw(home_address);
}

void Runtime::reclaim() {
    rte_rcu_qsbr_dq_reclaim(defer_queue_, kBurstSize, nullptr, nullptr, nullptr);
}

}  // namespace monami::dp
