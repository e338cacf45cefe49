#include "dataplane/bench/peer_router.hpp"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_hash_crc.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_prefetch.h>

#include <algorithm>
#include <cstring>

#include "controlplane/net/packet.hpp"
#include "dataplane/counters.hpp"

namespace monami::bench {

namespace {

// l3fwd's EM_HASH_LOOKUP_COUNT on x86: the keys of one rte_hash_lookup_bulk.
constexpr unsigned kLookupGroup = 8;
constexpr std::uint32_t kHeaders = net::kEthernetHeaderSize + net::kIpv6HeaderSize;
// EtherType 0x86dd and IP version 6, as the 4 bytes at offset 12 load on a little-endian
// CPU: monami's worker tests the same word.
constexpr std::uint32_t kTypeAndVersionMask = 0x00f0ffff;
constexpr std::uint32_t kIpv6TypeAndVersion = 0x0060dd86;
// Where the 16-byte keys are in the IPv6 header.
constexpr unsigned kSourceOffset = 8, kDestinationOffset = 24;
constexpr unsigned kHopLimitOffset = 7, kNextHeaderOffset = 6;

std::uint64_t mac_word(const MacAddress& mac) {
    std::uint64_t word = 0;
    for (unsigned i = 0; i < 6; ++i) word |= std::uint64_t{mac.bytes[i]} << (8 * i);
    return word;
}

void count_tx_full(rte_mbuf** pkts, std::uint16_t unsent, void* userdata) {
    dp::bump(*static_cast<std::uint64_t*>(userdata), unsent);
    rte_pktmbuf_free_bulk(pkts, unsent);
}

}  // namespace

std::unique_ptr<PeerRouter> PeerRouter::create(const Plan& plan, std::uint32_t hoas,
                                               const PortId (&ports)[2], std::string& error) {
    std::unique_ptr<PeerRouter> peer(new PeerRouter());
    int socket = static_cast<int>(rte_socket_id());
    rte_hash_parameters params{};
    params.name = "bench_peer";
    // At most half the slots in use, as monami's own HoA index is sized (HoaIndex::
    // kMaxLoadPercent): neither table gets the easier cache footprint.
    params.entries = std::max<std::uint32_t>(64, hoas * 2);
    params.key_len = 16;
    // The keys are copied to aligned storage first (as l3fwd builds its key unions), so the
    // CRC's 8-byte loads are aligned.
    params.hash_func = rte_hash_crc;
    params.socket_id = socket;
    peer->table_ = rte_hash_create(&params);
    if (!peer->table_) {
        error = std::string("peer router table: ") + rte_strerror(rte_errno);
        return nullptr;
    }
    // Positions no HoA holds say home: a key mapped to the wrong position would leave on the
    // wrong port, and the bench's collector sees it.
    peer->side_of_position_.assign(params.entries + 1, kHome);
    for (std::uint32_t i = 0; i < hoas; ++i) {
        alignas(16) Ipv6Address key = Plan::home_address(i);
        std::int32_t position = rte_hash_add_key(peer->table_, key.bytes.data());
        if (position < 0) {
            error = "peer router table: HoA " + std::to_string(i) + ": " + rte_strerror(-position);
            return nullptr;
        }
        peer->side_of_position_[static_cast<std::size_t>(position)] = kAccess;
    }
    const MacAddress own[2] = {plan.home_mac, plan.access_mac};
    const MacAddress next_hop[2] = {plan.home_router_mac, plan.access_router_mac};
    for (unsigned side : {kHome, kAccess}) {
        peer->ports_[side] = ports[side];
        peer->port_mac_word_[side] = mac_word(own[side]);
        std::memcpy(peer->ethernet_rewrite_[side], next_hop[side].bytes.data(), 6);
        std::memcpy(peer->ethernet_rewrite_[side] + 6, own[side].bytes.data(), 6);
        auto* buffer = static_cast<rte_eth_dev_tx_buffer*>(
            rte_zmalloc_socket("bench_peer_txbuf", RTE_ETH_TX_BUFFER_SIZE(dp::kBurstSize),
                               RTE_CACHE_LINE_SIZE, socket));
        if (!buffer) {
            error = "peer router: cannot allocate TX buffers";
            return nullptr;
        }
        rte_eth_tx_buffer_init(buffer, dp::kBurstSize);
        rte_eth_tx_buffer_set_err_callback(buffer, count_tx_full, &peer->counters_.tx_full);
        peer->tx_buffers_[side] = buffer;
    }
    peer->tunnel_endpoint_ = plan.ha_address;
    peer->drain_tsc_ = rte_get_tsc_hz() * dp::kTxDrainMicroseconds / 1000000;
    return peer;
}

PeerRouter::~PeerRouter() {
    for (auto* buffer : tx_buffers_) {
        if (!buffer) continue;
        rte_pktmbuf_free_bulk(buffer->pkts, buffer->length);
        rte_free(buffer);
    }
    rte_hash_free(table_);
}

unsigned PeerRouter::iteration() {
    rte_mbuf* pkts[dp::kBurstSize];
    unsigned total = 0;
    for (unsigned side : {kHome, kAccess}) {
        std::uint16_t n = rte_eth_rx_burst(ports_[side], 0, pkts, dp::kBurstSize);
        if (n == 0) continue;
        dp::bump(counters_.received, n);
        route_burst(pkts, n, side);
        total += n;
    }
    std::uint64_t now = rte_rdtsc();
    if (now >= next_drain_tsc_) {
        drain();
        next_drain_tsc_ = now + drain_tsc_;
    }
    return total;
}

void PeerRouter::drain() {
    for (unsigned side : {kHome, kAccess})
        rte_eth_tx_buffer_flush(ports_[side], 0, tx_buffers_[side]);
}

// l3fwd_em_process_packets: the first group's headers prefetched, then per group the next
// group's headers prefetched before this group is looked up. The tail of a burst that is
// not a multiple of 8 goes as one smaller group (l3fwd looks those up one by one).
void PeerRouter::route_burst(rte_mbuf** pkts, unsigned n, unsigned in) {
    for (unsigned i = 0; i < kLookupGroup && i < n; ++i)
        rte_prefetch0(rte_pktmbuf_mtod_offset(pkts[i], void*, net::kEthernetHeaderSize));
    for (unsigned first = 0; first < n; first += kLookupGroup) {
        for (unsigned i = first + kLookupGroup; i < first + 2 * kLookupGroup && i < n; ++i)
            rte_prefetch0(rte_pktmbuf_mtod_offset(pkts[i], void*, net::kEthernetHeaderSize));
        route_group(pkts + first, std::min(kLookupGroup, n - first), in);
    }
}

void PeerRouter::route_group(rte_mbuf** pkts, unsigned n, unsigned in) {
    alignas(16) std::uint8_t keys[kLookupGroup][16];
    const void* key_pointers[kLookupGroup];
    rte_mbuf* candidates[kLookupGroup];
    bool reverse_tunnelled[kLookupGroup];
    unsigned k = 0;
    for (unsigned i = 0; i < n; ++i) {
        rte_mbuf* m = pkts[i];
        const auto* frame = rte_pktmbuf_mtod(m, const std::uint8_t*);
        const std::uint8_t* ip = frame + net::kEthernetHeaderSize;
        // The frame test of monami's worker, so that neither side skips a check the other
        // makes: long enough, to this port's MAC, IPv6, payload within the packet, unicast.
        std::uint64_t destination_mac;
        std::uint32_t type_and_version;
        std::memcpy(&destination_mac, frame, sizeof destination_mac);
        std::memcpy(&type_and_version, frame + 12, sizeof type_and_version);
        bool well_formed = (m->data_len >= kHeaders) &
                           (((destination_mac ^ port_mac_word_[in]) << 16) == 0) &
                           ((type_and_version & kTypeAndVersionMask) == kIpv6TypeAndVersion) &
                           (kHeaders + net::load_be16(ip + 4) <= rte_pktmbuf_pkt_len(m)) &
                           (ip[kDestinationOffset] != 0xff);
        if (!well_formed) [[unlikely]] {
            rte_pktmbuf_free(m);
            dp::bump(counters_.malformed);
            continue;
        }
        // Every reverse-tunnelled packet has one destination, the HA: keyed on it, the table
        // would be one always-cached entry. The per-HoA key of that traffic is the inner
        // source, the address monami's ingress check looks up.
        bool tunnelled =
            ip[kNextHeaderOffset] == net::kProtoIpv6InIpv6 &&
            m->data_len >= kHeaders + net::kIpv6HeaderSize &&
            std::memcmp(ip + kDestinationOffset, tunnel_endpoint_.bytes.data(), 16) == 0;
        const std::uint8_t* key =
            tunnelled ? ip + net::kIpv6HeaderSize + kSourceOffset : ip + kDestinationOffset;
        std::memcpy(keys[k], key, 16);
        key_pointers[k] = keys[k];
        reverse_tunnelled[k] = tunnelled;
        candidates[k++] = m;
    }
    if (k == 0) return;
    std::int32_t positions[kLookupGroup];
    rte_hash_lookup_bulk(table_, key_pointers, k, positions);
    unsigned routed = 0;
    for (unsigned j = 0; j < k; ++j) {
        rte_mbuf* m = candidates[j];
        if (positions[j] < 0) {
            rte_pktmbuf_free(m);
            dp::bump(counters_.no_route);
            continue;
        }
        unsigned out = reverse_tunnelled[j]
                           ? unsigned{kHome}
                           : side_of_position_[static_cast<std::size_t>(positions[j])];
        auto* frame = rte_pktmbuf_mtod(m, std::uint8_t*);
        std::uint8_t& hop_limit = frame[net::kEthernetHeaderSize + kHopLimitOffset];
        if (hop_limit <= 1) {
            rte_pktmbuf_free(m);
            dp::bump(counters_.hop_limit);
            continue;
        }
        --hop_limit;
        std::memcpy(frame, ethernet_rewrite_[out], sizeof ethernet_rewrite_[out]);
        rte_eth_tx_buffer(ports_[out], 0, tx_buffers_[out], m);
        ++routed;
    }
    dp::bump(counters_.routed, routed);
}

}  // namespace monami::bench
