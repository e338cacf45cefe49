// The mobile node's protocol engine: Neighbor Discovery for each access link's next hop,
// home registration per RFC 6275 s.11.7.1 with multiple care-of addresses (RFC 5648, one BU
// per link or one bulk BU), flow bindings (RFC 6089), NEMO prefixes (RFC 3963), BA
// processing, retransmission (s.11.8), refresh, Binding Refresh Requests, RFC 5847
// heartbeats and de-registration. With a tun interface it also decapsulates what the HA
// tunnels to a CoA and reverse-tunnels what the kernel sends.
// It never touches a socket: frames go out through SendFrame, events through Emit, so the
// unit tests drive it with frames built by the project's codecs.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/esp/transport.hpp"
#include "controlplane/mh/messages.hpp"
#include "controlplane/net/icmpv6.hpp"
#include "tools/mn/options.hpp"

namespace monami::mn {

// What main() learnt about an interface before the engine starts.
struct LinkEnvironment {
    MacAddress mac;
    std::optional<Ipv6Address> route_next_hop;  // the kernel's gateway towards the HA, if any
    bool kernel_owns_care_of = true;            // the CoA is configured on the interface
};

struct LinkCounters {
    std::uint64_t rx_frames = 0;  // frames accepted on the link (ND, MH, tunnelled)
    std::uint64_t tx_frames = 0;
    std::uint64_t rx_tunnelled = 0;  // decapsulated towards the tun interface
    std::uint64_t tx_tunnelled = 0;  // reverse-tunnelled from the tun interface
    std::uint64_t rx_bytes = 0;
    std::uint64_t tx_bytes = 0;
    std::uint64_t dropped = 0;  // tunnelled packets refused (wrong outer source, ...)
};

enum class CommandOutcome { Ok, Quit, Error };

class MobileNode {
  public:
    using SendFrame = std::function<bool(std::size_t link, std::span<const std::uint8_t> frame)>;
    using Emit = std::function<void(const std::string& json_line)>;
    using WriteTun = std::function<void(std::span<const std::uint8_t> ip_packet)>;

    MobileNode(MnOptions options, std::vector<LinkEnvironment> environment, SendFrame send,
               Emit emit, WriteTun write_tun = {});

    void start(std::uint64_t now_ms);
    void on_frame(std::size_t link, std::span<const std::uint8_t> frame, std::uint64_t now_ms);
    // An IPv6 packet the kernel sent out of the tun interface.
    void on_tun_packet(std::span<const std::uint8_t> ip_packet, std::uint64_t now_ms);
    void on_tick(std::uint64_t now_ms);
    CommandOutcome command(std::string_view line, std::uint64_t now_ms);
    std::optional<std::uint64_t> next_deadline_ms() const;

    // Stops refreshing; de-registers everything when --deregister-at-exit was given.
    void begin_shutdown(std::uint64_t now_ms);
    // The de-registration was acknowledged, or there was nothing to wait for, or it timed out.
    bool shutdown_complete(std::uint64_t now_ms) const;

    void emit_stats();
    bool link_up(std::size_t link) const { return links_[link].up; }
    std::size_t link_count() const { return links_.size(); }
    const LinkCounters& counters(std::size_t link) const { return links_[link].counters; }
    bool registered(std::uint16_t bid) const;
    std::uint16_t next_sequence() const { return next_sequence_; }

  private:
    struct Link {
        LinkSpec spec;
        std::uint16_t bid = 0;
        LinkEnvironment env;
        bool up = true;
        Ipv6Address next_hop;
        std::optional<MacAddress> next_hop_mac;
        std::uint64_t next_solicitation_ms = 0;
        unsigned solicitations = 0;
        std::vector<std::vector<std::uint8_t>> waiting;  // IPv6 packets until ND resolves
        LinkCounters counters;
        // Registration state of this link's BID.
        bool wanted = true;  // register and refresh it
        bool registered = false;
        std::uint64_t refresh_at_ms = 0;
        std::uint64_t expires_at_ms = 0;
    };
    struct PendingBu {
        std::uint16_t sequence = 0;
        std::size_t link = 0;             // sent over
        std::vector<std::uint16_t> bids;  // empty: the BU names no BID (all bindings)
        std::uint16_t lifetime_4s = 0;
        // The MN's flow bindings as this BU states them (RFC 6089 s.5): new or changed ones
        // in Flow Identification options, kept ones in the Flow Summary. A BU that does not
        // carry them (de-registering everything) leaves none.
        bool carries_flows = false;
        std::vector<FlowSpec> flow_changes;
        std::vector<std::uint16_t> flow_summary;
        std::uint32_t timeout_ms = 0;
        std::uint64_t retransmit_at_ms = 0;
        unsigned transmissions = 0;
    };

    Link* link_by_name(std::string_view name);
    Link* link_by_bid(std::uint16_t bid);
    std::optional<std::size_t> first_live_link() const;
    void emit(const class JsonObject& event);
    void emit_error(std::string_view message);

    // Neighbor Discovery.
    void solicit(std::size_t link, std::uint64_t now_ms);
    void handle_icmpv6(std::size_t link, const net::Ipv6Packet& packet, std::uint64_t now_ms);
    void send_ip(std::size_t link, std::vector<std::uint8_t> ip);
    bool transmit(std::size_t link, std::span<const std::uint8_t> ip);

    // Registration.
    void register_link(std::size_t link, std::uint64_t now_ms);
    void register_bulk(std::uint64_t now_ms);
    void send_bu(std::size_t link, std::vector<std::uint16_t> bids, std::uint16_t lifetime_4s,
                 std::uint64_t now_ms);
    void transmit_bu(PendingBu& pending, std::uint64_t now_ms);
    mh::BindingUpdate make_bu(const PendingBu& pending) const;
    void attach_flows(PendingBu& pending) const;
    bool flow_changes_pending() const;
    void try_send_flow_changes(std::uint64_t now_ms);
    void settle_flows(const PendingBu& pending, const mh::BindingAck& ba);
    void deregister_all(std::uint64_t now_ms);
    void deregister_link(std::size_t link, std::uint64_t now_ms);
    std::vector<std::uint16_t> bulk_bids() const;

    // Mobility Header.
    void handle_mobility(std::size_t link, std::span<const std::uint8_t> ip, std::uint64_t now_ms,
                         bool was_protected = false);
    // ESP with the --esp-sa SAs (RFC 3776/4877); the SAs' selector is the home agent's
    // address, the peer of every protected message. seal: false (and an esp_error event)
    // if the packet cannot be protected; unchanged without SAs.
    void install_esp_sas();
    bool seal(std::vector<std::uint8_t>& ip);
    void handle_binding_ack(std::size_t link, const mh::BindingAck& ba, std::uint64_t now_ms);
    void handle_refresh_request(std::size_t link, const mh::BindingRefreshRequest& brr,
                                std::uint64_t now_ms);
    // A request is answered as it came: inside ESP with the Home Address option when it
    // came inside ESP (or with a type 2 routing header), plainly when it came plainly.
    void handle_heartbeat(std::size_t link, const mh::Heartbeat& hb, bool via_home,
                          bool was_protected, std::uint64_t now_ms);

    // Tunnel (stage 2).
    void handle_tunnelled(std::size_t link, std::span<const std::uint8_t> ip,
                          std::size_t inner_offset);
    std::optional<std::size_t> link_for_packet(std::span<const std::uint8_t> ip) const;
    bool is_ours(const Ipv6Address& inner_destination) const;

    MnOptions options_;
    std::unique_ptr<esp::EspEndpoint> esp_;
    std::vector<Link> links_;
    SendFrame send_;
    Emit emit_;
    WriteTun write_tun_;
    std::uint16_t next_sequence_ = 1;
    std::vector<PendingBu> pending_;
    std::map<std::uint16_t, FlowSpec> wanted_flows_;      // what the MN asks for
    std::map<std::uint16_t, FlowSpec> registered_flows_;  // what the HA accepted
    bool shutting_down_ = false;
    std::optional<std::uint16_t> shutdown_sequence_;
    std::uint64_t shutdown_deadline_ms_ = 0;
    bool shutdown_acknowledged_ = false;
};

}  // namespace monami::mn
