#include "controlplane/esp/sa.hpp"

#include <cstring>

namespace monami::esp {

std::string_view to_string(EspError error) {
    switch (error) {
#define X(name, field, text) \
    case EspError::name:     \
        return text;
#include "controlplane/esp/errors.def"
#undef X
    }
    return "unknown";
}

std::string_view to_string(Algorithm algorithm) {
    switch (algorithm) {
        case Algorithm::AesGcm128:
            return "aes128-gcm16";
        case Algorithm::AesGcm256:
            return "aes256-gcm16";
        case Algorithm::AesCbc128HmacSha256128:
            return "aes128-cbc-hmac-sha256-128";
        case Algorithm::AesCbc256HmacSha256128:
            return "aes256-cbc-hmac-sha256-128";
    }
    return "unknown";
}

std::string_view to_string(Direction direction) {
    return direction == Direction::Inbound ? "in" : "out";
}

AlgorithmTraits traits(Algorithm algorithm) {
    switch (algorithm) {
        case Algorithm::AesGcm128:
            return {16, 4, 0, 8, 4, 16, true};
        case Algorithm::AesGcm256:
            return {32, 4, 0, 8, 4, 16, true};
        case Algorithm::AesCbc128HmacSha256128:
            return {16, 0, 32, 16, 16, 16, false};
        case Algorithm::AesCbc256HmacSha256128:
            return {32, 0, 32, 16, 16, 16, false};
    }
    return {0, 0, 0, 0, 1, 0, false};
}

void secure_zero(void* data, std::size_t size) {
    if (size == 0) return;
    std::memset(data, 0, size);
    // The asm barrier tells the compiler the zeroed memory is read, so the memset stays.
    asm volatile("" : : "r"(data) : "memory");
}

void SecurityAssociation::wipe_keys() {
    secure_zero(key.data(), key.size());
    secure_zero(auth_key.data(), auth_key.size());
    key.clear();
    auth_key.clear();
}

bool is_valid(const SecurityAssociation& sa) {
    const AlgorithmTraits t = traits(sa.alg);
    if (sa.spi < 256) return false;
    if (sa.key.size() != t.cipher_key_bytes + t.salt_bytes) return false;
    if (sa.auth_key.size() != t.auth_key_bytes) return false;
    if (sa.replay_window % 32 != 0 || sa.replay_window > 4096) return false;
    if (sa.esn && sa.replay_window == 0) return false;
    return true;
}

std::ostream& operator<<(std::ostream& out, const SecurityAssociation& sa) {
    return out << "SA{spi=0x" << std::hex << sa.spi << std::dec << " dir=" << to_string(sa.dir)
               << " hoa=" << sa.home_address.to_string() << " alg=" << to_string(sa.alg) << " key=<"
               << sa.key.size() << " bytes> auth_key=<" << sa.auth_key.size()
               << " bytes> esn=" << sa.esn << " window=" << sa.replay_window << "}";
}

}  // namespace monami::esp
