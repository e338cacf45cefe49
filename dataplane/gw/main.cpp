// monami-gw [EAL args] -- --config FILE [--check-config] [--discard-state] [--stop-when-idle MS]
// The Home Agent gateway: EAL and ports from the YAML config, workers on the non-main
// lcores, the control thread (this one) on the main lcore. SIGHUP reloads the configuration
// (what can change live, dataplane/gw/reload.hpp).
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_pdump.h>

#include <unistd.h>
#include <any>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "config/load.hpp"
#include "controlplane/ha/home_agent.hpp"
#include "controlplane/ha/queries.hpp"
#include "controlplane/store/etcd/etcd_store.hpp"
#include "dataplane/api/control_query.hpp"
#include "dataplane/gw/loop_health.hpp"
#include "dataplane/gw/metrics_server.hpp"
#include "dataplane/gw/reload.hpp"
#include "dataplane/gw/service.hpp"
#include "dataplane/gw/settings.hpp"
#include "dataplane/log.hpp"
#include "dataplane/metrics.hpp"
#include "dataplane/runtime.hpp"
#include "dataplane/telemetry.hpp"

using namespace monami;

namespace {

std::atomic<bool> g_quit{false};
std::atomic<bool> g_reload{false};

void on_signal(int) {
    g_quit.store(true);
}

// SIGHUP: the control thread reloads the configuration (dataplane/gw/reload.hpp).
void on_hangup(int) {
    g_reload.store(true);
}

struct Options {
    std::string config_path;
    bool check_config = false;
    bool discard_state = false;
    std::optional<std::uint64_t> stop_when_idle_ms;
};

void usage(const char* prog) {
    std::fprintf(stderr,
                 "usage: %s [EAL options] -- --config FILE [--check-config] "
                 "[--discard-state] [--stop-when-idle MS]\n"
                 "  --config FILE         YAML configuration (docs/config.md)\n"
                 "  --check-config        validate the configuration and exit (0 = valid)\n"
                 "  --discard-state       start with an empty binding store (state.path)\n"
                 "  --stop-when-idle MS   exit after MS ms without a received packet\n",
                 prog);
}

// Application options are those after "--"; without "--" every argument is ours
// (so `monami-gw --config f --check-config` works without EAL arguments).
std::optional<Options> parse_options(int argc, char** argv, int first) {
    Options o;
    for (int i = first; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        if (a == "--config") {
            const char* v = value();
            if (!v) return std::nullopt;
            o.config_path = v;
        } else if (a == "--check-config") {
            o.check_config = true;
        } else if (a == "--discard-state") {
            o.discard_state = true;
        } else if (a == "--stop-when-idle") {
            const char* v = value();
            char* end = nullptr;
            if (!v) return std::nullopt;
            unsigned long long ms = std::strtoull(v, &end, 10);
            if (*end != '\0') return std::nullopt;
            o.stop_when_idle_ms = ms;
        } else {
            std::fprintf(stderr, "monami-gw: unknown option '%s'\n", a.c_str());
            return std::nullopt;
        }
    }
    if (o.config_path.empty()) {
        std::fprintf(stderr, "monami-gw: --config FILE is required\n");
        return std::nullopt;
    }
    return o;
}

std::uint64_t unix_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
}

std::uint64_t now_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

// Wall-clock time with milliseconds, for log lines a person reads next to other logs.
std::string wall_clock() {
    auto now = std::chrono::system_clock::now();
    std::time_t t = std::chrono::system_clock::to_time_t(now);
    auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%H:%M:%S", &tm);
    return std::string(buf) + "." + std::to_string(1000 + ms).substr(1);
}

// Port link state feeds failure detection: a path whose egress port is down is Dead.
constexpr std::uint64_t kLinkPollMs = 10;
// A standby that can no longer follow its pair stops with EX_TEMPFAIL: the service manager
// starts it again (docs/deploy.md) and the start reads the pair's state afresh.
constexpr int kExitCannotFollow = 75;

void poll_port_links(const dp::Runtime& rt, ha::HomeAgent& agent, std::uint64_t now) {
    for (const auto& port : rt.ports()) {
        rte_eth_link link{};
        if (rte_eth_link_get_nowait(port.id, &link) != 0) continue;
        agent.on_port_link(port.id, link.link_status == RTE_ETH_LINK_UP, now);
    }
}

void print_final_stats(const dp::Runtime& rt, const ha::HomeAgent& agent,
                       const dp::LoopHealth& loop) {
    dp::WorkerCounters t = rt.totals();
    std::printf("monami-gw: final statistics\n");
    std::printf("  rx_packets %lu rx_bytes %lu tx_packets %lu tx_bytes %lu\n", t.rx_packets,
                t.rx_bytes, t.tx_packets, t.tx_bytes);
    std::printf("  forwarded %lu punted %lu control_tx %lu encapsulated %lu decapsulated %lu\n",
                t.forwarded, t.punted, t.control_tx, t.encapsulated, t.decapsulated);
    std::printf("  drops:");
    for (std::size_t r = 0; r < dp::kDropReasonCount; ++r)
        std::printf(" %s=%lu", std::string(dp::kDropReasonNames[r]).c_str(), t.drops[r]);
    std::printf("\n");
    std::printf("  control:");
    for (const auto& [name, value] : agent.counter_items())
        std::printf(" %s=%lu", name.c_str(), value);
    std::printf("\n");
    std::printf("  control loop: %s\n", loop.summary_line().c_str());
    std::fflush(stdout);
}

// The STATUS= line `systemctl status` shows: what the gateway is doing now.
std::string service_status(const dp::Runtime& rt, const ha::HomeAgent& agent,
                           const store::BindingStore* binding_store, bool replicated) {
    std::string s = agent.serving() ? "serving" : "standby: silent, following the pair";
    if (replicated) {
        const auto st = binding_store->stats();
        s += agent.serving() ? " as the leader of " + st.location
                             : " (leader: " + (st.leader.empty() ? "none" : st.leader) + ")";
    }
    return s + "; " + std::to_string(rt.ports().size()) + " port(s), " +
           std::to_string(rt.worker_count()) + " worker(s)";
}

}  // namespace

// A gateway of a redundant pair: the leader's changes into the cache, and the role etcd
// gives it (serving as leader, silent as standby). False when it can no longer follow.
bool follow_leadership(store::BindingStore& binding_store, ha::HomeAgent& agent,
                       std::uint64_t now) {
    if (std::string why = binding_store.cannot_follow(); !why.empty()) {
        if (agent.serving()) agent.become_standby();
        MONAMI_LOG(ERR, gw,
                   "redundancy: this gateway can no longer follow the pair (%s); stopping, "
                   "exit status %d: started again, it reads the pair's bindings afresh",
                   why.c_str(), kExitCannotFollow);
        return false;
    }
    auto changes = binding_store.take_changes();
    if (!changes.empty()) agent.apply_changes(changes, now, unix_ms());
    const store::Role role = binding_store.role();
    if (role == store::Role::Leader && !agent.serving()) {
        agent.take_over(now);
        MONAMI_LOG(NOTICE, gw, "redundancy: leader of %s; serving",
                   binding_store.stats().location.c_str());
    } else if (role == store::Role::Standby && agent.serving()) {
        agent.become_standby();
        const auto s = binding_store.stats();
        MONAMI_LOG(WARNING, gw, "redundancy: not the leader (leader: %s%s%s); silent",
                   s.leader.empty() ? "none" : s.leader.c_str(), s.last_error.empty() ? "" : "; ",
                   s.last_error.c_str());
    }
    return true;
}

int main(int argc, char** argv) {
    int dashdash = -1;
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--") == 0) {
            dashdash = i;
            break;
        }
    int app_first = dashdash >= 0 ? dashdash + 1 : 1;
    auto options = parse_options(argc, argv, app_first);
    if (!options) {
        usage(argv[0]);
        return 2;
    }
    auto loaded = config::load_config_file(options->config_path);
    if (!loaded) {
        for (const auto& e : loaded.error()) std::fprintf(stderr, "%s\n", e.to_string().c_str());
        return 1;
    }
    // The configuration in force: a reload that applies replaces it (on the control thread).
    config::Config cfg = std::move(loaded.value());
    // Before anything slow: a SIGHUP while the gateway starts (the service manager's reload)
    // must not end it; it is taken once the loop runs.
    std::signal(SIGHUP, on_hangup);
    if (options->check_config) {
        std::printf("%s: configuration is valid (%zu ports, %zu routes)\n",
                    options->config_path.c_str(), cfg.ports.size(), cfg.routes.size());
        return 0;
    }
    gw::ServiceNotifier service;  // systemd's notify protocol; inert outside a Type=notify unit
    service.status("starting: binding store, EAL, ports");
    // The binding store is opened and read before anything else: a store that cannot be
    // read stops the start (never an empty cache by accident).
    std::unique_ptr<store::BindingStore> binding_store;
    store::StoredState stored;
    Result<std::unique_ptr<store::BindingStore>, std::string> opened =
        std::unique_ptr<store::BindingStore>();
    if (cfg.state.backend == config::StateBackend::lmdb) {
        store::LmdbOptions lo;
        lo.path = cfg.state.path;
        lo.durability = cfg.state.durability == config::StateDurability::sync
                            ? store::Durability::Sync
                            : store::Durability::Async;
        lo.flush_interval_ms = cfg.state.flush_interval_ms;
        lo.map_size_bytes = std::uint64_t{cfg.state.map_size_mb} << 20;
        lo.discard = options->discard_state;
        opened = store::open_lmdb_store(lo);
    } else if (cfg.state.backend == config::StateBackend::etcd) {
        if (options->discard_state) {
            std::fprintf(stderr,
                         "monami-gw: --discard-state: the etcd group's bindings are shared; "
                         "delete them with etcdctl if that is meant\n");
            return 1;
        }
        store::EtcdOptions eo;
        eo.endpoints = cfg.state.etcd.endpoints;
        eo.prefix = cfg.state.etcd.prefix;
        eo.member = cfg.state.etcd.member;
        if (eo.member.empty()) {
            char host[256] = {};
            ::gethostname(host, sizeof host - 1);
            eo.member = host;
        }
        eo.lease_ttl_s = cfg.state.etcd.lease_ttl_s;
        eo.request_timeout_ms = cfg.state.etcd.request_timeout_ms;
        eo.ca_file = cfg.state.etcd.ca_file;
        eo.cert_file = cfg.state.etcd.cert_file;
        eo.key_file = cfg.state.etcd.key_file;
        opened = store::open_etcd_store(eo);
    }
    if (!opened) {
        std::fprintf(stderr, "monami-gw: %s\n", opened.error().c_str());
        return 1;
    }
    binding_store = std::move(opened.value());
    if (binding_store) {
        auto state = binding_store->load();
        if (!state) {
            std::fprintf(stderr, "monami-gw: %s\n", state.error().c_str());
            return 1;
        }
        stored = std::move(state.value());
    } else if (options->discard_state) {
        std::fprintf(stderr, "monami-gw: --discard-state: no binding store is configured\n");
    }

    // EAL arguments: program name, the config's `eal:` list, then the command line's.
    std::vector<std::string> eal_storage{argv[0]};
    eal_storage.insert(eal_storage.end(), cfg.eal_args.begin(), cfg.eal_args.end());
    if (dashdash > 0)
        for (int i = 1; i < dashdash; ++i) eal_storage.emplace_back(argv[i]);
    std::vector<char*> eal_argv;
    for (auto& s : eal_storage) eal_argv.push_back(s.data());
    eal_argv.push_back(nullptr);
    gw::log_to_journal_if_connected();
    if (rte_eal_init(static_cast<int>(eal_storage.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "monami-gw: EAL initialisation failed: %s\n", rte_strerror(rte_errno));
        return 1;
    }
    rte_log_set_level_pattern("monami.*", static_cast<std::uint32_t>(cfg.log_level));
    if (rte_pdump_init() != 0)
        MONAMI_LOG(WARNING, gw, "packet capture (pdump) not available: %s",
                   rte_strerror(rte_errno));

    dp::RuntimeSettings rs;
    for (const auto& p : cfg.ports) rs.ports.push_back({p.name, p.device, p.mac, p.mtu});
    rs.mbufs = cfg.dataplane.mbufs;
    rs.mbuf_cache = cfg.dataplane.mbuf_cache;
    rs.rx_descriptors = cfg.dataplane.rx_descriptors;
    rs.tx_descriptors = cfg.dataplane.tx_descriptors;
    rs.control_ring = cfg.dataplane.control_ring;
    rs.max_home_addresses = cfg.home_agent.max_bindings;
    rs.max_paths = cfg.home_agent.max_bindings;
    rs.steer_signalling =
        cfg.dataplane.signalling_steering == config::SignallingSteering::automatic;
    std::string error;
    auto runtime = dp::Runtime::create(rs, error);
    if (!runtime) {
        std::fprintf(stderr, "monami-gw: %s\n", error.c_str());
        rte_eal_cleanup();
        return 1;
    }

    ha::HomeAgent agent(gw::ha_settings(cfg, *runtime), *runtime);
    agent.reserve_capacity();  // no table grows (rehashes) while the bindings register
    if (!agent.security_error().empty()) {
        std::fprintf(stderr, "monami-gw: %s\n", agent.security_error().c_str());
        runtime.reset();
        rte_eal_cleanup();
        return 1;
    }
    if (cfg.security.mode == config::SecurityMode::none && !cfg.home_agent.home_prefixes.empty())
        MONAMI_LOG(WARNING, gw,
                   "security.mode is 'none': Binding Updates are accepted without ESP and anyone "
                   "on the path can redirect a mobile node's traffic; use it in labs only");
    agent.set_event_log([](const std::string& line) {
        MONAMI_LOG(NOTICE, cp, "%s %s", wall_clock().c_str(), line.c_str());
    });
    ControlQueries queries;
    dp::register_telemetry(*runtime, queries, [path = options->config_path] {
        return std::any(gw::Reloader::read(path));
    });
    dp::LoopHealth loop(std::uint64_t{cfg.dataplane.slow_iteration_warning_us} * 1000);
    gw::Reloader reloader(options->config_path, cfg, *runtime, agent, loop);
    // Questions from telemetry, answered between two iterations (each answer is bounded).
    auto answer = [&](const Query& q, QueryReply& reply) {
        if (q.command == "/monami/reload") {
            auto* read = std::any_cast<std::shared_ptr<config::LoadResult>>(&q.payload);
            if (!read || !*read) {
                reply.status = -EINVAL;
                return;
            }
            reloader.apply(std::move(**read), "monami-ctl", now_ms());
            reloader.report(reply);
        } else if (q.command == "/monami/config") {
            reply.add("config", options->config_path);
            reply.add("ports", std::to_string(cfg.ports.size()));
            reply.add("routes", std::to_string(cfg.routes.size()));
            reply.add("security", std::string(config::to_string(cfg.security.mode)));
            reply.add("log_level", std::string(config::to_string(cfg.log_level)));
            reply.add("classifier", runtime->classifier_in_use());
            reloader.report(reply);
        } else if (q.command == "/monami/loop") {
            loop.report(
                reply,
                runtime->totals().drops[static_cast<std::size_t>(dp::DropReason::ControlRingFull)]);
        } else if (!ha::answer_query(agent, q, now_ms(), reply)) {
            reply.status = -EINVAL;
        }
    };

    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    MONAMI_LOG(INFO, gw, "started: %zu port(s), %u worker(s)%s", runtime->ports().size(),
               runtime->worker_count(), runtime->one_lcore_mode() ? " (one-lcore mode)" : "");
    // A gateway of a redundant pair starts silent; it serves once etcd makes it the leader.
    const bool replicated = binding_store && binding_store->role() != store::Role::Standalone;
    if (replicated) agent.become_standby();
    agent.start(now_ms());  // the forwarding table exists before the first packet arrives
    if (binding_store) {
        agent.attach_store(binding_store.get(),
                           cfg.state.durability == config::StateDurability::sync);
        const auto report = agent.restore(stored, now_ms(), unix_ms());
        MONAMI_LOG(NOTICE, gw,
                   "binding store %s (%s): restored %zu home addresses, %zu bindings, %zu flows "
                   "in %.1f ms; %zu expired while the gateway was down",
                   binding_store->stats().location.c_str(),
                   std::string(config::to_string(cfg.state.durability)).c_str(),
                   report.home_addresses, report.bindings, report.flows,
                   static_cast<double>(report.took_us) / 1000.0, report.expired);
        stored = {};
    }
    runtime->launch_workers();
    std::unique_ptr<dp::MetricsServer> metrics;
    if (!cfg.metrics.host.empty()) {
        std::string error;
        metrics = dp::MetricsServer::start(
            cfg.metrics.host, cfg.metrics.port,
            [&runtime, &queries] { return dp::render_metrics(*runtime, queries); }, error);
        if (!metrics) {
            MONAMI_LOG(ERR, gw, "%s", error.c_str());
            service.stopping(error);
            runtime->stop();
            runtime.reset();
            rte_eal_cleanup();
            return 1;
        }
        MONAMI_LOG(INFO, gw, "metrics: http://%s/metrics", cfg.metrics.listen.c_str());
    }
    // Ready only now: the ports are started, the workers poll them and the restored bindings
    // are in the forwarding table, so a unit ordered after this one finds a working gateway.
    service.ready(service_status(*runtime, agent, binding_store.get(), replicated));
    bool status_serving = agent.serving();

    std::uint64_t last_rx = 0, last_rx_change = now_ms(), last_stats = now_ms();
    std::uint64_t last_link_poll = 0;
    unsigned idle_iterations = 0;
    int exit_status = 0;
    std::string stop_reason = "stopping: asked to (SIGTERM or SIGINT)";
    const std::uint64_t tsc_hz = rte_get_tsc_hz();
    while (!g_quit.load()) {
        const std::uint64_t start_tsc = rte_rdtsc();
        dp::LoopHealth::Phases phases{};
        std::uint64_t mark = start_tsc;
        auto lap = [&](dp::LoopHealth::Phase phase) {
            const std::uint64_t t = rte_rdtsc();
            phases[phase] = (t - mark) * 1'000'000'000 / tsc_hz;
            mark = t;
        };
        std::uint64_t now = now_ms();
        unsigned handled =
            runtime->poll_control([&](PortId port, PuntReason reason, std::uint16_t aux,
                                      std::span<const std::uint8_t> frame) {
                agent.on_frame(port, reason, aux, frame, now);
            });
        lap(dp::LoopHealth::Frames);
        agent.on_tick(now);
        if (replicated && !follow_leadership(*binding_store, agent, now)) {
            exit_status = kExitCannotFollow;
            break;
        }
        if (agent.serving() != status_serving) {
            status_serving = agent.serving();
            service.status(service_status(*runtime, agent, binding_store.get(), replicated));
        }
        service.watchdog(now);
        lap(dp::LoopHealth::Timers);
        if (now - last_link_poll >= kLinkPollMs) {
            poll_port_links(*runtime, agent, now);
            last_link_poll = now;
        }
        lap(dp::LoopHealth::Links);
        runtime->reclaim();
        lap(dp::LoopHealth::Reclaim);
        unsigned answered = queries.serve(answer);
        if (g_reload.exchange(false)) reloader.request(now);
        reloader.poll(now);  // a SIGHUP's file, once read, is applied here
        lap(dp::LoopHealth::Queries);
        loop.record((mark - start_tsc) * 1'000'000'000 / tsc_hz, phases, handled + answered,
                    runtime->control_ring_count());
        if (std::string slow = loop.slow_iterations(now); !slow.empty())
            MONAMI_LOG(WARNING, gw, "%s", slow.c_str());
        std::uint64_t rx = runtime->total_rx_packets();
        if (rx != last_rx || handled != 0 || !runtime->control_queues_empty()) {
            last_rx = rx;
            last_rx_change = now;
        } else if (options->stop_when_idle_ms &&
                   now - last_rx_change >= *options->stop_when_idle_ms) {
            MONAMI_LOG(INFO, gw, "idle for %lu ms: stopping", *options->stop_when_idle_ms);
            stop_reason = "stopping: idle";
            break;
        }
        if (cfg.dataplane.stats_interval_ms &&
            now - last_stats >= cfg.dataplane.stats_interval_ms) {
            dp::WorkerCounters t = runtime->totals();
            std::printf("monami-gw: rx %lu tx %lu forwarded %lu punted %lu\n", t.rx_packets,
                        t.tx_packets, t.forwarded, t.punted);
            std::fflush(stdout);
            last_stats = now;
        }
        // The control thread polls; when there is nothing to do it yields the core briefly,
        // except in one-lcore mode where it is also the worker.
        if (handled == 0 && !runtime->one_lcore_mode() && ++idle_iterations > 64) {
            std::this_thread::sleep_for(std::chrono::microseconds(50));
        } else if (handled != 0) {
            idle_iterations = 0;
        }
    }
    if (exit_status == kExitCannotFollow)
        stop_reason = "stopping: cannot follow the pair (" + binding_store->cannot_follow() +
                      "); exit status " + std::to_string(kExitCannotFollow);
    service.stopping(stop_reason);
    metrics.reset();  // its scrapes read the runtime and ask the control thread
    if (replicated) {
        // A planned stop of a pair's leader: silent first, then the lease revoked, so the
        // standby takes over now rather than when the lease would have run out.
        runtime->set_serving(false);
        const auto resigning = std::chrono::steady_clock::now();
        binding_store->resign();
        MONAMI_LOG(
            NOTICE, gw, "redundancy: stopped serving and gave the lead up (%.1f ms)",
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - resigning)
                .count());
    }
    runtime->stop();
    print_final_stats(*runtime, agent, loop);
    runtime.reset();
    rte_eal_cleanup();
    return exit_status;
}
