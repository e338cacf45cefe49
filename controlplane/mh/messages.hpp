// Typed Mobility Header messages and options (RFC 6275 s.6, RFC 5648, RFC 6089, RFC 6088,
// RFC 3963, RFC 4283, RFC 5847). The parser (parser.hpp) produces these; the builder
// (builder.hpp) turns them back into bytes. Plain C++, no EAL.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <variant>
#include <vector>

#include "dataplane/api/types.hpp"

namespace monami::mh {

inline constexpr std::uint8_t kIpProtoMobility = 135;
inline constexpr std::uint8_t kIpProtoNone = 59;

// Generated from registry.def; the HA decodes BRR, BU, BA, BE and Heartbeat.
enum class MhType : std::uint8_t {
#define MH_TYPE(id, value, name) id = value,
#include "controlplane/mh/registry.def"
};

// ---- Options -------------------------------------------------------------------------

struct BindingRefreshAdvice {
    std::uint16_t interval_4s = 0;  // units of 4 seconds
    friend bool operator==(const BindingRefreshAdvice&, const BindingRefreshAdvice&) = default;
};

struct NonceIndices {
    std::uint16_t home = 0;
    std::uint16_t care_of = 0;
    friend bool operator==(const NonceIndices&, const NonceIndices&) = default;
};

struct MobileNetworkPrefix {  // RFC 3963 s.4.3
    std::uint8_t prefix_length = 0;
    Ipv6Address prefix;
    friend bool operator==(const MobileNetworkPrefix&, const MobileNetworkPrefix&) = default;
};

struct MobileNodeIdentifier {  // RFC 4283; subtype 1 = NAI
    std::uint8_t subtype = 1;
    std::vector<std::uint8_t> identifier;
    friend bool operator==(const MobileNodeIdentifier&, const MobileNodeIdentifier&) = default;
};

struct BindingIdentifier {  // RFC 5648 s.6.1, BID-PRI from RFC 6089 s.4.1
    std::uint16_t bid = 0;
    std::uint8_t status = 0;
    bool home_flag = false;     // H: simultaneous home and foreign binding
    std::uint8_t priority = 0;  // BID-PRI, 7 bits; 0 from senders that predate RFC 6089
    // Care-of address carried in the option (bulk registration): IPv6 or IPv4.
    std::optional<Ipv6Address> care_of_v6;
    std::optional<std::array<std::uint8_t, 4>> care_of_v4;
    friend bool operator==(const BindingIdentifier&, const BindingIdentifier&) = default;
};

template <class T>
struct Range {  // inclusive start..end, as RFC 6088 encodes every field
    T start{};
    T end{};
    friend bool operator==(const Range&, const Range&) = default;
};

// RFC 6088 traffic selector; a field that is absent matches everything.
struct TrafficSelectorV6 {  // TS format 2
    std::optional<Range<Ipv6Address>> source_address;
    std::optional<Range<Ipv6Address>> destination_address;
    std::optional<Range<std::uint32_t>> ipsec_spi;
    std::optional<Range<std::uint32_t>> flow_label;  // 20 bits
    std::optional<Range<std::uint16_t>> source_port;
    std::optional<Range<std::uint16_t>> destination_port;
    std::optional<Range<std::uint8_t>> traffic_class;
    std::optional<Range<std::uint8_t>> next_header;
    friend bool operator==(const TrafficSelectorV6&, const TrafficSelectorV6&) = default;
};

struct TrafficSelectorV4 {  // TS format 1
    std::optional<Range<std::array<std::uint8_t, 4>>> source_address;
    std::optional<Range<std::array<std::uint8_t, 4>>> destination_address;
    std::optional<Range<std::uint32_t>> ipsec_spi;
    std::optional<Range<std::uint16_t>> source_port;
    std::optional<Range<std::uint16_t>> destination_port;
    std::optional<Range<std::uint8_t>> dscp;  // type of service
    std::optional<Range<std::uint8_t>> protocol;
    friend bool operator==(const TrafficSelectorV4&, const TrafficSelectorV4&) = default;
};

using TrafficSelector = std::variant<TrafficSelectorV4, TrafficSelectorV6>;

struct FlowIdentification {  // RFC 6089 s.4.2
    std::uint16_t fid = 0;
    std::uint16_t priority = 0;  // FID-PRI; the Reserved octet after it is written 0, ignored
    std::uint8_t status = 0;
    std::vector<std::uint16_t> bid_references;          // sub-option 2
    std::optional<TrafficSelector> traffic_selector;    // sub-option 3
    std::optional<std::uint8_t> unsupported_ts_format;  // set when the TS format is unknown
    friend bool operator==(const FlowIdentification&, const FlowIdentification&) = default;
};

// All options of one message. Singletons are optional<>; repeatable ones are vectors in
// the order they appeared.
struct MobilityOptions {
    std::optional<BindingRefreshAdvice> refresh_advice;
    std::optional<Ipv6Address> alternate_care_of;
    std::optional<NonceIndices> nonce_indices;
    std::optional<std::vector<std::uint8_t>> authorization_data;
    std::vector<MobileNetworkPrefix> network_prefixes;
    std::optional<MobileNodeIdentifier> mn_id;
    std::vector<BindingIdentifier> binding_ids;
    std::optional<std::vector<std::uint16_t>> flow_summary;  // FIDs
    std::vector<FlowIdentification> flows;
    std::vector<std::uint8_t> skipped_unknown;  // types of unknown options, skipped per s.6.2.1
    friend bool operator==(const MobilityOptions&, const MobilityOptions&) = default;
};

// Empties `o` as `o = {}` would, keeping the repeatable options' vectors' storage (a
// message reused for every BU then allocates nothing for them).
inline void clear_keeping_storage(MobilityOptions& o) {
    o.refresh_advice.reset();
    o.alternate_care_of.reset();
    o.nonce_indices.reset();
    o.authorization_data.reset();
    o.network_prefixes.clear();
    o.mn_id.reset();
    o.binding_ids.clear();
    o.flow_summary.reset();
    o.flows.clear();
    o.skipped_unknown.clear();
}

// ---- Messages ------------------------------------------------------------------------

struct BindingRefreshRequest {
    MobilityOptions options;
    friend bool operator==(const BindingRefreshRequest&, const BindingRefreshRequest&) = default;
};

struct BindingUpdate {
    std::uint16_t sequence = 0;
    bool ack_requested = false;      // A
    bool home_registration = false;  // H
    bool link_local_compat = false;  // L
    bool key_management = false;     // K
    bool mobile_router = false;      // R (RFC 3963)
    std::uint16_t lifetime_4s = 0;   // units of 4 seconds
    MobilityOptions options;
    friend bool operator==(const BindingUpdate&, const BindingUpdate&) = default;
};

struct BindingAck {
    std::uint8_t status = 0;
    bool key_management = false;  // K
    bool mobile_router = false;   // R (RFC 3963)
    std::uint16_t sequence = 0;
    std::uint16_t lifetime_4s = 0;
    MobilityOptions options;
    friend bool operator==(const BindingAck&, const BindingAck&) = default;
};

struct BindingError {
    std::uint8_t status = 0;  // 1 unknown HAO binding, 2 unrecognized MH type
    Ipv6Address home_address;
    MobilityOptions options;
    friend bool operator==(const BindingError&, const BindingError&) = default;
};

struct Heartbeat {             // RFC 5847 s.5.1
    bool unsolicited = false;  // U
    bool response = false;     // R
    std::uint32_t sequence = 0;
    MobilityOptions options;
    friend bool operator==(const Heartbeat&, const Heartbeat&) = default;
};

using MhMessage =
    std::variant<BindingRefreshRequest, BindingUpdate, BindingAck, BindingError, Heartbeat>;

// BA status codes (RFC 6275 s.6.1.8, RFC 3963, RFC 5648), generated from registry.def.
namespace ba_status {
#define BA_STATUS(id, value, name) inline constexpr std::uint8_t id = value;
#include "controlplane/mh/registry.def"
}  // namespace ba_status

// Binding Error status codes (RFC 6275 s.6.1.9).
namespace be_status {
#define BE_STATUS(id, value, name) inline constexpr std::uint8_t id = value;
#include "controlplane/mh/registry.def"
}  // namespace be_status

// Flow Identification status codes (RFC 6089 s.4.2.1).
namespace fid_status {
#define FID_STATUS(id, value, name) inline constexpr std::uint8_t id = value;
#include "controlplane/mh/registry.def"
}  // namespace fid_status

}  // namespace monami::mh
