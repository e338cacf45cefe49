// A DataPlane that records what the control plane asks of it, for control-plane unit tests
// (the DPDK implementation is exercised by the EAL and end-to-end tests).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "dataplane/api/control.hpp"

namespace monami::test_support {

struct RecordingDataPlane : DataPlane {
    std::vector<std::pair<PortId, std::vector<std::uint8_t>>> sent;
    std::vector<std::vector<std::uint8_t>> routed;
    std::vector<RoutingState> published;
    std::vector<Neighbor> neighbors;  // publish_neighbor, in order
    std::map<HomeAddress, std::shared_ptr<const HoaSnapshot>> hoas;
    std::vector<HomeAddress> withdrawn;
    std::optional<PortId> only_port;  // record frames of this port only, when set

    bool send_frame(PortId port, std::span<const std::uint8_t> frame) override {
        if (!only_port || *only_port == port)
            sent.emplace_back(port, std::vector<std::uint8_t>(frame.begin(), frame.end()));
        return true;
    }
    bool route_packet(std::span<const std::uint8_t> ip) override {
        routed.emplace_back(ip.begin(), ip.end());
        return true;
    }
    void publish_routing(const RoutingState& s) override { published.push_back(s); }
    void publish_neighbor(const Neighbor& n) override { neighbors.push_back(n); }
    void publish_hoa(const HoaSnapshot& snap) override {
        hoas[snap.home_address] = std::make_shared<const HoaSnapshot>(snap);
    }
    void withdraw_hoa(const HomeAddress& hoa) override {
        hoas.erase(hoa);
        withdrawn.push_back(hoa);
    }
    PathCounters path_counters(std::uint32_t) const override { return {}; }
    void reclaim() override {}
    void set_serving(bool s) override { serving = s; }
    bool serving = true;
};

}  // namespace monami::test_support
