#include "controlplane/policy/policy_engine.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <tuple>

namespace monami::policy {

namespace {

template <class T>
bool same_range(const FieldRange<T>& a, const FieldRange<T>& b) {
    return a.first == b.first && a.last == b.last;
}

FieldRange<Ipv6Address> prefix_range(const Ipv6Prefix& prefix) {
    Ipv6Prefix network = Ipv6Prefix::covering(prefix.address, prefix.length);
    Ipv6Address last = network.address;
    for (unsigned bit = network.length; bit < 128; ++bit)
        last.bytes[bit / 8] |= static_cast<std::uint8_t>(0x80u >> (bit % 8));
    return {network.address, last};
}

FlowAction no_path_action() {
    FlowAction a;
    std::memset(a.choice, kNoBinding, sizeof a.choice);
    a.ncast_mask = 0;
    return a;
}

FlowAction unicast_action(std::uint8_t path) {
    FlowAction a;
    std::memset(a.choice, path, sizeof a.choice);
    a.ncast_mask = 0;
    return a;
}

// Path indexes of one HoA (at most kMaxBindingsPerHoa): on the stack, so that compiling a
// snapshot allocates nothing for them.
class PathIndexes {
  public:
    void push_back(std::uint8_t index) { items_[count_++] = index; }
    bool empty() const { return count_ == 0; }
    std::size_t size() const { return count_; }
    const std::uint8_t* begin() const { return items_.data(); }
    const std::uint8_t* end() const { return items_.data() + count_; }
    operator std::span<const std::uint8_t>() const { return {items_.data(), count_}; }

  private:
    std::array<std::uint8_t, kMaxBindingsPerHoa> items_{};
    std::size_t count_ = 0;
};

// Every path in `members` gets a copy; the slots name the lowest BID among them, for a
// worker that must pick one (e.g. a packet too big to replicate).
FlowAction ncast_action(std::span<const std::uint8_t> members, const std::vector<PathInfo>& paths) {
    if (members.empty()) return no_path_action();
    if (members.size() == 1) return unicast_action(members.front());
    std::uint8_t mask = 0;
    std::uint8_t first = members.front();
    for (std::uint8_t m : members) {
        mask = static_cast<std::uint8_t>(mask | (1u << m));
        if (paths[m].bid < paths[first].bid) first = m;
    }
    FlowAction a = unicast_action(first);
    a.ncast_mask = mask;
    return a;
}

// Path indexes that may carry traffic: Live ones, else Suspect ones; never Dead.
PathIndexes usable_paths(const std::vector<PathInfo>& paths) {
    std::size_t count = std::min<std::size_t>(paths.size(), kMaxBindingsPerHoa);
    auto with_state = [&](BindingState state) {
        PathIndexes out;
        for (std::size_t i = 0; i < count; ++i)
            if (paths[i].state == state) out.push_back(static_cast<std::uint8_t>(i));
        return out;
    };
    PathIndexes live = with_state(BindingState::Live);
    return live.empty() ? with_state(BindingState::Suspect) : live;
}

// A uniform value in (0, 1) for (slot, BID): SplitMix64 of the pair. Depends on nothing
// but the slot and the BID, so a path's claim on a slot survives other paths coming and
// going.
double slot_uniform(unsigned slot, std::uint16_t bid) {
    std::uint64_t x = ((std::uint64_t{bid} << 16) | slot) + 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    x ^= x >> 31;
    return (static_cast<double>(x >> 11) + 0.5) * 0x1p-53;
}

// log(slot_uniform(s, bid)) for every slot: 64 logarithms per path were a large share of a
// Binding Update's cost, and the few BIDs in use repeat across mobile nodes. Direct-mapped
// per thread; the values are exactly those computed on the fly.
const std::array<double, kChoiceSlots>& slot_logs(std::uint16_t bid) {
    struct Row {
        int bid = -1;
        std::array<double, kChoiceSlots> logs{};
    };
    thread_local std::array<Row, 16> rows;
    Row& row = rows[bid % rows.size()];
    if (row.bid != bid) {
        for (unsigned s = 0; s < kChoiceSlots; ++s) row.logs[s] = std::log(slot_uniform(s, bid));
        row.bid = bid;
    }
    return row.logs;
}

}  // namespace

FlowSelector to_selector(const config::TrafficMatch& match) {
    FlowSelector s;
    if (match.protocol) s.next_header = {*match.protocol, *match.protocol};
    if (!match.source_ports.is_any()) {
        s.source_port = {match.source_ports.first, match.source_ports.last};
        s.needs_ports = true;
    }
    if (!match.destination_ports.is_any()) {
        s.destination_port = {match.destination_ports.first, match.destination_ports.last};
        s.needs_ports = true;
    }
    if (match.dscp) {  // DSCP is the upper six bits of Traffic Class (RFC 2474 s.3)
        auto low = static_cast<std::uint8_t>(*match.dscp << 2);
        s.traffic_class = {low, static_cast<std::uint8_t>(low | 3)};
    }
    s.source = prefix_range(match.source_prefix);
    s.destination = prefix_range(match.destination_prefix);
    return s;
}

std::optional<FlowSelector> to_selector(const mh::TrafficSelector& selector) {
    const auto* ts = std::get_if<mh::TrafficSelectorV6>(&selector);
    if (ts == nullptr) return std::nullopt;
    FlowSelector s;
    auto copy = [](const auto& from, auto& to) {
        if (from) to = {from->start, from->end};
    };
    copy(ts->source_address, s.source);
    copy(ts->destination_address, s.destination);
    copy(ts->ipsec_spi, s.spi);
    copy(ts->flow_label, s.flow_label);
    copy(ts->source_port, s.source_port);
    copy(ts->destination_port, s.destination_port);
    copy(ts->traffic_class, s.traffic_class);
    copy(ts->next_header, s.next_header);
    FlowSelector full;
    s.needs_ports = !same_range(s.spi, full.spi) || !same_range(s.source_port, full.source_port) ||
                    !same_range(s.destination_port, full.destination_port);
    return s;
}

bool same_selector(const FlowSelector& a, const FlowSelector& b) {
    return same_range(a.source, b.source) && same_range(a.destination, b.destination) &&
           same_range(a.spi, b.spi) && same_range(a.flow_label, b.flow_label) &&
           same_range(a.source_port, b.source_port) &&
           same_range(a.destination_port, b.destination_port) &&
           same_range(a.traffic_class, b.traffic_class) &&
           same_range(a.next_header, b.next_header) && a.needs_ports == b.needs_ports;
}

bool same_action(const FlowAction& a, const FlowAction& b) {
    return a.ncast_mask == b.ncast_mask && std::memcmp(a.choice, b.choice, sizeof a.choice) == 0;
}

PolicyEngine::PolicyEngine(const config::Policies& policies) : policies_(policies) {
    for (std::size_t c = 0; c < policies_.access_classes.size(); ++c)
        for (const Ipv6Prefix& p : policies_.access_classes[c].prefixes)
            prefixes_.emplace_back(p, c);
    std::stable_sort(prefixes_.begin(), prefixes_.end(),
                     [](const auto& a, const auto& b) { return a.first.length > b.first.length; });
    class_order_.resize(policies_.access_classes.size());
    std::iota(class_order_.begin(), class_order_.end(), std::size_t{0});
    std::stable_sort(class_order_.begin(), class_order_.end(), [&](std::size_t a, std::size_t b) {
        const auto& x = policies_.access_classes[a];
        const auto& y = policies_.access_classes[b];
        return std::tie(y.preference, x.cost) < std::tie(x.preference, y.cost);
    });
    implicit_default_.traffic_class = "any";
    implicit_default_.mode = config::RuleMode::prefer;
}

std::optional<std::size_t> PolicyEngine::access_class_of(const CareOfAddress& care_of) const {
    for (const auto& [prefix, access_class] : prefixes_)
        if (prefix.contains(care_of)) return access_class;
    return std::nullopt;
}

std::size_t PolicyEngine::class_rank(std::optional<std::size_t> access_class) const {
    if (!access_class) return class_order_.size();
    return static_cast<std::size_t>(
        std::find(class_order_.begin(), class_order_.end(), *access_class) - class_order_.begin());
}

FlowAction PolicyEngine::action_for(const config::Rule& rule,
                                    const std::vector<PathInfo>& paths) const {
    return action_for(rule, paths, nullptr);
}

FlowAction PolicyEngine::action_for(const config::Rule& rule, const std::vector<PathInfo>& paths,
                                    const SlotOwners* sticky) const {
    PathIndexes usable = usable_paths(paths);
    if (usable.empty()) return no_path_action();
    switch (rule.mode) {
        case config::RuleMode::prefer:
            return prefer(rule, paths, usable);
        case config::RuleMode::weighted:
            return weighted(rule, paths, usable, sticky);
        case config::RuleMode::ncast:
            return ncast_action(usable, paths);
    }
    return no_path_action();
}

// The usable path of the first access class in the rule's order (implicit order when the
// rule gives none) that has one; within a class the lowest BID, which stays put while
// other paths of the class come and go. No listed class usable: the best other path.
FlowAction PolicyEngine::prefer(const config::Rule& rule, const std::vector<PathInfo>& paths,
                                std::span<const std::uint8_t> usable) const {
    std::array<std::optional<std::size_t>, kMaxBindingsPerHoa> classes;
    for (std::size_t i = 0; i < usable.size(); ++i)
        classes[i] = access_class_of(paths[usable[i]].care_of);
    auto best_of_class = [&](std::size_t access_class) {
        std::optional<std::uint8_t> best;
        for (std::size_t i = 0; i < usable.size(); ++i)
            if (classes[i] == access_class && (!best || paths[usable[i]].bid < paths[*best].bid))
                best = usable[i];
        return best;
    };
    if (!rule.order.empty()) {
        for (const auto& ref : rule.order)
            if (auto best = best_of_class(ref.index)) return unicast_action(*best);
    } else {
        for (std::size_t access_class : class_order_)
            if (auto best = best_of_class(access_class)) return unicast_action(*best);
    }
    std::size_t best = 0;
    for (std::size_t i = 1; i < usable.size(); ++i) {
        auto key = [&](std::size_t k) {
            return std::make_pair(class_rank(classes[k]), paths[usable[k]].bid);
        };
        if (key(i) < key(best)) best = i;
    }
    return unicast_action(usable[best]);
}

// Each weighted access class's share is split evenly over its usable paths. Paths of
// classes the rule does not weigh get nothing, unless no weighted class is usable; then
// (and when the rule lists no weights) every usable path weighs the same.
FlowAction PolicyEngine::weighted(const config::Rule& rule, const std::vector<PathInfo>& paths,
                                  std::span<const std::uint8_t> usable,
                                  const SlotOwners* sticky) const {
    std::vector<Weighted> members;
    if (!rule.weights.empty()) {
        std::vector<std::optional<std::size_t>> classes;
        std::vector<unsigned> per_class(policies_.access_classes.size(), 0);
        for (std::uint8_t p : usable) {
            classes.push_back(access_class_of(paths[p].care_of));
            if (classes.back()) per_class[*classes.back()]++;
        }
        for (std::size_t i = 0; i < usable.size(); ++i) {
            if (!classes[i]) continue;
            for (const config::Weight& w : rule.weights)
                if (w.access_class.index == *classes[i])
                    members.push_back({usable[i], double(w.weight) / per_class[*classes[i]]});
        }
    }
    if (members.empty())
        for (std::uint8_t p : usable) members.push_back({p, 1.0});
    FlowAction action;
    fill_slots(members, paths, sticky, action);
    return action;
}

// Weighted rendezvous (highest-random-weight) hashing with exact shares.
//  - Path p's claim on slot s is -w_p / ln(u(s, BID_p)): with nothing else, the highest
//    claim wins and p wins a slot with probability w_p / sum(w) (Schindelhauer and
//    Schomaker's weighted HRW); the claims depend only on the slot and the BID.
//  - Independent per-slot draws over 64 slots would miss a 3:1 split by 5 points half the
//    time, so each path's share is fixed first (largest remainder of 64 w_p / sum(w)) and
//    slots are granted by descending claim while the claimant is below its share.
//  - With `sticky` (the slot owners of the snapshot being replaced) a slot stays with its
//    owner while that path is usable and within its share; a path above its new share
//    gives up its weakest claims. A path leaving then moves only its own slots, and a
//    path joining takes only what the others give up.
void PolicyEngine::fill_slots(const std::vector<Weighted>& members,
                              const std::vector<PathInfo>& paths, const SlotOwners* sticky,
                              FlowAction& out) {
    out.ncast_mask = 0;
    if (members.size() == 1) {
        std::memset(out.choice, members.front().path, sizeof out.choice);
        return;
    }
    const std::size_t n = members.size();
    double total = 0;
    for (const Weighted& m : members) total += m.weight;

    std::vector<unsigned> quota(n);
    std::vector<double> remainder(n);
    unsigned granted = 0;
    for (std::size_t i = 0; i < n; ++i) {
        double exact = kChoiceSlots * members[i].weight / total;
        quota[i] = static_cast<unsigned>(std::floor(exact));
        remainder[i] = exact - quota[i];
        granted += quota[i];
    }
    std::vector<std::size_t> by_remainder(n);
    std::iota(by_remainder.begin(), by_remainder.end(), std::size_t{0});
    std::sort(by_remainder.begin(), by_remainder.end(), [&](std::size_t a, std::size_t b) {
        if (remainder[a] != remainder[b]) return remainder[a] > remainder[b];
        return paths[members[a].path].bid < paths[members[b].path].bid;
    });
    for (std::size_t k = 0; granted < kChoiceSlots; ++k, ++granted) quota[by_remainder[k]]++;

    std::vector<std::array<double, kChoiceSlots>> claim(n);
    for (std::size_t i = 0; i < n; ++i) {
        const auto& logs = slot_logs(paths[members[i].path].bid);
        for (unsigned s = 0; s < kChoiceSlots; ++s) claim[i][s] = -members[i].weight / logs[s];
    }

    constexpr std::size_t kFree = ~std::size_t{0};
    std::array<std::size_t, kChoiceSlots> owner;
    owner.fill(kFree);
    std::vector<unsigned> held(n, 0);
    if (sticky != nullptr) {
        for (unsigned s = 0; s < kChoiceSlots; ++s)
            for (std::size_t i = 0; i < n; ++i)
                if ((*sticky)[s] == paths[members[i].path].bid) {
                    owner[s] = i;
                    held[i]++;
                }
        for (std::size_t i = 0; i < n; ++i) {
            if (held[i] <= quota[i]) continue;
            std::vector<unsigned> mine;
            for (unsigned s = 0; s < kChoiceSlots; ++s)
                if (owner[s] == i) mine.push_back(s);
            std::sort(mine.begin(), mine.end(),
                      [&](unsigned a, unsigned b) { return claim[i][a] < claim[i][b]; });
            for (unsigned k = 0; k < held[i] - quota[i]; ++k) owner[mine[k]] = kFree;
            held[i] = quota[i];
        }
    }

    struct Claim {
        double value;
        unsigned slot;
        std::size_t member;
    };
    std::vector<Claim> claims;
    for (unsigned s = 0; s < kChoiceSlots; ++s)
        if (owner[s] == kFree)
            for (std::size_t i = 0; i < n; ++i) claims.push_back({claim[i][s], s, i});
    std::sort(claims.begin(), claims.end(), [](const Claim& a, const Claim& b) {
        return std::tie(b.value, a.slot, a.member) < std::tie(a.value, b.slot, b.member);
    });
    for (const Claim& c : claims) {
        if (owner[c.slot] != kFree || held[c.member] == quota[c.member]) continue;
        owner[c.slot] = c.member;
        held[c.member]++;
    }
    for (unsigned s = 0; s < kChoiceSlots; ++s) out.choice[s] = members[owner[s]].path;
}

void PolicyEngine::compile(const std::vector<PathInfo>& paths,
                           const std::vector<MnFlowBinding>& mn_flows,
                           std::optional<std::size_t> profile_index, HoaSnapshot& out,
                           const HoaSnapshot* previous) const {
    out.rules.clear();
    PathIndexes usable = usable_paths(paths);

    // MN flow bindings (RFC 6089) take precedence over operator policy.
    std::vector<const MnFlowBinding*> bindings;
    for (const MnFlowBinding& b : mn_flows) bindings.push_back(&b);
    std::stable_sort(bindings.begin(), bindings.end(), [](const auto* a, const auto* b) {
        return std::tie(a->priority, a->fid) < std::tie(b->priority, b->fid);
    });
    for (const MnFlowBinding* binding : bindings) {
        std::optional<FlowSelector> selector = to_selector(binding->selector);
        if (!selector) continue;
        PathIndexes members;
        for (std::uint16_t bid : binding->bids)
            for (std::uint8_t p : usable)
                if (paths[p].bid == bid &&
                    std::find(members.begin(), members.end(), p) == members.end())
                    members.push_back(p);
        if (members.empty()) continue;  // no usable BID: operator policy decides
        out.rules.push_back(
            FlowRule{*selector, ncast_action(members, paths), binding->fid, binding->priority});
    }

    auto owners_of = [&](const FlowAction& action) {
        SlotOwners owners;
        for (unsigned s = 0; s < kChoiceSlots; ++s)
            owners[s] = action.choice[s] < previous->paths.size()
                            ? previous->paths[action.choice[s]].bid
                            : -1;
        return owners;
    };
    // A rule's former action: the operator rule with the same selector, else the default
    // action (where a rule whose action equalled it was dropped).
    auto sticky_for = [&](const FlowSelector* selector) -> std::optional<SlotOwners> {
        if (previous == nullptr) return std::nullopt;
        if (selector != nullptr)
            for (const FlowRule& r : previous->rules)
                if (r.fid == 0 && same_selector(r.selector, *selector)) return owners_of(r.action);
        return owners_of(previous->default_action);
    };

    const config::Profile* profile = nullptr;
    if (profile_index && *profile_index < policies_.profiles.size())
        profile = &policies_.profiles[*profile_index];
    else if (policies_.default_profile_index &&
             *policies_.default_profile_index < policies_.profiles.size())
        profile = &policies_.profiles[*policies_.default_profile_index];

    bool have_default = false;
    if (profile != nullptr) {
        for (const config::Rule& rule : profile->rules) {
            if (!rule.traffic_class_index ||
                *rule.traffic_class_index >= policies_.traffic_classes.size()) {
                auto sticky = sticky_for(nullptr);
                out.default_action = action_for(rule, paths, sticky ? &*sticky : nullptr);
                have_default = true;
                break;
            }
            FlowSelector selector =
                to_selector(policies_.traffic_classes[*rule.traffic_class_index].match);
            auto sticky = sticky_for(&selector);
            out.rules.push_back(FlowRule{selector,
                                         action_for(rule, paths, sticky ? &*sticky : nullptr), 0,
                                         kOperatorRulePriority});
        }
    }
    if (!have_default) {
        auto sticky = sticky_for(nullptr);
        out.default_action = action_for(implicit_default_, paths, sticky ? &*sticky : nullptr);
    }

    while (!out.rules.empty() && same_action(out.rules.back().action, out.default_action))
        out.rules.pop_back();
}

}  // namespace monami::policy
