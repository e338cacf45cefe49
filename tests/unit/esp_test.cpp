// ESP (RFC 4303) for Mobile IPv6 signalling: crypto known answers, anti-replay window,
// transport-mode protect/unprotect and their typed errors.
#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/esp/crypto.hpp"
#include "controlplane/esp/replay_window.hpp"
#include "controlplane/esp/sa.hpp"
#include "controlplane/esp/sa_state.hpp"

namespace {

using namespace monami::esp;
using Bytes = std::vector<std::uint8_t>;

Bytes hex(std::string_view text) {
    Bytes out;
    auto nibble = [](char c) {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        return c - 'A' + 10;
    };
    std::size_t i = 0;
    while (i + 1 < text.size()) {
        if (text[i] == ' ') {
            ++i;
            continue;
        }
        out.push_back(static_cast<std::uint8_t>(nibble(text[i]) << 4 | nibble(text[i + 1])));
        i += 2;
    }
    return out;
}

Bytes ascii(std::string_view text) {
    return Bytes(text.begin(), text.end());
}

class Crypto : public ::testing::Test {
  protected:
    void SetUp() override {
        engine = CryptoEngine::create();
        ASSERT_NE(engine, nullptr);
    }
    std::unique_ptr<CryptoEngine> engine;
};

// ---- AES-GCM: McGrew & Viega, "The Galois/Counter Mode of Operation", test cases 3/4 ---

TEST_F(Crypto, GcmTestCase3And4) {
    const Bytes key = hex("feffe9928665731c6d6a8f9467308308");
    const Bytes nonce = hex("cafebabefacedbaddecaf888");
    const Bytes plaintext =
        hex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
            "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255");
    const Bytes ciphertext =
        hex("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
            "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985");
    GcmKeySchedule schedule;
    ASSERT_TRUE(engine->expand_gcm_key(key, schedule));
    std::array<std::uint8_t, 12> n{};
    std::copy(nonce.begin(), nonce.end(), n.begin());

    // Test case 3: no AAD.
    Bytes out(plaintext.size());
    std::array<std::uint8_t, 16> tag{};
    engine->gcm_encrypt(schedule, n, {}, plaintext, out, tag);
    EXPECT_EQ(out, ciphertext);
    EXPECT_EQ(Bytes(tag.begin(), tag.end()), hex("4d5c2af327cd64a62cf35abd2ba6fab4"));

    // Test case 4: 60-byte plaintext with 20 bytes of AAD.
    const Bytes aad = hex("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    const Bytes p4(plaintext.begin(), plaintext.end() - 4);
    Bytes c4(p4.size());
    engine->gcm_encrypt(schedule, n, aad, p4, c4, tag);
    EXPECT_EQ(c4, Bytes(ciphertext.begin(), ciphertext.end() - 4));
    EXPECT_EQ(Bytes(tag.begin(), tag.end()), hex("5bc94fbc3221a5db94fae95ae7121a47"));

    Bytes back(c4.size());
    std::array<std::uint8_t, 16> computed{};
    engine->gcm_decrypt(schedule, n, aad, c4, back, computed);
    EXPECT_EQ(back, p4);
    EXPECT_EQ(computed, tag);
}

// ---- AES-CBC: RFC 3602 s.4 cases 1-3, NIST SP 800-38A F.2.5 (AES-256) ------------------

struct CbcVector {
    const char* key;
    const char* iv;
    Bytes plaintext;
    const char* ciphertext;
};

TEST_F(Crypto, CbcKnownAnswers) {
    Bytes counting(32);
    for (std::size_t i = 0; i < counting.size(); ++i) counting[i] = static_cast<std::uint8_t>(i);
    const CbcVector vectors[] = {
        {"06a9214036b8a15b512e03d534120006", "3dafba429d9eb430b422da802c9fac41",
         ascii("Single block msg"), "e353779c1079aeb82708942dbe77181a"},
        {"c286696d887c9aa0611bbb3e2025a45a", "562e17996d093d28ddb3ba695a2e6f58", counting,
         "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1"},
        {"6c3ea0477630ce21a2ce334aa746c2cd", "c782dc4c098c66cbd9cd27d825682c81",
         ascii("This is a 48-byte message (exactly 3 AES blocks)"),
         "d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5"
         "021c19216bad525c8579695d83ba2684"},
        {"603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
         "000102030405060708090a0b0c0d0e0f",
         hex("6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51"
             "30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"),
         "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d"
         "39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b"},
    };
    for (const auto& v : vectors) {
        SCOPED_TRACE(v.ciphertext);
        CbcKeySchedule schedule;
        ASSERT_TRUE(engine->expand_cbc_key(hex(v.key), schedule));
        std::array<std::uint8_t, 16> iv{};
        const Bytes iv_bytes = hex(v.iv);
        std::copy(iv_bytes.begin(), iv_bytes.end(), iv.begin());
        Bytes out(v.plaintext.size());
        ASSERT_TRUE(engine->cbc_encrypt(schedule, iv, v.plaintext, out));
        EXPECT_EQ(out, hex(v.ciphertext));
        ASSERT_TRUE(engine->cbc_decrypt(schedule, iv, out, out));  // in place
        EXPECT_EQ(out, v.plaintext);
    }
}

TEST_F(Crypto, CbcRejectsPartialBlocks) {
    CbcKeySchedule schedule;
    ASSERT_TRUE(engine->expand_cbc_key(Bytes(16, 1), schedule));
    const std::array<std::uint8_t, 16> iv{};
    Bytes data(17);
    EXPECT_FALSE(engine->cbc_encrypt(schedule, iv, data, data));
    EXPECT_FALSE(engine->expand_cbc_key(Bytes(24, 1), schedule));
}

// ---- HMAC-SHA-256: RFC 4231 s.4; truncated to 128 bits as RFC 4868 uses it ------------

struct HmacVector {
    Bytes key;
    Bytes data;
    const char* mac;
};

TEST_F(Crypto, HmacSha256Rfc4231) {
    Bytes key4(25);
    for (std::size_t i = 0; i < key4.size(); ++i) key4[i] = static_cast<std::uint8_t>(i + 1);
    const HmacVector vectors[] = {
        {Bytes(20, 0x0b), ascii("Hi There"),
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {ascii("Jefe"), ascii("what do ya want for nothing?"),
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {Bytes(20, 0xaa), Bytes(50, 0xdd),
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
        {key4, Bytes(50, 0xcd), "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
        {Bytes(131, 0xaa), ascii("Test Using Larger Than Block-Size Key - Hash Key First"),
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
        {Bytes(131, 0xaa),
         ascii("This is a test using a larger than block-size key and a larger than "
               "block-size data. The key needs to be hashed before being used by the HMAC "
               "algorithm."),
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
    };
    for (const auto& v : vectors) {
        SCOPED_TRACE(v.mac);
        HmacSha256Key key;
        engine->expand_hmac_sha256_key(v.key, key);
        Bytes full(32);
        ASSERT_TRUE(engine->hmac_sha256(key, v.data, full));
        EXPECT_EQ(full, hex(v.mac));
        Bytes truncated(16);
        ASSERT_TRUE(engine->hmac_sha256(key, v.data, truncated));
        EXPECT_EQ(truncated, Bytes(full.begin(), full.begin() + 16));
    }
}

// ---- ESP payloads: draft-mcgrew-gcm-test-01 s.4 (RFC 4106 with 32-bit and 64-bit ESN) --

struct GcmEspVector {
    const char* key_and_salt;
    std::uint32_t spi;
    std::uint64_t sequence;
    bool esn;
    const char* iv;
    const char* plaintext;  // payload, padding, pad length, next header
    const char* ciphertext_and_icv;
};

const GcmEspVector kGcmEspVectors[] = {
    // 32-bit sequence numbers (8-byte AAD).
    {"feffe9928665731c6d6a8f9467308308 cafebabe", 0x0000a5f8, 0x0a, false, "facedbaddecaf888",
     "4500003e698f000080114dccc0a80102c0a801010a980035002a2343b2d00100"
     "00010000000000000373697009637962"
     "65726369747902646b00000100010001",
     "deb22cd9b07c72c16e3a65beeb8df304a5a5897d33ae530f1ba76d5d114d2a5c"
     "3de81827c10e9a4f51330d0eec416642cfbb85a5b47e48a4ec3b9ba95d918bd1"
     "83b70d3aa8bc6ee4c309e9d85a41ad4a"},
    {"abbccddef00112233445566778899aababbccddef00112233445566778899aab 11223344", 0x4a2cbfe3, 2,
     false, "0102030405060708",
     "4500003069a6400080062690c0a801029389155e0a9e008b2dc57ee000000000"
     "7002400020bf0000020405b40101040201020201",
     "ff425c9b724599df7a3bcd510194e00d6a78107f1b0b1cbf06efae9d65a5d763"
     "748a637985771d347f0545659f14e99def842d8e"
     "b335f4eecfdbf831824b4c4915956c96"},
    // 64-bit Extended Sequence Numbers (12-byte AAD).
    {"4c80cdefbb5d10da906ac73c3613a634 2e443b68", 0x00004321, 0x8765432100000000, true,
     "4956ed7e3b244cfe",
     "45000048699a000080114db7c0a80102c0a801010a9bf15638d3010000010000"
     "00000000045f736970045f756470037369700963796265726369747902646b00"
     "0021000101020201",
     "fecf537e729d5b07dc30df528dd22b768d1b98736696a6fd348509fa13ceac34"
     "cfa2436f14a3f3cf65925bf1f4a13c5d15b21e1884f5ff6247aeabb786b93bce"
     "61bc17d768fd9732459018148f6cbe722fd04796562dfdb4"},
    {"abbccddef00112233445566778899aab decaf888", 0x00000100, 1, true, "cafedebaceface74",
     "4500004933ba00007f119106c3fb1d10c2b1d326c02831ce0035dd7b800302d5"
     "00004e20001e8c18d75b81dc91baa0476b91b924b280389d92c963bac046ec95"
     "9b6266c04722b14923010101",
     "18a6fd42f72cbf4ab2a2ea901f73d814e3e7f243d95412e1c349c1d2fbec168f"
     "9190feebaf2cb01984e65863965d7472b79da345e0e780191f0d2f0e0f496c22"
     "6f2127b27db35724e7845d68651f57e65f354f75ff17015769623436"},
    {"abbccddef00112233445566778899aababbccddef00112233445566778899aab 73616c74", 0x17405e67,
     0x156f3126dd0db99b, true, "616e640169766563",
     "45080028732c00004006e9f90a0106120a01038f06b88023dd6bafbecb712602"
     "50101f646d540001",
     "f2d69ecdbd5a0d5b8d5ef38bad4da58d1f278fde98ef67549d524a3018d9a57f"
     "f4d3a31ce673119e451626c2415771e3b7eebca614c89b35"},
};

Bytes esp_bytes(std::uint32_t spi, std::uint64_t sequence, const Bytes& iv, const Bytes& rest) {
    Bytes out = {
        static_cast<std::uint8_t>(spi >> 24),      static_cast<std::uint8_t>(spi >> 16),
        static_cast<std::uint8_t>(spi >> 8),       static_cast<std::uint8_t>(spi),
        static_cast<std::uint8_t>(sequence >> 24), static_cast<std::uint8_t>(sequence >> 16),
        static_cast<std::uint8_t>(sequence >> 8),  static_cast<std::uint8_t>(sequence)};
    out.insert(out.end(), iv.begin(), iv.end());
    out.insert(out.end(), rest.begin(), rest.end());
    return out;
}

TEST_F(Crypto, GcmEspPacketsFromMcGrewTestCases) {
    for (const auto& v : kGcmEspVectors) {
        SCOPED_TRACE(v.iv);
        SecurityAssociation sa;
        sa.spi = v.spi;
        sa.dir = Direction::Inbound;
        sa.key = hex(v.key_and_salt);
        sa.alg = sa.key.size() == 20 ? Algorithm::AesGcm128 : Algorithm::AesGcm256;
        sa.esn = v.esn;
        auto state = SaState::create(sa, *engine);
        ASSERT_TRUE(state.ok());

        const Bytes plaintext = hex(v.plaintext);
        Bytes sealed = esp_bytes(v.spi, v.sequence, hex(v.iv), plaintext);
        sealed.resize(sealed.size() + 16);
        ASSERT_TRUE((*state)->encrypt_in_place(sealed, v.sequence));
        const Bytes expected = esp_bytes(v.spi, v.sequence, hex(v.iv), hex(v.ciphertext_and_icv));
        EXPECT_EQ(sealed, expected);

        auto opened = (*state)->decrypt_in_place(sealed, v.sequence);
        ASSERT_TRUE(opened.ok());
        EXPECT_EQ(Bytes(opened->begin(), opened->end()), plaintext);

        Bytes flipped = expected;
        flipped[20] ^= 0x01;
        auto rejected = (*state)->decrypt_in_place(flipped, v.sequence);
        ASSERT_FALSE(rejected.ok());
        EXPECT_EQ(rejected.error(), EspError::BadIcv);
        if (v.esn) {
            // The high half of an ESN is authenticated though never sent.
            Bytes copy = expected;
            auto wrong_high = (*state)->decrypt_in_place(copy, v.sequence ^ (1ull << 40));
            ASSERT_FALSE(wrong_high.ok());
            EXPECT_EQ(wrong_high.error(), EspError::BadIcv);
        }
    }
}

TEST(ConstantTimeEqual, ComparesAllBytes) {
    const Bytes a = hex("00112233");
    EXPECT_TRUE(constant_time_equal(a, hex("00112233")));
    EXPECT_FALSE(constant_time_equal(a, hex("00112234")));
    EXPECT_FALSE(constant_time_equal(a, hex("10112233")));
    EXPECT_FALSE(constant_time_equal(a, hex("001122")));
}

// ---- Anti-replay window: RFC 4303 s.3.4.3 and Appendix A -------------------------------

TEST(ReplayWindow, AcceptsNewAndRejectsDuplicates) {
    ReplayWindow window(64);
    EXPECT_EQ(window.check(0), ReplayVerdict::TooOld);  // 0 is never sent
    EXPECT_EQ(window.check(1), ReplayVerdict::Fresh);
    window.record(1);
    EXPECT_EQ(window.check(1), ReplayVerdict::Replayed);
    EXPECT_EQ(window.check(3), ReplayVerdict::Fresh);
    window.record(3);
    EXPECT_EQ(window.check(2), ReplayVerdict::Fresh);  // out of order, inside the window
    window.record(2);
    EXPECT_EQ(window.check(2), ReplayVerdict::Replayed);
    EXPECT_EQ(window.highest(), 3u);
}

TEST(ReplayWindow, SlidesAndForgetsWhatFallsOut) {
    ReplayWindow window(64);
    window.record(10);
    window.record(100);  // slides by 90 > 64: everything before 37 is now too old
    EXPECT_EQ(window.check(10), ReplayVerdict::TooOld);
    EXPECT_EQ(window.check(36), ReplayVerdict::TooOld);
    EXPECT_EQ(window.check(37), ReplayVerdict::Fresh);  // the window's left edge
    EXPECT_EQ(window.check(100), ReplayVerdict::Replayed);
    window.record(37);
    window.record(101);  // slide by one: 37 drops out, 38 stays
    EXPECT_EQ(window.check(37), ReplayVerdict::TooOld);
    EXPECT_EQ(window.check(38), ReplayVerdict::Fresh);
    window.record(164);  // the window is now 101..164
    EXPECT_EQ(window.check(100), ReplayVerdict::TooOld);
    EXPECT_EQ(window.check(101), ReplayVerdict::Replayed);
    EXPECT_EQ(window.check(102), ReplayVerdict::Fresh);
}

TEST(ReplayWindow, SlotsReusedAfterSlidingStartUnseen) {
    ReplayWindow window(32);
    for (std::uint64_t s = 1; s <= 32; ++s) window.record(s);
    // Every slot is set; advancing by 5 must clear the slots of 33..37, not keep 1..5's bits.
    window.record(37);
    for (std::uint64_t s = 33; s <= 36; ++s) EXPECT_EQ(window.check(s), ReplayVerdict::Fresh) << s;
    EXPECT_EQ(window.check(37), ReplayVerdict::Replayed);
    EXPECT_EQ(window.check(6), ReplayVerdict::Replayed);
    EXPECT_EQ(window.check(5), ReplayVerdict::TooOld);
}

TEST(ReplayWindow, LargestWindow) {
    ReplayWindow window(ReplayWindow::kMaxSize);
    window.record(5000);
    EXPECT_EQ(window.check(5000 - 4095), ReplayVerdict::Fresh);
    EXPECT_EQ(window.check(5000 - 4096), ReplayVerdict::TooOld);
    window.record(905);
    EXPECT_EQ(window.check(905), ReplayVerdict::Replayed);
}

TEST(ReplayWindow, DisabledWindowOnlyTracks) {
    ReplayWindow window(0);
    window.record(7);
    EXPECT_EQ(window.check(7), ReplayVerdict::Fresh);
    EXPECT_EQ(window.check(1), ReplayVerdict::Fresh);
    EXPECT_EQ(window.highest(), 7u);
}

TEST(ReplayWindow, WithoutEsnTheLowBitsAreTheNumber) {
    ReplayWindow window(64, false);
    window.record(0xfffffff0);
    EXPECT_EQ(window.infer(5), 5u);
}

TEST(ReplayWindow, EsnInfersTheHighHalf) {
    constexpr std::uint64_t kEpoch = 1ull << 32;
    ReplayWindow window(64, true);
    // Case A (Appendix A2.2): the window lies within one epoch.
    window.record(3 * kEpoch + 1000);
    EXPECT_EQ(window.infer(1000), 3 * kEpoch + 1000);
    EXPECT_EQ(window.infer(937), 3 * kEpoch + 937);  // bottom edge
    EXPECT_EQ(window.infer(936), 4 * kEpoch + 936);  // below it: the next epoch
    EXPECT_EQ(window.infer(5000), 3 * kEpoch + 5000);

    // Case B: the window straddles the epoch boundary.
    ReplayWindow straddling(64, true);
    straddling.record(3 * kEpoch + 10);
    EXPECT_EQ(straddling.infer(0xfffffff0), 2 * kEpoch + 0xfffffff0);  // previous epoch
    EXPECT_EQ(straddling.infer(5), 3 * kEpoch + 5);
    EXPECT_EQ(straddling.infer(20), 3 * kEpoch + 20);
    EXPECT_EQ(straddling.check(2 * kEpoch + 0xfffffff0), ReplayVerdict::Fresh);
    EXPECT_EQ(straddling.check(2 * kEpoch + 0xffffffc0), ReplayVerdict::TooOld);

    // Nothing before the first epoch and nothing after the last.
    ReplayWindow fresh(64, true);
    EXPECT_EQ(fresh.infer(1), 1u);
    EXPECT_FALSE(fresh.infer(0xfffffff0).has_value());
    ReplayWindow last(64, true);
    last.record(0xffffffff00001000);
    EXPECT_FALSE(last.infer(5).has_value());
}

TEST(ReplayWindow, EsnCrossesTheEpochBoundary) {
    ReplayWindow window(128, true);
    std::uint64_t sent = 0xffffff00;
    for (int i = 0; i < 0x200; ++i) {
        ++sent;
        auto full = window.infer(static_cast<std::uint32_t>(sent));
        ASSERT_TRUE(full.has_value());
        ASSERT_EQ(*full, sent);
        ASSERT_EQ(window.check(*full), ReplayVerdict::Fresh);
        window.record(*full);
    }
    EXPECT_EQ(window.highest(), 0x100000100u);
    EXPECT_EQ(window.check(*window.infer(0x100)), ReplayVerdict::Replayed);
}

// ---- Security Associations ------------------------------------------------------------

SecurityAssociation gcm_sa(std::uint32_t spi, Direction dir) {
    SecurityAssociation sa;
    sa.spi = spi;
    sa.dir = dir;
    sa.home_address = *monami::Ipv6Address::parse("2001:db8:1::100");
    sa.alg = Algorithm::AesGcm128;
    sa.key = Bytes(20, 0x42);
    return sa;
}

TEST(SecurityAssociation, Validates) {
    SecurityAssociation sa = gcm_sa(0x1000, Direction::Inbound);
    EXPECT_TRUE(is_valid(sa));
    sa.spi = 255;  // reserved (RFC 4303 s.2.1)
    EXPECT_FALSE(is_valid(sa));
    sa = gcm_sa(0x1000, Direction::Inbound);
    sa.key.resize(16);  // salt missing
    EXPECT_FALSE(is_valid(sa));
    sa = gcm_sa(0x1000, Direction::Inbound);
    sa.auth_key = Bytes(32, 1);  // AEAD takes no separate auth key
    EXPECT_FALSE(is_valid(sa));
    sa = gcm_sa(0x1000, Direction::Inbound);
    sa.replay_window = 48;
    EXPECT_FALSE(is_valid(sa));
    sa.replay_window = 4128;
    EXPECT_FALSE(is_valid(sa));
    sa.replay_window = 4096;
    EXPECT_TRUE(is_valid(sa));
    sa.replay_window = 0;
    EXPECT_TRUE(is_valid(sa));
    sa.esn = true;  // ESN needs a window to infer the high bits
    EXPECT_FALSE(is_valid(sa));

    SecurityAssociation cbc = gcm_sa(0x1000, Direction::Outbound);
    cbc.alg = Algorithm::AesCbc256HmacSha256128;
    cbc.key = Bytes(32, 7);
    cbc.auth_key = Bytes(32, 8);
    EXPECT_TRUE(is_valid(cbc));
    cbc.auth_key.resize(20);  // RFC 4868 s.2.1.1: the key is exactly 256 bits
    EXPECT_FALSE(is_valid(cbc));
}

TEST(SecurityAssociation, PrintsNoKeyBytes) {
    SecurityAssociation sa = gcm_sa(0x1234, Direction::Inbound);
    sa.key = hex("a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4");
    std::ostringstream out;
    out << sa;
    const std::string text = out.str();
    EXPECT_NE(text.find("spi=0x1234"), std::string::npos);
    EXPECT_NE(text.find("<20 bytes>"), std::string::npos);
    EXPECT_EQ(text.find("a1"), std::string::npos);
    sa.wipe_keys();
    EXPECT_TRUE(sa.key.empty());
}

TEST(EspError, NamesEveryError) {
    EXPECT_EQ(to_string(EspError::UnknownSpi), "unknown_spi");
    EXPECT_EQ(to_string(EspError::BadIcv), "bad_icv");
    EXPECT_EQ(kEspErrorCount, 14u);
}

}  // namespace
