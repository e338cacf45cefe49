// Thin, typed wrapper over Intel IPsec-MB for the three primitives ESP needs here:
// AES-GCM (RFC 4106), AES-CBC (RFC 3602) and HMAC-SHA-256 (RFC 4868). The library header
// stays in crypto.cpp: it defines many short macros (CBC, SHA_256, ...).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

struct IMB_MGR;

namespace monami::esp {

// Expanded AES-GCM key with its GHASH tables (the library's gcm_key_data).
struct GcmKeySchedule {
    GcmKeySchedule() = default;
    GcmKeySchedule(const GcmKeySchedule&) = delete;
    GcmKeySchedule& operator=(const GcmKeySchedule&) = delete;
    ~GcmKeySchedule();

    alignas(64) std::array<std::uint8_t, 1024> storage{};
    std::size_t key_bytes = 0;
};

// Expanded AES key for CBC: encryption and decryption round keys.
struct CbcKeySchedule {
    CbcKeySchedule() = default;
    CbcKeySchedule(const CbcKeySchedule&) = delete;
    CbcKeySchedule& operator=(const CbcKeySchedule&) = delete;
    ~CbcKeySchedule();

    alignas(16) std::array<std::uint8_t, 240> encrypt{};
    alignas(16) std::array<std::uint8_t, 240> decrypt{};
    std::size_t key_bytes = 0;
};

// HMAC-SHA-256 key as the SHA-256 states after one block of key^ipad and key^opad.
struct HmacSha256Key {
    HmacSha256Key() = default;
    HmacSha256Key(const HmacSha256Key&) = delete;
    HmacSha256Key& operator=(const HmacSha256Key&) = delete;
    ~HmacSha256Key();

    alignas(16) std::array<std::uint8_t, 32> inner_state{};
    alignas(16) std::array<std::uint8_t, 32> outer_state{};
};

inline constexpr std::size_t kGcmNonceBytes = 12;
inline constexpr std::size_t kGcmTagBytes = 16;
inline constexpr std::size_t kAesBlockBytes = 16;

// Owns one IPsec-MB manager. Not thread-safe: one engine per thread that uses it.
class CryptoEngine {
  public:
    // nullptr if the manager cannot be allocated.
    static std::unique_ptr<CryptoEngine> create();
    ~CryptoEngine();
    CryptoEngine(const CryptoEngine&) = delete;
    CryptoEngine& operator=(const CryptoEngine&) = delete;

    // The code path the library picked for this CPU ("sse", "avx", "avx2", "avx512").
    std::string_view architecture() const;

    // Key sizes 16 or 32 bytes; false otherwise.
    bool expand_gcm_key(std::span<const std::uint8_t> key, GcmKeySchedule& out);
    bool expand_cbc_key(std::span<const std::uint8_t> key, CbcKeySchedule& out);
    // Any key length (RFC 2104: keys longer than a block are hashed first).
    void expand_hmac_sha256_key(std::span<const std::uint8_t> key, HmacSha256Key& out);

    // in and out have the same size and may be the same buffer.
    void gcm_encrypt(const GcmKeySchedule& key, std::span<const std::uint8_t, kGcmNonceBytes> nonce,
                     std::span<const std::uint8_t> aad, std::span<const std::uint8_t> in,
                     std::span<std::uint8_t> out, std::span<std::uint8_t, kGcmTagBytes> tag);
    // Writes the tag it computes; the caller compares it with the received one.
    void gcm_decrypt(const GcmKeySchedule& key, std::span<const std::uint8_t, kGcmNonceBytes> nonce,
                     std::span<const std::uint8_t> aad, std::span<const std::uint8_t> in,
                     std::span<std::uint8_t> out, std::span<std::uint8_t, kGcmTagBytes> tag);

    // Sizes multiple of 16; in and out may be the same buffer. False if the job failed.
    bool cbc_encrypt(const CbcKeySchedule& key, std::span<const std::uint8_t, kAesBlockBytes> iv,
                     std::span<const std::uint8_t> in, std::span<std::uint8_t> out);
    bool cbc_decrypt(const CbcKeySchedule& key, std::span<const std::uint8_t, kAesBlockBytes> iv,
                     std::span<const std::uint8_t> in, std::span<std::uint8_t> out);

    // tag is 16 (HMAC-SHA-256-128, RFC 4868) or 32 bytes. False if the job failed.
    bool hmac_sha256(const HmacSha256Key& key, std::span<const std::uint8_t> data,
                     std::span<std::uint8_t> tag);

  private:
    explicit CryptoEngine(IMB_MGR* manager, int architecture);
    IMB_MGR* manager_;
    int architecture_;
};

// Compares without an early exit, so timing does not reveal the first differing byte.
bool constant_time_equal(std::span<const std::uint8_t> a, std::span<const std::uint8_t> b);

}  // namespace monami::esp
