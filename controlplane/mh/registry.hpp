// Lookups generated from registry.def: names for printing, option descriptors (length
// and alignment rules) for parsing and building.
#pragma once

#include <cstdint>
#include <string_view>

namespace monami::mh {

enum class MobilityOptionType : std::uint8_t {
#define MH_OPTION(id, value, name, rule, n1, n2, n3, align_x, align_y) id = value,
#include "controlplane/mh/registry.def"
};

enum class FidSubOptionType : std::uint8_t {
#define FID_SUBOPTION(id, value, name) id = value,
#include "controlplane/mh/registry.def"
};

enum class TrafficSelectorFormat : std::uint8_t {
#define TS_FORMAT(id, value, name) id = value,
#include "controlplane/mh/registry.def"
};

enum class LengthRule : std::uint8_t { None, AtLeast, Exact, EvenAtLeast, OneOf };

struct OptionDescriptor {
    MobilityOptionType type;
    std::string_view name;
    LengthRule rule;
    std::uint8_t n1, n2, n3;
    std::uint8_t align_x, align_y;  // xn+y, from the start of the Mobility Header

    bool length_ok(std::size_t length) const;
    bool aligned_at(std::size_t offset_in_mh) const { return offset_in_mh % align_x == align_y; }
};

// nullptr for an option type not in registry.def.
const OptionDescriptor* option_descriptor(std::uint8_t type);

// Names; "unknown" for values the registry does not list.
std::string_view mh_type_name(std::uint8_t type);
std::string_view mobility_option_name(std::uint8_t type);
std::string_view fid_suboption_name(std::uint8_t type);
std::string_view ts_format_name(std::uint8_t format);
std::string_view ba_status_name(std::uint8_t status);
std::string_view be_status_name(std::uint8_t status);
std::string_view fid_status_name(std::uint8_t status);

// BA status >= 128 means the Binding Update was rejected (RFC 6275 s.6.1.8).
constexpr bool ba_status_is_rejection(std::uint8_t status) {
    return status >= 128;
}

}  // namespace monami::mh
