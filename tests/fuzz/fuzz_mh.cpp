// libFuzzer target for the Mobility Header codec. Each input is tried three ways: as a raw
// MH (so the checksum check itself is fuzzed), as a raw MH with its checksum repaired (so
// the fuzzer reaches the options), and as an IPv6 packet through the extension header
// walker. Every successful parse must survive build -> parse unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "controlplane/mh/builder.hpp"
#include "controlplane/mh/exthdr.hpp"
#include "controlplane/mh/parser.hpp"
#include "controlplane/net/checksum.hpp"

namespace {

using monami::Ipv6Address;
namespace mh = monami::mh;

const Ipv6Address kSource = *Ipv6Address::parse("2001:db8::1");
const Ipv6Address kDestination = *Ipv6Address::parse("2001:db8::2");

void check(bool condition) {
    if (!condition) __builtin_trap();
}

mh::MobilityOptions& options_of(mh::MhMessage& message) {
    return std::visit([](auto& m) -> mh::MobilityOptions& { return m.options; }, message);
}

void round_trip(const mh::ParsedMh& parsed, const Ipv6Address& src, const Ipv6Address& dst) {
    auto built = mh::try_build_mh(parsed.message, src, dst);
    if (!built) {
        // Re-ordering options can need more padding than the input used: only the total
        // size may overflow.
        check(built.error().code == mh::MhBuildErrorCode::MessageTooLong);
        return;
    }
    auto reparsed = mh::parse_mh(built.value(), src, dst);
    check(reparsed.ok());
    // The builder cannot re-emit unknown options: only their types were kept.
    mh::ParsedMh expected = parsed;
    options_of(expected.message).skipped_unknown.clear();
    check(reparsed.value() == expected);
}

void parse_and_round_trip(std::span<const std::uint8_t> bytes, const Ipv6Address& src,
                          const Ipv6Address& dst) {
    auto parsed = mh::parse_mh(bytes, src, dst);
    if (parsed) round_trip(parsed.value(), src, dst);
}

// Writes the right checksum over the part of `bytes` Header Len covers.
std::vector<std::uint8_t> with_valid_checksum(std::span<const std::uint8_t> bytes,
                                              const Ipv6Address& src, const Ipv6Address& dst) {
    std::vector<std::uint8_t> copy(bytes.begin(), bytes.end());
    if (copy.size() < 8) return copy;
    const std::size_t length = mh::mh_length_from_header_len(copy[1]);
    if (length > copy.size()) return copy;
    copy[4] = copy[5] = 0;
    const std::uint16_t sum = monami::net::ipv6_upper_layer_checksum(src, dst, mh::kIpProtoMobility,
                                                                     std::span(copy).first(length));
    copy[4] = static_cast<std::uint8_t>(sum >> 8);
    copy[5] = static_cast<std::uint8_t>(sum);
    return copy;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> input(data, size);

    parse_and_round_trip(input, kSource, kDestination);
    parse_and_round_trip(with_valid_checksum(input, kSource, kDestination), kSource, kDestination);

    auto chain = mh::walk_ipv6_headers(input);
    if (chain) {
        check(chain->upper_layer_offset <= chain->packet_end);
        check(chain->packet_end <= size);
        if (chain->upper_layer_protocol == mh::kIpProtoMobility) {
            const Ipv6Address src = chain->checksum_source();
            const Ipv6Address dst = chain->checksum_destination();
            const auto upper = chain->upper_layer(input);
            parse_and_round_trip(upper, src, dst);
            parse_and_round_trip(with_valid_checksum(upper, src, dst), src, dst);
        }
    }
    return 0;
}
