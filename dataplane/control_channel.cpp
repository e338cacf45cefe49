// The control thread's side of dp::Runtime: the frames the workers punted (poll_control),
// the signalling queues it polls itself, and the frames it sends or routes through a worker
// (send_frame, route_packet).
#include "dataplane/runtime.hpp"

#include <rte_ether.h>
#include <rte_ip.h>

#include <cstring>
#include <vector>

#include "dataplane/runtime_internal.hpp"

namespace monami::dp {

namespace {

void hand_to_control(rte_mbuf* m, PuntReason reason, std::uint16_t aux,
                     const Runtime::PuntHandler& handle) {
    static thread_local std::vector<std::uint8_t> linear;
    std::uint32_t len = rte_pktmbuf_pkt_len(m);
    const std::uint8_t* data;
    if (rte_pktmbuf_is_contiguous(m)) {
        data = rte_pktmbuf_mtod(m, const std::uint8_t*);
    } else {
        linear.resize(len);
        data = static_cast<const std::uint8_t*>(rte_pktmbuf_read(m, 0, len, linear.data()));
    }
    handle(m->port, reason, aux, std::span(data, len));
    rte_pktmbuf_free(m);
}

}  // namespace

unsigned Runtime::poll_control(const PuntHandler& handle) {
    if (one_lcore_) worker_iteration(*workers_[0]);
    rte_mbuf* pkts[kBurstSize];
    unsigned n = rte_ring_sc_dequeue_burst(control_ring_, reinterpret_cast<void**>(pkts),
                                           kBurstSize, nullptr);
    for (unsigned i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        hand_to_control(m, static_cast<PuntReason>(m->hash.usr & 0xff),
                        static_cast<std::uint16_t>(m->hash.usr >> 16), handle);
    }
    return n + poll_signalling_queues(handle);
}

// The control thread's own RX queues. What a rule steered there is what the workers' software
// classifier would punt as Local; the check below is that classifier's, because a driver may
// also hash other traffic onto the queue (net_tap does): such strays go to worker 0 as if
// received there.
unsigned Runtime::poll_signalling_queues(const PuntHandler& handle) {
    const Fib* fib = fib_.load(std::memory_order_acquire);
    unsigned total = 0;
    for (const auto& port : ports_) {
        if (port.signalling_queue < 0) continue;
        rte_mbuf* pkts[kBurstSize];
        std::uint16_t n = rte_eth_rx_burst(
            port.id, static_cast<std::uint16_t>(port.signalling_queue), pkts, kBurstSize);
        if (n == 0) continue;
        total += n;
        signalling_received_[port.id].fetch_add(n, std::memory_order_relaxed);
        if (!serving_.load(std::memory_order_relaxed)) {
            rte_pktmbuf_free_bulk(pkts, n);
            continue;
        }
        std::uint8_t destinations[kBurstSize][16] = {};
        std::int32_t next_hops[kBurstSize];
        for (std::uint16_t i = 0; i < n; ++i) {
            if (rte_pktmbuf_data_len(pkts[i]) >= sizeof(rte_ether_hdr) + sizeof(rte_ipv6_hdr))
                std::memcpy(destinations[i],
                            rte_pktmbuf_mtod_offset(pkts[i], rte_ipv6_hdr*, sizeof(rte_ether_hdr))
                                ->dst_addr,
                            16);
        }
        if (fib) fib->lookup_bulk(destinations, next_hops, n);
        for (std::uint16_t i = 0; i < n; ++i) {
            rte_mbuf* m = pkts[i];
            auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
            bool signalling = false;
            if (rte_pktmbuf_data_len(m) >= sizeof(rte_ether_hdr) + sizeof(rte_ipv6_hdr) &&
                eth->ether_type == network_order16(RTE_ETHER_TYPE_IPV6) &&
                (rte_is_multicast_ether_addr(&eth->dst_addr) ||
                 rte_is_same_ether_addr(&eth->dst_addr, &port_ether_[m->port]))) {
                auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
                signalling = ip->dst_addr[0] == 0xff ||
                             (fib && next_hops[i] >= 0 &&
                              fib->next_hop(next_hops[i]).kind == NextHopKind::Local &&
                              ip->proto != IPPROTO_IPV6);
            }
            if (signalling) {
                hand_to_control(m, PuntReason::Local, 0, handle);
                continue;
            }
            signalling_strays_[port.id].fetch_add(1, std::memory_order_relaxed);
            m->hash.usr = kProcessAsReceived;
            if (rte_ring_sp_enqueue(workers_[0]->control_tx, m) != 0) {
                rte_pktmbuf_free(m);
                control_tx_failures_.fetch_add(1, std::memory_order_relaxed);
            }
        }
    }
    return total;
}

bool Runtime::enqueue_control_frame(PortId port, std::span<const std::uint8_t> head,
                                    std::span<const std::uint8_t> body, bool route) {
    std::size_t length = head.size() + body.size();
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    char* d = m && length <= UINT16_MAX ? rte_pktmbuf_append(m, static_cast<std::uint16_t>(length))
                                        : nullptr;
    if (!d) {
        if (m) rte_pktmbuf_free(m);
        control_tx_failures_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    std::memcpy(d, head.data(), head.size());
    if (!body.empty()) std::memcpy(d + head.size(), body.data(), body.size());
    m->port = port;
    m->hash.usr = route ? kRouteThroughFastPath : 0;
    if (rte_ring_sp_enqueue(workers_[0]->control_tx, m) != 0) {
        rte_pktmbuf_free(m);
        control_tx_failures_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }
    return true;
}

bool Runtime::send_frame(PortId port, std::span<const std::uint8_t> frame) {
    if (!serving_.load(std::memory_order_relaxed)) return false;
    return enqueue_control_frame(port, frame, {}, false);
}

bool Runtime::route_packet(std::span<const std::uint8_t> ipv6_packet) {
    if (ports_.empty() || !serving_.load(std::memory_order_relaxed)) return false;
    // An Ethernet header addressed to the first port, so the classifier takes it as received.
    std::uint8_t ethernet[sizeof(rte_ether_hdr)];
    const PortState& p = ports_.front();
    std::memcpy(ethernet, p.mac.bytes.data(), 6);
    std::memcpy(ethernet + 6, p.mac.bytes.data(), 6);
    ethernet[12] = 0x86;
    ethernet[13] = 0xdd;
    return enqueue_control_frame(p.id, ethernet, ipv6_packet, true);
}

}  // namespace monami::dp
