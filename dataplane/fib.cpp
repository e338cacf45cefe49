#include "dataplane/fib.hpp"

#include <rte_errno.h>
#include <rte_lcore.h>

#include <atomic>

namespace monami::dp {

namespace {
std::atomic<unsigned> fib_serial{0};

}  // namespace

std::unique_ptr<Fib> Fib::compile(const RoutingState& state, std::string& error) {
    std::unique_ptr<Fib> fib(new Fib());
    unsigned entries = static_cast<unsigned>(state.routes.size() + state.local_addresses.size());
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
        NextHop nh{NextHopKind::OnLink, r.port, {}};
        if (r.via) {
            nh.kind = NextHopKind::Via;
            r.via->copy_to(nh.via);
        }
        if (!add(r.prefix.address, r.prefix.length, nh)) return nullptr;
    }
    for (const auto& a : state.local_addresses)
        if (!add(a, 128, {NextHopKind::Local, 0, {}})) return nullptr;
    fib->routes_ = state.routes;
    fib->local_addresses_ = state.local_addresses;
    return fib;
}

bool Fib::same_as(const RoutingState& state) const {
    if (state.local_addresses != local_addresses_ || state.routes.size() != routes_.size())
        return false;
    for (std::size_t i = 0; i < routes_.size(); ++i) {
        const Route& a = routes_[i];
        const Route& b = state.routes[i];
        if (!(a.prefix == b.prefix) || a.port != b.port || a.via != b.via) return false;
    }
    return true;
}

Fib::~Fib() {
    if (lpm_) rte_lpm6_free(lpm_);
}

}  // namespace monami::dp
