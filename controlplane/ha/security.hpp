// Protection of the control path: ESP for Mobile IPv6 signalling (RFC 3776, RFC 4877) and
// admission of punted frames (per-source token buckets, priority of known peers).
// The HomeAgent calls these from small hooks; heartbeats and BRRs go through the same
// protect/open functions as BUs and BAs.
#pragma once

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "controlplane/esp/sa.hpp"
#include "controlplane/esp/transport.hpp"
#include "controlplane/ha/address_hash.hpp"
#include "dataplane/api/address_map.hpp"
#include "dataplane/api/control.hpp"
#include "dataplane/api/result.hpp"
#include "dataplane/api/types.hpp"

namespace monami::ha {

struct AdmissionSettings {
    std::uint32_t packets_per_second = 1000;  // per source address (security.control_rate_limit)
    std::uint32_t burst = 100;
    std::size_t table_sets = 1024;  // hashed buckets: sets x 4 ways, LRU within a set
    // Frames from sources without a binding or neighbor entry handled per control
    // iteration; the rest wait in a bounded queue (dropped and counted when it is full).
    // One burst of the control ring: a registration storm (every BU from a new CoA) is
    // handled as it is dequeued, not copied and held back (16 here halved the first
    // registrations through the daemon, docs/performance.md "The whole daemon").
    std::size_t unknown_per_iteration = 32;
    std::size_t unknown_queue = 512;
};

struct SecuritySettings {
    bool esp_required = false;  // security.mode: esp
    std::vector<esp::SecurityAssociation> sas;
    AdmissionSettings admission;
};

// Token bucket per source address in a fixed table: a set-associative cache keyed by a
// seeded hash, so memory stays bounded whatever the number of (spoofed) sources and an
// attacker cannot aim at a victim's set. A source evicted and seen again starts full.
class SourceRateLimiter {
  public:
    static constexpr std::size_t kWays = 4;
    SourceRateLimiter(std::uint32_t packets_per_second, std::uint32_t burst, std::size_t sets,
                      std::uint64_t seed);
    bool allow(const Ipv6Address& source, std::uint64_t now_ms);
    std::size_t capacity() const { return entries_.size(); }
    std::uint64_t evictions() const { return evictions_; }

  private:
    struct Entry {
        Ipv6Address source;
        std::uint64_t last_ms = 0;
        std::uint64_t tokens_milli = 0;  // tokens x 1000
        bool used = false;
    };
    std::uint64_t rate_;  // tokens_milli gained per ms == packets per second
    std::uint64_t burst_milli_;
    std::uint64_t seed_;
    std::vector<Entry> entries_;
    std::uint64_t evictions_ = 0;
};

class ControlSecurity {
  public:
    // nullptr and `error` set when an SA is invalid or the crypto library cannot start.
    // Wipes the keys in `settings` once the SA states hold them.
    static std::unique_ptr<ControlSecurity> create(SecuritySettings settings, std::string& error);

    bool esp_required() const { return esp_required_; }
    bool has_sas() const { return endpoint_ && endpoint_->sas().size() != 0; }
    const esp::EspCounters* esp_counters() const {
        return endpoint_ ? &endpoint_->counters() : nullptr;
    }

    // Signalling arriving: `ip` starts at the IPv6 header and carries ESP after its clear
    // headers. The packet without ESP, or why it does not open (also counted by the
    // endpoint: unknown_spi, replayed, bad_icv, ...).
    Result<std::vector<std::uint8_t>, esp::EspError> open(std::span<const std::uint8_t> ip);
    // Signalling leaving (BA, BRR, heartbeat) towards a home address: inside ESP with the
    // outbound SA of that home address (type 2 routing header, else destination).
    Result<std::vector<std::uint8_t>, esp::EspError> protect(std::span<const std::uint8_t> ip);
    bool has_outbound_sa(const HomeAddress& home_address) const;
    // The SAs (nullptr without any), and the one the last protect() used: the binding
    // store keeps their sequence number marks (persistence.cpp).
    esp::SaDatabase* sa_database() { return endpoint_ ? &endpoint_->sas() : nullptr; }
    esp::SaState* last_outbound() const { return endpoint_ ? endpoint_->last_outbound() : nullptr; }

    // Admission of a punted frame: Now (handle it), Deferred (queued: an unknown source
    // beyond this iteration's share), RateLimited or QueueFull (dropped).
    enum class Admission : std::uint8_t { Now, Deferred, RateLimited, QueueFull };
    Admission admit(const Ipv6Address& source, bool known, PortId port, PuntReason reason,
                    std::uint16_t aux, std::span<const std::uint8_t> frame, std::uint64_t now_ms);
    struct DeferredFrame {
        PortId port;
        PuntReason reason;
        std::uint16_t aux;
        std::vector<std::uint8_t> frame;
    };
    // Starts a control iteration: up to `unknown_per_iteration` deferred frames to handle now.
    std::vector<DeferredFrame> next_iteration();
    std::size_t deferred() const { return queue_.size(); }

    // Sources that have bindings (HoAs and CoAs), kept per home address.
    void set_known(const HomeAddress& home_address, const std::vector<Ipv6Address>& sources);
    bool is_known(const Ipv6Address& source) const { return known_.count(source) != 0; }
    // Room for `home_addresses` HoAs with `bindings` CoAs (no rehash while they register).
    void reserve(std::size_t home_addresses, std::size_t bindings) {
        known_.reserve(home_addresses + bindings);
        known_by_hoa_.reserve(home_addresses);
    }

    // A configuration reload (HomeAgent::reconfigure): whether ESP is required, and the
    // admission limits (the per-source buckets start full again).
    void set_esp_required(bool required) { esp_required_ = required; }
    void set_admission(const AdmissionSettings& admission);
    // SAs a reload removes or adds (keys wiped once the SA state holds them). Adding starts
    // the crypto library when no SA needed it before. The error names the SA, never keys.
    bool remove_sa(std::uint32_t spi, esp::Direction direction);
    Result<esp::SaState*, std::string> add_sa(esp::SecurityAssociation& sa);

    // The ESP endpoint's counters as esp_<name> (empty without SAs).
    std::vector<std::pair<std::string, std::uint64_t>> esp_counter_items() const;

  private:
    ControlSecurity(const SecuritySettings& settings, std::uint64_t seed);
    bool esp_required_ = false;
    std::unique_ptr<esp::EspEndpoint> endpoint_;
    AdmissionSettings admission_;
    SourceRateLimiter limiter_;
    std::deque<DeferredFrame> queue_;
    std::size_t unknown_this_iteration_ = 0;
    AddressMap<std::uint32_t> known_;
    AddressMap<std::vector<Ipv6Address>> known_by_hoa_;
    std::vector<Ipv6Address> sorted_;  // set_known's scratch, reused
};

}  // namespace monami::ha
