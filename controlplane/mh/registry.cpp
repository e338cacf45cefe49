#include "controlplane/mh/registry.hpp"

#include <array>

namespace monami::mh {

namespace {

constexpr std::string_view kUnknown = "unknown";

constexpr std::array kOptionDescriptors = {
#define MH_OPTION(id, value, name, rule, n1, n2, n3, align_x, align_y) \
    OptionDescriptor{MobilityOptionType::id, name, LengthRule::rule, n1, n2, n3, align_x, align_y},
#include "controlplane/mh/registry.def"
};

// Option type -> index into kOptionDescriptors + 1 (0: not listed): every option parsed
// or built looks its rules up here.
constexpr std::array<std::uint8_t, 256> kDescriptorIndex = [] {
    std::array<std::uint8_t, 256> index{};
    for (std::size_t i = 0; i < kOptionDescriptors.size(); ++i)
        index[static_cast<std::uint8_t>(kOptionDescriptors[i].type)] =
            static_cast<std::uint8_t>(i + 1);
    return index;
}();

}  // namespace

bool OptionDescriptor::length_ok(std::size_t length) const {
    switch (rule) {
        case LengthRule::None:
            return false;  // Pad1 has no length octet
        case LengthRule::AtLeast:
            return length >= n1;
        case LengthRule::Exact:
            return length == n1;
        case LengthRule::EvenAtLeast:
            return length >= n1 && length % 2 == 0;
        case LengthRule::OneOf:
            return length == n1 || length == n2 || length == n3;
    }
    return false;
}

const OptionDescriptor* option_descriptor(std::uint8_t type) {
    const std::uint8_t i = kDescriptorIndex[type];
    return i == 0 ? nullptr : &kOptionDescriptors[i - 1];
}

std::string_view mh_type_name(std::uint8_t type) {
    switch (type) {
#define MH_TYPE(id, value, name) \
    case value:                  \
        return name;
#include "controlplane/mh/registry.def"
    }
    return kUnknown;
}

std::string_view mobility_option_name(std::uint8_t type) {
    const auto* d = option_descriptor(type);
    return d ? d->name : kUnknown;
}

std::string_view fid_suboption_name(std::uint8_t type) {
    switch (type) {
#define FID_SUBOPTION(id, value, name) \
    case value:                        \
        return name;
#include "controlplane/mh/registry.def"
    }
    return kUnknown;
}

std::string_view ts_format_name(std::uint8_t format) {
    switch (format) {
#define TS_FORMAT(id, value, name) \
    case value:                    \
        return name;
#include "controlplane/mh/registry.def"
    }
    return kUnknown;
}

std::string_view ba_status_name(std::uint8_t status) {
    switch (status) {
#define BA_STATUS(id, value, name) \
    case value:                    \
        return name;
#include "controlplane/mh/registry.def"
    }
    return kUnknown;
}

std::string_view be_status_name(std::uint8_t status) {
    switch (status) {
#define BE_STATUS(id, value, name) \
    case value:                    \
        return name;
#include "controlplane/mh/registry.def"
    }
    return kUnknown;
}

std::string_view fid_status_name(std::uint8_t status) {
    switch (status) {
#define FID_STATUS(id, value, name) \
    case value:                     \
        return name;
#include "controlplane/mh/registry.def"
    }
    return kUnknown;
}

}  // namespace monami::mh
