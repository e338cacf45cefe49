#include "controlplane/esp/sa_state.hpp"

#include <sys/random.h>

#include <cstring>

namespace monami::esp {

namespace {

void put_be32(std::uint8_t* p, std::uint32_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 24);
    p[1] = static_cast<std::uint8_t>(v >> 16);
    p[2] = static_cast<std::uint8_t>(v >> 8);
    p[3] = static_cast<std::uint8_t>(v);
}

void put_be64(std::uint8_t* p, std::uint64_t v) {
    put_be32(p, static_cast<std::uint32_t>(v >> 32));
    put_be32(p + 4, static_cast<std::uint32_t>(v));
}

std::size_t round_up(std::size_t n, std::size_t multiple) {
    return (n + multiple - 1) / multiple * multiple;
}

}  // namespace

Result<std::unique_ptr<SaState>, EspError> SaState::create(const SecurityAssociation& sa,
                                                           CryptoEngine& engine) {
    if (!is_valid(sa)) return Err{EspError::InvalidSa};
    std::unique_ptr<SaState> state(new SaState(sa, engine));
    const AlgorithmTraits& t = state->traits_;
    const std::span<const std::uint8_t> key(sa.key);
    const std::span<const std::uint8_t> cipher_key = key.first(t.cipher_key_bytes);
    if (t.aead) {
        if (!engine.expand_gcm_key(cipher_key, state->gcm_key_)) return Err{EspError::InvalidSa};
        std::memcpy(state->gcm_salt_.data(), key.data() + t.cipher_key_bytes, t.salt_bytes);
    } else {
        if (!engine.expand_cbc_key(cipher_key, state->cbc_key_)) return Err{EspError::InvalidSa};
        engine.expand_hmac_sha256_key(sa.auth_key, state->hmac_key_);
    }
    std::uint64_t iv_base = 0;
    if (getrandom(&iv_base, sizeof(iv_base), 0) != static_cast<ssize_t>(sizeof(iv_base))) {
        return Err{EspError::CryptoFailure};
    }
    state->iv_base_ = iv_base;
    return state;
}

SaState::SaState(const SecurityAssociation& sa, CryptoEngine& engine)
    : engine_(engine),
      spi_(sa.spi),
      direction_(sa.dir),
      home_address_(sa.home_address),
      algorithm_(sa.alg),
      traits_(traits(sa.alg)),
      esn_(sa.esn),
      window_(sa.replay_window, sa.esn) {}

SaState::~SaState() {
    secure_zero(gcm_salt_.data(), gcm_salt_.size());
    secure_zero(&iv_base_, sizeof(iv_base_));
}

std::size_t SaState::overhead(std::size_t payload_bytes) const {
    const std::size_t encrypted = round_up(payload_bytes + kEspTrailerBytes, traits_.block_bytes);
    return kEspHeaderBytes + traits_.iv_bytes + (encrypted - payload_bytes) + traits_.icv_bytes;
}

std::optional<std::uint64_t> SaState::next_sequence() {
    const std::uint64_t limit = esn_ ? UINT64_MAX : UINT32_MAX;
    if (last_sent_ >= limit) return std::nullopt;
    return ++last_sent_;
}

void SaState::write_iv(std::uint64_t sequence, std::span<std::uint8_t> iv) {
    if (traits_.aead) {
        // RFC 4106 s.3.1: the IV must never repeat under a key; a counter does that.
        put_be64(iv.data(), iv_base_ + sequence);
        return;
    }
    // RFC 3602 s.2 wants an unpredictable IV: encrypt a unique block under the cipher key
    // (NIST SP 800-38A Appendix C, first method). One-block CBC with a zero IV is ECB.
    alignas(16) std::array<std::uint8_t, kAesBlockBytes> nonce{};
    put_be64(nonce.data(), iv_base_ + sequence);
    put_be32(nonce.data() + 8, spi_);
    const std::array<std::uint8_t, kAesBlockBytes> zero_iv{};
    engine_.cbc_encrypt(cbc_key_, zero_iv, nonce, iv.first(kAesBlockBytes));
}

Result<std::size_t, EspError> SaState::seal(std::span<const std::uint8_t> payload,
                                            std::uint8_t next_header, std::uint64_t sequence,
                                            std::span<std::uint8_t> out) {
    const std::size_t total = payload.size() + overhead(payload.size());
    if (out.size() != total) return Err{EspError::Truncated};
    std::uint8_t* p = out.data();
    put_be32(p, spi_);
    put_be32(p + 4, static_cast<std::uint32_t>(sequence));
    write_iv(sequence, out.subspan(kEspHeaderBytes, traits_.iv_bytes));
    std::uint8_t* text = p + kEspHeaderBytes + traits_.iv_bytes;
    if (!payload.empty()) std::memcpy(text, payload.data(), payload.size());
    const std::size_t text_bytes = total - kEspHeaderBytes - traits_.iv_bytes - traits_.icv_bytes;
    const std::size_t pad_bytes = text_bytes - payload.size() - kEspTrailerBytes;
    // RFC 4303 s.2.4: default padding is 1, 2, 3, ...
    for (std::size_t i = 0; i < pad_bytes; ++i) {
        text[payload.size() + i] = static_cast<std::uint8_t>(i + 1);
    }
    text[text_bytes - 2] = static_cast<std::uint8_t>(pad_bytes);
    text[text_bytes - 1] = next_header;
    if (!encrypt_in_place(out, sequence)) return Err{EspError::CryptoFailure};
    return total;
}

bool SaState::encrypt_in_place(std::span<std::uint8_t> esp, std::uint64_t sequence) {
    const std::size_t fixed = kEspHeaderBytes + traits_.iv_bytes + traits_.icv_bytes;
    if (esp.size() < fixed) return false;
    const std::span<std::uint8_t> iv = esp.subspan(kEspHeaderBytes, traits_.iv_bytes);
    const std::span<std::uint8_t> text =
        esp.subspan(kEspHeaderBytes + traits_.iv_bytes, esp.size() - fixed);
    const std::span<std::uint8_t> icv = esp.last(traits_.icv_bytes);
    if (text.size() % traits_.block_bytes != 0) return false;
    const auto sequence_high = static_cast<std::uint32_t>(sequence >> 32);

    if (traits_.aead) {
        std::array<std::uint8_t, kGcmNonceBytes> nonce{};
        std::memcpy(nonce.data(), gcm_salt_.data(), gcm_salt_.size());
        std::memcpy(nonce.data() + gcm_salt_.size(), iv.data(), iv.size());
        // RFC 4106 s.5: AAD is SPI and the 32-bit or the 64-bit sequence number.
        std::array<std::uint8_t, 12> aad{};
        std::memcpy(aad.data(), esp.data(), 4);
        std::size_t aad_bytes = 8;
        if (esn_) {
            put_be32(aad.data() + 4, sequence_high);
            aad_bytes = 12;
        }
        std::memcpy(aad.data() + aad_bytes - 4, esp.data() + 4, 4);
        engine_.gcm_encrypt(gcm_key_, nonce, std::span(aad).first(aad_bytes), text, text,
                            icv.first<kGcmTagBytes>());
        return true;
    }

    std::array<std::uint8_t, kAesBlockBytes> iv_copy{};
    std::memcpy(iv_copy.data(), iv.data(), iv_copy.size());
    if (!engine_.cbc_encrypt(cbc_key_, iv_copy, text, text)) return false;
    // RFC 4303 s.3.3.4: the ICV covers SPI through next header, plus the implicit high
    // 32 bits of an ESN, placed (for the computation only) where the ICV goes.
    std::size_t covered = esp.size() - traits_.icv_bytes;
    if (esn_) {
        put_be32(icv.data(), sequence_high);
        covered += 4;
    }
    std::array<std::uint8_t, 16> tag{};
    if (!engine_.hmac_sha256(hmac_key_, esp.first(covered), tag)) return false;
    std::memcpy(icv.data(), tag.data(), tag.size());
    return true;
}

Result<std::span<std::uint8_t>, EspError> SaState::decrypt_in_place(std::span<std::uint8_t> esp,
                                                                    std::uint64_t sequence) {
    const std::size_t fixed = kEspHeaderBytes + traits_.iv_bytes + traits_.icv_bytes;
    if (esp.size() < fixed + kEspTrailerBytes) return Err{EspError::Truncated};
    const std::span<std::uint8_t> iv = esp.subspan(kEspHeaderBytes, traits_.iv_bytes);
    const std::span<std::uint8_t> text =
        esp.subspan(kEspHeaderBytes + traits_.iv_bytes, esp.size() - fixed);
    const std::span<std::uint8_t> icv = esp.last(traits_.icv_bytes);
    if (text.size() % traits_.block_bytes != 0) return Err{EspError::BadPadding};
    const auto sequence_high = static_cast<std::uint32_t>(sequence >> 32);

    std::array<std::uint8_t, 16> received{};
    std::memcpy(received.data(), icv.data(), received.size());
    std::array<std::uint8_t, 16> computed{};

    if (traits_.aead) {
        std::array<std::uint8_t, kGcmNonceBytes> nonce{};
        std::memcpy(nonce.data(), gcm_salt_.data(), gcm_salt_.size());
        std::memcpy(nonce.data() + gcm_salt_.size(), iv.data(), iv.size());
        std::array<std::uint8_t, 12> aad{};
        std::memcpy(aad.data(), esp.data(), 4);
        std::size_t aad_bytes = 8;
        if (esn_) {
            put_be32(aad.data() + 4, sequence_high);
            aad_bytes = 12;
        }
        std::memcpy(aad.data() + aad_bytes - 4, esp.data() + 4, 4);
        engine_.gcm_decrypt(gcm_key_, nonce, std::span(aad).first(aad_bytes), text, text,
                            std::span(computed).first<kGcmTagBytes>());
        if (!constant_time_equal(received, computed)) {
            // GCM decrypts while it authenticates: do not leave unauthenticated plaintext.
            secure_zero(text.data(), text.size());
            return Err{EspError::BadIcv};
        }
        return text;
    }

    std::size_t covered = esp.size() - traits_.icv_bytes;
    if (esn_) {
        put_be32(icv.data(), sequence_high);
        covered += 4;
    }
    const bool hashed = engine_.hmac_sha256(hmac_key_, esp.first(covered), computed);
    std::memcpy(icv.data(), received.data(), received.size());
    if (!hashed) return Err{EspError::CryptoFailure};
    if (!constant_time_equal(received, computed)) return Err{EspError::BadIcv};
    std::array<std::uint8_t, kAesBlockBytes> iv_copy{};
    std::memcpy(iv_copy.data(), iv.data(), iv_copy.size());
    if (!engine_.cbc_decrypt(cbc_key_, iv_copy, text, text)) return Err{EspError::CryptoFailure};
    return text;
}

}  // namespace monami::esp
