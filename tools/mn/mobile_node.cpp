#include "tools/mn/mobile_node.hpp"

#include <algorithm>

#include "controlplane/mh/builder.hpp"
#include "controlplane/mh/exthdr.hpp"
#include "controlplane/mh/parser.hpp"
#include "controlplane/net/packet.hpp"
#include "tools/mn/json.hpp"

namespace monami::mn {

namespace {

constexpr std::size_t kMaxWaitingPackets = 32;
constexpr unsigned kSolicitationsBeforeWarning = 3;
constexpr std::uint8_t kStatusSequenceOutOfWindow = mh::ba_status::kSequenceOutOfWindow;
constexpr std::uint8_t kFirstRejection = 128;

std::string bid_list(const std::vector<std::uint16_t>& bids) {
    std::string out = "[";
    for (std::size_t i = 0; i < bids.size(); ++i) {
        if (i) out += ',';
        out += std::to_string(bids[i]);
    }
    return out + "]";
}

std::vector<std::string_view> words(std::string_view line) {
    std::vector<std::string_view> out;
    std::size_t i = 0;
    while (i < line.size()) {
        while (i < line.size() && (line[i] == ' ' || line[i] == '\t' || line[i] == '\r')) ++i;
        std::size_t start = i;
        while (i < line.size() && line[i] != ' ' && line[i] != '\t' && line[i] != '\r') ++i;
        if (i > start) out.push_back(line.substr(start, i - start));
    }
    return out;
}

template <class T>
bool in_range(const std::optional<mh::Range<T>>& range, const T& value) {
    return !range || (range->start <= value && value <= range->end);
}

struct PacketKey {  // the fields an RFC 6088 IPv6 traffic selector looks at
    Ipv6Address source;
    Ipv6Address destination;
    std::uint8_t traffic_class = 0;
    std::uint32_t flow_label = 0;
    std::uint8_t next_header = 0;
    std::optional<std::uint16_t> source_port;
    std::optional<std::uint16_t> destination_port;
};

bool port_in(const std::optional<mh::Range<std::uint16_t>>& range,
             const std::optional<std::uint16_t>& port) {
    if (!range) return true;
    return port && range->start <= *port && *port <= range->end;
}

bool selector_matches(const mh::TrafficSelectorV6& ts, const PacketKey& k) {
    return in_range(ts.source_address, k.source) &&
           in_range(ts.destination_address, k.destination) &&
           in_range(ts.traffic_class, k.traffic_class) && in_range(ts.flow_label, k.flow_label) &&
           in_range(ts.next_header, k.next_header) && port_in(ts.source_port, k.source_port) &&
           port_in(ts.destination_port, k.destination_port);
}

}  // namespace

MobileNode::MobileNode(MnOptions options, std::vector<LinkEnvironment> environment, SendFrame send,
                       Emit emit, WriteTun write_tun)
    : options_(std::move(options)),
      send_(std::move(send)),
      emit_(std::move(emit)),
      write_tun_(std::move(write_tun)) {
    for (std::size_t i = 0; i < options_.links.size(); ++i) {
        Link link;
        link.spec = options_.links[i];
        link.bid = static_cast<std::uint16_t>(i + 1);
        if (i < environment.size()) link.env = environment[i];
        links_.push_back(std::move(link));
    }
    install_esp_sas();
}

void MobileNode::install_esp_sas() {
    if (options_.esp_sas.empty()) return;
    esp_ = esp::EspEndpoint::create();
    for (auto& spec : options_.esp_sas) {
        esp::SecurityAssociation sa;
        sa.spi = spec.spi;
        sa.dir = spec.direction;
        sa.home_address = options_.home_agent;
        sa.alg = spec.algorithm;
        sa.key = spec.key;
        sa.auth_key = spec.auth_key;
        sa.replay_window =
            spec.direction == esp::Direction::Inbound ? options_.esp_replay_window : 64;
        if (!esp_) {
            emit_error("ESP: the crypto library did not start");
        } else if (auto added = esp_->sas().add(sa); !added) {
            emit_error("ESP SA " + std::to_string(sa.spi) + ": " +
                       std::string(esp::to_string(added.error())));
        }
        sa.wipe_keys();
        esp::secure_zero(spec.key.data(), spec.key.size());
        esp::secure_zero(spec.auth_key.data(), spec.auth_key.size());
    }
}

bool MobileNode::seal(std::vector<std::uint8_t>& ip) {
    if (!esp_) return options_.esp_sas.empty();
    auto sealed = esp_->protect(ip);
    if (!sealed) {
        emit(JsonObject()
                 .add("event", "esp_error")
                 .add("direction", "out")
                 .add("reason", esp::to_string(sealed.error())));
        return false;
    }
    ip = std::move(*sealed);
    return true;
}

// ---- small helpers -------------------------------------------------------------------

void MobileNode::emit(const JsonObject& event) {
    emit_(event.str());
}

void MobileNode::emit_error(std::string_view message) {
    emit(JsonObject().add("event", "error").add("message", message));
}

MobileNode::Link* MobileNode::link_by_name(std::string_view name) {
    for (auto& l : links_)
        if (l.spec.name == name) return &l;
    return nullptr;
}

MobileNode::Link* MobileNode::link_by_bid(std::uint16_t bid) {
    if (bid == 0 || bid > links_.size()) return nullptr;
    return &links_[bid - 1];
}

std::optional<std::size_t> MobileNode::first_live_link() const {
    for (std::size_t i = 0; i < links_.size(); ++i)
        if (links_[i].up) return i;
    return std::nullopt;
}

bool MobileNode::registered(std::uint16_t bid) const {
    return bid >= 1 && bid <= links_.size() && links_[bid - 1].registered;
}

std::vector<std::uint16_t> MobileNode::bulk_bids() const {
    std::vector<std::uint16_t> bids;
    for (const auto& l : links_)
        if (l.up && l.wanted) bids.push_back(l.bid);
    return bids;
}

// ---- start, tick, deadlines ------------------------------------------------------------

void MobileNode::start(std::uint64_t now_ms) {
    for (std::size_t i = 0; i < links_.size(); ++i) {
        Link& l = links_[i];
        l.next_hop = l.spec.via             ? *l.spec.via
                     : l.env.route_next_hop ? *l.env.route_next_hop
                                            : options_.home_agent;
        auto mac = l.spec.gateway_mac ? l.spec.gateway_mac : options_.gateway_mac;
        JsonObject event;
        event.add("event", "link")
            .add("link", l.spec.name)
            .add("bid", l.bid)
            .add("interface", l.spec.interface)
            .add("care_of", l.spec.care_of.to_string())
            .add("mac", l.env.mac.to_string())
            .add("next_hop", l.next_hop.to_string());
        if (mac) {
            l.next_hop_mac = mac;
            event.add("next_hop_mac", mac->to_string());
        }
        emit(event.add("state", "up"));
        if (!l.next_hop_mac) solicit(i, now_ms);
    }
    for (const auto& flow : options_.flows) wanted_flows_[flow.fid] = flow;
    if (options_.bulk) {
        register_bulk(now_ms);
    } else {
        for (std::size_t i = 0; i < links_.size(); ++i) register_link(i, now_ms);
    }
}

std::optional<std::uint64_t> MobileNode::next_deadline_ms() const {
    std::optional<std::uint64_t> next;
    auto consider = [&](std::uint64_t t) {
        if (!next || t < *next) next = t;
    };
    for (const auto& l : links_) {
        if (l.up && !l.next_hop_mac) consider(l.next_solicitation_ms);
        if (l.registered) {
            consider(l.expires_at_ms);
            if (l.wanted && l.up && !shutting_down_) consider(l.refresh_at_ms);
        }
    }
    for (const auto& p : pending_) consider(p.retransmit_at_ms);
    if (shutting_down_) consider(shutdown_deadline_ms_);
    return next;
}

void MobileNode::on_tick(std::uint64_t now_ms) {
    for (std::size_t i = 0; i < links_.size(); ++i) {
        Link& l = links_[i];
        if (l.up && !l.next_hop_mac && now_ms >= l.next_solicitation_ms) solicit(i, now_ms);
        if (l.registered && now_ms >= l.expires_at_ms) {
            l.registered = false;
            emit(JsonObject().add("event", "expired").add("link", l.spec.name).add("bid", l.bid));
        }
    }
    // Retransmissions (RFC 6275 s.11.8): a new sequence number each time, the timeout doubled
    // up to MAX_BINDACK_TIMEOUT, then retried at that interval.
    for (std::size_t k = 0; k < pending_.size();) {
        PendingBu& p = pending_[k];
        if (now_ms < p.retransmit_at_ms) {
            ++k;
            continue;
        }
        if (!links_[p.link].up) {
            // A BU for this link's own BID waits for `link up`; one for several BIDs (or all)
            // moves to another live link.
            bool own_only = p.bids.size() == 1 && p.bids[0] == links_[p.link].bid;
            auto other = first_live_link();
            if (own_only || !other) {
                pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(k));
                continue;
            }
            p.link = *other;
        }
        p.sequence = next_sequence_++;
        p.timeout_ms = std::min(p.timeout_ms * 2, options_.max_bindack_timeout_ms);
        transmit_bu(p, now_ms);
        ++k;
    }
    if (!shutting_down_) {
        if (options_.bulk) {
            bool due = false;
            for (const auto& l : links_)
                due |= l.up && l.wanted && l.registered && now_ms >= l.refresh_at_ms;
            bool in_flight = std::any_of(pending_.begin(), pending_.end(),
                                         [](const PendingBu& p) { return p.lifetime_4s > 0; });
            if (due && !in_flight) register_bulk(now_ms);
        } else {
            for (std::size_t i = 0; i < links_.size(); ++i) {
                const Link& l = links_[i];
                if (!(l.up && l.wanted && l.registered && now_ms >= l.refresh_at_ms)) continue;
                bool in_flight = std::any_of(pending_.begin(), pending_.end(), [&](const auto& p) {
                    return std::count(p.bids.begin(), p.bids.end(), l.bid) > 0;
                });
                if (!in_flight) register_link(i, now_ms);
            }
        }
        try_send_flow_changes(now_ms);
    }
}

// ---- Neighbor Discovery ----------------------------------------------------------------

void MobileNode::solicit(std::size_t link, std::uint64_t now_ms) {
    Link& l = links_[link];
    auto frame = net::build_neighbor_solicitation(l.env.mac, l.spec.care_of, l.next_hop);
    if (send_(link, frame)) {
        ++l.counters.tx_frames;
        l.counters.tx_bytes += frame.size();
    }
    ++l.solicitations;
    if (l.solicitations == kSolicitationsBeforeWarning)
        emit(JsonObject()
                 .add("event", "nd_unresolved")
                 .add("link", l.spec.name)
                 .add("next_hop", l.next_hop.to_string())
                 .add("solicitations", l.solicitations));
    l.next_solicitation_ms = now_ms + options_.nd_retransmit_ms;
}

bool MobileNode::transmit(std::size_t link, std::span<const std::uint8_t> ip) {
    Link& l = links_[link];
    std::vector<std::uint8_t> frame(net::kEthernetHeaderSize + ip.size());
    net::write_ethernet_header(frame.data(), *l.next_hop_mac, l.env.mac);
    std::copy(ip.begin(), ip.end(), frame.begin() + net::kEthernetHeaderSize);
    if (!send_(link, frame)) return false;
    ++l.counters.tx_frames;
    l.counters.tx_bytes += frame.size();
    return true;
}

void MobileNode::send_ip(std::size_t link, std::vector<std::uint8_t> ip) {
    Link& l = links_[link];
    if (!l.up) return;
    if (l.next_hop_mac) {
        transmit(link, ip);
        return;
    }
    if (l.waiting.size() >= kMaxWaitingPackets) l.waiting.erase(l.waiting.begin());
    l.waiting.push_back(std::move(ip));
}

void MobileNode::handle_icmpv6(std::size_t link, const net::Ipv6Packet& packet,
                               std::uint64_t now_ms) {
    (void)now_ms;
    Link& l = links_[link];
    auto icmp = net::parse_icmpv6(packet);
    if (!icmp) return;
    if (icmp->type == net::icmp6::kNeighborAdvertisement) {
        auto na = net::parse_neighbor_advertisement(packet, *icmp);
        if (!na || na->target != l.next_hop || !na->target_link_layer) return;
        // A MAC set on the command line is not overridden by what the link says.
        if (l.spec.gateway_mac || options_.gateway_mac) return;
        bool changed = l.next_hop_mac != na->target_link_layer;
        l.next_hop_mac = na->target_link_layer;
        if (changed)
            emit(JsonObject()
                     .add("event", "nd")
                     .add("link", l.spec.name)
                     .add("next_hop", l.next_hop.to_string())
                     .add("mac", l.next_hop_mac->to_string()));
        auto waiting = std::move(l.waiting);
        l.waiting.clear();
        for (auto& ip : waiting) transmit(link, ip);
    } else if (icmp->type == net::icmp6::kNeighborSolicitation && !l.env.kernel_owns_care_of) {
        auto ns = net::parse_neighbor_solicitation(packet, *icmp);
        if (!ns || ns->target != l.spec.care_of) return;
        net::NeighborAdvertisement na{false, true, true, l.spec.care_of, l.env.mac};
        auto all_nodes = *Ipv6Address::parse("ff02::1");
        bool dad = packet.source.is_unspecified();
        if (dad) na.solicited = false;
        MacAddress to = dad ? MacAddress::for_ipv6_multicast(all_nodes)
                            : ns->source_link_layer.value_or(packet.eth_source);
        auto frame = net::build_neighbor_advertisement(to, l.env.mac, l.spec.care_of,
                                                       dad ? all_nodes : packet.source, na);
        if (send_(link, frame)) {
            ++l.counters.tx_frames;
            l.counters.tx_bytes += frame.size();
        }
    }
}

// ---- frames in -------------------------------------------------------------------------

void MobileNode::on_frame(std::size_t link, std::span<const std::uint8_t> frame,
                          std::uint64_t now_ms) {
    Link& l = links_[link];
    if (!l.up) return;  // a link that is down hears nothing
    auto packet = net::parse_ipv6_frame(frame);
    if (!packet) return;
    bool multicast = packet->destination.is_multicast();
    if (!multicast && packet->destination != l.spec.care_of) return;
    if (packet->eth_destination != l.env.mac && !(packet->eth_destination.bytes[0] & 1)) return;
    ++l.counters.rx_frames;
    l.counters.rx_bytes += frame.size();
    if (packet->next_header == net::kProtoIcmpv6) {
        handle_icmpv6(link, *packet, now_ms);
        return;
    }
    if (multicast) return;
    auto chain = mh::walk_ipv6_headers(packet->ip);
    if (!chain) return;
    if (chain->upper_layer_protocol == mh::kIpProtoEsp) {
        if (!esp_) return;
        auto opened = esp_->unprotect(packet->ip.first(chain->packet_end));
        if (!opened) {
            emit(JsonObject()
                     .add("event", "esp_error")
                     .add("direction", "in")
                     .add("link", l.spec.name)
                     .add("reason", esp::to_string(opened.error())));
            return;
        }
        handle_mobility(link, *opened, now_ms, true);
    } else if (chain->upper_layer_protocol == net::kProtoMobility) {
        handle_mobility(link, packet->ip, now_ms);
    } else if (chain->upper_layer_protocol == net::kProtoIpv6InIpv6) {
        handle_tunnelled(link, packet->ip.first(chain->packet_end), chain->upper_layer_offset);
    }
}

void MobileNode::handle_mobility(std::size_t link, std::span<const std::uint8_t> ip,
                                 std::uint64_t now_ms, bool was_protected) {
    Link& l = links_[link];
    auto chain = mh::walk_ipv6_headers(ip);
    if (!chain) return;
    auto parsed = mh::parse_mh(chain->upper_layer(ip), chain->checksum_source(),
                               chain->checksum_destination());
    if (!parsed) {
        emit(JsonObject()
                 .add("event", "mh_malformed")
                 .add("link", l.spec.name)
                 .add("error", mh::to_string(parsed.error())));
        return;
    }
    auto ignored = [&](std::string_view type, std::string_view reason) {
        emit(JsonObject()
                 .add("event", "mh_ignored")
                 .add("link", l.spec.name)
                 .add("type", type)
                 .add("reason", reason)
                 .add("source", chain->source.to_string()));
    };
    if (chain->source != options_.home_agent) return ignored("any", "not from the home agent");
    const bool via_home = chain->type2_routing_address.has_value();
    if (via_home && *chain->type2_routing_address != options_.home_address)
        return ignored("any", "type 2 routing header names another home address");
    if (const auto* ba = std::get_if<mh::BindingAck>(&parsed->message)) {
        // RFC 6275 s.11.7.3: a BA to a MN away from home carries its HoA in a type 2 RH.
        if (!via_home) return ignored("ba", "no type 2 routing header");
        // RFC 3776 s.3.1: with SAs, a BA must come inside ESP.
        if (esp_ && !was_protected) return ignored("ba", "not ESP-protected");
        handle_binding_ack(link, *ba, now_ms);
    } else if (const auto* brr = std::get_if<mh::BindingRefreshRequest>(&parsed->message)) {
        handle_refresh_request(link, *brr, now_ms);
    } else if (const auto* hb = std::get_if<mh::Heartbeat>(&parsed->message)) {
        handle_heartbeat(link, *hb, via_home, was_protected, now_ms);
    } else if (const auto* be = std::get_if<mh::BindingError>(&parsed->message)) {
        emit(JsonObject()
                 .add("event", "be")
                 .add("link", l.spec.name)
                 .add("status", be->status)
                 .add("home_address", be->home_address.to_string()));
    } else {
        ignored("bu", "a mobile node does not process Binding Updates");
    }
}

// ---- registration ----------------------------------------------------------------------

mh::BindingUpdate MobileNode::make_bu(const PendingBu& p) const {
    mh::BindingUpdate bu;
    bu.sequence = p.sequence;
    bu.ack_requested = true;
    bu.home_registration = true;
    bu.mobile_router = !options_.prefixes.empty();
    bu.lifetime_4s = p.lifetime_4s;
    auto& o = bu.options;
    if (options_.mn_id)
        o.mn_id = mh::MobileNodeIdentifier{
            1, std::vector<std::uint8_t>(options_.mn_id->begin(), options_.mn_id->end())};
    const std::uint16_t own_bid = links_[p.link].bid;
    for (auto bid : p.bids) {
        mh::BindingIdentifier id;
        id.bid = bid;
        // Bulk registration names each CoA (RFC 5648 s.6.1); so does a BU for another
        // link's BID.
        if (p.lifetime_4s > 0 && (options_.bulk || bid != own_bid))
            id.care_of_v6 = links_[bid - 1].spec.care_of;
        o.binding_ids.push_back(id);
    }
    if (bu.mobile_router && p.lifetime_4s > 0)
        for (const auto& prefix : options_.prefixes)
            o.network_prefixes.push_back({prefix.length, prefix.address});
    for (const auto& flow : p.flow_changes) o.flows.push_back(flow_option(flow));
    if (!p.flow_summary.empty()) o.flow_summary = p.flow_summary;
    return bu;
}

void MobileNode::transmit_bu(PendingBu& p, std::uint64_t now_ms) {
    const Link& l = links_[p.link];
    auto packet =
        mh::build_bu_packet(make_bu(p), l.spec.care_of, options_.home_agent, options_.home_address);
    ++p.transmissions;
    p.retransmit_at_ms = now_ms + p.timeout_ms;
    JsonObject event;
    event.add("event", "bu")
        .add("link", l.spec.name)
        .add("seq", p.sequence)
        .add_raw("bids", bid_list(p.bids))
        .add("lifetime", p.lifetime_4s * 4u);
    if (!p.flow_changes.empty()) {
        std::vector<std::uint16_t> fids;
        for (const auto& flow : p.flow_changes) fids.push_back(flow.fid);
        event.add_raw("flows", bid_list(fids));
    }
    if (!p.flow_summary.empty()) event.add_raw("flow_summary", bid_list(p.flow_summary));
    if (p.transmissions > 1) event.add("retransmission", p.transmissions - 1);
    if (packet.empty()) {
        emit_error("Binding Update cannot be encoded (too many options?)");
        return;
    }
    if (!seal(packet)) return;
    if (esp_) event.add("esp", true);
    emit(event);
    send_ip(p.link, std::move(packet));
}

void MobileNode::attach_flows(PendingBu& p) const {
    // Every flow binding the MN keeps is named, or the HA removes it (RFC 6089 s.5). A new or
    // changed one goes in a Flow Identification option once its BIDs are registered, in this
    // BU or in one still in flight (the HA takes them in sequence order); until then a
    // registered one stays as it is (Flow Summary) and a new one waits.
    p.carries_flows = true;
    auto bound = [&](std::uint16_t bid) {
        if (registered(bid) || std::count(p.bids.begin(), p.bids.end(), bid) > 0) return true;
        return std::any_of(pending_.begin(), pending_.end(), [&](const PendingBu& other) {
            return other.lifetime_4s > 0 &&
                   std::count(other.bids.begin(), other.bids.end(), bid) > 0;
        });
    };
    for (const auto& [fid, flow] : wanted_flows_) {
        auto registered_flow = registered_flows_.find(fid);
        const bool known = registered_flow != registered_flows_.end();
        if (known && registered_flow->second == flow)
            p.flow_summary.push_back(fid);
        else if (p.lifetime_4s > 0 && std::all_of(flow.bids.begin(), flow.bids.end(), bound))
            p.flow_changes.push_back(flow);
        else if (known)
            p.flow_summary.push_back(fid);
    }
}

bool MobileNode::flow_changes_pending() const {
    for (const auto& [fid, flow] : wanted_flows_) {
        auto registered_flow = registered_flows_.find(fid);
        if (registered_flow == registered_flows_.end() || !(registered_flow->second == flow))
            return true;
    }
    return std::any_of(registered_flows_.begin(), registered_flows_.end(),
                       [&](const auto& entry) { return !wanted_flows_.count(entry.first); });
}

void MobileNode::send_bu(std::size_t link, std::vector<std::uint16_t> bids,
                         std::uint16_t lifetime_4s, std::uint64_t now_ms) {
    // A new BU supersedes what is in flight for the same BIDs (its flow operations come back).
    for (std::size_t k = 0; k < pending_.size();) {
        PendingBu& p = pending_[k];
        bool had_bids = !p.bids.empty();
        std::erase_if(p.bids,
                      [&](std::uint16_t b) { return std::count(bids.begin(), bids.end(), b) > 0; });
        bool superseded = (had_bids && p.bids.empty()) || (!had_bids && bids.empty());
        if (!superseded) {
            ++k;
            continue;
        }
        pending_.erase(pending_.begin() + static_cast<std::ptrdiff_t>(k));
    }
    PendingBu p;
    p.sequence = next_sequence_++;
    p.link = link;
    p.bids = std::move(bids);
    p.lifetime_4s = lifetime_4s;
    p.timeout_ms = options_.initial_bindack_timeout_ms;
    // Every BU but the one that removes all bindings states the flow bindings.
    if (!shutting_down_ && (lifetime_4s > 0 || !p.bids.empty())) attach_flows(p);
    pending_.push_back(std::move(p));
    transmit_bu(pending_.back(), now_ms);
}

void MobileNode::register_link(std::size_t link, std::uint64_t now_ms) {
    Link& l = links_[link];
    if (!l.up || !l.wanted || shutting_down_) return;
    send_bu(link, {l.bid}, static_cast<std::uint16_t>(options_.lifetime_s / 4), now_ms);
}

void MobileNode::register_bulk(std::uint64_t now_ms) {
    auto bids = bulk_bids();
    auto link = first_live_link();
    if (bids.empty() || !link || shutting_down_) return;
    // Sent over the first live link whose BID is wanted (its own CoA is the source).
    for (std::size_t i = 0; i < links_.size(); ++i)
        if (links_[i].up && links_[i].wanted) {
            link = i;
            break;
        }
    send_bu(*link, std::move(bids), static_cast<std::uint16_t>(options_.lifetime_s / 4), now_ms);
}

void MobileNode::try_send_flow_changes(std::uint64_t now_ms) {
    if (shutting_down_ || !flow_changes_pending()) return;
    // One BU with flow changes at a time; its BA calls again for what is left.
    bool carrying = std::any_of(pending_.begin(), pending_.end(), [](const PendingBu& p) {
        return !p.flow_changes.empty() || (p.carries_flows && p.lifetime_4s > 0);
    });
    if (carrying) return;
    std::optional<std::size_t> link;
    for (std::size_t i = 0; i < links_.size(); ++i)
        if (links_[i].up && links_[i].registered && links_[i].wanted) {
            link = i;
            break;
        }
    if (!link) return;
    std::vector<std::uint16_t> bids =
        options_.bulk ? bulk_bids() : std::vector<std::uint16_t>{links_[*link].bid};
    // Worth a BU when it removes a flow binding or can carry a new or changed one.
    PendingBu probe;
    probe.bids = bids;
    probe.lifetime_4s = 1;
    attach_flows(probe);
    bool removes =
        std::any_of(registered_flows_.begin(), registered_flows_.end(),
                    [&](const auto& entry) { return !wanted_flows_.count(entry.first); });
    if (removes || !probe.flow_changes.empty())
        send_bu(*link, std::move(bids), static_cast<std::uint16_t>(options_.lifetime_s / 4),
                now_ms);
}

void MobileNode::deregister_all(std::uint64_t now_ms) {
    for (auto& l : links_) l.wanted = false;
    auto link = first_live_link();
    if (!link) {
        emit_error("deregister: no live link");
        return;
    }
    // RFC 5648 s.6.1: lifetime 0 without a Binding Identifier option removes every binding.
    send_bu(*link, {}, 0, now_ms);
}

void MobileNode::deregister_link(std::size_t link, std::uint64_t now_ms) {
    Link& l = links_[link];
    l.wanted = false;
    std::optional<std::size_t> via = l.up ? std::optional<std::size_t>(link) : first_live_link();
    if (!via) {
        emit_error("deregister: no live link");
        return;
    }
    send_bu(*via, {l.bid}, 0, now_ms);
}

void MobileNode::handle_binding_ack(std::size_t link, const mh::BindingAck& ba,
                                    std::uint64_t now_ms) {
    Link& arrived = links_[link];
    auto it = std::find_if(pending_.begin(), pending_.end(),
                           [&](const PendingBu& p) { return p.sequence == ba.sequence; });
    if (ba.status == kStatusSequenceOutOfWindow && !pending_.empty()) {
        // RFC 6275 s.11.7.3: take the HA's last accepted number and send again at once.
        emit(JsonObject()
                 .add("event", "ba")
                 .add("link", arrived.spec.name)
                 .add("seq", ba.sequence)
                 .add("status", ba.status)
                 .add("action", "resync"));
        next_sequence_ = static_cast<std::uint16_t>(ba.sequence + 1);
        for (auto& p : pending_) {
            p.sequence = next_sequence_++;
            transmit_bu(p, now_ms);
        }
        return;
    }
    if (it == pending_.end()) {
        emit(JsonObject()
                 .add("event", "mh_ignored")
                 .add("link", arrived.spec.name)
                 .add("type", "ba")
                 .add("reason", "sequence matches no pending BU")
                 .add("seq", ba.sequence));
        return;
    }
    PendingBu p = std::move(*it);
    pending_.erase(it);

    std::map<std::uint16_t, std::uint8_t> bid_status;
    for (auto bid : p.bids) bid_status[bid] = ba.status;
    for (const auto& opt : ba.options.binding_ids)
        if (bid_status.count(opt.bid)) bid_status[opt.bid] = opt.status;
    const std::uint32_t granted_s = ba.lifetime_4s * 4u;
    std::uint64_t refresh_ms = granted_s * 800ull;  // at 80% of the granted lifetime
    if (ba.options.refresh_advice)
        refresh_ms =
            std::min<std::uint64_t>(refresh_ms, ba.options.refresh_advice->interval_4s * 4000ull);
    refresh_ms = std::max<std::uint64_t>(refresh_ms, 1000);

    JsonObject bids;
    for (const auto& [bid, status] : bid_status) {
        bids.add(std::to_string(bid), status);
        Link* l = link_by_bid(bid);
        if (!l) continue;
        if (p.lifetime_4s == 0) {
            if (status < kFirstRejection || status == mh::ba_status::kNotHomeAgentForThisMn)
                l->registered = false;
        } else if (status < kFirstRejection && granted_s > 0) {
            l->registered = true;
            l->expires_at_ms = now_ms + granted_s * 1000ull;
            l->refresh_at_ms = now_ms + refresh_ms;
        } else {
            l->registered = false;
            l->wanted = false;  // rejected: `link up` or `register` tries again
        }
    }
    if (p.bids.empty() && p.lifetime_4s == 0 && ba.status < kFirstRejection) {
        for (auto& l : links_) l.registered = false;
        registered_flows_.clear();
        if (shutting_down_) shutdown_acknowledged_ = true;
    }

    JsonObject flows;
    for (const auto& answer : ba.options.flows)
        flows.add(std::to_string(answer.fid), answer.status);
    settle_flows(p, ba);
    JsonObject event;
    event.add("event", "ba")
        .add("link", arrived.spec.name)
        .add("seq", ba.sequence)
        .add("status", ba.status)
        .add("lifetime", granted_s)
        .add("bids", bids);
    if (!flows.empty()) event.add("flows", flows);
    if (ba.options.refresh_advice)
        event.add("refresh_advice", ba.options.refresh_advice->interval_4s * 4u);
    emit(event);
    if (!shutting_down_) try_send_flow_changes(now_ms);
}

void MobileNode::settle_flows(const PendingBu& p, const mh::BindingAck& ba) {
    if (!p.carries_flows) return;
    auto answer_for = [&](std::uint16_t fid) -> std::optional<std::uint8_t> {
        for (const auto& answer : ba.options.flows)
            if (answer.fid == fid) return answer.status;
        return std::nullopt;
    };
    // A change the HA refused (or a BU it rejected) is given up: the MN wants what is
    // registered, so it does not send the same refused change again and again.
    auto give_up = [&](std::uint16_t fid) {
        auto registered_flow = registered_flows_.find(fid);
        if (registered_flow != registered_flows_.end())
            wanted_flows_[fid] = registered_flow->second;
        else
            wanted_flows_.erase(fid);
    };
    if (ba.status >= kFirstRejection) {  // the HA changed nothing
        for (const auto& flow : p.flow_changes) give_up(flow.fid);
        return;
    }
    // The HA now holds exactly what the BU named (RFC 6089 s.5): the rest is removed.
    std::map<std::uint16_t, FlowSpec> now_registered;
    for (auto fid : p.flow_summary) {
        auto registered_flow = registered_flows_.find(fid);
        if (answer_for(fid) == mh::fid_status::kFidNotFound ||
            registered_flow == registered_flows_.end())
            continue;  // the HA no longer had it: added again with the next BU
        now_registered[fid] = registered_flow->second;
    }
    for (const auto& flow : p.flow_changes) {
        if (answer_for(flow.fid) == mh::fid_status::kSuccess) {
            now_registered[flow.fid] = flow;
            continue;
        }
        auto registered_flow = registered_flows_.find(flow.fid);
        if (registered_flow != registered_flows_.end())
            now_registered[flow.fid] = registered_flow->second;  // a refused change keeps it
        give_up(flow.fid);
    }
    registered_flows_ = std::move(now_registered);
}

void MobileNode::handle_refresh_request(std::size_t link, const mh::BindingRefreshRequest& brr,
                                        std::uint64_t now_ms) {
    // RFC 6275 s.11.7.4: answer with a BU. RFC 5648 s.5.8: a Binding Identifier option names
    // the binding; without one, the link the BRR came in on does.
    std::size_t named = link;
    if (!brr.options.binding_ids.empty()) {
        const std::uint16_t bid = brr.options.binding_ids.front().bid;
        if (bid >= 1 && bid <= links_.size()) named = bid - 1u;
    }
    Link& l = links_[named];
    emit(JsonObject().add("event", "brr").add("link", links_[link].spec.name).add("bid", l.bid));
    if (shutting_down_) return;
    if (options_.bulk)
        register_bulk(now_ms);
    else
        register_link(named, now_ms);
}

void MobileNode::handle_heartbeat(std::size_t link, const mh::Heartbeat& hb, bool via_home,
                                  bool was_protected, std::uint64_t now_ms) {
    (void)now_ms;
    Link& l = links_[link];
    emit(JsonObject()
             .add("event", "heartbeat")
             .add("link", l.spec.name)
             .add("seq", hb.sequence)
             .add("response", hb.response)
             .add("esp", was_protected));
    if (hb.response) return;
    mh::Heartbeat reply;
    reply.response = true;  // RFC 5847 s.5.1: R set, U clear, the request's sequence number
    reply.sequence = hb.sequence;
    mh::MhPacketAddresses addresses{l.spec.care_of, options_.home_agent, std::nullopt, std::nullopt,
                                    64};
    // RFC 5847 s.6 with RFC 3776 selectors: the HA's SA for us is keyed by our HoA, so a
    // protected answer names it in a Home Address option, as a BU does.
    if (via_home || was_protected) addresses.home_address_option = options_.home_address;
    auto packet = mh::build_ipv6_mh_packet(reply, addresses);
    if (packet.empty()) return;
    if (was_protected && !seal(packet)) return;
    send_ip(link, std::move(packet));
}

// ---- tunnel ----------------------------------------------------------------------------

bool MobileNode::is_ours(const Ipv6Address& a) const {
    if (a == options_.home_address) return true;
    return std::any_of(options_.prefixes.begin(), options_.prefixes.end(),
                       [&](const Ipv6Prefix& p) { return p.contains(a); });
}

void MobileNode::handle_tunnelled(std::size_t link, std::span<const std::uint8_t> ip,
                                  std::size_t inner_offset) {
    Link& l = links_[link];
    auto inner = ip.subspan(inner_offset);
    net::Ipv6HeaderView outer{ip.data()};
    // Only the HA may tunnel to us (the MN's side of RFC 2473 / RFC 6275 s.11.3.3).
    if (outer.source() != options_.home_agent || inner.size() < net::kIpv6HeaderSize) {
        ++l.counters.dropped;
        return;
    }
    net::Ipv6HeaderView in{inner.data()};
    std::size_t inner_end = net::kIpv6HeaderSize + in.payload_length();
    if (in.version() != 6 || inner_end > inner.size() || !is_ours(in.destination()) ||
        !write_tun_) {
        ++l.counters.dropped;
        return;
    }
    ++l.counters.rx_tunnelled;
    write_tun_(inner.first(inner_end));
}

std::optional<std::size_t> MobileNode::link_for_packet(std::span<const std::uint8_t> ip) const {
    auto usable = [&](std::uint16_t bid) {
        return bid >= 1 && bid <= links_.size() && links_[bid - 1].up &&
               links_[bid - 1].next_hop_mac.has_value();
    };
    if (!registered_flows_.empty()) {
        auto chain = mh::walk_ipv6_headers(ip);
        if (chain) {
            net::Ipv6HeaderView h{ip.data()};
            PacketKey key{chain->source,  chain->destination,          h.traffic_class(),
                          h.flow_label(), chain->upper_layer_protocol, std::nullopt,
                          std::nullopt};
            auto upper = chain->upper_layer(ip);
            bool ports = chain->upper_layer_protocol == net::kProtoUdp ||
                         chain->upper_layer_protocol == net::kProtoTcp;
            if (ports && upper.size() >= 4) {
                key.source_port = net::load_be16(upper.data());
                key.destination_port = net::load_be16(upper.data() + 2);
            }
            // The selector describes the flow as the HA sees it towards the MN; an uplink
            // packet of the same flow matches it with source and destination swapped.
            PacketKey reversed = key;
            std::swap(reversed.source, reversed.destination);
            std::swap(reversed.source_port, reversed.destination_port);
            const FlowSpec* best = nullptr;
            for (const auto& [fid, flow] : registered_flows_) {
                if (!selector_matches(flow.selector, key) &&
                    !selector_matches(flow.selector, reversed))
                    continue;
                // RFC 6089 s.4.2: the lower the value, the higher the priority.
                if (!best || flow.priority < best->priority) best = &flow;
            }
            if (best)
                for (auto bid : best->bids)
                    if (usable(bid)) return static_cast<std::size_t>(bid - 1);
        }
    }
    for (const auto& l : links_)
        if (l.registered && usable(l.bid)) return static_cast<std::size_t>(l.bid - 1);
    for (const auto& l : links_)
        if (usable(l.bid)) return static_cast<std::size_t>(l.bid - 1);
    return std::nullopt;
}

void MobileNode::on_tun_packet(std::span<const std::uint8_t> ip, std::uint64_t now_ms) {
    (void)now_ms;
    if (ip.size() < net::kIpv6HeaderSize || (ip[0] >> 4) != 6) return;
    net::Ipv6HeaderView h{ip.data()};
    // The kernel's own chatter on the tun link (MLD, router solicitations) stays local.
    if (h.destination().is_multicast() || h.destination().is_link_local() ||
        h.source().is_link_local() || h.source().is_unspecified())
        return;
    auto link = link_for_packet(ip);
    if (!link) return;
    Link& l = links_[*link];
    // Reverse tunnel (RFC 6275 s.11.3.1): CoA -> HA, IPv6-in-IPv6.
    std::vector<std::uint8_t> outer(net::kIpv6HeaderSize + ip.size());
    net::write_ipv6_header(outer.data(), static_cast<std::uint16_t>(ip.size()),
                           net::kProtoIpv6InIpv6, 64, l.spec.care_of, options_.home_agent);
    std::copy(ip.begin(), ip.end(), outer.begin() + net::kIpv6HeaderSize);
    ++l.counters.tx_tunnelled;
    send_ip(*link, std::move(outer));
}

// ---- control ---------------------------------------------------------------------------

void MobileNode::emit_stats() {
    JsonObject per_link;
    for (const auto& l : links_) {
        const auto& c = l.counters;
        per_link.add(l.spec.name, JsonObject()
                                      .add("bid", l.bid)
                                      .add("up", l.up)
                                      .add("registered", l.registered)
                                      .add("rx_frames", c.rx_frames)
                                      .add("tx_frames", c.tx_frames)
                                      .add("rx_bytes", c.rx_bytes)
                                      .add("tx_bytes", c.tx_bytes)
                                      .add("rx_tunnelled", c.rx_tunnelled)
                                      .add("tx_tunnelled", c.tx_tunnelled)
                                      .add("dropped", c.dropped));
    }
    std::vector<std::uint16_t> fids;
    for (const auto& [fid, flow] : registered_flows_) fids.push_back(fid);
    emit(JsonObject()
             .add("event", "stats")
             .add("links", per_link)
             .add_raw("flows", bid_list(fids))
             .add("next_sequence", next_sequence_));
}

CommandOutcome MobileNode::command(std::string_view line, std::uint64_t now_ms) {
    auto w = words(line);
    if (w.empty()) return CommandOutcome::Ok;
    auto fail = [&](std::string message) {
        emit_error(std::string(line) + ": " + message);
        return CommandOutcome::Error;
    };
    if (w[0] == "quit" || w[0] == "exit") return CommandOutcome::Quit;
    if (w[0] == "stats") {
        emit_stats();
        return CommandOutcome::Ok;
    }
    if (w[0] == "link" && w.size() == 3 && (w[1] == "down" || w[1] == "up")) {
        Link* l = link_by_name(w[2]);
        if (!l) return fail("no such link");
        std::size_t index = static_cast<std::size_t>(l->bid - 1);
        bool up = w[1] == "up";
        l->up = up;
        emit(JsonObject()
                 .add("event", "link")
                 .add("link", l->spec.name)
                 .add("bid", l->bid)
                 .add("state", up ? "up" : "down"));
        if (up) {
            l->wanted = true;
            l->solicitations = 0;
            if (!l->next_hop_mac) solicit(index, now_ms);
            if (options_.bulk) {
                if (!shutting_down_)
                    send_bu(index, bulk_bids(), static_cast<std::uint16_t>(options_.lifetime_s / 4),
                            now_ms);
            } else {
                register_link(index, now_ms);
            }
        } else {
            l->waiting.clear();
        }
        return CommandOutcome::Ok;
    }
    if ((w[0] == "deregister" || w[0] == "register") && w.size() <= 2) {
        bool reg = w[0] == "register";
        if (w.size() == 1) {
            if (!reg) {
                deregister_all(now_ms);
            } else {
                for (auto& l : links_) l.wanted = true;
                if (options_.bulk)
                    register_bulk(now_ms);
                else
                    for (std::size_t i = 0; i < links_.size(); ++i) register_link(i, now_ms);
            }
            return CommandOutcome::Ok;
        }
        Link* l = link_by_name(w[1]);
        if (!l) return fail("no such link");
        std::size_t index = static_cast<std::size_t>(l->bid - 1);
        if (reg) {
            l->wanted = true;
            register_link(index, now_ms);
        } else {
            deregister_link(index, now_ms);
        }
        return CommandOutcome::Ok;
    }
    if (w[0] == "flow" && w.size() == 3 && (w[1] == "add" || w[1] == "modify")) {
        // RFC 6089: a Flow Identification option adds the FID or replaces what the HA has
        // for it; modify moves one flow without touching its bindings.
        auto flow = parse_flow_spec(w[2], options_.links);
        if (!flow) return fail(flow.error());
        for (auto bid : flow->bids)
            if (!link_by_bid(bid)) return fail("no link with BID " + std::to_string(bid));
        const bool known = wanted_flows_.count(flow->fid) > 0;
        if (w[1] == "add" && known) return fail("fid already in use");
        if (w[1] == "modify" && !known) return fail("unknown fid");
        wanted_flows_[flow->fid] = *flow;
        try_send_flow_changes(now_ms);
        return CommandOutcome::Ok;
    }
    if (w[0] == "flow" && w.size() == 3 && w[1] == "remove") {
        unsigned long fid = 0;
        try {
            fid = std::stoul(std::string(w[2]));
        } catch (...) {
            return fail("bad fid");
        }
        if (fid > 0xffff || !wanted_flows_.count(static_cast<std::uint16_t>(fid)))
            return fail("unknown fid");
        // Removed by leaving it out of the next BU (RFC 6089 s.5).
        wanted_flows_.erase(static_cast<std::uint16_t>(fid));
        try_send_flow_changes(now_ms);
        return CommandOutcome::Ok;
    }
    return fail("unknown command");
}

void MobileNode::begin_shutdown(std::uint64_t now_ms) {
    if (shutting_down_) return;
    bool any =
        std::any_of(links_.begin(), links_.end(), [](const Link& l) { return l.registered; }) ||
        std::any_of(pending_.begin(), pending_.end(),
                    [](const PendingBu& p) { return p.lifetime_4s > 0; });
    if (options_.deregister_at_exit && any && first_live_link()) {
        deregister_all(now_ms);
        shutting_down_ = true;
        // Room for the first BU and two retransmissions, capped.
        std::uint64_t wait =
            std::min<std::uint64_t>(7ull * options_.initial_bindack_timeout_ms + 200, 10000);
        shutdown_deadline_ms_ = now_ms + wait;
    } else {
        shutting_down_ = true;
        shutdown_acknowledged_ = true;
        shutdown_deadline_ms_ = now_ms;
    }
    // Registrations in flight are moot now.
    std::erase_if(pending_, [](const PendingBu& p) { return p.lifetime_4s > 0; });
}

bool MobileNode::shutdown_complete(std::uint64_t now_ms) const {
    return shutting_down_ && (shutdown_acknowledged_ || now_ms >= shutdown_deadline_ms_);
}

}  // namespace monami::mn
