// dp::Runtime's construction, lifecycle and totals: the workers and their rings, the mbuf
// pools, TX buffers and per-binding counters; launching and stopping the workers. The rest of
// the class is defined by role: ports.cpp (ports, queues, signalling steering),
// packet_path.cpp (the worker's burst loop and its stages), control_channel.cpp (frames
// between the workers and the control thread), publication.cpp (forwarding state for the
// workers, RCU).
#include "dataplane/runtime.hpp"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_malloc.h>

#include <string>

namespace monami::dp {

namespace {

void count_tx_full(rte_mbuf** pkts, std::uint16_t unsent, void* userdata) {
    auto* counter = static_cast<std::uint64_t*>(userdata);
    bump(*counter, unsent);
    for (std::uint16_t i = 0; i < unsent; ++i) rte_pktmbuf_free(pkts[i]);
}

int worker_main(void* arg) {
    auto* w = static_cast<WorkerCtx*>(arg);
    w->runtime->worker_loop(*w);
    return 0;
}

}  // namespace

std::unique_ptr<Runtime> Runtime::create(const RuntimeSettings& settings, std::string& error) {
    std::unique_ptr<Runtime> rt(new Runtime());
    if (!rt->init(settings, error)) return nullptr;
    return rt;
}

bool Runtime::init(const RuntimeSettings& settings, std::string& error) {
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) {
        auto w = std::make_unique<WorkerCtx>();
        w->lcore = lcore;
        workers_.push_back(std::move(w));
    }
    if (workers_.empty()) {
        one_lcore_ = true;
        auto w = std::make_unique<WorkerCtx>();
        w->lcore = rte_get_main_lcore();
        workers_.push_back(std::move(w));
    }
    for (unsigned i = 0; i < workers_.size(); ++i) {
        workers_[i]->runtime = this;
        workers_[i]->index = i;
    }
    drain_tsc_ = (rte_get_tsc_hz() + 999999) / 1000000 * kTxDrainMicroseconds;

    int socket = static_cast<int>(rte_socket_id());
    pool_ = rte_pktmbuf_pool_create("monami_mbufs", settings.mbufs, settings.mbuf_cache, 0,
                                    RTE_MBUF_DEFAULT_BUF_SIZE, socket);
    if (!pool_) {
        error = std::string("cannot create the mbuf pool (") + std::to_string(settings.mbufs) +
                " mbufs): " + rte_strerror(rte_errno);
        return false;
    }
    control_ring_ = rte_ring_create("monami_punt", settings.control_ring, socket, RING_F_SC_DEQ);
    if (!control_ring_) {
        error = std::string("cannot create the control ring: ") + rte_strerror(rte_errno);
        return false;
    }
    for (auto& w : workers_) {
        std::string name = "monami_ctx" + std::to_string(w->index);
        w->control_tx = rte_ring_create(name.c_str(), kControlTxRingSize, socket,
                                        RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (!w->control_tx) {
            error = std::string("cannot create ring ") + name + ": " + rte_strerror(rte_errno);
            return false;
        }
    }
    rx_descriptors_ = settings.rx_descriptors;
    tx_descriptors_ = settings.tx_descriptors;
    for (const auto& spec : settings.ports)
        if (!init_port(spec, settings.steer_signalling, error)) return false;
    for (auto& w : workers_) {
        for (const auto& p : ports_) {
            auto* buf = static_cast<rte_eth_dev_tx_buffer*>(rte_zmalloc_socket(
                "monami_txbuf", RTE_ETH_TX_BUFFER_SIZE(kBurstSize), RTE_CACHE_LINE_SIZE, socket));
            if (!buf) {
                error = "cannot allocate TX buffers";
                return false;
            }
            rte_eth_tx_buffer_init(buf, kBurstSize);
            rte_eth_tx_buffer_set_err_callback(
                buf, count_tx_full,
                &w->counters.drops[static_cast<std::size_t>(DropReason::TxFull)]);
            w->tx_buffers[p.id] = buf;
        }
    }

    if (!init_rcu(error)) return false;
    hoas_ = HoaTable::create(settings.max_home_addresses, *this, error);
    if (!hoas_) return false;
    neighbors_ = NeighborTable::create(settings.max_neighbors, *this, error);
    if (!neighbors_) return false;
    clone_pool_ =
        rte_pktmbuf_pool_create("monami_clones", settings.mbufs, settings.mbuf_cache, 0, 0, socket);
    if (!clone_pool_) {
        error = std::string("cannot create the clone pool: ") + rte_strerror(rte_errno);
        return false;
    }
    max_paths_ = settings.max_paths;
    for (auto& w : workers_) {
        // From the EAL's memory (hugepages when it has them): a packet's counters are one
        // of its misses, and with 4 KB pages also a TLB miss.
        w->path_counters = static_cast<PathCounters*>(rte_zmalloc_socket(
            "monami_path_counters", std::size_t{max_paths_} * sizeof(PathCounters),
            RTE_CACHE_LINE_SIZE, socket));
        if (!w->path_counters) {
            error = "cannot allocate the per-binding counters (" + std::to_string(max_paths_) +
                    " slots)";
            return false;
        }
    }
    return true;
}

Runtime::~Runtime() {
    stop();
    // Pending frees first (the workers are stopped, so all are due): some free key slots of
    // the HoA table's hashes, which must still exist then.
    if (defer_queue_) rte_rcu_qsbr_dq_delete(defer_queue_);
    hoas_.reset();
    neighbors_.reset();
    delete fib_.load();
    for (auto& w : workers_) rte_free(w->path_counters);
    for (auto& w : workers_) {
        for (auto* b : w->tx_buffers) rte_free(b);
        rte_ring_free(w->control_tx);
    }
    rte_ring_free(control_ring_);
    rte_free(qsbr_);
    rte_mempool_free(clone_pool_);
    rte_mempool_free(pool_);
}

void Runtime::launch_workers() {
    if (one_lcore_) return;
    for (auto& w : workers_) rte_eal_remote_launch(worker_main, w.get(), w->lcore);
}

void Runtime::stop() {
    if (stopped_) return;
    stopped_ = true;
    stopping_.store(true);
    if (one_lcore_) {
        worker_iteration(*workers_[0]);
        drain(*workers_[0]);
    } else {
        rte_eal_mp_wait_lcore();
    }
    for (auto& p : ports_) {
        remove_signalling_rules(p.id, p.steering_flows);
        rte_eth_dev_stop(p.id);
        rte_eth_dev_close(p.id);
    }
}

PathCounters Runtime::path_counters(std::uint32_t slot) const {
    PathCounters sum;
    if (slot >= max_paths_) return sum;
    for (const auto& w : workers_) {
        const PathCounters& c = w->path_counters[slot];
        sum.packets += read_counter(c.packets);
        sum.bytes += read_counter(c.bytes);
        sum.reverse_packets += read_counter(c.reverse_packets);
        sum.reverse_bytes += read_counter(c.reverse_bytes);
    }
    return sum;
}

std::uint64_t Runtime::total_rx_packets() const {
    std::uint64_t sum = 0;
    for (const auto& w : workers_) sum += read_counter(w->counters.rx_packets);
    return sum;
}

bool Runtime::control_queues_empty() const {
    if (rte_ring_count(control_ring_) != 0) return false;
    for (const auto& w : workers_)
        if (rte_ring_count(w->control_tx) != 0) return false;
    return true;
}

WorkerCounters Runtime::totals() const {
    WorkerCounters t;
    for (const auto& w : workers_) t += read_counters(w->counters);
    return t;
}

}  // namespace monami::dp
