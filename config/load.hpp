// Loading monami's YAML configuration into a validated config::Config.
// yaml-cpp exceptions are caught here and nowhere else; every problem becomes a
// ConfigError pointing at the offending node.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "config/schema.hpp"
#include "dataplane/api/result.hpp"

namespace monami::config {

struct ConfigError {
    std::string file;  // the path or name given to the loader
    int line = 0;      // 1-based; 0 when the error concerns the whole file (e.g. unreadable)
    int column = 0;    // 1-based
    std::string message;

    // "FILE:LINE:COLUMN: message", or "FILE: message" when line is 0.
    std::string to_string() const;
    friend bool operator==(const ConfigError&, const ConfigError&) = default;
};

using LoadResult = Result<Config, std::vector<ConfigError>>;

// Reads and validates a YAML file. On failure returns every error found, sorted by
// position (a YAML syntax error stops at that error).
LoadResult load_config_file(const std::string& path);

// The same for text in memory; `name` stands for the file name in errors.
LoadResult load_config_string(std::string_view yaml, const std::string& name);

}  // namespace monami::config
