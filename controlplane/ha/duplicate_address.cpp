// Duplicate Address Detection before a first registration (RFC 6275 s.10.3.1): the BU that
// would create a home address's binding waits while a DAD probe (RFC 4862 s.5.4.2) for the
// home address, and for its link-local address when the L flag is set, goes out on the home
// link. A Neighbor Advertisement for it, or another node's probe, during the wait means the
// address is in use: the BU is answered 134 and nothing is bound. Otherwise the latest BU
// received for the home address is processed as usual. The wait is one RetransTimer for all
// BUs, so the queue is in deadline order and each iteration takes a bounded slice of it.
#include <algorithm>

#include "controlplane/ha/home_agent.hpp"
#include "controlplane/mh/exthdr.hpp"
#include "controlplane/mh/parser.hpp"
#include "controlplane/net/icmpv6.hpp"

namespace monami::ha {

bool HomeAgent::needs_dad(const HomeAddress& hoa, const mh::BindingUpdate& bu) const {
    if (!settings_.duplicate_address_detection || !bu.home_registration || bu.lifetime_4s == 0)
        return false;
    if (pending_dad_.count(hoa)) return true;  // a newer BU for a HoA already waiting
    return !cache_.find(hoa) && home_interface_for(hoa) != nullptr;
}

void HomeAgent::hold_for_dad(const HomeAddress& hoa, PortId port, const MacAddress& reply_mac,
                             std::span<const std::uint8_t> ip, const mh::BindingUpdate& bu,
                             bool was_protected, std::uint64_t now_ms) {
    auto held = pending_dad_.find(hoa);
    if (held != pending_dad_.end()) {
        // A retransmission or a newer BU: it replaces the one held, the wait goes on.
        held->second.port = port;
        held->second.reply_mac = reply_mac;
        held->second.ip.assign(ip.begin(), ip.end());
        held->second.was_protected = was_protected;
        return;
    }
    const Interface* home = home_interface_for(hoa);
    if (pending_dad_.size() >= settings_.max_pending_dad || !home) {
        ++counters_.dad_pending_full;
        auto chain = mh::walk_ipv6_headers(ip);
        if (!chain) return;
        mh::BindingAck ack;
        ack.status = mh::ba_status::kInsufficientResources;
        ack.sequence = bu.sequence;
        send_binding_ack(port, reply_mac, was_protected, ack, chain->destination, chain->source,
                         chain->home_address_option);
        return;
    }
    PendingDad pending;
    pending.deadline_ms = now_ms + settings_.dad_wait_ms;
    pending.port = port;
    pending.reply_mac = reply_mac;
    pending.ip.assign(ip.begin(), ip.end());
    pending.was_protected = was_protected;
    pending_dad_.emplace(hoa, std::move(pending));
    dad_queue_.emplace_back(now_ms + settings_.dad_wait_ms, hoa);
    send_dad_probe(*home, hoa);
    if (bu.link_local_compat) {
        const Ipv6Address link_local = mobile_link_local(hoa);
        dad_link_local_[link_local] = hoa;
        send_dad_probe(*home, link_local);
    }
}

void HomeAgent::send_dad_probe(const Interface& home, const Ipv6Address& target) {
    // RFC 4862 s.5.4.2: from the unspecified address to the target's solicited-node group.
    send(home.port, net::build_neighbor_solicitation(home.mac, Ipv6Address{}, target));
    ++counters_.dad_probes_sent;
}

void HomeAgent::dad_conflict(PortId port, const Ipv6Address& target) {
    if (pending_dad_.empty()) return;
    HomeAddress hoa = target;
    if (!pending_dad_.count(hoa)) {
        auto ll = dad_link_local_.find(target);
        if (ll == dad_link_local_.end()) return;
        hoa = ll->second;
    }
    auto held = pending_dad_.find(hoa);
    const Interface* home = home_interface_for(hoa);
    if (held != pending_dad_.end() && home && home->port == port) held->second.duplicate = true;
}

void HomeAgent::dad_tick(std::uint64_t now_ms, std::size_t budget) {
    for (std::size_t done = 0; done < budget && !dad_queue_.empty(); ++done) {
        const auto [deadline, hoa] = dad_queue_.front();
        if (deadline > now_ms) return;
        dad_queue_.pop_front();
        auto held = pending_dad_.find(hoa);
        if (held == pending_dad_.end()) continue;
        PendingDad pending = std::move(held->second);
        pending_dad_.erase(held);
        dad_link_local_.erase(mobile_link_local(hoa));
        auto chain = mh::walk_ipv6_headers(pending.ip);
        if (!chain) continue;
        if (mh::parse_mh_into(chain->upper_layer(pending.ip), chain->checksum_source(),
                              chain->checksum_destination(), settings_.parse_limits, parsed_mh_))
            continue;
        const auto* bu = std::get_if<mh::BindingUpdate>(&parsed_mh_.message);
        if (!bu) continue;
        if (pending.duplicate) {
            // s.10.3.1: the whole BU is rejected with 134; nothing was bound.
            ++counters_.dad_duplicates;
            mh::BindingAck ack;
            ack.status = mh::ba_status::kDadFailed;
            ack.sequence = bu->sequence;
            for (auto bid : bu->options.binding_ids) {
                bid.status = mh::ba_status::kDadFailed;
                ack.options.binding_ids.push_back(bid);
            }
            std::optional<HomeAddress> routed_to;
            if (chain->home_address_option) routed_to = chain->home_address_option;
            send_binding_ack(pending.port, pending.reply_mac, pending.was_protected, ack,
                             chain->destination, chain->source, routed_to);
            continue;
        }
        handle_binding_update(pending.port, pending.reply_mac, *chain, pending.ip, *bu,
                              pending.was_protected, true, now_ms);
    }
}

}  // namespace monami::ha
