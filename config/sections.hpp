// Internal to config/: section loaders that live in their own files, with the
// parts of the configuration they depend on passed explicitly.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "config/schema.hpp"
#include "config/yaml_reader.hpp"

namespace monami::config::detail {

// Index of the item called `name` in a vector of named items.
template <class Item>
std::optional<std::size_t> find_named(const std::vector<Item>& items, const std::string& name) {
    for (std::size_t i = 0; i < items.size(); ++i)
        if (items[i].name == name) return i;
    return std::nullopt;
}

void load_policies(Diagnostics& d, const YAML::Node& n, Policies& out);
void load_security(Diagnostics& d, const YAML::Node& n,
                   const std::vector<Ipv6Prefix>& home_prefixes, Security& out);

}  // namespace monami::config::detail
