#include "controlplane/ha/next_hop_users.hpp"

#include <algorithm>

namespace monami::ha {

void NextHopUsers::add(const Ipv6Address& next_hop, const HomeAddress& hoa, Uses& uses) {
    for (const Use& use : uses)
        if (use.next_hop == next_hop) return;
    std::uint32_t index;
    if (free_head_ == kNone) {
        index = static_cast<std::uint32_t>(nodes_.size());
        nodes_.emplace_back();
    } else {
        index = free_head_;
        free_head_ = nodes_[index].older;
        --free_count_;
    }
    List& list = lists_[next_hop];
    Node& node = nodes_[index];
    node = Node{hoa, kNone, list.head, clock_};
    if (list.head != kNone) nodes_[list.head].newer = index;
    list.head = index;
    if (list.tail == kNone) list.tail = index;
    uses.push_back({next_hop, index});
}

void NextHopUsers::remove_all(Uses& uses) {
    for (const Use& use : uses) unlink(use.next_hop, use.node);
    uses.clear();
}

std::optional<HomeAddress> NextHopUsers::take_oldest(const Ipv6Address& next_hop,
                                                     std::uint64_t sweep) {
    if (!has_older(next_hop, sweep)) return std::nullopt;
    const std::uint32_t index = lists_.find(next_hop)->second.tail;
    const HomeAddress hoa = nodes_[index].hoa;
    unlink(next_hop, index);
    return hoa;
}

bool NextHopUsers::has_older(const Ipv6Address& next_hop, std::uint64_t sweep) const {
    auto it = lists_.find(next_hop);
    // Users are added at the head with a clock that never goes back, so the tail is oldest.
    return it != lists_.end() && nodes_[it->second.tail].added < sweep;
}

void NextHopUsers::forget(Uses& uses, const Ipv6Address& next_hop) {
    auto it = std::find_if(uses.begin(), uses.end(),
                           [&](const Use& use) { return use.next_hop == next_hop; });
    if (it != uses.end()) uses.erase(it);
}

void NextHopUsers::unlink(const Ipv6Address& next_hop, std::uint32_t index) {
    auto it = lists_.find(next_hop);
    if (it == lists_.end()) return;
    List& list = it->second;
    Node& node = nodes_[index];
    if (node.newer != kNone)
        nodes_[node.newer].older = node.older;
    else
        list.head = node.older;
    if (node.older != kNone)
        nodes_[node.older].newer = node.newer;
    else
        list.tail = node.newer;
    node.older = free_head_;
    free_head_ = index;
    ++free_count_;
    if (list.head == kNone) lists_.erase(it);
}

}  // namespace monami::ha
