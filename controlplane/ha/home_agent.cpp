#include "controlplane/ha/home_agent.hpp"

#include <algorithm>

#include "controlplane/mh/exthdr.hpp"
#include "controlplane/net/checksum.hpp"
#include "controlplane/net/packet.hpp"

namespace monami::ha {

std::vector<std::pair<const char*, std::uint64_t>> HaCounters::items() const {
    return {
#define MONAMI_X(name) {#name, name},
        MONAMI_HA_COUNTERS(MONAMI_X)
#undef MONAMI_X
    };
}

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

Ipv6Address home_agents_anycast(const Ipv6Prefix& prefix) {
    Ipv6Address a = prefix.address;
    const std::uint8_t iid[8] = {0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe};
    std::copy(iid, iid + 8, a.bytes.begin() + 8);
    return a;
}

HomeAgent::HomeAgent(HaSettings settings, DataPlane& dataplane)
    : settings_(std::move(settings)),
      dataplane_(dataplane),
      cache_([&] {
          bcache::BindingCacheSettings b = settings_.bindings;
          b.home_prefixes = settings_.home_prefixes;
          b.ha_addresses = settings_.ha_addresses;
          return b;
      }()),
      policy_(settings_.policies),
      liveness_(settings_.liveness) {
    for (auto& itf : settings_.interfaces) {
        bool has_ll =
            std::any_of(itf.addresses.begin(), itf.addresses.end(),
                        [](const InterfaceAddress& a) { return a.address.is_link_local(); });
        if (!has_ll) itf.addresses.push_back({link_local_from_mac(itf.mac), 64});
    }
    build_routes();
    init_security(std::move(settings_.security));
}

void HomeAgent::reserve_capacity() {
    const std::size_t capacity = settings_.bindings.max_bindings;
    cache_.reserve(capacity);
    hoas_.reserve(capacity);
    signalling_ingress_.reserve(capacity);
    proxied_.reserve(capacity);
    free_slots_.reserve(settings_.max_paths);
    liveness_.reserve(capacity);
    security_->reserve(capacity, capacity);
}

const Interface* HomeAgent::interface_of(PortId port) const {
    for (const auto& itf : settings_.interfaces)
        if (itf.port == port) return &itf;
    return nullptr;
}

// The port on whose link a home address lives (its home prefix is on-link there).
const Interface* HomeAgent::home_interface_for(const Ipv6Address& hoa) const {
    for (const auto& [prefix, itf] : on_link_)
        if (prefix.contains(hoa)) return &settings_.interfaces[itf];
    return nullptr;
}

bool HomeAgent::owns(PortId port, const Ipv6Address& a) const {
    const Interface* itf = interface_of(port);
    if (!itf) return false;
    if (std::any_of(itf->addresses.begin(), itf->addresses.end(),
                    [&](const InterfaceAddress& x) { return x.address == a; }))
        return true;
    for (const auto& p : settings_.home_prefixes)
        if (home_agents_anycast(p) == a && home_interface_for(a) == itf) return true;
    return false;
}

bool HomeAgent::is_ha_address(const Ipv6Address& a) const {
    return std::find(settings_.ha_addresses.begin(), settings_.ha_addresses.end(), a) !=
           settings_.ha_addresses.end();
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
    publish_routing();
}

std::vector<Neighbor> HomeAgent::neighbors() const {
    std::vector<Neighbor> out = settings_.static_neighbors;
    for (const auto& entry : learned_) {
        const Ipv6Address& addr = entry.first;
        bool overridden = std::any_of(out.begin(), out.end(),
                                      [&](const Neighbor& s) { return s.address == addr; });
        if (!overridden) out.push_back({addr, entry.second.port, entry.second.mac});
    }
    return out;
}

std::vector<Neighbor> HomeAgent::neighbors_after(const Ipv6Address* after, std::size_t max) const {
    // Static entries (configuration: few) merged into the learned ones, in address order;
    // learn() never records an address a static entry has.
    std::vector<Neighbor> out;
    for (const auto& s : settings_.static_neighbors)
        if (!after || *after < s.address) out.push_back(s);
    for (auto it = after ? learned_.upper_bound(*after) : learned_.begin();
         it != learned_.end() && out.size() < max + settings_.static_neighbors.size(); ++it)
        out.push_back({it->first, it->second.port, it->second.mac});
    std::sort(out.begin(), out.end(),
              [](const Neighbor& a, const Neighbor& b) { return a.address < b.address; });
    if (out.size() > max) out.resize(max);
    return out;
}

std::optional<MacAddress> HomeAgent::neighbor_mac(const Ipv6Address& a) const {
    for (const auto& s : settings_.static_neighbors)
        if (s.address == a) return s.mac;
    auto it = learned_.find(a);
    if (it != learned_.end()) return it->second.mac;
    return std::nullopt;
}

// Interfaces and static routes are fixed after construction: the table is built once.
void HomeAgent::build_routes() {
    routes_.clear();
    on_link_.clear();
    for (std::size_t i = 0; i < settings_.interfaces.size(); ++i) {
        const Interface& itf = settings_.interfaces[i];
        for (const auto& a : itf.addresses)
            if (!a.address.is_link_local()) {
                Ipv6Prefix prefix = Ipv6Prefix::covering(a.address, a.prefix_length);
                routes_.push_back({prefix, itf.port, {}});
                on_link_.emplace_back(prefix, i);
            }
    }
    routes_.insert(routes_.end(), settings_.static_routes.begin(), settings_.static_routes.end());
    // Longest prefix first (ties keep their order), so the first match is the best one.
    longest_first_.resize(routes_.size());
    for (std::size_t i = 0; i < routes_.size(); ++i) longest_first_[i] = i;
    std::stable_sort(longest_first_.begin(), longest_first_.end(),
                     [&](std::size_t a, std::size_t b) {
                         return routes_[a].prefix.length > routes_[b].prefix.length;
                     });
}

const Route* HomeAgent::route_to(const Ipv6Address& dst) const {
    for (std::size_t i : longest_first_)
        if (routes_[i].prefix.contains(dst)) return &routes_[i];
    return nullptr;
}

std::optional<HomeAgent::Egress> HomeAgent::egress_toward(const Ipv6Address& dst,
                                                          std::uint64_t now_ms,
                                                          Ipv6Address* next_hop_out) {
    const Route* r = route_to(dst);
    if (!r) return std::nullopt;
    Ipv6Address next_hop = r->via ? *r->via : dst;
    if (next_hop_out) *next_hop_out = next_hop;
    if (auto mac = neighbor_mac(next_hop)) return Egress{r->port, *mac};
    send_resolution(next_hop, r->port, now_ms);
    return std::nullopt;
}

void HomeAgent::publish_routing() {
    RoutingState state;
    for (const auto& itf : settings_.interfaces)
        for (const auto& a : itf.addresses) state.local_addresses.push_back(a.address);
    for (const auto& p : settings_.home_prefixes)
        state.local_addresses.push_back(home_agents_anycast(p));
    state.routes = routes_;
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
    dataplane_.publish_neighbor({a, port, mac});  // one entry: the routes did not change
    // Snapshots carry next-hop MACs: rebuild the ones that go (or wait to go) through this
    // neighbor, not every HoA.
    republish_users_of(a, now_ms_);
}

void HomeAgent::send(PortId port, const std::vector<std::uint8_t>& frame) {
    if (!serving_) return;  // a standby is silent
    if (!dataplane_.send_frame(port, frame)) ++counters_.tx_failures;
}

void HomeAgent::send_ip(PortId port, const MacAddress& eth_dst, std::span<const std::uint8_t> ip) {
    const Interface* itf = interface_of(port);
    if (!itf || ip.empty()) return;
    std::vector<std::uint8_t> frame(net::kEthernetHeaderSize + ip.size());
    net::write_ethernet_header(frame.data(), eth_dst, itf->mac);
    std::copy(ip.begin(), ip.end(), frame.begin() + net::kEthernetHeaderSize);
    send(port, frame);
}

void HomeAgent::send_framed(PortId port, const MacAddress& eth_dst,
                            std::vector<std::uint8_t>& frame) {
    const Interface* itf = interface_of(port);
    if (!itf || frame.size() <= net::kEthernetHeaderSize) return;
    net::write_ethernet_header(frame.data(), eth_dst, itf->mac);
    send(port, frame);
}

void HomeAgent::on_frame(PortId port, PuntReason reason, std::uint16_t aux,
                         std::span<const std::uint8_t> frame, std::uint64_t now_ms) {
    if (!serving_) return;  // the data plane hands a standby nothing; nor is it answered
    ++counters_.frames;
    now_ms_ = now_ms;
    if (!admit_frame(port, reason, aux, frame, now_ms)) return;  // rate limit, priority
    dispatch(port, reason, aux, frame, now_ms);
}

void HomeAgent::dispatch(PortId port, PuntReason reason, std::uint16_t aux,
                         std::span<const std::uint8_t> frame, std::uint64_t now_ms) {
    switch (reason) {
        case PuntReason::Local:
            handle_local(port, frame, now_ms);
            return;
        case PuntReason::NeedsResolution:
            request_resolution(frame, now_ms);
            return;
        case PuntReason::HopLimitExceeded:
            send_icmp_error(port, frame, net::icmp6::kTimeExceeded, 0, 0, now_ms);
            return;
        case PuntReason::TooBig:
            send_icmp_error(port, frame, net::icmp6::kPacketTooBig, 0, aux, now_ms);
            return;
        case PuntReason::EncapLimit:
            // RFC 2473 s.4.1.1: code 0, pointer to the Tunnel Encapsulation Limit option.
            send_icmp_error(port, frame, net::icmp6::kParameterProblem, 0, aux, now_ms);
            return;
    }
}

void HomeAgent::handle_local(PortId port, std::span<const std::uint8_t> frame,
                             std::uint64_t now_ms) {
    auto packet = net::parse_ipv6_frame(frame);
    if (!packet) {
        ++counters_.malformed;
        return;
    }
    if (!interface_of(port)) return;
    if (packet->next_header == net::kProtoIcmpv6) {
        handle_icmpv6(port, *packet, now_ms);
        return;
    }
    if (!packet->destination.is_multicast() && !settings_.home_prefixes.empty()) {
        handle_mobility(port, frame, *packet, now_ms);
        return;
    }
    ++counters_.not_handled;
}

void HomeAgent::handle_icmpv6(PortId port, const net::Ipv6Packet& packet, std::uint64_t now_ms) {
    auto icmp = net::parse_icmpv6(packet);
    if (!icmp) {
        ++counters_.malformed;
        return;
    }
    const Interface* itf = interface_of(port);
    switch (icmp->type) {
        case net::icmp6::kNeighborSolicitation:
            handle_neighbor_solicitation(port, packet, *icmp);
            return;
        case net::icmp6::kNeighborAdvertisement: {
            auto na = net::parse_neighbor_advertisement(packet, *icmp);
            if (!na) {
                ++counters_.malformed;
                return;
            }
            ++counters_.neighbor_advertisements_received;
            dad_conflict(port, na->target);  // RFC 4862 s.5.4.4: the address is in use
            MacAddress mac = na->target_link_layer ? *na->target_link_layer : packet.eth_source;
            // Only solicited answers or updates of existing entries (RFC 4861 s.7.2.5).
            if (na->solicited || learned_.count(na->target) || pending_.count(na->target))
                learn(port, na->target, mac);
            return;
        }
        case net::icmp6::kEchoRequest:
            if (icmp->code != 0 || !owns(port, packet.destination)) {
                ++counters_.not_handled;
                return;
            }
            send(port, net::build_echo_reply(packet, *icmp, itf->mac));
            ++counters_.echo_replies;
            return;
        case net::icmp6::kHaadRequest:
            handle_haad_request(port, packet, *icmp);
            return;
        case net::icmp6::kDestinationUnreachable:
            handle_unreachable(packet, *icmp, now_ms);
            return;
        case net::icmp6::kMobilePrefixSolicitation:
            handle_mobile_prefix_solicitation(port, packet, *icmp, now_ms);
            return;
        default:
            ++counters_.not_handled;
            return;
    }
    (void)now_ms;
}

void HomeAgent::handle_neighbor_solicitation(PortId port, const net::Ipv6Packet& packet,
                                             const net::Icmpv6Message& icmp) {
    const Interface* itf = interface_of(port);
    auto ns = net::parse_neighbor_solicitation(packet, icmp);
    if (!ns) {
        ++counters_.malformed;
        return;
    }
    bool ours = owns(port, ns->target);
    // Proxy ND (RFC 6275 s.10.4.1): defend registered home addresses on their home link.
    bool proxy = !ours && proxy_interface_for(ns->target) == itf && itf;
    // RFC 4862 s.5.4.3: another node probing for an address a BU waits on is a duplicate.
    if (!ours && packet.source.is_unspecified()) dad_conflict(port, ns->target);
    if (!ours && !proxy) {
        ++counters_.not_handled;
        return;
    }
    if (ns->source_link_layer) learn(port, packet.source, *ns->source_link_layer);
    // A proxy does not override the owner's own entry (RFC 4861 s.7.2.8).
    net::NeighborAdvertisement na{false, true, !proxy, ns->target, itf->mac};
    if (packet.source.is_unspecified()) {
        // Answer to a DAD probe: to all-nodes, unsolicited (RFC 4861 s.7.2.4).
        na.solicited = false;
        auto all_nodes = *Ipv6Address::parse("ff02::1");
        auto src = proxy ? source_for(port, all_nodes) : std::optional<Ipv6Address>(ns->target);
        send(port,
             net::build_neighbor_advertisement(MacAddress::for_ipv6_multicast(all_nodes), itf->mac,
                                               src ? *src : ns->target, all_nodes, na));
    } else {
        MacAddress to = ns->source_link_layer ? *ns->source_link_layer : packet.eth_source;
        auto src = proxy ? source_for(port, packet.source) : std::optional<Ipv6Address>(ns->target);
        send(port, net::build_neighbor_advertisement(to, itf->mac, src ? *src : ns->target,
                                                     packet.source, na));
    }
    if (proxy)
        ++counters_.proxy_neighbor_advertisements;
    else
        ++counters_.neighbor_solicitations_answered;
}

// RFC 6275 s.10.5: reply with the home agents of the prefix, most preferred first.
void HomeAgent::handle_haad_request(PortId port, const net::Ipv6Packet& packet,
                                    const net::Icmpv6Message& icmp) {
    const Interface* itf = interface_of(port);
    if (icmp.code != 0 || icmp.body.size() < 4 || settings_.home_prefixes.empty()) {
        ++counters_.malformed;
        return;
    }
    const Ipv6Prefix* prefix = nullptr;
    for (const auto& p : settings_.home_prefixes)
        if (home_agents_anycast(p) == packet.destination || p.contains(packet.destination))
            prefix = &p;
    if (!prefix) {
        ++counters_.not_handled;
        return;
    }
    std::vector<std::pair<std::int16_t, Ipv6Address>> agents;
    for (const auto& a : settings_.ha_addresses)
        if (prefix->contains(a)) agents.push_back({settings_.preference, a});
    for (const auto& peer : settings_.peer_home_agents)
        if (prefix->contains(peer.address)) agents.push_back({peer.preference, peer.address});
    std::stable_sort(agents.begin(), agents.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    std::vector<std::uint8_t> body(4);
    body[0] = icmp.body[0];  // identifier
    body[1] = icmp.body[1];
    // Stay within the minimum MTU (RFC 6275 s.10.5.1).
    std::size_t room = (1280 - 40 - 8) / 16;
    for (std::size_t i = 0; i < agents.size() && i < room; ++i)
        body.insert(body.end(), agents[i].second.bytes.begin(), agents[i].second.bytes.end());
    auto src = std::find_if(settings_.ha_addresses.begin(), settings_.ha_addresses.end(),
                            [&](const Ipv6Address& a) { return prefix->contains(a); });
    if (src == settings_.ha_addresses.end()) return;
    send(port, net::build_icmpv6_frame(packet.eth_source, itf->mac, *src, packet.source, 64,
                                       net::icmp6::kHaadReply, 0, body));
    ++counters_.haad_replies;
}

// RFC 6275 s.10.6.2: Mobile Prefix Advertisement with the home prefixes (router address flag
// set and our address in the option, as s.7.2 describes).
std::vector<std::uint8_t> HomeAgent::mobile_prefix_advertisement_body(
    std::span<const std::uint8_t> solicitation) const {
    std::vector<std::uint8_t> body(4);
    body[0] = solicitation[0];  // the Identifier, echoed (RFC 6275 s.6.8)
    body[1] = solicitation[1];
    for (const auto& p : settings_.home_prefixes) {
        std::uint8_t opt[32] = {};
        opt[0] = 3;  // Prefix Information
        opt[1] = 4;
        opt[2] = p.length;
        opt[3] = 0x80 | 0x40 | 0x20;  // L, A, R
        std::uint32_t lifetime = settings_.ha_lifetime;
        net::store_be32(opt + 4, lifetime);
        net::store_be32(opt + 8, lifetime);
        Ipv6Address in_option = p.address;
        for (const auto& a : settings_.ha_addresses)
            if (p.contains(a)) in_option = a;
        in_option.copy_to(opt + 16);
        body.insert(body.end(), opt, opt + 32);
    }
    return body;
}

void HomeAgent::handle_mobile_prefix_solicitation(PortId port, const net::Ipv6Packet& packet,
                                                  const net::Icmpv6Message& icmp,
                                                  std::uint64_t now_ms) {
    const Interface* itf = interface_of(port);
    if (icmp.code != 0 || icmp.body.size() < 4) {
        ++counters_.malformed;
        return;
    }
    if (!is_ha_address(packet.destination)) {
        ++counters_.not_handled;
        return;
    }
    if (away_from_home(packet.source)) {
        // From a home address that is bound to a CoA: it came reverse-tunnelled.
        if (security_->esp_required()) {
            ++counters_.esp_required_drops;  // RFC 3776 s.4.2: protected like the BU
            return;
        }
        auto chain = mh::walk_ipv6_headers(packet.ip);
        if (!chain) {
            ++counters_.malformed;
            return;
        }
        handle_mobile_prefix_solicitation_from_away(port, packet, *chain, packet.ip, false, now_ms);
        return;
    }
    // A node on the home link (or not registered): answered there, to its address.
    send(port, net::build_icmpv6_frame(packet.eth_source, itf->mac, packet.destination,
                                       packet.source, 64, net::icmp6::kMobilePrefixAdvertisement, 0,
                                       mobile_prefix_advertisement_body(icmp.body)));
    ++counters_.mobile_prefix_advertisements;
}

bool HomeAgent::bound_at(const HomeAddress& hoa, const CareOfAddress& coa) const {
    const bcache::HoaEntry* entry = cache_.find(hoa);
    return entry &&
           std::any_of(entry->bindings.begin(), entry->bindings.end(),
                       [&](const bcache::Binding& b) { return !b.at_home && b.care_of == coa; });
}

bool HomeAgent::away_from_home(const HomeAddress& hoa) const {
    const bcache::HoaEntry* entry = cache_.find(hoa);
    return entry && std::any_of(entry->bindings.begin(), entry->bindings.end(),
                                [](const bcache::Binding& b) { return !b.at_home; });
}

void HomeAgent::handle_mobile_prefix_solicitation_from_away(
    PortId port, const net::Ipv6Packet& packet, const mh::Ipv6HeaderChain& chain,
    std::span<const std::uint8_t> ip, bool was_protected, std::uint64_t now_ms) {
    // RFC 6275 s.6.7, s.11.4.2: the checksum's pseudo-header uses the home address (the Home
    // Address option's, or the source of a reverse-tunnelled solicitation).
    const auto icmp = chain.upper_layer(ip);
    if (icmp.size() < 8 ||
        net::ipv6_upper_layer_checksum(chain.checksum_source(), chain.destination,
                                       net::kProtoIcmpv6, icmp) != 0) {
        ++counters_.malformed;
        return;
    }
    const HomeAddress hoa = chain.home_address_option.value_or(chain.source);
    const bcache::HoaEntry* entry = cache_.find(hoa);
    if (icmp[0] != net::icmp6::kMobilePrefixSolicitation || icmp[1] != 0 ||
        !is_ha_address(chain.destination)) {
        ++counters_.not_handled;
        return;
    }
    if (chain.home_address_option && !bound_at(hoa, chain.source)) {
        // s.9.3.1: a Home Address option with no binding from this source is not trusted:
        // dropped, and a Binding Error (status 1) tells the sender.
        send_binding_error(port, packet, mh::be_status::kUnknownHomeAddressBinding, hoa, now_ms);
        return;
    }
    if (!entry) {
        ++counters_.not_handled;  // only a registered mobile node's solicitation is answered
        return;
    }
    // s.6.8, s.10.6.3: to a CoA, with a type 2 routing header naming the home address. With a
    // Home Address option that CoA is the source, which must be one of the HoA's (s.9.3.1:
    // a Home Address option is trusted only with a binding). A reverse-tunnelled one came
    // from a registered CoA (the data path filtered the tunnel) without saying which: the
    // answer goes to the first Live path's CoA, the lowest BID.
    std::optional<CareOfAddress> care_of;
    if (chain.home_address_option) {
        care_of = chain.source;
    } else if (const HoaState* state = state_of(hoa); state && state->has_published) {
        const DeliveryPath* first = nullptr;
        for (const auto& path : state->published.paths)
            if (!path.native && path.state == BindingState::Live &&
                (!first || path.bid < first->bid))
                first = &path;
        if (first) care_of = first->care_of;
    }
    if (!care_of) {
        ++counters_.not_handled;
        return;
    }
    auto mpa = mh::build_ipv6_icmpv6_packet(net::icmp6::kMobilePrefixAdvertisement, 0,
                                            mobile_prefix_advertisement_body(icmp.subspan(4)),
                                            {chain.destination, *care_of, std::nullopt, hoa, 64});
    std::span<const std::uint8_t> out = mpa;
    std::optional<std::vector<std::uint8_t>> sealed;
    if (signalling_needs_esp(was_protected)) {
        sealed = protect_signalling(mpa, was_protected);
        if (!sealed) return;
        out = *sealed;
    }
    // Back the way it came when the source is that CoA; routed to the chosen CoA otherwise.
    if (chain.home_address_option)
        send_ip(port, packet.eth_source, out);
    else
        dataplane_.route_packet(out);
    ++counters_.mobile_prefix_advertisements;
}

void HomeAgent::send_resolution(const Ipv6Address& target, PortId port, std::uint64_t now_ms) {
    auto& pending = pending_[target];
    if (pending.last_sent_ms != 0 && now_ms - pending.last_sent_ms < settings_.resolution_retry_ms)
        return;
    pending = {port, now_ms == 0 ? 1 : now_ms};
    const Interface* itf = interface_of(port);
    auto src = source_for(port, target);
    if (!itf || !src) return;
    send(port, net::build_neighbor_solicitation(itf->mac, *src, target));
    ++counters_.neighbor_solicitations_sent;
}

void HomeAgent::request_resolution(std::span<const std::uint8_t> frame, std::uint64_t now_ms) {
    ++counters_.unresolved_drops;
    auto packet = net::parse_ipv6_frame(frame);
    if (!packet) return;
    const Route* best = route_to(packet->destination);
    if (!best) return;
    send_resolution(best->via ? *best->via : packet->destination, best->port, now_ms);
}

// ICMPv6 errors about packets the fast path could not forward (RFC 4443 s.2.4: never about
// errors or multicast, rate limited by a token bucket).
bool HomeAgent::take_error_token(std::uint64_t now_ms) {
    double rate = settings_.icmp_errors_per_second;
    icmp_tokens_ = std::min(
        rate, icmp_tokens_ + static_cast<double>(now_ms - icmp_tokens_ms_) * rate / 1000.0);
    icmp_tokens_ms_ = now_ms;
    if (icmp_tokens_ < 1.0) {
        ++counters_.icmp_errors_rate_limited;
        return false;
    }
    icmp_tokens_ -= 1.0;
    return true;
}

void HomeAgent::send_icmp_error(PortId port, std::span<const std::uint8_t> frame, std::uint8_t type,
                                std::uint8_t code, std::uint32_t parameter, std::uint64_t now_ms) {
    auto packet = net::parse_ipv6_frame(frame);
    const Interface* itf = interface_of(port);
    if (!packet || !itf) {
        ++counters_.malformed;
        return;
    }
    if (packet->source.is_multicast() || packet->source.is_unspecified() ||
        packet->destination.is_multicast()) {
        ++counters_.not_handled;
        return;
    }
    if (packet->next_header == net::kProtoIcmpv6 && packet->payload.size() >= 1 &&
        packet->payload[0] < 128) {
        ++counters_.not_handled;  // never an error about an error
        return;
    }
    if (!take_error_token(now_ms)) return;
    auto src = source_for(port, packet->source);
    if (!src) return;
    std::vector<std::uint8_t> body(4);
    net::store_be32(body.data(), parameter);
    std::size_t room = 1280 - net::kIpv6HeaderSize - 8;
    std::size_t take = std::min(room, packet->ip.size());
    body.insert(body.end(), packet->ip.begin(),
                packet->ip.begin() + static_cast<std::ptrdiff_t>(take));
    send(port, net::build_icmpv6_frame(packet->eth_source, itf->mac, *src, packet->source, 64, type,
                                       code, body));
    ++counters_.icmp_errors_sent;
}

void HomeAgent::on_tick(std::uint64_t now_ms) {
    now_ms_ = now_ms;
    if (!serving_) {
        // A standby follows the leader (apply_changes) and keeps its snapshots current; it
        // expires nothing, sends nothing and counts no heartbeat as missed.
        republish_pending(now_ms);
        return;
    }
    handle_deferred(now_ms);  // unknown sources' frames queued in the last iteration
    liveness_tick(now_ms);
    dad_tick(now_ms, settings_.budget.timers);
    store_tick(now_ms);
    republish_pending(now_ms);
    auto next = cache_.next_deadline_ms();
    if (!next || *next > now_ms) return;
    auto expired = cache_.expire(now_ms, settings_.budget.timers);
    counters_.bindings_expired += expired.size();
    republish(expired, now_ms);
    persist(expired);
    for (const auto& due : cache_.refresh_requests_due(now_ms, settings_.budget.timers)) {
        mh::BindingRefreshRequest brr;
        // RFC 5648 s.6.4: a BRR for one of several bindings names it by its BID.
        if (due.mcoa) {
            mh::BindingIdentifier bid;
            bid.bid = due.bid;
            brr.options.binding_ids.push_back(bid);
        }
        auto packet =
            due.care_of == due.home_address
                ? mh::build_ipv6_mh_packet(brr, {due.ha_address, due.home_address, {}, {}, 64})
                : mh::build_ipv6_mh_packet(brr,
                                           {due.ha_address, due.care_of, {}, due.home_address, 64});
        auto egress = egress_toward(due.care_of, now_ms);
        PathKey key{due.home_address, due.bid, due.mcoa};
        auto ingress = signalling_ingress_.find(key);
        if (!egress && ingress != signalling_ingress_.end()) egress = ingress->second;
        if (!egress || packet.empty()) continue;
        auto sealed = protect_signalling(packet, false);
        if (!sealed) continue;
        send_ip(egress->port, egress->next_hop_mac, *sealed);
        ++counters_.binding_refresh_requests_sent;
    }
}

}  // namespace monami::ha
