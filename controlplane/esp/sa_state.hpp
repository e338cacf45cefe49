// The working form of one SA: expanded keys (wiped on destruction), the outbound sequence
// counter or the inbound anti-replay window, and the ESP payload crypto (RFC 4303 s.2,
// RFC 4106 for AES-GCM, RFC 3602 + RFC 4868 for AES-CBC with HMAC-SHA-256-128).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>

#include "controlplane/esp/crypto.hpp"
#include "controlplane/esp/replay_window.hpp"
#include "controlplane/esp/sa.hpp"
#include "dataplane/api/result.hpp"

namespace monami::esp {

// ESP header: SPI and the low 32 bits of the sequence number.
inline constexpr std::size_t kEspHeaderBytes = 8;
// Trailer after the padding: pad length and next header.
inline constexpr std::size_t kEspTrailerBytes = 2;

class SaState {
  public:
    // InvalidSa if the SA fails is_valid(); CryptoFailure if no random IV base can be had.
    static Result<std::unique_ptr<SaState>, EspError> create(const SecurityAssociation& sa,
                                                             CryptoEngine& engine);
    SaState(const SaState&) = delete;
    SaState& operator=(const SaState&) = delete;
    ~SaState();

    std::uint32_t spi() const { return spi_; }
    Direction direction() const { return direction_; }
    const HomeAddress& home_address() const { return home_address_; }
    Algorithm algorithm() const { return algorithm_; }
    const AlgorithmTraits& algorithm_traits() const { return traits_; }
    bool esn() const { return esn_; }

    // Bytes ESP adds around a payload of `payload_bytes`: header, IV, padding, trailer, ICV.
    std::size_t overhead(std::size_t payload_bytes) const;

    // Outbound: the next sequence number to send, or nullopt once the counter would cycle
    // (RFC 4303 s.3.3.3: 2^32-1 without ESN, 2^64-1 with).
    std::optional<std::uint64_t> next_sequence();
    std::uint64_t last_sent_sequence() const { return last_sent_; }
    // Continues a counter saved before a restart, so a manually keyed SA does not send
    // numbers its peer has seen (RFC 4303 s.3.3.3).
    void resume_after(std::uint64_t last_sent) { last_sent_ = last_sent; }
    // The highest number the binding store holds reserved for this SA (all of them
    // without a store): protect() sends nothing beyond it, so a restart that resumes from
    // the stored mark never repeats a number (docs/architecture.md, "Binding store").
    std::uint64_t reserved_until() const { return reserved_until_; }
    void set_reserved_until(std::uint64_t last) { reserved_until_ = last; }

    ReplayWindow& replay_window() { return window_; }
    const ReplayWindow& replay_window() const { return window_; }

    // Writes ESP header, IV, encrypted payload+padding+trailer and ICV for `payload` to
    // `out` (which must be overhead(payload.size()) + payload.size() bytes).
    Result<std::size_t, EspError> seal(std::span<const std::uint8_t> payload,
                                       std::uint8_t next_header, std::uint64_t sequence,
                                       std::span<std::uint8_t> out);

    // Low level, for known-answer tests and seal()/open: `esp` runs from the SPI to the end
    // of the ICV, with the IV and the plaintext (payload, padding, pad length, next header)
    // in place. Encrypts in place and writes the ICV.
    bool encrypt_in_place(std::span<std::uint8_t> esp, std::uint64_t sequence);
    // Verifies the ICV (constant time) and only then decrypts in place. Returns the
    // plaintext (payload, padding, pad length, next header) inside `esp`.
    Result<std::span<std::uint8_t>, EspError> decrypt_in_place(std::span<std::uint8_t> esp,
                                                               std::uint64_t sequence);

  private:
    SaState(const SecurityAssociation& sa, CryptoEngine& engine);
    void write_iv(std::uint64_t sequence, std::span<std::uint8_t> iv);

    CryptoEngine& engine_;
    std::uint32_t spi_;
    Direction direction_;
    HomeAddress home_address_;
    Algorithm algorithm_;
    AlgorithmTraits traits_;
    bool esn_;
    GcmKeySchedule gcm_key_;
    std::array<std::uint8_t, 4> gcm_salt_{};
    CbcKeySchedule cbc_key_;
    HmacSha256Key hmac_key_;
    // Random per SaState so that IVs differ from those of an earlier run with the same
    // manual key (a repeated GCM nonce would reveal plaintext and the GHASH key).
    std::uint64_t iv_base_ = 0;
    std::uint64_t last_sent_ = 0;
    std::uint64_t reserved_until_ = UINT64_MAX;
    ReplayWindow window_;
};

}  // namespace monami::esp
