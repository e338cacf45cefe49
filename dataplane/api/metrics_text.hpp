// The Prometheus text exposition format (version 0.0.4, what every Prometheus scrapes):
// families with HELP and TYPE, samples with escaped labels, and histograms whose buckets are
// LatencyHistogram's at powers of two. Plain C++ (no DPDK, no HTTP), so it unit-tests alone.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace monami {

class MetricsText {
  public:
    enum class Type { counter, gauge, histogram };
    using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

    // Starts a family: its samples follow, before the next family. A counter's name ends
    // in _total, a figure's name in its base unit (_seconds, _bytes).
    void family(std::string_view name, Type type, std::string_view help);
    void sample(std::string_view name, Labels labels, std::uint64_t value);
    void sample(std::string_view name, Labels labels, double value);
    // One histogram of the current family from LatencyHistogram's "UPPER_NS=COUNT" bucket
    // entries (its bucket_entries()): cumulative buckets `le` 2^10 .. 2^35 ns in seconds,
    // which its buckets align with, then +Inf, _sum (seconds) and _count.
    void histogram_ns(std::string_view name, Labels labels,
                      const std::vector<std::string>& bucket_entries, std::uint64_t count,
                      std::uint64_t sum_ns);

    const std::string& text() const { return text_; }

  private:
    void start_sample(std::string_view name, Labels labels, std::string_view extra_label = {},
                      std::string_view extra_value = {});
    std::string text_;
};

}  // namespace monami
