// policies: access classes, traffic classes and profiles. Self-contained: the
// section refers to nothing outside itself.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <map>
#include <optional>
#include <string>

#include "config/sections.hpp"
#include "config/yaml_reader.hpp"

namespace monami::config::detail {
namespace {

constexpr std::size_t kClassNameMax = 31;

class PolicyLoader {
  public:
    PolicyLoader(Diagnostics& d, Policies& out) : d_(d), p_(out) {}

    void load(const YAML::Node& n) {
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
                p_.default_profile = profile;
                p_.default_profile_index = index;
            }
        }
    }

    bool profile_reference(const YAML::Node& n, const std::string& path, std::string& name,
                           std::size_t& index) {
        if (!read_string(d_, n, path, name)) return false;
        if (auto found = find_named(p_.profiles, name)) {
            index = *found;
            return true;
        }
        d_.error(n, path + ": unknown profile '" + name + "'");
        return false;
    }

    bool access_class_reference(const YAML::Node& n, const std::string& path, AccessClassRef& out) {
        if (!read_string(d_, n, path, out.name)) return false;
        if (auto found = find_named(p_.access_classes, out.name)) {
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
        if (!n || !read_name(d_, *n, f.path_of("name"), max_length, out)) return false;
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
                            if (!read_prefix(d_, p, p_path, prefix)) return;
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
                p_.access_classes.push_back(std::move(ac));
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
                p_.traffic_classes.push_back(std::move(tc));
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
                if (read_integer(d_, *protocol, f.path_of("protocol"), 0, 255, number))
                    m.protocol = number;
            } else {
                d_.error(*protocol, f.path_of("protocol") + ": unknown protocol " +
                                        describe(*protocol) +
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
            else if (read_integer(d_, *dscp, f.path_of("dscp"), 0, 63, value))
                m.dscp = value;
        }
        if (auto p = f.get("source_prefix"))
            read_prefix(d_, *p, f.path_of("source_prefix"), m.source_prefix);
        if (auto p = f.get("destination_prefix"))
            read_prefix(d_, *p, f.path_of("destination_prefix"), m.destination_prefix);
    }

    // "any", 5060, "5060" or "5060-5090".
    bool port_range(const YAML::Node& n, const std::string& path, PortRange& out) {
        std::string text;
        if (!read_string(d_, n, path, text)) return false;
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
                p_.profiles.push_back(std::move(profile));
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
            if (!read_string(d_, *tc, tc_path, rule.traffic_class)) {
                ok = false;
            } else if (rule.traffic_class != "any" &&
                       !(rule.traffic_class_index =
                             find_named(p_.traffic_classes, rule.traffic_class))) {
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
            ok &= read_enum<RuleMode>(d_, *mode, f.path_of("mode"),
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
                                       describe(*weights));
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
                if (!read_integer(d_, value_node, entry_path, INT32_MIN, INT32_MAX, value))
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

    Diagnostics& d_;
    Policies& p_;
};

}  // namespace

void load_policies(Diagnostics& d, const YAML::Node& n, Policies& out) {
    PolicyLoader(d, out).load(n);
}

}  // namespace monami::config::detail
