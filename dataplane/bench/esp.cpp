// monami-bench's ESP phase: Binding Updates inside ESP through a HomeAgent of its own.
#include "dataplane/bench/bench.hpp"

#include <rte_cycles.h>
#include <rte_ring.h>

#include <algorithm>
#include <cstdio>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "controlplane/esp/transport.hpp"
#include "controlplane/mh/exthdr.hpp"
#include "controlplane/mh/parser.hpp"
#include "controlplane/net/packet.hpp"
#include "dataplane/bench/plan.hpp"

namespace monami::bench {

// Binding Updates inside ESP (AES-GCM-128, RFC 4877) through a HomeAgent with security mode
// esp: one inbound and one outbound SA per HoA. The mobile nodes' side (an EspEndpoint
// with the mirror SAs) seals the BUs beforehand: sealing is the MN's cost. Timed as
// provisioning: on_frame (open, parse, binding cache, snapshot, publish, BA built and
// sealed) + reclaim. Each BU comes from its own CoA, so the per-source rate limit
// (security.control_rate_limit, 1000/s with a burst of 100) lets all of them in.
void Bench::esp_updates() {
    const std::uint32_t n = esp_hoas_;
    ha::HaSettings s = settings_;
    s.security.esp_required = true;
    s.bindings.max_bindings = std::size_t{n} * opt_.coas + 64;
    s.max_paths = esp_paths_;
    auto sa = [&](std::uint32_t j, bool to_home_agent, bool mobile_node_side) {
        esp::SecurityAssociation a;
        a.spi = bench::esp_spi(j, to_home_agent);
        // The gateway receives the BU direction; the mobile node sends it.
        a.dir = (to_home_agent != mobile_node_side) ? esp::Direction::Inbound
                                                    : esp::Direction::Outbound;
        // The gateway's selector is the HoA, the mobile node's the HA address (RFC 3776).
        a.home_address =
            mobile_node_side ? plan_.ha_address : Plan::home_address(esp_first_hoa_ + j);
        a.alg = esp::Algorithm::AesGcm128;
        a.key = bench::esp_key(j, to_home_agent);
        return a;
    };
    for (std::uint32_t j = 0; j < n; ++j) {
        s.security.sas.push_back(sa(j, true, false));
        s.security.sas.push_back(sa(j, false, false));
    }

    // Mobile node side: BUs sealed one SA at a time (an endpoint has one outbound SA per
    // selector); BAs opened with every inbound SA.
    auto sealer = esp::EspEndpoint::create();
    auto opener = esp::EspEndpoint::create();
    if (!sealer || !opener) {
        failures_.push_back("esp: the crypto library did not start");
        return;
    }
    std::vector<std::vector<std::uint8_t>> frames(n);
    for (std::uint32_t j = 0; j < n; ++j) {
        bench::Registration r;
        r.hoa = esp_first_hoa_ + j;
        r.coas = opt_.coas;
        auto plain = bench::build_bu_frame(plan_, r);
        auto out = sa(j, true, true);
        if (!sealer->sas().add(out).ok() || !opener->sas().add(sa(j, false, true)).ok()) {
            failures_.push_back("esp: the mobile node's SAs were refused");
            return;
        }
        auto sealed = sealer->protect(std::span(plain).subspan(net::kEthernetHeaderSize));
        sealer->sas().remove(out.spi, out.dir);
        if (!sealed.ok()) {
            failures_.push_back("esp: the mobile node could not seal its BU");
            return;
        }
        frames[j].assign(plain.begin(), plain.begin() + net::kEthernetHeaderSize);
        frames[j].insert(frames[j].end(), sealed->begin(), sealed->end());
    }

    SideDataPlane side(*rt_, esp_slot_offset_);
    std::uint64_t sealed_acks = 0;
    std::vector<std::vector<std::uint8_t>> samples;
    const std::uint64_t sample_every = std::max<std::uint32_t>(1, n / 256);
    side.on_send = [&](PortId port, std::span<const std::uint8_t> frame) {
        // A BA to a mobile node away from home inside ESP: IPv6, type 2 routing header, ESP.
        const std::size_t ip = net::kEthernetHeaderSize;
        if (port != ports_[1] || frame.size() < ip + 40 + 24 + 8 ||
            frame[ip + 6] != net::kProtoRouting || frame[ip + 40] != 50)
            return;
        if (sealed_acks++ % sample_every == 0) samples.emplace_back(frame.begin(), frame.end());
    };
    ha::HomeAgent agent(std::move(s), side);
    if (!agent.security_error().empty()) {
        failures_.push_back("esp: " + agent.security_error());
        return;
    }
    agent.start(now_ms());
    // start() publishes the routing state again: the previous one is freed here, untimed.
    rt_->reclaim();

    constexpr unsigned kChunk = 256;  // as provisioning: the BAs of a chunk fit the ring
    dp::WorkerCtx& w = rt_->worker(0);
    Mark m0 = mark();
    std::uint64_t esp_collected0 = collector_.esp_signalling;
    std::uint64_t control_cycles = 0;
    unsigned fed = 0;
    for (std::uint32_t first = 0; first < n; first += kChunk) {
        unsigned count = std::min<std::uint32_t>(kChunk, n - first);
        std::uint64_t now = now_ms();
        std::uint64_t t0 = rte_rdtsc();
        for (unsigned j = 0; j < count; ++j) feed_agent(agent, fed, frames[first + j], now);
        rt_->reclaim();
        control_cycles += rte_rdtsc() - t0;
        while (rte_ring_count(w.control_tx) != 0) rt_->worker_iteration(w);
        collect();
        progress("esp", first + count, n,
                 (first + count) / (static_cast<double>(control_cycles) / tsc_hz_), "BU/s");
    }
    agent.on_tick(now_ms());
    flush();
    end_progress();
    Mark m1 = mark();
    check_counts("esp", m0, m1, 1);

    // The mobile nodes open a sample of the BAs: status 0 (accepted) for their sequence.
    std::uint64_t accepted = 0;
    for (const auto& frame : samples) {
        auto opened = opener->unprotect(std::span(frame).subspan(net::kEthernetHeaderSize));
        if (!opened.ok()) continue;
        auto chain = mh::walk_ipv6_headers(*opened);
        if (!chain.ok() || chain->upper_layer_protocol != net::kProtoMobility) continue;
        auto parsed = mh::parse_mh(chain->upper_layer(*opened), chain->checksum_source(),
                                   chain->checksum_destination());
        if (!parsed.ok()) continue;
        const auto* ba = std::get_if<mh::BindingAck>(&parsed->message);
        if (ba && ba->status == 0 && ba->sequence == 1) ++accepted;
    }
    bu_per_second_esp_ = control_cycles ? n / (static_cast<double>(control_cycles) / tsc_hz_) : 0;
    esp_updates_ = n;
    esp_acks_ = sealed_acks;
    esp_sampled_ = samples.size();
    esp_sample_accepted_ = accepted;
    const auto& c = agent.counters();
    if (sealed_acks != n || collector_.esp_signalling - esp_collected0 != n || c.esp_opened != n ||
        c.binding_acks_sent != n)
        failures_.push_back(
            "esp: of " + std::to_string(n) + " BUs in ESP, " + std::to_string(c.esp_opened) +
            " opened, " + std::to_string(c.binding_acks_sent) + " BAs sent, " +
            std::to_string(sealed_acks) + " in ESP, " +
            std::to_string(collector_.esp_signalling - esp_collected0) + " collected");
    if (accepted != samples.size() || samples.empty())
        failures_.push_back("esp: " + std::to_string(accepted) + " of " +
                            std::to_string(samples.size()) +
                            " sampled BAs opened by the mobile node with status 0");
    std::fprintf(
        stderr, "[esp] %.0f BU/s (AES-GCM-128), %lu BAs in ESP, %lu/%lu sampled accepted\n",
        bu_per_second_esp_, sealed_acks, accepted, static_cast<std::uint64_t>(samples.size()));
}

}  // namespace monami::bench
