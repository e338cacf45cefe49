#include <gtest/gtest.h>

#include <string>

#include "controlplane/bcache/binding_cache.hpp"

namespace {

using monami::Ipv6Address;
using monami::Ipv6Prefix;
using namespace monami::bcache;
namespace mh = monami::mh;
namespace st = monami::mh::ba_status;
namespace fst = monami::mh::fid_status;

Ipv6Address addr(const char* text) {
    return *Ipv6Address::parse(text);
}
Ipv6Prefix prefix(const char* text) {
    return *Ipv6Prefix::parse(text);
}

const Ipv6Address kHa = addr("2001:db8:1::1");
const Ipv6Address kHoaA = addr("2001:db8:1::a");
const Ipv6Address kHoaB = addr("2001:db8:1::b");
const Ipv6Address kHoaC = addr("2001:db8:1::c");
const Ipv6Address kCoa1 = addr("2001:db8:100::1");
const Ipv6Address kCoa2 = addr("2001:db8:200::2");
const Ipv6Address kCoa3 = addr("2001:db8:300::3");

BindingCacheSettings default_settings() {
    BindingCacheSettings s;
    s.max_lifetime_s = 400;  // 100 units of 4 s
    s.max_bindings = 100;
    s.max_bindings_per_mn = 4;
    s.max_flows_per_hoa = 2;
    s.home_prefixes = {prefix("2001:db8:1::/64")};
    s.ha_addresses = {kHa};
    return s;
}

mh::BindingUpdate make_bu(std::uint16_t sequence, std::uint16_t lifetime_4s = 50) {
    mh::BindingUpdate bu;
    bu.sequence = sequence;
    bu.ack_requested = true;
    bu.home_registration = true;
    bu.lifetime_4s = lifetime_4s;
    return bu;
}

mh::BindingIdentifier bid(std::uint16_t id, std::optional<Ipv6Address> coa = std::nullopt) {
    mh::BindingIdentifier b;
    b.bid = id;
    b.care_of_v6 = coa;
    return b;
}

mh::TrafficSelector udp_port(std::uint16_t port) {
    mh::TrafficSelectorV6 ts;
    ts.destination_port = mh::Range<std::uint16_t>{port, port};
    return ts;
}

mh::FlowIdentification flow(std::uint16_t fid, std::vector<std::uint16_t> bids = {},
                            std::optional<mh::TrafficSelector> ts = std::nullopt) {
    mh::FlowIdentification f;
    f.fid = fid;
    f.priority = static_cast<std::uint16_t>(fid * 10);
    f.bid_references = std::move(bids);
    f.traffic_selector = std::move(ts);
    return f;
}

class BindingCacheTest : public ::testing::Test {
  protected:
    explicit BindingCacheTest(BindingCacheSettings s = default_settings()) : cache(s) {}

    // A BU sent from a foreign link: source = CoA, Home Address option = HoA.
    BuOutcome away(const mh::BindingUpdate& bu, const Ipv6Address& coa,
                   const Ipv6Address& hoa = kHoaA) {
        return cache.process_binding_update({coa, kHa, hoa, bu, now});
    }
    // A BU sent from the home link: source = HoA, no Home Address option.
    BuOutcome home(const mh::BindingUpdate& bu, const Ipv6Address& hoa = kHoaA) {
        return cache.process_binding_update({hoa, kHa, std::nullopt, bu, now});
    }
    // Rejections must be answered and must not change anything.
    void expect_rejected(const BuOutcome& out, std::uint8_t status, const std::string& before) {
        EXPECT_EQ(out.ack.status, status);
        EXPECT_TRUE(out.send_ack);
        EXPECT_TRUE(out.changed.empty());
        EXPECT_EQ(out.ack.lifetime_4s, 0);
        EXPECT_EQ(cache.dump(), before);
    }
    void expect_accepted(const BuOutcome& out, std::uint8_t status = st::kAccepted) {
        EXPECT_EQ(out.ack.status, status);
        EXPECT_TRUE(out.send_ack);
        ASSERT_EQ(out.changed.size(), 1u);
    }

    BindingCache cache;
    std::uint64_t now = 1'000'000;
};

// ---- RFC 6275 basics ----------------------------------------------------------------------

TEST(SequenceNumbers, CompareModulo2To16) {
    EXPECT_TRUE(sequence_newer(2, 1));
    EXPECT_FALSE(sequence_newer(1, 1));
    EXPECT_FALSE(sequence_newer(1, 2));
    EXPECT_TRUE(sequence_newer(3, 65534));  // wrapped
    EXPECT_TRUE(sequence_newer(32767, 0));
    EXPECT_FALSE(sequence_newer(32768, 0));  // exactly half way round is not newer
    EXPECT_FALSE(sequence_newer(65535, 0));
}

TEST_F(BindingCacheTest, AcceptsSingleCoa) {
    auto bu = make_bu(7, 25);
    bu.key_management = true;
    bu.link_local_compat = true;
    auto out = away(bu, kCoa1);
    expect_accepted(out);
    EXPECT_EQ(out.changed[0], kHoaA);
    EXPECT_EQ(out.ack.sequence, 7);
    EXPECT_EQ(out.ack.lifetime_4s, 25);
    EXPECT_FALSE(out.ack.key_management);  // no IKEv2 key management mobility
    EXPECT_FALSE(out.ack.options.refresh_advice);
    EXPECT_EQ(out.ack_destination, kCoa1);
    EXPECT_TRUE(out.ack_needs_routing_header);
    EXPECT_EQ(out.ack_home_address, kHoaA);

    const HoaEntry* e = cache.find(kHoaA);
    ASSERT_NE(e, nullptr);
    EXPECT_TRUE(e->link_local_compat);
    ASSERT_EQ(e->bindings.size(), 1u);
    EXPECT_FALSE(e->bindings[0].mcoa);
    EXPECT_EQ(e->bindings[0].care_of, kCoa1);
    EXPECT_EQ(e->bindings[0].ha_address, kHa);
    EXPECT_EQ(e->bindings[0].expiry_ms, now + 100'000);
    EXPECT_EQ(cache.binding_count(), 1u);
}

TEST_F(BindingCacheTest, ClampsLifetimeAndAdvisesRefresh) {
    BindingCacheSettings s = default_settings();
    s.refresh_advice_s = 200;
    BindingCache c(s);
    auto bu = make_bu(1, 1000);
    auto out = c.process_binding_update({kCoa1, kHa, kHoaA, bu, now});
    EXPECT_EQ(out.ack.status, st::kAccepted);
    EXPECT_EQ(out.ack.lifetime_4s, 100);
    ASSERT_TRUE(out.ack.options.refresh_advice);
    EXPECT_EQ(out.ack.options.refresh_advice->interval_4s, 50);
    EXPECT_EQ(c.find(kHoaA)->bindings[0].expiry_ms, now + 400'000);
    // The advice must stay below the granted lifetime.
    auto short_bu = make_bu(2, 10);
    out = c.process_binding_update({kCoa1, kHa, kHoaA, short_bu, now});
    ASSERT_TRUE(out.ack.options.refresh_advice);
    EXPECT_EQ(out.ack.options.refresh_advice->interval_4s, 9);
}

TEST_F(BindingCacheTest, RefreshAndChangeCoa) {
    expect_accepted(away(make_bu(1), kCoa1));
    now += 10'000;
    expect_accepted(away(make_bu(2, 60), kCoa1));
    EXPECT_EQ(cache.find(kHoaA)->bindings[0].expiry_ms, now + 240'000);
    expect_accepted(away(make_bu(3), kCoa2));
    const HoaEntry* e = cache.find(kHoaA);
    ASSERT_EQ(e->bindings.size(), 1u);
    EXPECT_EQ(e->bindings[0].care_of, kCoa2);
    EXPECT_EQ(e->last_sequence, 3);
    EXPECT_EQ(cache.binding_count(), 1u);
}

TEST_F(BindingCacheTest, UsesAlternateCareOfAddress) {
    auto bu = make_bu(1);
    bu.options.alternate_care_of = kCoa2;
    expect_accepted(away(bu, kCoa1));
    EXPECT_EQ(cache.find(kHoaA)->bindings[0].care_of, kCoa2);
}

// RFC 6275 s.9.5.1: a correspondent registration (H clear) without the return routability
// options is silently discarded; with them it names nonces monami never gave out (138).
TEST_F(BindingCacheTest, CorrespondentRegistrationIsDiscardedOrAnsweredExpiredNonces) {
    away(make_bu(1), kCoa1);
    const auto before = cache.dump();
    auto bu = make_bu(2);
    bu.home_registration = false;
    bu.ack_requested = false;
    auto out = away(bu, kCoa2);
    EXPECT_FALSE(out.send_ack);
    EXPECT_TRUE(out.discarded);
    EXPECT_EQ(cache.dump(), before);
    bu.options.nonce_indices = mh::NonceIndices{1, 2};
    bu.options.authorization_data = std::vector<std::uint8_t>(12, 0xab);
    expect_rejected(away(bu, kCoa2), st::kExpiredNonces, before);
}

// RFC 6275 s.9.5.1: no BA at all for a home address that is not unicast routable (here
// multicast, link-local, the Subnet-Router anycast and the Home-Agents anycast address of
// the home prefix) or for a home registration carrying a Nonce Indices option.
TEST_F(BindingCacheTest, SilentlyDiscardsWhatS951Discards) {
    away(make_bu(1), kCoa1);
    const auto before = cache.dump();
    for (const char* hoa : {"ff02::1", "fe80::1", "2001:db8:1::", "2001:db8:1::fdff:ffff:ffff:fffe",
                            "2001:db8:1::fdff:ffff:ffff:ff80"}) {
        auto out = away(make_bu(2), kCoa1, addr(hoa));
        EXPECT_FALSE(out.send_ack) << hoa;
        EXPECT_TRUE(out.discarded) << hoa;
        EXPECT_TRUE(out.changed.empty()) << hoa;
    }
    auto bu = make_bu(2);
    bu.options.nonce_indices = mh::NonceIndices{1, 2};
    auto out = away(bu, kCoa1);
    EXPECT_FALSE(out.send_ack);
    EXPECT_EQ(cache.dump(), before);
    // Not anycast: an ordinary address next to the reserved range is registered.
    EXPECT_TRUE(away(make_bu(1), kCoa2, addr("2001:db8:1::fdff:ffff:ffff:ff7f")).send_ack);
}

TEST_F(BindingCacheTest, RejectsHomeAddressOutsideHomePrefix) {
    away(make_bu(1), kCoa1);
    const auto before = cache.dump();
    auto out = away(make_bu(1), kCoa1, addr("2001:db8:2::a"));
    expect_rejected(out, st::kNotHomeSubnet, before);
    EXPECT_EQ(out.ack_destination, kCoa1);
    EXPECT_TRUE(out.ack_needs_routing_header);
}

TEST_F(BindingCacheTest, RejectsOurOwnAddressAsHomeAddress) {
    const auto before = cache.dump();
    expect_rejected(away(make_bu(1), kCoa1, kHa), st::kAdministrativelyProhibited, before);
}

TEST_F(BindingCacheTest, SequenceOutOfWindowCarriesLastAccepted) {
    away(make_bu(100), kCoa1);
    const auto before = cache.dump();
    auto out = away(make_bu(100), kCoa2);
    expect_rejected(out, st::kSequenceOutOfWindow, before);
    EXPECT_EQ(out.ack.sequence, 100);
    out = away(make_bu(99), kCoa2);
    expect_rejected(out, st::kSequenceOutOfWindow, before);
    out = away(make_bu(100 + 32768), kCoa2);
    expect_rejected(out, st::kSequenceOutOfWindow, before);
    EXPECT_EQ(out.ack.sequence, 100);
}

TEST_F(BindingCacheTest, SequenceWrapsAround) {
    expect_accepted(away(make_bu(65534), kCoa1));
    expect_accepted(away(make_bu(65535), kCoa1));
    expect_accepted(away(make_bu(0), kCoa1));
    expect_accepted(away(make_bu(3), kCoa2));
    EXPECT_EQ(cache.find(kHoaA)->last_sequence, 3);
}

TEST_F(BindingCacheTest, RejectsInvalidCareOfAddresses) {
    away(make_bu(1), kCoa1);
    const auto before = cache.dump();
    for (const char* bad : {"ff02::1", "fe80::1", "::1", "::", "2001:db8:1::1"}) {
        SCOPED_TRACE(bad);
        expect_rejected(away(make_bu(2), addr(bad)), st::kInvalidCareOfAddress, before);
    }
}

TEST_F(BindingCacheTest, DeregistrationWithZeroLifetime) {
    away(make_bu(1), kCoa1);
    auto out = away(make_bu(2, 0), kCoa1);
    expect_accepted(out);
    EXPECT_EQ(out.ack.lifetime_4s, 0);
    EXPECT_EQ(cache.find(kHoaA), nullptr);
    EXPECT_EQ(cache.binding_count(), 0u);
    EXPECT_FALSE(cache.next_deadline_ms());
}

TEST_F(BindingCacheTest, DeregistrationFromHome) {
    away(make_bu(1), kCoa1);
    auto out = home(make_bu(2, 50));  // CoA == HoA: de-registration whatever the lifetime
    expect_accepted(out);
    EXPECT_EQ(out.ack_destination, kHoaA);
    EXPECT_FALSE(out.ack_needs_routing_header);
    EXPECT_EQ(cache.find(kHoaA), nullptr);
}

TEST_F(BindingCacheTest, DeregistrationWithoutBindingIsRejected) {
    away(make_bu(1), kCoa1, kHoaB);
    const auto before = cache.dump();
    expect_rejected(away(make_bu(1, 0), kCoa1), st::kNotHomeAgentForThisMn, before);
    expect_rejected(home(make_bu(1)), st::kNotHomeAgentForThisMn, before);
}

// ---- Authorization ------------------------------------------------------------------------

class AuthorizedTest : public BindingCacheTest {
  protected:
    static BindingCacheSettings settings() {
        auto s = default_settings();
        s.authorized_mns = {{{'m', 'n', '1'}, {kHoaA, kHoaB}, {prefix("2001:db8:f000::/40")}},
                            {{'m', 'n', '2'}, {kHoaC}, {}}};
        return s;
    }
    AuthorizedTest() : BindingCacheTest(settings()) {}
};

TEST_F(AuthorizedTest, RejectsUnknownHomeAddress) {
    const auto before = cache.dump();
    expect_rejected(away(make_bu(1), kCoa1, addr("2001:db8:1::d")), st::kNotHomeAgentForThisMn,
                    before);
}

TEST_F(AuthorizedTest, RejectsWrongMobileNodeIdentifier) {
    const auto before = cache.dump();
    auto bu = make_bu(1);
    bu.options.mn_id = mh::MobileNodeIdentifier{1, {'m', 'n', '2'}};
    expect_rejected(away(bu, kCoa1), st::kAdministrativelyProhibited, before);
}

TEST_F(AuthorizedTest, GroupsHomeAddressesOfOneNode) {
    expect_accepted(away(make_bu(1), kCoa1, kHoaA));
    EXPECT_EQ(cache.find(kHoaA)->mn_id, (std::vector<std::uint8_t>{'m', 'n', '1'}));
    // Per-MN limit (4) counts across HoAs A and B.
    auto bulk = make_bu(1);
    bulk.options.binding_ids = {bid(1, kCoa1), bid(2, kCoa2), bid(3, kCoa3)};
    expect_accepted(away(bulk, kCoa1, kHoaB));
    EXPECT_EQ(cache.binding_count(), 4u);
    auto more = make_bu(2);
    more.options.binding_ids = {bid(4, addr("2001:db8:400::4"))};
    const auto before = cache.dump();
    expect_rejected(away(more, kCoa1, kHoaB), st::kInsufficientResources, before);
    // Another MN is not affected.
    expect_accepted(away(make_bu(1), kCoa1, kHoaC));
}

TEST_F(BindingCacheTest, HomeAddressStaysWithItsMobileNode) {
    auto bu = make_bu(1);
    bu.options.mn_id = mh::MobileNodeIdentifier{1, {'x'}};
    expect_accepted(away(bu, kCoa1));
    const auto before = cache.dump();
    auto other = make_bu(2);
    other.options.mn_id = mh::MobileNodeIdentifier{1, {'y'}};
    expect_rejected(away(other, kCoa2), st::kAdministrativelyProhibited, before);
}

TEST_F(BindingCacheTest, MnIdOptionGroupsHomeAddresses) {
    auto bulk = make_bu(1);
    bulk.options.mn_id = mh::MobileNodeIdentifier{1, {'z'}};
    bulk.options.binding_ids = {bid(1, kCoa1), bid(2, kCoa2), bid(3, kCoa3)};
    expect_accepted(away(bulk, kCoa1, kHoaA));
    auto second = make_bu(1);
    second.options.mn_id = mh::MobileNodeIdentifier{1, {'z'}};
    second.options.binding_ids = {bid(1, kCoa1), bid(2, kCoa2)};
    const auto before = cache.dump();
    expect_rejected(away(second, kCoa1, kHoaB), st::kInsufficientResources, before);
    second.options.binding_ids.pop_back();
    expect_accepted(away(second, kCoa1, kHoaB));
    // Without MN-ID an HoA is its own group.
    bulk.options.mn_id.reset();
    expect_accepted(away(bulk, kCoa1, kHoaC));
    // Once A is gone, B may grow.
    expect_accepted(away(make_bu(2, 0), kCoa1, kHoaA));
    auto grow = make_bu(2);
    grow.options.binding_ids = {bid(2, kCoa2), bid(3, kCoa3)};
    expect_accepted(away(grow, kCoa1, kHoaB));
    EXPECT_EQ(cache.find(kHoaB)->bindings.size(), 3u);
}

TEST_F(BindingCacheTest, GlobalBindingLimit) {
    auto s = default_settings();
    s.max_bindings = 2;
    BindingCache c(s);
    auto bu = make_bu(1);
    EXPECT_EQ(c.process_binding_update({kCoa1, kHa, kHoaA, bu, now}).ack.status, 0);
    EXPECT_EQ(c.process_binding_update({kCoa1, kHa, kHoaB, bu, now}).ack.status, 0);
    const auto before = c.dump();
    auto out = c.process_binding_update({kCoa1, kHa, kHoaC, bu, now});
    EXPECT_EQ(out.ack.status, st::kInsufficientResources);
    EXPECT_EQ(c.dump(), before);
    // Refreshing an existing binding still works at the limit.
    auto refresh = make_bu(2);
    EXPECT_EQ(c.process_binding_update({kCoa2, kHa, kHoaA, refresh, now}).ack.status, 0);
}

// ---- RFC 5648 multiple care-of addresses ---------------------------------------------------

TEST_F(BindingCacheTest, BulkRegistrationOfThreeCoas) {
    auto bu = make_bu(1);
    bu.options.binding_ids = {bid(10, kCoa1), bid(20, kCoa2), bid(30, kCoa3)};
    auto out = away(bu, kCoa1);
    expect_accepted(out);
    ASSERT_EQ(out.ack.options.binding_ids.size(), 3u);
    for (const auto& b : out.ack.options.binding_ids) EXPECT_EQ(b.status, 0);
    const HoaEntry* e = cache.find(kHoaA);
    ASSERT_EQ(e->bindings.size(), 3u);
    EXPECT_EQ(e->find_binding(20)->care_of, kCoa2);
    EXPECT_TRUE(e->find_binding(30)->mcoa);
    EXPECT_EQ(cache.binding_count(), 3u);
}

TEST_F(BindingCacheTest, SingleBidWithoutCoaUsesPacketSource) {
    auto bu = make_bu(1);
    bu.options.binding_ids = {bid(5)};
    expect_accepted(away(bu, kCoa2));
    EXPECT_EQ(cache.find(kHoaA)->find_binding(5)->care_of, kCoa2);
    // A second BU adds another BID next to the first.
    auto second = make_bu(2);
    second.options.binding_ids = {bid(6)};
    expect_accepted(away(second, kCoa3));
    EXPECT_EQ(cache.find(kHoaA)->bindings.size(), 2u);
}

TEST_F(BindingCacheTest, BulkWithOneBadCoaIsNotComplete) {
    auto bu = make_bu(1);
    bu.options.binding_ids = {bid(1, kCoa1), bid(2, addr("fe80::2"))};
    auto out = away(bu, kCoa1);
    expect_accepted(out, st::kMcoaNotComplete);
    ASSERT_EQ(out.ack.options.binding_ids.size(), 2u);
    EXPECT_EQ(out.ack.options.binding_ids[0].status, 0);
    EXPECT_EQ(out.ack.options.binding_ids[1].status, st::kInvalidCareOfAddress);
    EXPECT_EQ(cache.find(kHoaA)->bindings.size(), 1u);
}

TEST_F(BindingCacheTest, BulkWithOnlyBadCoasIsRejected) {
    const auto before = cache.dump();
    auto bu = make_bu(1);
    mh::BindingIdentifier v4 = bid(2);
    v4.care_of_v4 = std::array<std::uint8_t, 4>{192, 0, 2, 1};
    bu.options.binding_ids = {bid(1, addr("fe80::2")), v4};
    auto out = away(bu, kCoa1);
    expect_rejected(out, st::kInvalidCareOfAddress, before);
    ASSERT_EQ(out.ack.options.binding_ids.size(), 2u);
    EXPECT_EQ(out.ack.options.binding_ids[1].status, st::kInvalidCareOfAddress);
}

TEST_F(BindingCacheTest, MalformedBindingIdentifiers) {
    away(make_bu(1), kCoa1, kHoaB);
    const auto before = cache.dump();
    auto duplicate = make_bu(1);
    duplicate.options.binding_ids = {bid(1, kCoa1), bid(1, kCoa2)};
    expect_rejected(away(duplicate, kCoa1), st::kMcoaMalformed, before);
    auto both = make_bu(1);
    both.options.binding_ids = {bid(1, kCoa1)};
    both.options.binding_ids[0].care_of_v4 = std::array<std::uint8_t, 4>{192, 0, 2, 1};
    expect_rejected(away(both, kCoa1), st::kMcoaMalformed, before);
    auto multicast = make_bu(1);
    multicast.options.binding_ids = {bid(1, addr("ff0e::1"))};
    expect_rejected(away(multicast, kCoa1), st::kMcoaMalformed, before);
}

TEST_F(BindingCacheTest, NonMcoaBindingExists) {
    away(make_bu(1), kCoa1);
    const auto before = cache.dump();
    auto bu = make_bu(2);
    bu.options.binding_ids = {bid(1, kCoa2)};
    expect_rejected(away(bu, kCoa2), st::kMcoaNonMcoaBindingExists, before);
}

// RFC 6089 s.4.1: the 7 bits after H are BID-PRI. A high priority value (bit 0x40 set) is
// not a flag: the new BID joins the registered ones instead of replacing them.
TEST_F(BindingCacheTest, BidPriorityDoesNotReplaceBindings) {
    auto bu = make_bu(1);
    bu.options.binding_ids = {bid(1, kCoa1), bid(2, kCoa2)};
    away(bu, kCoa1);
    auto more = make_bu(2);
    more.options.binding_ids = {bid(3, kCoa3)};
    more.options.binding_ids[0].priority = 0x40;
    expect_accepted(away(more, kCoa3));
    const HoaEntry* e = cache.find(kHoaA);
    ASSERT_EQ(e->bindings.size(), 3u);
    EXPECT_EQ(cache.binding_count(), 3u);
}

TEST_F(BindingCacheTest, RegularBuReplacesMcoaBindings) {
    auto bu = make_bu(1);
    bu.options.binding_ids = {bid(1, kCoa1), bid(2, kCoa2)};
    away(bu, kCoa1);
    expect_accepted(away(make_bu(2), kCoa3));
    const HoaEntry* e = cache.find(kHoaA);
    ASSERT_EQ(e->bindings.size(), 1u);
    EXPECT_FALSE(e->bindings[0].mcoa);
    EXPECT_EQ(cache.binding_count(), 1u);
}

TEST_F(BindingCacheTest, McoaAndBulkProhibitedBySettings) {
    auto s = default_settings();
    s.allow_bulk_registration = false;
    BindingCache no_bulk(s);
    auto bulk = make_bu(1);
    bulk.options.binding_ids = {bid(1, kCoa1), bid(2, kCoa2)};
    auto out = no_bulk.process_binding_update({kCoa1, kHa, kHoaA, bulk, now});
    EXPECT_EQ(out.ack.status, st::kMcoaBulkRegistrationProhibited);
    EXPECT_EQ(no_bulk.binding_count(), 0u);
    auto single = make_bu(1);
    single.options.binding_ids = {bid(1, kCoa1)};
    EXPECT_EQ(no_bulk.process_binding_update({kCoa1, kHa, kHoaA, single, now}).ack.status, 0);

    s.allow_mcoa = false;
    BindingCache no_mcoa(s);
    no_mcoa.process_binding_update({kCoa1, kHa, kHoaA, make_bu(1), now});
    const auto before = no_mcoa.dump();
    auto bid_bu = make_bu(2);
    bid_bu.options.binding_ids = {bid(1, kCoa1)};
    out = no_mcoa.process_binding_update({kCoa1, kHa, kHoaA, bid_bu, now});
    EXPECT_EQ(out.ack.status, st::kMcoaProhibited);
    EXPECT_EQ(no_mcoa.dump(), before);
}

TEST_F(BindingCacheTest, PerBidSequenceCheck) {
    auto bu = make_bu(10);
    bu.options.binding_ids = {bid(1, kCoa1), bid(2, kCoa2)};
    away(bu, kCoa1);
    auto one = make_bu(11);
    one.options.binding_ids = {bid(1, kCoa3)};
    expect_accepted(away(one, kCoa3));
    const auto before = cache.dump();
    auto stale = make_bu(11);
    stale.options.binding_ids = {bid(1, kCoa1)};
    auto out = away(stale, kCoa1);
    expect_rejected(out, st::kSequenceOutOfWindow, before);
    EXPECT_EQ(out.ack.sequence, 11);
    // BID 2 last saw 10, so 11 is newer for it.
    auto other = make_bu(11);
    other.options.binding_ids = {bid(2, kCoa1)};
    expect_accepted(away(other, kCoa1));
}

TEST_F(BindingCacheTest, DeregisterOneBidKeepsOthers) {
    auto bu = make_bu(1);
    bu.options.binding_ids = {bid(1, kCoa1), bid(2, kCoa2)};
    away(bu, kCoa1);
    auto dereg = make_bu(2, 0);
    dereg.options.binding_ids = {bid(1)};
    auto out = away(dereg, kCoa2);
    expect_accepted(out);
    EXPECT_EQ(out.ack.lifetime_4s, 0);
    const HoaEntry* e = cache.find(kHoaA);
    ASSERT_EQ(e->bindings.size(), 1u);
    EXPECT_EQ(e->bindings[0].bid, 2);
    EXPECT_EQ(cache.binding_count(), 1u);
    // Unknown BID: 133, nothing changes.
    const auto before = cache.dump();
    auto unknown = make_bu(3, 0);
    unknown.options.binding_ids = {bid(9)};
    expect_rejected(away(unknown, kCoa2), st::kNotHomeAgentForThisMn, before);
    // Deregistering the last BID removes the entry.
    auto last = make_bu(3, 0);
    last.options.binding_ids = {bid(2)};
    expect_accepted(away(last, kCoa2));
    EXPECT_EQ(cache.find(kHoaA), nullptr);
}

TEST_F(BindingCacheTest, DeregisterAllWithoutBid) {
    auto bu = make_bu(1);
    bu.options.binding_ids = {bid(1, kCoa1), bid(2, kCoa2), bid(3, kCoa3)};
    away(bu, kCoa1);
    expect_accepted(away(make_bu(2, 0), kCoa1));
    EXPECT_EQ(cache.find(kHoaA), nullptr);
    EXPECT_EQ(cache.binding_count(), 0u);
}

TEST_F(BindingCacheTest, ReturnHomeWithHomeFlagKeepsOtherBindings) {
    auto bu = make_bu(1);
    bu.options.binding_ids = {bid(1, kCoa1), bid(2, kCoa2)};
    away(bu, kCoa1);
    auto back = make_bu(2);
    back.options.binding_ids = {bid(1), bid(2, kCoa2)};
    back.options.binding_ids[0].home_flag = true;
    auto out = home(back);
    expect_accepted(out, st::kMcoaReturnHomeWithoutNdp);
    EXPECT_FALSE(out.ack_needs_routing_header);
    const HoaEntry* e = cache.find(kHoaA);
    ASSERT_EQ(e->bindings.size(), 2u);
    EXPECT_TRUE(e->find_binding(1)->at_home);
    EXPECT_EQ(e->find_binding(1)->care_of, kHoaA);
    EXPECT_EQ(e->find_binding(2)->care_of, kCoa2);
}

TEST_F(BindingCacheTest, SimultaneousHomeForeignProhibited) {
    auto s = default_settings();
    s.allow_simultaneous_home_foreign = false;
    BindingCache c(s);
    auto bu = make_bu(1);
    bu.options.binding_ids = {bid(1, kCoa1), bid(2, kCoa2)};
    c.process_binding_update({kCoa1, kHa, kHoaA, bu, now});
    const auto before = c.dump();
    auto back = make_bu(2);
    back.options.binding_ids = {bid(1)};
    back.options.binding_ids[0].home_flag = true;
    auto out = c.process_binding_update({kHoaA, kHa, std::nullopt, back, now});
    EXPECT_EQ(out.ack.status, st::kMcoaSimultaneousHomeForeignProhibited);
    EXPECT_TRUE(out.changed.empty());
    EXPECT_EQ(c.dump(), before);
}

TEST_F(BindingCacheTest, UnknownCoaFromHome) {
    const auto before = cache.dump();
    auto bu = make_bu(1);
    bu.options.binding_ids = {bid(1)};  // no CoA, no H flag, sent from the home link
    expect_rejected(home(bu), st::kMcoaUnknownCoa, before);
}

// ---- Chains of home addresses -----------------------------------------------------------

TEST_F(BindingCacheTest, HomeAddressAsCareOfAddressChain) {
    expect_accepted(away(make_bu(1), kHoaB, kHoaA));  // A via B
    expect_accepted(away(make_bu(1), kHoaC, kHoaB));  // B via C
    const auto before = cache.dump();
    // C via A would close A -> B -> C -> A.
    expect_rejected(away(make_bu(1), kHoaA, kHoaC), st::kInvalidCareOfAddress, before);
    // Direct loop: B via A.
    expect_rejected(away(make_bu(2), kHoaA, kHoaB), st::kInvalidCareOfAddress, before);
    // C via a real CoA is fine.
    expect_accepted(away(make_bu(1), kCoa1, kHoaC));
}

TEST_F(BindingCacheTest, LoopThroughBulkBindingRejected) {
    auto bu = make_bu(1);
    bu.options.binding_ids = {bid(1, kCoa1), bid(2, kHoaB)};
    expect_accepted(away(bu, kCoa1, kHoaA));  // A via CoA1 and via B
    const auto before = cache.dump();
    expect_rejected(away(make_bu(1), kHoaA, kHoaB), st::kInvalidCareOfAddress, before);
}

// ---- NEMO --------------------------------------------------------------------------------

TEST_F(BindingCacheTest, MobileRouterRegistersPrefixes) {
    auto bu = make_bu(1);
    bu.mobile_router = true;
    bu.options.network_prefixes = {{48, addr("2001:db8:a000::")}, {64, addr("2001:db8:b000::")}};
    auto out = away(bu, kCoa1);
    expect_accepted(out);
    EXPECT_TRUE(out.ack.mobile_router);
    const HoaEntry* e = cache.find(kHoaA);
    EXPECT_TRUE(e->mobile_router);
    EXPECT_EQ(e->network_prefixes.size(), 2u);
    const auto* owner = cache.owner_of_prefix(addr("2001:db8:a000:5::9"));
    ASSERT_NE(owner, nullptr);
    EXPECT_EQ(*owner, kHoaA);
    EXPECT_EQ(cache.owner_of_prefix(addr("2001:db8:b000:1::9")), nullptr);
    // A second MR may own a longer prefix only if nobody else owns an overlapping one.
    auto other = make_bu(1);
    other.mobile_router = true;
    other.options.network_prefixes = {{64, addr("2001:db8:a000:1::")}};
    const auto before = cache.dump();
    expect_rejected(away(other, kCoa2, kHoaB), st::kNotAuthorizedForPrefix, before);
    // Re-registration replaces the prefix set; de-registration drops it.
    auto again = make_bu(2);
    again.mobile_router = true;
    again.options.network_prefixes = {{64, addr("2001:db8:c000::")}};
    expect_accepted(away(again, kCoa1));
    EXPECT_EQ(cache.owner_of_prefix(addr("2001:db8:a000::1")), nullptr);
    EXPECT_EQ(*cache.owner_of_prefix(addr("2001:db8:c000::1")), kHoaA);
    expect_accepted(away(make_bu(3, 0), kCoa1));
    EXPECT_EQ(cache.owner_of_prefix(addr("2001:db8:c000::1")), nullptr);
}

TEST_F(BindingCacheTest, LongestPrefixMatchAcrossOwners) {
    auto a = make_bu(1);
    a.mobile_router = true;
    a.options.network_prefixes = {{48, addr("2001:db8:a000::")}};
    away(a, kCoa1, kHoaA);
    auto b = make_bu(1);
    b.mobile_router = true;
    b.options.network_prefixes = {{48, addr("2001:db8:a001::")}};
    expect_accepted(away(b, kCoa2, kHoaB));
    EXPECT_EQ(*cache.owner_of_prefix(addr("2001:db8:a001::1")), kHoaB);
    EXPECT_EQ(*cache.owner_of_prefix(addr("2001:db8:a000::1")), kHoaA);
}

TEST_F(BindingCacheTest, MobileRouterNotPermitted) {
    auto s = default_settings();
    s.allow_mobile_routers = false;
    BindingCache c(s);
    auto bu = make_bu(1);
    bu.mobile_router = true;
    bu.options.network_prefixes = {{48, addr("2001:db8:a000::")}};
    auto out = c.process_binding_update({kCoa1, kHa, kHoaA, bu, now});
    EXPECT_EQ(out.ack.status, st::kMobileRouterOperationNotPermitted);
    EXPECT_FALSE(out.ack.mobile_router);
    EXPECT_EQ(c.hoa_count(), 0u);
    // Implicit mode with nothing configured is not permitted either.
    auto implicit = make_bu(1);
    implicit.mobile_router = true;
    const auto before = cache.dump();
    expect_rejected(away(implicit, kCoa1), st::kMobileRouterOperationNotPermitted, before);
}

TEST_F(BindingCacheTest, InvalidPrefixes) {
    away(make_bu(1), kCoa1);
    const auto before = cache.dump();
    const std::vector<mh::MobileNetworkPrefix> bad = {
        {64, addr("fe80::")},            // link-local
        {8, addr("ff00::")},             // multicast
        {48, addr("2001:db8:a000::1")},  // host bits set
        {0, addr("::")},                 // everything
        {129, addr("2001:db8:a000::")},  // impossible length
        {48, addr("2001:db8:1::")},      // covers the home link
    };
    for (const auto& p : bad) {
        SCOPED_TRACE(p.prefix.to_string());
        auto bu = make_bu(2);
        bu.mobile_router = true;
        bu.options.network_prefixes = {p};
        expect_rejected(away(bu, kCoa1), st::kInvalidPrefix, before);
    }
}

TEST_F(AuthorizedTest, PrefixAuthorization) {
    auto bu = make_bu(1);
    bu.mobile_router = true;
    bu.options.network_prefixes = {{48, addr("2001:db8:f010::")}};
    expect_accepted(away(bu, kCoa1));
    const auto before = cache.dump();
    auto outside = make_bu(2);
    outside.mobile_router = true;
    outside.options.network_prefixes = {{48, addr("2001:db8:e000::")}};
    expect_rejected(away(outside, kCoa1), st::kNotAuthorizedForPrefix, before);
    // Implicit mode: the configured prefixes.
    auto implicit = make_bu(3);
    implicit.mobile_router = true;
    expect_accepted(away(implicit, kCoa1));
    EXPECT_EQ(cache.find(kHoaA)->network_prefixes,
              (std::vector<Ipv6Prefix>{prefix("2001:db8:f000::/40")}));
}

TEST_F(BindingCacheTest, CareOfAddressInsideOwnPrefixOrChainThroughPrefix) {
    auto bu = make_bu(1);
    bu.mobile_router = true;
    bu.options.network_prefixes = {{48, addr("2001:db8:a000::")}};
    const auto before = cache.dump();
    // An MR cannot be reached through its own mobile network.
    expect_rejected(away(bu, addr("2001:db8:a000::5")), st::kInvalidCareOfAddress, before);
    expect_accepted(away(bu, kCoa1));
    // B is nested behind A's network; then A via B would loop.
    expect_accepted(away(make_bu(1), addr("2001:db8:a000::7"), kHoaB));
    const auto nested = cache.dump();
    expect_rejected(away(make_bu(2), kHoaB, kHoaA), st::kInvalidCareOfAddress, nested);
}

// ---- RFC 6089 flow bindings ------------------------------------------------------------

class FlowTest : public BindingCacheTest {
  protected:
    void SetUp() override {
        auto bu = make_bu(seq++);
        bu.options.binding_ids = {bid(1, kCoa1), bid(2, kCoa2)};
        away(bu, kCoa1);
    }
    // A bulk BU refreshing both bindings, stating the flow bindings as RFC 6089 s.5 has it:
    // new or changed ones in `flows`, kept ones in `summary`, the rest left out.
    BuOutcome with_flows(std::vector<mh::FlowIdentification> flows,
                         std::optional<std::vector<std::uint16_t>> summary = std::nullopt,
                         std::uint16_t lifetime = 50) {
        auto bu = make_bu(seq++, lifetime);
        bu.options.binding_ids = {bid(1, kCoa1), bid(2, kCoa2)};
        bu.options.flows = std::move(flows);
        bu.options.flow_summary = std::move(summary);
        return away(bu, kCoa1);
    }
    std::vector<std::uint16_t> fids() const {
        std::vector<std::uint16_t> out;
        for (const auto& f : cache.find(kHoaA)->flows) out.push_back(f.fid);
        return out;
    }
    std::uint16_t seq = 1;
};

TEST_F(FlowTest, AddChangeKeepAndRemoveByOmission) {
    auto out = with_flows({flow(7, {1}, udp_port(5060)), flow(8, {1, 2}, udp_port(53))});
    expect_accepted(out);
    ASSERT_EQ(out.ack.options.flows.size(), 2u);
    EXPECT_EQ(out.ack.options.flows[0].fid, 7);
    EXPECT_EQ(out.ack.options.flows[0].status, fst::kSuccess);
    EXPECT_EQ(out.ack.options.flows[1].status, fst::kSuccess);
    const FlowBinding* f = cache.find(kHoaA)->find_flow(8);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->bids, (std::vector<std::uint16_t>{1, 2}));
    EXPECT_EQ(f->priority, 80);

    // A Flow Identification option for a known FID replaces what it carries; the summary
    // keeps flow 8 as it is.
    out = with_flows({flow(7, {2})}, std::vector<std::uint16_t>{8});
    ASSERT_EQ(out.ack.options.flows.size(), 1u);  // the kept flow is not answered
    EXPECT_EQ(out.ack.options.flows[0].status, fst::kSuccess);
    f = cache.find(kHoaA)->find_flow(7);
    EXPECT_EQ(f->bids, (std::vector<std::uint16_t>{2}));
    EXPECT_EQ(f->selector, udp_port(5060));  // kept: only BIDs were given
    EXPECT_EQ(fids(), (std::vector<std::uint16_t>{7, 8}));

    now += 20'000;
    out = with_flows({}, std::vector<std::uint16_t>{7, 8});
    EXPECT_TRUE(out.ack.options.flows.empty());
    EXPECT_EQ(cache.find(kHoaA)->find_flow(8)->expiry_ms, now + 200'000);

    // Left out of the BU: removed.
    out = with_flows({}, std::vector<std::uint16_t>{8});
    expect_accepted(out);
    EXPECT_EQ(fids(), (std::vector<std::uint16_t>{8}));
    // A BU with neither option names none: every flow binding goes, the bindings stay.
    expect_accepted(with_flows({}));
    EXPECT_TRUE(fids().empty());
    EXPECT_EQ(cache.find(kHoaA)->bindings.size(), 2u);
}

// What an RFC 6089 MN resends after a lost BA: the same option again is not an error.
TEST_F(FlowTest, RetransmittedFlowIdentificationIsANoOp) {
    expect_accepted(with_flows({flow(1, {1, 2}, udp_port(5))}));
    now += 10'000;
    auto out = with_flows({flow(1, {1, 2}, udp_port(5))});
    ASSERT_EQ(out.ack.options.flows.size(), 1u);
    EXPECT_EQ(out.ack.options.flows[0].status, fst::kSuccess);
    EXPECT_EQ(fids(), (std::vector<std::uint16_t>{1}));
    EXPECT_EQ(cache.find(kHoaA)->find_flow(1)->expiry_ms, now + 200'000);
}

TEST_F(FlowTest, FlowStatuses) {
    with_flows({flow(1, {1}, udp_port(1))});
    auto unsupported = flow(3, {1});
    unsupported.unsupported_ts_format = 7;
    auto out = with_flows(
        {
            flow(2, {1}),                 // new: no traffic selector
            flow(12, {}, udp_port(12)),   // new: no BID reference
            flow(4, {9}, udp_port(4)),    // unknown BID
            flow(5),                      // names a flow this HA does not hold
            unsupported,                  // TS format
            flow(1, {9}),                 // known, unknown BID: refused, kept as it was
            flow(10, {2}, udp_port(10)),  // fills the limit (2)
            flow(11, {2}, udp_port(11)),  // over the limit
        },
        std::vector<std::uint16_t>{6});  // a summary FID this HA does not hold
    expect_accepted(out);                // flow errors never fail the BU
    std::vector<std::pair<std::uint16_t, std::uint8_t>> answers;
    for (const auto& f : out.ack.options.flows) answers.emplace_back(f.fid, f.status);
    EXPECT_EQ(answers, (std::vector<std::pair<std::uint16_t, std::uint8_t>>{
                           {2, fst::kFlowIdentificationMalformed},
                           {12, fst::kFlowIdentificationMalformed},
                           {4, fst::kBidNotFound},
                           {5, fst::kFidNotFound},
                           {3, fst::kTrafficSelectorFormatNotSupported},
                           {1, fst::kBidNotFound},
                           {10, fst::kSuccess},
                           {11, fst::kAdministrativelyProhibited},
                           {6, fst::kFidNotFound},
                       }));
    EXPECT_EQ(fids(), (std::vector<std::uint16_t>{1, 10}));
    EXPECT_EQ(cache.find(kHoaA)->find_flow(1)->bids, (std::vector<std::uint16_t>{1}));
    // The Reserved octet is not part of the answer: the BA writes it 0 (builder, mh_test).
}

TEST_F(FlowTest, FlowsFollowTheirBindings) {
    with_flows({flow(1, {1}, udp_port(1)), flow(2, {1, 2}, udp_port(2))});
    auto dereg = make_bu(seq++, 0);
    dereg.options.binding_ids = {bid(1)};
    dereg.options.flow_summary = std::vector<std::uint16_t>{1, 2};
    expect_accepted(away(dereg, kCoa1));
    const HoaEntry* e = cache.find(kHoaA);
    EXPECT_EQ(e->find_flow(1), nullptr);  // its only binding went away
    ASSERT_NE(e->find_flow(2), nullptr);
    EXPECT_EQ(e->find_flow(2)->bids, (std::vector<std::uint16_t>{2}));
}

TEST_F(FlowTest, FlowsNotRefreshedExpire) {
    with_flows({flow(1, {1}, udp_port(1)), flow(2, {2}, udp_port(2))}, std::nullopt,
               10);  // flows live 40 s
    now += 30'000;
    // A BU for binding 2 alone (its own lifetime) naming both flows: flow 2 gets this
    // lifetime, flow 1 the same; then binding 1 is refreshed without naming flow 1.
    auto bu = make_bu(seq++, 50);
    bu.options.binding_ids = {bid(2, kCoa2)};
    bu.options.flow_summary = std::vector<std::uint16_t>{1, 2};
    expect_accepted(away(bu, kCoa2));
    EXPECT_EQ(cache.find(kHoaA)->find_flow(2)->expiry_ms, now + 200'000);
    EXPECT_EQ(cache.find(kHoaA)->find_flow(1)->expiry_ms, now + 200'000);
    auto changed = cache.expire(now + 10'000);  // binding 1 expires, and flow 1 with it
    EXPECT_EQ(changed, (std::vector<Ipv6Address>{kHoaA}));
    EXPECT_EQ(cache.find(kHoaA)->bindings.size(), 1u);
    EXPECT_NE(cache.find(kHoaA)->find_flow(2), nullptr);
}

// ---- Lifetimes and timers ----------------------------------------------------------------

TEST_F(BindingCacheTest, ExpiresInDeadlineOrder) {
    EXPECT_FALSE(cache.next_deadline_ms());
    away(make_bu(1, 30), kCoa1, kHoaA);  // +120 s
    away(make_bu(1, 10), kCoa1, kHoaB);  // +40 s
    away(make_bu(1, 20), kCoa1, kHoaC);  // +80 s
    EXPECT_EQ(cache.next_deadline_ms(), now + 40'000);
    EXPECT_TRUE(cache.expire(now + 39'999).empty());
    EXPECT_EQ(cache.expire(now + 40'000), (std::vector<Ipv6Address>{kHoaB}));
    EXPECT_EQ(cache.find(kHoaB), nullptr);
    EXPECT_EQ(cache.next_deadline_ms(), now + 80'000);
    EXPECT_EQ(cache.expire(now + 200'000), (std::vector<Ipv6Address>{kHoaC, kHoaA}));
    EXPECT_EQ(cache.binding_count(), 0u);
    EXPECT_FALSE(cache.next_deadline_ms());
}

TEST_F(BindingCacheTest, RefreshPostponesExpiry) {
    away(make_bu(1, 10), kCoa1);
    now += 30'000;
    away(make_bu(2, 10), kCoa1);
    EXPECT_EQ(cache.next_deadline_ms(), now + 40'000);  // the stale deadline is gone
    EXPECT_TRUE(cache.expire(now + 10'000).empty());
    EXPECT_NE(cache.find(kHoaA), nullptr);
    EXPECT_EQ(cache.expire(now + 40'000).size(), 1u);
}

TEST_F(BindingCacheTest, OneBidExpiresOthersStay) {
    auto bu = make_bu(1, 10);
    bu.options.binding_ids = {bid(1, kCoa1)};
    away(bu, kCoa1);
    auto longer = make_bu(2, 50);
    longer.options.binding_ids = {bid(2, kCoa2)};
    away(longer, kCoa2);
    auto changed = cache.expire(now + 40'000);
    EXPECT_EQ(changed.size(), 1u);
    const HoaEntry* e = cache.find(kHoaA);
    ASSERT_NE(e, nullptr);
    ASSERT_EQ(e->bindings.size(), 1u);
    EXPECT_EQ(e->bindings[0].bid, 2);
    EXPECT_EQ(cache.binding_count(), 1u);
}

TEST_F(BindingCacheTest, RefreshRequestsBeforeExpiry) {
    auto s = default_settings();
    s.refresh_request_before_expiry_s = 20;
    BindingCache c(s);
    auto bu = make_bu(1, 25);  // 100 s
    c.process_binding_update({kCoa1, kHa, kHoaA, bu, now});
    auto brief = make_bu(1, 4);  // 16 s: shorter than the lead time, no BRR
    c.process_binding_update({kCoa1, kHa, kHoaB, brief, now});
    EXPECT_EQ(c.next_deadline_ms(), now + 16'000);
    c.expire(now + 16'000);
    EXPECT_EQ(c.next_deadline_ms(), now + 80'000);
    EXPECT_TRUE(c.refresh_requests_due(now + 79'999).empty());
    auto due = c.refresh_requests_due(now + 80'000);
    ASSERT_EQ(due.size(), 1u);
    EXPECT_EQ(due[0].home_address, kHoaA);
    EXPECT_EQ(due[0].care_of, kCoa1);
    EXPECT_EQ(due[0].ha_address, kHa);
    EXPECT_TRUE(c.refresh_requests_due(now + 90'000).empty());  // once per registration
    EXPECT_EQ(c.next_deadline_ms(), now + 100'000);
    auto refresh = make_bu(2, 25);
    c.process_binding_update({kCoa1, kHa, kHoaA, refresh, now + 90'000});
    EXPECT_EQ(c.refresh_requests_due(now + 170'000).size(), 1u);
}

TEST_F(BindingCacheTest, ManyRefreshesKeepTimersBounded) {
    for (std::uint16_t i = 1; i < 5000; ++i) {
        now += 10;
        ASSERT_EQ(away(make_bu(i, 10), kCoa1).ack.status, 0);
    }
    EXPECT_EQ(cache.next_deadline_ms(), now + 40'000);
    // A refresh moves the binding's one queued entry instead of leaving one behind: nothing
    // piles up for a later O(all timers) clean-up on the control thread.
    EXPECT_LE(cache.queued_timers(), 2u);
    EXPECT_EQ(cache.expire(now + 40'000).size(), 1u);
    EXPECT_FALSE(cache.next_deadline_ms());
}

TEST_F(BindingCacheTest, WalkInAddressOrderAndGeneration) {
    away(make_bu(1), kCoa1, kHoaA);
    away(make_bu(1), kCoa1, kHoaB);
    const auto generation = cache.find(kHoaA)->generation;
    away(make_bu(2), kCoa2, kHoaA);
    EXPECT_GT(cache.find(kHoaA)->generation, generation);
    std::size_t visited = 0;
    for (const HoaEntry* e = cache.next_after(nullptr); e; e = cache.next_after(&e->home_address))
        ++visited;
    EXPECT_EQ(visited, 2u);
}

}  // namespace
