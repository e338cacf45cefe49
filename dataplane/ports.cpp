// dp::Runtime's ports: probing the device, its queues (one pair per worker, and a signalling
// queue when rte_flow can steer signalling there, flow_steering.hpp), RSS, MTU, MAC,
// promiscuous mode, start; the signalling rules that follow our addresses.
#include "dataplane/runtime.hpp"

#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ether.h>

#include <cinttypes>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/log.hpp"

namespace monami::dp {

namespace {

std::string device_name(const std::string& device) {
    return device.substr(0, device.find(','));
}

// Keeps RSS off the signalling queue: the redirection table lists the workers' queues only.
std::optional<std::string> keep_rss_off_queue(PortId pid, std::uint16_t workers) {
    rte_eth_conf conf{};
    if (rte_eth_dev_conf_get(pid, &conf) != 0 || conf.rxmode.mq_mode != RTE_ETH_MQ_RX_RSS)
        return std::nullopt;
    rte_eth_dev_info info{};
    rte_eth_dev_info_get(pid, &info);
    if (info.reta_size == 0) return "RSS without a redirection table would use the queue";
    std::vector<rte_eth_rss_reta_entry64> reta((info.reta_size + RTE_ETH_RETA_GROUP_SIZE - 1) /
                                               RTE_ETH_RETA_GROUP_SIZE);
    for (unsigned i = 0; i < info.reta_size; ++i) {
        reta[i / RTE_ETH_RETA_GROUP_SIZE].mask |= 1ull << (i % RTE_ETH_RETA_GROUP_SIZE);
        reta[i / RTE_ETH_RETA_GROUP_SIZE].reta[i % RTE_ETH_RETA_GROUP_SIZE] =
            static_cast<std::uint16_t>(i % workers);
    }
    if (int rc = rte_eth_dev_rss_reta_update(pid, reta.data(), info.reta_size); rc != 0)
        return std::string("RSS redirection table: ") + rte_strerror(-rc);
    return std::nullopt;
}

}  // namespace

bool Runtime::configure_queues(PortId pid, const std::string& name, std::uint16_t rx_queues,
                               std::uint16_t tx_queues, std::string& error) {
    rte_eth_dev_info info{};
    if (int rc = rte_eth_dev_info_get(pid, &info); rc != 0) {
        error = "port '" + name + "': cannot read device info: " + rte_strerror(-rc);
        return false;
    }
    rte_eth_conf conf{};
    // RSS spreads data over the workers' queues only (a signalling queue is the last one and
    // is left out of the redirection table, see init_port).
    if (workers_.size() > 1 && info.flow_type_rss_offloads != 0) {
        conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
        conf.rx_adv_conf.rss_conf.rss_hf = RTE_ETH_RSS_IP & info.flow_type_rss_offloads;
        if (conf.rx_adv_conf.rss_conf.rss_hf != RTE_ETH_RSS_IP)
            MONAMI_LOG(INFO, dp,
                       "port %s: RSS hash fields 0x%" PRIx64 " of 0x%" PRIx64 " requested",
                       name.c_str(), conf.rx_adv_conf.rss_conf.rss_hf,
                       static_cast<std::uint64_t>(RTE_ETH_RSS_IP));
    }
    if (int rc = rte_eth_dev_configure(pid, rx_queues, tx_queues, &conf); rc != 0) {
        error = "port '" + name + "': configure failed: " + rte_strerror(-rc);
        return false;
    }
    std::uint16_t rxd = rx_descriptors_, txd = tx_descriptors_;
    rte_eth_dev_adjust_nb_rx_tx_desc(pid, &rxd, &txd);
    int socket = rte_eth_dev_socket_id(pid);
    if (socket < 0) socket = static_cast<int>(rte_socket_id());
    for (std::uint16_t q = 0; q < rx_queues; ++q) {
        if (int rc = rte_eth_rx_queue_setup(pid, q, rxd, static_cast<unsigned>(socket),
                                            &info.default_rxconf, pool_);
            rc != 0) {
            error = "port '" + name + "': RX queue setup failed: " + rte_strerror(-rc);
            return false;
        }
    }
    for (std::uint16_t q = 0; q < tx_queues; ++q) {
        if (int rc = rte_eth_tx_queue_setup(pid, q, txd, static_cast<unsigned>(socket),
                                            &info.default_txconf);
            rc != 0) {
            error = "port '" + name + "': TX queue setup failed: " + rte_strerror(-rc);
            return false;
        }
    }
    return true;
}

bool Runtime::init_port(const PortSpec& spec, bool steer_signalling, std::string& error) {
    std::string name = device_name(spec.device);
    PortId pid = 0;
    if (rte_eth_dev_get_port_by_name(name.c_str(), &pid) != 0) {
        int rc = rte_dev_probe(spec.device.c_str());
        if (rc < 0) {
            error = "port '" + spec.name + "': cannot probe device '" + spec.device +
                    "': " + rte_strerror(-rc);
            return false;
        }
        if (rte_eth_dev_get_port_by_name(name.c_str(), &pid) != 0) {
            error = "port '" + spec.name + "': device '" + name + "' is not an ethdev";
            return false;
        }
    }
    rte_eth_dev_info info{};
    if (int rc = rte_eth_dev_info_get(pid, &info); rc != 0) {
        error = "port '" + spec.name + "': cannot read device info: " + rte_strerror(-rc);
        return false;
    }
    auto queues = static_cast<std::uint16_t>(workers_.size());
    if (info.max_rx_queues < queues || info.max_tx_queues < queues) {
        error = "port '" + spec.name + "': device offers " + std::to_string(info.max_rx_queues) +
                " RX / " + std::to_string(info.max_tx_queues) + " TX queues, " +
                std::to_string(queues) + " workers need one of each";
        return false;
    }
    // A signalling queue is one more queue pair (some drivers, net_tap among them, want as
    // many TX as RX queues; the extra TX queue stays unused).
    std::string steering;
    bool with_signalling_queue = false;
    if (!steer_signalling) {
        steering = "software (dataplane.signalling_steering: software)";
    } else if (info.max_rx_queues <= queues || info.max_tx_queues <= queues) {
        steering = "software (the device has " + std::to_string(info.max_rx_queues) +
                   " RX queue(s): no spare one for signalling)";
    } else {
        with_signalling_queue = true;
    }
    if (with_signalling_queue) {
        // The extra queue takes its own RX descriptors' worth of mbufs from the pool.
        auto pairs = static_cast<std::uint16_t>(queues + 1);
        std::string why_not;
        if (!configure_queues(pid, spec.name, pairs, pairs, why_not)) {
            with_signalling_queue = false;
            steering = "software (" + why_not + ")";
        }
    }
    if (!with_signalling_queue && !configure_queues(pid, spec.name, queues, queues, error))
        return false;
    if (int rc = rte_eth_dev_set_mtu(pid, spec.mtu); rc != 0)
        MONAMI_LOG(WARNING, dp, "port %s: MTU %u not applied: %s", spec.name.c_str(), spec.mtu,
                   rte_strerror(-rc));
    MacAddress mac;
    if (spec.mac) {
        rte_ether_addr e;
        std::memcpy(e.addr_bytes, spec.mac->bytes.data(), 6);
        if (int rc = rte_eth_dev_default_mac_addr_set(pid, &e); rc != 0)
            MONAMI_LOG(INFO, dp, "port %s: device keeps its MAC (%s); promiscuous mode receives %s",
                       spec.name.c_str(), rte_strerror(-rc), spec.mac->to_string().c_str());
        mac = *spec.mac;
    } else {
        rte_ether_addr e;
        rte_eth_macaddr_get(pid, &e);
        mac = MacAddress::from_bytes(e.addr_bytes);
    }
    // Proxy ND and a configured MAC both need frames the device filter would drop.
    if (int rc = rte_eth_promiscuous_enable(pid); rc != 0 && rc != -ENOTSUP)
        MONAMI_LOG(WARNING, dp, "port %s: promiscuous mode: %s", spec.name.c_str(),
                   rte_strerror(-rc));
    if (int rc = rte_eth_dev_start(pid); rc != 0) {
        error = "port '" + spec.name + "': start failed: " + rte_strerror(-rc);
        return false;
    }
    int signalling_queue = -1;
    if (with_signalling_queue) {
        auto why_not = signalling_steering_unavailable(pid, queues);
        if (!why_not) why_not = keep_rss_off_queue(pid, queues);
        if (why_not) {
            // Back to one queue pair per worker, so that no data waits in a queue nobody polls.
            steering = "software (" + *why_not + ")";
            rte_eth_dev_stop(pid);
            if (!configure_queues(pid, spec.name, queues, queues, error)) return false;
            if (int rc = rte_eth_dev_start(pid); rc != 0) {
                error = "port '" + spec.name + "': start failed: " + rte_strerror(-rc);
                return false;
            }
        } else {
            signalling_queue = queues;
            steering = "rte_flow to RX queue " + std::to_string(queues) + ", and software";
        }
    }
    port_mac_[pid] = mac;
    std::memcpy(port_ether_[pid].addr_bytes, mac.bytes.data(), 6);
    port_mac_word_[pid] = 0;
    for (unsigned i = 0; i < 6; ++i) port_mac_word_[pid] |= std::uint64_t{mac.bytes[i]} << (8 * i);
    ports_.push_back({spec.name, spec.device, pid, mac, signalling_queue, steering, {}});
    MONAMI_LOG(INFO, dp, "port %s: %s as port %u, mac %s, %u queue pair(s); signalling: %s",
               spec.name.c_str(), spec.device.c_str(), pid, mac.to_string().c_str(), queues,
               steering.c_str());
    return true;
}

// The rules follow our addresses. Old rules go before new ones are made (some drivers refuse
// a duplicate): meanwhile signalling reaches the workers and is punted by software.
void Runtime::update_signalling_rules(const std::vector<Ipv6Address>& local_addresses) {
    if (local_addresses == steered_addresses_) return;
    steered_addresses_ = local_addresses;
    for (auto& port : ports_) {
        if (port.signalling_queue < 0) continue;
        remove_signalling_rules(port.id, port.steering_flows);
        auto flows = install_signalling_rules(port.id, local_addresses,
                                              static_cast<std::uint16_t>(port.signalling_queue));
        if (flows) {
            port.steering_flows = std::move(flows.value());
        } else {
            MONAMI_LOG(WARNING, dp,
                       "port %s: signalling rules not installed (%s); the software classifier "
                       "punts signalling meanwhile",
                       port.name.c_str(), flows.error().c_str());
        }
        signalling_rules_[port.id].store(port.steering_flows.size(), std::memory_order_relaxed);
    }
}

const char* Runtime::classifier_in_use() const {
    for (const auto& p : ports_)
        if (p.signalling_queue >= 0) return "rte_flow+software";
    return "software";
}

SignallingQueueCounters Runtime::signalling_queue_counters(PortId port) const {
    return {signalling_received_[port].load(std::memory_order_relaxed),
            signalling_strays_[port].load(std::memory_order_relaxed),
            signalling_rules_[port].load(std::memory_order_relaxed)};
}

}  // namespace monami::dp
