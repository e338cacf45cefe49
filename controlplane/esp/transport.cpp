#include "controlplane/esp/transport.hpp"

#include <cstring>
#include <optional>

namespace monami::esp {

namespace {

constexpr std::size_t kIpv6HeaderBytes = 40;
constexpr std::size_t kNextHeaderOffset = 6;

std::uint16_t get_be16(const std::uint8_t* p) {
    return static_cast<std::uint16_t>(p[0] << 8 | p[1]);
}
std::uint32_t get_be32(const std::uint8_t* p) {
    return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}
void put_be16(std::uint8_t* p, std::size_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}

// Where the headers that stay in clear end.
struct ClearHeaders {
    std::size_t end = kIpv6HeaderBytes;              // offset of the first protected byte
    std::size_t next_header_at = kNextHeaderOffset;  // byte naming what follows them
    std::size_t packet_end = 0;                      // per the IPv6 payload length
    std::optional<Ipv6Address> home_address_option;  // from a Home Address option
    std::optional<Ipv6Address> type2_home_address;   // from a type 2 routing header
};

// Finds a Home Address option among the TLV options of a destination options header.
Result<std::optional<Ipv6Address>, EspError> find_home_address_option(
    std::span<const std::uint8_t> header) {
    std::size_t at = 2;
    while (at < header.size()) {
        const std::uint8_t type = header[at];
        if (type == 0) {  // Pad1
            ++at;
            continue;
        }
        if (at + 2 > header.size()) return Err{EspError::BadHeader};
        const std::size_t length = header[at + 1];
        if (at + 2 + length > header.size()) return Err{EspError::BadHeader};
        if (type == kHomeAddressOptionType) {
            if (length != 16) return Err{EspError::BadHeader};
            return std::optional(Ipv6Address::from_bytes(header.data() + at + 2));
        }
        at += 2 + length;
    }
    return std::optional<Ipv6Address>{};
}

// Walks the extension headers that precede ESP. With stop_at_end_to_end, a destination
// options header that is neither before a routing header nor carries a Home Address
// option ends the walk: it is end-to-end and gets encrypted (RFC 4303 s.3.1.1).
Result<ClearHeaders, EspError> walk_clear_headers(std::span<const std::uint8_t> packet,
                                                  bool stop_at_end_to_end) {
    if (packet.size() < kIpv6HeaderBytes) return Err{EspError::Truncated};
    if (packet[0] >> 4 != 6) return Err{EspError::BadHeader};
    ClearHeaders clear;
    const std::size_t payload_length = get_be16(packet.data() + 4);
    if (payload_length == 0) return Err{EspError::BadHeader};  // jumbograms are not ours
    clear.packet_end = kIpv6HeaderBytes + payload_length;
    if (packet.size() < clear.packet_end) return Err{EspError::Truncated};

    std::uint8_t next = packet[kNextHeaderOffset];
    while (next == kIpProtoHopByHop || next == kIpProtoRouting ||
           next == kIpProtoDestinationOptions) {
        if (next == kIpProtoHopByHop && clear.end != kIpv6HeaderBytes) {
            return Err{EspError::BadHeader};  // RFC 8200 s.4.3: only right after IPv6
        }
        if (clear.end + 2 > clear.packet_end) return Err{EspError::Truncated};
        const std::size_t length = (std::size_t{packet[clear.end + 1]} + 1) * 8;
        if (clear.end + length > clear.packet_end) return Err{EspError::Truncated};
        const auto header = packet.subspan(clear.end, length);
        if (next == kIpProtoRouting && header[2] == kRoutingType2) {
            // RFC 6275 s.6.4: length 2 and one segment left as sent; 0 once the receiver
            // has processed it.
            if (header[1] != 2 || header[3] > 1) return Err{EspError::BadHeader};
            clear.type2_home_address = Ipv6Address::from_bytes(header.data() + 8);
        }
        if (next == kIpProtoDestinationOptions) {
            auto home = find_home_address_option(header);
            if (!home) return Err{home.error()};
            if (*home) clear.home_address_option = *home;
            if (stop_at_end_to_end && !*home && header[0] != kIpProtoRouting) break;
        }
        clear.next_header_at = clear.end;
        clear.end += length;
        next = header[0];
    }
    return clear;
}

}  // namespace

std::uint64_t& EspCounters::of(EspError error) {
    switch (error) {
#define X(name, field, text) \
    case EspError::name:     \
        return field;
#include "controlplane/esp/errors.def"
#undef X
    }
    return crypto_failure;
}

std::uint64_t EspCounters::of(EspError error) const {
    return const_cast<EspCounters*>(this)->of(error);
}

std::unique_ptr<EspEndpoint> EspEndpoint::create() {
    auto engine = CryptoEngine::create();
    if (!engine) return nullptr;
    return std::unique_ptr<EspEndpoint>(new EspEndpoint(std::move(engine)));
}

Result<std::vector<std::uint8_t>, EspError> EspEndpoint::count(
    Result<std::vector<std::uint8_t>, EspError> result, std::uint64_t& success_counter) {
    if (result) {
        ++success_counter;
    } else {
        ++counters_.of(result.error());
    }
    return result;
}

Result<std::vector<std::uint8_t>, EspError> EspEndpoint::protect(
    std::span<const std::uint8_t> packet) {
    auto run = [&]() -> Result<std::vector<std::uint8_t>, EspError> {
        auto clear = walk_clear_headers(packet, true);
        if (!clear) return Err{clear.error()};
        const Ipv6Address home_address =
            clear->type2_home_address.value_or(Ipv6Address::from_bytes(packet.data() + 24));
        SaState* sa = sas_.find_outbound(home_address);
        if (sa == nullptr) return Err{EspError::NoOutboundSa};
        last_outbound_ = sa;

        const auto payload = packet.subspan(clear->end, clear->packet_end - clear->end);
        const std::size_t esp_bytes = payload.size() + sa->overhead(payload.size());
        const std::size_t total = clear->end + esp_bytes;
        if (total - kIpv6HeaderBytes > 0xffff) return Err{EspError::BadHeader};
        if (sa->last_sent_sequence() >= sa->reserved_until())
            return Err{EspError::SequenceNotReserved};
        const auto sequence = sa->next_sequence();
        if (!sequence) return Err{EspError::SequenceExhausted};

        std::vector<std::uint8_t> out(total);
        std::memcpy(out.data(), packet.data(), clear->end);
        const std::uint8_t inner_next_header = packet[clear->next_header_at];
        auto sealed =
            sa->seal(payload, inner_next_header, *sequence, std::span(out).subspan(clear->end));
        if (!sealed) return Err{sealed.error()};
        out[clear->next_header_at] = kIpProtoEsp;
        put_be16(out.data() + 4, total - kIpv6HeaderBytes);
        return out;
    };
    return count(run(), counters_.protected_packets);
}

Result<std::vector<std::uint8_t>, EspError> EspEndpoint::unprotect(
    std::span<const std::uint8_t> packet) {
    auto run = [&]() -> Result<std::vector<std::uint8_t>, EspError> {
        auto clear = walk_clear_headers(packet, false);
        if (!clear) return Err{clear.error()};
        if (packet[clear->next_header_at] != kIpProtoEsp) return Err{EspError::NotEsp};
        const std::size_t esp_bytes = clear->packet_end - clear->end;
        if (esp_bytes < kEspHeaderBytes) return Err{EspError::Truncated};

        const std::uint8_t* esp_header = packet.data() + clear->end;
        SaState* sa = sas_.find(get_be32(esp_header), Direction::Inbound);
        if (sa == nullptr) return Err{EspError::UnknownSpi};
        const AlgorithmTraits& t = sa->algorithm_traits();
        if (esp_bytes < kEspHeaderBytes + t.iv_bytes + t.block_bytes + t.icv_bytes) {
            return Err{EspError::Truncated};
        }

        // RFC 4303 s.3.4.3: the replay check comes before, and the window update after,
        // the integrity check.
        ReplayWindow& window = sa->replay_window();
        const auto sequence = window.infer(get_be32(esp_header + 4));
        if (!sequence) return Err{EspError::TooOld};
        switch (window.check(*sequence)) {
            case ReplayVerdict::Fresh:
                break;
            case ReplayVerdict::Replayed:
                return Err{EspError::Replayed};
            case ReplayVerdict::TooOld:
                return Err{EspError::TooOld};
        }

        std::vector<std::uint8_t> out(packet.begin(), packet.begin() + clear->packet_end);
        auto opened = sa->decrypt_in_place(std::span(out).subspan(clear->end), *sequence);
        if (!opened) return Err{opened.error()};
        window.record(*sequence);

        // RFC 4303 s.2.4: default padding is 1, 2, 3, ...; anything else is rejected.
        const std::span<std::uint8_t> text = *opened;
        const std::size_t pad_length = text[text.size() - 2];
        const std::uint8_t inner_next_header = text[text.size() - 1];
        if (pad_length + kEspTrailerBytes > text.size()) return Err{EspError::BadPadding};
        const std::size_t payload_bytes = text.size() - kEspTrailerBytes - pad_length;
        for (std::size_t i = 0; i < pad_length; ++i) {
            if (text[payload_bytes + i] != i + 1) return Err{EspError::BadPadding};
        }

        const Ipv6Address sender_home =
            clear->home_address_option.value_or(Ipv6Address::from_bytes(packet.data() + 8));
        if (sender_home != sa->home_address()) return Err{EspError::SelectorMismatch};

        const std::size_t payload_at = static_cast<std::size_t>(text.data() - out.data());
        std::memmove(out.data() + clear->end, out.data() + payload_at, payload_bytes);
        out.resize(clear->end + payload_bytes);
        out[clear->next_header_at] = inner_next_header;
        put_be16(out.data() + 4, out.size() - kIpv6HeaderBytes);
        return out;
    };
    return count(run(), counters_.unprotected_packets);
}

}  // namespace monami::esp
