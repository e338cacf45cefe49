// Mobility Header signalling and what it changes: the binding cache, the snapshots the
// workers forward with, proxy Neighbor Discovery on the home link.
#include <algorithm>
#include <chrono>
#include <tuple>

#include "controlplane/ha/home_agent.hpp"
#include "controlplane/ha/tunnel_header.hpp"
#include "controlplane/mh/builder.hpp"
#include "controlplane/mh/exthdr.hpp"
#include "controlplane/mh/registry.hpp"
#include "controlplane/net/packet.hpp"

namespace monami::ha {

namespace {

bool same_selector(const FlowSelector& a, const FlowSelector& b) {
    auto same = [](const auto& x, const auto& y) { return x.first == y.first && x.last == y.last; };
    return same(a.source, b.source) && same(a.destination, b.destination) && same(a.spi, b.spi) &&
           same(a.flow_label, b.flow_label) && same(a.source_port, b.source_port) &&
           same(a.destination_port, b.destination_port) && same(a.traffic_class, b.traffic_class) &&
           same(a.next_header, b.next_header) && a.needs_ports == b.needs_ports;
}

bool same_action(const FlowAction& a, const FlowAction& b) {
    return std::equal(std::begin(a.choice), std::end(a.choice), std::begin(b.choice)) &&
           a.ncast_mask == b.ncast_mask;
}

bool same_path(const DeliveryPath& a, const DeliveryPath& b) {
    return std::equal(std::begin(a.header), std::end(a.header), std::begin(b.header)) &&
           a.header_length == b.header_length && a.native == b.native && a.state == b.state &&
           a.chained == b.chained && a.bid == b.bid && a.port == b.port && a.mtu == b.mtu &&
           a.counter_slot == b.counter_slot && a.care_of == b.care_of &&
           a.home_agent == b.home_agent;
}

}  // namespace

// Whether the workers would forward with `a` exactly as with `b` (the generation aside).
bool same_forwarding(const HoaSnapshot& a, const HoaSnapshot& b) {
    return a.home_address == b.home_address && a.path_count == b.path_count &&
           same_action(a.default_action, b.default_action) &&
           std::equal(a.paths.begin(), a.paths.end(), b.paths.begin(), b.paths.end(), same_path) &&
           std::equal(a.rules.begin(), a.rules.end(), b.rules.begin(), b.rules.end(),
                      [](const FlowRule& x, const FlowRule& y) {
                          return same_selector(x.selector, y.selector) &&
                                 same_action(x.action, y.action) && x.fid == y.fid &&
                                 x.priority == y.priority;
                      }) &&
           a.network_prefixes == b.network_prefixes;
}

void HomeAgent::handle_mobility(PortId port, std::span<const std::uint8_t> frame,
                                const net::Ipv6Packet& packet, std::uint64_t now_ms) {
    auto chain = mh::walk_ipv6_headers(packet.ip);
    if (!chain) {
        ++counters_.malformed;
        return;
    }
    // ESP (RFC 3776, 4877): opened here, required for every MH with security.mode esp.
    bool was_protected = false;
    std::vector<std::uint8_t> opened;
    std::span<const std::uint8_t> ip = packet.ip;
    // (A clear MH without ESP required is used as it is: no copy.)
    if (chain->upper_layer_protocol == mh::kIpProtoEsp ||
        (chain->upper_layer_protocol == net::kProtoMobility && security_->esp_required())) {
        auto clear = open_signalling(packet.ip, was_protected);
        if (!clear) return;
        if (was_protected) {
            opened = std::move(*clear);
            ip = opened;
            chain = mh::walk_ipv6_headers(ip);
            if (!chain) {
                ++counters_.malformed;
                return;
            }
        }
    }
    if (chain->upper_layer_protocol == net::kProtoIcmpv6 &&
        (chain->home_address_option || (was_protected && away_from_home(chain->source)))) {
        if (security_->esp_required() && !was_protected) {
            ++counters_.esp_required_drops;  // RFC 3776 s.4.2: protected like the BU
            return;
        }
        handle_mobile_prefix_solicitation_from_away(port, packet, *chain, ip, was_protected,
                                                    now_ms);
        return;
    }
    if (chain->upper_layer_protocol != net::kProtoMobility) {
        // RFC 6275 s.9.3.1: a Home Address option needs a binding from that source; without
        // one the packet is dropped and a Binding Error (status 1) sent.
        if (chain->home_address_option && !bound_at(*chain->home_address_option, chain->source))
            send_binding_error(port, packet, mh::be_status::kUnknownHomeAddressBinding,
                               *chain->home_address_option, now_ms);
        else
            ++counters_.not_handled;
        return;
    }
    ++counters_.mh_received;
    // Parsed into the reused message: its option vectors keep their storage across BUs.
    auto failure =
        mh::parse_mh_into(chain->upper_layer(ip), chain->checksum_source(),
                          chain->checksum_destination(), settings_.parse_limits, parsed_mh_);
    if (failure) {
        ++counters_.mh_malformed;
        // RFC 6275 s.9.2: an unknown MH type is answered with Binding Error status 2; the
        // other malformed messages are discarded, answered only in the cases below
        // (docs/conformance.md).
        if (failure->code == mh::MhErrorCode::UnknownMhType)
            send_binding_error(
                port, packet, mh::be_status::kUnrecognizedMhType,
                chain->home_address_option ? *chain->home_address_option : Ipv6Address{}, now_ms);
        // s.9.2: a Payload Proto other than 59, or a Header Len below the type's minimum,
        // SHOULD be answered with a Parameter Problem, code 0, pointing at that field (RFC
        // 4443 s.3.4: an offset in the invoking packet; rate-limited, never about an error or
        // multicast: send_icmp_error). Not for a message that came inside ESP: the packet
        // the pointer would count in is not the one on the wire.
        if ((failure->code == mh::MhErrorCode::BadPayloadProto ||
             failure->code == mh::MhErrorCode::BadHeaderLength) &&
            !was_protected)
            send_icmp_error(port, frame, net::icmp6::kParameterProblem, 0,
                            static_cast<std::uint32_t>(chain->upper_layer_offset + failure->offset),
                            now_ms);
        // RFC 5648 s.4.3, s.6.2: a Binding Identifier option whose length is not 4, 8 or
        // 20, or two of them with the same BID, make the home agent reject the BU with MCOA
        // MALFORMED, so the MN learns why.
        const bool bad_bid_length =
            failure->code == mh::MhErrorCode::BadOptionLength &&
            failure->option_type ==
                static_cast<std::uint8_t>(mh::MobilityOptionType::BindingIdentifier);
        if ((bad_bid_length || failure->code == mh::MhErrorCode::DuplicateBid) &&
            failure->mh_type == static_cast<std::uint8_t>(mh::MhType::BindingUpdate) &&
            is_ha_address(chain->destination)) {
            const auto message = chain->upper_layer(ip);
            mh::BindingAck ack;
            ack.status = mh::ba_status::kMcoaMalformed;
            ack.sequence = net::load_be16(message.data() + 6);  // the BU's Sequence
            std::optional<HomeAddress> routed_to;
            if (chain->home_address_option && *chain->home_address_option != chain->source)
                routed_to = *chain->home_address_option;
            send_binding_ack(port, packet.eth_source, was_protected, ack, chain->destination,
                             chain->source, routed_to);
        }
        return;
    }
    if (const auto* hb = std::get_if<mh::Heartbeat>(&parsed_mh_.message)) {
        handle_heartbeat(port, packet, *chain, was_protected, *hb, now_ms);
        return;
    }
    const auto* bu = std::get_if<mh::BindingUpdate>(&parsed_mh_.message);
    if (!bu) {
        ++counters_.not_handled;  // BA, BRR and BE are for the mobile node
        return;
    }
    if (!is_ha_address(chain->destination)) {
        ++counters_.not_handled;
        return;
    }
    handle_binding_update(port, packet.eth_source, *chain, ip, *bu, was_protected, false, now_ms);
}

void HomeAgent::handle_binding_update(PortId port, const MacAddress& reply_mac,
                                      const mh::Ipv6HeaderChain& chain,
                                      std::span<const std::uint8_t> ip, const mh::BindingUpdate& bu,
                                      bool was_protected, bool dad_done, std::uint64_t now_ms) {
    const HomeAddress hoa = chain.home_address_option.value_or(chain.source);
    if (!dad_done && needs_dad(hoa, bu)) {
        hold_for_dad(hoa, port, reply_mac, ip, bu, was_protected, now_ms);
        return;
    }
    ++counters_.binding_updates;
    const auto taken = std::chrono::steady_clock::now();
    auto ns_since_taken = [&taken] {
        return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                              std::chrono::steady_clock::now() - taken)
                                              .count());
    };
    bcache::BuRequest request{chain.source, chain.destination, chain.home_address_option, bu,
                              now_ms};
    bcache::BuOutcome& outcome = bu_outcome_;  // reused: its vectors keep their storage
    cache_.process_binding_update(request, outcome);
    // Remember the way back for every binding this BU touched.
    if (const auto* entry = cache_.find(hoa)) {
        for (const auto& b : entry->bindings)
            if (b.care_of == chain.source || (b.at_home && chain.source == entry->home_address))
                signalling_ingress_[{entry->home_address, b.bid, b.mcoa}] = {port, reply_mac};
    }
    republish(outcome.changed, now_ms);
    if (!outcome.changed.empty()) update_latency_.record(ns_since_taken());
    persist(outcome.changed);
    if (outcome.discarded) ++counters_.binding_updates_discarded;
    if (!outcome.send_ack) {
        bu_processing_.record(ns_since_taken());
        return;
    }
    // With durable commits, a BA that reports a change waits for its batch: a BA sent means
    // the binding survives a crash.
    if (store_ && store_sync_ && !outcome.changed.empty())
        hold_acks_for_batch_ = store_->open_batch();
    send_binding_ack(
        port, reply_mac, was_protected, outcome.ack, chain.destination, outcome.ack_destination,
        outcome.ack_needs_routing_header ? std::optional<HomeAddress>(outcome.ack_home_address)
                                         : std::nullopt);
    hold_acks_for_batch_ = 0;
    bu_processing_.record(ns_since_taken());
}

void HomeAgent::send_binding_ack(PortId port, const MacAddress& reply_mac, bool was_protected,
                                 const mh::BindingAck& ack, const Ipv6Address& ha_address,
                                 const Ipv6Address& destination,
                                 const std::optional<HomeAddress>& routed_to) {
    // Written straight into the reused frame buffer, behind room for the Ethernet header.
    mh::MhPacketAddresses addresses{ha_address, destination, {}, routed_to, 64};
    frame_.assign(net::kEthernetHeaderSize, 0);
    if (!mh::append_ipv6_mh_packet(ack, addresses, frame_)) return;
    std::span<const std::uint8_t> ba(frame_.data() + net::kEthernetHeaderSize,
                                     frame_.size() - net::kEthernetHeaderSize);
    // Inside ESP when the BU was (or ESP is required); not at all if that is impossible.
    std::optional<std::vector<std::uint8_t>> sealed;
    if (signalling_needs_esp(was_protected)) {
        sealed = protect_signalling(ba, was_protected);
        if (!sealed) return;
        ba = *sealed;
    }
    ++acks_by_status_[ack.status];  // leaving, or held for a sync store's commit
    // The BA leaves the way the BU came in (the same port and neighbor: no resolution to wait
    // for), unless its destination is a registered home address, whose tunnel it must take.
    if (cache_.find(destination))
        send_or_hold_ack(HeldAck::Way::Routed, port, reply_mac, ba);
    else if (sealed)
        send_or_hold_ack(HeldAck::Way::Ip, port, reply_mac, ba);
    else
        send_or_hold_ack(HeldAck::Way::Framed, port, reply_mac, frame_);
}

void HomeAgent::send_binding_error(PortId port, const net::Ipv6Packet& packet, std::uint8_t status,
                                   const Ipv6Address& home_address, std::uint64_t now_ms) {
    if (packet.source.is_multicast() || packet.source.is_unspecified()) {
        ++counters_.not_handled;
        return;
    }
    if (!take_error_token(now_ms)) return;
    mh::BindingError be;
    be.status = status;
    be.home_address = home_address;
    auto ip = mh::build_ipv6_mh_packet(be, {packet.destination, packet.source, {}, {}, 64});
    send_ip(port, packet.eth_source, ip);
    ++counters_.binding_errors_sent;
}

std::uint32_t HomeAgent::slot_for(HoaState& state, const PathKey& key) {
    for (const auto& owned : state.slots)
        if (owned.bid == key.bid && owned.mcoa == key.mcoa) return owned.slot.slot;
    std::uint32_t slot;
    if (!free_slots_.empty()) {
        slot = free_slots_.back();
        free_slots_.pop_back();
    } else {
        slot = next_slot_ < settings_.max_paths ? next_slot_++ : settings_.max_paths - 1;
    }
    state.slots.push_back({key.bid, key.mcoa, {slot, dataplane_.path_counters(slot)}});
    return slot;
}

const HomeAgent::HoaState* HomeAgent::state_of(const HomeAddress& hoa) const {
    auto it = hoas_.find(hoa);
    return it == hoas_.end() ? nullptr : &it->second;
}

void HomeAgent::release_slots(const HomeAddress& hoa, HoaState* state,
                              const std::vector<PathKey>& keep) {
    // Every slot kept (keep holds only this HoA's paths, each given a slot and tracked by
    // liveness in build_snapshot, and both are released together here): nothing to free
    // or forget, the common case of a BU that adds or refreshes bindings.
    if (state && state->slots.size() == keep.size()) return;
    if (state) {
        auto kept = [&](const OwnedSlot& owned) {
            return std::find(keep.begin(), keep.end(), PathKey{hoa, owned.bid, owned.mcoa}) !=
                   keep.end();
        };
        // Freed in (BID, mcoa) order, as the slots were handed out before (stable numbering).
        std::sort(state->slots.begin(), state->slots.end(), [](const auto& x, const auto& y) {
            return std::tie(x.bid, x.mcoa) < std::tie(y.bid, y.mcoa);
        });
        for (const auto& owned : state->slots) {
            if (kept(owned)) continue;
            free_slots_.push_back(owned.slot.slot);
            signalling_ingress_.erase({hoa, owned.bid, owned.mcoa});
        }
        state->slots.erase(std::remove_if(state->slots.begin(), state->slots.end(),
                                          [&](const OwnedSlot& o) { return !kept(o); }),
                           state->slots.end());
    }
    forget_liveness(hoa, keep);
}

const HoaSnapshot* HomeAgent::build_snapshot(const bcache::HoaEntry& entry, std::uint64_t now_ms) {
    // A fresh snapshot whose vectors keep the scratch's storage.
    std::vector<DeliveryPath> paths = std::move(snapshot_.paths);
    std::vector<FlowRule> rules = std::move(snapshot_.rules);
    std::vector<Ipv6Prefix> prefixes = std::move(snapshot_.network_prefixes);
    paths.clear();
    rules.clear();
    snapshot_ = HoaSnapshot{};
    snapshot_.paths = std::move(paths);
    snapshot_.rules = std::move(rules);
    snapshot_.network_prefixes = std::move(prefixes);
    HoaSnapshot* snap = &snapshot_;
    snap->home_address = entry.home_address;
    HoaState& state = hoas_[entry.home_address];
    snap->generation = ++state.generation;
    snap->network_prefixes = entry.network_prefixes;
    snap->paths.reserve(std::min<std::size_t>(entry.bindings.size(), kMaxBindingsPerHoa));
    if (state.slots.capacity() == 0)
        state.slots.reserve(std::min<std::size_t>(entry.bindings.size(), kMaxBindingsPerHoa));
    std::vector<PathKey>& keep = snapshot_keep_;  // scratch: cleared, its storage kept
    keep.clear();
    for (const auto& b : entry.bindings) {
        if (snap->paths.size() >= kMaxBindingsPerHoa) break;
        PathKey key{entry.home_address, b.bid, b.mcoa};
        // A CoA inside a home prefix may become (or stop being) a registered HoA: remember
        // who uses it so that its changes republish this HoA too.
        if (!b.at_home &&
            std::any_of(settings_.home_prefixes.begin(), settings_.home_prefixes.end(),
                        [&](const Ipv6Prefix& p) { return p.contains(b.care_of); }))
            users_of_care_of_[b.care_of].insert(entry.home_address);
        DeliveryPath path{};
        path.bid = b.bid;
        path.care_of = b.care_of;
        path.home_agent = b.ha_address;
        path.mtu = settings_.tunnel.mtu;
        auto ingress = signalling_ingress_.find(key);
        if (b.at_home) {
            // At home on this interface (RFC 5648 s.5.6): deliver natively to the MN's MAC.
            const Interface* home = home_interface_for(entry.home_address);
            if (!home || ingress == signalling_ingress_.end()) continue;
            path.native = true;
            path.port = home->port;
            path.mtu = home->mtu;
            net::write_ethernet_header(path.header, ingress->second.next_hop_mac, home->mac);
            path.header_length = net::kEthernetHeaderSize;
        } else if (cache_.find(b.care_of) || cache_.owner_of_prefix(b.care_of)) {
            // HoA used as a CoA (seed 6.3.1; loops are refused by the cache): the worker
            // delivers the tunnel packet to that HoA's own paths.
            path.chained = true;
            write_tunnel_header(path, MacAddress{}, MacAddress{}, b.ha_address, settings_.tunnel);
        } else {
            Ipv6Address next_hop;
            auto egress = egress_toward(b.care_of, now_ms, &next_hop);
            if (!next_hop.is_unspecified())  // a route exists
                next_hop_users_.add(next_hop, entry.home_address, state.next_hops);
            if (!egress && ingress != signalling_ingress_.end()) egress = ingress->second;
            if (!egress) continue;  // no way to the CoA yet; resolution was requested
            const Interface* itf = interface_of(egress->port);
            if (!itf) continue;
            path.port = egress->port;
            write_tunnel_header(path, egress->next_hop_mac, itf->mac, b.ha_address,
                                settings_.tunnel);
        }
        path.counter_slot = slot_for(state, key);
        path.state = path_state(entry, b, path.port, now_ms);
        keep.push_back(key);
        snap->paths.push_back(path);
    }
    release_slots(entry.home_address, &state, keep);
    snap->path_count = static_cast<std::uint8_t>(snap->paths.size());

    std::vector<policy::PathInfo>& infos = snapshot_infos_;
    infos.clear();
    for (const auto& p : snap->paths)
        infos.push_back({p.bid, p.native ? entry.home_address : p.care_of, p.state, p.native});
    std::vector<policy::MnFlowBinding>& flows = snapshot_flows_;
    flows.clear();
    for (const auto& f : entry.flows) flows.push_back({f.fid, f.priority, f.bids, f.selector});
    std::optional<std::size_t> profile;
    if (auto it = settings_.profile_by_home_address.find(entry.home_address);
        it != settings_.profile_by_home_address.end())
        profile = it->second;
    else if (auto m = settings_.profile_by_mn_id.find(entry.mn_id);
             !entry.mn_id.empty() && m != settings_.profile_by_mn_id.end())
        profile = m->second;
    policy_.compile(infos, flows, profile, *snap, state.has_published ? &state.published : nullptr);
    if (state.has_published && same_forwarding(*snap, state.published)) {
        // A lifetime refresh: the workers already forward with exactly this (the new
        // expiry lives in the binding cache's timers, not in the snapshot).
        --state.generation;
        return nullptr;
    }
    state.published = *snap;  // reuses the kept copy's storage on a refresh or handover
    state.has_published = true;
    return snap;
}

void HomeAgent::update_proxy(const HomeAddress& hoa, const bcache::HoaEntry* entry) {
    bool away = entry && !entry->bindings.empty() &&
                std::none_of(entry->bindings.begin(), entry->bindings.end(),
                             [](const bcache::Binding& b) { return b.at_home; });
    const Interface* home = home_interface_for(hoa);
    // RFC 6275 s.10.4.1: with the L flag the MN's link-local address is defended too.
    const Ipv6Address link_local = mobile_link_local(hoa);
    auto ll = proxied_link_local_.find(link_local);
    const bool ll_was = ll != proxied_link_local_.end() && ll->second == hoa;
    const bool ll_now = away && entry->link_local_compat;
    if (ll_was && !ll_now) proxied_link_local_.erase(ll);
    if (ll_now && !ll_was) {
        proxied_link_local_[link_local] = hoa;
        if (home) send_unsolicited_na(*home, link_local);
    }
    bool was = proxied_.count(hoa) != 0;
    if (away == was) return;
    if (!away) {
        proxied_.erase(hoa);
        return;
    }
    proxied_.insert(hoa);
    // Announce the HA as the HoA's link-layer owner on the home link.
    if (home) send_unsolicited_na(*home, hoa);
}

Ipv6Address HomeAgent::mobile_link_local(const HomeAddress& hoa) {
    Ipv6Address ll = *Ipv6Address::parse("fe80::");
    std::copy(hoa.bytes.begin() + 8, hoa.bytes.end(), ll.bytes.begin() + 8);
    return ll;
}

const Interface* HomeAgent::proxy_interface_for(const Ipv6Address& target) const {
    if (proxied_.count(target)) return home_interface_for(target);
    auto ll = proxied_link_local_.find(target);
    return ll != proxied_link_local_.end() ? home_interface_for(ll->second) : nullptr;
}

void HomeAgent::send_unsolicited_na(const Interface& itf, const Ipv6Address& target) {
    if (!serving_) return;       // a standby is silent; a takeover announces everything
    if (defer_announcements_) {  // a restore: sent a slice per iteration (store_tick)
        announcements_.emplace_back(itf.port, target);
        return;
    }
    static const Ipv6Address all_nodes = *Ipv6Address::parse("ff02::1");
    net::NeighborAdvertisement na{false, false, true, target, itf.mac};
    auto src = source_for(itf.port, all_nodes);
    net::build_neighbor_advertisement_into(frame_, MacAddress::for_ipv6_multicast(all_nodes),
                                           itf.mac, src ? *src : target, all_nodes, na);
    send(itf.port, frame_);
    ++counters_.unsolicited_neighbor_advertisements;
}

void HomeAgent::republish(const std::vector<HomeAddress>& changed, std::uint64_t now_ms) {
    // HoAs that use a changed HoA as their CoA may have to start or stop chaining (copied
    // only then: a BU changes one HoA).
    std::vector<HomeAddress> all;
    const std::vector<HomeAddress>* list = &changed;
    for (const auto& hoa : changed) {
        auto users = users_of_care_of_.find(hoa);
        if (users == users_of_care_of_.end()) continue;
        if (list != &all) {
            all = changed;
            list = &all;
        }
        for (const auto& user : users->second)
            if (std::find(all.begin(), all.end(), user) == all.end()) all.push_back(user);
    }
    for (const auto& hoa : *list) {
        const bcache::HoaEntry* entry = cache_.find(hoa);
        update_proxy(hoa, entry);
        update_known_sources(hoa, entry);
        if (!entry || entry->bindings.empty()) {
            auto state = hoas_.find(hoa);
            release_slots(hoa, state == hoas_.end() ? nullptr : &state->second, {});
            if (state != hoas_.end()) {
                next_hop_users_.remove_all(state->second.next_hops);
                hoas_.erase(state);
            }
            dataplane_.withdraw_hoa(hoa);
            continue;
        }
        const HoaSnapshot* snapshot = build_snapshot(*entry, now_ms);
        if (!snapshot) {
            ++counters_.snapshots_unchanged;
            continue;
        }
        dataplane_.publish_hoa(*snapshot);
        ++counters_.snapshots_published;
    }
}

void HomeAgent::republish_sliced(const std::vector<HomeAddress>& changed, std::uint64_t now_ms) {
    const std::size_t now_count = std::min(changed.size(), settings_.budget.republish);
    if (now_count == changed.size()) {
        republish(changed, now_ms);
        return;
    }
    republish(std::vector<HomeAddress>(changed.begin(),
                                       changed.begin() + static_cast<std::ptrdiff_t>(now_count)),
              now_ms);
    for (std::size_t i = now_count; i < changed.size(); ++i)
        if (republish_queued_.insert(changed[i]).second) republish_queue_.push_back(changed[i]);
}

void HomeAgent::republish_all(std::uint64_t now_ms, bool revalidate) {
    // A sweep over every HoA under way starts again: HoAs it already did may have been built
    // with the state before this change (and a revalidation it was doing goes on in it).
    for (const auto& s : sweeps_)
        if (!s.next_hop) revalidate = revalidate || s.revalidate;
    std::erase_if(sweeps_, [](const Sweep& s) { return !s.next_hop; });
    sweeps_.push_front({std::nullopt, std::nullopt, revalidate});
    republish_pending(now_ms);
}

void HomeAgent::republish_users_of(const Ipv6Address& next_hop, std::uint64_t now_ms) {
    // One sweep per next hop: a second change of the same neighbor restarts it.
    std::erase_if(sweeps_, [&](const Sweep& s) { return s.next_hop == next_hop; });
    sweeps_.push_front({next_hop, {}, false, next_hop_users_.start_sweep()});
    republish_pending(now_ms);
}

bool HomeAgent::continue_sweep(Sweep& sweep, std::vector<HomeAddress>& slice, std::size_t room) {
    if (!sweep.next_hop) {
        for (std::size_t n = 0; n < room; ++n) {
            const bcache::HoaEntry* next = cache_.next_after(sweep.after ? &*sweep.after : nullptr);
            if (!next) return false;
            sweep.after = next->home_address;
            slice.push_back(next->home_address);
        }
        return true;
    }
    // The users of one next hop: each one taken is removed, and build_snapshot adds it again
    // if the HoA still goes that way (after the sweep started: it is not taken again).
    const Ipv6Address& hop = *sweep.next_hop;
    for (std::size_t n = 0; n < room; ++n) {
        auto hoa = next_hop_users_.take_oldest(hop, sweep.started);
        if (!hoa) return false;
        if (auto state = hoas_.find(*hoa); state != hoas_.end())
            NextHopUsers::forget(state->second.next_hops, hop);
        slice.push_back(*hoa);
    }
    return next_hop_users_.has_older(hop, sweep.started);
}

bool HomeAgent::republish_pending(std::uint64_t now_ms) {
    if (republish_queue_.empty() && sweeps_.empty()) return false;
    std::vector<HomeAddress> slice;
    const std::size_t budget = settings_.budget.republish;
    while (slice.size() < budget && !republish_queue_.empty()) {
        slice.push_back(republish_queue_.front());
        republish_queued_.erase(republish_queue_.front());
        republish_queue_.pop_front();
    }
    while (slice.size() < budget && !sweeps_.empty()) {
        // Taken out while it runs: republish() below may start or restart sweeps.
        Sweep sweep = sweeps_.front();
        sweeps_.pop_front();
        const std::size_t first = slice.size();
        const bool more = continue_sweep(sweep, slice, budget - slice.size());
        if (sweep.revalidate)
            revoke_unauthorized(std::vector<HomeAddress>(
                slice.begin() + static_cast<std::ptrdiff_t>(first), slice.end()));
        if (more) sweeps_.push_front(sweep);
    }
    republish(slice, now_ms);
    return true;
}

std::vector<HomeAgent::BindingRow> HomeAgent::binding_rows(const HomeAddress& hoa,
                                                           std::uint64_t now_ms) const {
    std::vector<BindingRow> rows;
    const bcache::HoaEntry* found = cache_.find(hoa);
    if (!found) return rows;
    const bcache::HoaEntry& e = *found;
    const HoaState* state = state_of(e.home_address);
    for (const auto& b : e.bindings) {
        BindingRow row;
        row["home_address"] = e.home_address.to_string();
        row["mn_id"] = std::string(e.mn_id.begin(), e.mn_id.end());
        row["bid"] = b.mcoa ? std::to_string(b.bid) : "-";
        row["care_of"] = b.care_of.to_string();
        row["at_home"] = b.at_home ? "yes" : "no";
        row["ha_address"] = b.ha_address.to_string();
        row["lifetime_s"] =
            std::to_string(b.expiry_ms > now_ms ? (b.expiry_ms - now_ms) / 1000 : 0);
        row["sequence"] = std::to_string(b.sequence);
        // The RFC 6089 flow bindings that steer to this binding, by FID.
        std::string fids;
        for (const auto& f : e.flows)
            if (b.mcoa && std::count(f.bids.begin(), f.bids.end(), b.bid) > 0)
                fids += (fids.empty() ? "" : ",") + std::to_string(f.fid);
        row["flows"] = fids.empty() ? "-" : fids;
        // The state the workers forward with (heartbeats, ICMPv6 errors, port link).
        row["state"] = "-";  // not in the snapshot: no way to the CoA yet
        if (state && state->has_published)
            for (const auto& p : state->published.paths)
                if (p.bid == b.bid) row["state"] = std::string(to_string(p.state));
        if (const PathLiveness* l = liveness_.find({e.home_address, b.bid, b.mcoa})) {
            row["heartbeat_misses"] = std::to_string(l->misses);
            row["state_changes"] = std::to_string(l->transitions);
            row["state_cause"] = std::string(to_string(l->cause));
        }
        const PathSlot* slot = nullptr;
        if (state)
            for (const auto& owned : state->slots)
                if (owned.bid == b.bid && owned.mcoa == b.mcoa) slot = &owned.slot;
        if (slot) {
            PathCounters c = dataplane_.path_counters(slot->slot);
            const PathCounters& base = slot->baseline;
            row["packets"] = std::to_string(c.packets - base.packets);
            row["bytes"] = std::to_string(c.bytes - base.bytes);
            row["reverse_packets"] = std::to_string(c.reverse_packets - base.reverse_packets);
            row["reverse_bytes"] = std::to_string(c.reverse_bytes - base.reverse_bytes);
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

BindingSummary HomeAgent::summary() const {
    BindingSummary s;
    s.home_addresses = cache_.hoa_count();
    s.bindings = cache_.binding_count();
    s.flows = cache_.flow_count();
    s.paths_live = liveness_.count(BindingState::Live);
    s.paths_suspect = liveness_.count(BindingState::Suspect);
    s.paths_dead = liveness_.count(BindingState::Dead);
    s.ports_down = ports_down_.size();
    s.proxied = proxied_.size();
    s.republish_pending = republish_queue_.size() + sweeps_.size();
    s.timers_queued = cache_.queued_timers();
    return s;
}

}  // namespace monami::ha
