// Mobility Header codec: registry values, parser, builder, IPv6 extension headers.
#include <gtest/gtest.h>

#include <cstdint>
#include <vector>

#include "controlplane/mh/messages.hpp"
#include "controlplane/mh/registry.hpp"

namespace mh = monami::mh;
using monami::Ipv6Address;

namespace {

constexpr std::uint8_t u8(mh::MhType t) {
    return static_cast<std::uint8_t>(t);
}
constexpr std::uint8_t u8(mh::MobilityOptionType t) {
    return static_cast<std::uint8_t>(t);
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
