// monami-bench [EAL args] -- [options]
// Measures the real worker pipeline (dp::Runtime::worker_iteration) on ring ports and the
// real control path (ha::HomeAgent::on_frame with Binding Updates), beside an equal-work
// peer (an l3fwd-EM-style IPv6 router, peer_router.hpp) and a testpmd-style io forwarding
// baseline on the same ports. docs/performance.md explains every figure.
// This file: main() (EAL arguments, or defaults sized to the bindings; every phase in turn;
// the report) and --realtime's SCHED_FIFO helpers. Each phase's file: bench.hpp.
#include <pthread.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_launch.h>
#include <rte_lcore.h>
#include <rte_log.h>
#include <sched.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "dataplane/bench/bench.hpp"
#include "dataplane/bench/options.hpp"
#include "dataplane/bench/plan.hpp"

using namespace monami;
using bench::Bench;
using bench::Direction;
using bench::Distribution;
using bench::Options;
using bench::parse_options;
using bench::usage;

// The tails of update latency and failover on a shared machine are the worker lcore
// descheduled for a scheduler tick (4 ms at HZ=250), not monami. SCHED_FIFO on every lcore
// gives the view of dedicated (isolated) cores; the kernel's RT throttling
// (sched_rt_runtime_us) still leaves the rest of the machine its share.
int make_this_thread_realtime(void* error) {
    sched_param param{};
    param.sched_priority = 1;
    int rc = pthread_setschedparam(pthread_self(), SCHED_FIFO, &param);
    if (rc != 0) *static_cast<int*>(error) = rc;
    return 0;
}

std::string run_every_lcore_realtime() {
    int error = 0;
    make_this_thread_realtime(&error);
    unsigned lcore;
    RTE_LCORE_FOREACH_WORKER(lcore) {
        int worker_error = 0;
        rte_eal_remote_launch(make_this_thread_realtime, &worker_error, lcore);
        rte_eal_wait_lcore(lcore);
        if (worker_error != 0) error = worker_error;
    }
    return error == 0 ? std::string() : std::string("SCHED_FIFO: ") + std::strerror(error);
}

int main(int argc, char** argv) {
    int dashdash = -1;
    for (int i = 1; i < argc; ++i)
        if (std::strcmp(argv[i], "--") == 0) {
            dashdash = i;
            break;
        }
    auto options = parse_options(argc, argv, dashdash >= 0 ? dashdash + 1 : 1);
    if (!options) {
        usage();
        return 2;
    }
    const Options& opt = *options;
    std::vector<std::string> eal{argv[0]};
    if (dashdash > 0) {
        for (int i = 1; i < dashdash; ++i) eal.emplace_back(argv[i]);
    } else {
        // The HoA table, packed snapshots and per-binding counters grow with the bindings,
        // and the peer router's table (about 100 bytes per HoA) with the HoAs (tools/bench
        // sizes it the same way).
        unsigned mb = 512 + static_cast<unsigned>(std::uint64_t{opt.hoas} * 1152 >> 20);
        // A private file prefix: other DPDK processes on the machine are left alone.
        eal.insert(eal.end(), {"-l", "0,1", "--no-huge", "-m", std::to_string(mb), "--no-shconf",
                               "--file-prefix", "monami-bench-" + std::to_string(getpid()),
                               "--no-pci", "--no-telemetry"});
    }
    if (!opt.verbose) eal.emplace_back("--log-level=4");  // warnings and worse
    std::vector<char*> eal_argv;
    for (auto& s : eal) eal_argv.push_back(s.data());
    eal_argv.push_back(nullptr);
    if (rte_eal_init(static_cast<int>(eal.size()), eal_argv.data()) < 0) {
        std::fprintf(stderr, "monami-bench: EAL initialisation failed: %s\n",
                     rte_strerror(rte_errno));
        return 1;
    }
    if (!opt.verbose) rte_log_set_level_pattern("monami.*", RTE_LOG_WARNING);
    if (opt.realtime) {
        std::string error = run_every_lcore_realtime();
        if (!error.empty()) {
            std::fprintf(stderr, "monami-bench: --realtime: %s\n", error.c_str());
            rte_eal_cleanup();
            return 1;
        }
    }

    int rc = 0;
    {
        Bench bench(opt);
        std::string error;
        if (!bench.setup(error)) {
            std::fprintf(stderr, "monami-bench: %s\n", error.c_str());
            bench.teardown();
            rte_eal_cleanup();
            return 1;
        }
        bench.provision();
        if (opt.runs("refresh")) bench.refresh();
        for (auto dist : opt.distributions)
            if (opt.runs("encap"))
                bench.throughput("encap 64B " + std::string(bench::to_string(dist)),
                                 Direction::Encap, {64}, dist);
        if (opt.runs("imix"))
            bench.throughput("encap IMIX uniform", Direction::Encap, bench::imix_sizes(),
                             Distribution::Uniform);
        for (auto dist : opt.distributions)
            if (opt.runs("decap"))
                bench.throughput("decap 64B " + std::string(bench::to_string(dist)),
                                 Direction::Decap, {64}, dist);
        if (opt.runs("ncast") && opt.coas >= 2 && opt.flow_share > 0 &&
            opt.hoas * opt.flow_share >= 1)
            bench.throughput("ncast x2 64B uniform", Direction::Ncast, {64}, Distribution::Uniform);
        if (opt.runs("latency")) bench.update_latency();
        if (opt.runs("updates")) bench.live_updates();
        if (opt.runs("esp")) bench.esp_updates();
        if (opt.runs("failover")) bench.failover();
        bench.report();
        rc = bench.counts_ok() ? 0 : 3;
        bench.teardown();
    }
    rte_eal_cleanup();
    return rc;
}
