// Mobility Header builder: the inverse of parse_mh. Options go out in a fixed order
// (the order of MobilityOptions, Binding Authorization Data last as RFC 6275 s.6.2.7
// requires), each at its xn+y alignment with Pad1/PadN before it, the message padded to
// a multiple of 8 octets and the checksum filled over the pseudo-header.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "controlplane/mh/messages.hpp"
#include "dataplane/api/result.hpp"
#include "dataplane/api/types.hpp"

namespace monami::mh {

enum class MhBuildErrorCode : std::uint8_t {
    OptionTooLong,    // an option or sub-option would exceed 255 octets of data
    MessageTooLong,   // the message would exceed 2048 octets (Header Len 255)
    FieldOutOfRange,  // not encodable: flow label > 20 bits, empty Flow Summary or MN-ID
};

struct MhBuildError {
    MhBuildErrorCode code;
    friend bool operator==(const MhBuildError&, const MhBuildError&) = default;
};

std::string_view to_string(MhBuildErrorCode code);

MhType mh_type_of(const MhMessage& message);

// An RFC 6089 Traffic Selector sub-option's data: TS Format, Reserved 0, then the RFC 6088
// binary selector. False (the bytes written anyway) when a value is out of its field's range.
bool append_traffic_selector(std::vector<std::uint8_t>& out, const TrafficSelector& selector);

// `src`/`dst` are the checksum pseudo-header addresses, as for parse_mh.
// MobilityOptions::skipped_unknown is not encoded: the parser kept only the types.
[[nodiscard]] Result<std::vector<std::uint8_t>, MhBuildError> try_build_mh(const MhMessage& message,
                                                                           const Ipv6Address& src,
                                                                           const Ipv6Address& dst);

// As try_build_mh, appended to `out` (the bytes before it are left alone, nothing is added
// on failure); the checksum covers the appended message. Returns its length. `Message`:
// MhMessage or one of its alternatives (no variant copy on a per-BU path).
template <class Message>
[[nodiscard]] Result<std::size_t, MhBuildError> try_append_mh(const Message& message,
                                                              const Ipv6Address& src,
                                                              const Ipv6Address& dst,
                                                              std::vector<std::uint8_t>& out);

// As try_build_mh; an empty vector when the message cannot be encoded (a valid MH is
// never empty).
std::vector<std::uint8_t> build_mh(const MhMessage& message, const Ipv6Address& src,
                                   const Ipv6Address& dst);

}  // namespace monami::mh
