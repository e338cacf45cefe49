#include "controlplane/ha/next_hop_users.hpp"

#include <gtest/gtest.h>

#include <map>
#include <vector>

namespace monami::ha {
namespace {

Ipv6Address address(std::uint8_t prefix, std::uint32_t n) {
    Ipv6Address a{};
    a.bytes[0] = 0x20;
    a.bytes[1] = 0x01;
    a.bytes[7] = prefix;
    a.bytes[12] = static_cast<std::uint8_t>(n >> 24);
    a.bytes[13] = static_cast<std::uint8_t>(n >> 16);
    a.bytes[14] = static_cast<std::uint8_t>(n >> 8);
    a.bytes[15] = static_cast<std::uint8_t>(n);
    return a;
}
const Ipv6Address kRouterA = address(0xa, 1);
const Ipv6Address kRouterB = address(0xb, 1);
HomeAddress hoa(std::uint32_t n) {
    return address(1, n);
}

// What a sweep of `hop` takes, all at once, each taken HoA's membership forgotten.
std::vector<HomeAddress> sweep_all(NextHopUsers& users,
                                   std::map<HomeAddress, NextHopUsers::Uses>& uses,
                                   const Ipv6Address& hop, std::uint64_t started) {
    std::vector<HomeAddress> taken;
    while (auto next = users.take_oldest(hop, started)) {
        NextHopUsers::forget(uses[*next], hop);
        taken.push_back(*next);
    }
    EXPECT_FALSE(users.has_older(hop, started));
    return taken;
}

TEST(NextHopUsers, AUserIsAddedOncePerNextHop) {
    NextHopUsers users;
    NextHopUsers::Uses uses;
    users.add(kRouterA, hoa(1), uses);
    users.add(kRouterA, hoa(1), uses);
    users.add(kRouterB, hoa(1), uses);
    EXPECT_EQ(uses.size(), 2u);
    EXPECT_EQ(users.users(), 2u);
    EXPECT_EQ(users.next_hops(), 2u);
    users.remove_all(uses);
    EXPECT_TRUE(uses.empty());
    EXPECT_EQ(users.users(), 0u);
    EXPECT_EQ(users.next_hops(), 0u);
}

TEST(NextHopUsers, ASweepTakesTheUsersBeforeItOldestFirstAndNoOthers) {
    NextHopUsers users;
    std::map<HomeAddress, NextHopUsers::Uses> uses;
    for (std::uint32_t i = 0; i < 5; ++i) users.add(kRouterA, hoa(i), uses[hoa(i)]);
    users.add(kRouterB, hoa(9), uses[hoa(9)]);
    const auto sweep = users.start_sweep();
    std::vector<HomeAddress> taken;
    for (int n = 0; n < 2; ++n) {
        auto next = users.take_oldest(kRouterA, sweep);
        ASSERT_TRUE(next);
        NextHopUsers::forget(uses[*next], kRouterA);
        taken.push_back(*next);
        users.add(kRouterA, *next, uses[*next]);  // still goes that way: added again
    }
    users.add(kRouterA, hoa(7), uses[hoa(7)]);  // a user new since the sweep started
    EXPECT_TRUE(users.has_older(kRouterA, sweep));
    for (auto& h : sweep_all(users, uses, kRouterA, sweep)) taken.push_back(h);
    EXPECT_EQ(taken, (std::vector<HomeAddress>{hoa(0), hoa(1), hoa(2), hoa(3), hoa(4)}));
    // The users added again (and the new one) stay for the next sweep; router B's are apart.
    EXPECT_EQ(users.users(), 4u);
    EXPECT_EQ(sweep_all(users, uses, kRouterA, users.start_sweep()),
              (std::vector<HomeAddress>{hoa(0), hoa(1), hoa(7)}));
    EXPECT_EQ(sweep_all(users, uses, kRouterB, users.start_sweep()),
              (std::vector<HomeAddress>{hoa(9)}));
    EXPECT_EQ(users.users(), 0u);
    EXPECT_EQ(users.next_hops(), 0u);
    for (auto& [h, u] : uses) EXPECT_TRUE(u.empty());
}

TEST(NextHopUsers, RemovingUsersAnywhereKeepsTheOthersInOrderAndReusesTheirNodes) {
    NextHopUsers users;
    std::map<HomeAddress, NextHopUsers::Uses> uses;
    for (std::uint32_t i = 0; i < 6; ++i) {
        users.add(kRouterA, hoa(i), uses[hoa(i)]);
        users.add(kRouterB, hoa(i), uses[hoa(i)]);
    }
    for (std::uint32_t i : {0u, 3u, 5u}) users.remove_all(uses[hoa(i)]);  // tail, middle, head
    EXPECT_EQ(users.users(), 6u);
    for (std::uint32_t i = 10; i < 13; ++i) users.add(kRouterA, hoa(i), uses[hoa(i)]);
    EXPECT_EQ(users.users(), 9u);
    EXPECT_EQ(sweep_all(users, uses, kRouterA, users.start_sweep()),
              (std::vector<HomeAddress>{hoa(1), hoa(2), hoa(4), hoa(10), hoa(11), hoa(12)}));
    EXPECT_EQ(sweep_all(users, uses, kRouterB, users.start_sweep()),
              (std::vector<HomeAddress>{hoa(1), hoa(2), hoa(4)}));
    EXPECT_EQ(users.users(), 0u);
}

TEST(NextHopUsers, ASweepWithNoUsersBeforeItTakesNothing) {
    NextHopUsers users;
    NextHopUsers::Uses uses;
    EXPECT_FALSE(users.take_oldest(kRouterA, users.start_sweep()));
    const auto sweep = users.start_sweep();
    users.add(kRouterA, hoa(1), uses);
    EXPECT_FALSE(users.has_older(kRouterA, sweep));
    EXPECT_FALSE(users.take_oldest(kRouterA, sweep));
    EXPECT_EQ(users.users(), 1u);
}

}  // namespace
}  // namespace monami::ha
