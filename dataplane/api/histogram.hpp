// A latency histogram for one thread: log-linear buckets (8 per power of two, so a bucket's
// upper bound is at most 12.5% above any value in it) from 1 us to about 34 s, in ns.
// Cumulative and never reset: a reader takes the difference of two readings for a window.
// Plain C++ (no DPDK); recording is a few instructions and no allocation.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace monami {

class LatencyHistogram {
  public:
    static constexpr unsigned kSubBuckets = 8;    // per power of two
    static constexpr unsigned kFirstOctave = 10;  // 1024 ns: everything below is bucket 0
    static constexpr unsigned kOctaves = 25;      // up to 2^35 ns (~34 s), then the last bucket
    // Bucket 0 (below 1 us), the octaves' buckets, and one for everything above.
    static constexpr std::size_t kBuckets = kOctaves * kSubBuckets + 2;

    void record(std::uint64_t ns) {
        ++counts_[bucket_of(ns)];
        ++count_;
        sum_ns_ += ns;
        max_ns_ = std::max(max_ns_, ns);
    }

    static std::size_t bucket_of(std::uint64_t ns) {
        if (ns < (std::uint64_t{1} << kFirstOctave)) return 0;
        const unsigned octave = static_cast<unsigned>(std::bit_width(ns)) - 1;  // msb
        if (octave >= kFirstOctave + kOctaves) return kBuckets - 1;
        const unsigned sub =
            static_cast<unsigned>(ns >> (octave - 3)) & (kSubBuckets - 1);  // next 3 bits
        return 1 + (octave - kFirstOctave) * kSubBuckets + sub;
    }
    // The largest value bucket `b` holds (inclusive).
    static std::uint64_t upper_bound_ns(std::size_t b) {
        if (b == 0) return (std::uint64_t{1} << kFirstOctave) - 1;
        if (b >= kBuckets - 1) return UINT64_MAX;
        const unsigned octave = kFirstOctave + static_cast<unsigned>((b - 1) / kSubBuckets);
        const std::uint64_t sub = (b - 1) % kSubBuckets;
        return (std::uint64_t{1} << octave) + ((sub + 1) << (octave - 3)) - 1;
    }

    std::uint64_t count() const { return count_; }
    std::uint64_t sum_ns() const { return sum_ns_; }
    std::uint64_t max_ns() const { return max_ns_; }
    std::uint64_t bucket(std::size_t b) const { return counts_[b]; }

    // The non-empty buckets as "UPPER_NS=COUNT" (telemetry's form: a reader rebuilds the
    // histogram, or Prometheus buckets at powers of two, which these bounds align with).
    std::vector<std::string> bucket_entries() const {
        std::vector<std::string> entries;
        for (std::size_t b = 0; b < kBuckets; ++b)
            if (counts_[b])
                entries.push_back(std::to_string(upper_bound_ns(b)) + "=" +
                                  std::to_string(counts_[b]));
        return entries;
    }

    // The upper bound of the bucket holding the q-quantile (0 when empty); at most the max.
    std::uint64_t quantile_ns(double q) const {
        if (count_ == 0) return 0;
        const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_ - 1)) + 1;
        std::uint64_t seen = 0;
        for (std::size_t b = 0; b < kBuckets; ++b) {
            seen += counts_[b];
            if (seen >= rank) return std::min(upper_bound_ns(b), max_ns_);
        }
        return max_ns_;
    }

  private:
    std::array<std::uint64_t, kBuckets> counts_{};
    std::uint64_t count_ = 0;
    std::uint64_t sum_ns_ = 0;
    std::uint64_t max_ns_ = 0;
};

}  // namespace monami
