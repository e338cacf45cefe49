// Mobility Header codec: registry values, parser, builder, IPv6 extension headers.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "controlplane/mh/builder.hpp"
#include "controlplane/mh/exthdr.hpp"
#include "controlplane/mh/messages.hpp"
#include "controlplane/mh/parser.hpp"
#include "controlplane/mh/registry.hpp"
#include "controlplane/net/checksum.hpp"

namespace mh = monami::mh;
using monami::Ipv6Address;

namespace {

constexpr std::uint8_t u8(mh::MhType t) {
    return static_cast<std::uint8_t>(t);
}
constexpr std::uint8_t u8(mh::MobilityOptionType t) {
    return static_cast<std::uint8_t>(t);
}

using Bytes = std::vector<std::uint8_t>;

Ipv6Address addr(const char* text) {
    return *Ipv6Address::parse(text);
}

const Ipv6Address kHa = addr("2001:db8:1::1");
const Ipv6Address kHoa = addr("2001:db8:1::100");
const Ipv6Address kCoa = addr("2001:db8:aa::5");
const Ipv6Address kCoa2 = addr("2001:db8:bb::7");

void append(Bytes& out, const Ipv6Address& a) {
    out.insert(out.end(), a.bytes.begin(), a.bytes.end());
}

// Recomputes the MH checksum after a test edited the bytes, so that the check under test
// is the one that fails.
Bytes with_checksum(Bytes mh, const Ipv6Address& src = kHoa, const Ipv6Address& dst = kHa) {
    mh[4] = mh[5] = 0;
    const auto c = monami::net::ipv6_upper_layer_checksum(src, dst, 135, mh);
    mh[4] = static_cast<std::uint8_t>(c >> 8);
    mh[5] = static_cast<std::uint8_t>(c);
    return mh;
}

// Fixed part of a BU (RFC 6275 s.6.1.7): sequence 0x1234, A|H, lifetime 0x96.
Bytes bu_header(std::uint8_t header_len) {
    return {59, header_len, 5, 0, 0, 0, 0x12, 0x34, 0xc0, 0x00, 0x00, 0x96};
}

// BU with an Alternate CoA (8n+6, after a 2-byte PadN) and a Binding Identifier with an
// IPv6 CoA, as the builder lays it out; checksum computed independently (Python).
Bytes valid_bu_bytes() {
    Bytes b = bu_header(6);
    b.insert(b.end(), {1, 0});   // PadN, 0 data octets: ACoA type lands on offset 14
    b.insert(b.end(), {3, 16});  // Alternate Care-of Address
    append(b, kCoa);
    b.insert(b.end(), {35, 20, 0x00, 0x01, 0x00, 0x80});  // BID 1, status 0, H flag
    append(b, kCoa2);
    b.insert(b.end(), {1, 0});  // PadN to 56 octets
    b[4] = 0x0a;
    b[5] = 0x72;
    return b;
}

mh::ParsedMh parse_ok(const Bytes& b, const Ipv6Address& src = kHoa, const Ipv6Address& dst = kHa) {
    auto r = mh::parse_mh(b, src, dst);
    EXPECT_TRUE(r.ok()) << (r.ok() ? "" : mh::to_string(r.error()));
    return r.ok() ? r.value() : mh::ParsedMh{};
}

mh::MhParseError parse_error(const Bytes& b, const mh::ParseLimits& limits = {}) {
    auto r = mh::parse_mh(b, kHoa, kHa, limits);
    EXPECT_FALSE(r.ok());
    return r.ok() ? mh::MhParseError{} : r.error();
}

}  // namespace

// ---- Registry: every value pinned against /work/shared/SPEC.md ------------------------

TEST(Registry, MhTypes) {
    EXPECT_EQ(mh::kIpProtoMobility, 135);
    EXPECT_EQ(mh::kIpProtoNone, 59);
    EXPECT_EQ(u8(mh::MhType::BindingRefreshRequest), 0);
    EXPECT_EQ(u8(mh::MhType::HomeTestInit), 1);
    EXPECT_EQ(u8(mh::MhType::CareOfTestInit), 2);
    EXPECT_EQ(u8(mh::MhType::HomeTest), 3);
    EXPECT_EQ(u8(mh::MhType::CareOfTest), 4);
    EXPECT_EQ(u8(mh::MhType::BindingUpdate), 5);
    EXPECT_EQ(u8(mh::MhType::BindingAck), 6);
    EXPECT_EQ(u8(mh::MhType::BindingError), 7);
    EXPECT_EQ(u8(mh::MhType::HomeAgentSwitch), 12);
    EXPECT_EQ(u8(mh::MhType::Heartbeat), 13);
    EXPECT_EQ(u8(mh::MhType::BindingRevocation), 16);
    EXPECT_EQ(u8(mh::MhType::FlowBinding), 21);
    EXPECT_EQ(mh::mh_type_name(5), "Binding Update");
    EXPECT_EQ(mh::mh_type_name(6), "Binding Acknowledgement");
    EXPECT_EQ(mh::mh_type_name(13), "Heartbeat");
    EXPECT_EQ(mh::mh_type_name(99), "unknown");
}

TEST(Registry, MobilityOptionTypes) {
    using T = mh::MobilityOptionType;
    EXPECT_EQ(u8(T::Pad1), 0);
    EXPECT_EQ(u8(T::PadN), 1);
    EXPECT_EQ(u8(T::BindingRefreshAdvice), 2);
    EXPECT_EQ(u8(T::AlternateCareOfAddress), 3);
    EXPECT_EQ(u8(T::NonceIndices), 4);
    EXPECT_EQ(u8(T::BindingAuthorizationData), 5);
    EXPECT_EQ(u8(T::MobileNetworkPrefix), 6);
    EXPECT_EQ(u8(T::LinkLayerAddress), 7);
    EXPECT_EQ(u8(T::MobileNodeIdentifier), 8);
    EXPECT_EQ(u8(T::BindingIdentifier), 35);
    EXPECT_EQ(u8(T::FlowSummary), 44);
    EXPECT_EQ(u8(T::FlowIdentification), 45);
    EXPECT_EQ(mh::mobility_option_name(35), "Binding Identifier");
    EXPECT_EQ(mh::mobility_option_name(45), "Flow Identification");
    EXPECT_EQ(mh::mobility_option_name(200), "unknown");
    EXPECT_EQ(mh::option_descriptor(200), nullptr);
}

TEST(Registry, OptionLengthRules) {
    auto d = [](mh::MobilityOptionType t) { return mh::option_descriptor(u8(t)); };
    using T = mh::MobilityOptionType;
    EXPECT_FALSE(d(T::Pad1)->length_ok(0));
    EXPECT_TRUE(d(T::PadN)->length_ok(0));
    EXPECT_TRUE(d(T::BindingRefreshAdvice)->length_ok(2));
    EXPECT_FALSE(d(T::BindingRefreshAdvice)->length_ok(3));
    EXPECT_TRUE(d(T::AlternateCareOfAddress)->length_ok(16));
    EXPECT_FALSE(d(T::AlternateCareOfAddress)->length_ok(15));
    EXPECT_TRUE(d(T::NonceIndices)->length_ok(4));
    EXPECT_TRUE(d(T::MobileNetworkPrefix)->length_ok(18));
    EXPECT_FALSE(d(T::MobileNetworkPrefix)->length_ok(17));
    EXPECT_TRUE(d(T::MobileNodeIdentifier)->length_ok(2));
    EXPECT_FALSE(d(T::MobileNodeIdentifier)->length_ok(1));
    for (std::size_t len = 0; len < 32; ++len)
        EXPECT_EQ(d(T::BindingIdentifier)->length_ok(len), len == 4 || len == 8 || len == 20)
            << len;
    EXPECT_TRUE(d(T::FlowSummary)->length_ok(2));
    EXPECT_TRUE(d(T::FlowSummary)->length_ok(6));
    EXPECT_FALSE(d(T::FlowSummary)->length_ok(0));
    EXPECT_FALSE(d(T::FlowSummary)->length_ok(3));
    EXPECT_TRUE(d(T::FlowIdentification)->length_ok(6));
    EXPECT_FALSE(d(T::FlowIdentification)->length_ok(5));
}

TEST(Registry, OptionAlignmentRules) {
    auto align = [](mh::MobilityOptionType t) {
        const auto* d = mh::option_descriptor(u8(t));
        return std::pair<int, int>(d->align_x, d->align_y);
    };
    using T = mh::MobilityOptionType;
    using P = std::pair<int, int>;
    EXPECT_EQ(align(T::BindingRefreshAdvice), P(2, 0));      // RFC 6275 s.6.2.4: 2n
    EXPECT_EQ(align(T::AlternateCareOfAddress), P(8, 6));    // s.6.2.5: 8n+6
    EXPECT_EQ(align(T::NonceIndices), P(2, 0));              // s.6.2.6: 2n
    EXPECT_EQ(align(T::BindingAuthorizationData), P(8, 2));  // s.6.2.7: 8n+2
    EXPECT_EQ(align(T::MobileNetworkPrefix), P(8, 4));       // RFC 3963 s.4.3: 8n+4
    EXPECT_EQ(align(T::MobileNodeIdentifier), P(1, 0));
    EXPECT_EQ(align(T::BindingIdentifier), P(2, 0));
    EXPECT_EQ(align(T::FlowSummary), P(2, 0));
    EXPECT_EQ(align(T::FlowIdentification), P(2, 0));
    const auto* acoa = mh::option_descriptor(3);
    EXPECT_TRUE(acoa->aligned_at(14));
    EXPECT_FALSE(acoa->aligned_at(12));
}

TEST(Registry, FlowIdentificationSubOptionsAndFormats) {
    EXPECT_EQ(static_cast<int>(mh::FidSubOptionType::Pad), 0);
    EXPECT_EQ(static_cast<int>(mh::FidSubOptionType::PadN), 1);
    EXPECT_EQ(static_cast<int>(mh::FidSubOptionType::BidReference), 2);
    EXPECT_EQ(static_cast<int>(mh::FidSubOptionType::TrafficSelector), 3);
    EXPECT_EQ(static_cast<int>(mh::TrafficSelectorFormat::Ipv4Binary), 1);
    EXPECT_EQ(static_cast<int>(mh::TrafficSelectorFormat::Ipv6Binary), 2);
    EXPECT_EQ(mh::fid_suboption_name(2), "BID Reference");
    EXPECT_EQ(mh::ts_format_name(2), "IPv6 Binary Traffic Selector");
    EXPECT_EQ(mh::ts_format_name(3), "unknown");
}

TEST(Registry, BaStatus) {
    namespace s = mh::ba_status;
    EXPECT_EQ(s::kAccepted, 0);
    EXPECT_EQ(s::kAcceptedPrefixDiscoveryNecessary, 1);
    EXPECT_EQ(s::kMcoaNotComplete, 4);
    EXPECT_EQ(s::kMcoaReturnHomeWithoutNdp, 5);
    EXPECT_EQ(s::kUnspecified, 128);
    EXPECT_EQ(s::kAdministrativelyProhibited, 129);
    EXPECT_EQ(s::kInsufficientResources, 130);
    EXPECT_EQ(s::kHomeRegistrationNotSupported, 131);
    EXPECT_EQ(s::kNotHomeSubnet, 132);
    EXPECT_EQ(s::kNotHomeAgentForThisMn, 133);
    EXPECT_EQ(s::kDadFailed, 134);
    EXPECT_EQ(s::kSequenceOutOfWindow, 135);
    EXPECT_EQ(s::kExpiredHomeNonceIndex, 136);
    EXPECT_EQ(s::kExpiredCareOfNonceIndex, 137);
    EXPECT_EQ(s::kExpiredNonces, 138);
    EXPECT_EQ(s::kRegistrationTypeChangeDisallowed, 139);
    EXPECT_EQ(s::kMobileRouterOperationNotPermitted, 140);
    EXPECT_EQ(s::kInvalidPrefix, 141);
    EXPECT_EQ(s::kNotAuthorizedForPrefix, 142);
    EXPECT_EQ(s::kForwardingSetupFailed, 143);
    EXPECT_EQ(s::kMcoaMalformed, 164);
    EXPECT_EQ(s::kMcoaNonMcoaBindingExists, 165);
    EXPECT_EQ(s::kMcoaProhibited, 166);
    EXPECT_EQ(s::kMcoaUnknownCoa, 167);
    EXPECT_EQ(s::kMcoaBulkRegistrationProhibited, 168);
    EXPECT_EQ(s::kMcoaSimultaneousHomeForeignProhibited, 169);
    EXPECT_EQ(s::kInvalidCareOfAddress, 174);
    EXPECT_EQ(mh::ba_status_name(0), "Binding Update accepted");
    EXPECT_EQ(mh::ba_status_name(135), "Sequence number out of window");
    EXPECT_EQ(mh::ba_status_name(168), "MCOA BULK REGISTRATION PROHIBITED");
    EXPECT_EQ(mh::ba_status_name(2), "unknown");
    EXPECT_FALSE(mh::ba_status_is_rejection(s::kMcoaNotComplete));
    EXPECT_TRUE(mh::ba_status_is_rejection(s::kUnspecified));
}

TEST(Registry, BeAndFidStatus) {
    EXPECT_EQ(mh::be_status::kUnknownHomeAddressBinding, 1);
    EXPECT_EQ(mh::be_status::kUnrecognizedMhType, 2);
    EXPECT_EQ(mh::be_status_name(2), "Unrecognized MH Type value");
    namespace f = mh::fid_status;
    EXPECT_EQ(f::kSuccess, 0);
    EXPECT_EQ(f::kAdministrativelyProhibited, 128);
    EXPECT_EQ(f::kFlowBindingRejected, 129);
    EXPECT_EQ(f::kFlowIdentificationMalformed, 130);
    EXPECT_EQ(f::kBidNotFound, 131);
    EXPECT_EQ(f::kFidNotFound, 132);
    EXPECT_EQ(f::kTrafficSelectorFormatNotSupported, 133);
    EXPECT_EQ(mh::fid_status_name(133), "Traffic selector format not supported");
    EXPECT_EQ(mh::fid_status_name(1), "unknown");
}

// ---- Parser: hand-written byte vectors ---------------------------------------------------

TEST(ParseMh, BindingUpdateWithBidAndAlternateCoa) {
    auto parsed = parse_ok(valid_bu_bytes());
    ASSERT_EQ(parsed.type, mh::MhType::BindingUpdate);
    const auto& bu = std::get<mh::BindingUpdate>(parsed.message);
    EXPECT_EQ(bu.sequence, 0x1234);
    EXPECT_TRUE(bu.ack_requested);
    EXPECT_TRUE(bu.home_registration);
    EXPECT_FALSE(bu.link_local_compat);
    EXPECT_FALSE(bu.key_management);
    EXPECT_FALSE(bu.mobile_router);
    EXPECT_EQ(bu.lifetime_4s, 0x96);
    EXPECT_EQ(bu.options.alternate_care_of, kCoa);
    ASSERT_EQ(bu.options.binding_ids.size(), 1u);
    const auto& bid = bu.options.binding_ids[0];
    EXPECT_EQ(bid.bid, 1);
    EXPECT_EQ(bid.status, 0);
    EXPECT_TRUE(bid.home_flag);
    EXPECT_EQ(bid.priority, 0);
    EXPECT_EQ(bid.care_of_v6, kCoa2);
    EXPECT_FALSE(bid.care_of_v4);
    EXPECT_TRUE(bu.options.skipped_unknown.empty());
}

TEST(ParseMh, BuilderProducesTheHandWrittenBytes) {
    mh::BindingUpdate bu;
    bu.sequence = 0x1234;
    bu.ack_requested = bu.home_registration = true;
    bu.lifetime_4s = 0x96;
    bu.options.alternate_care_of = kCoa;
    mh::BindingIdentifier bid;
    bid.bid = 1;
    bid.home_flag = true;
    bid.care_of_v6 = kCoa2;
    bu.options.binding_ids.push_back(bid);
    EXPECT_EQ(mh::build_mh(bu, kHoa, kHa), valid_bu_bytes());
}

TEST(ParseMh, BindingAckWithPerBidStatus) {
    // BA (RFC 6275 s.6.1.8) with two BID options (RFC 5648 s.6.1, 2n, no CoA): BID 1
    // accepted, BID 2 rejected with 167 (MCoA unknown CoA); K and R flags set.
    Bytes b = {59, 2, 6,    0,    0, 0, 0,  0xc0, 0x00, 0x07, 0x00, 0x0f,
               35, 4, 0x00, 0x01, 0, 0, 35, 4,    0x00, 0x02, 167,  0};
    b = with_checksum(b, kHa, kHoa);
    auto parsed = parse_ok(b, kHa, kHoa);
    ASSERT_EQ(parsed.type, mh::MhType::BindingAck);
    const auto& ba = std::get<mh::BindingAck>(parsed.message);
    EXPECT_EQ(ba.status, mh::ba_status::kAccepted);
    EXPECT_TRUE(ba.key_management);
    EXPECT_TRUE(ba.mobile_router);
    EXPECT_EQ(ba.sequence, 7);
    EXPECT_EQ(ba.lifetime_4s, 15);
    ASSERT_EQ(ba.options.binding_ids.size(), 2u);
    EXPECT_EQ(ba.options.binding_ids[0].bid, 1);
    EXPECT_EQ(ba.options.binding_ids[0].status, 0);
    EXPECT_EQ(ba.options.binding_ids[1].bid, 2);
    EXPECT_EQ(ba.options.binding_ids[1].status, mh::ba_status::kMcoaUnknownCoa);
    EXPECT_EQ(mh::build_mh(ba, kHa, kHoa), b);
}

// Flow Identification (RFC 6089 s.4.2) with a BID Reference sub-option and an IPv6
// binary traffic selector (RFC 6088 s.3.2): destination address (C), destination port
// range (K, L) and next header (O). Layout: sub-option type, length, TS Format, Reserved,
// then a 32-bit word of 16 flag bits A..P and 16 Reserved bits, then the selected fields
// in flag order.
Bytes flow_bu_bytes() {
    Bytes b = bu_header(6);
    b.insert(b.end(), {45, 39, 0x00, 0x07, 0x00, 0x01, 0 /*Reserved*/, 0});
    b.insert(b.end(), {2, 2, 0x00, 0x01});                        // BID Reference: BID 1
    b.insert(b.end(), {3, 27, 2 /*IPv6*/, 0, 0x20, 0x32, 0, 0});  // C, K, L, O; Reserved
    append(b, kCoa2);                                             // (C) start dest address
    b.insert(b.end(), {0x13, 0x88, 0x13, 0x8f});                  // (K)(L) ports 5000..5007
    b.push_back(17);                                              // (O) next header UDP
    b.insert(b.end(), {1, 1, 0});                                 // PadN to 56 octets
    return with_checksum(b);
}

TEST(ParseMh, FlowIdentificationWithIpv6TrafficSelector) {
    const Bytes b = flow_bu_bytes();
    ASSERT_EQ(b.size(), 56u);
    auto parsed = parse_ok(b);
    const auto& bu = std::get<mh::BindingUpdate>(parsed.message);
    ASSERT_EQ(bu.options.flows.size(), 1u);
    const auto& flow = bu.options.flows[0];
    EXPECT_EQ(flow.fid, 7);
    EXPECT_EQ(flow.priority, 1);
    EXPECT_EQ(flow.status, 0);
    EXPECT_EQ(flow.bid_references, std::vector<std::uint16_t>{1});
    ASSERT_TRUE(flow.traffic_selector);
    const auto& ts = std::get<mh::TrafficSelectorV6>(*flow.traffic_selector);
    EXPECT_FALSE(ts.source_address);
    ASSERT_TRUE(ts.destination_address);
    EXPECT_EQ(ts.destination_address->start, kCoa2);
    EXPECT_EQ(ts.destination_address->end, kCoa2);
    ASSERT_TRUE(ts.destination_port);
    EXPECT_EQ(ts.destination_port->start, 5000);
    EXPECT_EQ(ts.destination_port->end, 5007);
    ASSERT_TRUE(ts.next_header);
    EXPECT_EQ(ts.next_header->start, 17);
    EXPECT_FALSE(ts.ipsec_spi);
    EXPECT_FALSE(ts.flow_label);
    EXPECT_FALSE(ts.traffic_class);
    EXPECT_FALSE(flow.unsupported_ts_format);
    EXPECT_EQ(mh::build_mh(bu, kHoa, kHa), b);
}

// RFC 6088 s.3.1 IPv4 binary traffic selector, written from the RFC figure: TS Format 1,
// Reserved, a 32-bit word with flags A..N from the top bit and 18 Reserved bits, then the
// selected fields in flag order. Reserved bits set here must be ignored; the builder
// writes them as zero.
TEST(ParseMh, Ipv4TrafficSelectorFollowsRfc6088Layout) {
    Bytes b = bu_header(6);
    b.insert(b.end(), {45, 42, 0x00, 0x0b, 0x00, 0x02, 0 /*Reserved*/, 0});
    b.insert(b.end(), {2, 2, 0x00, 0x03});  // BID Reference: BID 3
    b.insert(b.end(), {3, 30, 1 /*IPv4*/, 0});
    b.insert(b.end(), {0xeb, 0xa8, 0x00, 0x01});            // A B C E G H I K M, one Reserved bit
    b.insert(b.end(), {10, 0, 0, 1, 10, 0, 0, 9});          // (A)(B) source 10.0.0.1-9
    b.insert(b.end(), {192, 0, 2, 1});                      // (C) destination
    b.insert(b.end(), {0, 0, 0, 7});                        // (E) IPsec SPI
    b.insert(b.end(), {0x13, 0x88, 0x17, 0x70, 0x00, 53});  // (G)(H) 5000-6000, (I) 53
    b.insert(b.end(), {46, 17});                            // (K) DS, (M) protocol
    b = with_checksum(b);
    ASSERT_EQ(b.size(), 56u);
    auto parsed = parse_ok(b);
    const auto& bu = std::get<mh::BindingUpdate>(parsed.message);
    const auto& flow = bu.options.flows.at(0);
    ASSERT_TRUE(flow.traffic_selector);
    const auto& ts = std::get<mh::TrafficSelectorV4>(*flow.traffic_selector);
    using V4 = std::array<std::uint8_t, 4>;
    EXPECT_EQ(ts.source_address, (mh::Range<V4>{{10, 0, 0, 1}, {10, 0, 0, 9}}));
    EXPECT_EQ(ts.destination_address, (mh::Range<V4>{{192, 0, 2, 1}, {192, 0, 2, 1}}));
    EXPECT_EQ(ts.ipsec_spi, (mh::Range<std::uint32_t>{7, 7}));
    EXPECT_EQ(ts.source_port, (mh::Range<std::uint16_t>{5000, 6000}));
    EXPECT_EQ(ts.destination_port, (mh::Range<std::uint16_t>{53, 53}));
    EXPECT_EQ(ts.dscp, (mh::Range<std::uint8_t>{46, 46}));
    EXPECT_EQ(ts.protocol, (mh::Range<std::uint8_t>{17, 17}));
    Bytes zero_reserved = b;
    zero_reserved[31] = 0;  // the Reserved bit set above
    EXPECT_EQ(mh::build_mh(bu, kHoa, kHa), with_checksum(zero_reserved));
}

// RFC 6088 s.3.2: the IPv6 Flow Label fields are 32 bits (the label zero-prefixed); the
// 16 bits after the flags A..P are Reserved.
TEST(ParseMh, Ipv6TrafficSelectorFlowLabelAndTrafficClass) {
    Bytes b = bu_header(4);
    b.insert(b.end(), {45, 19, 0x00, 0x0c, 0x00, 0x03, 0 /*Reserved*/, 0});
    b.insert(b.end(), {3, 11, 2 /*IPv6*/, 0});
    b.insert(b.end(), {0x02, 0x08, 0x00, 0x00});  // G (flow label), M (traffic class)
    b.insert(b.end(), {0x00, 0x0a, 0xbc, 0xde});  // (G) flow label 0xabcde
    b.push_back(0xb8);                            // (M) traffic class
    b.insert(b.end(), {1, 5, 0, 0, 0, 0, 0});     // PadN to 40 octets
    b = with_checksum(b);
    ASSERT_EQ(b.size(), 40u);
    auto parsed = parse_ok(b);
    const auto& bu = std::get<mh::BindingUpdate>(parsed.message);
    const auto& ts = std::get<mh::TrafficSelectorV6>(*bu.options.flows.at(0).traffic_selector);
    EXPECT_EQ(ts.flow_label, (mh::Range<std::uint32_t>{0xabcde, 0xabcde}));
    EXPECT_EQ(ts.traffic_class, (mh::Range<std::uint8_t>{0xb8, 0xb8}));
    EXPECT_FALSE(ts.next_header);
    EXPECT_EQ(mh::build_mh(bu, kHoa, kHa), b);
}

// RFC 5648 s.6.1 with RFC 6089 s.4.1: BID, Status, then H (0x80) and the 7-bit BID-PRI;
// Wireshark's hf_mip6_bi_h_flag decodes the same 0x80 bit. A BID-PRI of 0x45 is a
// priority, not an H flag plus something else.
TEST(ParseMh, BindingIdentifierCarriesBidPriority) {
    Bytes b = {59, 2, 6, 0, 0, 0, 0, 0, 0x00, 0x07, 0x00, 0x0f};  // BA, 24 octets
    b.insert(b.end(), {35, 4, 0x00, 0x05, 0, 0xc5});              // BID 5, H, BID-PRI 0x45
    b.insert(b.end(), {35, 4, 0x00, 0x06, 0, 0x40});              // BID 6, BID-PRI 64
    b = with_checksum(b, kHa, kHoa);
    auto parsed = parse_ok(b, kHa, kHoa);
    const auto& ba = std::get<mh::BindingAck>(parsed.message);
    ASSERT_EQ(ba.options.binding_ids.size(), 2u);
    EXPECT_TRUE(ba.options.binding_ids[0].home_flag);
    EXPECT_EQ(ba.options.binding_ids[0].priority, 0x45);
    EXPECT_FALSE(ba.options.binding_ids[1].home_flag);
    EXPECT_EQ(ba.options.binding_ids[1].priority, 0x40);
    EXPECT_EQ(mh::build_mh(ba, kHa, kHoa), b);

    mh::BindingAck too_high = ba;
    too_high.options.binding_ids[0].priority = 0x80;
    auto r = mh::try_build_mh(too_high, kHa, kHoa);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, mh::MhBuildErrorCode::FieldOutOfRange);
}

// RFC 6089 s.4.2 as an RFC sender writes it: FID, FID-PRI, Reserved 0, Status, then the
// sub-options. Builds back byte for byte.
TEST(ParseMh, Rfc6089FlowIdentificationWithReservedOctet) {
    Bytes b = bu_header(2);
    b.insert(b.end(), {45, 10, 0x00, 0x21, 0x00, 0x05, 0 /*Reserved*/, 0, 2, 2, 0x00, 0x01});
    b = with_checksum(b);
    ASSERT_EQ(b.size(), 24u);
    auto parsed = parse_ok(b);
    const auto& bu = std::get<mh::BindingUpdate>(parsed.message);
    const auto& flow = bu.options.flows.at(0);
    EXPECT_EQ(flow.fid, 0x21);
    EXPECT_EQ(flow.priority, 5);
    EXPECT_EQ(flow.bid_references, std::vector<std::uint16_t>{1});
    EXPECT_EQ(mh::build_mh(bu, kHoa, kHa), b);
}

// The Reserved octet is ignored on receipt (a sender that sets it is read as if it were 0)
// and always written 0: monami-mn used to carry private action codes there.
TEST(ParseMh, FlowIdentificationReservedOctetIsIgnoredAndWrittenZero) {
    Bytes zero = bu_header(2);
    zero.insert(zero.end(), {45, 10, 0x00, 0x21, 0x00, 0x05, 0, 0, 2, 2, 0x00, 0x01});
    Bytes set = zero;
    set[12 + 6] = 0xff;  // after the 12-octet BU header: type, len, FID, FID-PRI, Reserved
    zero = with_checksum(zero);
    set = with_checksum(set);
    auto parsed = parse_ok(set);
    auto reference = parse_ok(zero);
    EXPECT_EQ(parsed.message, reference.message);
    EXPECT_EQ(mh::build_mh(parsed.message, kHoa, kHa), zero);
}

TEST(ParseMh, UnknownTrafficSelectorFormatIsReportedNotRejected) {
    Bytes b = bu_header(2);
    b.insert(b.end(), {45, 10, 0x00, 0x09, 0x00, 0x00, 0, 0, 3, 2, 9 /*format*/, 0});
    b = with_checksum(b);
    ASSERT_EQ(b.size(), 24u);
    auto parsed = parse_ok(b);
    const auto& flow = std::get<mh::BindingUpdate>(parsed.message).options.flows.at(0);
    EXPECT_EQ(flow.unsupported_ts_format, 9);
    EXPECT_FALSE(flow.traffic_selector);
}

TEST(ParseMh, HeartbeatAndBindingErrorAndBrr) {
    Bytes hb = {59, 1, 13, 0, 0, 0, 0, 0x03, 0xde, 0xad, 0xbe, 0xef, 1, 2, 0, 0};
    auto parsed = parse_ok(with_checksum(hb));
    const auto& h = std::get<mh::Heartbeat>(parsed.message);
    EXPECT_TRUE(h.unsolicited);
    EXPECT_TRUE(h.response);
    EXPECT_EQ(h.sequence, 0xdeadbeefu);

    Bytes be = {59, 2, 7, 0, 0, 0, 2, 0};
    append(be, kHoa);
    auto parsed_be = parse_ok(with_checksum(be));
    const auto& e = std::get<mh::BindingError>(parsed_be.message);
    EXPECT_EQ(e.status, mh::be_status::kUnrecognizedMhType);
    EXPECT_EQ(e.home_address, kHoa);

    auto brr = parse_ok(with_checksum({59, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(brr.type, mh::MhType::BindingRefreshRequest);
}

TEST(ParseMh, UnknownOptionIsSkippedAndRecorded) {
    Bytes b = bu_header(1);
    b.insert(b.end(), {200, 2, 0xaa, 0xbb});
    b = with_checksum(b);
    auto parsed = parse_ok(b);
    EXPECT_EQ(std::get<mh::BindingUpdate>(parsed.message).options.skipped_unknown,
              std::vector<std::uint8_t>{200});
}

TEST(ParseMh, TrailingBytesAfterHeaderLenAreIgnored) {
    Bytes b = valid_bu_bytes();
    b.push_back(0xff);
    EXPECT_TRUE(mh::parse_mh(b, kHoa, kHa).ok());
}

// ---- Parser: malformed input -------------------------------------------------------------

TEST(ParseMhMalformed, TruncatedAtEveryLength) {
    const Bytes full = valid_bu_bytes();
    for (std::size_t n = 0; n < full.size(); ++n) {
        const Bytes cut(full.begin(), full.begin() + static_cast<std::ptrdiff_t>(n));
        auto r = mh::parse_mh(cut, kHoa, kHa);
        ASSERT_FALSE(r.ok()) << n;
        EXPECT_EQ(r.error().code, mh::MhErrorCode::Truncated) << n;
    }
}

TEST(ParseMhMalformed, WrongChecksum) {
    Bytes b = valid_bu_bytes();
    b[7] ^= 1;
    auto e = parse_error(b);
    EXPECT_EQ(e.code, mh::MhErrorCode::BadChecksum);
    EXPECT_EQ(e.offset, 4u);
    // Right bytes, wrong pseudo-header (the CoA instead of the HoA as source).
    auto r = mh::parse_mh(valid_bu_bytes(), kCoa, kHa);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, mh::MhErrorCode::BadChecksum);
}

TEST(ParseMhMalformed, UnknownMhTypeIsDistinct) {
    for (std::uint8_t type : {1, 2, 3, 4, 8, 12, 99, 255}) {
        Bytes b = {59, 1, type, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
        auto e = parse_error(with_checksum(b));
        EXPECT_EQ(e.code, mh::MhErrorCode::UnknownMhType) << int(type);
        EXPECT_EQ(e.mh_type, type);
        EXPECT_EQ(e.offset, 2u);
    }
}

TEST(ParseMhMalformed, PayloadProtoMustBe59) {
    Bytes b = valid_bu_bytes();
    b[0] = 6;
    auto e = parse_error(with_checksum(b));
    EXPECT_EQ(e.code, mh::MhErrorCode::BadPayloadProto);
    EXPECT_EQ(e.offset, 0u);
}

TEST(ParseMhMalformed, HeaderLenTooShortForType) {
    // A BU needs 12 octets; Header Len 0 gives 8.
    auto e = parse_error(with_checksum({59, 0, 5, 0, 0, 0, 0, 1}));
    EXPECT_EQ(e.code, mh::MhErrorCode::BadHeaderLength);
    EXPECT_EQ(e.offset, 1u);
    // A BE needs 24; Header Len 1 gives 16.
    e = parse_error(with_checksum({59, 1, 7, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0}));
    EXPECT_EQ(e.code, mh::MhErrorCode::BadHeaderLength);
}

TEST(ParseMhMalformed, OptionLengths) {
    // BID with length 2 (only 4, 8, 20 exist).
    Bytes b = bu_header(1);
    b.insert(b.end(), {35, 2, 0, 1});  // too short for a BID
    auto e = parse_error(with_checksum(b));
    EXPECT_EQ(e.code, mh::MhErrorCode::BadOptionLength);
    EXPECT_EQ(e.offset, 13u);
    EXPECT_EQ(e.option_type, 35);  // named: the home agent answers it with status 164
    // Option length running past Header Len.
    b = bu_header(1);
    b.insert(b.end(), {1, 3, 0, 0});
    e = parse_error(with_checksum(b));
    EXPECT_EQ(e.code, mh::MhErrorCode::BadOptionLength);
    EXPECT_EQ(e.option_type, 0);
    // Last octet is an option type without its length.
    b = bu_header(1);
    b.insert(b.end(), {0, 0, 0, 2});
    e = parse_error(with_checksum(b));
    EXPECT_EQ(e.code, mh::MhErrorCode::BadOptionLength);
    EXPECT_EQ(e.offset, 15u);
    // Binding Refresh Advice of length 3.
    b = bu_header(2);
    b.insert(b.end(), {2, 3, 0, 1, 0, 1, 1, 0, 0, 0, 0, 0});
    e = parse_error(with_checksum(b));
    EXPECT_EQ(e.code, mh::MhErrorCode::BadOptionLength);
}

TEST(ParseMhMalformed, Alignment) {
    // Alternate CoA at offset 12 (needs 8n+6).
    Bytes b = bu_header(3);
    b.insert(b.end(), {3, 16});
    append(b, kCoa);
    b.insert(b.end(), {1, 0});
    auto e = parse_error(with_checksum(b));
    EXPECT_EQ(e.code, mh::MhErrorCode::BadOptionAlignment);
    EXPECT_EQ(e.offset, 12u);
    // Binding Refresh Advice at an odd offset (needs 2n).
    b = bu_header(2);
    b.insert(b.end(), {0, 2, 2, 0, 1, 1, 5, 0, 0, 0, 0, 0});
    e = parse_error(with_checksum(b));
    EXPECT_EQ(e.code, mh::MhErrorCode::BadOptionAlignment);
    EXPECT_EQ(e.offset, 13u);
}

TEST(ParseMhMalformed, DuplicateBidsAndSingletons) {
    Bytes b = bu_header(2);
    b.insert(b.end(), {35, 4, 0, 9, 0, 0, 35, 4, 0, 9, 0, 0});
    auto e = parse_error(with_checksum(b));
    EXPECT_EQ(e.code, mh::MhErrorCode::DuplicateBid);
    EXPECT_EQ(e.offset, 20u);

    b = bu_header(2);
    b.insert(b.end(), {4, 4, 0, 1, 0, 2, 4, 4, 0, 1, 0, 2});  // two Nonce Indices
    e = parse_error(with_checksum(b));
    EXPECT_EQ(e.code, mh::MhErrorCode::DuplicateOption);
    EXPECT_EQ(e.offset, 18u);
}

TEST(ParseMhMalformed, TooManyOptions) {
    mh::BindingUpdate bu;
    for (std::uint16_t i = 1; i <= 65; ++i) {
        mh::BindingIdentifier bid;
        bid.bid = i;
        bu.options.binding_ids.push_back(bid);
    }
    const Bytes b = mh::build_mh(bu, kHoa, kHa);
    ASSERT_FALSE(b.empty());
    auto e = parse_error(b);
    EXPECT_EQ(e.code, mh::MhErrorCode::TooManyOptions);
    mh::ParseLimits roomy;
    roomy.max_options = 65;
    EXPECT_TRUE(mh::parse_mh(b, kHoa, kHa, roomy).ok());
    mh::ParseLimits tight;
    tight.max_options = 1;  // the valid BU has two options
    EXPECT_EQ(parse_error(valid_bu_bytes(), tight).code, mh::MhErrorCode::TooManyOptions);
}

TEST(ParseMhMalformed, AuthorizationDataMustBeLast) {
    Bytes b = bu_header(3);
    b.insert(b.end(), {1, 0, 0, 0, 0, 0});              // PadN 6 octets: offset 18
    b.insert(b.end(), {5, 2, 0xaa, 0xbb, 2, 2, 0, 5});  // BAD at 18 (8n+2), then BRA
    b.insert(b.end(), {0, 0, 0, 0, 0, 0});
    auto e = parse_error(with_checksum(b));
    EXPECT_EQ(e.code, mh::MhErrorCode::OptionAfterAuthData);
    EXPECT_EQ(e.offset, 22u);
}

TEST(ParseMhMalformed, FlowSubOptions) {
    // End destination port (L) without its start (K).
    Bytes b = bu_header(3);
    b.insert(b.end(), {45, 16, 0, 1, 0, 0, 0, 0, 3, 8, 2, 0, 0x00, 0x10, 0, 0, 0x13, 0x88});
    b.insert(b.end(), {0, 0});
    auto e = parse_error(with_checksum(b));
    EXPECT_EQ(e.code, mh::MhErrorCode::MalformedSubOption);
    EXPECT_EQ(e.offset, 20u);
    // Selector length disagrees with its flags (K set, no port bytes).
    b = bu_header(3);
    b.insert(b.end(), {45, 14, 0, 1, 0, 0, 0, 0, 3, 6, 2, 0, 0x00, 0x20, 0, 0, 1, 2, 0, 0});
    e = parse_error(with_checksum(b));
    EXPECT_EQ(e.code, mh::MhErrorCode::MalformedSubOption);
    // Odd-length BID Reference.
    b = bu_header(2);
    b.insert(b.end(), {45, 9, 0, 1, 0, 0, 0, 0, 2, 1, 7, 0});
    e = parse_error(with_checksum(b));
    EXPECT_EQ(e.code, mh::MhErrorCode::MalformedSubOption);
    // Two traffic selectors.
    b = bu_header(3);
    b.insert(b.end(), {45, 14, 0, 1, 0, 0, 0, 0, 3, 2, 9, 0, 3, 2, 9, 0, 0, 0, 0, 0});
    e = parse_error(with_checksum(b));
    EXPECT_EQ(e.code, mh::MhErrorCode::MalformedSubOption);
    // Duplicate FID across options.
    b = bu_header(3);
    b.insert(b.end(), {45, 6, 0, 4, 0, 0, 0, 0, 45, 6, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0});
    e = parse_error(with_checksum(b));
    EXPECT_EQ(e.code, mh::MhErrorCode::DuplicateFid);
    EXPECT_EQ(e.offset, 22u);
}

TEST(ParseMhMalformed, ErrorsPrint) {
    mh::MhParseError e{mh::MhErrorCode::DuplicateBid, 20, 5};
    EXPECT_EQ(mh::to_string(e), "duplicate BID at offset 20 (MH type 5)");
    EXPECT_EQ(mh::to_string(mh::MhErrorCode::UnknownMhType), "unknown MH type");
}

// ---- Builder: round trips ----------------------------------------------------------------

namespace {

mh::TrafficSelectorV6 full_v6_selector() {
    mh::TrafficSelectorV6 ts;
    ts.source_address = mh::Range<Ipv6Address>{kCoa, kCoa2};
    ts.destination_address = mh::Range<Ipv6Address>{kHoa, kHoa};
    ts.ipsec_spi = mh::Range<std::uint32_t>{0x100, 0x1ff};
    ts.flow_label = mh::Range<std::uint32_t>{0xabcde, 0xfffff};
    ts.source_port = mh::Range<std::uint16_t>{1024, 65535};
    ts.destination_port = mh::Range<std::uint16_t>{443, 443};
    ts.traffic_class = mh::Range<std::uint8_t>{0x20, 0x28};
    ts.next_header = mh::Range<std::uint8_t>{6, 6};
    return ts;
}

mh::TrafficSelectorV4 full_v4_selector() {
    mh::TrafficSelectorV4 ts;
    ts.source_address = mh::Range<std::array<std::uint8_t, 4>>{{10, 0, 0, 1}, {10, 0, 0, 9}};
    ts.destination_address = mh::Range<std::array<std::uint8_t, 4>>{{192, 0, 2, 1}, {192, 0, 2, 1}};
    ts.ipsec_spi = mh::Range<std::uint32_t>{7, 7};
    ts.source_port = mh::Range<std::uint16_t>{5000, 6000};
    ts.destination_port = mh::Range<std::uint16_t>{53, 53};
    ts.dscp = mh::Range<std::uint8_t>{46, 46};
    ts.protocol = mh::Range<std::uint8_t>{17, 17};
    return ts;
}

// Every decoded option at least once.
mh::MobilityOptions all_options() {
    mh::MobilityOptions o;
    o.refresh_advice = mh::BindingRefreshAdvice{300};
    o.alternate_care_of = kCoa;
    o.nonce_indices = mh::NonceIndices{0x1111, 0x2222};
    o.authorization_data = std::vector<std::uint8_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
    o.network_prefixes = {{48, addr("2001:db8:100::")}, {64, addr("2001:db8:200:1::")}};
    o.mn_id = mh::MobileNodeIdentifier{1, {'m', 'n', '@', 'e', 'x'}};
    mh::BindingIdentifier plain;
    plain.bid = 1;
    plain.status = 4;
    mh::BindingIdentifier v6;
    v6.bid = 2;
    v6.home_flag = true;
    v6.care_of_v6 = kCoa2;
    mh::BindingIdentifier v4;
    v4.bid = 3;
    v4.priority = 0x7f;
    v4.care_of_v4 = std::array<std::uint8_t, 4>{198, 51, 100, 7};
    o.binding_ids = {plain, v6, v4};
    o.flow_summary = std::vector<std::uint16_t>{10, 11, 12};
    mh::FlowIdentification f6;
    f6.fid = 10;
    f6.priority = 5;
    f6.bid_references = {1, 2};
    f6.traffic_selector = full_v6_selector();
    mh::FlowIdentification f4;
    f4.fid = 11;
    f4.status = mh::fid_status::kBidNotFound;
    f4.bid_references = {3};
    f4.traffic_selector = full_v4_selector();
    mh::FlowIdentification unsupported;
    unsupported.fid = 12;
    unsupported.unsupported_ts_format = 42;
    o.flows = {f6, f4, unsupported};
    return o;
}

void expect_round_trip(const mh::MhMessage& message, const Ipv6Address& src = kHoa,
                       const Ipv6Address& dst = kHa) {
    auto built = mh::try_build_mh(message, src, dst);
    ASSERT_TRUE(built.ok()) << mh::to_string(built.error().code);
    const auto& bytes = built.value();
    EXPECT_EQ(bytes.size() % 8, 0u);
    EXPECT_EQ(mh::mh_length_from_header_len(bytes[1]), bytes.size());
    auto parsed = mh::parse_mh(bytes, src, dst);
    ASSERT_TRUE(parsed.ok()) << mh::to_string(parsed.error());
    EXPECT_EQ(parsed->type, mh::mh_type_of(message));
    EXPECT_TRUE(parsed->message == message);
}

}  // namespace

TEST(RoundTrip, EveryMessageWithoutOptions) {
    expect_round_trip(mh::BindingRefreshRequest{});
    mh::BindingUpdate bu;
    bu.sequence = 65535;
    bu.ack_requested = bu.home_registration = bu.link_local_compat = true;
    bu.key_management = bu.mobile_router = true;
    bu.lifetime_4s = 0xffff;
    expect_round_trip(bu);
    mh::BindingAck ba;
    ba.status = mh::ba_status::kNotHomeSubnet;
    ba.key_management = ba.mobile_router = true;
    ba.sequence = 9;
    ba.lifetime_4s = 1;
    expect_round_trip(ba, kHa, kHoa);
    mh::BindingError be;
    be.status = mh::be_status::kUnknownHomeAddressBinding;
    be.home_address = kHoa;
    expect_round_trip(be, kHa, kCoa);
    mh::Heartbeat hb;
    hb.unsolicited = true;
    hb.sequence = 0x80000001u;
    expect_round_trip(hb);
    hb.unsolicited = false;
    hb.response = true;
    expect_round_trip(hb);
}

TEST(RoundTrip, EveryMessageWithEveryOption) {
    expect_round_trip(mh::BindingRefreshRequest{all_options()});
    mh::BindingUpdate bu;
    bu.sequence = 77;
    bu.home_registration = true;
    bu.options = all_options();
    expect_round_trip(bu);
    mh::BindingAck ba;
    ba.options = all_options();
    expect_round_trip(ba, kHa, kHoa);
    mh::BindingError be;
    be.home_address = kHoa;
    be.options = all_options();
    expect_round_trip(be, kHa, kCoa);
    mh::Heartbeat hb;
    hb.options = all_options();
    expect_round_trip(hb);
}

// Every Reserved field monami (gateway or MN) writes is 0, whatever the message carries:
// each message with every flag set and every option, checked at the RFC offsets.
TEST(BuiltMessages, EveryReservedFieldIsZero) {
    mh::BindingUpdate bu;
    bu.ack_requested = bu.home_registration = bu.link_local_compat = bu.key_management =
        bu.mobile_router = true;
    bu.sequence = bu.lifetime_4s = 0xffff;
    mh::BindingAck ba;
    ba.status = 0xff;
    ba.key_management = ba.mobile_router = true;
    mh::BindingError be;
    be.status = 0xff;
    mh::Heartbeat hb;
    hb.unsolicited = hb.response = true;
    hb.sequence = 0xffffffff;
    const std::vector<std::pair<mh::MhMessage, std::vector<std::pair<std::size_t, std::uint8_t>>>>
        messages = {
            // (offset, the bits there that are Reserved)
            {mh::BindingRefreshRequest{}, {{6, 0xff}, {7, 0xff}}},  // RFC 6275 s.6.1.2
            {bu, {{8, 0x0b}, {9, 0xff}}},  // s.6.1.7: A H L K, M (RFC 4140), R (RFC 3963)
            {ba, {{7, 0x3f}}},             // s.6.1.8: K, R (RFC 3963), then Reserved
            {be, {{7, 0xff}}},             // s.6.1.9
            {hb, {{6, 0xff}, {7, 0xfc}}},  // RFC 5847 s.5.1: Reserved, U, R
        };
    for (auto [message, reserved] : messages) {
        std::visit([](auto& m) { m.options = all_options(); }, message);
        const Bytes b = mh::build_mh(message, kHoa, kHa);
        const auto type = b[2];
        EXPECT_EQ(b[3], 0) << "MH Reserved, type " << int(type);  // s.6.1.1
        for (auto [at, bits] : reserved) EXPECT_EQ(b[at] & bits, 0) << int(type) << " @" << at;
        // Options: Mobile Network Prefix (RFC 3963 s.4.3) Reserved octet; Flow Identification
        // (RFC 6089 s.4.2) Reserved octet, its Traffic Selector sub-option's Reserved octet
        // (RFC 6088 s.3) and the flag word's Reserved bits.
        const std::size_t fixed = std::visit(
            [](const auto& m) -> std::size_t {
                using M = std::decay_t<decltype(m)>;
                if constexpr (std::is_same_v<M, mh::BindingError>) return 24;
                if constexpr (std::is_same_v<M, mh::BindingRefreshRequest>) return 8;
                return 12;
            },
            message);
        std::size_t flows = 0, selectors = 0;
        for (std::size_t at = fixed; at < b.size();) {
            if (b[at] == 0) {
                ++at;
                continue;
            }
            const std::size_t data = at + 2, end = data + b[at + 1];
            if (b[at] == 6) {
                EXPECT_EQ(b[data], 0) << "MNP Reserved";
            }
            if (b[at] == 45) {
                ++flows;
                EXPECT_EQ(b[data + 4], 0) << "FID Reserved";
                for (std::size_t sub = data + 6; sub < end;) {
                    if (b[sub] == 0) {
                        ++sub;
                        continue;
                    }
                    if (b[sub] == 3 && b[sub + 2] != 42) {  // a selector of a known format
                        ++selectors;
                        EXPECT_EQ(b[sub + 3], 0) << "TS Reserved";
                        const std::uint32_t flags = std::uint32_t{b[sub + 4]} << 24 |
                                                    std::uint32_t{b[sub + 5]} << 16 |
                                                    std::uint32_t{b[sub + 6]} << 8 | b[sub + 7];
                        const std::uint32_t used = b[sub + 2] == 1 ? 0xfffc0000u : 0xffff0000u;
                        EXPECT_EQ(flags & ~used, 0u) << "TS flag word Reserved bits";
                    }
                    sub += 2 + b[sub + 1];
                }
            }
            at = end;
        }
        EXPECT_EQ(flows, 3u);
        EXPECT_EQ(selectors, 2u);
    }
}

TEST(MobilityOptions, ClearKeepingStorageEmptiesEveryOption) {
    mh::MobilityOptions o = all_options();
    o.skipped_unknown = {200, 201};
    const auto* bids = o.binding_ids.data();
    mh::clear_keeping_storage(o);
    EXPECT_TRUE(o == mh::MobilityOptions{});
    o.binding_ids.push_back({});
    EXPECT_EQ(o.binding_ids.data(), bids);  // the storage stayed
}

TEST(ParseMhInto, AReusedMessageParsesAsAFreshOne) {
    // One ParsedMh for a sequence of messages of the same and of other types: each result
    // equals parse_mh's, whatever the previous message left in the storage.
    mh::BindingUpdate full;
    full.sequence = 77;
    full.home_registration = true;
    full.options = all_options();
    mh::BindingUpdate bare;
    bare.sequence = 78;
    bare.lifetime_4s = 5;
    bare.ack_requested = true;
    mh::BindingUpdate one_bid = bare;
    one_bid.options.binding_ids.push_back({});
    one_bid.options.binding_ids.back().bid = 9;
    mh::BindingAck ba;
    ba.sequence = 3;
    ba.options = all_options();
    mh::Heartbeat hb;
    hb.response = true;
    hb.sequence = 12;
    std::vector<mh::MhMessage> sequence{full, bare, full, ba, one_bid, hb, bare, ba};
    mh::ParsedMh reused;
    for (const auto& message : sequence) {
        auto bytes = mh::build_mh(message, kHoa, kHa);
        ASSERT_FALSE(bytes.empty());
        auto fresh = mh::parse_mh(bytes, kHoa, kHa);
        ASSERT_TRUE(fresh.ok());
        EXPECT_FALSE(mh::parse_mh_into(bytes, kHoa, kHa, {}, reused).has_value());
        EXPECT_TRUE(reused == *fresh);
        EXPECT_TRUE(reused.message == message);
    }
    // A failure reports parse_mh's error.
    auto bytes = mh::build_mh(bare, kHoa, kHa);
    bytes[4] ^= 1;
    auto fresh = mh::parse_mh(bytes, kHoa, kHa);
    ASSERT_FALSE(fresh.ok());
    auto failure = mh::parse_mh_into(bytes, kHoa, kHa, {}, reused);
    ASSERT_TRUE(failure.has_value());
    EXPECT_EQ(*failure, fresh.error());
}

TEST(RoundTrip, EachOptionAlone) {
    const mh::MobilityOptions all = all_options();
    std::vector<mh::MobilityOptions> singles(10);
    singles[0].refresh_advice = all.refresh_advice;
    singles[1].alternate_care_of = all.alternate_care_of;
    singles[2].nonce_indices = all.nonce_indices;
    singles[3].authorization_data = all.authorization_data;
    singles[4].network_prefixes = {all.network_prefixes[0]};
    singles[5].mn_id = all.mn_id;
    singles[6].binding_ids = {all.binding_ids[2]};
    singles[7].flow_summary = all.flow_summary;
    singles[8].flows = {all.flows[0]};
    singles[9].flows = {all.flows[1]};
    for (std::size_t i = 0; i < singles.size(); ++i) {
        SCOPED_TRACE(i);
        mh::BindingUpdate bu;
        bu.options = singles[i];
        expect_round_trip(bu);
        mh::BindingAck ba;
        ba.options = singles[i];
        expect_round_trip(ba);
    }
}

TEST(RoundTrip, OddLengthAuthorizationDataAndPaddingVariants) {
    // Authorization data of every length 0..20 exercises every trailing pad size.
    for (std::size_t n = 0; n <= 20; ++n) {
        mh::BindingUpdate bu;
        bu.options.authorization_data = std::vector<std::uint8_t>(n, 0x5a);
        bu.options.mn_id = mh::MobileNodeIdentifier{1, std::vector<std::uint8_t>(n + 1, 'x')};
        expect_round_trip(bu);
    }
}

TEST(RoundTrip, LargestFlowIdentification) {
    // 254 octets of option data: 6 fixed + 2 sub-option header + 123 BIDs * 2; two
    // more BIDs pass the 255-octet limit of the option length.
    mh::BindingUpdate bu;
    mh::FlowIdentification flow;
    flow.fid = 1;
    for (std::uint16_t i = 0; i < 123; ++i) flow.bid_references.push_back(i);
    bu.options.flows = {flow};
    expect_round_trip(bu);
    flow.bid_references.push_back(123);
    flow.bid_references.push_back(124);
    bu.options.flows = {flow};
    auto r = mh::try_build_mh(bu, kHoa, kHa);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, mh::MhBuildErrorCode::OptionTooLong);
}

TEST(Builder, RejectsWhatTheWireCannotCarry) {
    mh::BindingUpdate bu;
    bu.options.mn_id = mh::MobileNodeIdentifier{1, std::vector<std::uint8_t>(255, 'x')};
    auto r = mh::try_build_mh(bu, kHoa, kHa);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, mh::MhBuildErrorCode::OptionTooLong);
    EXPECT_TRUE(mh::build_mh(bu, kHoa, kHa).empty());

    mh::BindingUpdate many;
    for (int i = 0; i < 120; ++i) many.options.network_prefixes.push_back({64, kHoa});
    r = mh::try_build_mh(many, kHoa, kHa);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, mh::MhBuildErrorCode::MessageTooLong);

    mh::BindingUpdate label;
    mh::FlowIdentification flow;
    mh::TrafficSelectorV6 ts;
    ts.flow_label = mh::Range<std::uint32_t>{0x100000, 0x100000};
    flow.traffic_selector = ts;
    label.options.flows = {flow};
    r = mh::try_build_mh(label, kHoa, kHa);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, mh::MhBuildErrorCode::FieldOutOfRange);

    mh::BindingUpdate empty;
    empty.options.flow_summary = std::vector<std::uint16_t>{};
    r = mh::try_build_mh(empty, kHoa, kHa);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, mh::MhBuildErrorCode::FieldOutOfRange);
    empty.options.flow_summary.reset();
    empty.options.mn_id = mh::MobileNodeIdentifier{1, {}};
    r = mh::try_build_mh(empty, kHoa, kHa);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code, mh::MhBuildErrorCode::FieldOutOfRange);
}

TEST(Builder, OptionsAreAlignedAsTheRegistrySays) {
    mh::BindingUpdate bu;
    bu.options = all_options();
    const Bytes b = mh::build_mh(bu, kHoa, kHa);
    ASSERT_FALSE(b.empty());
    std::size_t pos = 12;
    std::vector<std::uint8_t> seen;
    while (pos < b.size()) {
        if (b[pos] == 0) {
            ++pos;
            continue;
        }
        if (b[pos] != 1) {
            const auto* d = mh::option_descriptor(b[pos]);
            ASSERT_NE(d, nullptr);
            EXPECT_TRUE(d->aligned_at(pos)) << int(b[pos]) << " at " << pos;
            seen.push_back(b[pos]);
        }
        pos += 2 + b[pos + 1];
    }
    EXPECT_EQ(pos, b.size());
    // Fixed order, Binding Authorization Data last (RFC 6275 s.6.2.7).
    const std::vector<std::uint8_t> order = {2, 3, 4, 6, 6, 8, 35, 35, 35, 44, 45, 45, 45, 5};
    EXPECT_EQ(seen, order);
}

// ---- IPv6 extension headers --------------------------------------------------------------

namespace {

mh::BindingUpdate sample_bu() {
    mh::BindingUpdate bu;
    bu.sequence = 5;
    bu.ack_requested = bu.home_registration = true;
    bu.lifetime_4s = 100;
    mh::BindingIdentifier bid;
    bid.bid = 1;
    bid.care_of_v6 = kCoa;
    bu.options.binding_ids = {bid};
    return bu;
}

// IPv6 header with the given next header and payload.
Bytes ipv6(std::uint8_t next, const Bytes& payload, const Ipv6Address& src = kCoa,
           const Ipv6Address& dst = kHa) {
    Bytes b = {0x60,
               0,
               0,
               0,
               static_cast<std::uint8_t>(payload.size() >> 8),
               static_cast<std::uint8_t>(payload.size()),
               next,
               64};
    append(b, src);
    append(b, dst);
    b.insert(b.end(), payload.begin(), payload.end());
    return b;
}

mh::ExtHdrError walk_error(const Bytes& packet, const mh::ExtHdrLimits& limits = {}) {
    auto r = mh::walk_ipv6_headers(packet, limits);
    EXPECT_FALSE(r.ok());
    return r.ok() ? mh::ExtHdrError{} : r.error();
}

}  // namespace

TEST(ExtHdr, BindingUpdateFromCareOfAddress) {
    const Bytes packet = mh::build_bu_packet(sample_bu(), kCoa, kHa, kHoa);
    // RFC 6275 s.6.3 layout: IPv6 (next 60), destination options: next 135, Hdr Ext Len 2,
    // PadN(2), option 201 length 16 at offset 6 of the header, the HoA.
    ASSERT_GE(packet.size(), 64u);
    EXPECT_EQ(packet[6], 60);
    const Bytes dest_opts(packet.begin() + 40, packet.begin() + 48);
    EXPECT_EQ(dest_opts, (Bytes{135, 2, 1, 2, 0, 0, 201, 16}));
    EXPECT_TRUE(std::equal(kHoa.bytes.begin(), kHoa.bytes.end(), packet.begin() + 48));

    auto chain = mh::walk_ipv6_headers(packet);
    ASSERT_TRUE(chain.ok()) << mh::to_string(chain.error().code);
    EXPECT_EQ(chain->source, kCoa);
    EXPECT_EQ(chain->destination, kHa);
    EXPECT_EQ(chain->upper_layer_protocol, mh::kIpProtoMobility);
    EXPECT_EQ(chain->upper_layer_offset, 64u);
    EXPECT_EQ(chain->extension_headers, 1u);
    EXPECT_EQ(chain->home_address_option, kHoa);
    EXPECT_FALSE(chain->type2_routing_address);
    EXPECT_EQ(chain->checksum_source(), kHoa);
    EXPECT_EQ(chain->checksum_destination(), kHa);

    // The MH checksum covers the HoA, not the CoA in the IPv6 header.
    const auto mh_bytes = chain->upper_layer(packet);
    auto parsed = mh::parse_mh(mh_bytes, chain->checksum_source(), chain->checksum_destination());
    ASSERT_TRUE(parsed.ok()) << mh::to_string(parsed.error());
    EXPECT_TRUE(parsed->message == mh::MhMessage(sample_bu()));
    EXPECT_FALSE(mh::parse_mh(mh_bytes, chain->source, chain->destination).ok());
}

TEST(ExtHdr, BindingAckToCareOfAddress) {
    mh::BindingAck ba;
    ba.sequence = 5;
    ba.lifetime_4s = 100;
    const Bytes packet = mh::build_ba_packet(ba, kHa, kCoa, kHoa);
    // RFC 6275 s.6.4: next 135, Hdr Ext Len 2, type 2, Segments Left 1, reserved, HoA.
    EXPECT_EQ(packet[6], 43);
    const Bytes routing(packet.begin() + 40, packet.begin() + 48);
    EXPECT_EQ(routing, (Bytes{135, 2, 2, 1, 0, 0, 0, 0}));

    auto chain = mh::walk_ipv6_headers(packet);
    ASSERT_TRUE(chain.ok()) << mh::to_string(chain.error().code);
    EXPECT_EQ(chain->destination, kCoa);
    EXPECT_EQ(chain->type2_routing_address, kHoa);
    EXPECT_EQ(chain->checksum_destination(), kHoa);
    EXPECT_EQ(chain->upper_layer_protocol, mh::kIpProtoMobility);
    auto parsed = mh::parse_mh(chain->upper_layer(packet), chain->checksum_source(),
                               chain->checksum_destination());
    ASSERT_TRUE(parsed.ok()) << mh::to_string(parsed.error());
    EXPECT_TRUE(parsed->message == mh::MhMessage(ba));
}

// The in-place writer the home agent builds its BAs with: same bytes as the vector
// builder, after whatever the buffer held (an Ethernet header's room), with options aligned
// and the checksum computed relative to the message, not to the buffer.
TEST(ExtHdr, AppendWritesTheSamePacketBehindExistingBytes) {
    mh::BindingAck ba;
    ba.status = 0;
    ba.sequence = 9;
    ba.lifetime_4s = 50;
    for (std::uint16_t bid : {1, 2}) {
        mh::BindingIdentifier option;
        option.bid = bid;
        ba.options.binding_ids.push_back(option);
    }
    const Bytes alone = mh::build_ba_packet(ba, kHa, kCoa, kHoa);
    for (std::size_t room : {0u, 14u, 3u}) {
        Bytes frame(room, 0xee);
        ASSERT_TRUE(mh::append_ipv6_mh_packet(ba, {kHa, kCoa, std::nullopt, kHoa, 64}, frame));
        EXPECT_EQ(Bytes(frame.begin(), frame.begin() + static_cast<std::ptrdiff_t>(room)),
                  Bytes(room, 0xee));
        EXPECT_EQ(Bytes(frame.begin() + static_cast<std::ptrdiff_t>(room), frame.end()), alone)
            << "room " << room;
    }
    // A message that cannot be encoded leaves the buffer as it was.
    mh::BindingUpdate bu;
    bu.options.mn_id = mh::MobileNodeIdentifier{1, std::vector<std::uint8_t>(255, 'x')};
    Bytes frame(14, 0xee);
    EXPECT_FALSE(
        mh::append_ipv6_mh_packet(mh::MhMessage(bu), {kCoa, kHa, kHoa, std::nullopt, 64}, frame));
    EXPECT_EQ(frame, Bytes(14, 0xee));
}

TEST(ExtHdr, PlainMhAndBothHeadersAndLinkPadding) {
    mh::MhPacketAddresses both{kCoa, kHa, kHoa, kCoa2, 1};
    Bytes packet = mh::build_ipv6_mh_packet(sample_bu(), both);
    packet.insert(packet.end(), 6, 0);  // Ethernet minimum-frame padding
    auto chain = mh::walk_ipv6_headers(packet);
    ASSERT_TRUE(chain.ok());
    EXPECT_EQ(chain->extension_headers, 2u);
    EXPECT_EQ(chain->hop_limit, 1);
    EXPECT_EQ(chain->packet_end, packet.size() - 6);
    EXPECT_TRUE(mh::parse_mh(chain->upper_layer(packet), chain->checksum_source(),
                             chain->checksum_destination())
                    .ok());

    const Bytes plain = mh::build_ipv6_mh_packet(mh::BindingRefreshRequest{},
                                                 {kHa, kHoa, std::nullopt, std::nullopt, 64});
    chain = mh::walk_ipv6_headers(plain);
    ASSERT_TRUE(chain.ok());
    EXPECT_EQ(chain->upper_layer_offset, 40u);
    EXPECT_EQ(chain->extension_headers, 0u);
}

TEST(ExtHdr, SkipsHopByHopAhAndAtomicFragment) {
    const Bytes mh_bytes = mh::build_mh(sample_bu(), kCoa, kHa);
    Bytes payload = {51, 0, 5, 2, 0, 0, 0, 0};  // HbH: Router Alert, PadN -> AH
    payload.insert(payload.end(),
                   {44, 2, 0, 0, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 0});  // AH, 16 octets
    payload.insert(payload.end(), {135, 0, 0, 0, 0, 0, 0, 9});          // atomic fragment
    payload.insert(payload.end(), mh_bytes.begin(), mh_bytes.end());
    const Bytes packet = ipv6(0, payload);
    auto chain = mh::walk_ipv6_headers(packet);
    ASSERT_TRUE(chain.ok()) << mh::to_string(chain.error().code) << chain.error().offset;
    EXPECT_EQ(chain->extension_headers, 3u);
    EXPECT_EQ(chain->upper_layer_protocol, 135);
    EXPECT_EQ(chain->upper_layer_offset, 72u);
    EXPECT_FALSE(chain->fragmented);
}

TEST(ExtHdr, StopsAtRealFragmentAndUpperLayers) {
    const Bytes frag = ipv6(44, {135, 0, 0, 1, 0, 0, 0, 9, 59, 0, 5, 0});  // M flag set
    auto chain = mh::walk_ipv6_headers(frag);
    ASSERT_TRUE(chain.ok());
    EXPECT_TRUE(chain->fragmented);
    EXPECT_EQ(chain->upper_layer_protocol, 44);
    EXPECT_EQ(chain->upper_layer_offset, 40u);

    chain = mh::walk_ipv6_headers(ipv6(58, {128, 0, 0, 0}));
    ASSERT_TRUE(chain.ok());
    EXPECT_EQ(chain->upper_layer_protocol, 58);
    chain = mh::walk_ipv6_headers(ipv6(50, {0, 0, 1, 0}));
    ASSERT_TRUE(chain.ok());
    EXPECT_EQ(chain->upper_layer_protocol, 50);
}

TEST(ExtHdr, Errors) {
    EXPECT_EQ(walk_error(Bytes(39, 0x60)).code, mh::ExtHdrErrorCode::Truncated);
    Bytes v4 = ipv6(59, {});
    v4[0] = 0x45;
    EXPECT_EQ(walk_error(v4).code, mh::ExtHdrErrorCode::NotIpv6);
    Bytes long_payload = ipv6(59, {0, 0});
    long_payload.pop_back();
    EXPECT_EQ(walk_error(long_payload).code, mh::ExtHdrErrorCode::BadPayloadLength);
    EXPECT_EQ(walk_error(long_payload).offset, 4u);

    // Hop-by-hop after a destination options header.
    auto e = walk_error(ipv6(60, {0, 0, 1, 4, 0, 0, 0, 0, 59, 0, 1, 4, 0, 0, 0, 0}));
    EXPECT_EQ(e.code, mh::ExtHdrErrorCode::HopByHopNotFirst);
    EXPECT_EQ(e.offset, 48u);
    // Header running past the payload.
    e = walk_error(ipv6(60, {59, 1, 1, 4, 0, 0, 0, 0}));
    EXPECT_EQ(e.code, mh::ExtHdrErrorCode::Truncated);
    // Option running past its header.
    e = walk_error(ipv6(60, {59, 0, 1, 5, 0, 0, 0, 0}));
    EXPECT_EQ(e.code, mh::ExtHdrErrorCode::BadOptionLength);
    EXPECT_EQ(e.offset, 43u);
    // Unknown option whose action bits say discard (type 0x80 | 0x3e).
    e = walk_error(ipv6(60, {59, 0, 0xbe, 4, 0, 0, 0, 0}));
    EXPECT_EQ(e.code, mh::ExtHdrErrorCode::UnrecognizedOption);
    EXPECT_EQ(e.offset, 42u);
    // Unknown option with action 00 is skipped.
    EXPECT_TRUE(mh::walk_ipv6_headers(ipv6(60, {59, 0, 0x3e, 4, 0, 0, 0, 0})).ok());
}

TEST(ExtHdr, HomeAddressOptionRules) {
    Bytes hao = {59, 2, 1, 2, 0, 0, 201, 16};
    append(hao, kHoa);
    EXPECT_TRUE(mh::walk_ipv6_headers(ipv6(60, hao)).ok());
    // Misaligned: type at offset 4 of the header (needs 8n+6).
    Bytes misaligned = {59, 2, 1, 0, 201, 16};
    append(misaligned, kHoa);
    misaligned.insert(misaligned.end(), {0, 0});
    auto e = walk_error(ipv6(60, misaligned));
    EXPECT_EQ(e.code, mh::ExtHdrErrorCode::BadHomeAddressOption);
    EXPECT_EQ(e.offset, 44u);
    // Wrong length.
    Bytes short_hao = {59, 1, 1, 2, 0, 0, 201, 8, 0, 0, 0, 0, 0, 0, 0, 0};
    e = walk_error(ipv6(60, short_hao));
    EXPECT_EQ(e.code, mh::ExtHdrErrorCode::BadHomeAddressOption);
    EXPECT_EQ(e.offset, 47u);
    // Two Home Address options in two destination options headers.
    Bytes twice = hao;
    twice[0] = 60;
    twice.insert(twice.end(), hao.begin(), hao.end());
    e = walk_error(ipv6(60, twice));
    EXPECT_EQ(e.code, mh::ExtHdrErrorCode::BadHomeAddressOption);
    // Home Address option type in a hop-by-hop header is unrecognized there.
    e = walk_error(ipv6(0, hao));
    EXPECT_EQ(e.code, mh::ExtHdrErrorCode::UnrecognizedOption);
}

TEST(ExtHdr, RoutingHeaderRules) {
    Bytes rh2 = {59, 2, 2, 1, 0, 0, 0, 0};
    append(rh2, kHoa);
    EXPECT_TRUE(mh::walk_ipv6_headers(ipv6(43, rh2)).ok());
    Bytes bad = rh2;
    bad[3] = 0;  // Segments Left must be 1
    auto e = walk_error(ipv6(43, bad));
    EXPECT_EQ(e.code, mh::ExtHdrErrorCode::BadType2RoutingHeader);
    EXPECT_EQ(e.offset, 43u);
    bad = {59, 4, 2, 1, 0, 0, 0, 0};  // two addresses
    bad.resize(40, 0);
    e = walk_error(ipv6(43, bad));
    EXPECT_EQ(e.code, mh::ExtHdrErrorCode::BadType2RoutingHeader);
    EXPECT_EQ(e.offset, 41u);
    Bytes twice = rh2;
    twice[0] = 43;
    twice.insert(twice.end(), rh2.begin(), rh2.end());
    EXPECT_EQ(walk_error(ipv6(43, twice)).code, mh::ExtHdrErrorCode::BadType2RoutingHeader);
    // Type 0 with segments left: deprecated source routing (RFC 5095).
    Bytes rh0 = {59, 2, 0, 1, 0, 0, 0, 0};
    append(rh0, kHoa);
    e = walk_error(ipv6(43, rh0));
    EXPECT_EQ(e.code, mh::ExtHdrErrorCode::UnsupportedRoutingHeader);
    EXPECT_EQ(e.offset, 42u);
    rh0[3] = 0;  // exhausted: skipped
    EXPECT_TRUE(mh::walk_ipv6_headers(ipv6(43, rh0)).ok());
}

TEST(ExtHdr, TooManyHeadersIsBounded) {
    Bytes chainbytes;
    for (int i = 0; i < 9; ++i) chainbytes.insert(chainbytes.end(), {60, 0, 1, 4, 0, 0, 0, 0});
    chainbytes[8 * 8] = 59;
    auto e = walk_error(ipv6(60, chainbytes));
    EXPECT_EQ(e.code, mh::ExtHdrErrorCode::TooManyHeaders);
    EXPECT_EQ(e.offset, 40u + 8 * 8);
    mh::ExtHdrLimits roomy;
    roomy.max_headers = 9;
    EXPECT_TRUE(mh::walk_ipv6_headers(ipv6(60, chainbytes), roomy).ok());
}

// ---- Fuzz seed corpus ----------------------------------------------------------------------

// Seeds for tests/fuzz/fuzz_mh.cpp: raw Mobility Headers (checksummed over the fuzz
// target's fixed 2001:db8::1 -> 2001:db8::2 pseudo-header) and whole IPv6 packets.
// MONAMI_MH_CORPUS_DIR=tests/fuzz/corpus/mh ./build/tests/unit/unit_mh rewrites the files.
TEST(FuzzCorpus, SeedsAreValid) {
    const Ipv6Address src = addr("2001:db8::1");
    const Ipv6Address dst = addr("2001:db8::2");
    const mh::MobilityOptions all = all_options();
    std::vector<std::pair<std::string, Bytes>> seeds;
    auto add_mh = [&](const char* name, const mh::MhMessage& m) {
        seeds.emplace_back(std::string(name) + ".mh", mh::build_mh(m, src, dst));
    };
    mh::BindingUpdate bu = sample_bu();
    add_mh("bu_bid", bu);
    bu.options = all;
    add_mh("bu_all_options", bu);
    mh::BindingUpdate bulk = sample_bu();
    bulk.options.binding_ids = all.binding_ids;
    add_mh("bu_bulk_bids", bulk);
    mh::BindingUpdate flows = sample_bu();
    flows.options.flow_summary = all.flow_summary;
    flows.options.flows = all.flows;
    add_mh("bu_flows", flows);
    mh::BindingUpdate nemo = sample_bu();
    nemo.mobile_router = true;
    nemo.options.network_prefixes = all.network_prefixes;
    nemo.options.mn_id = all.mn_id;
    add_mh("bu_nemo", nemo);
    mh::BindingUpdate secured = sample_bu();
    secured.options.nonce_indices = all.nonce_indices;
    secured.options.alternate_care_of = kCoa2;
    secured.options.authorization_data = all.authorization_data;
    add_mh("bu_auth_data", secured);
    mh::BindingAck ba;
    ba.sequence = 5;
    ba.lifetime_4s = 100;
    ba.options.refresh_advice = all.refresh_advice;
    ba.options.binding_ids = all.binding_ids;
    ba.options.binding_ids[1].status = mh::ba_status::kMcoaUnknownCoa;
    add_mh("ba_bid_status", ba);
    mh::BindingAck ba_flows;
    ba_flows.options.flows = all.flows;
    add_mh("ba_flows", ba_flows);
    add_mh("be", mh::BindingError{mh::be_status::kUnrecognizedMhType, kHoa, {}});
    mh::Heartbeat hb;
    hb.response = true;
    hb.sequence = 42;
    add_mh("heartbeat", hb);
    add_mh("brr", mh::BindingRefreshRequest{});
    seeds.emplace_back("bu_from_coa.ipv6", mh::build_bu_packet(sample_bu(), kCoa, kHa, kHoa));
    seeds.emplace_back("ba_to_coa.ipv6", mh::build_ba_packet(ba, kHa, kCoa, kHoa));

    const char* dir = std::getenv("MONAMI_MH_CORPUS_DIR");
    for (const auto& [name, bytes] : seeds) {
        SCOPED_TRACE(name);
        ASSERT_FALSE(bytes.empty());
        if (name.ends_with(".ipv6")) {
            auto chain = mh::walk_ipv6_headers(bytes);
            ASSERT_TRUE(chain.ok());
            EXPECT_TRUE(mh::parse_mh(chain->upper_layer(bytes), chain->checksum_source(),
                                     chain->checksum_destination())
                            .ok());
        } else {
            EXPECT_TRUE(mh::parse_mh(bytes, src, dst).ok());
        }
        if (dir != nullptr) {
            std::ofstream out(std::string(dir) + "/" + name, std::ios::binary);
            out.write(reinterpret_cast<const char*>(bytes.data()),
                      static_cast<std::streamsize>(bytes.size()));
            ASSERT_TRUE(out.good());
        }
    }
    EXPECT_GE(seeds.size(), 12u);
}
