#include "controlplane/bcache/binding_cache.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <sstream>
#include <utility>

namespace monami::bcache {

namespace {

namespace status = mh::ba_status;
namespace fid_status = mh::fid_status;

constexpr std::uint64_t kMsPerLifetimeUnit = 4000;  // lifetimes travel in units of 4 s

Ipv6Address masked(const Ipv6Address& a, std::uint8_t length) {
    Ipv6Address out = a;
    for (int i = 0; i < 16; ++i) {
        const int bits = std::clamp(static_cast<int>(length) - 8 * i, 0, 8);
        out.bytes[i] &= static_cast<std::uint8_t>(0xff00u >> bits);
    }
    return out;
}

Ipv6Address last_address(const Ipv6Prefix& p) {
    Ipv6Address out = p.address;
    for (int i = 0; i < 16; ++i) {
        const int bits = std::clamp(static_cast<int>(p.length) - 8 * i, 0, 8);
        out.bytes[i] |= static_cast<std::uint8_t>(0xffu >> bits);
    }
    return out;
}

bool overlaps(const Ipv6Prefix& a, const Ipv6Prefix& b) {
    const auto shorter = std::min(a.length, b.length);
    return masked(a.address, shorter) == masked(b.address, shorter);
}

bool is_unicast(const Ipv6Address& a) {
    return !a.is_unspecified() && !a.is_multicast();
}

// An anycast address of `prefix` that no node may take as its own: the Subnet-Router
// anycast address (RFC 4291 s.2.6.1, the prefix itself) and, in a /64, the reserved
// subnet anycast addresses ::fdff:ffff:ffff:ff80 to ::fdff:ffff:ffff:ffff (RFC 2526),
// which hold the Mobile IPv6 Home-Agents anycast address.
bool reserved_anycast(const Ipv6Address& a, const Ipv6Prefix& prefix) {
    if (!prefix.contains(a)) return false;
    if (a == prefix.address) return true;
    if (prefix.length != 64) return false;
    static constexpr std::array<std::uint8_t, 7> kHigh = {0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    return std::equal(kHigh.begin(), kHigh.end(), a.bytes.begin() + 8) && a.bytes[15] >= 0x80;
}

template <class T, class Key, class KeyOf>
T* find_sorted(std::vector<T>& items, Key key, KeyOf key_of) {
    auto it = std::lower_bound(items.begin(), items.end(), key,
                               [&](const T& item, Key k) { return key_of(item) < k; });
    return it != items.end() && key_of(*it) == key ? &*it : nullptr;
}

template <class T, class KeyOf>
void insert_sorted(std::vector<T>& items, T item, KeyOf key_of) {
    auto it = std::lower_bound(items.begin(), items.end(), key_of(item),
                               [&](const T& x, auto k) { return key_of(x) < k; });
    if (it != items.end() && key_of(*it) == key_of(item))
        *it = std::move(item);
    else
        items.insert(it, std::move(item));
}

auto mcoa_key(const Binding& b) {
    return std::pair<bool, std::uint16_t>(!b.mcoa, b.bid);
}
auto fid_key(const FlowBinding& f) {
    return f.fid;
}

std::string hex(const std::vector<std::uint8_t>& bytes) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    for (auto b : bytes) {
        out += kDigits[b >> 4];
        out += kDigits[b & 15];
    }
    return out;
}

template <class T>
void print_range(std::ostream& os, const char* name, const std::optional<mh::Range<T>>& r) {
    if (!r) return;
    os << ' ' << name << '=';
    if constexpr (std::is_same_v<T, Ipv6Address>)
        os << r->start.to_string() << '-' << r->end.to_string();
    else if constexpr (std::is_same_v<T, std::array<std::uint8_t, 4>>)
        os << int(r->start[0]) << '.' << int(r->start[1]) << '.' << int(r->start[2]) << '.'
           << int(r->start[3]) << '-' << int(r->end[0]) << '.' << int(r->end[1]) << '.'
           << int(r->end[2]) << '.' << int(r->end[3]);
    else
        os << +r->start << '-' << +r->end;
}

void print_selector(std::ostream& os, const mh::TrafficSelector& selector) {
    if (const auto* v6 = std::get_if<mh::TrafficSelectorV6>(&selector)) {
        os << " ts6";
        print_range(os, "src", v6->source_address);
        print_range(os, "dst", v6->destination_address);
        print_range(os, "spi", v6->ipsec_spi);
        print_range(os, "fl", v6->flow_label);
        print_range(os, "sport", v6->source_port);
        print_range(os, "dport", v6->destination_port);
        print_range(os, "tc", v6->traffic_class);
        print_range(os, "nh", v6->next_header);
    } else {
        const auto& v4 = std::get<mh::TrafficSelectorV4>(selector);
        os << " ts4";
        print_range(os, "src", v4.source_address);
        print_range(os, "dst", v4.destination_address);
        print_range(os, "spi", v4.ipsec_spi);
        print_range(os, "sport", v4.source_port);
        print_range(os, "dport", v4.destination_port);
        print_range(os, "dscp", v4.dscp);
        print_range(os, "proto", v4.protocol);
    }
}

}  // namespace

const Binding* HoaEntry::find_binding(std::uint16_t bid) const {
    for (const auto& b : bindings)
        if (b.mcoa && b.bid == bid) return &b;
    return nullptr;
}

const FlowBinding* HoaEntry::find_flow(std::uint16_t fid) const {
    auto it = std::lower_bound(flows.begin(), flows.end(), fid,
                               [](const FlowBinding& f, std::uint16_t k) { return f.fid < k; });
    return it != flows.end() && it->fid == fid ? &*it : nullptr;
}

BindingCache::BindingCache(BindingCacheSettings settings) : settings_(std::move(settings)) {}

void BindingCache::reserve(std::size_t bindings) {
    entries_.reserve(bindings);
    expiry_heap_.reserve(bindings);
    if (settings_.refresh_request_before_expiry_s) refresh_heap_.reserve(bindings);
}

const HoaEntry* BindingCache::find(const HomeAddress& home_address) const {
    auto it = entries_.find(home_address);
    return it == entries_.end() ? nullptr : &it->second;
}

const HoaEntry* BindingCache::next_after(const HomeAddress* after) const {
    auto it = after ? order_.upper_bound(*after) : order_.begin();
    return it == order_.end() ? nullptr : find(*it);
}

// ---- Binding Update ------------------------------------------------------------------

BuOutcome BindingCache::process_binding_update(const BuRequest& request) {
    BuOutcome out;
    process_binding_update(request, out);
    return out;
}

void BindingCache::process_binding_update(const BuRequest& request, BuOutcome& out) {
    const mh::BindingUpdate& bu = request.bu;
    const mh::MobilityOptions& options = bu.options;
    const auto& bid_options = options.binding_ids;
    const HomeAddress hoa = request.home_address_option.value_or(request.packet_source);
    const CareOfAddress packet_coa = options.alternate_care_of.value_or(request.packet_source);
    const std::uint64_t now = request.now_ms;

    // `out` is reset field by field: its vectors keep their storage.
    out.ack.status = 0;
    out.ack.lifetime_4s = 0;
    out.ack.mobile_router = false;
    clear_keeping_storage(out.ack.options);
    out.changed.clear();
    // A home agent answers every home registration and de-registration (RFC 6275 s.10.3.1,
    // s.10.3.2 "MUST return a Binding Acknowledgement") and every rejection (s.9.5.4), so
    // the A flag never suppresses the BA here.
    out.send_ack = true;
    out.discarded = false;
    out.ack_destination = request.packet_source;
    out.ack_needs_routing_header = request.packet_source != hoa;
    out.ack_home_address = hoa;
    out.ack.sequence = bu.sequence;
    // K: we run manual SAs (no IKEv2 key management mobility), so the BA always says K=0.
    out.ack.key_management = false;

    auto reject_each = [&](std::uint8_t overall, const std::vector<std::uint8_t>* per_bid) {
        out.ack.status = overall;
        out.ack.lifetime_4s = 0;
        out.ack.mobile_router = false;
        clear_keeping_storage(out.ack.options);
        for (std::size_t i = 0; i < bid_options.size(); ++i) {
            auto echo = bid_options[i];
            echo.status = per_bid ? (*per_bid)[i] : overall;
            out.ack.options.binding_ids.push_back(echo);
        }
        out.changed.clear();
    };
    auto reject = [&](std::uint8_t overall) { reject_each(overall, nullptr); };

    // RFC 6275 s.9.5.1: silently discarded, no BA: a home address that is not unicast
    // routable; a home registration with a Nonce Indices option; a correspondent
    // registration (H clear) without the Nonce Indices and Binding Authorization Data options
    // return routability requires.
    const bool routable_home_address =
        is_unicast(hoa) && !hoa.is_link_local() && !hoa.is_loopback() &&
        std::none_of(settings_.home_prefixes.begin(), settings_.home_prefixes.end(),
                     [&](const Ipv6Prefix& p) { return reserved_anycast(hoa, p); });
    const bool return_routability = options.nonce_indices && options.authorization_data;
    if (!routable_home_address || (bu.home_registration && options.nonce_indices) ||
        (!bu.home_registration && !return_routability)) {
        out.send_ack = false;
        out.discarded = true;
        return;
    }
    // A correspondent registration names nonces this node never gave out (monami is no
    // correspondent node: it runs no return routability): "expired nonces", s.9.5.1.
    if (!bu.home_registration) return reject(status::kExpiredNonces);

    // RFC 6275 s.10.3.1 tests, in order.
    const bool in_home_prefix =
        std::any_of(settings_.home_prefixes.begin(), settings_.home_prefixes.end(),
                    [&](const Ipv6Prefix& p) { return p.contains(hoa); });
    if (!in_home_prefix) return reject(status::kNotHomeSubnet);
    if (std::find(settings_.ha_addresses.begin(), settings_.ha_addresses.end(), hoa) !=
        settings_.ha_addresses.end())
        return reject(status::kAdministrativelyProhibited);

    const AuthorizedMobileNode* authorized = nullptr;
    if (!settings_.authorized_mns.empty()) {
        for (const auto& mn : settings_.authorized_mns)
            if (std::find(mn.home_addresses.begin(), mn.home_addresses.end(), hoa) !=
                mn.home_addresses.end()) {
                authorized = &mn;
                break;
            }
        if (!authorized) return reject(status::kNotHomeAgentForThisMn);
        if (options.mn_id && !authorized->mn_id.empty() &&
            options.mn_id->identifier != authorized->mn_id)
            return reject(status::kAdministrativelyProhibited);
    }

    const HoaEntry* existing = find(hoa);
    std::vector<std::uint8_t> mn_id = existing ? existing->mn_id : std::vector<std::uint8_t>{};
    if (options.mn_id) {
        // An HoA stays with the MN that registered it first.
        if (!mn_id.empty() && mn_id != options.mn_id->identifier)
            return reject(status::kAdministrativelyProhibited);
        mn_id = options.mn_id->identifier;
    } else if (mn_id.empty() && authorized) {
        mn_id = authorized->mn_id;
    }

    // RFC 5648 s.6.2: Binding Identifier options.
    for (std::size_t i = 0; i < bid_options.size(); ++i) {
        const auto& opt = bid_options[i];
        if (opt.care_of_v4 && opt.care_of_v6) return reject(status::kMcoaMalformed);
        if (opt.care_of_v6 && !is_unicast(*opt.care_of_v6)) return reject(status::kMcoaMalformed);
        for (std::size_t j = 0; j < i; ++j)
            if (bid_options[j].bid == opt.bid) return reject(status::kMcoaMalformed);
    }
    if (!bid_options.empty() && !settings_.allow_mcoa) return reject(status::kMcoaProhibited);
    if (bid_options.size() > 1 && !settings_.allow_bulk_registration)
        return reject(status::kMcoaBulkRegistrationProhibited);

    // RFC 6275 s.9.5.1: sequence numbers, modulo 2^16. A BU naming BIDs is compared with
    // those bindings; one replacing everything with the last BU accepted for the HoA.
    if (existing) {
        if (bid_options.empty()) {
            if (!sequence_newer(bu.sequence, existing->last_sequence)) {
                out.ack.sequence = existing->last_sequence;
                return reject(status::kSequenceOutOfWindow);
            }
        } else {
            for (const auto& opt : bid_options)
                if (const Binding* b = existing->find_binding(opt.bid);
                    b && !sequence_newer(bu.sequence, b->sequence)) {
                    out.ack.sequence = b->sequence;
                    return reject(status::kSequenceOutOfWindow);
                }
        }
    }

    const bool deregistration = bu.lifetime_4s == 0;
    const auto max_units = std::max<std::uint32_t>(1, settings_.max_lifetime_s / 4);
    const auto lifetime_4s =
        static_cast<std::uint16_t>(std::min<std::uint32_t>(bu.lifetime_4s, max_units));
    out.ack.mobile_router = bu.mobile_router && settings_.allow_mobile_routers;

    // RFC 6275 s.10.3.2 with RFC 5648 s.6.2: without BID, de-registration removes every
    // binding of the HoA (with their prefixes and flows).
    if (bid_options.empty() && (deregistration || packet_coa == hoa)) {
        if (!existing) return reject(status::kNotHomeAgentForThisMn);
        erase_entry(hoa);
        out.ack.status = status::kAccepted;
        out.ack.lifetime_4s = 0;
        out.changed.push_back(hoa);
        settle_timer_tops();
        return;
    }

    // Copy, modify, commit: a rejection below leaves the cache as it was. The copy goes into
    // a scratch entry whose vectors keep their storage (commit swaps it with the entry it
    // replaces), so a refresh or handover allocates nothing here.
    HoaEntry& next = next_;
    if (existing) {
        next = *existing;
    } else {
        next = HoaEntry{};  // moved into the map at commit: sized for this HoA alone
        next.bindings.reserve(std::max<std::size_t>(bid_options.size(), 1));  // exact
    }
    next.home_address = hoa;
    next.mn_id = mn_id;

    // RFC 3963 s.6: mobile router registrations.
    if (!deregistration) {
        next.link_local_compat = bu.link_local_compat;
        if (bu.mobile_router) {
            if (!settings_.allow_mobile_routers)
                return reject(status::kMobileRouterOperationNotPermitted);
            std::vector<Ipv6Prefix> prefixes;
            if (options.network_prefixes.empty()) {
                // Implicit mode: the prefixes come from configuration.
                if (!authorized || authorized->mobile_network_prefixes.empty())
                    return reject(status::kMobileRouterOperationNotPermitted);
                prefixes = authorized->mobile_network_prefixes;
            } else {
                for (const auto& mnp : options.network_prefixes)
                    prefixes.push_back(Ipv6Prefix{mnp.prefix, mnp.prefix_length});
            }
            for (const auto& p : prefixes) {
                const bool well_formed = p.length > 0 && p.length <= 128 &&
                                         masked(p.address, p.length) == p.address &&
                                         !p.address.is_multicast() && !p.address.is_link_local() &&
                                         !p.address.is_loopback();
                if (!well_formed) return reject(status::kInvalidPrefix);
                for (const auto& home : settings_.home_prefixes)
                    if (overlaps(p, home)) return reject(status::kInvalidPrefix);
                if (authorized) {
                    const auto& allowed = authorized->mobile_network_prefixes;
                    const bool covered =
                        std::any_of(allowed.begin(), allowed.end(), [&](const Ipv6Prefix& a) {
                            return a.length <= p.length && a.contains(p.address);
                        });
                    if (!covered) return reject(status::kNotAuthorizedForPrefix);
                }
                if (prefix_overlaps_other_owner(p, hoa))
                    return reject(status::kNotAuthorizedForPrefix);
            }
            std::sort(prefixes.begin(), prefixes.end());
            prefixes.erase(std::unique(prefixes.begin(), prefixes.end()), prefixes.end());
            next.mobile_router = true;
            next.network_prefixes = std::move(prefixes);
        } else {
            next.mobile_router = false;
            next.network_prefixes.clear();
        }
    }

    auto make_binding = [&](std::uint16_t bid, bool mcoa, const CareOfAddress& coa, bool at_home) {
        Binding b;
        b.bid = bid;
        b.mcoa = mcoa;
        b.care_of = coa;
        b.at_home = at_home;
        b.ha_address = request.packet_destination;
        b.sequence = bu.sequence;
        b.expiry_ms = now + lifetime_4s * kMsPerLifetimeUnit;
        return b;
    };
    auto care_of_status = [&](const CareOfAddress& coa) -> std::uint8_t {
        const bool ours = std::find(settings_.ha_addresses.begin(), settings_.ha_addresses.end(),
                                    coa) != settings_.ha_addresses.end();
        if (!is_unicast(coa) || coa.is_link_local() || coa.is_loopback() || ours)
            return status::kInvalidCareOfAddress;
        for (const auto& p : next.network_prefixes)
            if (p.contains(coa)) return status::kInvalidCareOfAddress;  // nested in itself
        if (would_loop(hoa, coa)) return status::kInvalidCareOfAddress;
        return status::kAccepted;
    };

    std::uint8_t overall = status::kAccepted;
    std::vector<std::uint8_t>& per_bid = per_bid_;  // scratch, storage kept across BUs
    per_bid.assign(bid_options.size(), status::kAccepted);
    if (bid_options.empty()) {
        // Registration without BID replaces every binding (RFC 5648 s.6.2).
        if (auto st = care_of_status(packet_coa)) return reject(st);
        next.bindings.clear();
        next.bindings.push_back(make_binding(0, false, packet_coa, false));
    } else {
        const bool has_regular = std::any_of(next.bindings.begin(), next.bindings.end(),
                                             [](const Binding& b) { return !b.mcoa; });
        if (!deregistration && has_regular) return reject(status::kMcoaNonMcoaBindingExists);

        bool home_binding = false;
        auto erase_bid = [&](std::uint16_t bid) {
            auto it = std::find_if(next.bindings.begin(), next.bindings.end(),
                                   [&](const Binding& b) { return b.mcoa && b.bid == bid; });
            if (it == next.bindings.end()) return false;
            next.bindings.erase(it);
            return true;
        };
        for (std::size_t i = 0; i < bid_options.size(); ++i) {
            const auto& opt = bid_options[i];
            std::uint8_t st = status::kAccepted;
            if (deregistration) {
                // The O flag is ignored on de-registration; unknown BIDs are answered 133.
                if (!erase_bid(opt.bid)) st = status::kNotHomeAgentForThisMn;
            } else if (opt.home_flag) {
                // RFC 5648 s.5.6.2: this interface is back home, the others stay bound.
                if (!settings_.allow_simultaneous_home_foreign) {
                    st = status::kMcoaSimultaneousHomeForeignProhibited;
                } else {
                    insert_sorted(next.bindings, make_binding(opt.bid, true, hoa, true), mcoa_key);
                    home_binding = true;
                }
            } else if (opt.care_of_v4) {
                st = status::kInvalidCareOfAddress;  // no IPv4 transport (DSMIPv6) here
            } else if (!opt.care_of_v6 && packet_coa == hoa) {
                // Sent from home without a CoA in the option: nothing says where it is.
                st = status::kMcoaUnknownCoa;
            } else {
                const CareOfAddress coa = opt.care_of_v6.value_or(packet_coa);
                if (coa == hoa) {
                    if (!erase_bid(opt.bid)) st = status::kNotHomeAgentForThisMn;
                } else if (st = care_of_status(coa); st == status::kAccepted) {
                    insert_sorted(next.bindings, make_binding(opt.bid, true, coa, false), mcoa_key);
                }
            }
            per_bid[i] = st;
        }
        const auto failed = static_cast<std::size_t>(
            std::count_if(per_bid.begin(), per_bid.end(), [](auto s) { return s >= 128; }));
        if (failed == per_bid.size()) return reject_each(per_bid.front(), &per_bid);
        if (failed > 0)
            overall = status::kMcoaNotComplete;
        else if (home_binding)
            overall = status::kMcoaReturnHomeWithoutNdp;
    }

    // Binding limits: checked only when the BU adds bindings, so refreshes always pass.
    const std::size_t old_count = existing ? existing->bindings.size() : 0;
    if (next.bindings.size() > old_count) {
        if (binding_count_ - old_count + next.bindings.size() > settings_.max_bindings)
            return reject(status::kInsufficientResources);
        if (bindings_on_other_hoas(next) + next.bindings.size() > settings_.max_bindings_per_mn)
            return reject(status::kInsufficientResources);
    }

    // RFC 6089 s.5: a valid BU names every flow binding the MN keeps, in a Flow
    // Identification option (added or changed) or in the Flow Summary option (kept as it is);
    // a flow binding it leaves out, as every one when it carries neither option, is removed.
    // References to BIDs that are gone are dropped first; a flow left with none goes too.
    // Flow statuses never fail the BU.
    auto listed = [&](std::uint16_t fid) {
        if (std::any_of(options.flows.begin(), options.flows.end(),
                        [&](const mh::FlowIdentification& f) { return f.fid == fid; }))
            return true;
        return options.flow_summary &&
               std::find(options.flow_summary->begin(), options.flow_summary->end(), fid) !=
                   options.flow_summary->end();
    };
    for (auto& flow : next.flows)
        std::erase_if(flow.bids, [&](std::uint16_t bid) { return !next.find_binding(bid); });
    std::erase_if(next.flows,
                  [&](const FlowBinding& f) { return f.bids.empty() || !listed(f.fid); });
    std::uint64_t flow_expiry = now + lifetime_4s * kMsPerLifetimeUnit;
    if (deregistration) {
        flow_expiry = 0;
        for (const auto& b : next.bindings) flow_expiry = std::max(flow_expiry, b.expiry_ms);
    }
    auto bids_known = [&](const std::vector<std::uint16_t>& bids) {
        return std::all_of(bids.begin(), bids.end(),
                           [&](std::uint16_t bid) { return next.find_binding(bid) != nullptr; });
    };
    auto answer_flow = [&](std::uint16_t fid, std::uint16_t priority, std::uint8_t st) {
        mh::FlowIdentification answer;
        answer.fid = fid;
        answer.priority = priority;
        answer.status = st;
        out.ack.options.flows.push_back(std::move(answer));
    };
    for (const auto& request_flow : options.flows) {
        FlowBinding* flow = find_sorted(next.flows, request_flow.fid, fid_key);
        const bool has_bids = !request_flow.bid_references.empty();
        const bool has_selector = request_flow.traffic_selector.has_value();
        std::uint8_t st = fid_status::kSuccess;
        if (request_flow.unsupported_ts_format) {
            st = fid_status::kTrafficSelectorFormatNotSupported;
        } else if (!bids_known(request_flow.bid_references)) {
            st = fid_status::kBidNotFound;
        } else if (flow) {
            // A known FID: the option replaces what it carries; with no
            // sub-option it changes the priority only. A retransmitted BU is a no-op.
            flow->priority = request_flow.priority;
            if (has_bids) flow->bids = request_flow.bid_references;
            if (has_selector) flow->selector = *request_flow.traffic_selector;
            flow->expiry_ms = flow_expiry;
        } else if (!has_bids && !has_selector) {
            st = fid_status::kFidNotFound;  // names a flow binding this HA does not hold
        } else if (!has_bids || !has_selector) {
            st = fid_status::kFlowIdentificationMalformed;  // a new one needs both
        } else if (next.flows.size() >= settings_.max_flows_per_hoa) {
            st = fid_status::kAdministrativelyProhibited;
        } else {
            insert_sorted(
                next.flows,
                FlowBinding{request_flow.fid, request_flow.priority, request_flow.bid_references,
                            *request_flow.traffic_selector, flow_expiry},
                fid_key);
        }
        answer_flow(request_flow.fid, request_flow.priority, st);
    }
    if (options.flow_summary)
        for (auto fid : *options.flow_summary) {
            if (std::any_of(options.flows.begin(), options.flows.end(),
                            [&](const mh::FlowIdentification& f) { return f.fid == fid; }))
                continue;  // answered above
            if (FlowBinding* flow = find_sorted(next.flows, fid, fid_key))
                flow->expiry_ms = flow_expiry;
            else  // an unknown FID in the summary is answered FID NOT FOUND
                answer_flow(fid, 0, fid_status::kFidNotFound);
        }

    // Accepted: build the BA, then commit.
    out.ack.status = overall;
    out.ack.lifetime_4s = deregistration ? 0 : lifetime_4s;
    out.ack.options.binding_ids.reserve(bid_options.size());
    for (std::size_t i = 0; i < bid_options.size(); ++i) {
        auto answer = bid_options[i];
        answer.status = per_bid[i];
        out.ack.options.binding_ids.push_back(answer);
    }
    if (!deregistration && settings_.refresh_advice_s > 0 && lifetime_4s > 1) {
        // The refresh interval must be below the granted lifetime (RFC 6275 s.10.3.1).
        const auto interval =
            std::min<std::uint32_t>(settings_.refresh_advice_s / 4, lifetime_4s - 1u);
        if (interval > 0)
            out.ack.options.refresh_advice =
                mh::BindingRefreshAdvice{static_cast<std::uint16_t>(interval)};
    }
    next.last_sequence = bu.sequence;
    next.generation = (existing ? existing->generation : 0) + 1;
    if (next.bindings.empty())
        erase_entry(hoa);
    else
        commit(next, now);
    out.changed.push_back(hoa);
    settle_timer_tops();
}

// ---- State changes ---------------------------------------------------------------------

std::size_t BindingCache::bindings_on_other_hoas(const HoaEntry& entry) const {
    if (entry.mn_id.empty()) return 0;
    auto it = mn_members_.find(entry.mn_id);
    if (it == mn_members_.end()) return 0;
    std::size_t count = 0;
    for (const auto& member : it->second)
        if (member != entry.home_address) count += entries_.at(member).bindings.size();
    return count;
}

void BindingCache::join_mn_group(const HoaEntry& entry) {
    if (!entry.mn_id.empty()) mn_members_[entry.mn_id].push_back(entry.home_address);
}

void BindingCache::leave_mn_group(const HoaEntry& entry) {
    if (entry.mn_id.empty()) return;
    auto members = mn_members_.find(entry.mn_id);
    if (members == mn_members_.end()) return;
    std::erase(members->second, entry.home_address);
    if (members->second.empty()) mn_members_.erase(members);
}

void BindingCache::index_prefixes(const HoaEntry& entry, bool add) {
    for (const auto& p : entry.network_prefixes) {
        if (add) {
            prefix_owner_[p] = entry.home_address;
            ++prefix_lengths_in_use_[p.length];
        } else {
            prefix_owner_.erase(p);
            if (--prefix_lengths_in_use_[p.length] == 0) prefix_lengths_in_use_.erase(p.length);
        }
    }
}

bool BindingCache::restore(HoaEntry entry, std::uint64_t now_ms) {
    if (entry.bindings.empty() || entries_.count(entry.home_address)) return false;
    entry.generation = 1;
    for (auto& b : entry.bindings) b.expiry_timer_ms = b.refresh_timer_ms = 0;
    for (auto& f : entry.flows) f.expiry_timer_ms = 0;
    commit(entry, now_ms);
    return true;
}

void BindingCache::replicate(HoaEntry entry, std::uint64_t now_ms) {
    if (entry.bindings.empty()) {
        erase_entry(entry.home_address);
        return;
    }
    auto it = entries_.find(entry.home_address);
    entry.generation = it == entries_.end() ? 1 : it->second.generation + 1;
    for (auto& b : entry.bindings) b.expiry_timer_ms = b.refresh_timer_ms = 0;
    for (auto& f : entry.flows) f.expiry_timer_ms = 0;
    commit(entry, now_ms);
}

void BindingCache::reconfigure(BindingCacheSettings settings) {
    settings.home_prefixes = std::move(settings_.home_prefixes);
    settings.ha_addresses = std::move(settings_.ha_addresses);
    settings_ = std::move(settings);
}

bool BindingCache::authorized(const HoaEntry& entry) const {
    if (settings_.authorized_mns.empty()) return true;
    for (const auto& mn : settings_.authorized_mns) {
        if (std::find(mn.home_addresses.begin(), mn.home_addresses.end(), entry.home_address) ==
            mn.home_addresses.end())
            continue;
        if (!entry.mn_id.empty() && !mn.mn_id.empty() && entry.mn_id != mn.mn_id) return false;
        const auto& allowed = mn.mobile_network_prefixes;
        return std::all_of(
            entry.network_prefixes.begin(), entry.network_prefixes.end(), [&](const Ipv6Prefix& p) {
                return std::any_of(allowed.begin(), allowed.end(), [&](const Ipv6Prefix& a) {
                    return a.length <= p.length && a.contains(p.address);
                });
            });
    }
    return false;
}

bool BindingCache::remove(const HomeAddress& home_address) {
    if (entries_.find(home_address) == entries_.end()) return false;
    erase_entry(home_address);
    return true;
}

void BindingCache::erase_entry(const HomeAddress& home_address) {
    auto it = entries_.find(home_address);
    if (it == entries_.end()) return;
    index_prefixes(it->second, false);
    leave_mn_group(it->second);
    binding_count_ -= it->second.bindings.size();
    flow_count_ -= it->second.flows.size();
    order_.erase(home_address);
    entries_.erase(it);
}

void BindingCache::commit(HoaEntry& entry, std::uint64_t now_ms) {
    const HomeAddress hoa = entry.home_address;
    auto it = entries_.find(hoa);
    const HoaEntry* old = it == entries_.end() ? nullptr : &it->second;
    // A binding or flow that was there before keeps its queued timers (a refresh queues
    // nothing: the entry moves itself when it comes due); a new one, or one whose deadline
    // came earlier, queues an entry.
    const std::uint64_t brr_lead_ms = settings_.refresh_request_before_expiry_s * 1000ull;
    for (auto& b : entry.bindings) {
        const Binding* before = nullptr;
        if (old)
            for (const auto& o : old->bindings)
                if (o.bid == b.bid && o.mcoa == b.mcoa) before = &o;
        b.expiry_timer_ms = before ? before->expiry_timer_ms : 0;
        b.refresh_timer_ms = before ? before->refresh_timer_ms : 0;
        if (b.expiry_timer_ms == 0 || b.expiry_ms < b.expiry_timer_ms) {
            b.expiry_timer_ms = b.expiry_ms;
            push_timer(expiry_heap_, {b.expiry_ms, hoa, TimerKind::BindingExpiry, b.mcoa, b.bid});
        }
        if (brr_lead_ms > 0 && !b.refresh_requested && b.expiry_ms > now_ms + brr_lead_ms &&
            (b.refresh_timer_ms == 0 || b.expiry_ms - brr_lead_ms < b.refresh_timer_ms)) {
            b.refresh_timer_ms = b.expiry_ms - brr_lead_ms;
            push_timer(refresh_heap_,
                       {b.refresh_timer_ms, hoa, TimerKind::RefreshRequest, b.mcoa, b.bid});
        }
    }
    for (auto& f : entry.flows) {
        const FlowBinding* before = old ? old->find_flow(f.fid) : nullptr;
        f.expiry_timer_ms = before ? before->expiry_timer_ms : 0;
        if (f.expiry_timer_ms == 0 || f.expiry_ms < f.expiry_timer_ms) {
            f.expiry_timer_ms = f.expiry_ms;
            push_timer(expiry_heap_, {f.expiry_ms, hoa, TimerKind::FlowExpiry, false, f.fid});
        }
    }
    binding_count_ += entry.bindings.size();
    flow_count_ += entry.flows.size();
    if (old) {
        // In place: a refresh must not cost a hash-map node.
        HoaEntry& current = it->second;
        binding_count_ -= current.bindings.size();
        flow_count_ -= current.flows.size();
        if (current.network_prefixes != entry.network_prefixes) {
            index_prefixes(current, false);
            index_prefixes(entry, true);
        }
        if (current.mn_id != entry.mn_id) {
            leave_mn_group(current);
            join_mn_group(entry);
        }
        std::swap(current, entry);  // `entry` (the caller's scratch) keeps the old storage
    } else {
        index_prefixes(entry, true);
        join_mn_group(entry);
        order_.insert(hoa);
        entries_.emplace(hoa, std::move(entry));
    }
    settle_timer_tops();
}

// ---- Timers ------------------------------------------------------------------------------

Binding* BindingCache::timer_binding(const Timer& timer) {
    auto it = entries_.find(timer.home_address);
    if (it == entries_.end() || timer.kind == TimerKind::FlowExpiry) return nullptr;
    for (auto& b : it->second.bindings) {
        if (b.bid != timer.id || b.mcoa != timer.mcoa) continue;
        const std::uint64_t queued =
            timer.kind == TimerKind::BindingExpiry ? b.expiry_timer_ms : b.refresh_timer_ms;
        return queued == timer.deadline_ms ? &b : nullptr;
    }
    return nullptr;
}

FlowBinding* BindingCache::timer_flow(const Timer& timer) {
    auto it = entries_.find(timer.home_address);
    if (it == entries_.end() || timer.kind != TimerKind::FlowExpiry) return nullptr;
    auto* f = const_cast<FlowBinding*>(it->second.find_flow(timer.id));
    return f && f->expiry_timer_ms == timer.deadline_ms ? f : nullptr;
}

bool BindingCache::timer_is_live(const Timer& timer) const {
    auto* self = const_cast<BindingCache*>(this);
    return timer.kind == TimerKind::FlowExpiry ? self->timer_flow(timer) != nullptr
                                               : self->timer_binding(timer) != nullptr;
}

void BindingCache::push_timer(std::vector<Timer>& heap, const Timer& timer) {
    heap.push_back(timer);
    std::push_heap(heap.begin(), heap.end(), TimerLater{});
}

void BindingCache::settle_timer_tops() {
    // Only the earliest entries: a refreshed item's entry moves once, when it reaches the
    // top (amortised O(log n) per refresh), so next_deadline_ms() is the true next deadline.
    const std::uint64_t lead_ms = settings_.refresh_request_before_expiry_s * 1000ull;
    for (auto* heap : {&expiry_heap_, &refresh_heap_})
        while (!heap->empty()) {
            Timer top = heap->front();
            std::uint64_t* queued = nullptr;
            std::uint64_t due = 0;
            if (top.kind == TimerKind::FlowExpiry) {
                if (FlowBinding* f = timer_flow(top))
                    queued = &f->expiry_timer_ms, due = f->expiry_ms;
            } else if (Binding* b = timer_binding(top)) {
                if (top.kind == TimerKind::BindingExpiry) {
                    queued = &b->expiry_timer_ms, due = b->expiry_ms;
                } else if (!b->refresh_requested && b->expiry_ms > lead_ms) {
                    queued = &b->refresh_timer_ms, due = b->expiry_ms - lead_ms;
                } else {
                    b->refresh_timer_ms = 0;
                }
            }
            if (queued && due <= top.deadline_ms) break;  // the true next deadline
            std::pop_heap(heap->begin(), heap->end(), TimerLater{});
            heap->pop_back();
            if (queued) {  // postponed by a refresh
                *queued = due;
                top.deadline_ms = due;
                push_timer(*heap, top);
            }
        }
}

std::vector<HomeAddress> BindingCache::expire(std::uint64_t now_ms, std::size_t max_timers) {
    std::vector<HomeAddress> changed;
    AddressSet seen;
    for (std::size_t handled = 0; handled < max_timers && !expiry_heap_.empty() &&
                                  expiry_heap_.front().deadline_ms <= now_ms;) {
        const Timer timer = expiry_heap_.front();
        std::pop_heap(expiry_heap_.begin(), expiry_heap_.end(), TimerLater{});
        expiry_heap_.pop_back();
        ++handled;
        HoaEntry* entry = nullptr;
        if (timer.kind == TimerKind::BindingExpiry) {
            Binding* b = timer_binding(timer);
            if (!b) continue;
            if (b->expiry_ms > now_ms) {  // refreshed since it was queued: wait again
                b->expiry_timer_ms = b->expiry_ms;
                push_timer(expiry_heap_, {b->expiry_ms, timer.home_address,
                                          TimerKind::BindingExpiry, b->mcoa, b->bid});
                continue;
            }
            entry = &entries_.at(timer.home_address);
            std::erase_if(entry->bindings, [&](const Binding& x) {
                return x.bid == timer.id && x.mcoa == timer.mcoa;
            });
            --binding_count_;
            // RFC 6089: a flow loses its reference to an expired binding, and goes with
            // its last one.
            for (auto& flow : entry->flows)
                std::erase_if(flow.bids,
                              [&](std::uint16_t bid) { return !entry->find_binding(bid); });
            flow_count_ -=
                std::erase_if(entry->flows, [](const FlowBinding& f) { return f.bids.empty(); });
        } else {
            FlowBinding* f = timer_flow(timer);
            if (!f) continue;
            if (f->expiry_ms > now_ms) {
                f->expiry_timer_ms = f->expiry_ms;
                push_timer(expiry_heap_, {f->expiry_ms, timer.home_address, TimerKind::FlowExpiry,
                                          false, f->fid});
                continue;
            }
            entry = &entries_.at(timer.home_address);
            flow_count_ -= std::erase_if(entry->flows,
                                         [&](const FlowBinding& x) { return x.fid == timer.id; });
        }
        ++entry->generation;
        if (entry->bindings.empty()) erase_entry(timer.home_address);
        if (seen.insert(timer.home_address).second) changed.push_back(timer.home_address);
    }
    settle_timer_tops();
    return changed;
}

std::vector<BrrDue> BindingCache::refresh_requests_due(std::uint64_t now_ms,
                                                       std::size_t max_timers) {
    std::vector<BrrDue> due;
    const std::uint64_t lead_ms = settings_.refresh_request_before_expiry_s * 1000ull;
    for (std::size_t handled = 0; handled < max_timers && !refresh_heap_.empty() &&
                                  refresh_heap_.front().deadline_ms <= now_ms;) {
        const Timer timer = refresh_heap_.front();
        std::pop_heap(refresh_heap_.begin(), refresh_heap_.end(), TimerLater{});
        refresh_heap_.pop_back();
        ++handled;
        Binding* b = timer_binding(timer);
        if (!b) continue;
        b->refresh_timer_ms = 0;
        if (lead_ms == 0) continue;  // a reload turned BRRs off: the queued ones lapse
        if (b->refresh_requested) continue;
        if (b->expiry_ms > now_ms + lead_ms) {  // refreshed since it was queued
            b->refresh_timer_ms = b->expiry_ms - lead_ms;
            push_timer(refresh_heap_, {b->refresh_timer_ms, timer.home_address,
                                       TimerKind::RefreshRequest, b->mcoa, b->bid});
            continue;
        }
        b->refresh_requested = true;
        due.push_back({timer.home_address, b->bid, b->mcoa, b->care_of, b->ha_address});
    }
    settle_timer_tops();
    return due;
}

std::optional<std::uint64_t> BindingCache::next_deadline_ms() const {
    std::optional<std::uint64_t> next;
    for (const auto* heap : {&expiry_heap_, &refresh_heap_})
        if (!heap->empty() && (!next || heap->front().deadline_ms < *next))
            next = heap->front().deadline_ms;
    return next;
}

// ---- Lookups -----------------------------------------------------------------------------

const HomeAddress* BindingCache::owner_of_prefix(const Ipv6Address& address) const {
    for (auto it = prefix_lengths_in_use_.rbegin(); it != prefix_lengths_in_use_.rend(); ++it)
        if (const HomeAddress* owner = exact_prefix_owner({masked(address, it->first), it->first}))
            return owner;
    return nullptr;
}

const HomeAddress* BindingCache::exact_prefix_owner(const Ipv6Prefix& prefix) const {
    auto it = prefix_owner_.find(prefix);
    return it == prefix_owner_.end() ? nullptr : &it->second;
}

bool BindingCache::prefix_overlaps_other_owner(const Ipv6Prefix& prefix,
                                               const HomeAddress& owner) const {
    // A registered prefix equal to or containing this one...
    for (const auto& [length, count] : prefix_lengths_in_use_) {
        if (length > prefix.length) break;
        const HomeAddress* o = exact_prefix_owner({masked(prefix.address, length), length});
        if (o && *o != owner) return true;
    }
    // ...or inside it: those sort between its first and last address.
    const Ipv6Address last = last_address(prefix);
    for (auto it = prefix_owner_.lower_bound(Ipv6Prefix{prefix.address, 0});
         it != prefix_owner_.end() && it->first.address <= last; ++it)
        if (it->second != owner) return true;
    return false;
}

bool BindingCache::would_loop(const HomeAddress& home_address, const CareOfAddress& care_of) const {
    // Delivery to a CoA that is itself a HoA (or inside a mobile network prefix) follows
    // that HoA's bindings; reaching home_address again would tunnel forever.
    if (care_of == home_address) return true;
    if (!find(care_of) && !owner_of_prefix(care_of)) return false;  // a plain CoA: no walk
    std::vector<Ipv6Address> pending{care_of};
    std::vector<Ipv6Address> visited;
    while (!pending.empty()) {
        const Ipv6Address next = pending.back();
        pending.pop_back();
        if (next == home_address) return true;
        if (std::find(visited.begin(), visited.end(), next) != visited.end()) continue;
        visited.push_back(next);
        const HoaEntry* entry = find(next);
        if (!entry) {
            const HomeAddress* owner = owner_of_prefix(next);
            if (!owner) continue;
            if (*owner == home_address) return true;
            entry = find(*owner);
            if (!entry) continue;
        }
        for (const auto& b : entry->bindings)
            if (!b.at_home) pending.push_back(b.care_of);
    }
    return false;
}

std::string BindingCache::dump() const {
    std::vector<const HoaEntry*> sorted;
    for (const auto& [hoa, entry] : entries_) sorted.push_back(&entry);
    std::sort(sorted.begin(), sorted.end(), [](const HoaEntry* a, const HoaEntry* b) {
        return a->home_address < b->home_address;
    });
    std::ostringstream os;
    os << "bindings=" << binding_count_ << " hoas=" << entries_.size() << '\n';
    for (const HoaEntry* e : sorted) {
        os << "hoa " << e->home_address.to_string() << " mn=" << hex(e->mn_id)
           << " mr=" << e->mobile_router << " ll=" << e->link_local_compat
           << " seq=" << e->last_sequence << " gen=" << e->generation << '\n';
        for (const auto& b : e->bindings)
            os << "  bid " << b.bid << " mcoa=" << b.mcoa << " coa=" << b.care_of.to_string()
               << " home=" << b.at_home << " ha=" << b.ha_address.to_string()
               << " seq=" << b.sequence << " exp=" << b.expiry_ms << " brr=" << b.refresh_requested
               << '\n';
        for (const auto& p : e->network_prefixes) os << "  mnp " << p.to_string() << '\n';
        for (const auto& f : e->flows) {
            os << "  fid " << f.fid << " pri=" << f.priority << " exp=" << f.expiry_ms << " bids=";
            for (auto bid : f.bids) os << bid << ',';
            print_selector(os, f.selector);
            os << '\n';
        }
    }
    return os.str();
}

}  // namespace monami::bcache
