// Command line of monami-mn, the mobile node simulator, and the flow specifications shared
// by `--flow` and the `flow add` control command. Pure parsing: no sockets, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/esp/sa.hpp"
#include "controlplane/mh/messages.hpp"
#include "dataplane/api/result.hpp"
#include "dataplane/api/types.hpp"

namespace monami::mn {

// `--link NAME:INTERFACE:COA[,via=ROUTER][,mac=GATEWAY_MAC]`; BIDs are 1..n in order.
struct LinkSpec {
    std::string name;
    std::string interface;
    CareOfAddress care_of;
    std::optional<Ipv6Address> via;         // next hop to resolve instead of the route lookup
    std::optional<MacAddress> gateway_mac;  // no resolution at all
};

// `fid=1,prio=10,bids=1+2,proto=17,sport=..,dport=5000-5100,src=..,dst=..,tc=..`: an RFC 6089
// flow binding with an RFC 6088 IPv6 traffic selector. BIDs by number or by link name.
struct FlowSpec {
    std::uint16_t fid = 0;
    std::uint16_t priority = 0;
    std::vector<std::uint16_t> bids;
    mh::TrafficSelectorV6 selector;
    friend bool operator==(const FlowSpec&, const FlowSpec&) = default;
};

// `--esp-sa in|out:SPI:ALGORITHM:KEYHEX[:AUTHKEYHEX]`, the mirror of a gateway SA
// (docs/config.md security.sas): `out` protects BUs (the gateway's `in`), `in` opens BAs.
// ALGORITHM as in the gateway's YAML; for GCM KEYHEX is the key followed by the 4-byte salt.
struct EspSaSpec {
    esp::Direction direction = esp::Direction::Outbound;
    std::uint32_t spi = 0;
    esp::Algorithm algorithm = esp::Algorithm::AesGcm128;
    std::vector<std::uint8_t> key;
    std::vector<std::uint8_t> auth_key;
};

struct MnOptions {
    HomeAddress home_address;
    Ipv6Address home_agent;
    std::vector<LinkSpec> links;
    std::optional<std::string> mn_id;  // RFC 4283 NAI
    std::uint32_t lifetime_s = 60;
    bool bulk = false;  // RFC 5648 bulk registration
    std::vector<FlowSpec> flows;
    std::vector<Ipv6Prefix> prefixes;       // NEMO mobile network prefixes (R flag)
    std::optional<MacAddress> gateway_mac;  // for every link without its own
    std::optional<double> run_for_s;
    bool deregister_at_exit = false;
    std::uint32_t initial_bindack_timeout_ms = 1500;  // RFC 6275 InitialBindackTimeoutFirstReg
    std::uint32_t max_bindack_timeout_ms = 32000;     // RFC 6275 MAX_BINDACK_TIMEOUT
    std::uint32_t nd_retransmit_ms = 1000;            // RFC 4861 RetransTimer
    std::optional<std::string> tap;                   // tun interface holding the HoA (stage 2)
    std::vector<Ipv6Prefix> tap_routes;               // routed into the tun; default ::/0
    std::vector<EspSaSpec> esp_sas;                   // empty: signalling in clear
    std::uint32_t esp_replay_window = 64;
    bool help = false;
};

std::string usage();

// Values that need the links (BID names) are resolved against `links`.
[[nodiscard]] Result<FlowSpec, std::string> parse_flow_spec(std::string_view text,
                                                            std::span<const LinkSpec> links);
[[nodiscard]] Result<LinkSpec, std::string> parse_link_spec(std::string_view text);
[[nodiscard]] Result<EspSaSpec, std::string> parse_esp_sa_spec(std::string_view text);
[[nodiscard]] Result<MnOptions, std::string> parse_command_line(std::span<const std::string> args);

// The RFC 6089 Flow Identification option that adds `flow` or replaces it: its BID
// references and traffic selector, Reserved 0.
mh::FlowIdentification flow_option(const FlowSpec& flow);

}  // namespace monami::mn
