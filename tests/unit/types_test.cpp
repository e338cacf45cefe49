#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "dataplane/api/address_map.hpp"
#include "dataplane/api/large_pages.hpp"
#include "dataplane/api/types.hpp"

using monami::Ipv6Address;
using monami::Ipv6Prefix;
using monami::MacAddress;

TEST(Ipv6Address, ParsesAndFormats) {
    auto a = Ipv6Address::parse("2001:db8::1");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->bytes[0], 0x20);
    EXPECT_EQ(a->bytes[15], 1);
    EXPECT_EQ(a->to_string(), "2001:db8::1");
    EXPECT_FALSE(Ipv6Address::parse("2001:db8::g"));
    EXPECT_FALSE(Ipv6Address::parse("10.0.0.1"));
}

TEST(Ipv6Address, Classifies) {
    EXPECT_TRUE(Ipv6Address::parse("ff02::1")->is_multicast());
    EXPECT_TRUE(Ipv6Address::parse("fe80::1")->is_link_local());
    EXPECT_FALSE(Ipv6Address::parse("fec0::1")->is_link_local());
    EXPECT_TRUE(Ipv6Address::parse("::1")->is_loopback());
    EXPECT_TRUE(Ipv6Address::parse("::")->is_unspecified());
    EXPECT_EQ(Ipv6Address::parse("2001:db8::12:3456")->solicited_node().to_string(),
              "ff02::1:ff12:3456");
}

TEST(Ipv6Address, OrdersAsItsBytesDo) {
    // Every byte position and both directions, against memcmp of the bytes.
    std::vector<Ipv6Address> all;
    for (int at = 0; at < 16; ++at)
        for (std::uint8_t v : {0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff}) {
            Ipv6Address a{};
            a.bytes.fill(0x80);
            a.bytes[static_cast<std::size_t>(at)] = v;
            all.push_back(a);
        }
    for (const auto& a : all)
        for (const auto& b : all) {
            const int bytes = std::memcmp(a.bytes.data(), b.bytes.data(), 16);
            EXPECT_EQ(a < b, bytes < 0) << a.to_string() << " " << b.to_string();
            EXPECT_EQ(a == b, bytes == 0);
            EXPECT_EQ(a > b, bytes > 0);
        }
    EXPECT_LT(*Ipv6Address::parse("2001:db8::ff"), *Ipv6Address::parse("2001:db8::100"));
    EXPECT_LT(*Ipv6Address::parse("2001:db8:ffff::"), *Ipv6Address::parse("2001:db9::"));
}

TEST(Ipv6Prefix, ParsesAndContains) {
    auto p = Ipv6Prefix::parse("2001:db8:1::/48");
    ASSERT_TRUE(p);
    EXPECT_TRUE(p->contains(*Ipv6Address::parse("2001:db8:1:ffff::5")));
    EXPECT_FALSE(p->contains(*Ipv6Address::parse("2001:db8:2::5")));
    auto odd = Ipv6Prefix::parse("2001:db8:ff00::/41");
    ASSERT_TRUE(odd);
    EXPECT_TRUE(odd->contains(*Ipv6Address::parse("2001:db8:ff7f::1")));
    EXPECT_FALSE(odd->contains(*Ipv6Address::parse("2001:db8:ff80::1")));
    EXPECT_FALSE(Ipv6Prefix::parse("2001:db8::1/64"));  // host bits set
    EXPECT_FALSE(Ipv6Prefix::parse("2001:db8::/129"));
    EXPECT_FALSE(Ipv6Prefix::parse("2001:db8::"));
    EXPECT_FALSE(Ipv6Prefix::parse("2001:db8::/"));
}

TEST(Ipv6Prefix, ContainsAtEveryLength) {
    // Against a bit-by-bit reference: an address differing from the prefix in one bit is
    // inside exactly when that bit lies beyond the prefix length.
    const Ipv6Address base = *Ipv6Address::parse("2001:db8:89ab:cdef:123:4567:89ab:cdef");
    for (unsigned length = 0; length <= 128; ++length) {
        Ipv6Prefix p{base, static_cast<std::uint8_t>(length)};
        EXPECT_TRUE(p.contains(base)) << length;
        for (unsigned bit = 0; bit < 128; ++bit) {
            Ipv6Address flipped = base;
            flipped.bytes[bit / 8] ^= static_cast<std::uint8_t>(0x80u >> (bit % 8));
            EXPECT_EQ(p.contains(flipped), bit >= length) << length << " " << bit;
        }
    }
}

TEST(MacAddress, ParsesAndFormats) {
    auto m = MacAddress::parse("02:00:00:aa:bb:0c");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->to_string(), "02:00:00:aa:bb:0c");
    EXPECT_FALSE(MacAddress::parse("02:00:00:aa:bb"));
    EXPECT_FALSE(MacAddress::parse("02-00-00-aa-bb-0c"));
    EXPECT_EQ(MacAddress::for_ipv6_multicast(*Ipv6Address::parse("ff02::1:ff00:1")).to_string(),
              "33:33:ff:00:00:01");
}

namespace {

// The VmFlags line of the mapping holding `p`, from /proc/self/smaps.
std::string vm_flags_of(const void* p) {
    std::ifstream smaps("/proc/self/smaps");
    const auto at = reinterpret_cast<std::uintptr_t>(p);
    bool inside = false;
    for (std::string line; std::getline(smaps, line);) {
        std::uintptr_t start = 0, end = 0;
        char dash = 0;
        std::istringstream range(line);
        if (range >> std::hex >> start >> dash >> end && dash == '-' &&
            line.find(':') > line.find(' '))
            inside = start <= at && at < end;
        else if (inside && line.rfind("VmFlags:", 0) == 0)
            return line;
    }
    return {};
}

}  // namespace

TEST(LargePages, LargeArraysAreMappedAlignedAndAdvisedForHugePages) {
    const std::size_t bytes = 3 * monami::kLargePageBytes + 4096;
    auto* p = static_cast<std::uint8_t*>(monami::map_large(bytes));
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(p) % monami::kLargePageBytes, 0u);
    std::memset(p, 0xa5, bytes);  // all of it writable
    EXPECT_EQ(p[bytes - 1], 0xa5);
    // "hg": MADV_HUGEPAGE, whatever the host's THP mode makes of it.
    EXPECT_NE(vm_flags_of(p).find(" hg"), std::string::npos) << vm_flags_of(p);
    monami::unmap_large(p, bytes);
    EXPECT_EQ(vm_flags_of(p), "");  // unmapped whole
}

TEST(LargePages, AReservedAddressMapHasItsSlotsOnLargePagesAndSmallOnesStayOnTheHeap) {
    monami::AddressMap<std::uint64_t> big;
    big.reserve(1u << 20);
    Ipv6Address a{};
    for (std::uint32_t i = 0; i < 1000; ++i) {
        std::memcpy(a.bytes.data() + 12, &i, 4);
        big[a] = i;
    }
    std::uint32_t i = 777;
    std::memcpy(a.bytes.data() + 12, &i, 4);
    EXPECT_EQ(big.at(a), 777u);
    EXPECT_NE(vm_flags_of(&*big.find(a)).find(" hg"), std::string::npos);

    monami::AddressMap<std::uint64_t> small;
    small[a] = 1;
    EXPECT_EQ(vm_flags_of(&*small.find(a)).find(" hg"), std::string::npos);
}
