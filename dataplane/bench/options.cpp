// monami-bench's command line: the help text and the parser.
#include "dataplane/bench/options.hpp"

#include <cstdio>
#include <cstdlib>
#include <iterator>

namespace monami::bench {

void usage() {
    std::fprintf(
        stderr,
        "usage: monami-bench [EAL args --] [options]\n"
        "  --hoas N | --bindings N   home addresses to register (1000..1000000; default 100000)\n"
        "  --coas C                  care-of addresses per home address (1..4; default 2)\n"
        "  --duration S              seconds per scenario and per live window (default 2)\n"
        "  --distribution D          uniform, zipf or both (default both)\n"
        "  --zipf-s X                Zipf exponent (default 0.99)\n"
        "  --flow-share F            share of HoAs with an n-cast flow binding (default 0.0625)\n"
        "  --probes N                update-latency samples (default 2000); failover runs\n"
        "                            min(N, 200) times\n"
        "  --only LIST               phases: refresh,encap,imix,decap,ncast,latency,updates,esp,\n"
        "                            failover\n"
        "  --registration-order O    shuffled (a random permutation of the HoAs, as mobile\n"
        "                            nodes register; default) or sequential (HoA 0, 1, ...)\n"
        "  --check                   verify every packet, not one in 64\n"
        "  --json                    one JSON object on stdout; progress on stderr\n"
        "  --verbose                 DPDK and monami logs at INFO\n"
        "  --realtime                SCHED_FIFO (priority 1) on every lcore, as on isolated\n"
        "                            cores; needs root, the kernel's RT throttling keeps 5%%\n"
        "Without EAL args: -l 0,1 --no-huge -m <sized> --no-shconf --file-prefix <own> "
        "--no-pci.\n");
}

std::optional<Options> parse_options(int argc, char** argv, int first) {
    Options o;
    for (int i = first; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : nullptr; };
        auto number = [&](double lo, double hi) -> std::optional<double> {
            const char* v = value();
            if (!v) return std::nullopt;
            char* end = nullptr;
            double x = std::strtod(v, &end);
            if (*end != '\0' || x < lo || x > hi) return std::nullopt;
            return x;
        };
        if (a == "--hoas" || a == "--bindings") {
            auto x = number(1, 4e6);
            if (!x) return std::nullopt;
            o.hoas = static_cast<std::uint32_t>(*x);
        } else if (a == "--coas") {
            auto x = number(1, 4);
            if (!x) return std::nullopt;
            o.coas = static_cast<unsigned>(*x);
        } else if (a == "--duration") {
            auto x = number(0.01, 3600);
            if (!x) return std::nullopt;
            o.duration_s = *x;
        } else if (a == "--zipf-s") {
            auto x = number(0.1, 4);
            if (!x) return std::nullopt;
            o.zipf_s = *x;
        } else if (a == "--flow-share") {
            auto x = number(0, 1);
            if (!x) return std::nullopt;
            o.flow_share = *x;
        } else if (a == "--probes") {
            auto x = number(0, 1e7);
            if (!x) return std::nullopt;
            o.probes = static_cast<unsigned>(*x);
        } else if (a == "--distribution") {
            const char* v = value();
            if (!v) return std::nullopt;
            std::string d = v;
            if (d == "uniform")
                o.distributions = {Distribution::Uniform};
            else if (d == "zipf")
                o.distributions = {Distribution::Zipf};
            else if (d == "both")
                o.distributions = {Distribution::Uniform, Distribution::Zipf};
            else
                return std::nullopt;
        } else if (a == "--only") {
            const char* v = value();
            if (!v) return std::nullopt;
            std::string list = v;
            for (std::size_t at = 0; at <= list.size();) {
                std::size_t comma = std::min(list.find(',', at), list.size());
                std::string phase = list.substr(at, comma - at);
                static const char* known[] = {"refresh", "encap",   "imix", "decap",   "ncast",
                                              "latency", "updates", "esp",  "failover"};
                if (std::find_if(std::begin(known), std::end(known),
                                 [&](const char* k) { return phase == k; }) == std::end(known))
                    return std::nullopt;
                o.only.push_back(phase);
                at = comma + 1;
            }
        } else if (a == "--registration-order") {
            const char* v = value();
            if (!v) return std::nullopt;
            std::string order = v;
            if (order != "sequential" && order != "shuffled") return std::nullopt;
            o.shuffled_registrations = order == "shuffled";
        } else if (a == "--check") {
            o.check_all = true;
        } else if (a == "--json") {
            o.json = true;
        } else if (a == "--verbose") {
            o.verbose = true;
        } else if (a == "--realtime") {
            o.realtime = true;
        } else {
            std::fprintf(stderr, "monami-bench: unknown option '%s'\n", a.c_str());
            return std::nullopt;
        }
    }
    return o;
}

}  // namespace monami::bench
