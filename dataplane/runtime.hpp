// The DPDK side of monami-gw: ports, the mbuf pool, the worker lcores, the rings between
// workers and the control thread, and RCU publication of the forwarding state.
// One class, defined by role: runtime.cpp (construction, lifecycle, totals), ports.cpp,
// packet_path.cpp (the worker's burst loop and its stages), control_channel.cpp (punted
// frames, signalling queues, frames from the control thread), publication.cpp (RCU).
#pragma once

#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/api/control.hpp"
#include "dataplane/counters.hpp"
#include "dataplane/fib.hpp"
#include "dataplane/flow_steering.hpp"
#include "dataplane/hoa_table.hpp"
#include "dataplane/neighbor_table.hpp"
#include "dataplane/tuning.hpp"

namespace monami::dp {

struct PortSpec {
    std::string name;
    std::string device;  // PCI address or vdev string
    std::optional<MacAddress> mac;
    std::uint16_t mtu = 1500;
};

struct RuntimeSettings {
    std::vector<PortSpec> ports;
    unsigned mbufs = 16383;
    unsigned mbuf_cache = 256;
    std::uint16_t rx_descriptors = 1024;
    std::uint16_t tx_descriptors = 1024;
    unsigned control_ring = 4096;
    std::uint32_t max_home_addresses = 65536;  // HoA table capacity
    std::uint32_t max_paths = 65536;           // per-binding counter slots
    std::uint32_t max_neighbors = 65536;       // resolved neighbors (NeighborTable)
    // Try rte_flow steering of signalling to a dedicated RX queue the control thread polls
    // (dataplane/flow_steering.hpp); ports that cannot keep the software classifier only.
    bool steer_signalling = false;
};

struct PortState {
    std::string name;
    std::string device;
    PortId id = 0;
    MacAddress mac;
    int signalling_queue = -1;  // RX queue the control thread polls; -1: software classifier
    std::string steering;       // how signalling reaches the control thread, and why (fixed)
    std::vector<rte_flow*> steering_flows;
};

struct SignallingQueueCounters {
    std::uint64_t received = 0;  // packets the control thread took from the queue
    std::uint64_t strays = 0;    // not signalling after all: handed to worker 0 to classify
    std::uint64_t rules = 0;     // rte_flow rules installed now
};

class Runtime;
struct BurstTally;

// One per worker lcore, cache-line aligned, touched only by its lcore on the fast path.
struct alignas(64) WorkerCtx {
    Runtime* runtime = nullptr;
    unsigned index = 0;  // worker number, also the RCU thread id and queue id
    unsigned lcore = 0;
    rte_ring* control_tx = nullptr;  // frames from the control thread to send
    rte_eth_dev_tx_buffer* tx_buffers[RTE_MAX_ETHPORTS] = {};
    std::uint64_t next_drain_tsc = 0;
    WorkerCounters counters;
    PathCounters* path_counters = nullptr;  // [max_paths], this worker's share
};

class Runtime final : public DataPlane, public Reclaimer {
  public:
    // After rte_eal_init. Workers are all non-main lcores; with none, the main lcore runs
    // the worker loop between control iterations (one-lcore mode).
    static std::unique_ptr<Runtime> create(const RuntimeSettings& settings, std::string& error);
    ~Runtime() override;

    const std::vector<PortState>& ports() const { return ports_; }
    unsigned worker_count() const { return static_cast<unsigned>(workers_.size()); }
    bool one_lcore_mode() const { return one_lcore_; }
    const WorkerCtx& worker(unsigned i) const { return *workers_[i]; }
    WorkerCtx& worker(unsigned i) { return *workers_[i]; }

    void launch_workers();
    // One control iteration: hands every punted packet to `handle` (port, reason, bytes),
    // runs the worker loop itself in one-lcore mode. Returns the number of packets handled.
    // `aux` carries the MTU for TooBig punts.
    using PuntHandler =
        std::function<void(PortId, PuntReason, std::uint16_t aux, std::span<const std::uint8_t>)>;
    unsigned poll_control(const PuntHandler& handle);
    // Stops the workers, flushes their TX buffers, stops and closes the ports.
    void stop();

    std::uint64_t total_rx_packets() const;
    bool control_queues_empty() const;
    // Punted frames waiting in the workers -> control ring.
    unsigned control_ring_count() const { return rte_ring_count(control_ring_); }
    WorkerCounters totals() const;
    std::uint64_t control_tx_failures() const { return control_tx_failures_.load(); }
    // "rte_flow+software" when some port steers signalling to its own queue, else "software".
    const char* classifier_in_use() const;
    SignallingQueueCounters signalling_queue_counters(PortId port) const;

    // DataPlane
    bool send_frame(PortId port, std::span<const std::uint8_t> frame) override;
    bool route_packet(std::span<const std::uint8_t> ipv6_packet) override;
    void set_serving(bool serving) override { serving_.store(serving, std::memory_order_release); }
    void publish_routing(const RoutingState& state) override;
    void publish_neighbor(const Neighbor& neighbor) override;
    void publish_hoa(const HoaSnapshot& snapshot) override;
    void withdraw_hoa(const HomeAddress& home_address) override;
    PathCounters path_counters(std::uint32_t slot) const override;
    void reclaim() override;
    // Reclaimer
    void defer(FreeFn fn, void* object, std::uintptr_t arg) override;
    void reclaim_now() override;
    std::uint64_t synchronous_reclaims() const { return synchronous_reclaims_; }
    // LPM tables compiled so far: routes or our addresses changed (neighbors do not count).
    std::uint64_t forwarding_table_builds() const { return forwarding_table_builds_; }
    std::size_t home_address_count() const { return hoas_->size(); }
    // Bytes of the live packed snapshots (control thread).
    std::size_t snapshot_bytes() const { return hoas_->snapshot_bytes(); }

    // Worker side.
    void worker_loop(WorkerCtx& w);
    // For a driver of worker_iteration other than launch_workers (monami-bench): the calling
    // lcore becomes, then stops being, worker w's RCU reader.
    void worker_online(WorkerCtx& w);
    void worker_offline(WorkerCtx& w);
    void worker_iteration(WorkerCtx& w);

  private:
    Runtime() = default;
    bool init(const RuntimeSettings& settings, std::string& error);
    // publication.cpp: the QSBR variable and the defer queue.
    bool init_rcu(std::string& error);
    // ports.cpp
    bool init_port(const PortSpec& spec, bool steer_signalling, std::string& error);
    bool configure_queues(PortId pid, const std::string& name, std::uint16_t rx_queues,
                          std::uint16_t tx_queues, std::string& error);
    void update_signalling_rules(const std::vector<Ipv6Address>& local_addresses);
    // control_channel.cpp
    unsigned poll_signalling_queues(const PuntHandler& handle);
    bool enqueue_control_frame(PortId port, std::span<const std::uint8_t> head,
                               std::span<const std::uint8_t> body, bool route);
    // packet_path.cpp: the stages of the burst loop.
    void process_burst(WorkerCtx& w, const Fib& fib, rte_mbuf** pkts, std::uint16_t n,
                       bool allow_decap);
    // process_burst's header checks one by one, for a frame the combined test refused: true
    // when it is a unicast IPv6 packet for us after all, else it is dropped or punted.
    bool check_headers(WorkerCtx& w, rte_mbuf* m);
    void route_burst(WorkerCtx& w, const Fib& fib, rte_mbuf** pkts,
                     std::uint8_t (*destinations)[16], unsigned n, rte_mbuf** tunneled,
                     std::uint16_t& t);
    void route_decapsulated(WorkerCtx& w, const Fib& fib, rte_mbuf** pkts, std::uint16_t n);
    void prefetch_counters(WorkerCtx& w, const PackedHoa* snap, std::uint8_t chosen) const;
    std::uint8_t prefetch_delivery(WorkerCtx& w, const PackedHoa* snap, std::uint32_t hash) const;
    // `fast_hash`: the packet's flow hash from extract_fast_fields, when already computed.
    void deliver_to_mobile_node(WorkerCtx& w, rte_mbuf* m, const PackedHoa& snap,
                                unsigned depth = 0, const std::uint32_t* fast_hash = nullptr);
    // `limit`: the encapsulation limit the outer header may carry at most (-1: the path's).
    void send_on_path(WorkerCtx& w, rte_mbuf* m, const DeliveryPath& path,
                      std::uint16_t inner_length, int limit, unsigned depth);
    void send_copies(WorkerCtx& w, rte_mbuf* m, const PackedHoa& snap, std::uint8_t mask,
                     std::uint16_t inner_length, int limit, unsigned depth);
    void emit_on_path(WorkerCtx& w, rte_mbuf* m, const DeliveryPath& path,
                      std::uint16_t inner_length, unsigned depth);
    std::uint16_t decapsulate_burst(WorkerCtx& w, rte_mbuf** pkts, std::uint16_t n, rte_mbuf** out);
    bool decapsulate(WorkerCtx& w, rte_mbuf* m, const PackedHoa* snap);
    void forward(WorkerCtx& w, rte_mbuf* m, const NeighborTable::Entry& to, BurstTally& tally);
    void drop(WorkerCtx& w, rte_mbuf* m, DropReason reason);
    void punt(WorkerCtx& w, rte_mbuf* m, PuntReason reason, std::uint16_t aux = 0);
    void transmit(WorkerCtx& w, PortId port, rte_mbuf* m);
    void drain(WorkerCtx& w);

    std::vector<PortState> ports_;
    MacAddress port_mac_[RTE_MAX_ETHPORTS];
    rte_ether_addr port_ether_[RTE_MAX_ETHPORTS] = {};
    // The port's MAC as the low 48 bits of a little-endian word: the burst loop compares a
    // frame's destination with one 8-byte load.
    std::uint64_t port_mac_word_[RTE_MAX_ETHPORTS] = {};
    rte_mempool* pool_ = nullptr;
    rte_mempool* clone_pool_ = nullptr;  // indirect mbufs for n-cast copies
    std::unique_ptr<HoaTable> hoas_;
    std::unique_ptr<NeighborTable> neighbors_;
    std::uint32_t max_paths_ = 0;
    std::uint64_t synchronous_reclaims_ = 0;
    std::uint64_t forwarding_table_builds_ = 0;
    rte_ring* control_ring_ = nullptr;  // workers -> control (MP/SC)
    std::vector<std::unique_ptr<WorkerCtx>> workers_;
    bool one_lcore_ = false;
    std::atomic<bool> stopping_{false};
    std::atomic<bool> serving_{true};  // false: a silent standby (set_serving)
    std::atomic<const Fib*> fib_{nullptr};
    rte_rcu_qsbr* qsbr_ = nullptr;
    rte_rcu_qsbr_dq* defer_queue_ = nullptr;
    std::atomic<std::uint64_t> control_tx_failures_{0};
    std::uint64_t drain_tsc_ = 0;
    std::uint16_t rx_descriptors_ = 1024;
    std::uint16_t tx_descriptors_ = 1024;
    bool stopped_ = false;
    std::vector<Ipv6Address> steered_addresses_;
    std::atomic<std::uint64_t> signalling_received_[RTE_MAX_ETHPORTS] = {};
    std::atomic<std::uint64_t> signalling_strays_[RTE_MAX_ETHPORTS] = {};
    std::atomic<std::uint64_t> signalling_rules_[RTE_MAX_ETHPORTS] = {};
};

}  // namespace monami::dp
