// ESP in transport mode on whole IPv6 packets (RFC 4303 s.3.1.1), as Mobile IPv6
// signalling uses it (RFC 3776 s.3.1, RFC 4877): the headers that routers or the Mobile
// IPv6 layer need stay in clear before ESP, i.e. hop-by-hop options, routing headers
// (including type 2), destination options before a routing header and destination options
// carrying a Home Address option (RFC 6275 s.6.3). Everything after them, the Mobility
// Header, is encrypted.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "controlplane/esp/crypto.hpp"
#include "controlplane/esp/sa.hpp"
#include "controlplane/esp/sa_database.hpp"
#include "dataplane/api/result.hpp"

namespace monami::esp {

inline constexpr std::uint8_t kIpProtoHopByHop = 0;
inline constexpr std::uint8_t kIpProtoRouting = 43;
inline constexpr std::uint8_t kIpProtoDestinationOptions = 60;
inline constexpr std::uint8_t kHomeAddressOptionType = 201;  // RFC 6275 s.6.3
inline constexpr std::uint8_t kRoutingType2 = 2;             // RFC 6275 s.6.4

struct EspCounters {
    std::uint64_t protected_packets = 0;
    std::uint64_t unprotected_packets = 0;
#define X(name, field, text) std::uint64_t field = 0;
#include "controlplane/esp/errors.def"
#undef X

    std::uint64_t& of(EspError error);
    std::uint64_t of(EspError error) const;
};

// Owns the crypto engine, the SA database and the counters. Control-thread only.
class EspEndpoint {
  public:
    // nullptr if the crypto library cannot start.
    static std::unique_ptr<EspEndpoint> create();

    SaDatabase& sas() { return sas_; }
    const SaDatabase& sas() const { return sas_; }
    CryptoEngine& engine() { return *engine_; }
    const EspCounters& counters() const { return counters_; }

    // `packet` starts at the IPv6 header. The outbound SA is the one of the destination's
    // home address: the type 2 routing header's address if present, else the destination.
    Result<std::vector<std::uint8_t>, EspError> protect(std::span<const std::uint8_t> packet);
    // Finds ESP after the clear headers, looks the SPI up among inbound SAs, checks the
    // replay window, verifies the ICV, decrypts, checks padding and that the sender's home
    // address (Home Address option, else source) is the SA's, and returns the packet
    // without ESP.
    Result<std::vector<std::uint8_t>, EspError> unprotect(std::span<const std::uint8_t> packet);
    // The SA the last protect() call used (nullptr before the first).
    SaState* last_outbound() const { return last_outbound_; }
    // Before an SA is removed (a reload): last_outbound() must not name it afterwards.
    void forget_last_outbound() { last_outbound_ = nullptr; }

  private:
    explicit EspEndpoint(std::unique_ptr<CryptoEngine> engine)
        : engine_(std::move(engine)), sas_(*engine_) {}
    Result<std::vector<std::uint8_t>, EspError> count(
        Result<std::vector<std::uint8_t>, EspError> result, std::uint64_t& success_counter);

    std::unique_ptr<CryptoEngine> engine_;
    SaDatabase sas_;
    EspCounters counters_;
    SaState* last_outbound_ = nullptr;
};

}  // namespace monami::esp
