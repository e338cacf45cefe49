// What the binding store keeps of one home address: what a restarted gateway needs to carry
// on as if nothing happened (docs/architecture.md, "Binding store"). Times are absolute wall
// clock (Unix milliseconds), so a record means the same after a restart or on another box.
// The encoding is versioned and checked field by field on the way in: a record that does
// not decode is an error the caller names, never an empty home address.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "controlplane/mh/messages.hpp"
#include "dataplane/api/result.hpp"
#include "dataplane/api/types.hpp"

namespace monami::store {

struct StoredBinding {
    std::uint16_t bid = 0;
    bool mcoa = false;
    bool at_home = false;
    CareOfAddress care_of;
    Ipv6Address ha_address;
    std::uint16_t sequence = 0;
    std::uint64_t expiry_unix_ms = 0;
    friend bool operator==(const StoredBinding&, const StoredBinding&) = default;
};

struct StoredFlow {  // RFC 6089
    std::uint16_t fid = 0;
    std::uint16_t priority = 0;
    std::vector<std::uint16_t> bids;
    mh::TrafficSelector selector;
    std::uint64_t expiry_unix_ms = 0;
    friend bool operator==(const StoredFlow&, const StoredFlow&) = default;
};

struct HoaRecord {
    HomeAddress home_address;
    std::vector<std::uint8_t> mn_id;
    bool mobile_router = false;
    bool link_local_compat = false;
    std::uint16_t last_sequence = 0;
    std::vector<StoredBinding> bindings;
    std::vector<Ipv6Prefix> network_prefixes;  // RFC 3963
    std::vector<StoredFlow> flows;
    friend bool operator==(const HoaRecord&, const HoaRecord&) = default;
};

// The ESP sequence number mark of one SA (SPIs are unique per direction). Outbound: the
// highest number reserved, a block ahead of the last one sent; a restarted gateway sends
// from mark + 1 on and never reuses a number. Inbound: the highest number accepted with a
// change that was committed; a restarted gateway accepts only numbers above it.
struct EspMarks {
    std::uint32_t spi = 0;
    bool outbound = false;
    std::uint64_t mark = 0;
    friend bool operator==(const EspMarks&, const EspMarks&) = default;
};

enum class RecordError : std::uint8_t {
    Truncated,     // ends inside a field
    BadMagic,      // not a monami record
    BadVersion,    // written by a format this build does not read
    BadValue,      // a field out of its range (prefix length, selector format, flags)
    TrailingData,  // bytes after the last field
};
std::string_view to_string(RecordError e);

// The first octets of every record: "MB", then the format version.
inline constexpr std::uint8_t kRecordVersion = 1;

std::vector<std::uint8_t> encode(const HoaRecord& record);
[[nodiscard]] Result<HoaRecord, RecordError> decode_hoa(std::span<const std::uint8_t> bytes);
std::vector<std::uint8_t> encode(const EspMarks& marks);
[[nodiscard]] Result<EspMarks, RecordError> decode_esp(std::span<const std::uint8_t> bytes);

}  // namespace monami::store
