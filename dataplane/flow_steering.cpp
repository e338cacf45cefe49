#include "dataplane/flow_steering.hpp"

#include <rte_errno.h>
#include <rte_flow.h>

#include <cstring>
#include <optional>
#include <vector>

#include "controlplane/net/packet.hpp"

namespace monami::dp {

namespace {

struct Rule {
    rte_flow_attr attr{};
    rte_flow_item_ipv6 spec{};
    rte_flow_item_ipv6 mask{};
    rte_flow_item pattern[3] = {};
    rte_flow_action_queue to_queue{};
    rte_flow_action actions[2] = {};

    // ETH / IPV6 (next header, [destination]) / END -> QUEUE.
    Rule(std::uint8_t next_header, const std::optional<Ipv6Address>& dst, std::uint16_t queue) {
        attr.ingress = 1;
        spec.hdr.proto = next_header;
        mask.hdr.proto = 0xff;
        if (dst) {
            dst->copy_to(spec.hdr.dst_addr);
            std::memset(mask.hdr.dst_addr, 0xff, sizeof mask.hdr.dst_addr);
        }
        pattern[0].type = RTE_FLOW_ITEM_TYPE_ETH;
        pattern[1].type = RTE_FLOW_ITEM_TYPE_IPV6;
        pattern[1].spec = &spec;
        pattern[1].mask = &mask;
        pattern[2].type = RTE_FLOW_ITEM_TYPE_END;
        to_queue.index = queue;
        actions[0].type = RTE_FLOW_ACTION_TYPE_QUEUE;
        actions[0].conf = &to_queue;
        actions[1].type = RTE_FLOW_ACTION_TYPE_END;
    }
    Rule(const Rule&) = delete;
    Rule& operator=(const Rule&) = delete;
};

std::string why(const char* call, int rc, const rte_flow_error& error) {
    return std::string(call) + ": " + (error.message ? error.message : rte_strerror(-rc));
}

}  // namespace

SteeringProbe probe_signalling_steering(PortId port, std::span<const Ipv6Address> addresses,
                                        std::uint16_t queue) {
    std::vector<std::optional<Ipv6Address>> destinations(addresses.begin(), addresses.end());
    if (destinations.empty()) destinations.emplace_back();
    for (std::uint8_t next_header : {net::kProtoMobility, net::kProtoEsp}) {
        for (const auto& dst : destinations) {
            Rule rule(next_header, dst, queue);
            rte_flow_error error{};
            if (int rc = rte_flow_validate(port, &rule.attr, rule.pattern, rule.actions, &error);
                rc != 0)
                return {false, why("rte_flow_validate", rc, error)};
        }
    }
    // Validation only checks the rule's shape (net_tap accepts rules it then cannot install
    // without the kernel's multiq qdisc): install one for a moment. Every worker punts
    // signalling alike, so steering it to one queue briefly changes nothing.
    Rule rule(net::kProtoMobility, destinations.front(), queue);
    rte_flow_error error{};
    rte_flow* flow = rte_flow_create(port, &rule.attr, rule.pattern, rule.actions, &error);
    if (!flow) return {false, why("rte_flow_create", -rte_errno, error)};
    rte_flow_destroy(port, flow, &error);
    return {true, "validated"};
}

}  // namespace monami::dp
