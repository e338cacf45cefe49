// Turns operator policies (config::Policies) and the mobile node's own flow bindings
// (RFC 6089 flow identification with RFC 6088 traffic selectors) into the flow rules and
// default action of a HoaSnapshot. Runs on the control thread whenever a binding of the
// HoA is added, removed or changes liveness, or the MN's flow bindings change.
// docs/policies.md describes the behaviour; the choices are summarised here.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <utility>
#include <vector>

#include "config/schema.hpp"
#include "controlplane/mh/messages.hpp"
#include "dataplane/api/snapshot.hpp"
#include "dataplane/api/types.hpp"

namespace monami::policy {

// One delivery path of the HoA, in the order of HoaSnapshot::paths: its position in the
// vector is the path index the compiled actions refer to. Only the first
// kMaxBindingsPerHoa paths can be chosen (path indexes and n-cast masks are 8 bits).
struct PathInfo {
    std::uint16_t bid = 0;  // RFC 5648 binding identifier: the stable key of the path
    CareOfAddress care_of;  // classifies the path into an access class (native: the HoA)
    BindingState state = BindingState::Live;
    bool native = false;  // at home (RFC 5648 s.5.6): delivered on the home link
};

// A flow binding the MN registered (RFC 6089 s.4.2): traffic matching `selector` goes to
// the paths with these BIDs, to all of them (n-cast) when several are live.
struct MnFlowBinding {
    std::uint16_t fid = 0;
    std::uint16_t priority = 0;  // lower first
    std::vector<std::uint16_t> bids;
    mh::TrafficSelector selector;
};

// Operator rules follow every MN rule.
inline constexpr std::uint16_t kOperatorRulePriority = 0xffff;

// An operator traffic class as a selector: protocol -> next header, DSCP d -> traffic class
// [d << 2, d << 2 | 3] (any ECN bits), port ranges, prefixes -> address ranges.
FlowSelector to_selector(const config::TrafficMatch& match);

// An RFC 6088 selector; nullopt for the IPv4 format, which cannot match IPv6 traffic.
std::optional<FlowSelector> to_selector(const mh::TrafficSelector& selector);

bool same_selector(const FlowSelector& a, const FlowSelector& b);
bool same_action(const FlowAction& a, const FlowAction& b);

class PolicyEngine {
  public:
    explicit PolicyEngine(const config::Policies& policies);

    // The access class whose prefixes contain `care_of` (the longest such prefix wins).
    std::optional<std::size_t> access_class_of(const CareOfAddress& care_of) const;

    // Fills out.default_action and out.rules (replacing what they held).
    //  - MN flow bindings first, by (priority, FID); IPv4 selectors are skipped; a binding
    //    none of whose BIDs is usable is skipped, so its traffic follows operator policy.
    //  - Then the rules of profile `profile_index` (else the default profile) in order;
    //    the rule on traffic class "any" becomes the default action and ends the list.
    //    Without one, the default is `prefer` in access-class preference order.
    //  - Trailing rules whose action equals the default action are dropped (same
    //    forwarding, and the workers take the no-rules fast path more often).
    // Usable paths: the Live ones; the Suspect ones only when none is Live; never Dead.
    // `previous`, when given, is the snapshot this one replaces: weighted actions keep each
    // slot on its former path (by BID) while that path is usable and within its share, so a
    // path leaving moves only its own flows and a path joining takes only its share.
    // Without it the slot assignment is a function of the usable paths and weights alone.
    // `previous->paths` must hold the BIDs of its paths (slots are matched by BID).
    void compile(const std::vector<PathInfo>& paths, const std::vector<MnFlowBinding>& mn_flows,
                 std::optional<std::size_t> profile_index, HoaSnapshot& out,
                 const HoaSnapshot* previous = nullptr) const;

    // The action of one operator rule over `paths` (no history).
    FlowAction action_for(const config::Rule& rule, const std::vector<PathInfo>& paths) const;

    const config::Policies& policies() const { return policies_; }

  private:
    // BID owning each slot in the snapshot being replaced; -1: none.
    using SlotOwners = std::array<std::int32_t, kChoiceSlots>;
    struct Weighted {
        std::uint8_t path = 0;
        double weight = 0;
    };

    FlowAction action_for(const config::Rule& rule, const std::vector<PathInfo>& paths,
                          const SlotOwners* sticky) const;
    // `usable`: path indexes (at most kMaxBindingsPerHoa, kept on the stack).
    FlowAction prefer(const config::Rule& rule, const std::vector<PathInfo>& paths,
                      std::span<const std::uint8_t> usable) const;
    FlowAction weighted(const config::Rule& rule, const std::vector<PathInfo>& paths,
                        std::span<const std::uint8_t> usable, const SlotOwners* sticky) const;
    static void fill_slots(const std::vector<Weighted>& members, const std::vector<PathInfo>& paths,
                           const SlotOwners* sticky, FlowAction& out);
    // Position of an access class in the implicit order (unclassified: after all).
    std::size_t class_rank(std::optional<std::size_t> access_class) const;

    config::Policies policies_;
    std::vector<std::pair<Ipv6Prefix, std::size_t>> prefixes_;  // longest first
    std::vector<std::size_t> class_order_;  // preference (higher first), cost, config order
    config::Rule implicit_default_;         // prefer in class_order_
};

}  // namespace monami::policy
