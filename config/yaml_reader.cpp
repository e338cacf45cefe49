#include "config/yaml_reader.hpp"

#include <algorithm>
#include <charconv>
#include <cstdio>

namespace monami::config::detail {

void Diagnostics::error(const YAML::Mark& at, std::string message) {
    // yaml-cpp marks are 0-based; a null mark (-1) clamps to the file's start.
    errors_.push_back(ConfigError{file_, std::max(at.line, 0) + 1, std::max(at.column, 0) + 1,
                                  std::move(message)});
}

void Diagnostics::error(const YAML::Node& at, std::string message) {
    if (at.IsNull()) {
        for (const auto& [value, key_mark] : null_value_keys_)
            if (value.is(at)) return error(key_mark, std::move(message));
    }
    error(at.Mark(), std::move(message));
}

void Diagnostics::note_null_value(const YAML::Node& value, const YAML::Mark& key_mark) {
    null_value_keys_.emplace_back(value, key_mark);
}

void Diagnostics::file_error(std::string message) {
    errors_.push_back(ConfigError{file_, 0, 0, std::move(message)});
}

std::vector<ConfigError> Diagnostics::take_sorted() {
    std::stable_sort(errors_.begin(), errors_.end(), [](const auto& a, const auto& b) {
        return std::pair(a.line, a.column) < std::pair(b.line, b.column);
    });
    return std::move(errors_);
}

int line_of(const YAML::Node& node) {
    return std::max(node.Mark().line, 0) + 1;
}

std::string describe(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Map:
            return "a mapping";
        case YAML::NodeType::Sequence:
            return "a sequence";
        case YAML::NodeType::Scalar:
            return "'" + node.Scalar() + "'";
        case YAML::NodeType::Null:
        case YAML::NodeType::Undefined:
            break;
    }
    return "null";
}

std::string child_path(const std::string& parent, std::size_t index) {
    return parent + "[" + std::to_string(index) + "]";
}

std::string child_path(const std::string& parent, std::string_view key) {
    if (parent.empty()) return std::string(key);
    return parent + "." + std::string(key);
}

bool read_string(Diagnostics& d, const YAML::Node& n, const std::string& path, std::string& out) {
    if (!n.IsScalar()) {
        d.error(n, path + ": expected a string, got " + describe(n));
        return false;
    }
    out = n.Scalar();
    return true;
}

namespace {

// Decimal or 0x-hex, optional leading '-'; nullopt for anything else, including overflow.
std::optional<std::int64_t> parse_integer(std::string_view text, bool& overflow) {
    overflow = false;
    bool negative = false;
    if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
        negative = text[0] == '-';
        text.remove_prefix(1);
    }
    int base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        text.remove_prefix(2);
    }
    if (text.empty() || text[0] == '-' || text[0] == '+') return std::nullopt;
    std::uint64_t magnitude = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), magnitude, base);
    if (end != text.data() + text.size()) return std::nullopt;
    if (ec == std::errc::result_out_of_range || magnitude > (std::uint64_t{1} << 62)) {
        overflow = true;
        return std::nullopt;
    }
    if (ec != std::errc{}) return std::nullopt;
    auto value = static_cast<std::int64_t>(magnitude);
    return negative ? -value : value;
}

}  // namespace

bool read_integer(Diagnostics& d, const YAML::Node& n, const std::string& path, std::int64_t min,
                  std::int64_t max, std::int64_t& out) {
    if (!n.IsScalar()) {
        d.error(n, path + ": expected an integer, got " + describe(n));
        return false;
    }
    bool overflow = false;
    auto value = parse_integer(n.Scalar(), overflow);
    if (!value && !overflow) {
        d.error(n, path + ": expected an integer, got " + describe(n));
        return false;
    }
    if (overflow || *value < min || *value > max) {
        d.error(n, path + ": " + n.Scalar() + " is out of range " + std::to_string(min) + ".." +
                       std::to_string(max));
        return false;
    }
    out = *value;
    return true;
}

bool read_bool(Diagnostics& d, const YAML::Node& n, const std::string& path, bool& out) {
    // YAML 1.2 core schema booleans only: "yes"/"on" are strings there.
    if (n.IsScalar()) {
        const auto& s = n.Scalar();
        if (s == "true" || s == "True" || s == "TRUE") {
            out = true;
            return true;
        }
        if (s == "false" || s == "False" || s == "FALSE") {
            out = false;
            return true;
        }
    }
    d.error(n, path + ": expected true or false, got " + describe(n));
    return false;
}

bool read_address(Diagnostics& d, const YAML::Node& n, const std::string& path, Ipv6Address& out) {
    std::string text;
    if (!read_string(d, n, path, text)) return false;
    auto address = Ipv6Address::parse(text);
    if (!address) {
        d.error(n, path + ": '" + text + "' is not an IPv6 address");
        return false;
    }
    out = *address;
    return true;
}

bool read_unicast_address(Diagnostics& d, const YAML::Node& n, const std::string& path,
                          Ipv6Address& out) {
    Ipv6Address address;
    if (!read_address(d, n, path, address)) return false;
    const char* problem = address.is_multicast()     ? "multicast"
                          : address.is_unspecified() ? "unspecified"
                          : address.is_loopback()    ? "loopback"
                                                     : nullptr;
    if (problem) {
        d.error(n, path + ": " + address.to_string() + " is a " + problem +
                       " address; a unicast address is needed");
        return false;
    }
    out = address;
    return true;
}

bool read_prefix(Diagnostics& d, const YAML::Node& n, const std::string& path, Ipv6Prefix& out) {
    std::string text;
    if (!read_string(d, n, path, text)) return false;
    auto slash = text.find('/');
    if (slash == std::string::npos) {
        d.error(n, path + ": '" + text + "' has no prefix length (expected ADDRESS/LENGTH)");
        return false;
    }
    auto address = Ipv6Address::parse(std::string_view(text).substr(0, slash));
    if (!address) {
        d.error(n, path + ": '" + text.substr(0, slash) + "' is not an IPv6 address");
        return false;
    }
    std::string_view length_text = std::string_view(text).substr(slash + 1);
    unsigned length = 0;
    auto [end, ec] =
        std::from_chars(length_text.data(), length_text.data() + length_text.size(), length);
    if (length_text.empty() || ec != std::errc{} ||
        end != length_text.data() + length_text.size() || length > 128) {
        d.error(n, path + ": '" + std::string(length_text) + "' is not a prefix length (0..128)");
        return false;
    }
    Ipv6Prefix masked{*address, static_cast<std::uint8_t>(length)};
    for (unsigned bit = length; bit < 128; ++bit)
        masked.address.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    if (masked.address != *address) {
        d.error(n, path + ": '" + text + "' has host bits set (did you mean " + masked.to_string() +
                       "?)");
        return false;
    }
    out = masked;
    return true;
}

bool read_mac(Diagnostics& d, const YAML::Node& n, const std::string& path, MacAddress& out) {
    std::string text;
    if (!read_string(d, n, path, text)) return false;
    auto mac = MacAddress::parse(text);
    if (!mac) {
        d.error(n, path + ": '" + text + "' is not a MAC address (expected xx:xx:xx:xx:xx:xx)");
        return false;
    }
    if (mac->bytes[0] & 0x01) {
        d.error(n, path + ": " + mac->to_string() + " is a multicast MAC address");
        return false;
    }
    if (mac->is_zero()) {
        d.error(n, path + ": 00:00:00:00:00:00 is not a usable MAC address");
        return false;
    }
    out = *mac;
    return true;
}

bool read_name(Diagnostics& d, const YAML::Node& n, const std::string& path, std::size_t max_length,
               std::string& out) {
    std::string text;
    if (!read_string(d, n, path, text)) return false;
    bool valid =
        !text.empty() && text.size() <= max_length &&
        std::all_of(text.begin(), text.end(), [](char c) {
            return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
        });
    if (!valid) {
        d.error(n, path + ": '" + text + "' is not a valid name ([a-z0-9_-], 1 to " +
                       std::to_string(max_length) + " characters)");
        return false;
    }
    out = std::move(text);
    return true;
}

bool read_hex_bytes(Diagnostics& d, const YAML::Node& n, const std::string& path,
                    std::vector<std::uint8_t>& out) {
    if (!n.IsScalar()) {
        d.error(n, path + ": expected a hex string, got " +
                       (n.IsMap()        ? "a mapping"
                        : n.IsSequence() ? "a sequence"
                                         : "null"));
        return false;
    }
    std::string_view text = n.Scalar();
    if (text.size() >= 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
        text.remove_prefix(2);
    std::vector<std::uint8_t> bytes;
    bool valid = !text.empty() && text.size() % 2 == 0;
    for (std::size_t i = 0; valid && i < text.size(); i += 2) {
        unsigned value = 0;
        auto [end, ec] = std::from_chars(text.data() + i, text.data() + i + 2, value, 16);
        valid = ec == std::errc{} && end == text.data() + i + 2;
        bytes.push_back(static_cast<std::uint8_t>(value));
    }
    if (!valid) {
        // The text may be key material: say what is wrong without echoing it.
        d.error(n, path + ": not a hex string (an even number of hex digits expected)");
        return false;
    }
    out = std::move(bytes);
    return true;
}

bool read_enum_index(Diagnostics& d, const YAML::Node& n, const std::string& path,
                     const std::vector<std::string_view>& names, std::size_t& index) {
    std::string text;
    if (!read_string(d, n, path, text)) return false;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (names[i] == text) {
            index = i;
            return true;
        }
    }
    std::string expected;
    for (auto name : names) {
        if (!expected.empty()) expected += ", ";
        expected += name;
    }
    d.error(n, path + ": unknown value '" + text + "' (expected " + expected + ")");
    return false;
}

Fields::Fields(Diagnostics& d, const YAML::Node& node, std::string path,
               std::initializer_list<std::string_view> allowed)
    : d_(d), node_(node), path_(std::move(path)) {
    const std::string where = path_.empty() ? "at top level" : "in " + path_;
    if (!node.IsMap()) {
        d.error(node, (path_.empty() ? std::string("configuration") : path_) +
                          ": expected a mapping, got " + describe(node));
        return;
    }
    is_map_ = true;
    for (auto it = node.begin(); it != node.end(); ++it) {
        const YAML::Node key = it->first;
        if (!key.IsScalar()) {
            d.error(key, "a key " + where + " must be a string, got " + describe(key));
            continue;
        }
        const std::string& name = key.Scalar();
        if (std::find(allowed.begin(), allowed.end(), name) == allowed.end()) {
            d.error(key, "unknown key '" + name + "' " + where);
            continue;
        }
        auto seen = std::find_if(values_.begin(), values_.end(),
                                 [&](const auto& entry) { return entry.name == name; });
        if (seen != values_.end()) {
            d.error(key, "duplicate key '" + name + "' " + where + " (first at line " +
                             std::to_string(line_of(seen->key)) + ")");
            continue;
        }
        const YAML::Node value = it->second;
        if (value.IsNull()) d.note_null_value(value, key.Mark());
        values_.push_back(Entry{name, key, value});
    }
}

std::optional<YAML::Node> Fields::get(std::string_view key) const {
    for (const auto& entry : values_)
        if (entry.name == key) return entry.value;
    return std::nullopt;
}

std::optional<YAML::Node> Fields::require(std::string_view key) const {
    auto value = get(key);
    if (!value && is_map_) {
        d_.error(node_, "missing required key '" + std::string(key) + "' " +
                            (path_.empty() ? std::string("at top level") : "in " + path_));
    }
    return value;
}

}  // namespace monami::config::detail
