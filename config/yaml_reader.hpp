// Internal to config/: typed reading of yaml-cpp nodes with positioned errors.
// Every reader reports its own problem and returns false; callers keep going so
// that one load reports as many errors as it can.
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/load.hpp"
#include "dataplane/api/types.hpp"

namespace monami::config::detail {

class Diagnostics {
  public:
    explicit Diagnostics(std::string file) : file_(std::move(file)) {}

    void error(const YAML::Mark& at, std::string message);
    // A null value ("key:" with nothing after it) carries the mark of the next token,
    // so errors about it go to its key, as registered by Fields.
    void error(const YAML::Node& at, std::string message);
    void note_null_value(const YAML::Node& value, const YAML::Mark& key_mark);
    // For problems that belong to the whole file (unreadable, empty).
    void file_error(std::string message);

    bool has_errors() const { return !errors_.empty(); }
    // All errors, stably sorted by position.
    std::vector<ConfigError> take_sorted();

  private:
    std::string file_;
    std::vector<ConfigError> errors_;
    std::vector<std::pair<YAML::Node, YAML::Mark>> null_value_keys_;
};

// 1-based line of a node, for "first at line N" hints.
int line_of(const YAML::Node& node);

// " (first at line N)", for messages about duplicates.
inline std::string first_at(int line) {
    return " (first at line " + std::to_string(line) + ")";
}

// "a mapping", "a sequence", "null", "'text'".
std::string describe(const YAML::Node& node);

// A key path element: "ports" + 0 -> "ports[0]", "ports[0]" + "mtu" -> "ports[0].mtu".
std::string child_path(const std::string& parent, std::size_t index);
std::string child_path(const std::string& parent, std::string_view key);

// Scalar readers. `path` names the node in messages.
bool read_string(Diagnostics& d, const YAML::Node& n, const std::string& path, std::string& out);
bool read_integer(Diagnostics& d, const YAML::Node& n, const std::string& path, std::int64_t min,
                  std::int64_t max, std::int64_t& out);
bool read_bool(Diagnostics& d, const YAML::Node& n, const std::string& path, bool& out);
bool read_address(Diagnostics& d, const YAML::Node& n, const std::string& path, Ipv6Address& out);
// A unicast address we can use or reach: not multicast, unspecified or loopback.
bool read_unicast_address(Diagnostics& d, const YAML::Node& n, const std::string& path,
                          Ipv6Address& out);
bool read_prefix(Diagnostics& d, const YAML::Node& n, const std::string& path, Ipv6Prefix& out);
bool read_mac(Diagnostics& d, const YAML::Node& n, const std::string& path, MacAddress& out);
// [a-z0-9_-]{1,max_length}
bool read_name(Diagnostics& d, const YAML::Node& n, const std::string& path, std::size_t max_length,
               std::string& out);
// Hex digits, optionally "0x"-prefixed. The text never appears in messages (keys).
bool read_hex_bytes(Diagnostics& d, const YAML::Node& n, const std::string& path,
                    std::vector<std::uint8_t>& out);

template <class Int>
bool read_integer(Diagnostics& d, const YAML::Node& n, const std::string& path, std::int64_t min,
                  std::int64_t max, Int& out) {
    std::int64_t value = 0;
    if (!read_integer(d, n, path, min, max, value)) return false;
    out = static_cast<Int>(value);
    return true;
}

template <class E>
using EnumNames = std::initializer_list<std::pair<std::string_view, E>>;

bool read_enum_index(Diagnostics& d, const YAML::Node& n, const std::string& path,
                     const std::vector<std::string_view>& names, std::size_t& index);

template <class E>
bool read_enum(Diagnostics& d, const YAML::Node& n, const std::string& path, EnumNames<E> table,
               E& out) {
    std::vector<std::string_view> names;
    for (const auto& entry : table) names.push_back(entry.first);
    std::size_t index = 0;
    if (!read_enum_index(d, n, path, names, index)) return false;
    out = (table.begin() + index)->second;
    return true;
}

// Checks that `n` is a sequence and calls fn(item, item_path, index) for each item.
template <class Fn>
bool for_each_item(Diagnostics& d, const YAML::Node& n, const std::string& path, Fn&& fn) {
    if (!n.IsSequence()) {
        d.error(n, path + ": expected a sequence, got " + describe(n));
        return false;
    }
    for (std::size_t i = 0; i < n.size(); ++i) fn(n[i], child_path(path, i), i);
    return true;
}

// The keys of one mapping node, checked against the keys it may have: unknown and
// repeated keys are reported when the object is built.
class Fields {
  public:
    Fields(Diagnostics& d, const YAML::Node& node, std::string path,
           std::initializer_list<std::string_view> allowed);

    bool is_map() const { return is_map_; }
    const YAML::Node& node() const { return node_; }
    const std::string& path() const { return path_; }
    std::string path_of(std::string_view key) const { return child_path(path_, key); }

    std::optional<YAML::Node> get(std::string_view key) const;
    // Reports "missing required key" at the mapping when absent.
    std::optional<YAML::Node> require(std::string_view key) const;

    // Readers for optional keys: `out` keeps its default when the key is absent.
    // They return false only when the key is present and invalid.
    template <class Int>
    bool integer(std::string_view key, std::int64_t min, std::int64_t max, Int& out) const {
        auto n = get(key);
        return !n || read_integer(d_, *n, path_of(key), min, max, out);
    }
    bool boolean(std::string_view key, bool& out) const {
        auto n = get(key);
        return !n || read_bool(d_, *n, path_of(key), out);
    }

  private:
    Diagnostics& d_;
    YAML::Node node_;
    std::string path_;
    bool is_map_ = false;
    struct Entry {
        std::string name;
        YAML::Node key;
        YAML::Node value;
    };
    std::vector<Entry> values_;
};

}  // namespace monami::config::detail
