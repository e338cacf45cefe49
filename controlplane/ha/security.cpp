// Control-path protection: ESP for signalling and admission of punted frames, plus the
// HomeAgent hooks that use them (declared in home_agent.hpp, "Security (security.cpp)").
#include "controlplane/ha/security.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <random>

#include "controlplane/ha/home_agent.hpp"
#include "controlplane/mh/exthdr.hpp"
#include "controlplane/net/icmpv6.hpp"
#include "controlplane/net/packet.hpp"

namespace monami::ha {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

std::uint64_t address_hash(const Ipv6Address& a, std::uint64_t seed) {
    // The two halves read as big-endian numbers (8-byte loads, not a loop over the bytes).
    std::uint64_t high, low;
    std::memcpy(&high, a.bytes.data(), 8);
    std::memcpy(&low, a.bytes.data() + 8, 8);
    if constexpr (std::endian::native == std::endian::little) {
        high = __builtin_bswap64(high);
        low = __builtin_bswap64(low);
    }
    return splitmix64(splitmix64(high ^ seed) ^ low);
}

std::uint64_t random_seed() {
    std::random_device device;
    return std::uint64_t{device()} << 32 | device();
}

}  // namespace

// ---- SourceRateLimiter ------------------------------------------------------------------

SourceRateLimiter::SourceRateLimiter(std::uint32_t packets_per_second, std::uint32_t burst,
                                     std::size_t sets, std::uint64_t seed)
    : rate_(std::max<std::uint32_t>(packets_per_second, 1)),
      burst_milli_(std::uint64_t{std::max<std::uint32_t>(burst, 1)} * 1000),
      seed_(seed),
      entries_(std::max<std::size_t>(sets, 1) * kWays) {}

bool SourceRateLimiter::allow(const Ipv6Address& source, std::uint64_t now_ms) {
    const std::size_t sets = entries_.size() / kWays;
    Entry* set = &entries_[(address_hash(source, seed_) % sets) * kWays];
    Entry* entry = nullptr;
    Entry* oldest = &set[0];
    for (std::size_t i = 0; i < kWays; ++i) {
        if (set[i].used && set[i].source == source) {
            entry = &set[i];
            break;
        }
        if (!set[i].used || (oldest->used && set[i].last_ms < oldest->last_ms)) oldest = &set[i];
    }
    if (!entry) {
        if (oldest->used) ++evictions_;
        entry = oldest;
        *entry = Entry{source, now_ms, burst_milli_, true};
    } else if (now_ms > entry->last_ms) {
        entry->tokens_milli =
            std::min(burst_milli_, entry->tokens_milli + (now_ms - entry->last_ms) * rate_);
    }
    entry->last_ms = std::max(entry->last_ms, now_ms);
    if (entry->tokens_milli < 1000) return false;
    entry->tokens_milli -= 1000;
    return true;
}

// ---- ControlSecurity --------------------------------------------------------------------

ControlSecurity::ControlSecurity(const SecuritySettings& settings, std::uint64_t seed)
    : esp_required_(settings.esp_required),
      admission_(settings.admission),
      limiter_(settings.admission.packets_per_second, settings.admission.burst,
               settings.admission.table_sets, seed) {}

std::unique_ptr<ControlSecurity> ControlSecurity::create(SecuritySettings settings,
                                                         std::string& error) {
    std::unique_ptr<ControlSecurity> security(new ControlSecurity(settings, random_seed()));
    security->endpoint_ = esp::EspEndpoint::create();
    const bool needs_crypto = settings.esp_required || !settings.sas.empty();
    if (!security->endpoint_ && needs_crypto) {
        error = "the IPsec-MB crypto library could not start";
        for (auto& sa : settings.sas) sa.wipe_keys();
        return nullptr;
    }
    for (auto& sa : settings.sas) {
        auto added = security->endpoint_->sas().add(sa);
        sa.wipe_keys();
        if (!added && error.empty()) {
            // The SA's printable form leaves the keys out.
            error = "security SA spi " + std::to_string(sa.spi) + " (" +
                    std::string(esp::to_string(sa.dir)) + ", " + sa.home_address.to_string() +
                    "): " + std::string(esp::to_string(added.error()));
        }
    }
    if (!error.empty()) return nullptr;
    return security;
}

void ControlSecurity::set_admission(const AdmissionSettings& admission) {
    admission_ = admission;
    limiter_ = SourceRateLimiter(admission.packets_per_second, admission.burst,
                                 admission.table_sets, random_seed());
}

bool ControlSecurity::remove_sa(std::uint32_t spi, esp::Direction direction) {
    if (!endpoint_) return false;
    endpoint_->forget_last_outbound();
    return endpoint_->sas().remove(spi, direction);
}

Result<esp::SaState*, std::string> ControlSecurity::add_sa(esp::SecurityAssociation& sa) {
    if (!endpoint_) endpoint_ = esp::EspEndpoint::create();
    if (!endpoint_) {
        sa.wipe_keys();
        return Err{std::string("the IPsec-MB crypto library could not start")};
    }
    auto added = endpoint_->sas().add(sa);
    sa.wipe_keys();
    if (!added)
        return Err{"security SA spi " + std::to_string(sa.spi) + " (" +
                   std::string(esp::to_string(sa.dir)) + ", " + sa.home_address.to_string() +
                   "): " + std::string(esp::to_string(added.error()))};
    return added.value();
}

Result<std::vector<std::uint8_t>, esp::EspError> ControlSecurity::open(
    std::span<const std::uint8_t> ip) {
    if (!endpoint_) return Err{esp::EspError::UnknownSpi};
    return endpoint_->unprotect(ip);
}

Result<std::vector<std::uint8_t>, esp::EspError> ControlSecurity::protect(
    std::span<const std::uint8_t> ip) {
    if (!endpoint_) return Err{esp::EspError::NoOutboundSa};
    return endpoint_->protect(ip);
}

bool ControlSecurity::has_outbound_sa(const HomeAddress& home_address) const {
    return endpoint_ && endpoint_->sas().find_outbound(home_address) != nullptr;
}

ControlSecurity::Admission ControlSecurity::admit(const Ipv6Address& source, bool known,
                                                  PortId port, PuntReason reason, std::uint16_t aux,
                                                  std::span<const std::uint8_t> frame,
                                                  std::uint64_t now_ms) {
    if (!limiter_.allow(source, now_ms)) return Admission::RateLimited;
    if (known) return Admission::Now;
    // Unknown sources: a share per iteration, in arrival order behind those already queued.
    if (queue_.empty() && unknown_this_iteration_ < admission_.unknown_per_iteration) {
        ++unknown_this_iteration_;
        return Admission::Now;
    }
    if (queue_.size() >= admission_.unknown_queue) return Admission::QueueFull;
    queue_.push_back({port, reason, aux, std::vector<std::uint8_t>(frame.begin(), frame.end())});
    return Admission::Deferred;
}

std::vector<ControlSecurity::DeferredFrame> ControlSecurity::next_iteration() {
    std::vector<DeferredFrame> due;
    const std::size_t take = std::min(queue_.size(), admission_.unknown_per_iteration);
    for (std::size_t i = 0; i < take; ++i) {
        due.push_back(std::move(queue_.front()));
        queue_.pop_front();
    }
    unknown_this_iteration_ = take;
    return due;
}

void ControlSecurity::set_known(const HomeAddress& home_address,
                                const std::vector<Ipv6Address>& sources) {
    sorted_.assign(sources.begin(), sources.end());
    std::sort(sorted_.begin(), sorted_.end());
    sorted_.erase(std::unique(sorted_.begin(), sorted_.end()), sorted_.end());
    auto it = known_by_hoa_.find(home_address);
    if (it != known_by_hoa_.end()) {
        if (it->second == sorted_) return;  // a refresh from the same addresses
        for (const auto& a : it->second)
            if (auto k = known_.find(a); k != known_.end() && --k->second == 0) known_.erase(k);
        if (sorted_.empty()) {
            known_by_hoa_.erase(it);
            return;
        }
    }
    if (sorted_.empty()) return;
    for (const auto& a : sorted_) ++known_[a];
    if (it != known_by_hoa_.end())
        it->second.assign(sorted_.begin(), sorted_.end());
    else
        known_by_hoa_.emplace(home_address, sorted_);
}

std::vector<std::pair<std::string, std::uint64_t>> ControlSecurity::esp_counter_items() const {
    std::vector<std::pair<std::string, std::uint64_t>> items;
    if (!endpoint_) return items;
    const esp::EspCounters& c = endpoint_->counters();
    items.emplace_back("esp_protected_packets", c.protected_packets);
    items.emplace_back("esp_unprotected_packets", c.unprotected_packets);
#define X(name, field, text) items.emplace_back("esp_" text, c.field);
#include "controlplane/esp/errors.def"
#undef X
    return items;
}

// ---- HomeAgent hooks --------------------------------------------------------------------

void HomeAgent::init_security(SecuritySettings settings) {
    std::string error;
    security_ = ControlSecurity::create(std::move(settings), error);
    if (!security_) {
        // Fail closed: without its SAs the agent accepts no signalling at all.
        security_error_ = error;
        SecuritySettings closed;
        closed.esp_required = true;
        std::string ignored;
        security_ = ControlSecurity::create(std::move(closed), ignored);
    }
}

bool HomeAgent::admit_frame(PortId port, PuntReason reason, std::uint16_t aux,
                            std::span<const std::uint8_t> frame, std::uint64_t now_ms) {
    if (frame.size() < net::kEthernetHeaderSize + 40) return true;  // malformed: cheap to handle
    const std::uint8_t* ip = frame.data() + net::kEthernetHeaderSize;
    const Ipv6Address source = Ipv6Address::from_bytes(ip + 8);
    const bool known =
        security_->is_known(source) || learned_.count(source) != 0 ||
        std::any_of(settings_.static_neighbors.begin(), settings_.static_neighbors.end(),
                    [&](const Neighbor& n) { return n.address == source; });
    switch (security_->admit(source, known, port, reason, aux, frame, now_ms)) {
        case ControlSecurity::Admission::Now:
            return true;
        case ControlSecurity::Admission::Deferred:
            ++counters_.control_deferred;
            return false;
        case ControlSecurity::Admission::RateLimited:
            ++counters_.control_rate_limited;
            return false;
        case ControlSecurity::Admission::QueueFull:
            ++counters_.control_deferred_drops;
            return false;
    }
    return false;
}

void HomeAgent::handle_deferred(std::uint64_t now_ms) {
    for (auto& f : security_->next_iteration()) dispatch(f.port, f.reason, f.aux, f.frame, now_ms);
}

void HomeAgent::update_known_sources(const HomeAddress& hoa, const bcache::HoaEntry* entry) {
    known_sources_.clear();
    if (entry && !entry->bindings.empty()) {
        known_sources_.push_back(entry->home_address);
        for (const auto& b : entry->bindings) known_sources_.push_back(b.care_of);
    }
    security_->set_known(hoa, known_sources_);
}

std::optional<std::vector<std::uint8_t>> HomeAgent::open_signalling(
    std::span<const std::uint8_t> ip, bool& was_protected) {
    auto chain = mh::walk_ipv6_headers(ip);
    was_protected = chain && chain->upper_layer_protocol == mh::kIpProtoEsp;
    if (!was_protected) {
        if (security_->esp_required()) {
            ++counters_.esp_required_drops;
            return std::nullopt;
        }
        return std::vector<std::uint8_t>(ip.begin(), ip.end());
    }
    auto opened = security_->open(ip);
    if (!opened) {
        ++counters_.esp_rejected;
        return std::nullopt;
    }
    ++counters_.esp_opened;
    return std::move(opened.value());
}

bool HomeAgent::signalling_needs_esp(bool reply_to_protected) const {
    return security_->esp_required() || reply_to_protected;
}

std::optional<std::vector<std::uint8_t>> HomeAgent::protect_signalling(
    std::span<const std::uint8_t> ip, bool reply_to_protected) {
    if (!signalling_needs_esp(reply_to_protected))
        return std::vector<std::uint8_t>(ip.begin(), ip.end());
    auto sealed = security_->protect(ip);
    note_outbound_sequence();  // the binding store keeps a block of numbers reserved ahead
    if (!sealed) {
        ++counters_.esp_protect_failures;
        return std::nullopt;
    }
    ++counters_.esp_protected_sent;
    return std::move(sealed.value());
}

std::vector<std::pair<std::string, std::uint64_t>> HomeAgent::counter_items() const {
    std::vector<std::pair<std::string, std::uint64_t>> items;
    for (const auto& [name, value] : counters_.items()) items.emplace_back(name, value);
    for (auto& item : security_->esp_counter_items()) items.push_back(std::move(item));
    return items;
}

}  // namespace monami::ha
