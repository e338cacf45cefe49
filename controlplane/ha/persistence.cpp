// The home agent's side of the binding store: what changes goes to the store once per
// iteration, BAs wait for durability when asked to, and a start enters what the store read
// back (docs/architecture.md, "Binding store").
#include <chrono>

#include "controlplane/ha/home_agent.hpp"

namespace monami::ha {

namespace {

// Outbound ESP sequence numbers reserved at a time: a new block is asked for when half of
// the current one is used, long before the end (one commit away).
constexpr std::uint64_t kSequenceBlock = 1u << 16;
// BAs held for their batch at most: while the store's commits fail, the oldest are dropped
// (the mobile nodes retransmit their BUs) rather than memory growing without end.
constexpr std::size_t kMaxHeldAcks = 1u << 16;

std::uint64_t to_unix(std::uint64_t steady_ms, std::int64_t unix_minus_steady) {
    return static_cast<std::uint64_t>(static_cast<std::int64_t>(steady_ms) + unix_minus_steady);
}

std::int64_t unix_minus_steady(std::uint64_t now_ms) {
    const auto unix_now = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch())
                              .count();
    return static_cast<std::int64_t>(unix_now) - static_cast<std::int64_t>(now_ms);
}

}  // namespace

store::HoaRecord HomeAgent::to_record(const bcache::HoaEntry& entry,
                                      std::int64_t unix_minus_steady) {
    store::HoaRecord r;
    r.home_address = entry.home_address;
    r.mn_id = entry.mn_id;
    r.mobile_router = entry.mobile_router;
    r.link_local_compat = entry.link_local_compat;
    r.last_sequence = entry.last_sequence;
    r.bindings.reserve(entry.bindings.size());
    for (const auto& b : entry.bindings)
        r.bindings.push_back({b.bid, b.mcoa, b.at_home, b.care_of, b.ha_address, b.sequence,
                              to_unix(b.expiry_ms, unix_minus_steady)});
    r.network_prefixes = entry.network_prefixes;
    r.flows.reserve(entry.flows.size());
    for (const auto& f : entry.flows)
        r.flows.push_back(
            {f.fid, f.priority, f.bids, f.selector, to_unix(f.expiry_ms, unix_minus_steady)});
    return r;
}

void HomeAgent::persist(const std::vector<HomeAddress>& changed) {
    if (!store_ || changed.empty() || !serving_) return;  // a standby writes nothing
    const std::int64_t offset = unix_minus_steady(now_ms_);
    esp::SaDatabase* sas = security_->sa_database();
    for (const auto& hoa : changed) {
        if (const bcache::HoaEntry* entry = cache_.find(hoa))
            store_->put(to_record(*entry, offset));
        else
            store_->remove(hoa);
        // The inbound ESP mark goes with the change it let in: a BU replayed after a restart
        // is refused by the window as well as by its sequence number.
        if (esp::SaState* in = sas ? sas->find_inbound(hoa) : nullptr) {
            const std::uint64_t highest = in->replay_window().highest();
            auto& persisted = inbound_marks_[in->spi()];
            if (highest > persisted) {
                store_->put(store::EspMarks{in->spi(), false, highest});
                persisted = highest;
            }
        }
    }
}

void HomeAgent::reserve_sequences(esp::SaState& sa) {
    if (!store_ || reservations_.count(sa.spi())) return;
    const std::uint64_t base =
        std::max(sa.last_sent_sequence(),
                 sa.reserved_until() == UINT64_MAX ? std::uint64_t{0} : sa.reserved_until());
    const std::uint64_t last = base + kSequenceBlock;
    store_->put(store::EspMarks{sa.spi(), true, last});
    reservations_[sa.spi()] = {store_->open_batch(), last};
}

void HomeAgent::note_outbound_sequence() {
    if (!store_) return;
    esp::SaState* sa = security_->last_outbound();
    if (sa && sa->last_sent_sequence() + kSequenceBlock / 2 >= sa->reserved_until())
        reserve_sequences(*sa);
}

void HomeAgent::attach_store(store::BindingStore* store, bool sync) {
    store_ = store;
    store_sync_ = sync;
}

void HomeAgent::send_or_hold_ack(HeldAck::Way way, PortId port, const MacAddress& next_hop,
                                 std::span<const std::uint8_t> bytes) {
    if (hold_acks_for_batch_ != 0) {
        if (held_acks_.size() >= kMaxHeldAcks) {
            held_acks_.pop_front();
            ++counters_.binding_acks_withheld;
        }
        held_acks_.push_back({hold_acks_for_batch_, way, port, next_hop,
                              std::vector<std::uint8_t>(bytes.begin(), bytes.end())});
        return;
    }
    switch (way) {
        case HeldAck::Way::Routed:
            dataplane_.route_packet(bytes);
            break;
        case HeldAck::Way::Ip:
            send_ip(port, next_hop, bytes);
            break;
        case HeldAck::Way::Framed: {
            std::vector<std::uint8_t> frame(bytes.begin(), bytes.end());
            send_framed(port, next_hop, frame);
            break;
        }
    }
    ++counters_.binding_acks_sent;
}

void HomeAgent::store_tick(std::uint64_t now_ms) {
    if (store_ && now_ms - store_checked_ms_ >= 1000) {
        // Once a second: a store that starts or stops failing is logged (its stats lock).
        store_checked_ms_ = now_ms;
        const store::StoreStats s = store_->stats();
        const bool failing = s.backlog_records != 0;
        if (failing && !store_failing_)
            log_event("binding store: " + s.last_error + "; " + std::to_string(s.backlog_records) +
                      " changes kept, retried every second" +
                      (store_sync_ ? ", their BAs held" : ""));
        else if (!failing && store_failing_)
            log_event("binding store: commits succeed again");
        store_failing_ = failing;
    }
    if (store_) {
        store_->close_batch();
        const std::uint64_t durable = store_->durable_batch();
        // Sequence numbers reserved durably may be sent.
        for (auto it = reservations_.begin(); it != reservations_.end();) {
            if (it->second.batch > durable) {
                ++it;
                continue;
            }
            if (esp::SaDatabase* sas = security_->sa_database())
                if (esp::SaState* sa = sas->find(it->first, esp::Direction::Outbound))
                    sa->set_reserved_until(std::max(sa->reserved_until(), it->second.last));
            it = reservations_.erase(it);
        }
        while (!held_acks_.empty() && held_acks_.front().batch <= durable) {
            HeldAck ack = std::move(held_acks_.front());
            held_acks_.pop_front();
            send_or_hold_ack(ack.way, ack.port, ack.next_hop, ack.bytes);
        }
    }
    if (takeover_sweep_) continue_takeover();
    for (std::size_t n = 0; n < settings_.budget.republish && !announcements_.empty(); ++n) {
        const auto [port, target] = announcements_.front();
        announcements_.pop_front();
        if (const Interface* itf = interface_of(port)) send_unsolicited_na(*itf, target);
    }
}

bcache::HoaEntry HomeAgent::entry_from_record(const store::HoaRecord& r, std::uint64_t now_ms,
                                              std::uint64_t now_unix_ms, bool& complete) const {
    // A deadline read back is moved onto this clock; what is already past is dropped.
    auto steady = [&](std::uint64_t unix_ms) -> std::optional<std::uint64_t> {
        if (unix_ms <= now_unix_ms) return std::nullopt;
        return now_ms + (unix_ms - now_unix_ms);
    };
    bcache::HoaEntry e;
    e.home_address = r.home_address;
    e.mn_id = r.mn_id;
    e.mobile_router = r.mobile_router;
    e.link_local_compat = r.link_local_compat;
    e.last_sequence = r.last_sequence;
    e.network_prefixes = r.network_prefixes;
    for (const auto& b : r.bindings) {
        auto expiry = steady(b.expiry_unix_ms);
        if (!expiry) continue;
        bcache::Binding binding;
        binding.bid = b.bid;
        binding.mcoa = b.mcoa;
        binding.at_home = b.at_home;
        binding.care_of = b.care_of;
        binding.ha_address = b.ha_address;
        binding.sequence = b.sequence;
        binding.expiry_ms = *expiry;
        e.bindings.push_back(binding);
    }
    for (const auto& f : r.flows) {
        auto expiry = steady(f.expiry_unix_ms);
        if (!expiry) continue;
        bcache::FlowBinding flow{f.fid, f.priority, {}, f.selector, *expiry, 0};
        for (auto bid : f.bids)
            if (e.find_binding(bid)) flow.bids.push_back(bid);
        if (!flow.bids.empty()) e.flows.push_back(std::move(flow));
    }
    complete = e.bindings.size() == r.bindings.size() && e.flows.size() == r.flows.size();
    return e;
}

// ESP: an outbound SA resumes after the stored reservation (nothing sent before lies beyond
// it); an inbound window starts above the stored mark.
void HomeAgent::apply_esp_mark(const store::EspMarks& m) {
    esp::SaDatabase* sas = security_->sa_database();
    esp::SaState* sa =
        sas ? sas->find(m.spi, m.outbound ? esp::Direction::Outbound : esp::Direction::Inbound)
            : nullptr;
    if (!sa) return;  // an SA no longer configured
    if (m.outbound) {
        sa->resume_after(std::max(sa->last_sent_sequence(), m.mark));
    } else if (m.mark > sa->replay_window().highest()) {
        sa->replay_window().resume_after(m.mark);
        inbound_marks_[m.spi] = m.mark;
    }
}

HomeAgent::RestoreReport HomeAgent::restore(const store::StoredState& state, std::uint64_t now_ms,
                                            std::uint64_t now_unix_ms) {
    const auto started = std::chrono::steady_clock::now();
    now_ms_ = now_ms;
    RestoreReport report;
    // ESP: every mark, then outbound SAs may send only once a new block is durable.
    for (const auto& m : state.esp) apply_esp_mark(m);
    if (esp::SaDatabase* sas = security_->sa_database(); sas && store_)
        sas->for_each([&](esp::SaState& sa) {
            if (sa.direction() != esp::Direction::Outbound) return;
            sa.set_reserved_until(sa.last_sent_sequence());
            reserve_sequences(sa);
        });
    std::vector<HomeAddress> restored;
    restored.reserve(state.hoas.size());
    std::vector<HomeAddress> gone;
    for (const auto& r : state.hoas) {
        bool complete = true;
        bcache::HoaEntry e = entry_from_record(r, now_ms, now_unix_ms, complete);
        if (!complete) gone.push_back(r.home_address);  // the store learns what expired
        const std::size_t bindings = e.bindings.size(), flows = e.flows.size();
        if (bindings == 0 || !cache_.restore(std::move(e), now_ms)) {
            ++report.expired;
            continue;
        }
        ++report.home_addresses;
        report.bindings += bindings;
        report.flows += flows;
        restored.push_back(r.home_address);
    }
    // Published all at once (the workers do not run yet); the home link hears the
    // unsolicited NAs a slice per iteration.
    defer_announcements_ = true;
    republish(restored, now_ms);
    defer_announcements_ = false;
    report.took_us =
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::steady_clock::now() - started)
                                       .count());
    restore_report_ = report;
    if (store_) persist(gone);
    return report;
}

void HomeAgent::apply_changes(std::vector<store::Change>& changes, std::uint64_t now_ms,
                              std::uint64_t now_unix_ms) {
    now_ms_ = now_ms;
    std::vector<HomeAddress> changed;
    changed.reserve(changes.size());
    for (auto& c : changes) {
        switch (c.kind) {
            case store::Change::Kind::PutHoa: {
                bool complete = true;
                cache_.replicate(entry_from_record(c.record, now_ms, now_unix_ms, complete),
                                 now_ms);
                changed.push_back(c.record.home_address);
                break;
            }
            case store::Change::Kind::RemoveHoa: {
                bcache::HoaEntry none;
                none.home_address = c.home_address;
                cache_.replicate(std::move(none), now_ms);
                changed.push_back(c.home_address);
                break;
            }
            case store::Change::Kind::PutEsp:
                apply_esp_mark(c.marks);
                break;
        }
    }
    counters_.replicated_changes += changes.size();
    republish(changed, now_ms);  // warm: the data plane holds what the leader forwards by
}

void HomeAgent::take_over(std::uint64_t now_ms) {
    if (serving_) return;
    serving_ = true;
    dataplane_.set_serving(true);
    ++counters_.takeovers;
    now_ms_ = now_ms;
    // Nothing beyond a durable reservation is sent: fresh blocks past the leader's marks.
    if (esp::SaDatabase* sas = security_->sa_database(); sas && store_)
        sas->for_each([&](esp::SaState& sa) {
            if (sa.direction() != esp::Direction::Outbound) return;
            sa.set_reserved_until(sa.last_sent_sequence());
            reserve_sequences(sa);
        });
    // Neighbours still point at the old leader's MAC: our own addresses at once (Override),
    // the proxied home addresses a slice per iteration (continue_takeover).
    for (const auto& itf : settings_.interfaces) {
        send_unsolicited_na(itf, link_local_from_mac(itf.mac));
        for (const auto& a : itf.addresses) send_unsolicited_na(itf, a.address);
    }
    takeover_sweep_ = true;
    takeover_after_.reset();
    // A standby resolved no neighbour (an NS is a frame): every snapshot is built again, a
    // slice per iteration, and a path whose next hop is unknown asks for it now.
    republish_all(now_ms);
    log_event("redundancy: this gateway serves now (takeover); " +
              std::to_string(cache_.hoa_count()) + " home addresses held");
}

void HomeAgent::continue_takeover() {
    for (std::size_t n = 0; n < settings_.budget.republish; ++n) {
        const bcache::HoaEntry* next =
            cache_.next_after(takeover_after_ ? &*takeover_after_ : nullptr);
        if (!next) {
            takeover_sweep_ = false;
            return;
        }
        takeover_after_ = next->home_address;
        const Interface* home = home_interface_for(next->home_address);
        if (!home) continue;
        if (proxied_.count(next->home_address)) send_unsolicited_na(*home, next->home_address);
        const Ipv6Address ll = mobile_link_local(next->home_address);
        auto proxied_ll = proxied_link_local_.find(ll);
        if (proxied_ll != proxied_link_local_.end() && proxied_ll->second == next->home_address)
            send_unsolicited_na(*home, ll);
    }
}

void HomeAgent::become_standby() {
    if (!serving_) return;
    serving_ = false;
    dataplane_.set_serving(false);
    // What was held for a batch is not the group's now: it never leaves.
    counters_.binding_acks_withheld += held_acks_.size();
    held_acks_.clear();
    announcements_.clear();
    takeover_sweep_ = false;
    log_event("redundancy: this gateway is a silent standby");
}

}  // namespace monami::ha
