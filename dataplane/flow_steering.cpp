#include "dataplane/flow_steering.hpp"

#include <rte_errno.h>

#include <cstring>

namespace monami::dp {

namespace {

// ETH / IPV6 (next header, destination under a mask) / END -> QUEUE.
struct Rule {
    rte_flow_attr attr{};
    rte_flow_item_ipv6 spec{};
    rte_flow_item_ipv6 mask{};
    rte_flow_item pattern[3] = {};
    rte_flow_action_queue to_queue{};
    rte_flow_action actions[2] = {};

    Rule(std::uint8_t next_header, const Ipv6Address& dst, unsigned prefix_length,
         std::uint16_t queue) {
        attr.ingress = 1;
        spec.hdr.proto = next_header;
        mask.hdr.proto = 0xff;
        dst.copy_to(spec.hdr.dst_addr);
        for (unsigned bit = 0; bit < prefix_length; ++bit)
            mask.hdr.dst_addr[bit / 8] |= static_cast<std::uint8_t>(0x80u >> (bit % 8));
        for (unsigned i = 0; i < 16; ++i) spec.hdr.dst_addr[i] &= mask.hdr.dst_addr[i];
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

    rte_flow* create(PortId port, std::string& error) const {
        rte_flow_error e{};
        rte_flow* flow = rte_flow_create(port, &attr, pattern, actions, &e);
        if (!flow)
            error = std::string("rte_flow_create: ") +
                    (e.message ? e.message : rte_strerror(rte_errno));
        return flow;
    }
};

const Ipv6Address kMulticast{{0xff}};

}  // namespace

std::optional<std::string> signalling_steering_unavailable(PortId port, std::uint16_t queue) {
    Rule rule(135, kMulticast, 8, queue);
    rte_flow_error e{};
    if (int rc = rte_flow_validate(port, &rule.attr, rule.pattern, rule.actions, &e); rc != 0)
        return std::string("rte_flow_validate: ") + (e.message ? e.message : rte_strerror(-rc));
    std::string error;
    rte_flow* flow = rule.create(port, error);
    if (!flow) return error;
    rte_flow_destroy(port, flow, &e);
    return std::nullopt;
}

Result<std::vector<rte_flow*>, std::string> install_signalling_rules(
    PortId port, std::span<const Ipv6Address> addresses, std::uint16_t queue) {
    std::vector<rte_flow*> flows;
    std::string error;
    auto add = [&](std::uint8_t next_header, const Ipv6Address& dst, unsigned length) {
        Rule rule(next_header, dst, length, queue);
        rte_flow* flow = rule.create(port, error);
        if (flow) flows.push_back(flow);
        return flow != nullptr;
    };
    bool ok = add(58, kMulticast, 8);
    for (const auto& address : addresses) {
        if (address.bytes[0] == 0xff) continue;  // covered by the multicast rule
        for (std::uint8_t next_header : kSteeredNextHeaders)
            if (ok) ok = add(next_header, address, 128);
    }
    if (!ok) {
        remove_signalling_rules(port, flows);
        return Err{error};
    }
    return flows;
}

void remove_signalling_rules(PortId port, std::vector<rte_flow*>& flows) {
    for (rte_flow* flow : flows) {
        rte_flow_error e{};
        rte_flow_destroy(port, flow, &e);
    }
    flows.clear();
}

}  // namespace monami::dp
