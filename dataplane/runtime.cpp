#include "dataplane/runtime.hpp"

#include <rte_bus.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_prefetch.h>

#include <cstring>

#include "dataplane/log.hpp"

namespace monami::dp {

namespace {

void count_tx_full(rte_mbuf** pkts, std::uint16_t unsent, void* userdata) {
    auto* counter = static_cast<std::uint64_t*>(userdata);
    bump(*counter, unsent);
    for (std::uint16_t i = 0; i < unsent; ++i) rte_pktmbuf_free(pkts[i]);
}

void free_deferred_fibs(void*, void* elements, unsigned int n) {
    auto** fibs = static_cast<const Fib**>(elements);
    for (unsigned i = 0; i < n; ++i) delete fibs[i];
}

int worker_main(void* arg) {
    auto* w = static_cast<WorkerCtx*>(arg);
    w->runtime->worker_loop(*w);
    return 0;
}

std::string device_name(const std::string& device) { return device.substr(0, device.find(',')); }

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
        w->control_tx =
            rte_ring_create(name.c_str(), kControlTxRingSize, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (!w->control_tx) {
            error = std::string("cannot create ring ") + name + ": " + rte_strerror(rte_errno);
            return false;
        }
    }
    for (const auto& spec : settings.ports)
        if (!init_port(spec, error)) return false;
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

    std::size_t qsbr_size = rte_rcu_qsbr_get_memsize(static_cast<std::uint32_t>(workers_.size()));
    qsbr_ = static_cast<rte_rcu_qsbr*>(rte_zmalloc("monami_qsbr", qsbr_size, RTE_CACHE_LINE_SIZE));
    if (!qsbr_ || rte_rcu_qsbr_init(qsbr_, static_cast<std::uint32_t>(workers_.size())) != 0) {
        error = "cannot initialise the RCU QSBR variable";
        return false;
    }
    rte_rcu_qsbr_dq_parameters params{};
    params.name = "monami_dq";
    params.size = 4096;
    params.esize = sizeof(void*);
    params.trigger_reclaim_limit = 0;
    params.max_reclaim_size = kBurstSize;
    params.free_fn = free_deferred_fibs;
    params.p = this;
    params.v = qsbr_;
    defer_queue_ = rte_rcu_qsbr_dq_create(&params);
    if (!defer_queue_) {
        error = std::string("cannot create the RCU defer queue: ") + rte_strerror(rte_errno);
        return false;
    }
    return true;
}

bool Runtime::init_port(const PortSpec& spec, std::string& error) {
    std::string name = device_name(spec.device);
    PortId pid = 0;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &pid) != 0) {
        int rc = rte_dev_probe(spec.device.c_str());
        if (rc < 0) {
            error = "port '" + spec.name + "': cannot probe device '" + spec.device +
                    "': " + rte_strerror(-rc);
            return false;
        }
        if (rte_eth_dev_get_port_by_name(name.c_str(), &pid) != 0) {
            error = "port '" + spec.name + "': device '" + name + "' is not an ethdev";
            return false;
        }
    }
    rte_eth_dev_info info{};
    if (int rc = rte_eth_dev_info_get(pid, &info); rc != 0) {
        error = "port '" + spec.name + "': cannot read device info: " + rte_strerror(-rc);
        return false;
    }
    auto queues = static_cast<std::uint16_t>(workers_.size());
    if (info.max_rx_queues < queues || info.max_tx_queues < queues) {
        error = "port '" + spec.name + "': device offers " + std::to_string(info.max_rx_queues) +
                " RX / " + std::to_string(info.max_tx_queues) + " TX queues, " +
                std::to_string(queues) + " workers need one of each";
        return false;
    }
    rte_eth_conf conf{};
    if (queues > 1 && info.flow_type_rss_offloads != 0) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = RTE_ETH_RSS_IP & info.flow_type_rss_offloads;
        if (conf.rx_adv_conf.rss_conf.rss_hf != RTE_ETH_RSS_IP)
            MONAMI_LOG(INFO, dp, "port %s: RSS hash fields 0x%" PRIx64 " of 0x%" PRIx64 " requested",
                       spec.name.c_str(), conf.rx_adv_conf.rss_conf.rss_hf,
                       static_cast<std::uint64_t>(RTE_ETH_RSS_IP));
    }
    if (int rc = rte_eth_dev_configure(pid, queues, queues, &conf); rc != 0) {
        error = "port '" + spec.name + "': configure failed: " + rte_strerror(-rc);
        return false;
    }
    std::uint16_t rxd = 1024, txd = 1024;
    rte_eth_dev_adjust_nb_rx_tx_desc(pid, &rxd, &txd);
    int socket = rte_eth_dev_socket_id(pid);
    if (socket < 0) socket = static_cast<int>(rte_socket_id());
    for (std::uint16_t q = 0; q < queues; ++q) {
        if (int rc = rte_eth_rx_queue_setup(pid, q, rxd, static_cast<unsigned>(socket),
                                            &info.default_rxconf, pool_);
            rc != 0) {
            error = "port '" + spec.name + "': RX queue setup failed: " + rte_strerror(-rc);
            return false;
        }
        if (int rc = rte_eth_tx_queue_setup(pid, q, txd, static_cast<unsigned>(socket),
                                            &info.default_txconf);
            rc != 0) {
            error = "port '" + spec.name + "': TX queue setup failed: " + rte_strerror(-rc);
            return false;
        }
    }
    if (int rc = rte_eth_dev_set_mtu(pid, spec.mtu); rc != 0)
        MONAMI_LOG(WARNING, dp, "port %s: MTU %u not applied: %s", spec.name.c_str(), spec.mtu,
                   rte_strerror(-rc));
    MacAddress mac;
    if (spec.mac) {
        rte_ether_addr e;
        std::memcpy(e.addr_bytes, spec.mac->bytes.data(), 6);
        if (int rc = rte_eth_dev_default_mac_addr_set(pid, &e); rc != 0)
            MONAMI_LOG(INFO, dp, "port %s: device keeps its MAC (%s); promiscuous mode receives %s",
                       spec.name.c_str(), rte_strerror(-rc), spec.mac->to_string().c_str());
        mac = *spec.mac;
    } else {
        rte_ether_addr e;
        rte_eth_macaddr_get(pid, &e);
        mac = MacAddress::from_bytes(e.addr_bytes);
    }
    // Proxy ND and a configured MAC both need frames the device filter would drop.
    if (int rc = rte_eth_promiscuous_enable(pid); rc != 0 && rc != -ENOTSUP)
        MONAMI_LOG(WARNING, dp, "port %s: promiscuous mode: %s", spec.name.c_str(), rte_strerror(-rc));
    if (int rc = rte_eth_dev_start(pid); rc != 0) {
        error = "port '" + spec.name + "': start failed: " + rte_strerror(-rc);
        return false;
    }
    port_mac_[pid] = mac;
    std::memcpy(port_ether_[pid].addr_bytes, mac.bytes.data(), 6);
    ports_.push_back({spec.name, spec.device, pid, mac});
    MONAMI_LOG(INFO, dp, "port %s: %s as port %u, mac %s, %u queue pair(s)", spec.name.c_str(),
               spec.device.c_str(), pid, mac.to_string().c_str(), queues);
    return true;
}

Runtime::~Runtime() {
    stop();
    if (defer_queue_) rte_rcu_qsbr_dq_delete(defer_queue_);
    delete fib_.load();
    for (auto& w : workers_) {
        for (auto* b : w->tx_buffers) rte_free(b);
        rte_ring_free(w->control_tx);
    }
    rte_ring_free(control_ring_);
    rte_free(qsbr_);
    rte_mempool_free(pool_);
}

void Runtime::launch_workers() {
    if (one_lcore_) return;
    for (auto& w : workers_) rte_eal_remote_launch(worker_main, w.get(), w->lcore);
}

void Runtime::worker_loop(WorkerCtx& w) {
    rte_rcu_qsbr_thread_register(qsbr_, w.index);
    rte_rcu_qsbr_thread_online(qsbr_, w.index);
    while (!stopping_.load(std::memory_order_relaxed)) worker_iteration(w);
    rte_rcu_qsbr_thread_offline(qsbr_, w.index);
    rte_rcu_qsbr_thread_unregister(qsbr_, w.index);
    worker_iteration(w);  // last control frames, then everything buffered goes out
    drain(w);
}

void Runtime::worker_iteration(WorkerCtx& w) {
    const Fib* fib = fib_.load(std::memory_order_acquire);
    rte_mbuf* pkts[kBurstSize];
    for (const auto& port : ports_) {
        std::uint16_t n = rte_eth_rx_burst(port.id, static_cast<std::uint16_t>(w.index), pkts,
                                           kBurstSize);
        if (n == 0) continue;
        bump(w.counters.rx_packets, n);
        std::uint64_t bytes = 0;
        for (std::uint16_t i = 0; i < n; ++i) bytes += rte_pktmbuf_pkt_len(pkts[i]);
        bump(w.counters.rx_bytes, bytes);
        if (fib) {
            process_burst(w, *fib, pkts, n);
        } else {
            rte_pktmbuf_free_bulk(pkts, n);
            bump(w.counters.drops[static_cast<std::size_t>(DropReason::NoRoute)], n);
        }
    }
    unsigned n = rte_ring_sc_dequeue_burst(w.control_tx, reinterpret_cast<void**>(pkts),
                                           kBurstSize, nullptr);
    for (unsigned i = 0; i < n; ++i) transmit(w, pkts[i]->port, pkts[i]);
    bump(w.counters.control_tx, n);
    std::uint64_t now = rte_rdtsc();
    if (now >= w.next_drain_tsc) {
        drain(w);
        w.next_drain_tsc = now + drain_tsc_;
    }
    if (!one_lcore_) rte_rcu_qsbr_quiescent(qsbr_, w.index);
}

void Runtime::drain(WorkerCtx& w) {
    for (const auto& p : ports_)
        rte_eth_tx_buffer_flush(p.id, static_cast<std::uint16_t>(w.index), w.tx_buffers[p.id]);
}

void Runtime::transmit(WorkerCtx& w, PortId port, rte_mbuf* m) {
    bump(w.counters.tx_packets);
    bump(w.counters.tx_bytes, rte_pktmbuf_pkt_len(m));
    rte_eth_tx_buffer(port, static_cast<std::uint16_t>(w.index), w.tx_buffers[port], m);
}

void Runtime::punt(WorkerCtx& w, rte_mbuf* m, PuntReason reason) {
    m->hash.usr = static_cast<std::uint32_t>(reason);
    if (rte_ring_mp_enqueue(control_ring_, m) != 0) {
        rte_pktmbuf_free(m);
        bump(w.counters.drops[static_cast<std::size_t>(DropReason::ControlRingFull)]);
        return;
    }
    bump(w.counters.punted);
}

void Runtime::process_burst(WorkerCtx& w, const Fib& fib, rte_mbuf** pkts, std::uint16_t n) {
    std::uint8_t destinations[kBurstSize][16];
    std::int32_t next_hop_ids[kBurstSize];
    std::uint16_t routed[kBurstSize];
    unsigned k = 0;
    auto drop = [&](rte_mbuf* m, DropReason reason) {
        rte_pktmbuf_free(m);
        bump(w.counters.drops[static_cast<std::size_t>(reason)]);
    };
    for (unsigned i = 0; i < kPrefetchOffset && i < n; ++i)
        rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
    for (std::uint16_t i = 0; i < n; ++i) {
        if (i + kPrefetchOffset < n) rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetchOffset], void*));
        rte_mbuf* m = pkts[i];
        if (m->data_len < sizeof(rte_ether_hdr) + sizeof(rte_ipv6_hdr)) {
            drop(m, m->data_len >= sizeof(rte_ether_hdr) ? DropReason::Malformed : DropReason::NotIpv6);
            continue;
        }
        auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
        if (eth->ether_type != rte_cpu_to_be_16(RTE_ETHER_TYPE_IPV6)) {
            drop(m, DropReason::NotIpv6);
            continue;
        }
        bool multicast = rte_is_multicast_ether_addr(&eth->dst_addr);
        if (!multicast && !rte_is_same_ether_addr(&eth->dst_addr, &port_ether_[m->port])) {
            drop(m, DropReason::NotForUs);
            continue;
        }
        auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
        if ((rte_be_to_cpu_32(ip->vtc_flow) >> 28) != 6 ||
            sizeof(rte_ether_hdr) + sizeof(rte_ipv6_hdr) + rte_be_to_cpu_16(ip->payload_len) >
                rte_pktmbuf_pkt_len(m)) {
            drop(m, DropReason::Malformed);
            continue;
        }
        if (ip->dst_addr[0] == 0xff) {
            punt(w, m, PuntReason::Local);
            continue;
        }
        std::memcpy(destinations[k], ip->dst_addr, 16);
        routed[k++] = i;
    }
    if (k == 0) return;
    fib.lookup_bulk(destinations, next_hop_ids, k);
    for (unsigned j = 0; j < k; ++j) {
        rte_mbuf* m = pkts[routed[j]];
        if (next_hop_ids[j] < 0) {
            drop(m, DropReason::NoRoute);
            continue;
        }
        const NextHop& nh = fib.next_hop(next_hop_ids[j]);
        switch (nh.kind) {
            case NextHopKind::Local: punt(w, m, PuntReason::Local); break;
            case NextHopKind::Resolve: punt(w, m, PuntReason::NeedsResolution); break;
            case NextHopKind::Forward: {
                auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
                auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
                if (ip->hop_limits <= 1) {
                    punt(w, m, PuntReason::HopLimitExceeded);
                    break;
                }
                --ip->hop_limits;
                eth->dst_addr = nh.destination_mac;
                eth->src_addr = port_ether_[nh.port];
                bump(w.counters.forwarded);
                transmit(w, nh.port, m);
                break;
            }
        }
    }
}

unsigned Runtime::poll_control(const PuntHandler& handle) {
    if (one_lcore_) worker_iteration(*workers_[0]);
    rte_mbuf* pkts[kBurstSize];
    unsigned n = rte_ring_sc_dequeue_burst(control_ring_, reinterpret_cast<void**>(pkts),
                                           kBurstSize, nullptr);
    static thread_local std::vector<std::uint8_t> linear;
    for (unsigned i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        auto reason = static_cast<PuntReason>(m->hash.usr);
        std::uint32_t len = rte_pktmbuf_pkt_len(m);
        const std::uint8_t* data;
        if (rte_pktmbuf_is_contiguous(m)) {
            data = rte_pktmbuf_mtod(m, const std::uint8_t*);
        } else {
            linear.resize(len);
            data = static_cast<const std::uint8_t*>(rte_pktmbuf_read(m, 0, len, linear.data()));
        }
        handle(m->port, reason, std::span(data, len));
        rte_pktmbuf_free(m);
    }
    return n;
}

bool Runtime::send_frame(PortId port, std::span<const std::uint8_t> frame) {
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    if (!m) {
        control_tx_failures_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    char* d = rte_pktmbuf_append(m, static_cast<std::uint16_t>(frame.size()));
    if (!d || frame.size() > UINT16_MAX) {
        rte_pktmbuf_free(m);
        control_tx_failures_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    std::memcpy(d, frame.data(), frame.size());
    m->port = port;
    if (rte_ring_sp_enqueue(workers_[0]->control_tx, m) != 0) {
        rte_pktmbuf_free(m);
        control_tx_failures_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    return true;
}

void Runtime::publish_routing(const RoutingState& state) {
    std::string error;
    auto fib = Fib::compile(state, error);
    if (!fib) {
        MONAMI_LOG(ERR, dp, "forwarding table not replaced: %s", error.c_str());
        return;
    }
    const Fib* old = fib_.exchange(fib.release(), std::memory_order_acq_rel);
    if (!old) return;
    if (rte_rcu_qsbr_dq_enqueue(defer_queue_, &old) != 0) {
        // Defer queue full: wait for every worker to pass a quiescent point instead.
        rte_rcu_qsbr_synchronize(qsbr_, RTE_QSBR_THRID_INVALID);
        delete old;
    }
}

void Runtime::reclaim() {
    rte_rcu_qsbr_dq_reclaim(defer_queue_, kBurstSize, nullptr, nullptr, nullptr);
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
    for (const auto& p : ports_) {
        rte_eth_dev_stop(p.id);
        rte_eth_dev_close(p.id);
    }
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
    for (const auto& w : workers_) {
        const auto& c = w->counters;
        t.rx_packets += read_counter(c.rx_packets);
        t.rx_bytes += read_counter(c.rx_bytes);
        t.tx_packets += read_counter(c.tx_packets);
        t.tx_bytes += read_counter(c.tx_bytes);
        t.forwarded += read_counter(c.forwarded);
        t.punted += read_counter(c.punted);
        t.control_tx += read_counter(c.control_tx);
        t.encapsulated += read_counter(c.encapsulated);
        t.decapsulated += read_counter(c.decapsulated);
        for (std::size_t r = 0; r < kDropReasonCount; ++r) t.drops[r] += read_counter(c.drops[r]);
    }
    return t;
}

}  // namespace monami::dp
