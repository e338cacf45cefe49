#include "config/load.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "config/yaml_reader.hpp"

namespace monami::config {

std::string ConfigError::to_string() const {
    if (line == 0) return file + ": " + message;
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
}

namespace {

using detail::child_path;
using detail::Diagnostics;
using detail::Fields;
using detail::for_each_item;
using detail::line_of;

constexpr std::size_t kPortNameMax = 15;
constexpr std::size_t kClassNameMax = 31;
// MN-ID option: 8-bit length covering the subtype byte and the identifier (RFC 4283 s.3).
constexpr std::size_t kNaiMax = 254;
// RFC 6275 s.6.1.7: the BU lifetime field counts units of 4 seconds in 16 bits.
constexpr std::int64_t kMaxBindingLifetime = 65535 * 4;

bool is_power_of_two(std::uint64_t v) {
    return v != 0 && (v & (v - 1)) == 0;
}

std::string hex32(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%x", v);
    return buf;
}

std::string first_at(int line) {
    return " (first at line " + std::to_string(line) + ")";
}

bool prefixes_overlap(const Ipv6Prefix& a, const Ipv6Prefix& b) {
    return a.contains(b.address) || b.contains(a.address);
}

// PCI "[DDDD:]BB:DD.F" with optional ",devargs".
bool looks_like_pci(std::string_view id) {
    auto is_hex = [](char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; };
    std::string_view rest = id;
    if (rest.size() > 7 && rest[4] == ':') {
        if (!std::all_of(rest.begin(), rest.begin() + 4, is_hex)) return false;
        rest.remove_prefix(5);
    }
    return rest.size() == 7 && is_hex(rest[0]) && is_hex(rest[1]) && rest[2] == ':' &&
           is_hex(rest[3]) && is_hex(rest[4]) && rest[5] == '.' && rest[6] >= '0' && rest[6] <= '7';
}

// DPDK virtual net device: "net_<driver><n>" with optional ",devargs".
bool looks_like_vdev(std::string_view id) {
    if (id.size() <= 4 || id.substr(0, 4) != "net_") return false;
    return std::all_of(id.begin(), id.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
    });
}

class Loader {
  public:
    explicit Loader(Diagnostics& d) : d_(d) {}

    Config load(const YAML::Node& root) {
        Fields top(d_, root, "",
                   {"eal", "log_level", "ports", "routes", "neighbors", "dataplane", "home_agent",
                    "tunnel", "mobile_nodes", "heartbeat", "security", "policies"});
        if (!top.is_map()) return std::move(c_);
        root_ = root;
        if (auto n = top.get("eal")) eal(*n);
        if (auto n = top.get("log_level")) log_level(*n);
        if (auto n = top.require("ports")) ports(*n);
        if (auto n = top.get("routes")) routes(*n);
        if (auto n = top.get("neighbors")) neighbors(*n);
        if (auto n = top.get("dataplane")) dataplane(*n);
        home_agent(top.get("home_agent"));
        if (auto n = top.get("tunnel")) tunnel(*n);
        if (auto n = top.get("heartbeat")) heartbeat(*n);
        if (auto n = top.get("policies")) policies(*n);
        if (auto n = top.get("mobile_nodes")) mobile_nodes(*n);
        if (auto n = top.get("security")) security(*n);
        return std::move(c_);
    }

  private:
    // ---- eal, log_level ----

    void eal(const YAML::Node& n) {
        for_each_item(d_, n, "eal", [&](const YAML::Node& item, const std::string& path, auto) {
            std::string arg;
            if (detail::read_string(d_, item, path, arg)) c_.eal_args.push_back(arg);
        });
    }

    void log_level(const YAML::Node& n) {
        detail::read_enum<LogLevel>(d_, n, "log_level",
                                    {{"emerg", LogLevel::emerg},
                                     {"alert", LogLevel::alert},
                                     {"crit", LogLevel::crit},
                                     {"err", LogLevel::err},
                                     {"warning", LogLevel::warning},
                                     {"notice", LogLevel::notice},
                                     {"info", LogLevel::info},
                                     {"debug", LogLevel::debug}},
                                    c_.log_level);
    }

    // ---- ports ----

    void ports(const YAML::Node& n) {
        std::map<std::string, int> device_lines;
        std::map<std::string, int> device_owner;
        std::map<Ipv6Address, std::string> address_owner;
        bool sequence = for_each_item(
            d_, n, "ports", [&](const YAML::Node& item, const std::string& path, auto) {
                Fields f(d_, item, path, {"name", "device", "mac", "addresses", "mtu"});
                if (!f.is_map()) return;
                Port port;
                if (auto name = f.require("name")) {
                    if (detail::read_name(d_, *name, f.path_of("name"), kPortNameMax, port.name)) {
                        auto [it, fresh] = port_lines_.emplace(port.name, line_of(*name));
                        if (!fresh)
                            d_.error(*name, f.path_of("name") + ": duplicate port name '" +
                                                port.name + "'" + first_at(it->second));
                    }
                }
                if (auto device = f.require("device")) {
                    if (detail::read_string(d_, *device, f.path_of("device"), port.device)) {
                        std::string id = port.device.substr(0, port.device.find(','));
                        if (!looks_like_pci(id) && !looks_like_vdev(id)) {
                            d_.error(*device, f.path_of("device") + ": '" + id +
                                                  "' is neither a PCI address (0000:03:00.0) nor a "
                                                  "net_ vdev name (net_pcap0)");
                        } else {
                            auto [it, fresh] = device_lines.emplace(id, line_of(*device));
                            if (!fresh)
                                d_.error(*device, f.path_of("device") + ": duplicate device '" +
                                                      id + "'" + first_at(it->second));
                        }
                    }
                }
                if (auto mac = f.get("mac")) {
                    MacAddress m;
                    if (detail::read_mac(d_, *mac, f.path_of("mac"), m)) port.mac = m;
                }
                if (auto addresses = f.get("addresses")) {
                    for_each_item(d_, *addresses, f.path_of("addresses"),
                                  [&](const YAML::Node& a, const std::string& a_path, auto) {
                                      InterfaceAddress ia;
                                      if (!interface_address(a, a_path, ia)) return;
                                      auto [it, fresh] =
                                          address_owner.emplace(ia.address, port.name);
                                      if (!fresh) {
                                          d_.error(a, a_path + ": " + ia.address.to_string() +
                                                          " is already an address of port '" +
                                                          it->second + "'");
                                          return;
                                      }
                                      port.addresses.push_back(ia);
                                  });
                }
                f.integer("mtu", 1280, 9000, port.mtu);
                c_.ports.push_back(std::move(port));
            });
        if (sequence && n.size() == 0) d_.error(n, "ports: at least one port is required");
    }

    bool interface_address(const YAML::Node& n, const std::string& path, InterfaceAddress& out) {
        std::string text;
        if (!detail::read_string(d_, n, path, text)) return false;
        auto slash = text.find('/');
        if (slash == std::string::npos) {
            d_.error(n, path + ": '" + text +
                            "' has no prefix length (expected ADDRESS/LENGTH, e.g. "
                            "2001:db8::1/64)");
            return false;
        }
        auto address = Ipv6Address::parse(std::string_view(text).substr(0, slash));
        if (!address) {
            d_.error(n, path + ": '" + text.substr(0, slash) + "' is not an IPv6 address");
            return false;
        }
        std::string length_text = text.substr(slash + 1);
        unsigned length = 0;
        auto [end, ec] =
            std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
        if (length_text.empty() || ec != std::errc{} ||
            end != length_text.data() + length_text.size() || length < 1 || length > 128) {
            d_.error(n, path + ": '" + length_text + "' is not a prefix length (1..128)");
            return false;
        }
        if (address->is_multicast() || address->is_unspecified() || address->is_loopback()) {
            d_.error(n, path + ": " + address->to_string() +
                            " cannot be an interface address (multicast, unspecified or "
                            "loopback)");
            return false;
        }
        out = InterfaceAddress{*address, static_cast<std::uint8_t>(length)};
        return true;
    }

    // Resolves a port name; reports an unknown one.
    bool port_reference(const YAML::Node& n, const std::string& path, std::string& name,
                        std::size_t& index) {
        if (!detail::read_string(d_, n, path, name)) return false;
        for (std::size_t i = 0; i < c_.ports.size(); ++i) {
            if (c_.ports[i].name == name) {
                index = i;
                return true;
            }
        }
        d_.error(n, path + ": unknown port '" + name + "'");
        return false;
    }

    // ---- routes, neighbors ----

    void routes(const YAML::Node& n) {
        std::map<Ipv6Prefix, int> prefix_lines;
        for_each_item(d_, n, "routes", [&](const YAML::Node& item, const std::string& path, auto) {
            Fields f(d_, item, path, {"prefix", "port", "via"});
            if (!f.is_map()) return;
            Route route;
            if (auto prefix = f.require("prefix")) {
                if (detail::read_prefix(d_, *prefix, f.path_of("prefix"), route.prefix)) {
                    auto [it, fresh] = prefix_lines.emplace(route.prefix, line_of(*prefix));
                    if (!fresh)
                        d_.error(*prefix, f.path_of("prefix") + ": duplicate route for " +
                                              route.prefix.to_string() + first_at(it->second));
                }
            }
            bool port_known = false;
            if (auto port = f.require("port"))
                port_known = port_reference(*port, f.path_of("port"), route.port, route.port_index);
            if (auto via = f.get("via")) {
                Ipv6Address next_hop;
                if (detail::read_unicast_address(d_, *via, f.path_of("via"), next_hop)) {
                    route.via = next_hop;
                    if (port_known && !c_.ports[route.port_index].is_on_link(next_hop))
                        d_.error(*via, f.path_of("via") + ": " + next_hop.to_string() +
                                           " is not on-link on port '" + route.port + "'");
                }
            }
            c_.routes.push_back(std::move(route));
        });
    }

    void neighbors(const YAML::Node& n) {
        std::map<std::pair<std::string, Ipv6Address>, int> entry_lines;
        for_each_item(
            d_, n, "neighbors", [&](const YAML::Node& item, const std::string& path, auto) {
                Fields f(d_, item, path, {"address", "mac", "port"});
                if (!f.is_map()) return;
                Neighbor neighbor;
                auto address = f.require("address");
                bool address_ok =
                    address && detail::read_unicast_address(d_, *address, f.path_of("address"),
                                                            neighbor.address);
                if (auto mac = f.require("mac"))
                    detail::read_mac(d_, *mac, f.path_of("mac"), neighbor.mac);
                bool port_known = false;
                if (auto port = f.require("port"))
                    port_known = port_reference(*port, f.path_of("port"), neighbor.port,
                                                neighbor.port_index);
                if (address_ok && port_known) {
                    if (!c_.ports[neighbor.port_index].is_on_link(neighbor.address)) {
                        d_.error(*address, f.path_of("address") + ": " +
                                               neighbor.address.to_string() +
                                               " is not on-link on port '" + neighbor.port + "'");
                    } else {
                        auto [it, fresh] = entry_lines.emplace(
                            std::pair(neighbor.port, neighbor.address), line_of(*address));
                        if (!fresh)
                            d_.error(*address, f.path_of("address") + ": duplicate neighbor " +
                                                   neighbor.address.to_string() + " on port '" +
                                                   neighbor.port + "'" + first_at(it->second));
                    }
                }
                c_.neighbors.push_back(std::move(neighbor));
            });
    }

    // ---- dataplane ----

    void dataplane(const YAML::Node& n) {
        Fields f(d_, n, "dataplane",
                 {"mbufs", "mbuf_cache", "rx_descriptors", "tx_descriptors", "control_ring",
                  "stats_interval_ms"});
        if (!f.is_map()) return;
        auto& dp = c_.dataplane;
        f.integer("mbufs", 1023, 1 << 26, dp.mbufs);
        // RTE_MEMPOOL_CACHE_MAX_SIZE is 512; with at least 1023 mbufs, the mempool's
        // other limit (1.5 x cache <= mbufs) then always holds.
        f.integer("mbuf_cache", 0, 512, dp.mbuf_cache);
        power_of_two(f, "rx_descriptors", 64, 32768, dp.rx_descriptors);
        power_of_two(f, "tx_descriptors", 64, 32768, dp.tx_descriptors);
        power_of_two(f, "control_ring", 64, 1 << 24, dp.control_ring);
        f.integer("stats_interval_ms", 0, 3'600'000, dp.stats_interval_ms);
    }

    template <class Int>
    void power_of_two(const Fields& f, std::string_view key, std::int64_t min, std::int64_t max,
                      Int& out) {
        auto n = f.get(key);
        if (!n) return;
        Int value{};
        if (!detail::read_integer(d_, *n, f.path_of(key), min, max, value)) return;
        if (!is_power_of_two(value)) {
            d_.error(*n, f.path_of(key) + ": " + std::to_string(value) + " is not a power of two");
            return;
        }
        out = value;
    }

    // ---- home_agent ----

    const Port* port_owning(const Ipv6Address& a) const {
        for (const auto& port : c_.ports)
            for (const auto& own : port.addresses)
                if (own.address == a) return &port;
        return nullptr;
    }

    bool in_home_prefix(const Ipv6Address& a) const {
        return std::any_of(c_.home_agent.home_prefixes.begin(), c_.home_agent.home_prefixes.end(),
                           [&](const Ipv6Prefix& p) { return p.contains(a); });
    }

    void home_agent(const std::optional<YAML::Node>& n) {
        auto& ha = c_.home_agent;
        std::optional<Fields> f;
        if (n) {
            f.emplace(
                d_, *n, "home_agent",
                std::initializer_list<std::string_view>{
                    "addresses", "home_prefixes", "preference", "lifetime", "max_binding_lifetime",
                    "max_bindings", "max_bindings_per_mn", "max_flows_per_hoa",
                    "max_options_per_message", "refresh_advice", "refresh_request_before_expiry",
                    "allow_mcoa", "allow_bulk_registration", "allow_simultaneous_home_foreign",
                    "allow_mobile_routers", "home_agents"});
            if (!f->is_map()) return;
        }
        auto addresses = f ? f->get("addresses") : std::nullopt;
        if (addresses) {
            std::map<Ipv6Address, int> lines;
            bool sequence = for_each_item(
                d_, *addresses, "home_agent.addresses",
                [&](const YAML::Node& item, const std::string& path, auto) {
                    Ipv6Address a;
                    if (!detail::read_unicast_address(d_, item, path, a)) return;
                    if (a.is_link_local()) {
                        d_.error(item, path + ": " + a.to_string() +
                                           " is link-local; a home agent address must be global");
                    } else if (!port_owning(a)) {
                        d_.error(item,
                                 path + ": " + a.to_string() + " is not an address of any port");
                    } else if (auto [it, fresh] = lines.emplace(a, line_of(item)); !fresh) {
                        d_.error(item, path + ": duplicate address " + a.to_string() +
                                           first_at(it->second));
                    } else {
                        ha.addresses.push_back(a);
                    }
                });
            if (sequence && addresses->size() == 0)
                d_.error(*addresses, "home_agent.addresses: at least one address is required");
        } else {
            for (const auto& port : c_.ports)
                for (const auto& own : port.addresses)
                    if (!own.address.is_link_local()) ha.addresses.push_back(own.address);
            // Only when the ports are otherwise fine: a broken address would cascade here.
            if (ha.addresses.empty() && !c_.ports.empty() && !d_.has_errors())
                d_.error(n ? *n : root_,
                         "no home agent address: give home_agent.addresses or a global address "
                         "to a port");
        }

        auto prefixes = f ? f->get("home_prefixes") : std::nullopt;
        if (prefixes) {
            std::map<Ipv6Prefix, int> lines;
            for_each_item(
                d_, *prefixes, "home_agent.home_prefixes",
                [&](const YAML::Node& item, const std::string& path, auto) {
                    Ipv6Prefix p;
                    if (!detail::read_prefix(d_, item, path, p)) return;
                    if (!on_link_somewhere(p)) {
                        d_.error(item, path + ": " + p.to_string() + " is not on-link on any port");
                    } else if (auto [it, fresh] = lines.emplace(p, line_of(item)); !fresh) {
                        d_.error(item, path + ": duplicate home prefix " + p.to_string() +
                                           first_at(it->second));
                    } else {
                        ha.home_prefixes.push_back(p);
                    }
                });
        } else {
            for (const auto& port : c_.ports)
                for (const auto& own : port.addresses)
                    if (std::find(ha.addresses.begin(), ha.addresses.end(), own.address) !=
                            ha.addresses.end() &&
                        std::find(ha.home_prefixes.begin(), ha.home_prefixes.end(),
                                  own.on_link_prefix()) == ha.home_prefixes.end())
                        ha.home_prefixes.push_back(own.on_link_prefix());
        }
        if (!f) return;

        f->integer("preference", -32768, 32767, ha.preference);
        f->integer("lifetime", 1, 65535, ha.lifetime);
        multiple_of_four(*f, "max_binding_lifetime", 4, ha.max_binding_lifetime);
        f->integer("max_bindings", 1, 1 << 24, ha.max_bindings);
        f->integer("max_bindings_per_mn", 1, 65535, ha.max_bindings_per_mn);
        f->integer("max_flows_per_hoa", 0, 65535, ha.max_flows_per_hoa);
        f->integer("max_options_per_message", 1, 1024, ha.max_options_per_message);
        if (multiple_of_four(*f, "refresh_advice", 0, ha.refresh_advice))
            below_binding_lifetime(*f, "refresh_advice", ha.refresh_advice);
        if (f->integer("refresh_request_before_expiry", 0, kMaxBindingLifetime,
                       ha.refresh_request_before_expiry))
            below_binding_lifetime(*f, "refresh_request_before_expiry",
                                   ha.refresh_request_before_expiry);
        f->boolean("allow_mcoa", ha.allow_mcoa);
        f->boolean("allow_bulk_registration", ha.allow_bulk_registration);
        f->boolean("allow_simultaneous_home_foreign", ha.allow_simultaneous_home_foreign);
        f->boolean("allow_mobile_routers", ha.allow_mobile_routers);
        if (auto peers = f->get("home_agents")) home_agents(*peers);
    }

    bool on_link_somewhere(const Ipv6Prefix& p) const {
        for (const auto& port : c_.ports)
            for (const auto& own : port.addresses) {
                auto link = own.on_link_prefix();
                if (p.length >= link.length && link.contains(p.address)) return true;
            }
        return false;
    }

    bool multiple_of_four(const Fields& f, std::string_view key, std::int64_t min,
                          std::uint32_t& out) {
        auto n = f.get(key);
        if (!n) return true;
        std::uint32_t value = 0;
        if (!detail::read_integer(d_, *n, f.path_of(key), min, kMaxBindingLifetime, value))
            return false;
        if (value % 4 != 0) {
            d_.error(*n, f.path_of(key) + ": " + std::to_string(value) +
                             " is not a multiple of 4 (the protocol counts units of 4 s)");
            return false;
        }
        out = value;
        return true;
    }

    void below_binding_lifetime(const Fields& f, std::string_view key, std::uint32_t value) {
        auto n = f.get(key);
        if (n && value != 0 && value >= c_.home_agent.max_binding_lifetime)
            d_.error(*n, f.path_of(key) + ": " + std::to_string(value) +
                             " must be less than max_binding_lifetime (" +
                             std::to_string(c_.home_agent.max_binding_lifetime) + ")");
    }

    void home_agents(const YAML::Node& n) {
        auto& ha = c_.home_agent;
        std::map<Ipv6Address, int> lines;
        for_each_item(
            d_, n, "home_agent.home_agents",
            [&](const YAML::Node& item, const std::string& path, auto) {
                Fields f(d_, item, path, {"address", "preference"});
                if (!f.is_map()) return;
                PeerHomeAgent peer;
                if (auto address = f.require("address")) {
                    if (detail::read_unicast_address(d_, *address, f.path_of("address"),
                                                     peer.address)) {
                        std::string problem;
                        if (port_owning(peer.address))
                            problem = " is one of our own addresses";
                        else if (!in_home_prefix(peer.address))
                            problem = " is not inside any home prefix";
                        else if (auto [it, fresh] = lines.emplace(peer.address, line_of(*address));
                                 !fresh)
                            problem = " is listed twice" + first_at(it->second);
                        if (!problem.empty())
                            d_.error(*address, f.path_of("address") + ": " +
                                                   peer.address.to_string() + problem);
                    }
                }
                f.integer("preference", -32768, 32767, peer.preference);
                ha.home_agents.push_back(peer);
            });
    }

    // ---- tunnel, heartbeat ----

    void tunnel(const YAML::Node& n) {
        Fields f(d_, n, "tunnel", {"hop_limit", "encapsulation_limit", "mtu"});
        if (!f.is_map()) return;
        f.integer("hop_limit", 1, 255, c_.tunnel.hop_limit);
        if (auto limit = f.get("encapsulation_limit")) {
            std::uint8_t value = 0;
            if (limit->IsNull())
                c_.tunnel.encapsulation_limit.reset();
            else if (detail::read_integer(d_, *limit, f.path_of("encapsulation_limit"), 0, 255,
                                          value))
                c_.tunnel.encapsulation_limit = value;
        }
        // The outer header (40 bytes) must still fit a 9000-byte port MTU.
        f.integer("mtu", 1280, 9000 - 40, c_.tunnel.mtu);
    }

    void heartbeat(const YAML::Node& n) {
        Fields f(d_, n, "heartbeat", {"enabled", "interval_ms", "missed_limit"});
        if (!f.is_map()) return;
        f.boolean("enabled", c_.heartbeat.enabled);
        f.integer("interval_ms", 10, 3'600'000, c_.heartbeat.interval_ms);
        f.integer("missed_limit", 1, 255, c_.heartbeat.missed_limit);
    }

    // ---- policies ----

    void policies(const YAML::Node& n) {
        Fields f(d_, n, "policies",
                 {"access_classes", "traffic_classes", "profiles", "default_profile"});
        if (!f.is_map()) return;
        if (auto classes = f.get("access_classes")) access_classes(*classes);
        if (auto classes = f.get("traffic_classes")) traffic_classes(*classes);
        if (auto profiles = f.get("profiles")) this->profiles(*profiles);
        if (auto name = f.get("default_profile")) {
            std::string profile;
            std::size_t index = 0;
            if (profile_reference(*name, f.path_of("default_profile"), profile, index)) {
                c_.policies.default_profile = profile;
                c_.policies.default_profile_index = index;
            }
        }
    }

    template <class Item>
    static std::optional<std::size_t> find_named(const std::vector<Item>& items,
                                                 const std::string& name) {
        for (std::size_t i = 0; i < items.size(); ++i)
            if (items[i].name == name) return i;
        return std::nullopt;
    }

    bool profile_reference(const YAML::Node& n, const std::string& path, std::string& name,
                           std::size_t& index) {
        if (!detail::read_string(d_, n, path, name)) return false;
        if (auto found = find_named(c_.policies.profiles, name)) {
            index = *found;
            return true;
        }
        d_.error(n, path + ": unknown profile '" + name + "'");
        return false;
    }

    bool access_class_reference(const YAML::Node& n, const std::string& path, AccessClassRef& out) {
        if (!detail::read_string(d_, n, path, out.name)) return false;
        if (auto found = find_named(c_.policies.access_classes, out.name)) {
            out.index = *found;
            return true;
        }
        d_.error(n, path + ": unknown access class '" + out.name + "'");
        return false;
    }

    // Reads a unique name; `lines` remembers where each name was first seen.
    bool unique_name(const Fields& f, std::map<std::string, int>& lines, std::string_view what,
                     std::size_t max_length, std::string& out) {
        auto n = f.require("name");
        if (!n || !detail::read_name(d_, *n, f.path_of("name"), max_length, out)) return false;
        auto [it, fresh] = lines.emplace(out, line_of(*n));
        if (!fresh) {
            d_.error(*n, f.path_of("name") + ": duplicate " + std::string(what) + " name '" + out +
                             "'" + first_at(it->second));
            return false;
        }
        return true;
    }

    void access_classes(const YAML::Node& n) {
        std::map<std::string, int> names;
        std::map<Ipv6Prefix, std::string> prefix_owner;
        for_each_item(
            d_, n, "policies.access_classes",
            [&](const YAML::Node& item, const std::string& path, auto) {
                Fields f(d_, item, path, {"name", "prefixes", "cost", "preference"});
                if (!f.is_map()) return;
                AccessClass ac;
                unique_name(f, names, "access class", kClassNameMax, ac.name);
                if (auto prefixes = f.require("prefixes")) {
                    bool sequence = for_each_item(
                        d_, *prefixes, f.path_of("prefixes"),
                        [&](const YAML::Node& p, const std::string& p_path, auto) {
                            Ipv6Prefix prefix;
                            if (!detail::read_prefix(d_, p, p_path, prefix)) return;
                            auto [it, fresh] = prefix_owner.emplace(prefix, ac.name);
                            if (!fresh) {
                                d_.error(p, p_path + ": " + prefix.to_string() +
                                                " is already in access class '" + it->second + "'");
                                return;
                            }
                            ac.prefixes.push_back(prefix);
                        });
                    if (sequence && prefixes->size() == 0)
                        d_.error(*prefixes,
                                 f.path_of("prefixes") + ": at least one prefix is required");
                }
                f.integer("cost", 0, 65535, ac.cost);
                f.integer("preference", -32768, 32767, ac.preference);
                c_.policies.access_classes.push_back(std::move(ac));
            });
    }

    void traffic_classes(const YAML::Node& n) {
        std::map<std::string, int> names;
        for_each_item(
            d_, n, "policies.traffic_classes",
            [&](const YAML::Node& item, const std::string& path, auto) {
                Fields f(d_, item, path, {"name", "match"});
                if (!f.is_map()) return;
                TrafficClass tc;
                if (unique_name(f, names, "traffic class", kClassNameMax, tc.name) &&
                    tc.name == "any") {
                    d_.error(*f.get("name"),
                             f.path_of("name") + ": 'any' is reserved (it matches all traffic)");
                }
                if (auto match = f.require("match"))
                    traffic_match(*match, f.path_of("match"), tc.match);
                c_.policies.traffic_classes.push_back(std::move(tc));
            });
    }

    void traffic_match(const YAML::Node& n, const std::string& path, TrafficMatch& m) {
        Fields f(d_, n, path,
                 {"protocol", "source_ports", "destination_ports", "dscp", "source_prefix",
                  "destination_prefix"});
        if (!f.is_map()) return;
        if (auto protocol = f.get("protocol")) {
            static const std::vector<std::pair<std::string_view, std::uint8_t>> names = {
                {"tcp", 6}, {"udp", 17}, {"icmpv6", 58}, {"sctp", 132}};
            const std::string& text = protocol->IsScalar() ? protocol->Scalar() : std::string();
            auto named = std::find_if(names.begin(), names.end(),
                                      [&](const auto& entry) { return entry.first == text; });
            std::uint8_t number = 0;
            if (text == "any") {
                m.protocol.reset();
            } else if (named != names.end()) {
                m.protocol = named->second;
            } else if (protocol->IsScalar() && !text.empty() &&
                       std::isdigit(static_cast<unsigned char>(text[0]))) {
                if (detail::read_integer(d_, *protocol, f.path_of("protocol"), 0, 255, number))
                    m.protocol = number;
            } else {
                d_.error(*protocol, f.path_of("protocol") + ": unknown protocol " +
                                        detail::describe(*protocol) +
                                        " (expected any, tcp, udp, icmpv6, sctp or 0..255)");
            }
        }
        bool has_ports =
            m.protocol && (*m.protocol == 6 || *m.protocol == 17 || *m.protocol == 132);
        for (std::string_view key : {"source_ports", "destination_ports"}) {
            auto ports = f.get(key);
            if (!ports) continue;
            PortRange range;
            if (!port_range(*ports, f.path_of(key), range)) continue;
            if (!range.is_any() && !has_ports) {
                d_.error(*ports, f.path_of(key) + ": ports need protocol tcp, udp or sctp");
                continue;
            }
            (key == "source_ports" ? m.source_ports : m.destination_ports) = range;
        }
        if (auto dscp = f.get("dscp")) {
            std::uint8_t value = 0;
            if (dscp->IsScalar() && dscp->Scalar() == "any")
                m.dscp.reset();
            else if (detail::read_integer(d_, *dscp, f.path_of("dscp"), 0, 63, value))
                m.dscp = value;
        }
        if (auto p = f.get("source_prefix"))
            detail::read_prefix(d_, *p, f.path_of("source_prefix"), m.source_prefix);
        if (auto p = f.get("destination_prefix"))
            detail::read_prefix(d_, *p, f.path_of("destination_prefix"), m.destination_prefix);
    }

    // "any", 5060, "5060" or "5060-5090".
    bool port_range(const YAML::Node& n, const std::string& path, PortRange& out) {
        std::string text;
        if (!detail::read_string(d_, n, path, text)) return false;
        if (text == "any") {
            out = PortRange{};
            return true;
        }
        auto parse = [](std::string_view s, std::uint16_t& v) {
            unsigned value = 0;
            auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
            if (s.empty() || ec != std::errc{} || end != s.data() + s.size() || value > 65535)
                return false;
            v = static_cast<std::uint16_t>(value);
            return true;
        };
        auto dash = text.find('-');
        PortRange range;
        bool valid = dash == std::string::npos
                         ? parse(text, range.first) && parse(text, range.last)
                         : parse(std::string_view(text).substr(0, dash), range.first) &&
                               parse(std::string_view(text).substr(dash + 1), range.last);
        if (!valid) {
            d_.error(n, path + ": '" + text +
                            "' is not a port range (any, PORT or FIRST-LAST, 0..65535)");
            return false;
        }
        if (range.first > range.last) {
            d_.error(n, path + ": '" + text + "' is an empty range (first port above last)");
            return false;
        }
        out = range;
        return true;
    }

    void profiles(const YAML::Node& n) {
        std::map<std::string, int> names;
        for_each_item(
            d_, n, "policies.profiles", [&](const YAML::Node& item, const std::string& path, auto) {
                Fields f(d_, item, path, {"name", "rules"});
                if (!f.is_map()) return;
                Profile profile;
                unique_name(f, names, "profile", kClassNameMax, profile.name);
                if (auto rules = f.require("rules")) {
                    // Which traffic class each earlier rule matched, to find unreachable rules.
                    std::map<std::string, std::size_t> matched;
                    std::optional<std::size_t> any_rule;
                    bool sequence = for_each_item(
                        d_, *rules, f.path_of("rules"),
                        [&](const YAML::Node& r, const std::string& r_path, std::size_t index) {
                            Rule rule;
                            if (this->rule(r, r_path, rule, matched, any_rule, index))
                                profile.rules.push_back(std::move(rule));
                        });
                    if (sequence && rules->size() == 0)
                        d_.error(*rules, f.path_of("rules") + ": at least one rule is required");
                }
                c_.policies.profiles.push_back(std::move(profile));
            });
    }

    bool rule(const YAML::Node& n, const std::string& path, Rule& rule,
              std::map<std::string, std::size_t>& matched, std::optional<std::size_t>& any_rule,
              std::size_t index) {
        Fields f(d_, n, path, {"traffic_class", "mode", "order", "weights"});
        if (!f.is_map()) return false;
        bool ok = true;
        if (auto tc = f.require("traffic_class")) {
            std::string tc_path = f.path_of("traffic_class");
            if (!detail::read_string(d_, *tc, tc_path, rule.traffic_class)) {
                ok = false;
            } else if (rule.traffic_class != "any" &&
                       !(rule.traffic_class_index =
                             find_named(c_.policies.traffic_classes, rule.traffic_class))) {
                d_.error(*tc, tc_path + ": unknown traffic class '" + rule.traffic_class + "'");
                ok = false;
            } else if (any_rule) {
                d_.error(*tc, tc_path + ": unreachable rule: rules[" + std::to_string(*any_rule) +
                                  "] already matches any traffic");
                ok = false;
            } else if (auto [it, fresh] = matched.emplace(rule.traffic_class, index); !fresh) {
                d_.error(*tc, tc_path + ": unreachable rule: rules[" + std::to_string(it->second) +
                                  "] already matches '" + rule.traffic_class + "'");
                ok = false;
            } else if (rule.traffic_class == "any") {
                any_rule = index;
            }
        } else {
            ok = false;
        }
        if (auto mode = f.require("mode")) {
            ok &= detail::read_enum<RuleMode>(d_, *mode, f.path_of("mode"),
                                              {{"prefer", RuleMode::prefer},
                                               {"weighted", RuleMode::weighted},
                                               {"ncast", RuleMode::ncast}},
                                              rule.mode);
        } else {
            return false;
        }
        if (auto order = f.get("order")) {
            if (rule.mode != RuleMode::prefer) {
                d_.error(*order, f.path_of("order") + ": only valid with mode 'prefer'");
                return false;
            }
            for_each_item(d_, *order, f.path_of("order"),
                          [&](const YAML::Node& item, const std::string& item_path, auto) {
                              AccessClassRef ref;
                              if (!access_class_reference(item, item_path, ref)) return;
                              for (const auto& earlier : rule.order) {
                                  if (earlier.index == ref.index) {
                                      d_.error(item, item_path + ": access class '" + ref.name +
                                                         "' is listed twice");
                                      return;
                                  }
                              }
                              rule.order.push_back(ref);
                          });
        }
        if (auto weights = f.get("weights")) {
            std::string w_path = f.path_of("weights");
            if (rule.mode != RuleMode::weighted) {
                d_.error(*weights, w_path + ": only valid with mode 'weighted'");
                return false;
            }
            if (!weights->IsMap()) {
                d_.error(*weights, w_path + ": expected a mapping of access class to weight, got " +
                                       detail::describe(*weights));
                return false;
            }
            for (auto it = weights->begin(); it != weights->end(); ++it) {
                // Copies: the iterator's pair is a temporary proxy.
                const YAML::Node key = it->first;
                const YAML::Node value_node = it->second;
                Weight weight;
                if (!access_class_reference(key, w_path, weight.access_class)) continue;
                std::string entry_path = child_path(w_path, weight.access_class.name);
                bool repeated = std::any_of(rule.weights.begin(), rule.weights.end(), [&](auto& w) {
                    return w.access_class.index == weight.access_class.index;
                });
                if (repeated) {
                    d_.error(key, w_path + ": access class '" + weight.access_class.name +
                                      "' is listed twice");
                    continue;
                }
                std::int64_t value = 0;
                if (!detail::read_integer(d_, value_node, entry_path, INT32_MIN, INT32_MAX, value))
                    continue;
                if (value <= 0 || value > 1'000'000) {
                    d_.error(value_node, entry_path + ": weight must be in 1..1000000, got " +
                                             std::to_string(value));
                    continue;
                }
                weight.weight = static_cast<std::uint32_t>(value);
                rule.weights.push_back(std::move(weight));
            }
        }
        return ok;
    }

    // ---- mobile_nodes ----

    void mobile_nodes(const YAML::Node& n) {
        std::map<std::string, int> id_lines;
        std::map<Ipv6Address, std::string> hoa_owner;
        std::vector<std::pair<Ipv6Prefix, std::string>> mnp_owner;
        for_each_item(
            d_, n, "mobile_nodes", [&](const YAML::Node& item, const std::string& path, auto) {
                Fields f(d_, item, path, {"id", "home_addresses", "network_prefixes", "policy"});
                if (!f.is_map()) return;
                MobileNode mn;
                if (auto id = f.require("id")) {
                    if (detail::read_string(d_, *id, f.path_of("id"), mn.id)) {
                        bool printable = std::all_of(mn.id.begin(), mn.id.end(),
                                                     [](char c) { return c > ' ' && c < 0x7f; });
                        if (mn.id.empty() || mn.id.size() > kNaiMax || !printable) {
                            d_.error(*id, f.path_of("id") +
                                              ": an MN identifier is 1 to 254 printable characters "
                                              "without spaces");
                        } else if (auto [it, fresh] = id_lines.emplace(mn.id, line_of(*id));
                                   !fresh) {
                            d_.error(*id, f.path_of("id") + ": duplicate mobile node id '" + mn.id +
                                              "'" + first_at(it->second));
                        }
                    }
                }
                if (auto hoas = f.require("home_addresses")) {
                    bool sequence = for_each_item(
                        d_, *hoas, f.path_of("home_addresses"),
                        [&](const YAML::Node& a, const std::string& a_path, auto) {
                            Ipv6Address hoa;
                            if (!detail::read_unicast_address(d_, a, a_path, hoa)) return;
                            std::string problem;
                            if (auto* port = port_owning(hoa))
                                problem = " is an address of port '" + port->name + "'";
                            else if (!in_home_prefix(hoa))
                                problem = " is not inside any home prefix";
                            else if (auto [it, fresh] = hoa_owner.emplace(hoa, mn.id); !fresh)
                                problem = " is already a home address of mobile node '" +
                                          it->second + "'";
                            if (!problem.empty()) {
                                d_.error(a, a_path + ": " + hoa.to_string() + problem);
                                return;
                            }
                            mn.home_addresses.push_back(hoa);
                        });
                    if (sequence && hoas->size() == 0)
                        d_.error(*hoas, f.path_of("home_addresses") +
                                            ": at least one home address is required");
                }
                if (auto mnps = f.get("network_prefixes")) {
                    if (!c_.home_agent.allow_mobile_routers && mnps->IsSequence() &&
                        mnps->size() > 0)
                        d_.error(*mnps, f.path_of("network_prefixes") +
                                            ": mobile routers are disabled "
                                            "(home_agent.allow_mobile_routers: false)");
                    for_each_item(d_, *mnps, f.path_of("network_prefixes"),
                                  [&](const YAML::Node& p, const std::string& p_path, auto) {
                                      Ipv6Prefix mnp;
                                      if (!detail::read_prefix(d_, p, p_path, mnp)) return;
                                      for (const auto& [other, owner] : mnp_owner) {
                                          if (prefixes_overlap(mnp, other)) {
                                              d_.error(p, p_path + ": " + mnp.to_string() +
                                                              " overlaps " + other.to_string() +
                                                              " of mobile node '" + owner + "'");
                                              return;
                                          }
                                      }
                                      mnp_owner.emplace_back(mnp, mn.id);
                                      mn.network_prefixes.push_back(mnp);
                                  });
                }
                if (auto policy = f.get("policy")) {
                    std::string name;
                    std::size_t index = 0;
                    if (profile_reference(*policy, f.path_of("policy"), name, index)) {
                        mn.policy = name;
                        mn.policy_index = index;
                    }
                }
                c_.mobile_nodes.push_back(std::move(mn));
            });
    }

    // ---- security ----

    void security(const YAML::Node& n) {
        Fields f(d_, n, "security", {"mode", "replay_window", "esn", "sas", "control_rate_limit"});
        if (!f.is_map()) return;
        auto& sec = c_.security;
        auto mode = f.get("mode");
        if (mode)
            detail::read_enum<SecurityMode>(
                d_, *mode, "security.mode",
                {{"none", SecurityMode::none}, {"esp", SecurityMode::esp}}, sec.mode);
        if (auto window = f.get("replay_window")) {
            std::uint32_t value = 0;
            if (detail::read_integer(d_, *window, "security.replay_window", 32, 4096, value)) {
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
                bool spi_ok = spi && detail::read_integer(d_, *spi, f.path_of("spi"), 256,
                                                          std::int64_t{UINT32_MAX}, sa.spi);
                auto direction = f.require("direction");
                bool direction_ok =
                    direction &&
                    detail::read_enum<SaDirection>(
                        d_, *direction, f.path_of("direction"),
                        {{"in", SaDirection::in}, {"out", SaDirection::out}}, sa.direction);
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
                    if (detail::read_unicast_address(d_, *hoa, f.path_of("home_address"),
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
                    detail::read_enum<EspAlgorithm>(
                        d_, *algorithm, f.path_of("algorithm"),
                        {{"aes-gcm-128", EspAlgorithm::aes_gcm_128},
                         {"aes-gcm-256", EspAlgorithm::aes_gcm_256},
                         {"aes-cbc-128-hmac-sha256", EspAlgorithm::aes_cbc_128_hmac_sha256},
                         {"aes-cbc-256-hmac-sha256", EspAlgorithm::aes_cbc_256_hmac_sha256}},
                        sa.algorithm);
                auto key = f.require("key");
                bool key_ok = key && detail::read_hex_bytes(d_, *key, f.path_of("key"), sa.key);
                auto auth_key = f.get("auth_key");
                bool auth_ok = auth_key && detail::read_hex_bytes(
                                               d_, *auth_key, f.path_of("auth_key"), sa.auth_key);
                if (algorithm_ok) check_key_sizes(f, sa, key_ok, auth_key, auth_ok);
                c_.security.sas.push_back(std::move(sa));
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

    Diagnostics& d_;
    Config c_;
    YAML::Node root_;
    std::map<std::string, int> port_lines_;
    bool sas_seen_ = false;
    struct SaSite {
        Ipv6Address hoa;
        SaDirection direction;
        YAML::Node node;
        std::string path;
    };
    std::vector<SaSite> sa_sites_;
};

LoadResult load(std::string_view text, const std::string& name) {
    Diagnostics d(name);
    std::vector<YAML::Node> documents;
    try {
        documents = YAML::LoadAll(std::string(text));
    } catch (const YAML::Exception& e) {
        d.error(e.mark, "YAML syntax error: " + e.msg);
        return Err{d.take_sorted()};
    }
    if (documents.empty() || documents[0].IsNull()) {
        d.file_error("empty configuration (at least 'ports' is required)");
        return Err{d.take_sorted()};
    }
    if (documents.size() > 1) {
        d.error(documents[1],
                "expected one YAML document, found " + std::to_string(documents.size()));
        return Err{d.take_sorted()};
    }
    Config config;
    try {
        config = Loader(d).load(documents[0]);
    } catch (const YAML::Exception& e) {
        // Node accessors can throw on shapes the loader did not foresee; report, never leak.
        d.error(e.mark, "invalid configuration: " + e.msg);
    }
    if (d.has_errors()) return Err{d.take_sorted()};
    return config;
}

}  // namespace

LoadResult load_config_string(std::string_view yaml, const std::string& name) {
    return load(yaml, name);
}

LoadResult load_config_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        Diagnostics d(path);
        d.file_error(std::string("cannot open: ") + std::strerror(errno));
        return Err{d.take_sorted()};
    }
    std::ostringstream text;
    text << in.rdbuf();
    return load(text.str(), path);
}

}  // namespace monami::config
