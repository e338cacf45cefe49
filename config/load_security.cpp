// security: mode, anti-replay and manually keyed SAs (RFC 4877). Depends only on
// the home prefixes, which every protected home address must be inside.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <string>

#include "config/sections.hpp"
#include "config/yaml_reader.hpp"

namespace monami::config::detail {
namespace {

std::string hex32(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%x", v);
    return buf;
}

class SecurityLoader {
  public:
    SecurityLoader(Diagnostics& d, const std::vector<Ipv6Prefix>& home_prefixes, Security& out)
        : d_(d), home_prefixes_(home_prefixes), out_(out) {}

    void load(const YAML::Node& n) {
        Fields f(d_, n, "security", {"mode", "replay_window", "esn", "sas", "control_rate_limit"});
        if (!f.is_map()) return;
        auto& sec = out_;
        auto mode = f.get("mode");
        if (mode)
            read_enum<SecurityMode>(d_, *mode, "security.mode",
                                    {{"none", SecurityMode::none}, {"esp", SecurityMode::esp}},
                                    sec.mode);
        if (auto window = f.get("replay_window")) {
            std::uint32_t value = 0;
            if (read_integer(d_, *window, "security.replay_window", 32, 4096, value)) {
                if (value % 32 != 0)
                    d_.error(*window, "security.replay_window: " + std::to_string(value) +
                                          " is not a multiple of 32");
                else
                    sec.replay_window = value;
            }
        }
        f.boolean("esn", sec.esn);
        if (auto sas = f.get("sas")) security_associations(*sas);
        if (auto limit = f.get("control_rate_limit")) {
            Fields rl(d_, *limit, "security.control_rate_limit", {"packets_per_second", "burst"});
            if (rl.is_map()) {
                rl.integer("packets_per_second", 1, 100'000'000,
                           sec.control_rate_limit.packets_per_second);
                rl.integer("burst", 1, 1'000'000, sec.control_rate_limit.burst);
            }
        }
        if (sec.mode == SecurityMode::esp && sec.sas.empty() && !sas_seen_)
            d_.error(*mode, "security.mode: 'esp' needs at least one SA in security.sas");
        if (sec.mode == SecurityMode::esp) check_sa_pairs();
    }

    // RFC 3776/4877: BUs (in) and BAs (out) are both protected, so in ESP mode a
    // home address with an SA in one direction needs one in the other too.
    void check_sa_pairs() {
        for (std::size_t i = 0; i < sa_sites_.size(); ++i) {
            const auto& site = sa_sites_[i];
            bool first_for_hoa = std::none_of(sa_sites_.begin(), sa_sites_.begin() + i,
                                              [&](const auto& s) { return s.hoa == site.hoa; });
            bool paired = std::any_of(sa_sites_.begin(), sa_sites_.end(), [&](const auto& s) {
                return s.hoa == site.hoa && s.direction != site.direction;
            });
            if (first_for_hoa && !paired) {
                auto other = site.direction == SaDirection::in ? SaDirection::out : SaDirection::in;
                d_.error(site.node, site.path + ": home address " + site.hoa.to_string() +
                                        " has an '" + std::string(to_string(site.direction)) +
                                        "' SA but no '" + std::string(to_string(other)) + "' SA");
            }
        }
    }

    void security_associations(const YAML::Node& n) {
        std::map<std::pair<SaDirection, std::uint32_t>, int> spi_lines;
        for_each_item(
            d_, n, "security.sas", [&](const YAML::Node& item, const std::string& path, auto) {
                sas_seen_ = true;
                Fields f(d_, item, path,
                         {"spi", "direction", "home_address", "algorithm", "key", "auth_key"});
                if (!f.is_map()) return;
                SecurityAssociation sa;
                auto spi = f.require("spi");
                bool spi_ok = spi && read_integer(d_, *spi, f.path_of("spi"), 256,
                                                  std::int64_t{UINT32_MAX}, sa.spi);
                auto direction = f.require("direction");
                bool direction_ok =
                    direction &&
                    read_enum<SaDirection>(d_, *direction, f.path_of("direction"),
                                           {{"in", SaDirection::in}, {"out", SaDirection::out}},
                                           sa.direction);
                if (spi_ok && direction_ok) {
                    auto [it, fresh] =
                        spi_lines.emplace(std::pair(sa.direction, sa.spi), line_of(*spi));
                    if (!fresh)
                        d_.error(*spi, f.path_of("spi") + ": duplicate SPI " + hex32(sa.spi) +
                                           " for direction " +
                                           std::string(to_string(sa.direction)) +
                                           first_at(it->second));
                }
                if (auto hoa = f.require("home_address")) {
                    if (read_unicast_address(d_, *hoa, f.path_of("home_address"),
                                             sa.home_address)) {
                        if (!in_home_prefix(sa.home_address))
                            d_.error(*hoa, f.path_of("home_address") + ": " +
                                               sa.home_address.to_string() +
                                               " is not inside any home prefix");
                        else if (direction_ok)
                            sa_sites_.push_back({sa.home_address, sa.direction, item, path});
                    }
                }
                auto algorithm = f.require("algorithm");
                bool algorithm_ok =
                    algorithm &&
                    read_enum<EspAlgorithm>(
                        d_, *algorithm, f.path_of("algorithm"),
                        {{"aes-gcm-128", EspAlgorithm::aes_gcm_128},
                         {"aes-gcm-256", EspAlgorithm::aes_gcm_256},
                         {"aes-cbc-128-hmac-sha256", EspAlgorithm::aes_cbc_128_hmac_sha256},
                         {"aes-cbc-256-hmac-sha256", EspAlgorithm::aes_cbc_256_hmac_sha256}},
                        sa.algorithm);
                auto key = f.require("key");
                bool key_ok = key && read_hex_bytes(d_, *key, f.path_of("key"), sa.key);
                auto auth_key = f.get("auth_key");
                bool auth_ok =
                    auth_key && read_hex_bytes(d_, *auth_key, f.path_of("auth_key"), sa.auth_key);
                if (algorithm_ok) check_key_sizes(f, sa, key_ok, auth_key, auth_ok);
                out_.sas.push_back(std::move(sa));
            });
    }

    void check_key_sizes(const Fields& f, SecurityAssociation& sa, bool key_ok,
                         const std::optional<YAML::Node>& auth_key, bool auth_ok) {
        const std::string name(to_string(sa.algorithm));
        bool gcm =
            sa.algorithm == EspAlgorithm::aes_gcm_128 || sa.algorithm == EspAlgorithm::aes_gcm_256;
        std::size_t cipher_bytes = (sa.algorithm == EspAlgorithm::aes_gcm_128 ||
                                    sa.algorithm == EspAlgorithm::aes_cbc_128_hmac_sha256)
                                       ? 16
                                       : 32;
        if (key_ok) {
            std::size_t expected = cipher_bytes + (gcm ? 4 : 0);
            if (sa.key.size() != expected) {
                d_.error(*f.get("key"),
                         f.path_of("key") + ": " + name + " needs " + std::to_string(expected) +
                             " bytes" +
                             (gcm ? " (" + std::to_string(cipher_bytes) + "-byte key + 4-byte salt)"
                                  : std::string()) +
                             ", got " + std::to_string(sa.key.size()));
            } else if (gcm) {
                // RFC 4106 s.8.1: the last 4 bytes of the keying material are the salt.
                sa.salt.assign(sa.key.end() - 4, sa.key.end());
                sa.key.resize(cipher_bytes);
            }
        }
        if (gcm && auth_key) {
            d_.error(*auth_key, f.path_of("auth_key") + ": " + name +
                                    " takes no auth_key (GCM authenticates with its key)");
        } else if (!gcm && !auth_key) {
            d_.error(f.node(), "missing required key 'auth_key' in " + f.path() + " (" + name +
                                   " needs a 32-byte HMAC key)");
        } else if (!gcm && auth_ok && sa.auth_key.size() != 32) {
            d_.error(*auth_key, f.path_of("auth_key") + ": " + name + " needs 32 bytes, got " +
                                    std::to_string(sa.auth_key.size()));
        }
    }

    bool in_home_prefix(const Ipv6Address& a) const {
        return std::any_of(home_prefixes_.begin(), home_prefixes_.end(),
                           [&](const Ipv6Prefix& p) { return p.contains(a); });
    }

    Diagnostics& d_;
    const std::vector<Ipv6Prefix>& home_prefixes_;
    Security& out_;
    bool sas_seen_ = false;
    struct SaSite {
        Ipv6Address hoa;
        SaDirection direction;
        YAML::Node node;
        std::string path;
    };
    std::vector<SaSite> sa_sites_;
};

}  // namespace

void load_security(Diagnostics& d, const YAML::Node& n,
                   const std::vector<Ipv6Prefix>& home_prefixes, Security& out) {
    SecurityLoader(d, home_prefixes, out).load(n);
}

}  // namespace monami::config::detail
