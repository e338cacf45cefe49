// monami-bench's traffic: what the generator offers (TrafficSpec; Generator builds the
// frames from the Plan into a port's RX ring) and how the Collector sorts and checks what
// comes out of the TX rings.
#pragma once

#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/api/control.hpp"
#include "dataplane/api/types.hpp"
#include "dataplane/bench/plan.hpp"

namespace monami::bench {

enum class Direction { Encap, Decap, Ncast };
const char* to_string(Direction d);

// The failover phase's HoA: while `on`, one packet in four (encap) goes to it, cycling
// through kFlows flows (UDP source ports kFirstPort..), each with its own frame size:
// 96 while the phase learns which CoA carries which flow, then 64 for the flows of the
// CoA that stays and 128 for those of the CoA that fails (the worker's probe tells them
// apart by bytes per packet on the healthy CoA's counter slot).
struct FailoverFlows {
    static constexpr unsigned kFlows = 16;
    static constexpr std::uint16_t kFirstPort = 40000;
    static constexpr std::uint16_t kHealthySize = 64, kLearnSize = 96, kMovedSize = 128;
    static unsigned size_class(std::uint32_t frame) {
        return frame == kHealthySize ? 0 : frame == kLearnSize ? 1 : 2;
    }
    std::uint32_t hoa = 0;
    bool on = false;
    std::uint16_t size[kFlows] = {};
    std::uint32_t next = 0;
    std::uint64_t offered[3] = {};  // by size class
    std::uint64_t offered_total() const { return offered[0] + offered[1] + offered[2]; }
};

struct TrafficSpec {
    Direction direction = Direction::Encap;
    std::vector<std::uint16_t> sizes;         // frame sizes of the inner (CN-side) packet
    std::vector<std::uint32_t> destinations;  // HoA indices, cycled
    std::uint16_t destination_port = bench::kPlainPort;
    std::optional<std::uint32_t> probe_hoa;  // every 4th packet goes there
    FailoverFlows* failover = nullptr;
};

class Generator {
  public:
    Generator(const Plan& plan, rte_mempool* pool, unsigned coas)
        : plan_(plan), pool_(pool), coas_(coas) {}

    void use(const TrafficSpec* spec, rte_ring* ring, PortId port) {
        spec_ = spec;
        ring_ = ring;
        port_ = port;
    }
    // Offers up to n new packets; returns how many the RX ring took.
    unsigned fill(unsigned n);
    std::uint64_t offered = 0;

  private:
    void write(rte_mbuf* m);

    const Plan& plan_;
    rte_mempool* pool_;
    unsigned coas_;
    const TrafficSpec* spec_ = nullptr;
    rte_ring* ring_ = nullptr;
    PortId port_ = 0;
    std::size_t size_pos_ = 0, dest_pos_ = 0;
    std::uint32_t flow_ = 0;
};

// Drains the TX rings, sorts what came out (data, BAs, NAs), verifies a sample.
class Collector {
  public:
    Collector(const Plan& plan, unsigned coas, bool check_all)
        : plan_(plan), coas_(coas), sample_mask_(check_all ? 0 : 63) {}

    bool strict_care_of = true;  // CoA must be one provisioned for the HoA
    // What the data packets must look like: as monami's pipeline sends them, anything (the
    // io baseline sends them out unchanged), or as the peer router sends them (every one on
    // the one port the traffic's direction routes to).
    enum class Expect { Pipeline, Anything, RoutedToHome, RoutedToAccess };
    Expect expect = Expect::Pipeline;
    std::uint64_t data = 0, acks = 0, rejected_acks = 0, advertisements = 0, other = 0;
    std::uint64_t esp_signalling = 0;  // RH2 then ESP: a protected BA (or heartbeat)
    std::uint64_t signalling = 0;      // plain MH to a CoA: heartbeat requests
    std::uint64_t checked = 0, wrong = 0;
    std::uint64_t misrouted = 0;  // the peer's packets out of the port not routed to
    std::string first_wrong;

    // The failover phase's HoA: every tunnelled packet to it is counted by size class and
    // CoA number (of `generation`), and the CoA number of each flow's latest packet noted.
    struct FailoverSeen {
        bool enabled = false;
        HomeAddress hoa;
        std::uint8_t generation = 0;
        std::uint8_t last_coa[FailoverFlows::kFlows] = {};  // 0xff: not seen
        std::uint64_t by_size_and_coa[3][4] = {};
        std::uint64_t other_generation = 0;
        std::uint64_t total = 0;  // every generation
        void start_cycle(std::uint8_t g) {
            generation = g;
            std::memset(last_coa, 0xff, sizeof last_coa);
            std::memset(by_size_and_coa, 0, sizeof by_size_and_coa);
            other_generation = 0;
        }
    } failover;

    void collect(rte_ring* ring, bool access_side);
    std::uint64_t total() const {
        return data + acks + rejected_acks + advertisements + other + esp_signalling + signalling;
    }

  private:
    void classify(rte_mbuf* m, bool access_side);
    void note_failover(const std::uint8_t* outer, std::uint32_t len);
    const char* check_tunnelled(const std::uint8_t* p, std::uint32_t len, std::uint32_t pkt_len);
    // The peer router's output: the frame as it came in, with the next hop's MAC and ours,
    // and the hop limit decremented; to a HoA (access side) or reverse-tunnelled from one.
    const char* check_routed(const std::uint8_t* p, std::uint32_t len, bool access_side);
    const char* check_decapsulated(const std::uint8_t* p, std::uint32_t len);

    const Plan& plan_;
    unsigned coas_;
    std::uint64_t sample_mask_;
};

}  // namespace monami::bench
