#include "dataplane/bench/plan.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "controlplane/mh/exthdr.hpp"
#include "controlplane/net/packet.hpp"

namespace monami::bench {

std::vector<std::uint8_t> build_bu_frame(const Plan& plan, const Registration& r) {
    mh::BindingUpdate bu;
    bu.sequence = r.sequence;
    bu.ack_requested = true;
    bu.home_registration = true;
    bu.lifetime_4s = 900;  // one hour
    Ipv6Address source;
    if (r.handover) {
        source = r.handover_coa;
    } else {
        for (unsigned k = 0; k < r.coas; ++k) {
            mh::BindingIdentifier id;
            id.bid = static_cast<std::uint16_t>(k + 1);
            id.care_of_v6 = Plan::care_of(r.hoa, k, r.generation);
            bu.options.binding_ids.push_back(id);
        }
        source = Plan::care_of(r.hoa, 0, r.generation);
    }
    if (r.ncast_flow && r.coas >= 2) {
        mh::FlowIdentification flow;
        flow.fid = 1;
        flow.priority = 1;
        flow.bid_references = {1, 2};
        mh::TrafficSelectorV6 ts;
        ts.next_header = mh::Range<std::uint8_t>{17, 17};
        ts.destination_port = mh::Range<std::uint16_t>{kNcastPort, kNcastPort};
        flow.traffic_selector = ts;
        bu.options.flows.push_back(flow);
    }
    auto ip = mh::build_bu_packet(bu, source, plan.ha_address, Plan::home_address(r.hoa));
    std::vector<std::uint8_t> frame(net::kEthernetHeaderSize + ip.size());
    net::write_ethernet_header(frame.data(), plan.access_mac, plan.access_router_mac);
    std::copy(ip.begin(), ip.end(), frame.begin() + net::kEthernetHeaderSize);
    return frame;
}

std::vector<std::uint8_t> build_heartbeat_response_frame(const Plan& plan,
                                                         const Ipv6Address& care_of,
                                                         std::uint32_t sequence) {
    mh::Heartbeat response;
    response.response = true;
    response.sequence = sequence;
    auto ip = mh::build_ipv6_mh_packet(response, {care_of, plan.ha_address, {}, {}, 64});
    std::vector<std::uint8_t> frame(net::kEthernetHeaderSize + ip.size());
    net::write_ethernet_header(frame.data(), plan.access_mac, plan.access_router_mac);
    std::copy(ip.begin(), ip.end(), frame.begin() + net::kEthernetHeaderSize);
    return frame;
}

std::vector<std::uint8_t> esp_key(std::uint32_t j, bool to_home_agent) {
    std::vector<std::uint8_t> key(20);
    std::mt19937 rng(j * 2 + (to_home_agent ? 0 : 1));
    for (auto& b : key) b = static_cast<std::uint8_t>(rng());
    return key;
}

std::vector<std::uint16_t> imix_sizes() {
    // 7 x 64, 4 x 594, 1 x 1514, interleaved so that every burst sees the mix.
    return {64, 594, 64, 64, 594, 64, 1514, 64, 594, 64, 64, 594};
}

const char* to_string(Distribution d) {
    return d == Distribution::Zipf ? "zipf" : "uniform";
}

std::vector<std::uint32_t> destination_sequence(Distribution d, std::uint32_t first,
                                                std::uint32_t count, std::size_t length,
                                                double zipf_s, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::vector<std::uint32_t> out(length);
    if (count == 0) return {};
    if (d == Distribution::Uniform) {
        std::uniform_int_distribution<std::uint32_t> pick(0, count - 1);
        for (auto& x : out) x = first + pick(rng);
        return out;
    }
    // Zipf: rank r (1-based) has weight 1/r^s; ranks are mapped to HoAs by a permutation.
    std::vector<double> cdf(count);
    double sum = 0;
    for (std::uint32_t r = 0; r < count; ++r) {
        sum += 1.0 / std::pow(static_cast<double>(r + 1), zipf_s);
        cdf[r] = sum;
    }
    std::vector<std::uint32_t> permutation(count);
    std::iota(permutation.begin(), permutation.end(), 0u);
    std::shuffle(permutation.begin(), permutation.end(), rng);
    std::uniform_real_distribution<double> u(0.0, sum);
    for (auto& x : out) {
        auto rank = static_cast<std::uint32_t>(std::lower_bound(cdf.begin(), cdf.end(), u(rng)) -
                                               cdf.begin());
        x = first + permutation[std::min(rank, count - 1)];
    }
    return out;
}

}  // namespace monami::bench
