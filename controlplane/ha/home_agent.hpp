// The control thread's packet handler: everything punted by the workers arrives here.
// Plain C++ over the DataPlane interface, so it unit-tests without an EAL.
#pragma once

#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "dataplane/api/control.hpp"
#include "dataplane/api/types.hpp"

namespace monami::ha {

struct InterfaceAddress {
    Ipv6Address address;
    std::uint8_t prefix_length = 64;
};

struct Interface {
    PortId port = 0;
    std::string name;
    MacAddress mac;
    std::vector<InterfaceAddress> addresses;  // a link-local one is derived from the MAC
    std::uint16_t mtu = 1500;
};

struct HaSettings {
    std::vector<Interface> interfaces;
    std::vector<Route> static_routes;
    std::vector<Neighbor> static_neighbors;
    std::uint32_t resolution_retry_ms = 1000;  // RFC 4861 RetransTimer
};

// Control-plane counters; read by telemetry through a copy made on the control thread.
struct HaCounters {
    std::uint64_t frames = 0;
    std::uint64_t malformed = 0;
    std::uint64_t neighbor_solicitations_answered = 0;
    std::uint64_t neighbor_advertisements_received = 0;
    std::uint64_t neighbor_solicitations_sent = 0;
    std::uint64_t echo_replies = 0;
    std::uint64_t unresolved_drops = 0;
    std::uint64_t not_handled = 0;  // local packets of a kind nobody handles (counted drop)
    std::uint64_t tx_failures = 0;
};

// EUI-64 link-local address of a MAC (RFC 4291 appendix A).
Ipv6Address link_local_from_mac(const MacAddress& mac);

class HomeAgent {
  public:
    HomeAgent(HaSettings settings, DataPlane& dataplane);

    // Publishes the initial forwarding table.
    void start(std::uint64_t now_ms);
    void on_frame(PortId port, PuntReason reason, std::span<const std::uint8_t> frame,
                  std::uint64_t now_ms);
    void on_tick(std::uint64_t now_ms);

    const HaCounters& counters() const { return counters_; }
    const HaSettings& settings() const { return settings_; }
    // Resolved neighbors (static and learned), for telemetry.
    std::vector<Neighbor> neighbors() const;

  private:
    struct LearnedNeighbor {
        PortId port;
        MacAddress mac;
    };
    struct PendingResolution {
        PortId port;
        std::uint64_t last_sent_ms;
    };

    const Interface* interface_of(PortId port) const;
    bool owns(PortId port, const Ipv6Address& a) const;
    std::optional<Ipv6Address> source_for(PortId port, const Ipv6Address& dst) const;
    std::vector<Route> routes() const;  // connected prefixes, then static routes
    void publish();
    void learn(PortId port, const Ipv6Address& a, const MacAddress& mac);
    void handle_local(PortId port, std::span<const std::uint8_t> frame);
    void request_resolution(std::span<const std::uint8_t> frame, std::uint64_t now_ms);
    void send(PortId port, const std::vector<std::uint8_t>& frame);

    HaSettings settings_;
    DataPlane& dataplane_;
    std::map<Ipv6Address, LearnedNeighbor> learned_;
    std::map<Ipv6Address, PendingResolution> pending_;
    HaCounters counters_;
};

}  // namespace monami::ha
