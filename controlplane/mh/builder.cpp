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
// for each selected field its start and, when it differs, its end value.
class SelectorWriter {
  public:
    template <class T>
    void field(std::size_t index, const std::optional<Range<T>>& range) {
        if (!range) return;
        flags_ |= 1u << (31 - 2 * index);
        write_value(fields_, range->start);
        if (range->end != range->start) {
            flags_ |= 1u << (30 - 2 * index);
            write_value(fields_, range->end);
        }
    }
    void finish(Bytes& out) const {
        put32(out, flags_);
        out.insert(out.end(), fields_.begin(), fields_.end());
    }

  private:
    std::uint32_t flags_ = 0;
    Bytes fields_;
};

void write_selector(Bytes& out, const TrafficSelectorV6& ts) {
    SelectorWriter w;
    w.field(0, ts.source_address);
    w.field(1, ts.destination_address);
    w.field(2, ts.ipsec_spi);
    w.field(3, ts.flow_label);
    w.field(4, ts.source_port);
    w.field(5, ts.destination_port);
    w.field(6, ts.traffic_class);
    w.field(7, ts.next_header);
    w.finish(out);
}

void write_selector(Bytes& out, const TrafficSelectorV4& ts) {
    SelectorWriter w;
    w.field(0, ts.source_address);
    w.field(1, ts.destination_address);
    w.field(2, ts.ipsec_spi);
    w.field(3, ts.source_port);
    w.field(4, ts.destination_port);
    w.field(5, ts.dscp);
    w.field(6, ts.protocol);
    w.finish(out);
}

class MessageWriter {
  public:
    explicit MessageWriter(Bytes& out) : out(out), start(out.size()) {}
    Bytes& out;
    const std::size_t start;  // the MH's first octet in `out`
    std::optional<MhBuildErrorCode> failure;

    void option(MobilityOptionType type, const Bytes& data) {
        if (data.size() > kMaxOptionData) {
            failure = MhBuildErrorCode::OptionTooLong;
            return;
        }
        const auto* desc = option_descriptor(static_cast<std::uint8_t>(type));
        if (!desc->length_ok(data.size())) {
            failure = MhBuildErrorCode::FieldOutOfRange;  // e.g. an empty Flow Summary
            return;
        }
        pad_to(out, start, desc->align_x, desc->align_y);
        out.push_back(static_cast<std::uint8_t>(type));
        out.push_back(static_cast<std::uint8_t>(data.size()));
        out.insert(out.end(), data.begin(), data.end());
    }

    void options(const MobilityOptions& o) {
        if (o.refresh_advice) {
            Bytes d;
            put16(d, o.refresh_advice->interval_4s);
            option(MobilityOptionType::BindingRefreshAdvice, d);
        }
        if (o.alternate_care_of) {
            Bytes d;
            write_value(d, *o.alternate_care_of);
            option(MobilityOptionType::AlternateCareOfAddress, d);
        }
        if (o.nonce_indices) {
            Bytes d;
            put16(d, o.nonce_indices->home);
            put16(d, o.nonce_indices->care_of);
            option(MobilityOptionType::NonceIndices, d);
        }
        for (const auto& prefix : o.network_prefixes) {
            Bytes d{0, prefix.prefix_length};
            write_value(d, prefix.prefix);
            option(MobilityOptionType::MobileNetworkPrefix, d);
        }
        if (o.mn_id) {
            Bytes d{o.mn_id->subtype};
            d.insert(d.end(), o.mn_id->identifier.begin(), o.mn_id->identifier.end());
            option(MobilityOptionType::MobileNodeIdentifier, d);
        }
        for (const auto& bid : o.binding_ids)
            option(MobilityOptionType::BindingIdentifier, bid_data(bid));
        if (o.flow_summary) {
            Bytes d;
            for (auto fid : *o.flow_summary) put16(d, fid);
            option(MobilityOptionType::FlowSummary, d);
        }
        for (const auto& flow : o.flows)
            option(MobilityOptionType::FlowIdentification, flow_data(flow));
        if (o.authorization_data)
            option(MobilityOptionType::BindingAuthorizationData, *o.authorization_data);
    }

  private:
    Bytes bid_data(const BindingIdentifier& bid) {
        if (bid.priority > wire::kBidPriorityMask) failure = MhBuildErrorCode::FieldOutOfRange;
        Bytes d;
        put16(d, bid.bid);
        d.push_back(bid.status);
        d.push_back(static_cast<std::uint8_t>((bid.home_flag ? wire::kBidFlagH : 0) |
                                              (bid.priority & wire::kBidPriorityMask)));
        if (bid.care_of_v6)
            write_value(d, *bid.care_of_v6);
        else if (bid.care_of_v4)
            write_value(d, *bid.care_of_v4);
        return d;
    }

    void sub_option(Bytes& d, FidSubOptionType type, const Bytes& body) {
        if (body.size() > kMaxOptionData) failure = MhBuildErrorCode::OptionTooLong;
        d.push_back(static_cast<std::uint8_t>(type));
        d.push_back(static_cast<std::uint8_t>(body.size()));
        d.insert(d.end(), body.begin(), body.end());
    }

    Bytes flow_data(const FlowIdentification& flow) {
        Bytes d;
        put16(d, flow.fid);
        put16(d, flow.priority);
        d.push_back(static_cast<std::uint8_t>(flow.action));
        d.push_back(flow.status);
        if (!flow.bid_references.empty()) {
            Bytes body;
            for (auto bid : flow.bid_references) put16(body, bid);
            sub_option(d, FidSubOptionType::BidReference, body);
        }
        if (flow.traffic_selector) {
            Bytes body;
            if (const auto* v4 = std::get_if<TrafficSelectorV4>(&*flow.traffic_selector)) {
                body = {static_cast<std::uint8_t>(TrafficSelectorFormat::Ipv4Binary), 0};
                write_selector(body, *v4);
            } else {
                const auto& v6 = std::get<TrafficSelectorV6>(*flow.traffic_selector);
                if (v6.flow_label && (v6.flow_label->start > wire::kMaxFlowLabel ||
                                      v6.flow_label->end > wire::kMaxFlowLabel))
                    failure = MhBuildErrorCode::FieldOutOfRange;
                body = {static_cast<std::uint8_t>(TrafficSelectorFormat::Ipv6Binary), 0};
                write_selector(body, v6);
            }
            sub_option(d, FidSubOptionType::TrafficSelector, body);
        } else if (flow.unsupported_ts_format) {
            // Echoes the format the MN used, without a selector we could not read.
            sub_option(d, FidSubOptionType::TrafficSelector, Bytes{*flow.unsupported_ts_format, 0});
        }
        return d;
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
