// Failure detection: the LivenessTracker, and the home agent's side of it (heartbeats on the
// wire, ICMPv6 errors, egress port state, republishing on every state change).
#include "controlplane/ha/liveness.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>

#include "controlplane/ha/home_agent.hpp"
#include "controlplane/mh/exthdr.hpp"
#include "controlplane/net/packet.hpp"

namespace monami::ha {

std::string_view to_string(LivenessCause cause) {
    switch (cause) {
        case LivenessCause::Registered:
            return "registered";
        case LivenessCause::HeartbeatMiss:
            return "heartbeat miss";
        case LivenessCause::HeartbeatAnswer:
            return "heartbeat answered";
        case LivenessCause::IcmpError:
            return "ICMPv6 destination unreachable";
        case LivenessCause::IcmpCleared:
            return "ICMPv6 suspicion expired";
        case LivenessCause::HeartbeatsOff:
            return "heartbeats turned off";
    }
    return "?";
}

std::string_view to_string(BindingState state) {
    switch (state) {
        case BindingState::Live:
            return "live";
        case BindingState::Suspect:
            return "suspect";
        case BindingState::Dead:
            return "dead";
    }
    return "?";
}

LivenessSettings LivenessTracker::clamped(LivenessSettings settings) {
    settings.interval_ms = std::max<std::uint32_t>(settings.interval_ms, 1);
    settings.missed_limit = std::max<std::uint32_t>(settings.missed_limit, 1);
    settings.recovery_answers = std::max<std::uint32_t>(settings.recovery_answers, 1);
    return settings;
}

LivenessTracker::LivenessTracker(LivenessSettings settings)
    : settings_(clamped(std::move(settings))) {}

void LivenessTracker::reconfigure(LivenessSettings settings) {
    // The schedule stays as it is: appending at the new interval may leave it out of order
    // for one old interval, which only delays those requests until the entries before them
    // are due (tick() takes the front).
    settings_ = clamped(std::move(settings));
}

BindingState LivenessTracker::effective(const Record& r) {
    if (r.heartbeat_state == BindingState::Dead) return BindingState::Dead;
    if (r.heartbeat_state == BindingState::Suspect || r.icmp_suspect) return BindingState::Suspect;
    return BindingState::Live;
}

void LivenessTracker::schedule(const PathId& id, Record& r, std::uint64_t due_ms) {
    schedule_.push_back({due_ms, id, r.stamp});
    r.heartbeating = true;
}

LivenessTracker::Record* LivenessTracker::record(const PathId& id) {
    auto it = paths_.find(id.hoa);
    if (it == paths_.end()) return nullptr;
    for (auto& p : it->second)
        if (p.bid == id.bid && p.mcoa == id.mcoa) return &p.record;
    return nullptr;
}

const LivenessTracker::Record* LivenessTracker::record(const PathId& id) const {
    return const_cast<LivenessTracker*>(this)->record(id);
}

std::vector<std::pair<PathId, LivenessTracker::Record*>> LivenessTracker::paths_to(
    const CareOfAddress& care_of) {
    std::vector<std::pair<PathId, Record*>> out;
    auto users = by_care_of_.find(care_of);
    if (users == by_care_of_.end()) return out;
    for (const HomeAddress& hoa : users->second) {
        auto it = paths_.find(hoa);
        if (it == paths_.end()) continue;
        for (auto& p : it->second)
            if (p.record.care_of == care_of) out.push_back({{hoa, p.bid, p.mcoa}, &p.record});
    }
    std::sort(out.begin(), out.end(),
              [](const auto& x, const auto& y) { return x.first < y.first; });
    return out;
}

void LivenessTracker::index_care_of(const HomeAddress& hoa, const CareOfAddress& care_of) {
    auto& users = by_care_of_[care_of];
    if (std::find(users.begin(), users.end(), hoa) == users.end()) users.push_back(hoa);
}

void LivenessTracker::reserve(std::size_t paths) {
    paths_.reserve(paths);
    by_care_of_.reserve(paths);
}

void LivenessTracker::unindex_care_of(const HomeAddress& hoa, const CareOfAddress& care_of,
                                      const std::vector<Path>& list) {
    for (const auto& p : list)
        if (p.record.care_of == care_of) return;  // another binding of the HoA uses it
    auto users = by_care_of_.find(care_of);
    if (users == by_care_of_.end()) return;
    auto& hoas = users->second;
    hoas.erase(std::remove(hoas.begin(), hoas.end(), hoa), hoas.end());
    if (!hoas.empty()) return;
    by_care_of_.erase(users);
    last_sequence_to_.erase(care_of);
}

bool LivenessTracker::heartbeats_to(const CareOfAddress& care_of) const {
    if (settings_.care_of_prefixes.empty()) return true;
    return std::any_of(settings_.care_of_prefixes.begin(), settings_.care_of_prefixes.end(),
                       [&](const Ipv6Prefix& p) { return p.contains(care_of); });
}

void LivenessTracker::count_state(BindingState state, int delta) {
    state_counts_[static_cast<std::size_t>(state)] += static_cast<std::size_t>(delta);
}

BindingState LivenessTracker::track(const PathId& path, const CareOfAddress& care_of,
                                    std::uint64_t now_ms, std::size_t paths_of_hoa) {
    auto& list = paths_[path.hoa];
    if (list.capacity() == 0) list.reserve(std::max<std::size_t>(paths_of_hoa, 1));  // exact
    Path* found = nullptr;
    for (auto& p : list)
        if (p.bid == path.bid && p.mcoa == path.mcoa) found = &p;
    if (found && found->record.care_of == care_of) {
        Record& r = found->record;
        // Heartbeats turned on (or widened to this CoA) by a reload since it was tracked.
        if (!r.heartbeating && settings_.heartbeats && heartbeats_to(care_of))
            schedule(path, r, now_ms + settings_.interval_ms);
        return r.view.state;
    }
    if (found) {
        if (found->record.outstanding) by_sequence_.erase(*found->record.outstanding);
        count_state(found->record.view.state, -1);
        const CareOfAddress previous = found->record.care_of;
        found->record.care_of = care_of;
        unindex_care_of(path.hoa, previous, list);
    } else {
        found = &list.emplace_back(Path{path.bid, path.mcoa, {}});
        ++path_count_;
    }
    index_care_of(path.hoa, care_of);
    count_state(BindingState::Live, 1);
    Record& r = found->record;
    r = Record{};
    r.care_of = care_of;
    r.view.since_ms = now_ms;
    r.stamp = next_stamp_++;
    if (settings_.heartbeats && heartbeats_to(care_of))
        schedule(path, r, now_ms + settings_.interval_ms);
    return BindingState::Live;
}

void LivenessTracker::forget(const HomeAddress& hoa, const std::vector<PathId>& keep) {
    auto it = paths_.find(hoa);
    if (it == paths_.end()) return;
    auto& list = it->second;
    auto gone = std::stable_partition(list.begin(), list.end(), [&](const Path& p) {
        return std::find(keep.begin(), keep.end(), PathId{hoa, p.bid, p.mcoa}) != keep.end();
    });
    std::vector<CareOfAddress> released;
    for (auto p = gone; p != list.end(); ++p) {  // its schedule entries die with the stamp
        if (p->record.outstanding) by_sequence_.erase(*p->record.outstanding);
        count_state(p->record.view.state, -1);
        released.push_back(p->record.care_of);
    }
    path_count_ -= static_cast<std::size_t>(list.end() - gone);
    list.erase(gone, list.end());
    for (const auto& care_of : released) unindex_care_of(hoa, care_of, list);
    if (list.empty()) paths_.erase(it);
}

void LivenessTracker::set_state(const PathId& id, Record& r, LivenessCause cause,
                                std::uint64_t now_ms, std::vector<LivenessTransition>& out) {
    BindingState now_state = effective(r);
    if (now_state == r.view.state) return;
    out.push_back({id, r.care_of, r.view.state, now_state, cause, r.view.misses});
    count_state(r.view.state, -1);
    count_state(now_state, 1);
    r.view.state = now_state;
    r.view.cause = cause;
    r.view.since_ms = now_ms;
    ++r.view.transitions;
}

LivenessTick LivenessTracker::tick(std::uint64_t now_ms, std::size_t max_paths) {
    LivenessTick result;
    // Without heartbeats nothing else clears an ICMP suspicion (few paths: errors come
    // rate-limited).
    for (auto it = icmp_suspects_.begin(); it != icmp_suspects_.end();) {
        Record* r = record(*it);
        if (!r || !r->icmp_suspect) {
            it = icmp_suspects_.erase(it);
            continue;
        }
        if (r->icmp_until_ms > now_ms) {
            ++it;
            continue;
        }
        r->icmp_suspect = false;
        set_state(*it, *r, LivenessCause::IcmpCleared, now_ms, result.transitions);
        it = icmp_suspects_.erase(it);
    }
    for (std::size_t handled = 0;
         handled < max_paths && !schedule_.empty() && schedule_.front().due_ms <= now_ms;
         ++handled) {
        Scheduled entry = schedule_.front();
        schedule_.pop_front();
        Record* found = record(entry.path);
        if (!found || found->stamp != entry.stamp) continue;
        Record& r = *found;
        if (!settings_.heartbeats || !heartbeats_to(r.care_of)) {
            // A reload stopped heartbeats to this CoA: what they found no longer holds.
            r.heartbeating = false;
            if (r.outstanding) by_sequence_.erase(*r.outstanding);
            r.outstanding.reset();
            r.view.misses = 0;
            r.view.answers = 0;
            r.heartbeat_state = BindingState::Live;
            set_state(entry.path, r, LivenessCause::HeartbeatsOff, now_ms, result.transitions);
            continue;
        }
        if (r.outstanding) {  // the previous request went unanswered for a whole interval
            by_sequence_.erase(*r.outstanding);
            r.outstanding.reset();
            ++result.misses;
            ++r.view.misses;
            r.view.answers = 0;
            r.heartbeat_state = r.view.misses >= settings_.missed_limit
                                    ? BindingState::Dead
                                    : std::max(r.heartbeat_state, BindingState::Suspect);
            set_state(entry.path, r, LivenessCause::HeartbeatMiss, now_ms, result.transitions);
        }
        std::uint32_t sequence = next_sequence_++;
        if (next_sequence_ == 0) next_sequence_ = 1;
        r.outstanding = sequence;
        by_sequence_[sequence] = entry.path;
        last_sequence_to_[r.care_of] = sequence;
        result.heartbeats.push_back({entry.path, r.care_of, sequence});
        // Late ticks do not pile requests up: the next one is an interval after this one.
        schedule(entry.path, r, std::max(entry.due_ms + settings_.interval_ms, now_ms + 1));
    }
    return result;
}

std::optional<std::uint64_t> LivenessTracker::next_deadline_ms() const {
    std::optional<std::uint64_t> next;
    if (!schedule_.empty()) next = schedule_.front().due_ms;
    for (const auto& id : icmp_suspects_) {
        const Record* r = record(id);
        if (r && r->icmp_suspect)
            next = next ? std::min(*next, r->icmp_until_ms) : r->icmp_until_ms;
    }
    return next;
}

ResponseMatch LivenessTracker::on_response(const CareOfAddress& care_of, std::uint32_t sequence,
                                           std::uint64_t now_ms,
                                           std::optional<LivenessTransition>& transition,
                                           const std::optional<HomeAddress>& home_address) {
    transition.reset();
    auto s = by_sequence_.find(sequence);
    if (s == by_sequence_.end()) {
        // An answer to an older request of some path to this CoA is late, not forged.
        auto last = last_sequence_to_.find(care_of);
        bool known = last != last_sequence_to_.end() && sequence != 0 && sequence <= last->second;
        return known ? ResponseMatch::Stale : ResponseMatch::Unknown;
    }
    const PathId id = s->second;
    Record* found = record(id);
    if (!found || found->care_of != care_of || (home_address && id.hoa != *home_address))
        return ResponseMatch::Unknown;
    Record& r = *found;
    by_sequence_.erase(s);
    r.outstanding.reset();
    r.view.misses = 0;
    ++r.view.answers;
    r.view.last_answer_ms = now_ms;
    r.icmp_suspect = false;
    if (r.heartbeat_state == BindingState::Suspect ||
        (r.heartbeat_state == BindingState::Dead && r.view.answers >= settings_.recovery_answers))
        r.heartbeat_state = BindingState::Live;
    std::vector<LivenessTransition> out;
    set_state(id, r, LivenessCause::HeartbeatAnswer, now_ms, out);
    if (!out.empty()) transition = out.front();
    return ResponseMatch::Matched;
}

void LivenessTracker::unsent(const PathId& path, std::uint32_t sequence) {
    Record* r = record(path);
    if (!r || r->outstanding != sequence) return;
    by_sequence_.erase(sequence);
    r->outstanding.reset();
}

std::vector<LivenessTransition> LivenessTracker::on_unreachable(const CareOfAddress& care_of,
                                                                std::uint64_t now_ms) {
    std::vector<LivenessTransition> out;
    for (auto& [id, path] : paths_to(care_of)) {
        Record& r = *path;
        r.icmp_suspect = true;
        r.icmp_until_ms = now_ms + std::uint64_t{settings_.interval_ms} * settings_.missed_limit;
        if (!settings_.heartbeats) icmp_suspects_.insert(id);
        set_state(id, r, LivenessCause::IcmpError, now_ms, out);
    }
    return out;
}

BindingState LivenessTracker::state(const PathId& path) const {
    const Record* r = record(path);
    return r ? r->view.state : BindingState::Live;
}

const PathLiveness* LivenessTracker::find(const PathId& path) const {
    const Record* r = record(path);
    return r ? &r->view : nullptr;
}

// ---- the home agent's side ------------------------------------------------------------

namespace {

std::uint64_t steady_ns() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

}  // namespace

BindingState HomeAgent::path_state(const bcache::HoaEntry& entry, const bcache::Binding& b,
                                   PortId port, std::uint64_t now_ms) {
    BindingState s =
        liveness_.track({entry.home_address, b.bid, b.mcoa},
                        b.at_home ? entry.home_address : b.care_of, now_ms, entry.bindings.size());
    return ports_down_.count(port) ? BindingState::Dead : s;
}

void HomeAgent::forget_liveness(const HomeAddress& hoa, const std::vector<PathKey>& keep) {
    liveness_.forget(hoa, keep);
}

void HomeAgent::log_event(const std::string& line) {
    if (event_log_) event_log_(line);
}

void HomeAgent::apply_transitions(const std::vector<LivenessTransition>& transitions,
                                  std::uint64_t detected_ns, std::uint64_t now_ms) {
    if (transitions.empty()) return;
    std::vector<HomeAddress> changed;
    for (const auto& t : transitions) {
        if (t.to == BindingState::Suspect) ++counters_.paths_suspect;
        if (t.to == BindingState::Dead) ++counters_.paths_dead;
        if (t.to == BindingState::Live) ++counters_.paths_recovered;
        if (std::find(changed.begin(), changed.end(), t.path.hoa) == changed.end())
            changed.push_back(t.path.hoa);
    }
    // The flows move now: policy recompiles with the new states, keeping healthy flows on
    // their paths (build_snapshot passes the previous snapshot). An ICMPv6 error about a CoA
    // many HoAs share is done in slices.
    republish_sliced(changed, now_ms);
    std::uint64_t took_ns = steady_ns() - detected_ns;
    ++counters_.failover_publishes;
    counters_.failover_last_ns = took_ns;
    counters_.failover_max_ns = std::max(counters_.failover_max_ns, took_ns);
    for (const auto& t : transitions) {
        char line[320];
        std::snprintf(line, sizeof line,
                      "liveness: %s bid %u care-of %s: %s -> %s (%s, %u missed) at %lu ms; "
                      "snapshot published %.1f us after detection",
                      t.path.hoa.to_string().c_str(), static_cast<unsigned>(t.path.bid),
                      t.care_of.to_string().c_str(), std::string(to_string(t.from)).c_str(),
                      std::string(to_string(t.to)).c_str(), std::string(to_string(t.cause)).c_str(),
                      t.misses, static_cast<unsigned long>(now_ms),
                      static_cast<double>(took_ns) / 1000.0);
        log_event(line);
    }
}

void HomeAgent::liveness_tick(std::uint64_t now_ms) {
    auto next = liveness_.next_deadline_ms();
    if (!next || *next > now_ms) return;
    std::uint64_t detected_ns = steady_ns();
    LivenessTick tick = liveness_.tick(now_ms, settings_.budget.heartbeats);
    counters_.heartbeat_misses += tick.misses;
    apply_transitions(tick.transitions, detected_ns, now_ms);
    for (const auto& due : tick.heartbeats) {
        const bcache::HoaEntry* entry = cache_.find(due.path.hoa);
        const bcache::Binding* b = nullptr;
        if (entry)
            for (const auto& x : entry->bindings)
                if (x.bid == due.path.bid && x.mcoa == due.path.mcoa) b = &x;
        if (!b) {
            liveness_.unsent(due.path, due.sequence);
            continue;
        }
        // Without ESP the request goes plainly HA address -> CoA, as RFC 5847 s.3 has it
        // between the two tunnel end points. With security.mode esp it is protected (s.6)
        // with the HoA's outbound SA, whose selector (RFC 3776) it names in a type 2
        // routing header, as a BA does; the MN answers with its Home Address option.
        mh::Heartbeat hb;
        hb.sequence = due.sequence;
        std::optional<HomeAddress> routed_to;
        if (security_->esp_required() && due.care_of != due.path.hoa) routed_to = due.path.hoa;
        auto packet = mh::build_ipv6_mh_packet(hb, {b->ha_address, due.care_of, {}, routed_to, 64});
        auto egress = egress_toward(due.care_of, now_ms);
        auto ingress = signalling_ingress_.find({due.path.hoa, due.path.bid, due.path.mcoa});
        if (!egress && ingress != signalling_ingress_.end()) egress = ingress->second;
        if (!egress || packet.empty() || ports_down_.count(egress->port)) {
            // Nothing left: not a miss (a port that is down already makes the path Dead).
            liveness_.unsent(due.path, due.sequence);
            continue;
        }
        auto sealed = protect_signalling(packet, false);  // unchanged unless mode esp
        if (!sealed) {  // no outbound SA for this HoA: counted, and no miss either
            liveness_.unsent(due.path, due.sequence);
            continue;
        }
        send_ip(egress->port, egress->next_hop_mac, *sealed);
        ++counters_.heartbeats_sent;
    }
}

void HomeAgent::handle_heartbeat(PortId port, const net::Ipv6Packet& packet,
                                 const mh::Ipv6HeaderChain& chain, bool was_protected,
                                 const mh::Heartbeat& hb, std::uint64_t now_ms) {
    if (!is_ha_address(chain.destination)) {
        ++counters_.not_handled;
        return;
    }
    if (!hb.response) {
        // A request from the peer (RFC 5847 s.3.1): answer it the way it came, inside ESP
        // (to the HoA of its Home Address option) when it came so.
        mh::Heartbeat reply;
        reply.response = true;
        reply.sequence = hb.sequence;
        auto ip = mh::build_ipv6_mh_packet(
            reply, {chain.destination, chain.source, {}, chain.home_address_option, 64});
        auto sealed = protect_signalling(ip, was_protected);
        if (!sealed) return;
        send_ip(port, packet.eth_source, *sealed);
        ++counters_.heartbeat_requests_answered;
        return;
    }
    // Matched by CoA (the packet's source) and sequence; inside ESP the SA vouched for the
    // HoA (the Home Address option, else the source), which must own the path too.
    std::optional<HomeAddress> vouched;
    if (was_protected) vouched = chain.checksum_source();
    std::uint64_t detected_ns = steady_ns();
    std::optional<LivenessTransition> transition;
    switch (liveness_.on_response(chain.source, hb.sequence, now_ms, transition, vouched)) {
        case ResponseMatch::Matched:
            ++counters_.heartbeat_responses;
            break;
        case ResponseMatch::Stale:
            ++counters_.heartbeat_responses_late;
            return;
        case ResponseMatch::Unknown:
            ++counters_.heartbeat_responses_unmatched;
            return;
    }
    if (transition) apply_transitions({*transition}, detected_ns, now_ms);
}

// An ICMPv6 Destination Unreachable about one of our tunnel packets (outer source our HA
// address, outer destination a CoA): that CoA is Suspect until its next heartbeat answer.
// Only Suspect: ICMPv6 errors are unauthenticated, so they can shift flows but not kill a
// path by themselves.
void HomeAgent::handle_unreachable(const net::Ipv6Packet& packet, const net::Icmpv6Message& icmp,
                                   std::uint64_t now_ms) {
    (void)packet;
    ++counters_.icmp_unreachable_received;
    if (icmp.body.size() < 4 + net::kIpv6HeaderSize) {
        ++counters_.malformed;
        return;
    }
    net::Ipv6HeaderView invoking{icmp.body.data() + 4};
    if (!is_ha_address(invoking.source())) {
        ++counters_.not_handled;
        return;
    }
    std::uint64_t detected_ns = steady_ns();
    auto transitions = liveness_.on_unreachable(invoking.destination(), now_ms);
    apply_transitions(transitions, detected_ns, now_ms);
}

void HomeAgent::on_port_link(PortId port, bool up, std::uint64_t now_ms) {
    now_ms_ = now_ms;
    bool was_up = ports_down_.count(port) == 0;
    if (was_up == up) return;
    if (up)
        ports_down_.erase(port);
    else
        ports_down_.insert(port);
    ++counters_.port_link_changes;
    std::uint64_t detected_ns = steady_ns();
    republish_all(now_ms);  // paths leaving by that port are Dead while it is down
    std::uint64_t took_ns = steady_ns() - detected_ns;
    const Interface* itf = interface_of(port);
    char line[200];
    std::snprintf(line, sizeof line,
                  "liveness: port %u (%s) link %s at %lu ms: its paths are %s; snapshots "
                  "published %.1f us after detection",
                  static_cast<unsigned>(port), itf ? itf->name.c_str() : "?", up ? "up" : "down",
                  static_cast<unsigned long>(now_ms), up ? "back to their heartbeat state" : "dead",
                  static_cast<double>(took_ns) / 1000.0);
    log_event(line);
}

std::optional<PathLiveness> HomeAgent::path_liveness(const HomeAddress& hoa, std::uint16_t bid,
                                                     bool mcoa) const {
    const PathLiveness* p = liveness_.find({hoa, bid, mcoa});
    if (!p) return std::nullopt;
    return *p;
}

}  // namespace monami::ha
