#include "dataplane/fib.hpp"

#include <rte_errno.h>
#include <rte_lcore.h>

#include <atomic>
#include <map>

namespace monami::dp {

namespace {
std::atomic<unsigned> fib_serial{0};

rte_ether_addr to_ether(const MacAddress& mac) {
    rte_ether_addr e;
    std::memcpy(e.addr_bytes, mac.bytes.data(), 6);
    return e;
}
}  // namespace

std::unique_ptr<Fib> Fib::compile(const RoutingState& state, std::string& error) {
    std::unique_ptr<Fib> fib(new Fib());
    unsigned entries = static_cast<unsigned>(state.routes.size() + state.neighbors.size() +
                                             state.local_addresses.size());
    rte_lpm6_config cfg{};
    cfg.max_rules = entries + 16;
    // A /128 can need up to 14 tbl8 groups (one per byte beyond the first 24 bits).
    cfg.number_tbl8s = (entries + 1) * 14;
    std::string name = "monami_fib" + std::to_string(fib_serial.fetch_add(1));
    fib->lpm_ = rte_lpm6_create(name.c_str(), static_cast<int>(rte_socket_id()), &cfg);
    if (!fib->lpm_) {
        error = std::string("rte_lpm6_create: ") + rte_strerror(rte_errno);
        return nullptr;
    }
    std::map<Ipv6Address, const Neighbor*> neighbor_of;
    for (const auto& n : state.neighbors) neighbor_of[n.address] = &n;

    auto add = [&](const Ipv6Address& prefix, std::uint8_t depth, const NextHop& nh) {
        auto id = static_cast<std::uint32_t>(fib->next_hops_.size());
        fib->next_hops_.push_back(nh);
        std::uint8_t ip[16];
        prefix.copy_to(ip);
        if (rte_lpm6_add(fib->lpm_, ip, depth, id) < 0) {
            error = "rte_lpm6_add failed for " + prefix.to_string() + "/" + std::to_string(depth);
            return false;
        }
        return true;
    };
    for (const auto& r : state.routes) {
        NextHop nh{NextHopKind::Resolve, r.port, {}};
        if (r.via) {
            auto it = neighbor_of.find(*r.via);
            if (it != neighbor_of.end())
                nh = {NextHopKind::Forward, it->second->port, to_ether(it->second->mac)};
        }
        if (!add(r.prefix.address, r.prefix.length, nh)) return nullptr;
    }
    for (const auto& n : state.neighbors)
        if (!add(n.address, 128, {NextHopKind::Forward, n.port, to_ether(n.mac)})) return nullptr;
    for (const auto& a : state.local_addresses)
        if (!add(a, 128, {NextHopKind::Local, 0, {}})) return nullptr;
    fib->local_addresses_ = state.local_addresses;
    return fib;
}

Fib::~Fib() {
    if (lpm_) rte_lpm6_free(lpm_);
}

}  // namespace monami::dp
