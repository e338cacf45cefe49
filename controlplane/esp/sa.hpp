// Security Associations for ESP-protected Mobile IPv6 signalling (RFC 3776, RFC 4877):
// manual SAs, one per direction, selected by the mobile node's home address.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string_view>
#include <vector>

#include "dataplane/api/types.hpp"

namespace monami::esp {

inline constexpr std::uint8_t kIpProtoEsp = 50;

// Seen from the home agent: Inbound SAs open BUs from the mobile node, Outbound SAs
// protect BAs sent to it.
enum class Direction : std::uint8_t { Inbound, Outbound };

enum class Algorithm : std::uint8_t {
    AesGcm128,               // RFC 4106, 16-byte ICV
    AesGcm256,               // RFC 4106, 16-byte ICV
    AesCbc128HmacSha256128,  // RFC 3602 + RFC 4868
    AesCbc256HmacSha256128,  // RFC 3602 + RFC 4868
};

enum class EspError : std::uint8_t {
#define X(name, field, text) name,
#include "controlplane/esp/errors.def"
#undef X
};

inline constexpr std::size_t kEspErrorCount = 0
#define X(name, field, text) +1
#include "controlplane/esp/errors.def"
#undef X
    ;

std::string_view to_string(EspError error);
std::string_view to_string(Algorithm algorithm);
std::string_view to_string(Direction direction);

struct AlgorithmTraits {
    std::size_t cipher_key_bytes;  // without the GCM salt
    std::size_t salt_bytes;        // RFC 4106 s.8.1: 4 bytes appended to the key
    std::size_t auth_key_bytes;    // 0 for combined-mode (AEAD) ciphers
    std::size_t iv_bytes;          // explicit IV carried in each packet
    std::size_t block_bytes;       // alignment of payload+padding+trailer
    std::size_t icv_bytes;
    bool aead;
};
AlgorithmTraits traits(Algorithm algorithm);

// A manually keyed SA as configuration states it. `key` is the cipher key (for GCM:
// key || 4-byte salt); `auth_key` is the HMAC key (32 bytes, RFC 4868) and empty for GCM.
// The crypto state built from it (SaState) wipes its copies; whoever holds this struct
// calls wipe_keys() once it is no longer needed.
struct SecurityAssociation {
    std::uint32_t spi = 0;
    Direction dir = Direction::Inbound;
    HomeAddress home_address{};
    Algorithm alg = Algorithm::AesGcm128;
    std::vector<std::uint8_t> key;
    std::vector<std::uint8_t> auth_key;
    bool esn = false;
    // Packets; a multiple of 32 up to 4096, or 0 to disable anti-replay (a manually keyed
    // SA whose peer restarts its counter, RFC 4303 s.3.4.3). ESN needs a window.
    std::uint32_t replay_window = 64;

    void wipe_keys();
};

// Checks key lengths, SPI (1..255 are reserved, RFC 4303 s.2.1) and window size.
bool is_valid(const SecurityAssociation& sa);

// Prints everything but key material (also what GoogleTest shows on failure).
std::ostream& operator<<(std::ostream& out, const SecurityAssociation& sa);

// Wipes memory in a way the optimizer cannot elide.
void secure_zero(void* data, std::size_t size);

}  // namespace monami::esp
