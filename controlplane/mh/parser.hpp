// Mobility Header parser (RFC 6275 s.6.1, s.9.2) for the messages a home agent handles:
// BRR, BU, BA, BE and Heartbeat (RFC 5847), with the options of RFC 6275, RFC 3963,
// RFC 4283, RFC 5648 and RFC 6089/6088.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "controlplane/mh/messages.hpp"
#include "dataplane/api/result.hpp"
#include "dataplane/api/types.hpp"

namespace monami::mh {

enum class MhErrorCode : std::uint8_t {
    Truncated,            // buffer shorter than the MH header or its Header Len
    BadChecksum,          // RFC 6275 s.9.2: silently discard
    UnknownMhType,        // RFC 6275 s.9.2: discard, answer a Binding Error status 2
    BadPayloadProto,      // RFC 6275 s.9.2: discard, ICMP Parameter Problem code 0 (offset 0)
    BadHeaderLength,      // shorter than the type needs: ICMP Parameter Problem code 0 (offset 1)
    BadOptionLength,      // option overruns the header or violates its length rule
    BadOptionAlignment,   // option type not at its xn+y position (RFC 6275 s.6.2)
    OptionAfterAuthData,  // RFC 6275 s.6.2.7: Binding Authorization Data must be last
    DuplicateOption,      // a second copy of a singleton option
    DuplicateBid,         // two Binding Identifier options with the same BID
    DuplicateFid,         // two Flow Identification options with the same FID
    TooManyOptions,       // more than ParseLimits::max_options (or sub-options)
    MalformedSubOption,   // Flow Identification sub-option or traffic selector is inconsistent
};

struct MhParseError {
    MhErrorCode code;
    std::size_t offset;    // byte offset inside the Mobility Header
    std::uint8_t mh_type;  // as read from the header (0 if not yet read)
    // The mobility option whose length or alignment broke its rule (BadOptionLength,
    // BadOptionAlignment inside a complete option); 0 otherwise. A BU whose Binding
    // Identifier option has a wrong length is answered 164 (RFC 5648), not dropped.
    std::uint8_t option_type = 0;
    friend bool operator==(const MhParseError&, const MhParseError&) = default;
};

std::string_view to_string(MhErrorCode code);

// The inverse of append_traffic_selector: a selector of format 1 or 2 whose layout matches
// its flags, else nothing.
std::optional<TrafficSelector> parse_traffic_selector(std::span<const std::uint8_t> data);
std::string to_string(const MhParseError& error);

struct ParseLimits {
    // Options other than Pad1/PadN. A 2048-byte MH fits ~500 two-byte options; a BU
    // from a MN with a dozen interfaces and flows needs far fewer.
    std::size_t max_options = 64;
    // Sub-options of one Flow Identification option, padding excluded.
    std::size_t max_sub_options = 16;
};

struct ParsedMh {
    MhType type;
    MhMessage message;
    friend bool operator==(const ParsedMh&, const ParsedMh&) = default;
};

// Header Len -> bytes: the length excludes the first 8 octets (RFC 6275 s.6.1.1).
constexpr std::size_t mh_length_from_header_len(std::uint8_t header_len) {
    return (static_cast<std::size_t>(header_len) + 1) * 8;
}

// Parses one Mobility Header. `src` and `dst` are the pseudo-header addresses of the
// checksum (RFC 6275 s.6.1.1): the home address instead of the source when a Home Address
// option is present, the final destination when a type 2 routing header is present.
// Bytes past Header Len are ignored (RFC 8200 s.4.7: nothing follows No Next Header).
[[nodiscard]] Result<ParsedMh, MhParseError> parse_mh(std::span<const std::uint8_t> mh,
                                                      const Ipv6Address& src,
                                                      const Ipv6Address& dst,
                                                      const ParseLimits& limits = {});

// As parse_mh, into `out`, reusing the storage of the message `out` already holds when it
// is of the same type (a control thread keeps one ParsedMh: no allocation per BU).
// nullopt on success; on failure `out` holds a partly parsed message.
[[nodiscard]] std::optional<MhParseError> parse_mh_into(std::span<const std::uint8_t> mh,
                                                        const Ipv6Address& src,
                                                        const Ipv6Address& dst,
                                                        const ParseLimits& limits, ParsedMh& out);

}  // namespace monami::mh
