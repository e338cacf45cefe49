// monami-bench's command line: the Options every phase reads, and their parser.
#pragma once

#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "dataplane/bench/plan.hpp"

namespace monami::bench {

struct Options {
    std::uint32_t hoas = 100000;
    unsigned coas = 2;
    double duration_s = 2.0;  // per throughput scenario and per live window
    std::vector<Distribution> distributions{Distribution::Uniform, Distribution::Zipf};
    double zipf_s = 0.99;
    double flow_share = 1.0 / 16;  // HoAs with the n-cast flow binding
    unsigned probes = 2000;
    bool json = false;
    bool check_all = false;  // verify every packet (smoke run), not one in 64
    bool verbose = false;
    bool realtime = false;  // SCHED_FIFO on every lcore: a dedicated core's view of the tails
    // BUs in a random permutation of the HoAs, as mobile nodes register in no order (every
    // insert somewhere new), or in HoA order, as rounds 1-5 measured (each insert next to the
    // previous one, in cache: ordered tables looked 1.6-1.9x faster than they are).
    bool shuffled_registrations = true;
    std::vector<std::string> only;  // phases to run (empty: all)
    bool runs(const char* phase) const {
        return only.empty() || std::find(only.begin(), only.end(), phase) != only.end();
    }
};

// The help text, on stderr.
void usage();

// The options after argv[first]; none on an unknown option or a value out of range.
std::optional<Options> parse_options(int argc, char** argv, int first);

}  // namespace monami::bench
