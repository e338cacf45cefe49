#include "controlplane/mh/parser.hpp"

#include <algorithm>
#include <optional>

#include "controlplane/mh/registry.hpp"
#include "controlplane/mh/wire.hpp"
#include "controlplane/net/checksum.hpp"

namespace monami::mh {

namespace {

using Bytes = std::span<const std::uint8_t>;
using wire::get16;
using wire::get32;

// Sub-steps report failure as an optional error: Result has no void form.
using Failure = std::optional<MhParseError>;

std::optional<std::size_t> fixed_length(std::uint8_t type) {
    switch (static_cast<MhType>(type)) {
        case MhType::BindingRefreshRequest:
            return wire::kBrrFixed;
        case MhType::BindingUpdate:
            return wire::kBuFixed;
        case MhType::BindingAck:
            return wire::kBaFixed;
        case MhType::BindingError:
            return wire::kBeFixed;
        case MhType::Heartbeat:
            return wire::kHbFixed;
        default:
            return std::nullopt;  // not handled by a home agent
    }
}

// ---- Traffic selectors (RFC 6088) ------------------------------------------------------

template <class T>
T read_value(const std::uint8_t* p) {
    if constexpr (std::is_same_v<T, Ipv6Address>) {
        return Ipv6Address::from_bytes(p);
    } else if constexpr (std::is_same_v<T, std::array<std::uint8_t, 4>>) {
        return {p[0], p[1], p[2], p[3]};
    } else if constexpr (std::is_same_v<T, std::uint32_t>) {
        return get32(p);
    } else if constexpr (std::is_same_v<T, std::uint16_t>) {
        return get16(p);
    } else {
        return p[0];
    }
}

// Walks the RFC 6088 flag word and the fields it selects (layout: wire.hpp). Each field
// is a start/end flag pair; an end without a start is meaningless, so it is malformed.
// The Reserved bits below the flags are ignored.
class SelectorReader {
  public:
    SelectorReader(Bytes body, std::size_t field_count) : body_(body), field_count_(field_count) {}

    bool valid_layout(std::span<const std::uint8_t> field_sizes) const {
        if (body_.size() < wire::kTsFlagsLength) return false;
        std::size_t expected = wire::kTsFlagsLength;
        for (std::size_t i = 0; i < field_count_; ++i) {
            bool start = has_start(i), end = has_end(i);
            if (end && !start) return false;
            expected += field_sizes[i] * (static_cast<std::size_t>(start) + end);
        }
        return expected == body_.size();
    }

    template <class T>
    std::optional<Range<T>> next(std::size_t field, std::size_t size) {
        if (!has_start(field)) return std::nullopt;
        Range<T> r;
        r.start = read_value<T>(body_.data() + pos_);
        pos_ += size;
        r.end = r.start;
        if (has_end(field)) {
            r.end = read_value<T>(body_.data() + pos_);
            pos_ += size;
        }
        return r;
    }

  private:
    std::uint32_t flags() const { return get32(body_.data()); }
    bool has_start(std::size_t field) const { return flags() >> (31 - 2 * field) & 1; }
    bool has_end(std::size_t field) const { return flags() >> (30 - 2 * field) & 1; }

    Bytes body_;
    std::size_t field_count_;
    std::size_t pos_ = wire::kTsFlagsLength;
};

std::optional<TrafficSelectorV6> parse_ts_v6(Bytes body) {
    const auto& sizes = wire::kTsV6FieldSizes;
    SelectorReader r(body, sizes.size());
    if (!r.valid_layout(sizes)) return std::nullopt;
    TrafficSelectorV6 ts;
    ts.source_address = r.next<Ipv6Address>(0, sizes[0]);
    ts.destination_address = r.next<Ipv6Address>(1, sizes[1]);
    ts.ipsec_spi = r.next<std::uint32_t>(2, sizes[2]);
    ts.flow_label = r.next<std::uint32_t>(3, sizes[3]);
    ts.source_port = r.next<std::uint16_t>(4, sizes[4]);
    ts.destination_port = r.next<std::uint16_t>(5, sizes[5]);
    ts.traffic_class = r.next<std::uint8_t>(6, sizes[6]);
    ts.next_header = r.next<std::uint8_t>(7, sizes[7]);
    if (ts.flow_label &&
        (ts.flow_label->start > wire::kMaxFlowLabel || ts.flow_label->end > wire::kMaxFlowLabel))
        return std::nullopt;
    return ts;
}

std::optional<TrafficSelectorV4> parse_ts_v4(Bytes body) {
    using V4 = std::array<std::uint8_t, 4>;
    const auto& sizes = wire::kTsV4FieldSizes;
    SelectorReader r(body, sizes.size());
    if (!r.valid_layout(sizes)) return std::nullopt;
    TrafficSelectorV4 ts;
    ts.source_address = r.next<V4>(0, sizes[0]);
    ts.destination_address = r.next<V4>(1, sizes[1]);
    ts.ipsec_spi = r.next<std::uint32_t>(2, sizes[2]);
    ts.source_port = r.next<std::uint16_t>(3, sizes[3]);
    ts.destination_port = r.next<std::uint16_t>(4, sizes[4]);
    ts.dscp = r.next<std::uint8_t>(5, sizes[5]);
    ts.protocol = r.next<std::uint8_t>(6, sizes[6]);
    return ts;
}

// ---- Options -----------------------------------------------------------------------------

class OptionsParser {
  public:
    OptionsParser(Bytes mh, std::uint8_t type, const ParseLimits& limits)
        : mh_(mh), type_(type), limits_(limits) {}

    Failure parse(std::size_t begin, MobilityOptions& out) {
        std::size_t pos = begin;
        std::size_t count = 0;
        bool after_auth_data = false;
        while (pos < mh_.size()) {
            const std::uint8_t opt = mh_[pos];
            if (opt == static_cast<std::uint8_t>(MobilityOptionType::Pad1)) {
                ++pos;
                continue;
            }
            if (pos + 2 > mh_.size()) return error(MhErrorCode::BadOptionLength, pos);
            const std::size_t length = mh_[pos + 1];
            if (pos + 2 + length > mh_.size()) return error(MhErrorCode::BadOptionLength, pos + 1);
            if (opt != static_cast<std::uint8_t>(MobilityOptionType::PadN)) {
                if (after_auth_data) return error(MhErrorCode::OptionAfterAuthData, pos);
                if (++count > limits_.max_options) return error(MhErrorCode::TooManyOptions, pos);
                if (auto f = parse_option(opt, pos, mh_.subspan(pos + 2, length), out)) return f;
                after_auth_data =
                    opt == static_cast<std::uint8_t>(MobilityOptionType::BindingAuthorizationData);
            }
            pos += 2 + length;
        }
        return std::nullopt;
    }

  private:
    Failure error(MhErrorCode code, std::size_t offset, std::uint8_t option_type = 0) const {
        return MhParseError{code, offset, type_, option_type};
    }

    template <class T>
    Failure set_once(std::optional<T>& slot, T value, std::size_t pos) {
        if (slot) return error(MhErrorCode::DuplicateOption, pos);
        slot = std::move(value);
        return std::nullopt;
    }

    Failure parse_option(std::uint8_t opt, std::size_t pos, Bytes data, MobilityOptions& out) {
        const auto* desc = option_descriptor(opt);
        if (desc == nullptr || !decoded(desc->type)) {
            out.skipped_unknown.push_back(opt);  // RFC 6275 s.6.2.1: skip unknown options
            return std::nullopt;
        }
        if (!desc->length_ok(data.size())) return error(MhErrorCode::BadOptionLength, pos + 1, opt);
        if (!desc->aligned_at(pos)) return error(MhErrorCode::BadOptionAlignment, pos, opt);
        const std::uint8_t* p = data.data();
        switch (desc->type) {
            case MobilityOptionType::BindingRefreshAdvice:
                return set_once(out.refresh_advice, BindingRefreshAdvice{get16(p)}, pos);
            case MobilityOptionType::AlternateCareOfAddress:
                return set_once(out.alternate_care_of, Ipv6Address::from_bytes(p), pos);
            case MobilityOptionType::NonceIndices:
                return set_once(out.nonce_indices, NonceIndices{get16(p), get16(p + 2)}, pos);
            case MobilityOptionType::BindingAuthorizationData:
                return set_once(out.authorization_data,
                                std::vector<std::uint8_t>(data.begin(), data.end()), pos);
            case MobilityOptionType::MobileNetworkPrefix:
                // p[0] is reserved (RFC 3963 s.4.3).
                out.network_prefixes.push_back({p[1], Ipv6Address::from_bytes(p + 2)});
                return std::nullopt;
            case MobilityOptionType::MobileNodeIdentifier:
                return set_once(out.mn_id,
                                MobileNodeIdentifier{
                                    p[0], std::vector<std::uint8_t>(data.begin() + 1, data.end())},
                                pos);
            case MobilityOptionType::BindingIdentifier:
                return parse_bid(pos, data, out);
            case MobilityOptionType::FlowSummary: {
                std::vector<std::uint16_t> fids;
                for (std::size_t i = 0; i < data.size(); i += 2) fids.push_back(get16(p + i));
                return set_once(out.flow_summary, std::move(fids), pos);
            }
            case MobilityOptionType::FlowIdentification:
                return parse_flow(pos, data, out);
            default:
                return std::nullopt;  // unreachable: decoded() lists the cases above
        }
    }

    static bool decoded(MobilityOptionType t) {
        switch (t) {
            case MobilityOptionType::BindingRefreshAdvice:
            case MobilityOptionType::AlternateCareOfAddress:
            case MobilityOptionType::NonceIndices:
            case MobilityOptionType::BindingAuthorizationData:
            case MobilityOptionType::MobileNetworkPrefix:
            case MobilityOptionType::MobileNodeIdentifier:
            case MobilityOptionType::BindingIdentifier:
            case MobilityOptionType::FlowSummary:
            case MobilityOptionType::FlowIdentification:
                return true;
            default:
                return false;
        }
    }

    Failure parse_bid(std::size_t pos, Bytes data, MobilityOptions& out) {
        const std::uint8_t* p = data.data();
        BindingIdentifier bid;
        bid.bid = get16(p);
        bid.status = p[2];
        bid.home_flag = (p[3] & wire::kBidFlagH) != 0;
        bid.priority = p[3] & wire::kBidPriorityMask;
        if (data.size() == wire::kBidLengthV4)
            bid.care_of_v4 = std::array<std::uint8_t, 4>{p[4], p[5], p[6], p[7]};
        else if (data.size() == wire::kBidLengthV6)
            bid.care_of_v6 = Ipv6Address::from_bytes(p + 4);
        for (const auto& seen : out.binding_ids)
            if (seen.bid == bid.bid) return error(MhErrorCode::DuplicateBid, pos + 2);
        out.binding_ids.push_back(std::move(bid));
        return std::nullopt;
    }

    Failure parse_flow(std::size_t pos, Bytes data, MobilityOptions& out) {
        const std::uint8_t* p = data.data();
        FlowIdentification flow;
        flow.fid = get16(p);
        flow.priority = get16(p + 2);
        // p[4] is Reserved (RFC 6089 s.4.2): ignored on receipt.
        flow.status = p[5];
        for (const auto& seen : out.flows)
            if (seen.fid == flow.fid) return error(MhErrorCode::DuplicateFid, pos + 2);

        const std::size_t base = pos + 2;  // offset of `data` inside the MH
        std::size_t at = wire::kFidFixed;
        std::size_t count = 0;
        bool have_selector = false;
        while (at < data.size()) {
            const std::uint8_t sub = data[at];
            if (sub == static_cast<std::uint8_t>(FidSubOptionType::Pad)) {
                ++at;
                continue;
            }
            if (at + 2 > data.size() || at + 2 + data[at + 1] > data.size())
                return error(MhErrorCode::MalformedSubOption, base + at);
            const Bytes body = data.subspan(at + 2, data[at + 1]);
            if (sub != static_cast<std::uint8_t>(FidSubOptionType::PadN)) {
                if (++count > limits_.max_sub_options)
                    return error(MhErrorCode::TooManyOptions, base + at);
                if (sub == static_cast<std::uint8_t>(FidSubOptionType::BidReference)) {
                    if (body.empty() || body.size() % 2 != 0)
                        return error(MhErrorCode::MalformedSubOption, base + at);
                    for (std::size_t i = 0; i < body.size(); i += 2)
                        flow.bid_references.push_back(get16(body.data() + i));
                } else if (sub == static_cast<std::uint8_t>(FidSubOptionType::TrafficSelector)) {
                    if (have_selector || !parse_selector(body, flow))
                        return error(MhErrorCode::MalformedSubOption, base + at);
                    have_selector = true;
                }
                // Other sub-option types are skipped, like unknown options.
            }
            at += 2 + body.size();
        }
        out.flows.push_back(std::move(flow));
        return std::nullopt;
    }

    // RFC 6089 s.4.2.2.4: TS Format, Reserved, then the selector of that format.
    static bool parse_selector(Bytes body, FlowIdentification& flow) {
        if (body.size() < wire::kTsHeader) return false;
        const auto format = static_cast<TrafficSelectorFormat>(body[0]);
        if (format != TrafficSelectorFormat::Ipv4Binary &&
            format != TrafficSelectorFormat::Ipv6Binary) {
            // Not a parse failure: the caller answers FID status 133 for this flow.
            flow.unsupported_ts_format = body[0];
            return true;
        }
        auto ts = parse_traffic_selector(body);
        if (!ts) return false;
        flow.traffic_selector = std::move(*ts);
        return true;
    }

    Bytes mh_;
    std::uint8_t type_;
    const ParseLimits& limits_;
};

// The message of `type` in `message`, its options emptied: the alternative already there
// is reused with its vectors' storage (a control thread parsing into the same ParsedMh
// allocates nothing for the common BU).
MobilityOptions& prepare(MhType type, MhMessage& message) {
    auto reuse = [&](auto tag) -> MobilityOptions& {
        using M = decltype(tag);
        if (auto* m = std::get_if<M>(&message)) {
            clear_keeping_storage(m->options);
            return m->options;
        }
        return message.emplace<M>().options;
    };
    switch (type) {
        case MhType::BindingUpdate:
            return reuse(BindingUpdate{});
        case MhType::BindingAck:
            return reuse(BindingAck{});
        case MhType::BindingError:
            return reuse(BindingError{});
        case MhType::Heartbeat:
            return reuse(Heartbeat{});
        default:
            return reuse(BindingRefreshRequest{});
    }
}

// The fixed fields of the message prepare() chose.
void decode_fixed(Bytes m, MhMessage& message) {
    const std::uint8_t* p = m.data();
    if (auto* bu = std::get_if<BindingUpdate>(&message)) {
        bu->sequence = get16(p + 6);
        bu->ack_requested = (p[8] & wire::kBuFlagA) != 0;
        bu->home_registration = (p[8] & wire::kBuFlagH) != 0;
        bu->link_local_compat = (p[8] & wire::kBuFlagL) != 0;
        bu->key_management = (p[8] & wire::kBuFlagK) != 0;
        bu->mobile_router = (p[8] & wire::kBuFlagR) != 0;
        bu->lifetime_4s = get16(p + 10);
    } else if (auto* ba = std::get_if<BindingAck>(&message)) {
        ba->status = p[6];
        ba->key_management = (p[7] & wire::kBaFlagK) != 0;
        ba->mobile_router = (p[7] & wire::kBaFlagR) != 0;
        ba->sequence = get16(p + 8);
        ba->lifetime_4s = get16(p + 10);
    } else if (auto* be = std::get_if<BindingError>(&message)) {
        be->status = p[6];
        be->home_address = Ipv6Address::from_bytes(p + 8);
    } else if (auto* hb = std::get_if<Heartbeat>(&message)) {
        hb->unsolicited = (p[7] & wire::kHbFlagU) != 0;
        hb->response = (p[7] & wire::kHbFlagR) != 0;
        hb->sequence = get32(p + 8);
    }
}

}  // namespace

std::optional<TrafficSelector> parse_traffic_selector(std::span<const std::uint8_t> data) {
    if (data.size() < wire::kTsHeader) return std::nullopt;
    const Bytes selector = data.subspan(wire::kTsHeader);
    switch (static_cast<TrafficSelectorFormat>(data[0])) {
        case TrafficSelectorFormat::Ipv4Binary:
            if (auto ts = parse_ts_v4(selector)) return TrafficSelector{std::move(*ts)};
            return std::nullopt;
        case TrafficSelectorFormat::Ipv6Binary:
            if (auto ts = parse_ts_v6(selector)) return TrafficSelector{std::move(*ts)};
            return std::nullopt;
    }
    return std::nullopt;
}

std::string_view to_string(MhErrorCode code) {
    switch (code) {
        case MhErrorCode::Truncated:
            return "truncated";
        case MhErrorCode::BadChecksum:
            return "bad checksum";
        case MhErrorCode::UnknownMhType:
            return "unknown MH type";
        case MhErrorCode::BadPayloadProto:
            return "payload proto is not 59";
        case MhErrorCode::BadHeaderLength:
            return "header length too short for the MH type";
        case MhErrorCode::BadOptionLength:
            return "bad option length";
        case MhErrorCode::BadOptionAlignment:
            return "bad option alignment";
        case MhErrorCode::OptionAfterAuthData:
            return "option after Binding Authorization Data";
        case MhErrorCode::DuplicateOption:
            return "duplicate option";
        case MhErrorCode::DuplicateBid:
            return "duplicate BID";
        case MhErrorCode::DuplicateFid:
            return "duplicate FID";
        case MhErrorCode::TooManyOptions:
            return "too many options";
        case MhErrorCode::MalformedSubOption:
            return "malformed sub-option";
    }
    return "unknown error";
}

std::string to_string(const MhParseError& error) {
    std::string text(to_string(error.code));
    text += " at offset ";
    text += std::to_string(error.offset);
    text += " (MH type ";
    text += std::to_string(error.mh_type);
    text += ')';
    return text;
}

std::optional<MhParseError> parse_mh_into(std::span<const std::uint8_t> mh, const Ipv6Address& src,
                                          const Ipv6Address& dst, const ParseLimits& limits,
                                          ParsedMh& out) {
    if (mh.size() < wire::kMinMhLength)
        return MhParseError{
            MhErrorCode::Truncated, mh.size(),
            mh.size() > wire::kTypeOffset ? mh[wire::kTypeOffset] : std::uint8_t{0}};
    const std::uint8_t type = mh[wire::kTypeOffset];
    const std::size_t length = mh_length_from_header_len(mh[wire::kHeaderLenOffset]);
    if (length > mh.size())
        return MhParseError{MhErrorCode::Truncated, wire::kHeaderLenOffset, type};
    const Bytes message = mh.first(length);

    // Checks in the order of RFC 6275 s.9.2: checksum, type, payload proto, length.
    if (net::ipv6_upper_layer_checksum(src, dst, kIpProtoMobility, message) != 0)
        return MhParseError{MhErrorCode::BadChecksum, wire::kChecksumOffset, type};
    const auto fixed = fixed_length(type);
    if (!fixed) return MhParseError{MhErrorCode::UnknownMhType, wire::kTypeOffset, type};
    if (message[wire::kPayloadProtoOffset] != kIpProtoNone)
        return MhParseError{MhErrorCode::BadPayloadProto, wire::kPayloadProtoOffset, type};
    if (length < *fixed)
        return MhParseError{MhErrorCode::BadHeaderLength, wire::kHeaderLenOffset, type};

    const auto mh_type = static_cast<MhType>(type);
    out.type = mh_type;
    MobilityOptions& options = prepare(mh_type, out.message);
    if (auto failure = OptionsParser(message, type, limits).parse(*fixed, options)) return failure;
    decode_fixed(message, out.message);
    return std::nullopt;
}

Result<ParsedMh, MhParseError> parse_mh(std::span<const std::uint8_t> mh, const Ipv6Address& src,
                                        const Ipv6Address& dst, const ParseLimits& limits) {
    ParsedMh parsed;
    if (auto failure = parse_mh_into(mh, src, dst, limits, parsed)) return Err{*failure};
    return parsed;
}

}  // namespace monami::mh
