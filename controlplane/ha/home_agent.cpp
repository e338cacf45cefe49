#include "controlplane/ha/home_agent.hpp"

#include <algorithm>

#include "controlplane/net/icmpv6.hpp"
#include "controlplane/net/packet.hpp"

namespace monami::ha {

Ipv6Address link_local_from_mac(const MacAddress& mac) {
    Ipv6Address a;
    a.bytes[0] = 0xfe;
    a.bytes[1] = 0x80;
    a.bytes[8] = mac.bytes[0] ^ 0x02;
    a.bytes[9] = mac.bytes[1];
    a.bytes[10] = mac.bytes[2];
    a.bytes[11] = 0xff;
    a.bytes[12] = 0xfe;
    a.bytes[13] = mac.bytes[3];
    a.bytes[14] = mac.bytes[4];
    a.bytes[15] = mac.bytes[5];
    return a;
}

HomeAgent::HomeAgent(HaSettings settings, DataPlane& dataplane)
    : settings_(std::move(settings)), dataplane_(dataplane) {
    for (auto& itf : settings_.interfaces) {
        auto ll = link_local_from_mac(itf.mac);
        bool has_ll =
            std::any_of(itf.addresses.begin(), itf.addresses.end(),
                        [](const InterfaceAddress& a) { return a.address.is_link_local(); });
        if (!has_ll) itf.addresses.push_back({ll, 64});
    }
}

const Interface* HomeAgent::interface_of(PortId port) const {
    for (const auto& itf : settings_.interfaces)
        if (itf.port == port) return &itf;
    return nullptr;
}

bool HomeAgent::owns(PortId port, const Ipv6Address& a) const {
    const Interface* itf = interface_of(port);
    if (!itf) return false;
    return std::any_of(itf->addresses.begin(), itf->addresses.end(),
                       [&](const InterfaceAddress& x) { return x.address == a; });
}

// Source address selection, simplified RFC 6724: same scope first, then a matching prefix.
std::optional<Ipv6Address> HomeAgent::source_for(PortId port, const Ipv6Address& dst) const {
    const Interface* itf = interface_of(port);
    if (!itf) return std::nullopt;
    std::optional<Ipv6Address> fallback;
    for (const auto& a : itf->addresses) {
        if (a.address.is_link_local() != dst.is_link_local()) continue;
        if (Ipv6Prefix{a.address, a.prefix_length}.contains(dst)) return a.address;
        if (!fallback) fallback = a.address;
    }
    if (!fallback && !itf->addresses.empty()) fallback = itf->addresses.front().address;
    return fallback;
}

void HomeAgent::start(std::uint64_t) {
    publish();
}

std::vector<Neighbor> HomeAgent::neighbors() const {
    std::vector<Neighbor> out = settings_.static_neighbors;
    for (const auto& [addr, n] : learned_) {
        bool overridden = std::any_of(out.begin(), out.end(),
                                      [&](const Neighbor& s) { return s.address == addr; });
        if (!overridden) out.push_back({addr, n.port, n.mac});
    }
    return out;
}

std::vector<Route> HomeAgent::routes() const {
    std::vector<Route> out;
    for (const auto& itf : settings_.interfaces)
        for (const auto& a : itf.addresses)
            if (!a.address.is_link_local())
                out.push_back({Ipv6Prefix::covering(a.address, a.prefix_length), itf.port, {}});
    out.insert(out.end(), settings_.static_routes.begin(), settings_.static_routes.end());
    return out;
}

void HomeAgent::publish() {
    RoutingState state;
    for (const auto& itf : settings_.interfaces)
        for (const auto& a : itf.addresses) state.local_addresses.push_back(a.address);
    state.routes = routes();
    state.neighbors = neighbors();
    dataplane_.publish_routing(state);
}

void HomeAgent::learn(PortId port, const Ipv6Address& a, const MacAddress& mac) {
    if (a.is_unspecified() || a.is_multicast()) return;
    for (const auto& s : settings_.static_neighbors)
        if (s.address == a) return;  // static entries override ND
    auto it = learned_.find(a);
    if (it != learned_.end() && it->second.port == port && it->second.mac == mac) return;
    learned_[a] = {port, mac};
    pending_.erase(a);
    publish();
}

void HomeAgent::send(PortId port, const std::vector<std::uint8_t>& frame) {
    if (!dataplane_.send_frame(port, frame)) ++counters_.tx_failures;
}

void HomeAgent::on_frame(PortId port, PuntReason reason, std::span<const std::uint8_t> frame,
                         std::uint64_t now_ms) {
    ++counters_.frames;
    switch (reason) {
        case PuntReason::Local:
            handle_local(port, frame);
            return;
        case PuntReason::NeedsResolution:
            request_resolution(frame, now_ms);
            return;
        case PuntReason::HopLimitExceeded:
        case PuntReason::TooBig:
            ++counters_.not_handled;
            return;
    }
}

void HomeAgent::handle_local(PortId port, std::span<const std::uint8_t> frame) {
    auto packet = net::parse_ipv6_frame(frame);
    if (!packet) {
        ++counters_.malformed;
        return;
    }
    const Interface* itf = interface_of(port);
    if (!itf) return;
    if (packet->next_header != net::kProtoIcmpv6) {
        ++counters_.not_handled;
        return;
    }
    auto icmp = net::parse_icmpv6(*packet);
    if (!icmp) {
        ++counters_.malformed;
        return;
    }
    switch (icmp->type) {
        case net::icmp6::kNeighborSolicitation: {
            auto ns = net::parse_neighbor_solicitation(*packet, *icmp);
            if (!ns) {
                ++counters_.malformed;
                return;
            }
            if (!owns(port, ns->target)) {
                ++counters_.not_handled;
                return;
            }
            if (ns->source_link_layer) learn(port, packet->source, *ns->source_link_layer);
            net::NeighborAdvertisement na{false, true, true, ns->target, itf->mac};
            if (packet->source.is_unspecified()) {
                // Answer to a DAD probe: to all-nodes, unsolicited (RFC 4861 s.7.2.4).
                na.solicited = false;
                auto all_nodes = *Ipv6Address::parse("ff02::1");
                send(port,
                     net::build_neighbor_advertisement(MacAddress::for_ipv6_multicast(all_nodes),
                                                       itf->mac, ns->target, all_nodes, na));
            } else {
                MacAddress to = ns->source_link_layer ? *ns->source_link_layer : packet->eth_source;
                send(port, net::build_neighbor_advertisement(to, itf->mac, ns->target,
                                                             packet->source, na));
            }
            ++counters_.neighbor_solicitations_answered;
            return;
        }
        case net::icmp6::kNeighborAdvertisement: {
            auto na = net::parse_neighbor_advertisement(*packet, *icmp);
            if (!na) {
                ++counters_.malformed;
                return;
            }
            ++counters_.neighbor_advertisements_received;
            MacAddress mac = na->target_link_layer ? *na->target_link_layer : packet->eth_source;
            // Only solicited answers or updates of existing entries (RFC 4861 s.7.2.5).
            if (na->solicited || learned_.count(na->target) || pending_.count(na->target))
                learn(port, na->target, mac);
            return;
        }
        case net::icmp6::kEchoRequest:
            if (icmp->code != 0 || !owns(port, packet->destination)) {
                ++counters_.not_handled;
                return;
            }
            send(port, net::build_echo_reply(*packet, *icmp, itf->mac));
            ++counters_.echo_replies;
            return;
        default:
            ++counters_.not_handled;
            return;
    }
}

void HomeAgent::request_resolution(std::span<const std::uint8_t> frame, std::uint64_t now_ms) {
    ++counters_.unresolved_drops;
    auto packet = net::parse_ipv6_frame(frame);
    if (!packet) return;
    // Longest-prefix match over the control plane's own view of the routes.
    const Route* best = nullptr;
    auto all = routes();
    for (const auto& r : all)
        if (r.prefix.contains(packet->destination) &&
            (!best || r.prefix.length > best->prefix.length))
            best = &r;
    if (!best) return;
    Ipv6Address target = best->via ? *best->via : packet->destination;
    auto& pending = pending_[target];
    if (pending.last_sent_ms != 0 && now_ms - pending.last_sent_ms < settings_.resolution_retry_ms)
        return;
    pending = {best->port, now_ms};
    const Interface* itf = interface_of(best->port);
    auto src = source_for(best->port, target);
    if (!itf || !src) return;
    send(best->port, net::build_neighbor_solicitation(itf->mac, *src, target));
    ++counters_.neighbor_solicitations_sent;
}

void HomeAgent::on_tick(std::uint64_t) {}

}  // namespace monami::ha
