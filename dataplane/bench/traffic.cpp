// monami-bench's traffic: the generator's frames, the collector's sorting and checks.
#include "dataplane/bench/traffic.hpp"

#include <algorithm>

#include "controlplane/net/packet.hpp"

namespace monami::bench {

const char* to_string(Direction d) {
    switch (d) {
        case Direction::Encap:
            return "encap";
        case Direction::Decap:
            return "decap";
        case Direction::Ncast:
            return "ncast";
    }
    return "?";
}

unsigned Generator::fill(unsigned n) {
    rte_mbuf* m[256];
    n = std::min(n, 256u);
    if (rte_pktmbuf_alloc_bulk(pool_, m, n) != 0) return 0;
    for (unsigned i = 0; i < n; ++i) write(m[i]);
    unsigned taken = rte_ring_sp_enqueue_burst(ring_, reinterpret_cast<void**>(m), n, nullptr);
    if (taken < n) rte_pktmbuf_free_bulk(m + taken, n - taken);
    offered += taken;
    return taken;
}

void Generator::write(rte_mbuf* m) {
    const TrafficSpec& s = *spec_;
    std::uint16_t size = s.sizes[size_pos_++ % s.sizes.size()];
    std::uint32_t hoa = s.destinations[dest_pos_++ % s.destinations.size()];
    if (s.probe_hoa && (flow_ & 3) == 0) hoa = *s.probe_hoa;
    std::uint32_t flow = flow_++;
    auto source_port = static_cast<std::uint16_t>(1024 + (flow & 0x3fff));
    std::uint32_t correspondent = flow & 0xff;
    if (s.failover && s.failover->on && (flow & 3) == 1 && s.direction == Direction::Encap) {
        FailoverFlows& f = *s.failover;
        unsigned i = f.next++ % FailoverFlows::kFlows;
        hoa = f.hoa;
        size = f.size[i];
        source_port = static_cast<std::uint16_t>(FailoverFlows::kFirstPort + i);
        correspondent = 1;
        ++f.offered[FailoverFlows::size_class(size)];
    }
    auto* d = rte_pktmbuf_mtod(m, std::uint8_t*);
    std::uint16_t frame = size;
    std::uint8_t* inner = d + net::kEthernetHeaderSize;
    if (s.direction == Direction::Decap) {
        // Reverse tunnel from CoA k of the HoA to the HA, plain IPv6-in-IPv6.
        frame = static_cast<std::uint16_t>(size + net::kIpv6HeaderSize);
        net::write_ethernet_header(d, plan_.access_mac, plan_.access_router_mac);
        net::write_ipv6_header(inner, static_cast<std::uint16_t>(size - net::kEthernetHeaderSize),
                               net::kProtoIpv6InIpv6, 64, Plan::care_of(hoa, flow % coas_),
                               plan_.ha_address);
        inner += net::kIpv6HeaderSize;
        net::write_ipv6_header(inner, static_cast<std::uint16_t>(size - 54), net::kProtoUdp, 64,
                               Plan::home_address(hoa), Plan::correspondent(flow & 0xff));
    } else {
        net::write_ethernet_header(d, plan_.home_mac, plan_.home_router_mac);
        net::write_ipv6_header(inner, static_cast<std::uint16_t>(size - 54), net::kProtoUdp, 64,
                               Plan::correspondent(correspondent), Plan::home_address(hoa));
    }
    std::uint8_t* udp = inner + net::kIpv6HeaderSize;
    net::store_be16(udp, source_port);
    net::store_be16(udp + 2, s.destination_port);
    net::store_be16(udp + 4, static_cast<std::uint16_t>(size - 54));
    net::store_be16(udp + 6, 0);
    m->data_len = frame;
    m->pkt_len = frame;
    m->port = port_;  // the ring PMD does not set it; NIC PMDs do
}

void Collector::collect(rte_ring* ring, bool access_side) {
    rte_mbuf* m[64];
    unsigned n;
    while ((n = rte_ring_sc_dequeue_burst(ring, reinterpret_cast<void**>(m), 64, nullptr)) != 0) {
        for (unsigned i = 0; i < n; ++i) classify(m[i], access_side);
        rte_pktmbuf_free_bulk(m, n);
    }
}

void Collector::classify(rte_mbuf* m, bool access_side) {
    std::uint8_t copy[160];
    std::uint32_t len = std::min<std::uint32_t>(rte_pktmbuf_pkt_len(m), sizeof copy);
    const auto* p = static_cast<const std::uint8_t*>(rte_pktmbuf_read(m, 0, len, copy));
    if (!p || len < 54) {
        ++other;
        return;
    }
    const std::uint8_t* ip = p + net::kEthernetHeaderSize;
    std::uint8_t nh = ip[6];
    if (nh == net::kProtoRouting && access_side && ip[40] == 50) {  // RH2 then ESP
        ++esp_signalling;
        return;
    }
    if (nh == net::kProtoMobility && access_side) {
        ++signalling;
        return;
    }
    if (nh == net::kProtoRouting && access_side) {  // BA: RH2 (24 bytes) then MH
        bool ok = len >= 54 + 24 + 8 && ip[40 + 24 + 2] == 6 && ip[40 + 24 + 6] < 128;
        ++(ok ? acks : rejected_acks);
        return;
    }
    if (nh == 58 && !access_side) {  // proxy ND announcements on the home link
        ++advertisements;
        return;
    }
    ++data;
    if (failover.enabled && access_side) note_failover(ip, len - net::kEthernetHeaderSize);
    if (expect == Expect::Anything) return;
    bool routed = expect == Expect::RoutedToHome || expect == Expect::RoutedToAccess;
    if (routed && access_side != (expect == Expect::RoutedToAccess)) {
        ++misrouted;  // every packet, sampled or not
        return;
    }
    if ((data & sample_mask_) != 0) return;
    ++checked;
    const char* problem = routed        ? check_routed(p, len, access_side)
                          : access_side ? check_tunnelled(p, len, rte_pktmbuf_pkt_len(m))
                                        : check_decapsulated(p, len);
    if (problem && wrong++ == 0) first_wrong = problem;
}

void Collector::note_failover(const std::uint8_t* outer, std::uint32_t len) {
    std::uint32_t header = outer[6] == 60 ? 48 : 40;  // with or without the TEL option
    if (len < header + 40 + 2 ||
        std::memcmp(outer + header + 24, failover.hoa.bytes.data(), 16) != 0)
        return;
    const std::uint8_t* inner = outer + header;
    ++failover.total;
    if (outer[24 + 6] != failover.generation) {
        ++failover.other_generation;
        return;
    }
    unsigned coa = outer[24 + 5] & 3;
    unsigned flow = net::load_be16(inner + 40) - FailoverFlows::kFirstPort;
    unsigned frame = net::kEthernetHeaderSize + 40 + net::load_be16(inner + 4);
    ++failover.by_size_and_coa[FailoverFlows::size_class(frame)][coa];
    if (flow < FailoverFlows::kFlows) failover.last_coa[flow] = static_cast<std::uint8_t>(coa);
}

const char* Collector::check_tunnelled(const std::uint8_t* p, std::uint32_t len,
                                       std::uint32_t pkt_len) {
    if (len < 14 + 40 + 8 + 40) return "tunnelled packet too short";
    if (std::memcmp(p, plan_.access_router_mac.bytes.data(), 6) != 0) return "wrong next-hop MAC";
    const std::uint8_t* outer = p + 14;
    if (outer[6] != 60 || outer[40] != net::kProtoIpv6InIpv6) return "no TEL destination option";
    if (std::memcmp(outer + 8, plan_.ha_address.bytes.data(), 16) != 0) return "wrong outer source";
    if (net::load_be16(outer + 4) + 54u != pkt_len) return "wrong outer payload length";
    const std::uint8_t* inner = outer + 48;
    if (!Plan::is_home_address(inner + 24)) return "inner destination is not a HoA";
    if (inner[7] != 63) return "inner hop limit not decremented once";
    std::uint32_t hoa = Plan::home_index(inner + 24);
    const std::uint8_t* coa = outer + 24;
    if (!strict_care_of) {
        return std::memcmp(coa, plan_.care_of_prefix.address.bytes.data(), 4) == 0 &&
                       (coa[4] & 0xf0) == 0xc0
                   ? nullptr
                   : "CoA outside the CoA prefix";
    }
    for (unsigned k = 0; k < coas_; ++k)
        if (std::memcmp(coa, Plan::care_of(hoa, k).bytes.data(), 16) == 0) return nullptr;
    return "CoA not registered for the HoA";
}

const char* Collector::check_routed(const std::uint8_t* p, std::uint32_t len, bool access_side) {
    if (len < 14 + 40) return "routed packet too short";
    const MacAddress& next_hop = access_side ? plan_.access_router_mac : plan_.home_router_mac;
    const MacAddress& own = access_side ? plan_.access_mac : plan_.home_mac;
    if (std::memcmp(p, next_hop.bytes.data(), 6) != 0) return "wrong next-hop MAC";
    if (std::memcmp(p + 6, own.bytes.data(), 6) != 0) return "wrong source MAC";
    const std::uint8_t* ip = p + 14;
    if (ip[7] != 63) return "hop limit not decremented once";
    if (access_side) return Plan::is_home_address(ip + 24) ? nullptr : "not to a HoA";
    if (ip[6] != net::kProtoIpv6InIpv6 || len < 14 + 40 + 40 || !Plan::is_home_address(ip + 48))
        return "not reverse-tunnelled from a HoA";
    return nullptr;
}

const char* Collector::check_decapsulated(const std::uint8_t* p, std::uint32_t len) {
    if (len < 14 + 40) return "decapsulated packet too short";
    if (std::memcmp(p, plan_.home_router_mac.bytes.data(), 6) != 0) return "wrong next-hop MAC";
    const std::uint8_t* ip = p + 14;
    if (ip[6] != net::kProtoUdp) return "not the inner packet";
    if (!Plan::is_home_address(ip + 8)) return "source is not a HoA";
    if (ip[7] != 63) return "hop limit not decremented once";
    return nullptr;
}

}  // namespace monami::bench
