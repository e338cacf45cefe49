#include "config/load.hpp"

#include <arpa/inet.h>
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

#include "config/sections.hpp"
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
using detail::first_at;
using detail::for_each_item;
using detail::line_of;

constexpr std::size_t kPortNameMax = 15;
// MN-ID option: 8-bit length covering the subtype byte and the identifier (RFC 4283 s.3).
constexpr std::size_t kNaiMax = 254;
// RFC 6275 s.6.1.7: the BU lifetime field counts units of 4 seconds in 16 bits.
constexpr std::int64_t kMaxBindingLifetime = 65535 * 4;

bool is_power_of_two(std::uint64_t v) {
    return v != 0 && (v & (v - 1)) == 0;
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
        Fields top(
            d_, root, "",
            {"eal", "log_level", "ports", "routes", "neighbors", "dataplane", "home_agent",
             "tunnel", "mobile_nodes", "heartbeat", "security", "policies", "state", "metrics"});
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
        if (auto n = top.get("policies")) detail::load_policies(d_, *n, c_.policies);
        if (auto n = top.get("mobile_nodes")) mobile_nodes(*n);
        if (auto n = top.get("security"))
            detail::load_security(d_, *n, c_.home_agent.home_prefixes, c_.security);
        if (auto n = top.get("state")) state(*n);
        if (auto n = top.get("metrics")) metrics(*n);
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

    void state(const YAML::Node& n) {
        Fields f(d_, n, "state",
                 {"backend", "path", "durability", "flush_interval_ms", "map_size_mb", "etcd"});
        if (!f.is_map()) return;
        auto& s = c_.state;
        if (auto b = f.get("backend"))
            read_enum<StateBackend>(d_, *b, f.path_of("backend"),
                                    {{"none", StateBackend::none},
                                     {"lmdb", StateBackend::lmdb},
                                     {"etcd", StateBackend::etcd}},
                                    s.backend);
        auto etcd = f.get("etcd");
        if (etcd) state_etcd(*etcd, f.path_of("etcd"));
        if (s.backend == StateBackend::etcd && (!etcd || s.etcd.endpoints.empty()))
            d_.error(n, f.path_of("etcd") + ".endpoints: required with backend etcd");
        if (auto p = f.get("path")) {
            if (detail::read_string(d_, *p, f.path_of("path"), s.path) && s.path.empty())
                d_.error(*p, f.path_of("path") + ": must not be empty");
        }
        if (auto d = f.get("durability"))
            read_enum<StateDurability>(
                d_, *d, f.path_of("durability"),
                {{"sync", StateDurability::sync}, {"async", StateDurability::async}}, s.durability);
        f.integer("flush_interval_ms", 1, 10'000, s.flush_interval_ms);
        f.integer("map_size_mb", 16, 1 << 20, s.map_size_mb);
    }

    // ---- metrics ----

    void metrics(const YAML::Node& n) {
        Fields f(d_, n, "metrics", {"listen"});
        if (!f.is_map()) return;
        auto v = f.get("listen");
        auto& m = c_.metrics;
        if (!v || !detail::read_string(d_, *v, f.path_of("listen"), m.listen)) return;
        // "[v6]:port" or "v4:port"; the address must be literal (no name lookups at start).
        std::string host;
        std::string_view port;
        if (!m.listen.empty() && m.listen.front() == '[') {
            const auto close = m.listen.find("]:");
            if (close != std::string::npos) {
                host = m.listen.substr(1, close - 1);
                port = std::string_view(m.listen).substr(close + 2);
                if (!Ipv6Address::parse(host)) host.clear();
            }
        } else if (const auto colon = m.listen.rfind(':');
                   colon != std::string::npos && m.listen.find(':') == colon) {
            host = m.listen.substr(0, colon);
            port = std::string_view(m.listen).substr(colon + 1);
            in_addr v4{};
            if (inet_pton(AF_INET, host.c_str(), &v4) != 1) host.clear();
        }
        unsigned long number = 0;
        const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
        if (host.empty() || port.empty() || ec != std::errc{} || end != port.data() + port.size() ||
            number == 0 || number > 65535) {
            d_.error(*v, f.path_of("listen") + ": \"" + m.listen +
                             "\": expected [IPv6]:PORT or IPv4:PORT (a literal address, port "
                             "1-65535)");
            m.listen.clear();
            return;
        }
        m.host = host;
        m.port = static_cast<std::uint16_t>(number);
    }

    void state_etcd(const YAML::Node& n, const std::string& path) {
        Fields f(d_, n, path,
                 {"endpoints", "prefix", "member", "lease_ttl_s", "request_timeout_ms", "ca_file",
                  "cert_file", "key_file"});
        if (!f.is_map()) return;
        auto& e = c_.state.etcd;
        if (auto list = f.get("endpoints"))
            for_each_item(d_, *list, f.path_of("endpoints"),
                          [&](const YAML::Node& item, const std::string& item_path, auto) {
                              std::string endpoint;
                              if (!detail::read_string(d_, item, item_path, endpoint)) return;
                              const auto colon = endpoint.rfind(':');
                              if (colon == std::string::npos || colon + 1 == endpoint.size() ||
                                  endpoint.find("://") != std::string::npos)
                                  d_.error(item, item_path + ": \"" + endpoint +
                                                     "\": expected host:port (no scheme)");
                              else
                                  e.endpoints.push_back(endpoint);
                          });
        if (auto p = f.get("prefix")) {
            if (detail::read_string(d_, *p, f.path_of("prefix"), e.prefix) &&
                (e.prefix.empty() || e.prefix.back() != '/'))
                d_.error(*p, f.path_of("prefix") + ": must end with '/'");
        }
        if (auto m = f.get("member")) {
            if (detail::read_string(d_, *m, f.path_of("member"), e.member) && e.member.empty())
                d_.error(*m, f.path_of("member") + ": must not be empty");
        }
        // etcd 3.4 grants no lease shorter than 1.5 x its election timeout (whole seconds).
        f.integer("lease_ttl_s", 1, 60, e.lease_ttl_s);
        f.integer("request_timeout_ms", 50, 60'000, e.request_timeout_ms);
        for (auto [key, out] :
             {std::pair{"ca_file", &e.ca_file}, std::pair{"cert_file", &e.cert_file},
              std::pair{"key_file", &e.key_file}})
            if (auto v = f.get(key)) detail::read_string(d_, *v, f.path_of(key), *out);
        if (e.cert_file.empty() != e.key_file.empty())
            d_.error(n, path + ": cert_file and key_file go together");
        if (!e.cert_file.empty() && e.ca_file.empty())
            d_.error(n, path + ": a client certificate needs ca_file (TLS)");
    }

    void dataplane(const YAML::Node& n) {
        Fields f(d_, n, "dataplane",
                 {"mbufs", "mbuf_cache", "rx_descriptors", "tx_descriptors", "control_ring",
                  "stats_interval_ms", "slow_iteration_warning_us", "signalling_steering"});
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
        f.integer("slow_iteration_warning_us", 0, 60'000'000, dp.slow_iteration_warning_us);
        if (auto steering = f.get("signalling_steering"))
            read_enum<SignallingSteering>(d_, *steering, f.path_of("signalling_steering"),
                                          {{"auto", SignallingSteering::automatic},
                                           {"software", SignallingSteering::software}},
                                          dp.signalling_steering);
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
            f.emplace(d_, *n, "home_agent",
                      std::initializer_list<std::string_view>{
                          "addresses", "home_prefixes", "preference", "lifetime",
                          "max_binding_lifetime", "max_bindings", "max_bindings_per_mn",
                          "max_flows_per_hoa", "max_options_per_message", "refresh_advice",
                          "refresh_request_before_expiry", "allow_mcoa", "allow_bulk_registration",
                          "allow_simultaneous_home_foreign", "allow_mobile_routers",
                          "duplicate_address_detection", "dad_wait_ms", "home_agents"});
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
        if (multiple_of_four(*f, "max_binding_lifetime", 4, ha.max_binding_lifetime) &&
            ha.max_binding_lifetime > ha.lifetime)
        // RFC 6275 s.10.3.1: a binding outlives no home prefix, whose valid lifetime the
        // Mobile Prefix Advertisement gives as home_agent.lifetime.
        {
            const char* key = f->get("max_binding_lifetime") ? "max_binding_lifetime" : "lifetime";
            d_.error(*f->get(key), f->path_of(key) + ": max_binding_lifetime " +
                                       std::to_string(ha.max_binding_lifetime) +
                                       " exceeds the home prefixes' valid lifetime (lifetime: " +
                                       std::to_string(ha.lifetime) + ")");
        }
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
        f->boolean("duplicate_address_detection", ha.duplicate_address_detection);
        f->integer("dad_wait_ms", 1, 60'000, ha.dad_wait_ms);
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
        Fields f(d_, n, "heartbeat",
                 {"enabled", "interval_ms", "missed_limit", "recovery", "care_of_prefixes"});
        if (!f.is_map()) return;
        f.boolean("enabled", c_.heartbeat.enabled);
        f.integer("interval_ms", 10, 3'600'000, c_.heartbeat.interval_ms);
        f.integer("missed_limit", 1, 255, c_.heartbeat.missed_limit);
        f.integer("recovery", 1, 255, c_.heartbeat.recovery);
        if (auto prefixes = f.get("care_of_prefixes"))
            for_each_item(d_, *prefixes, "heartbeat.care_of_prefixes",
                          [&](const YAML::Node& item, const std::string& path, auto) {
                              Ipv6Prefix p;
                              if (detail::read_prefix(d_, item, path, p))
                                  c_.heartbeat.care_of_prefixes.push_back(p);
                          });
    }

    bool profile_reference(const YAML::Node& n, const std::string& path, std::string& name,
                           std::size_t& index) {
        if (!detail::read_string(d_, n, path, name)) return false;
        if (auto found = detail::find_named(c_.policies.profiles, name)) {
            index = *found;
            return true;
        }
        d_.error(n, path + ": unknown profile '" + name + "'");
        return false;
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

    Diagnostics& d_;
    Config c_;
    YAML::Node root_;
    std::map<std::string, int> port_lines_;
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
