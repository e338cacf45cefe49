// monami-bench's equal-work peer: a plain IPv6 router in the shape of DPDK l3fwd's
// exact-match (EM) path, run on the same ring ports, the same lcore and the same traffic as
// monami's worker, so that "cycles per packet" can be compared with what a user would
// otherwise deploy. docs/performance.md ("The equal-work peer") says why it is fair.
//
// Per packet, as l3fwd-EM does (examples/l3fwd/l3fwd_em_hlm.h): the frame checks monami's
// worker makes, a 16-byte key copied out of the header, rte_hash_lookup_bulk in groups of
// 8 (the next group's headers prefetched meanwhile), the output port read from an array
// indexed by the key's position, hop limit decremented, both MACs rewritten, and
// rte_eth_tx_buffer per port, flushed on the worker's TX drain deadline.
#pragma once

#include <rte_ethdev.h>
#include <rte_hash.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/api/control.hpp"
#include "dataplane/bench/plan.hpp"
#include "dataplane/tuning.hpp"

namespace monami::bench {

class PeerRouter {
  public:
    // The port sides of the Plan: home (CN side) and access (towards the CoAs).
    enum Side : unsigned { kHome = 0, kAccess = 1 };

    // Written by the lcore that runs iterations, read by the bench's main lcore between
    // phases (when nothing runs).
    struct Counters {
        std::uint64_t received = 0;
        std::uint64_t routed = 0;     // handed to a TX buffer
        std::uint64_t malformed = 0;  // not a well-formed IPv6 frame to the port's MAC
        std::uint64_t no_route = 0;   // key not in the table
        std::uint64_t hop_limit = 0;  // hop limit would reach 0
        std::uint64_t tx_full = 0;    // refused by the port when a TX buffer was flushed
        std::uint64_t dropped() const { return malformed + no_route + hop_limit + tx_full; }
    };

    // A table of every HoA of the plan (0..hoas-1), each routed to the access router.
    // `ports` by Side. nullptr and `error` when EAL memory runs out.
    static std::unique_ptr<PeerRouter> create(const Plan& plan, std::uint32_t hoas,
                                              const PortId (&ports)[2], std::string& error);
    ~PeerRouter();
    PeerRouter(const PeerRouter&) = delete;
    PeerRouter& operator=(const PeerRouter&) = delete;

    // One pass of the worker's loop shape: rx_burst on each port, route, drain when the
    // deadline has passed. Returns the packets received.
    unsigned iteration();
    // Everything buffered goes out now.
    void drain();
    const Counters& counters() const { return counters_; }

  private:
    PeerRouter() = default;
    void route_burst(rte_mbuf** pkts, unsigned n, unsigned in);
    void route_group(rte_mbuf** pkts, unsigned n, unsigned in);

    rte_hash* table_ = nullptr;
    // l3fwd's ipv6_l3fwd_out_if: the output Side of the key at each rte_hash position.
    std::vector<std::uint8_t> side_of_position_;
    PortId ports_[2] = {};
    // What an IPv6 frame arriving on each side must carry: its destination MAC as the low
    // 6 bytes of a word (as monami's worker tests it).
    std::uint64_t port_mac_word_[2] = {};
    // The first 12 bytes of every frame leaving on each side (next hop's MAC, then ours),
    // built once: a packet gets one copy, as l3fwd's val_eth.
    std::uint8_t ethernet_rewrite_[2][12] = {};
    // Reverse-tunnelled packets to this address are keyed by the inner source HoA.
    Ipv6Address tunnel_endpoint_;
    rte_eth_dev_tx_buffer* tx_buffers_[2] = {};
    std::uint64_t drain_tsc_ = 0;
    std::uint64_t next_drain_tsc_ = 0;
    Counters counters_;
};

}  // namespace monami::bench
