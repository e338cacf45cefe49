#include "dataplane/api/metrics_text.hpp"

#include <array>
#include <bit>
#include <charconv>

#include "dataplane/api/histogram.hpp"

namespace monami {

namespace {

std::string format_double(double value) {
    std::array<char, 32> buffer{};
    auto [end, ec] = std::to_chars(buffer.data(), buffer.data() + buffer.size(), value);
    return ec == std::errc{} ? std::string(buffer.data(), end) : std::string("NaN");
}

// HELP text escapes backslash and newline; label values also the double quote.
void append_escaped(std::string& out, std::string_view text, bool quote) {
    for (char c : text) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '\n')
            out += "\\n";
        else if (quote && c == '"')
            out += "\\\"";
        else
            out += c;
    }
}

}  // namespace

void MetricsText::family(std::string_view name, Type type, std::string_view help) {
    text_ += "# HELP ";
    text_ += name;
    text_ += ' ';
    append_escaped(text_, help, false);
    text_ += "\n# TYPE ";
    text_ += name;
    text_ += type == Type::counter ? " counter\n"
             : type == Type::gauge ? " gauge\n"
                                   : " histogram\n";
}

void MetricsText::start_sample(std::string_view name, Labels labels, std::string_view extra_label,
                               std::string_view extra_value) {
    text_ += name;
    if (labels.size() != 0 || !extra_label.empty()) {
        text_ += '{';
        bool first = true;
        auto add = [&](std::string_view key, std::string_view value) {
            if (!first) text_ += ',';
            first = false;
            text_ += key;
            text_ += "=\"";
            append_escaped(text_, value, true);
            text_ += '"';
        };
        for (const auto& [key, value] : labels) add(key, value);
        if (!extra_label.empty()) add(extra_label, extra_value);
        text_ += '}';
    }
    text_ += ' ';
}

void MetricsText::sample(std::string_view name, Labels labels, std::uint64_t value) {
    start_sample(name, labels);
    text_ += std::to_string(value);
    text_ += '\n';
}

void MetricsText::sample(std::string_view name, Labels labels, double value) {
    start_sample(name, labels);
    text_ += format_double(value);
    text_ += '\n';
}

void MetricsText::histogram_ns(std::string_view name, Labels labels,
                               const std::vector<std::string>& bucket_entries, std::uint64_t count,
                               std::uint64_t sum_ns) {
    constexpr unsigned kFirst = LatencyHistogram::kFirstOctave;
    constexpr unsigned kLast = LatencyHistogram::kFirstOctave + LatencyHistogram::kOctaves;
    // Counts per power of two: a bucket whose largest value is U belongs under le =
    // bit_ceil(U + 1), the first power of two above all its values.
    std::array<std::uint64_t, kLast + 1> at_power{};
    for (const auto& entry : bucket_entries) {
        const auto eq = entry.find('=');
        std::uint64_t upper = 0, n = 0;
        if (eq == std::string::npos) continue;
        std::from_chars(entry.data(), entry.data() + eq, upper);
        std::from_chars(entry.data() + eq + 1, entry.data() + entry.size(), n);
        if (upper >= (std::uint64_t{1} << kLast)) continue;               // only under +Inf
        const auto power = static_cast<unsigned>(std::bit_width(upper));  // bit_ceil(upper+1)
        at_power[std::max(power, kFirst)] += n;
    }
    const std::string bucket = std::string(name) + "_bucket";
    std::uint64_t cumulative = 0;
    for (unsigned power = kFirst; power <= kLast; ++power) {
        cumulative += at_power[power];
        start_sample(bucket, labels, "le",
                     format_double(static_cast<double>(std::uint64_t{1} << power) / 1e9));
        text_ += std::to_string(cumulative);
        text_ += '\n';
    }
    start_sample(bucket, labels, "le", "+Inf");
    text_ += std::to_string(count);
    text_ += '\n';
    start_sample(std::string(name) + "_sum", labels);
    text_ += format_double(static_cast<double>(sum_ns) / 1e9);
    text_ += '\n';
    start_sample(std::string(name) + "_count", labels);
    text_ += std::to_string(count);
    text_ += '\n';
}

}  // namespace monami
