#include "controlplane/mh/builder.hpp"

#include <optional>

#include "controlplane/mh/registry.hpp"
#include "controlplane/mh/wire.hpp"
#include "controlplane/net/checksum.hpp"

namespace monami::mh {

namespace {

using wire::put16;
using wire::put32;
using Bytes = std::vector<std::uint8_t>;

constexpr std::size_t kMaxOptionData = 255;

// Pads `out` so that the message (from `start`) is y past a multiple of x long
// (RFC 6275 s.6.2.2/6.2.3).
void pad_to(Bytes& out, std::size_t start, std::size_t x, std::size_t y) {
    const std::size_t need = (y + x - (out.size() - start) % x) % x;
    if (need == 1) {
        out.push_back(static_cast<std::uint8_t>(MobilityOptionType::Pad1));
    } else if (need >= 2) {
        out.push_back(static_cast<std::uint8_t>(MobilityOptionType::PadN));
        out.push_back(static_cast<std::uint8_t>(need - 2));
        out.insert(out.end(), need - 2, 0);
    }
}

template <class T>
void write_value(Bytes& out, const T& v) {
    if constexpr (std::is_same_v<T, Ipv6Address>) {
        wire::put_bytes(out, v.bytes.data(), v.bytes.size());
    } else if constexpr (std::is_same_v<T, std::array<std::uint8_t, 4>>) {
        wire::put_bytes(out, v.data(), v.size());
    } else if constexpr (std::is_same_v<T, std::uint32_t>) {
        put32(out, v);
    } else if constexpr (std::is_same_v<T, std::uint16_t>) {
        put16(out, v);
    } else {
        out.push_back(v);
    }
}

// RFC 6088 s.3.1/3.2 (layout: wire.hpp): the 32-bit flag word, Reserved bits zero, then
// for each selected field its start and, when it differs, its end value. The fields are
// written straight after a placeholder flag word, which finish() fills in.
class SelectorWriter {
  public:
    explicit SelectorWriter(Bytes& out) : out_(out), flags_at_(out.size()) {
        out.insert(out.end(), wire::kTsFlagsLength, 0);
    }
    template <class T>
    void field(std::size_t index, const std::optional<Range<T>>& range) {
        if (!range) return;
        flags_ |= 1u << (31 - 2 * index);
        write_value(out_, range->start);
        if (range->end != range->start) {
            flags_ |= 1u << (30 - 2 * index);
            write_value(out_, range->end);
        }
    }
    void finish() const {
        std::uint8_t* p = out_.data() + flags_at_;
        p[0] = static_cast<std::uint8_t>(flags_ >> 24);
        p[1] = static_cast<std::uint8_t>(flags_ >> 16);
        p[2] = static_cast<std::uint8_t>(flags_ >> 8);
        p[3] = static_cast<std::uint8_t>(flags_);
    }

  private:
    Bytes& out_;
    std::size_t flags_at_;
    std::uint32_t flags_ = 0;
};

void write_selector(Bytes& out, const TrafficSelectorV6& ts) {
    SelectorWriter w(out);
    w.field(0, ts.source_address);
    w.field(1, ts.destination_address);
    w.field(2, ts.ipsec_spi);
    w.field(3, ts.flow_label);
    w.field(4, ts.source_port);
    w.field(5, ts.destination_port);
    w.field(6, ts.traffic_class);
    w.field(7, ts.next_header);
    w.finish();
}

void write_selector(Bytes& out, const TrafficSelectorV4& ts) {
    SelectorWriter w(out);
    w.field(0, ts.source_address);
    w.field(1, ts.destination_address);
    w.field(2, ts.ipsec_spi);
    w.field(3, ts.source_port);
    w.field(4, ts.destination_port);
    w.field(5, ts.dscp);
    w.field(6, ts.protocol);
    w.finish();
}

}  // namespace

bool append_traffic_selector(Bytes& out, const TrafficSelector& selector) {
    if (const auto* v4 = std::get_if<TrafficSelectorV4>(&selector)) {
        out.push_back(static_cast<std::uint8_t>(TrafficSelectorFormat::Ipv4Binary));
        out.push_back(0);
        write_selector(out, *v4);
        return true;
    }
    const auto& v6 = std::get<TrafficSelectorV6>(selector);
    out.push_back(static_cast<std::uint8_t>(TrafficSelectorFormat::Ipv6Binary));
    out.push_back(0);
    write_selector(out, v6);
    return !v6.flow_label || (v6.flow_label->start <= wire::kMaxFlowLabel &&
                              v6.flow_label->end <= wire::kMaxFlowLabel);
}

namespace {

// Options and sub-options are written in place: type, a length octet filled in when the
// data is complete, the data. No temporary buffer per option (this runs for every BA).
class MessageWriter {
  public:
    explicit MessageWriter(Bytes& out) : out(out), start(out.size()) {}
    Bytes& out;
    const std::size_t start;  // the MH's first octet in `out`
    std::optional<MhBuildErrorCode> failure;

    void options(const MobilityOptions& o) {
        if (o.refresh_advice) {
            const auto at = begin(MobilityOptionType::BindingRefreshAdvice);
            put16(out, o.refresh_advice->interval_4s);
            end(MobilityOptionType::BindingRefreshAdvice, at);
        }
        if (o.alternate_care_of) {
            const auto at = begin(MobilityOptionType::AlternateCareOfAddress);
            write_value(out, *o.alternate_care_of);
            end(MobilityOptionType::AlternateCareOfAddress, at);
        }
        if (o.nonce_indices) {
            const auto at = begin(MobilityOptionType::NonceIndices);
            put16(out, o.nonce_indices->home);
            put16(out, o.nonce_indices->care_of);
            end(MobilityOptionType::NonceIndices, at);
        }
        for (const auto& prefix : o.network_prefixes) {
            const auto at = begin(MobilityOptionType::MobileNetworkPrefix);
            out.push_back(0);
            out.push_back(prefix.prefix_length);
            write_value(out, prefix.prefix);
            end(MobilityOptionType::MobileNetworkPrefix, at);
        }
        if (o.mn_id) {
            const auto at = begin(MobilityOptionType::MobileNodeIdentifier);
            out.push_back(o.mn_id->subtype);
            out.insert(out.end(), o.mn_id->identifier.begin(), o.mn_id->identifier.end());
            end(MobilityOptionType::MobileNodeIdentifier, at);
        }
        for (const auto& bid : o.binding_ids) {
            const auto at = begin(MobilityOptionType::BindingIdentifier);
            bid_data(bid);
            end(MobilityOptionType::BindingIdentifier, at);
        }
        if (o.flow_summary) {
            const auto at = begin(MobilityOptionType::FlowSummary);
            for (auto fid : *o.flow_summary) put16(out, fid);
            end(MobilityOptionType::FlowSummary, at);
        }
        for (const auto& flow : o.flows) {
            const auto at = begin(MobilityOptionType::FlowIdentification);
            flow_data(flow);
            end(MobilityOptionType::FlowIdentification, at);
        }
        if (o.authorization_data) {
            const auto at = begin(MobilityOptionType::BindingAuthorizationData);
            out.insert(out.end(), o.authorization_data->begin(), o.authorization_data->end());
            end(MobilityOptionType::BindingAuthorizationData, at);
        }
    }

  private:
    // Pads to the option's alignment, writes its type and a length placeholder; returns
    // where its data starts.
    std::size_t begin(MobilityOptionType type) {
        const auto* desc = option_descriptor(static_cast<std::uint8_t>(type));
        pad_to(out, start, desc->align_x, desc->align_y);
        out.push_back(static_cast<std::uint8_t>(type));
        out.push_back(0);
        return out.size();
    }
    void end(MobilityOptionType type, std::size_t data_at) {
        const std::size_t length = out.size() - data_at;
        if (length > kMaxOptionData) {
            failure = MhBuildErrorCode::OptionTooLong;
            return;
        }
        if (!option_descriptor(static_cast<std::uint8_t>(type))->length_ok(length)) {
            failure = MhBuildErrorCode::FieldOutOfRange;  // e.g. an empty Flow Summary
            return;
        }
        out[data_at - 1] = static_cast<std::uint8_t>(length);
    }

    void bid_data(const BindingIdentifier& bid) {
        if (bid.priority > wire::kBidPriorityMask) failure = MhBuildErrorCode::FieldOutOfRange;
        put16(out, bid.bid);
        out.push_back(bid.status);
        out.push_back(static_cast<std::uint8_t>((bid.home_flag ? wire::kBidFlagH : 0) |
                                                (bid.priority & wire::kBidPriorityMask)));
        if (bid.care_of_v6)
            write_value(out, *bid.care_of_v6);
        else if (bid.care_of_v4)
            write_value(out, *bid.care_of_v4);
    }

    std::size_t begin_sub_option(FidSubOptionType type) {
        out.push_back(static_cast<std::uint8_t>(type));
        out.push_back(0);
        return out.size();
    }
    void end_sub_option(std::size_t body_at) {
        const std::size_t length = out.size() - body_at;
        if (length > kMaxOptionData) failure = MhBuildErrorCode::OptionTooLong;
        out[body_at - 1] = static_cast<std::uint8_t>(length);
    }

    void flow_data(const FlowIdentification& flow) {
        put16(out, flow.fid);
        put16(out, flow.priority);
        out.push_back(0);  // Reserved
        out.push_back(flow.status);
        if (!flow.bid_references.empty()) {
            const auto at = begin_sub_option(FidSubOptionType::BidReference);
            for (auto bid : flow.bid_references) put16(out, bid);
            end_sub_option(at);
        }
        if (flow.traffic_selector) {
            const auto at = begin_sub_option(FidSubOptionType::TrafficSelector);
            if (!append_traffic_selector(out, *flow.traffic_selector))
                failure = MhBuildErrorCode::FieldOutOfRange;
            end_sub_option(at);
        } else if (flow.unsupported_ts_format) {
            // Echoes the format the MN used, without a selector we could not read.
            const auto at = begin_sub_option(FidSubOptionType::TrafficSelector);
            out.push_back(*flow.unsupported_ts_format);
            out.push_back(0);
            end_sub_option(at);
        }
    }
};

std::uint8_t bool_bit(bool set, std::uint8_t bit) {
    return set ? bit : std::uint8_t{0};
}

void write_fixed(Bytes& out, const BindingRefreshRequest&) {
    out.insert(out.end(), 2, 0);
}

void write_fixed(Bytes& out, const BindingUpdate& bu) {
    put16(out, bu.sequence);
    out.push_back(static_cast<std::uint8_t>(bool_bit(bu.ack_requested, wire::kBuFlagA) |
                                            bool_bit(bu.home_registration, wire::kBuFlagH) |
                                            bool_bit(bu.link_local_compat, wire::kBuFlagL) |
                                            bool_bit(bu.key_management, wire::kBuFlagK) |
                                            bool_bit(bu.mobile_router, wire::kBuFlagR)));
    out.push_back(0);
    put16(out, bu.lifetime_4s);
}

void write_fixed(Bytes& out, const BindingAck& ba) {
    out.push_back(ba.status);
    out.push_back(static_cast<std::uint8_t>(bool_bit(ba.key_management, wire::kBaFlagK) |
                                            bool_bit(ba.mobile_router, wire::kBaFlagR)));
    put16(out, ba.sequence);
    put16(out, ba.lifetime_4s);
}

void write_fixed(Bytes& out, const BindingError& be) {
    out.push_back(be.status);
    out.push_back(0);
    write_value(out, be.home_address);
}

void write_fixed(Bytes& out, const Heartbeat& hb) {
    out.push_back(0);
    out.push_back(static_cast<std::uint8_t>(bool_bit(hb.unsolicited, wire::kHbFlagU) |
                                            bool_bit(hb.response, wire::kHbFlagR)));
    put32(out, hb.sequence);
}

template <class M>
constexpr MhType mh_type_for() {
    if constexpr (std::is_same_v<M, BindingUpdate>)
        return MhType::BindingUpdate;
    else if constexpr (std::is_same_v<M, BindingAck>)
        return MhType::BindingAck;
    else if constexpr (std::is_same_v<M, BindingError>)
        return MhType::BindingError;
    else if constexpr (std::is_same_v<M, Heartbeat>)
        return MhType::Heartbeat;
    else
        return MhType::BindingRefreshRequest;
}

}  // namespace

std::string_view to_string(MhBuildErrorCode code) {
    switch (code) {
        case MhBuildErrorCode::OptionTooLong:
            return "option too long";
        case MhBuildErrorCode::MessageTooLong:
            return "message too long";
        case MhBuildErrorCode::FieldOutOfRange:
            return "field out of range";
    }
    return "unknown error";
}

MhType mh_type_of(const MhMessage& message) {
    return std::visit([](const auto& m) { return mh_type_for<std::decay_t<decltype(m)>>(); },
                      message);
}

template <class Message>
Result<std::size_t, MhBuildError> try_append_mh(const Message& message, const Ipv6Address& src,
                                                const Ipv6Address& dst,
                                                std::vector<std::uint8_t>& out) {
    if constexpr (std::is_same_v<Message, MhMessage>) {
        return std::visit([&](const auto& m) { return try_append_mh(m, src, dst, out); }, message);
    } else {
        MessageWriter w(out);
        const std::size_t start = w.start;
        const std::uint8_t header[] = {
            kIpProtoNone, 0, static_cast<std::uint8_t>(mh_type_for<Message>()), 0, 0, 0};
        out.insert(out.end(), std::begin(header), std::end(header));
        write_fixed(out, message);
        w.options(message.options);
        pad_to(out, start, 8, 0);
        const std::size_t length = out.size() - start;
        if (!w.failure && length > wire::kMaxMhLength) w.failure = MhBuildErrorCode::MessageTooLong;
        if (w.failure) {
            out.resize(start);
            return Err{MhBuildError{*w.failure}};
        }
        std::uint8_t* mh = out.data() + start;
        mh[wire::kHeaderLenOffset] = static_cast<std::uint8_t>(length / 8 - 1);
        const std::uint16_t checksum = net::ipv6_upper_layer_checksum(
            src, dst, kIpProtoMobility, std::span<const std::uint8_t>(mh, length));
        mh[wire::kChecksumOffset] = static_cast<std::uint8_t>(checksum >> 8);
        mh[wire::kChecksumOffset + 1] = static_cast<std::uint8_t>(checksum);
        return length;
    }
}

#define MONAMI_APPEND_MH(M)                                      \
    template Result<std::size_t, MhBuildError> try_append_mh<M>( \
        const M&, const Ipv6Address&, const Ipv6Address&, std::vector<std::uint8_t>&);
MONAMI_APPEND_MH(MhMessage)
MONAMI_APPEND_MH(BindingRefreshRequest)
MONAMI_APPEND_MH(BindingUpdate)
MONAMI_APPEND_MH(BindingAck)
MONAMI_APPEND_MH(BindingError)
MONAMI_APPEND_MH(Heartbeat)
#undef MONAMI_APPEND_MH

Result<std::vector<std::uint8_t>, MhBuildError> try_build_mh(const MhMessage& message,
                                                             const Ipv6Address& src,
                                                             const Ipv6Address& dst) {
    std::vector<std::uint8_t> out;
    auto built = try_append_mh(message, src, dst, out);
    if (!built) return Err{built.error()};
    return out;
}

std::vector<std::uint8_t> build_mh(const MhMessage& message, const Ipv6Address& src,
                                   const Ipv6Address& dst) {
    auto built = try_build_mh(message, src, dst);
    if (!built) return {};
    return std::move(built).value();
}

}  // namespace monami::mh
