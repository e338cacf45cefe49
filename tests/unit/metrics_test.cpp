// The Prometheus text writer: families, escaping, and histograms from LatencyHistogram's
// buckets (exact at powers of two, cumulative, ending at the count).
#include <gtest/gtest.h>

#include <string>

#include "dataplane/api/histogram.hpp"
#include "dataplane/api/metrics_text.hpp"

using monami::LatencyHistogram;
using monami::MetricsText;

TEST(MetricsText, FamiliesAndSamples) {
    MetricsText m;
    m.family("monami_x_total", MetricsText::Type::counter, "Things\\counted\nhere");
    m.sample("monami_x_total", {{"port", "a\"b\\c\nd"}}, std::uint64_t{7});
    m.sample("monami_x_total", {{"port", "p"}, {"reason", "r"}}, std::uint64_t{0});
    m.family("monami_y_seconds", MetricsText::Type::gauge, "Y");
    m.sample("monami_y_seconds", {}, 0.25);
    EXPECT_EQ(m.text(),
              "# HELP monami_x_total Things\\\\counted\\nhere\n"
              "# TYPE monami_x_total counter\n"
              "monami_x_total{port=\"a\\\"b\\\\c\\nd\"} 7\n"
              "monami_x_total{port=\"p\",reason=\"r\"} 0\n"
              "# HELP monami_y_seconds Y\n"
              "# TYPE monami_y_seconds gauge\n"
              "monami_y_seconds 0.25\n");
}

TEST(MetricsText, HistogramBucketsAreCumulativeAtPowersOfTwo) {
    LatencyHistogram h;
    h.record(500);                     // below 1 us: le 2^10 ns
    h.record(1024);                    // 2^10 exactly: le 2^11
    h.record(2047);                    // le 2^11
    h.record(2048);                    // le 2^12
    h.record(1'000'000);               // ~1 ms: le 2^20 (1048576 ns)
    h.record(std::uint64_t{1} << 40);  // above 2^35: only +Inf
    MetricsText m;
    m.histogram_ns("h_seconds", {{"k", "v"}}, h.bucket_entries(), h.count(), h.sum_ns());
    const std::string& t = m.text();
    auto bucket = [&t](const std::string& le) {
        const std::string key = "h_seconds_bucket{k=\"v\",le=\"" + le + "\"} ";
        const auto at = t.find(key);
        if (at == std::string::npos) return std::string("absent");
        return t.substr(at + key.size(), t.find('\n', at) - at - key.size());
    };
    EXPECT_EQ(bucket("1.024e-06"), "1");
    EXPECT_EQ(bucket("2.048e-06"), "3");
    EXPECT_EQ(bucket("4.096e-06"), "4");
    EXPECT_EQ(bucket("0.000524288"), "4");
    EXPECT_EQ(bucket("0.001048576"), "5");
    EXPECT_EQ(bucket("34.359738368"), "5");  // 2^35 ns, the last finite bound
    EXPECT_EQ(bucket("+Inf"), "6");
    EXPECT_NE(t.find("h_seconds_count{k=\"v\"} 6\n"), std::string::npos);
    EXPECT_NE(t.find("h_seconds_sum{k=\"v\"} 1099.512633395\n"), std::string::npos) << t;
    // 26 finite bounds (2^10 .. 2^35 ns) and +Inf.
    std::size_t buckets = 0;
    for (auto at = t.find("_bucket{"); at != std::string::npos; at = t.find("_bucket{", at + 1))
        ++buckets;
    EXPECT_EQ(buckets, 27u);
}
