// The packet path: a worker's burst loop (worker_iteration) and its stages, in the order a
// packet meets them: receive, header checks and classification (process_burst), the HoA
// lookup and delivery to the mobile node (encapsulate_plain for the common case,
// deliver_to_mobile_node, send_on_path, send_copies for n-cast), routing (route_burst,
// forward), reverse tunnels (decapsulate_burst, route_decapsulated), punts to the control
// thread, transmit. What runs per packet is here, in one translation unit, so that the
// compiler can inline it.
#include "dataplane/runtime.hpp"

#include <rte_cycles.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <cstring>
#include <tuple>

#include "dataplane/runtime_internal.hpp"
#include "dataplane/stages/classify.hpp"

namespace monami::dp {

// What a burst's common cases count, added to the worker's counters once per burst
// (add_tally) instead of once per packet.
// Every packet counted here is also one transmitted (tx_packets).
struct BurstTally {
    std::uint64_t tx_bytes = 0;
    std::uint64_t encapsulated = 0;
    std::uint64_t forwarded = 0;
};

namespace {

void add_tally(WorkerCounters& counters, const BurstTally& tally) {
    if (tally.tx_bytes == 0) return;
    bump(counters.tx_packets, tally.encapsulated + tally.forwarded);
    bump(counters.tx_bytes, tally.tx_bytes);
    bump(counters.encapsulated, tally.encapsulated);
    bump(counters.forwarded, tally.forwarded);
}

// Runtime::transmit with the bytes in `tally` (the caller counts the packet there), and
// rte_eth_tx_buffer without its per-call overhead: the buffer is flushed when full, and what the
// port refuses is counted as tx_full by the buffer's callback.
inline void buffer_for_tx(WorkerCtx& w, PortId port, rte_mbuf* m, BurstTally& tally) {
    tally.tx_bytes += rte_pktmbuf_pkt_len(m);
    rte_eth_dev_tx_buffer* buffer = w.tx_buffers[port];
    buffer->pkts[buffer->length++] = m;
    if (buffer->length == buffer->size)
        rte_eth_tx_buffer_flush(port, static_cast<std::uint16_t>(w.index), buffer);
}

}  // namespace

void Runtime::worker_loop(WorkerCtx& w) {
    worker_online(w);
    while (!stopping_.load(std::memory_order_relaxed)) worker_iteration(w);
    worker_offline(w);
    worker_iteration(w);  // last control frames, then everything buffered goes out
    drain(w);
}

void Runtime::worker_iteration(WorkerCtx& w) {
    const std::uint64_t start = rte_rdtsc();
    bool received_any = false;
    const Fib* fib = fib_.load(std::memory_order_acquire);
    rte_mbuf* pkts[kBurstSize];
    for (const auto& port : ports_) {
        std::uint16_t n =
            rte_eth_rx_burst(port.id, static_cast<std::uint16_t>(w.index), pkts, kBurstSize);
        if (n == 0) continue;
        received_any = true;
        bump(w.counters.rx_packets, n);
        std::uint64_t bytes = 0;
        for (std::uint16_t i = 0; i < n; ++i) bytes += rte_pktmbuf_pkt_len(pkts[i]);
        bump(w.counters.rx_bytes, bytes);
        if (!serving_.load(std::memory_order_relaxed)) {
            rte_pktmbuf_free_bulk(pkts, n);
            bump(w.counters.drops[static_cast<std::size_t>(DropReason::Standby)], n);
        } else if (fib) {
            process_burst(w, *fib, pkts, n, true);
        } else {
            rte_pktmbuf_free_bulk(pkts, n);
            bump(w.counters.drops[static_cast<std::size_t>(DropReason::NoRoute)], n);
        }
    }
    unsigned n = rte_ring_sc_dequeue_burst(w.control_tx, reinterpret_cast<void**>(pkts), kBurstSize,
                                           nullptr);
    if (n != 0 && !serving_.load(std::memory_order_relaxed)) {
        // Queued before the gateway became a standby: it may not leave now.
        rte_pktmbuf_free_bulk(pkts, n);
        bump(w.counters.drops[static_cast<std::size_t>(DropReason::Standby)], n);
        n = 0;
    }
    rte_mbuf* routed[kBurstSize];
    rte_mbuf* received[kBurstSize];
    std::uint16_t r = 0, strays = 0;
    for (unsigned i = 0; i < n; ++i) {
        if (pkts[i]->hash.usr == kRouteThroughFastPath)
            routed[r++] = pkts[i];
        else if (pkts[i]->hash.usr == kProcessAsReceived)
            received[strays++] = pkts[i];
        else
            transmit(w, pkts[i]->port, pkts[i]);
    }
    bump(w.counters.control_tx, n - strays);
    if (strays != 0) {
        bump(w.counters.rx_packets, strays);
        std::uint64_t bytes = 0;
        for (std::uint16_t i = 0; i < strays; ++i) bytes += rte_pktmbuf_pkt_len(received[i]);
        bump(w.counters.rx_bytes, bytes);
    }
    for (auto [burst, count, decap] : {std::tuple{routed, r, false}, {received, strays, true}}) {
        if (count == 0) continue;
        if (fib)
            process_burst(w, *fib, burst, count, decap);
        else
            rte_pktmbuf_free_bulk(burst, count);
    }
    std::uint64_t now = rte_rdtsc();
    if (received_any) bump(w.counters.busy_cycles, now - start);
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

void Runtime::drop(WorkerCtx& w, rte_mbuf* m, DropReason reason) {
    rte_pktmbuf_free(m);
    bump(w.counters.drops[static_cast<std::size_t>(reason)]);
}

void Runtime::punt(WorkerCtx& w, rte_mbuf* m, PuntReason reason, std::uint16_t aux) {
    m->hash.usr = static_cast<std::uint32_t>(reason) | static_cast<std::uint32_t>(aux) << 16;
    if (rte_ring_mp_enqueue(control_ring_, m) != 0) {
        drop(w, m, DropReason::ControlRingFull);
        return;
    }
    bump(w.counters.punted);
}

inline void Runtime::forward(WorkerCtx& w, rte_mbuf* m, const NeighborTable::Entry& to,
                             BurstTally& tally) {
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
    if (ip->hop_limits <= 1) {
        punt(w, m, PuntReason::HopLimitExceeded);
        return;
    }
    --ip->hop_limits;
    eth->dst_addr = to.mac;
    eth->src_addr = port_ether_[to.port];
    ++tally.forwarded;
    buffer_for_tx(w, to.port, m, tally);
}

namespace {

constexpr unsigned kPathLookahead = 4;
// Paths whose lines are prefetched when the choice is not known in advance (flow rules,
// n-cast): two paths (two CoAs) is the common case.
constexpr unsigned kPrefetchedPaths = 2;
constexpr std::uint8_t kUnknownPath = 0xfe;  // rules or n-cast decide later

const PackedHoa* as_packed(void* data) {
    return static_cast<const PackedHoa*>(data);
}

void prefetch_path(const PackedHoa* snap, unsigned index) {
    const auto* path = reinterpret_cast<const std::uint8_t*>(snap->paths() + index);
    rte_prefetch0(path);
    rte_prefetch0(path + RTE_CACHE_LINE_SIZE);
}

// The path a packet of this flow takes when the snapshot's line 0 decides it alone (no
// rules, no n-cast), else kUnknownPath; prefetches that path's (or the first paths') lines.
std::uint8_t prefetch_chosen_path(const PackedHoa* snap, std::uint32_t hash) {
    if (snap->rule_count == 0 && snap->ncast_mask == 0) {
        std::uint8_t index = snap->default_choice(hash);
        if (index != kNoBinding) prefetch_path(snap, index);
        return index;
    }
    unsigned count = std::min<unsigned>(snap->path_count, kPrefetchedPaths);
    for (unsigned i = 0; i < count; ++i) prefetch_path(snap, i);
    return kUnknownPath;
}

// The second line of the first paths: what the ingress check reads (CoA, counter slot).
void prefetch_care_of_lines(const PackedHoa* snap) {
    unsigned count = std::min<unsigned>(snap->path_count, kPrefetchedPaths);
    for (unsigned i = 0; i < count; ++i)
        rte_prefetch0(reinterpret_cast<const std::uint8_t*>(snap->paths() + i) +
                      RTE_CACHE_LINE_SIZE);
}

// The counters of the first paths, where decapsulate bumps the CoA's (reverse_packets).
// Slots outside the counters (none, in practice) prefetch slot 0 instead: no branch.
inline void prefetch_line_counters(const WorkerCtx& w, const PackedHoa* snap,
                                   std::uint32_t max_paths) {
    for (unsigned i = 0; i < kLineCounterSlots; ++i) {
        std::uint32_t slot = snap->counter_slots[i];
        rte_prefetch0(&w.path_counters[slot < max_paths ? slot : 0]);
    }
}

// The flow hash of a packet to a HoA without rules (extract_fast_fields): computed while the
// snapshot is on its way, so that its line 0 gives the path to prefetch. Flattened: GCC kept
// fast_flow_hash a call (~10 instructions per packet of call overhead).
[[gnu::flatten]] inline std::uint32_t flow_hash_of(rte_mbuf* m) {
    return fast_flow_hash(rte_pktmbuf_mtod_offset(m, const std::uint8_t*, sizeof(rte_ether_hdr)),
                          rte_pktmbuf_data_len(m) - sizeof(rte_ether_hdr));
}

// The header copy of a plain tunnel path: two overlapping fixed-size copies cover any header
// length from kHeaderCopy to 2 * kHeaderCopy (54 and 62), without a length-dependent loop.
constexpr unsigned kHeaderCopy = 32;
static_assert(kMaxDeliveryHeader == 2 * kHeaderCopy && kPlainHeaderMin == kHeaderCopy);

// The common case of delivery, done in the burst loop: a path chosen by line 0 alone that is
// a plain tunnel (not native, not chained), an inner packet with hop limit left, no
// Tunnel Encapsulation Limit to honour (no Destination Options header), within the path's
// MTU, with headroom for the header. The outer header is prepended and the packet buffered
// for TX; counters as emit_on_path and transmit count them (the worker's in `tally`).
// False, with the packet untouched, when any of that does not hold: deliver_to_mobile_node
// then takes it from the start.
inline bool encapsulate_plain(WorkerCtx& w, rte_mbuf* m, const DeliveryPath& path,
                              BurstTally& tally) {
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, sizeof(rte_ether_hdr));
    unsigned header_length = path.plain_tunnel_length;  // 0 unless a plain tunnel
    unsigned extra = header_length - sizeof(rte_ether_hdr);
    unsigned inner_length = sizeof(rte_ipv6_hdr) + network_order16(ip->payload_len);
    if (header_length == 0 || ip->hop_limits <= 1 || ip->proto == IPPROTO_DSTOPTS ||
        inner_length > path.mtu || extra > rte_pktmbuf_headroom(m))
        return false;
    --ip->hop_limits;
    m->data_off = static_cast<std::uint16_t>(m->data_off - extra);
    m->data_len = static_cast<std::uint16_t>(m->data_len + extra);
    m->pkt_len += extra;
    auto* start = rte_pktmbuf_mtod(m, std::uint8_t*);
    std::memcpy(start, path.header, kHeaderCopy);
    std::memcpy(start + header_length - kHeaderCopy, path.header + header_length - kHeaderCopy,
                kHeaderCopy);
    auto* outer = reinterpret_cast<rte_ipv6_hdr*>(start + sizeof(rte_ether_hdr));
    outer->payload_len = network_order16(static_cast<std::uint16_t>(
        inner_length + header_length - sizeof(rte_ether_hdr) - sizeof(rte_ipv6_hdr)));
    PathCounters& pc = w.path_counters[path.counter_slot];
    bump(pc.packets);
    bump(pc.bytes, inner_length);
    ++tally.encapsulated;
    buffer_for_tx(w, path.port, m, tally);
    return true;
}

}  // namespace

void Runtime::prefetch_counters(WorkerCtx& w, const PackedHoa* snap, std::uint8_t chosen) const {
    if (chosen < snap->path_count) {
        std::uint32_t slot = snap->counter_slot(chosen);
        if (slot < max_paths_) rte_prefetch0(&w.path_counters[slot]);
        return;
    }
    if (chosen != kUnknownPath) return;
    unsigned count = std::min<unsigned>(snap->path_count, kPrefetchedPaths);
    for (unsigned i = 0; i < count; ++i)
        if (snap->counter_slots[i] < max_paths_)
            rte_prefetch0(&w.path_counters[snap->counter_slots[i]]);
}

namespace {

constexpr std::uint32_t kHeaders = sizeof(rte_ether_hdr) + sizeof(rte_ipv6_hdr);
// Bytes 12-15 of a frame as a little-endian word: EtherType, then the IPv6 version nibble.
constexpr std::uint32_t kTypeAndVersionMask = 0x00f0ffff;
constexpr std::uint32_t kIpv6TypeAndVersion = 0x0060dd86;

// Neighbor Discovery (RFC 4861: ICMPv6 133-137, hop limit 255, no extension header) never
// crosses a router: unicast, to a proxied home address (a neighbour's NUD probe) or to any
// other address, it is the control thread's to answer or ignore, not the mobile node's to
// receive through its tunnel, nor another link's.
bool is_neighbor_discovery(const rte_ipv6_hdr* ip, const rte_mbuf* m) {
    if (ip->proto != IPPROTO_ICMPV6 || ip->hop_limits != 255 || m->data_len <= kHeaders)
        return false;
    const std::uint8_t type = rte_pktmbuf_mtod(m, const std::uint8_t*)[kHeaders];
    return type >= 133 && type <= 137;
}

}  // namespace

bool Runtime::check_headers(WorkerCtx& w, rte_mbuf* m) {
    if (m->data_len < kHeaders) {
        drop(w, m,
             m->data_len >= sizeof(rte_ether_hdr) ? DropReason::Malformed : DropReason::NotIpv6);
        return false;
    }
    auto* eth = rte_pktmbuf_mtod(m, rte_ether_hdr*);
    if (eth->ether_type != network_order16(RTE_ETHER_TYPE_IPV6)) {
        drop(w, m, DropReason::NotIpv6);
        return false;
    }
    if (!rte_is_multicast_ether_addr(&eth->dst_addr) &&
        !rte_is_same_ether_addr(&eth->dst_addr, &port_ether_[m->port])) {
        drop(w, m, DropReason::NotForUs);
        return false;
    }
    auto* ip = reinterpret_cast<rte_ipv6_hdr*>(eth + 1);
    if ((rte_be_to_cpu_32(ip->vtc_flow) >> 28) != 6 ||
        kHeaders + network_order16(ip->payload_len) > rte_pktmbuf_pkt_len(m)) {
        drop(w, m, DropReason::Malformed);
        return false;
    }
    if (ip->dst_addr[0] == 0xff) {
        punt(w, m, PuntReason::Local);
        return false;
    }
    return true;
}

// The chosen path's lines and its counters (prefetch_chosen_path, prefetch_counters), in
// the burst loop without the calls. Returns the path as prefetch_chosen_path does.
inline std::uint8_t Runtime::prefetch_delivery(WorkerCtx& w, const PackedHoa* snap,
                                               std::uint32_t hash) const {
    if (snap->rule_count != 0 || snap->ncast_mask != 0) {
        std::uint8_t chosen = prefetch_chosen_path(snap, hash);
        prefetch_counters(w, snap, chosen);
        return chosen;
    }
    std::uint8_t index = snap->default_choice(hash);
    if (index < snap->path_count) {
        prefetch_path(snap, index);
        std::uint32_t slot = snap->counter_slot(index);
        if (slot < max_paths_) rte_prefetch0(&w.path_counters[slot]);
    }
    return index;
}

// Classify a burst: to a home address or mobile network prefix -> the MN's delivery paths;
// to us -> decapsulate reverse tunnels, punt the rest; otherwise route.
void Runtime::process_burst(WorkerCtx& w, const Fib& fib, rte_mbuf** pkts, std::uint16_t n,
                            bool allow_decap) {
    const void* keys[kBurstSize];
    hash_sig_t signatures[kBurstSize];
    std::uint16_t candidates[kBurstSize];
    unsigned k = 0;
    rte_mbuf* tunneled[kBurstSize];
    std::uint16_t t = 0;
    for (unsigned i = 0; i < kPrefetchOffset && i < n; ++i)
        rte_prefetch0(rte_pktmbuf_mtod(pkts[i], void*));
    for (std::uint16_t i = 0; i < n; ++i) {
        if (i + kPrefetchOffset < n)
            rte_prefetch0(rte_pktmbuf_mtod(pkts[i + kPrefetchOffset], void*));
        rte_mbuf* m = pkts[i];
        const auto* frame = rte_pktmbuf_mtod(m, const std::uint8_t*);
        // The common frame in one test: long enough, to our MAC, EtherType IPv6, version 6,
        // the payload length within the packet, not to a multicast address. Any other goes
        // through the checks one by one (same drop reasons and punts).
        std::uint64_t destination_mac;
        std::uint32_t type_and_version;
        std::memcpy(&destination_mac, frame, sizeof destination_mac);
        std::memcpy(&type_and_version, frame + 12, sizeof type_and_version);
        const auto* ip = reinterpret_cast<const rte_ipv6_hdr*>(frame + sizeof(rte_ether_hdr));
        bool common = (m->data_len >= kHeaders) &
                      (((destination_mac ^ port_mac_word_[m->port]) << 16) == 0) &
                      ((type_and_version & kTypeAndVersionMask) == kIpv6TypeAndVersion) &
                      (kHeaders + network_order16(ip->payload_len) <= rte_pktmbuf_pkt_len(m)) &
                      (ip->dst_addr[0] != 0xff);
        if (!common && !check_headers(w, m)) continue;
        if (is_neighbor_discovery(ip, m)) [[unlikely]] {
            punt(w, m, PuntReason::Local);
            continue;
        }
        // Reverse tunnels to our own address (the common case of traffic to us): straight to
        // the ingress check, without the HoA lookup (our addresses are no HoAs) and the LPM
        // walk that would answer Local.
        if (allow_decap && ip->proto == IPPROTO_IPV6 && fib.is_local(ip->dst_addr)) {
            tunneled[t++] = m;
            continue;
        }
        keys[k] = ip->dst_addr;
        signatures[k] = HoaTable::signature(ip->dst_addr);
        candidates[k++] = i;
    }
    if (k == 0 && t == 0) return;

    std::uint64_t hits = 0;
    void* snapshots[kBurstSize];
    if (k != 0 && hoas_->size() != 0) hoas_->lookup_bulk(keys, signatures, k, &hits, snapshots);
    // With a million HoAs every snapshot, path and counter is a cache (and TLB) miss. Issue
    // them for the whole burst before touching any (l3fwd style): every snapshot's line 0
    // was prefetched by the lookup, which compared the HoA there; a packet's chosen path
    // and its counters (both known from line 0) kPathLookahead packets ahead.
    std::uint32_t flow_hashes[kBurstSize];
    std::uint8_t chosen[kBurstSize];
    for (unsigned j = 0; j < k; ++j)
        if ((hits >> j) & 1) flow_hashes[j] = flow_hash_of(pkts[candidates[j]]);
    for (unsigned j = 0; j < kPathLookahead && j < k; ++j)
        if ((hits >> j) & 1)
            chosen[j] = prefetch_delivery(w, as_packed(snapshots[j]), flow_hashes[j]);
    std::uint8_t destinations[kBurstSize][16];
    rte_mbuf* routed[kBurstSize];
    unsigned r = 0;
    BurstTally tally;
    for (unsigned j = 0; j < k; ++j) {
        unsigned ahead = j + kPathLookahead;
        if (ahead < k && ((hits >> ahead) & 1))
            chosen[ahead] = prefetch_delivery(w, as_packed(snapshots[ahead]), flow_hashes[ahead]);
        rte_mbuf* m = pkts[candidates[j]];
        if ((hits >> j) & 1) {
            const PackedHoa* hit = as_packed(snapshots[j]);
            if (chosen[j] < hit->path_count &&
                encapsulate_plain(w, m, hit->paths()[chosen[j]], tally))
                continue;
            deliver_to_mobile_node(w, m, *hit, 0, &flow_hashes[j]);
            continue;
        }
        const PackedHoa* snap =
            hoas_->has_prefixes() ? hoas_->lookup_prefix(static_cast<const std::uint8_t*>(keys[j]))
                                  : nullptr;
        if (snap) {
            deliver_to_mobile_node(w, m, *snap);
            continue;
        }
        std::memcpy(destinations[r], keys[j], 16);
        routed[r++] = m;
    }
    add_tally(w.counters, tally);
    if (r != 0) route_burst(w, fib, routed, destinations, r, allow_decap ? tunneled : nullptr, t);
    if (t == 0) return;
    rte_mbuf* decapsulated[kBurstSize];
    std::uint16_t d = decapsulate_burst(w, tunneled, t, decapsulated);
    if (d != 0) route_decapsulated(w, fib, decapsulated, d);
}

// Packets to no HoA: the FIB decides (forward, resolve, or local: punted, or, with
// `tunneled`, a tunnel packet appended there for decapsulation).
void Runtime::route_burst(WorkerCtx& w, const Fib& fib, rte_mbuf** pkts,
                          std::uint8_t (*destinations)[16], unsigned r, rte_mbuf** tunneled,
                          std::uint16_t& t) {
    std::int32_t next_hop_ids[kBurstSize];
    fib.lookup_bulk(destinations, next_hop_ids, r);
    // The neighbor to send each packet to (the destination on link, or the route's next hop),
    // resolved for the burst in one bulk lookup of the distinct keys: the packets routed via
    // one next hop (traffic to correspondents behind the default router) share its key, the
    // NextHop's own address, so they cost one lookup, not one each.
    const void* neighbor_keys[kBurstSize];
    std::uint8_t key_of[kBurstSize];  // resolving[i]'s index in neighbor_keys
    rte_mbuf* resolving[kBurstSize];
    unsigned q = 0, u = 0;
    const void* last_via = nullptr;
    std::uint8_t last_via_key = 0;
    for (unsigned j = 0; j < r; ++j) {
        rte_mbuf* m = pkts[j];
        if (next_hop_ids[j] < 0) {
            drop(w, m, DropReason::NoRoute);
            continue;
        }
        const NextHop& nh = fib.next_hop(next_hop_ids[j]);
        switch (nh.kind) {
            case NextHopKind::Local: {
                auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, sizeof(rte_ether_hdr));
                if (ip->proto == IPPROTO_IPV6 && tunneled) {
                    tunneled[t++] = m;
                } else {
                    punt(w, m, PuntReason::Local);
                }
                break;
            }
            case NextHopKind::OnLink:
                neighbor_keys[u] = destinations[j];
                key_of[q] = static_cast<std::uint8_t>(u++);
                resolving[q++] = m;
                break;
            case NextHopKind::Via:
                if (nh.via != last_via) {
                    last_via = nh.via;
                    last_via_key = static_cast<std::uint8_t>(u);
                    neighbor_keys[u++] = nh.via;
                }
                key_of[q] = last_via_key;
                resolving[q++] = m;
                break;
        }
    }
    if (q == 0) return;
    std::uint64_t hits = 0;
    std::uint64_t entries[kBurstSize];
    neighbors_->lookup_bulk(neighbor_keys, u, &hits, entries);
    NeighborTable::Entry neighbors[kBurstSize];
    for (unsigned i = 0; i < u; ++i)
        if ((hits >> i) & 1) neighbors[i] = NeighborTable::decode(entries[i]);
    BurstTally tally;
    for (unsigned i = 0; i < q; ++i) {
        if ((hits >> key_of[i]) & 1)
            forward(w, resolving[i], neighbors[key_of[i]], tally);
        else
            punt(w, resolving[i], PuntReason::NeedsResolution);
    }
    add_tally(w.counters, tally);
}

// Inner packets continue as if received: to another MN, to us, or routed. One level only:
// a tunnel inside the tunnel is not opened again. decapsulate() has checked the lengths, and
// the Ethernet header is the outer packet's, so of process_burst's checks only the version
// and multicast remain. Destinations in no /64 that holds a HoA skip the HoA lookup (the
// common case: reverse-tunnelled traffic to correspondents) and go to the FIB directly.
void Runtime::route_decapsulated(WorkerCtx& w, const Fib& fib, rte_mbuf** pkts, std::uint16_t n) {
    std::uint8_t destinations[kBurstSize][16];
    rte_mbuf* routed[kBurstSize];
    rte_mbuf* to_home[kBurstSize];
    unsigned r = 0;
    std::uint16_t h = 0;
    bool prefixes = hoas_->has_prefixes();
    for (std::uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        const auto* ip = rte_pktmbuf_mtod_offset(m, const rte_ipv6_hdr*, sizeof(rte_ether_hdr));
        if (prefixes || hoas_->may_hold(ip->dst_addr)) {
            to_home[h++] = m;
            continue;
        }
        if ((rte_be_to_cpu_32(ip->vtc_flow) >> 28) != 6) {
            drop(w, m, DropReason::Malformed);
            continue;
        }
        if (ip->dst_addr[0] == 0xff) {
            punt(w, m, PuntReason::Local);
            continue;
        }
        std::memcpy(destinations[r], ip->dst_addr, 16);
        routed[r++] = m;
    }
    if (h != 0) process_burst(w, fib, to_home, h, false);
    std::uint16_t none = 0;
    if (r != 0) route_burst(w, fib, routed, destinations, r, nullptr, none);
}

// The ingress check of a burst of reverse-tunnel packets: one bulk lookup of the inner
// sources, their snapshots and CoA lines prefetched, instead of one lookup per packet.
std::uint16_t Runtime::decapsulate_burst(WorkerCtx& w, rte_mbuf** pkts, std::uint16_t n,
                                         rte_mbuf** out) {
    constexpr std::uint32_t outer = sizeof(rte_ether_hdr) + sizeof(rte_ipv6_hdr);
    const void* keys[kBurstSize];
    hash_sig_t signatures[kBurstSize];
    rte_mbuf* candidates[kBurstSize];
    unsigned k = 0;
    for (std::uint16_t i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        if (rte_pktmbuf_data_len(m) < outer + sizeof(rte_ipv6_hdr)) {
            drop(w, m, DropReason::Malformed);
            continue;
        }
        auto* inner_ip = rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, outer);
        keys[k] = inner_ip->src_addr;
        signatures[k] = HoaTable::signature(inner_ip->src_addr);
        candidates[k++] = m;
    }
    std::uint64_t hits = 0;
    void* snapshots[kBurstSize];
    if (k != 0 && hoas_->size() != 0) hoas_->lookup_bulk(keys, signatures, k, &hits, snapshots);
    // The CoA lines of the first paths (line 0, with the path count, was read by the
    // lookup), all issued at once.
    for (unsigned j = 0; j < k; ++j)
        if ((hits >> j) & 1) prefetch_care_of_lines(as_packed(snapshots[j]));
    // The counters of the first paths (one of which the ingress check bumps), from line 0,
    // kPathLookahead packets ahead.
    for (unsigned j = 0; j < kPathLookahead && j < k; ++j)
        if ((hits >> j) & 1) prefetch_line_counters(w, as_packed(snapshots[j]), max_paths_);
    std::uint16_t d = 0;
    for (unsigned j = 0; j < k; ++j) {
        unsigned ahead = j + kPathLookahead;
        if (ahead < k && ((hits >> ahead) & 1))
            prefetch_line_counters(w, as_packed(snapshots[ahead]), max_paths_);
        const PackedHoa* snap = (hits >> j) & 1 ? as_packed(snapshots[j]) : nullptr;
        if (!snap && hoas_->has_prefixes())
            snap = hoas_->lookup_prefix(static_cast<const std::uint8_t*>(keys[j]));
        if (decapsulate(w, candidates[j], snap)) out[d++] = candidates[j];
    }
    if (d != 0) bump(w.counters.decapsulated, d);
    return d;
}

// RFC 2827/3704 ingress filtering for reverse tunnels (seed 6.1.2): the outer source must be a
// CoA registered for the inner source (a HoA, or inside a mobile network prefix).
// `snap` is the inner source's snapshot (nullptr if none); the packet holds both headers.
// Inlined into decapsulate_burst, its one caller (call overhead was ~20 per packet).
[[gnu::always_inline]] inline bool Runtime::decapsulate(WorkerCtx& w, rte_mbuf* m,
                                                        const PackedHoa* snap) {
    constexpr std::uint32_t outer = sizeof(rte_ether_hdr) + sizeof(rte_ipv6_hdr);
    auto* outer_ip = rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, sizeof(rte_ether_hdr));
    auto* inner_ip = rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, outer);
    if (!snap) {
        drop(w, m, DropReason::NoBinding);
        return false;
    }
    std::uint8_t path = snap->path_of_care_of(outer_ip->src_addr);
    if (path == kNoBinding) {
        drop(w, m, DropReason::SpoofedTunnel);
        return false;
    }
    std::uint16_t inner_length =
        static_cast<std::uint16_t>(sizeof(rte_ipv6_hdr) + network_order16(inner_ip->payload_len));
    if (sizeof(rte_ipv6_hdr) + network_order16(outer_ip->payload_len) < inner_length) {
        drop(w, m, DropReason::Malformed);
        return false;
    }
    PathCounters& pc = w.path_counters[snap->counter_slot(path)];
    bump(pc.reverse_packets);
    bump(pc.reverse_bytes, inner_length);
    // Keep the Ethernet header in front of the inner packet: move it forward by 40 bytes.
    // Two overlapping 8-byte words (bytes 0-7 and 6-13), read before anything moves.
    auto* frame = rte_pktmbuf_mtod(m, std::uint8_t*);
    std::uint64_t eth_head, eth_tail;
    std::memcpy(&eth_head, frame, sizeof eth_head);
    std::memcpy(&eth_tail, frame + sizeof(rte_ether_hdr) - sizeof eth_tail, sizeof eth_tail);
    // The trim to the inner packet (its length as rte_pktmbuf_trim takes it, wrapping alike).
    auto cut = static_cast<std::uint16_t>(rte_pktmbuf_pkt_len(m) - sizeof(rte_ipv6_hdr) -
                                          sizeof(rte_ether_hdr) - inner_length);
    if (m->next == nullptr) {
        // One segment: rte_pktmbuf_adj and rte_pktmbuf_trim without their calls. The adj
        // cannot fail (decapsulate_burst checked data_len for both headers); the trim is
        // skipped when longer than the data, as rte_pktmbuf_trim refuses it.
        std::uint16_t data_len = static_cast<std::uint16_t>(m->data_len - sizeof(rte_ipv6_hdr));
        std::uint32_t pkt_len = m->pkt_len - sizeof(rte_ipv6_hdr);
        if (cut <= data_len) {
            data_len = static_cast<std::uint16_t>(data_len - cut);
            pkt_len -= cut;
        }
        m->data_off = static_cast<std::uint16_t>(m->data_off + sizeof(rte_ipv6_hdr));
        m->data_len = data_len;
        m->pkt_len = pkt_len;
    } else {
        rte_pktmbuf_adj(m, sizeof(rte_ipv6_hdr));
        rte_pktmbuf_trim(m, cut);
    }
    frame += sizeof(rte_ipv6_hdr);
    std::memcpy(frame, &eth_head, sizeof eth_head);
    std::memcpy(frame + sizeof(rte_ether_hdr) - sizeof eth_tail, &eth_tail, sizeof eth_tail);
    return true;
}

namespace {

// The Tunnel Encapsulation Limit of a packet that is itself a tunnel packet (RFC 2473
// s.4.1.1): its value and the option's offset from the IPv6 header, or -1.
int encapsulation_limit_of(const std::uint8_t* ip, std::size_t available, std::uint16_t& offset) {
    if (available < sizeof(rte_ipv6_hdr) + 8) return -1;
    const std::uint8_t* opts = ip + sizeof(rte_ipv6_hdr);
    std::size_t length =
        std::min<std::size_t>((opts[1] + 1u) * 8u, available - sizeof(rte_ipv6_hdr));
    for (std::size_t i = 2; i + 1 < length;) {
        if (opts[i] == 0) {  // Pad1
            ++i;
            continue;
        }
        if (opts[i] == 4 && opts[i + 1] == 1 && i + 2 < length) {
            offset = static_cast<std::uint16_t>(sizeof(rte_ipv6_hdr) + i);
            return opts[i + 2];
        }
        i += 2u + opts[i + 1];
    }
    return -1;
}

// Writes the path's ready header at `start`, then what depends on the packet: the outer
// payload length, and a lower encapsulation limit when the packet carried one.
void write_delivery_header(std::uint8_t* start, const DeliveryPath& path,
                           std::uint16_t inner_length, int encapsulation_limit) {
    rte_memcpy(start, path.header, path.header_length);
    if (path.native) return;
    auto* outer = reinterpret_cast<rte_ipv6_hdr*>(start + sizeof(rte_ether_hdr));
    outer->payload_len = network_order16(static_cast<std::uint16_t>(
        inner_length + path.header_length - sizeof(rte_ether_hdr) - sizeof(rte_ipv6_hdr)));
    if (encapsulation_limit >= 0 && path.header_length == kTunnelHeaderWithLimit &&
        start[kEncapsulationLimitOffset] > encapsulation_limit)
        start[kEncapsulationLimitOffset] = static_cast<std::uint8_t>(encapsulation_limit);
}

}  // namespace

void Runtime::deliver_to_mobile_node(WorkerCtx& w, rte_mbuf* m, const PackedHoa& snap,
                                     unsigned depth, const std::uint32_t* fast_hash) {
    auto* ip = rte_pktmbuf_mtod_offset(m, rte_ipv6_hdr*, sizeof(rte_ether_hdr));
    auto inner_length =
        static_cast<std::uint16_t>(sizeof(rte_ipv6_hdr) + network_order16(ip->payload_len));
    const std::uint8_t* inner = reinterpret_cast<const std::uint8_t*>(ip);
    std::size_t available = rte_pktmbuf_data_len(m) - sizeof(rte_ether_hdr);
    const FlowAction* action = nullptr;  // a rule's; nullptr: the snapshot's default
    std::uint32_t hash;
    if (snap.rule_count == 0) {
        hash = fast_hash ? *fast_hash : fast_flow_hash(inner, available);
    } else {
        PacketFields fields;
        extract_fields(inner, available, fields);
        action = select_rule_action(snap.rules(), fields);
        hash = flow_hash(fields);
    }
    if (ip->hop_limits <= 1) {
        punt(w, m, PuntReason::HopLimitExceeded);
        return;
    }
    int limit = -1;
    if (ip->proto == IPPROTO_DSTOPTS) {
        std::uint16_t offset = 0;
        int carried = encapsulation_limit_of(inner, available, offset);
        if (carried == 0) {
            punt(w, m, PuntReason::EncapLimit, offset);
            return;
        }
        if (carried > 0) limit = carried - 1;
    }
    // The HA forwards the packet into the tunnel (RFC 2473 s.3); done once, before any copy
    // of an n-cast shares the inner header.
    --ip->hop_limits;
    std::uint8_t ncast_mask = action ? action->ncast_mask : snap.ncast_mask;
    if (ncast_mask != 0) {
        send_copies(w, m, snap, ncast_mask, inner_length, limit, depth);
        return;
    }
    std::uint8_t index = action ? chosen_path(*action, hash) : snap.default_choice(hash);
    if (index >= snap.path_count) {
        drop(w, m, DropReason::NoBinding);
        return;
    }
    send_on_path(w, m, snap.paths()[index], inner_length, limit, depth);
}

void Runtime::send_on_path(WorkerCtx& w, rte_mbuf* m, const DeliveryPath& path,
                           std::uint16_t inner_length, int limit, unsigned depth) {
    if (inner_length > path.mtu) {
        punt(w, m, PuntReason::TooBig, path.mtu);
        return;
    }
    std::uint8_t* start;
    if (path.header_length > sizeof(rte_ether_hdr)) {
        start = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_prepend(
            m, static_cast<std::uint16_t>(path.header_length - sizeof(rte_ether_hdr))));
        if (!start) {
            drop(w, m, DropReason::NoHeadroom);
            return;
        }
    } else {
        start = rte_pktmbuf_mtod(m, std::uint8_t*);
    }
    write_delivery_header(start, path, inner_length, limit);
    emit_on_path(w, m, path, inner_length, depth);
}

void Runtime::emit_on_path(WorkerCtx& w, rte_mbuf* m, const DeliveryPath& path,
                           std::uint16_t inner_length, unsigned depth) {
    bump(path.native ? w.counters.forwarded : w.counters.encapsulated);
    PathCounters& pc = w.path_counters[path.counter_slot];
    bump(pc.packets);
    bump(pc.bytes, inner_length);
    if (!path.chained) {
        transmit(w, path.port, m);
        return;
    }
    // The CoA is a home address too: deliver the tunnel packet to it like any other.
    if (depth + 1 >= kMaxChainDepth) {
        drop(w, m, DropReason::EncapLimit);
        return;
    }
    const PackedHoa* next = hoas_->lookup(path.care_of.bytes.data());
    if (!next && hoas_->has_prefixes()) next = hoas_->lookup_prefix(path.care_of.bytes.data());
    if (!next) {
        drop(w, m, DropReason::NoBinding);
        return;
    }
    deliver_to_mobile_node(w, m, *next, depth + 1);
}

// n-cast (seed 5.1, RFC 6089): each extra copy is a fresh header segment chained to an
// indirect clone of the inner packet, so the payload is never copied.
void Runtime::send_copies(WorkerCtx& w, rte_mbuf* m, const PackedHoa& snap, std::uint8_t mask,
                          std::uint16_t inner_length, int limit, unsigned depth) {
    unsigned last = 31u - static_cast<unsigned>(__builtin_clz(mask));
    for (unsigned i = 0; i < last; ++i) {
        if (!((mask >> i) & 1) || i >= snap.path_count) continue;
        const DeliveryPath& path = snap.paths()[i];
        if (inner_length > path.mtu) continue;  // the last copy reports Packet Too Big
        rte_mbuf* head = rte_pktmbuf_alloc(pool_);
        rte_mbuf* body = head ? rte_pktmbuf_clone(m, clone_pool_) : nullptr;
        if (!body) {
            if (head) rte_pktmbuf_free(head);
            bump(w.counters.drops[static_cast<std::size_t>(DropReason::NoHeadroom)]);
            continue;
        }
        rte_pktmbuf_adj(body, sizeof(rte_ether_hdr));
        auto* start = reinterpret_cast<std::uint8_t*>(rte_pktmbuf_append(head, path.header_length));
        write_delivery_header(start, path, inner_length, limit);
        if (rte_pktmbuf_chain(head, body) != 0) {
            rte_pktmbuf_free(head);
            rte_pktmbuf_free(body);
            continue;
        }
        emit_on_path(w, head, path, inner_length, depth);
    }
    if (last < snap.path_count) {
        send_on_path(w, m, snap.paths()[last], inner_length, limit, depth);
    } else {
        drop(w, m, DropReason::NoBinding);
    }
}

}  // namespace monami::dp
