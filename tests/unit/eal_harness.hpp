// Shared pieces of the EAL tests (eal_dataplane, eal_publisher): one EAL per process
// (--no-huge, no PCI), ethdev ports made of two rings each so a test can inject frames and
// read what the real Runtime transmitted, and builders for the frames and snapshots.
#pragma once

#include <gtest/gtest.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include <unistd.h>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "controlplane/ha/home_agent.hpp"
#include "controlplane/ha/tunnel_header.hpp"
#include "controlplane/net/packet.hpp"
#include "dataplane/api/snapshot.hpp"
#include "dataplane/runtime.hpp"

namespace monami::test {

inline Ipv6Address ip(const char* text) {
    return *Ipv6Address::parse(text);
}
inline MacAddress mac(const char* text) {
    return *MacAddress::parse(text);
}
inline Ipv6Prefix prefix(const char* text) {
    return *Ipv6Prefix::parse(text);
}

// Initialises the EAL once for the whole test program; registered from a static
// initializer so gtest_main stays the entry point.
class EalEnvironment : public ::testing::Environment {
  public:
    explicit EalEnvironment(std::string lcores) : lcores_(std::move(lcores)) {}
    void SetUp() override {
        // A per-process prefix keeps parallel runs (and other users of the machine) apart.
        std::string prefix = "--file-prefix=monami_test_" + std::to_string(getpid());
        std::string cores = "-l" + lcores_;
        std::vector<std::string> args = {"eal_test", "--no-huge", "-m",
                                         "512",      "--no-pci",  "--no-telemetry",
                                         prefix,     cores,       "--log-level=*:warning"};
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0)
            << "rte_eal_init: " << rte_strerror(rte_errno);
        pool = rte_pktmbuf_pool_create("test_frames", 8191, 128, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                       static_cast<int>(rte_socket_id()));
        ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
    }
    void TearDown() override {
        rte_mempool_free(pool);
        rte_eal_cleanup();
    }
    static inline rte_mempool* pool = nullptr;  // frames the tests inject

  private:
    std::string lcores_;
};

// An ethdev whose RX queue is a ring the test fills and whose TX queue is a ring the test
// empties. The Runtime finds it by name ("net_ring_<name>") instead of probing a device.
struct RingPort {
    std::string device;
    rte_ring* rx = nullptr;  // test -> worker
    rte_ring* tx = nullptr;  // worker -> test
    PortId id = 0;

    bool create(const std::string& name, unsigned size = 4096) {
        int socket = static_cast<int>(rte_socket_id());
        rx = rte_ring_create((name + "_rx").c_str(), size, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
        tx = rte_ring_create((name + "_tx").c_str(), size, socket, RING_F_SP_ENQ | RING_F_SC_DEQ);
        if (!rx || !tx) return false;
        int port = rte_eth_from_rings(name.c_str(), &rx, 1, &tx, 1, static_cast<unsigned>(socket));
        if (port < 0) return false;
        id = static_cast<PortId>(port);
        device = "net_ring_" + name;
        return true;
    }
    // After the Runtime that used the port is gone (it closes the port).
    void destroy() {
        drain_tx();
        rte_mbuf* m;
        while (rte_ring_dequeue(rx, reinterpret_cast<void**>(&m)) == 0) rte_pktmbuf_free(m);
        rte_ring_free(rx);
        rte_ring_free(tx);
        rx = tx = nullptr;
    }
    void drain_tx() {
        rte_mbuf* m;
        while (rte_ring_dequeue(tx, reinterpret_cast<void**>(&m)) == 0) rte_pktmbuf_free(m);
    }
    std::vector<rte_mbuf*> take_sent() {
        std::vector<rte_mbuf*> out;
        rte_mbuf* m;
        while (rte_ring_dequeue(tx, reinterpret_cast<void**>(&m)) == 0) out.push_back(m);
        return out;
    }
};

// The bytes of a frame, in one mbuf of the test pool, received on `port`.
inline rte_mbuf* to_mbuf(const std::vector<std::uint8_t>& frame, PortId port) {
    rte_mbuf* m = rte_pktmbuf_alloc(EalEnvironment::pool);
    if (!m) return nullptr;
    char* d = rte_pktmbuf_append(m, static_cast<std::uint16_t>(frame.size()));
    if (!d) {
        rte_pktmbuf_free(m);
        return nullptr;
    }
    std::memcpy(d, frame.data(), frame.size());
    m->port = port;
    return m;
}

// Every byte of a (possibly chained) mbuf.
inline std::vector<std::uint8_t> bytes_of(const rte_mbuf* m) {
    std::vector<std::uint8_t> out(rte_pktmbuf_pkt_len(m));
    const void* p = rte_pktmbuf_read(m, 0, static_cast<std::uint32_t>(out.size()), out.data());
    if (p != out.data()) std::memcpy(out.data(), p, out.size());
    return out;
}

// IPv6 + UDP with `payload_bytes` of a recognisable pattern (starting at `seed`).
inline std::vector<std::uint8_t> ipv6_udp(const Ipv6Address& src, const Ipv6Address& dst,
                                          std::uint16_t payload_bytes,
                                          std::uint16_t destination_port = 5000,
                                          std::uint8_t hop_limit = 64, std::uint8_t seed = 0) {
    std::vector<std::uint8_t> p(net::kIpv6HeaderSize + 8 + payload_bytes);
    auto udp_length = static_cast<std::uint16_t>(8 + payload_bytes);
    net::write_ipv6_header(p.data(), udp_length, net::kProtoUdp, hop_limit, src, dst);
    std::uint8_t* u = p.data() + net::kIpv6HeaderSize;
    net::store_be16(u, 40000);
    net::store_be16(u + 2, destination_port);
    net::store_be16(u + 4, udp_length);
    for (std::size_t i = 0; i < payload_bytes; ++i) u[8 + i] = static_cast<std::uint8_t>(seed + i);
    return p;
}

inline std::vector<std::uint8_t> ethernet(const MacAddress& dst, const MacAddress& src,
                                          const std::vector<std::uint8_t>& payload,
                                          std::uint16_t ether_type = net::kEtherTypeIpv6) {
    std::vector<std::uint8_t> f(net::kEthernetHeaderSize + payload.size());
    net::write_ethernet_header(f.data(), dst, src, ether_type);
    std::memcpy(f.data() + net::kEthernetHeaderSize, payload.data(), payload.size());
    return f;
}

// IPv6-in-IPv6 (RFC 2473) without extension headers: what a mobile node reverse-tunnels.
inline std::vector<std::uint8_t> ipv6_in_ipv6(const Ipv6Address& outer_src,
                                              const Ipv6Address& outer_dst,
                                              const std::vector<std::uint8_t>& inner) {
    std::vector<std::uint8_t> p(net::kIpv6HeaderSize + inner.size());
    net::write_ipv6_header(p.data(), static_cast<std::uint16_t>(inner.size()),
                           net::kProtoIpv6InIpv6, 64, outer_src, outer_dst);
    std::memcpy(p.data() + net::kIpv6HeaderSize, inner.data(), inner.size());
    return p;
}

// A tunnel path built exactly as the home agent builds it (controlplane/ha).
inline DeliveryPath tunnel_path(const Ipv6Address& care_of, const Ipv6Address& home_agent,
                                PortId port, const MacAddress& next_hop, const MacAddress& port_mac,
                                const ha::TunnelSettings& tunnel, std::uint32_t counter_slot,
                                std::uint16_t bid = 1) {
    DeliveryPath path{};
    path.bid = bid;
    path.care_of = care_of;
    path.home_agent = home_agent;
    path.port = port;
    path.mtu = tunnel.mtu;
    path.counter_slot = counter_slot;
    ha::write_tunnel_header(path, next_hop, port_mac, home_agent, tunnel);
    return path;
}

// Every flow to path `index` (unicast).
inline FlowAction to_path(std::uint8_t index) {
    FlowAction a{};
    std::memset(a.choice, index, sizeof a.choice);
    return a;
}

inline FlowAction ncast(std::uint8_t mask) {
    FlowAction a = to_path(kNoBinding);
    a.ncast_mask = mask;
    return a;
}

inline std::unique_ptr<HoaSnapshot> snapshot(const HomeAddress& hoa,
                                             std::vector<DeliveryPath> paths,
                                             const FlowAction& default_action,
                                             std::uint32_t generation = 1) {
    auto s = std::make_unique<HoaSnapshot>();
    s->home_address = hoa;
    s->generation = generation;
    s->paths = std::move(paths);
    s->path_count = static_cast<std::uint8_t>(s->paths.size());
    s->default_action = default_action;
    return s;
}

}  // namespace monami::test
