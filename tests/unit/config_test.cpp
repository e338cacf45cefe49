#include <gtest/gtest.h>

#include "config/load.hpp"

using namespace monami::config;
using monami::Ipv6Address;

namespace {

std::string source_path(const std::string& relative) {
    return std::string(MONAMI_SOURCE_ROOT) + "/" + relative;
}

std::vector<std::string> errors_of(std::string_view yaml) {
    auto result = load_config_string(yaml, "t.yaml");
    std::vector<std::string> out;
    if (result) return out;
    for (const auto& e : result.error()) out.push_back(e.to_string());
    return out;
}

}  // namespace

TEST(ConfigExamples, CompleteExampleLoads) {
    auto result = load_config_file(source_path("config/monami.yaml"));
    if (!result) {
        for (const auto& e : result.error()) ADD_FAILURE() << e.to_string();
        return;
    }
    const Config& c = *result;
    EXPECT_EQ(c.ports.size(), 2u);
}

TEST(ConfigExamples, MinimalExampleLoads) {
    auto result = load_config_file(source_path("config/minimal.yaml"));
    if (!result) {
        for (const auto& e : result.error()) ADD_FAILURE() << e.to_string();
        return;
    }
}

TEST(ConfigErrors, Probe) {
    for (auto& e :
         errors_of("ports:\n  - name: Home\n    device: foo\n    mtu: 1000\n    bogus: 1\n"))
        ADD_FAILURE() << e;
    for (auto& e : errors_of("ports:\n  - name: home\n    device:\n    mtu: 1000\n"))
        ADD_FAILURE() << e;
    for (auto& e : errors_of("ports: [\n")) ADD_FAILURE() << e;
}
