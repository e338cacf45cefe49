#include "controlplane/ha/queries.hpp"

#include <cerrno>
#include <charconv>
#include <string_view>

namespace monami::ha {

namespace {

constexpr std::size_t kDefaultPageHoas = 100;
constexpr std::size_t kMaxPageHoas = 1000;

std::vector<std::string> key_values(const HomeAgent::BindingRow& row) {
    std::vector<std::string> items;
    items.reserve(row.size());
    for (const auto& [k, v] : row) items.push_back(k + "=" + v);
    return items;
}

// Bytes a record takes in the JSON reply: "rN":["k=v",...],
std::size_t json_bytes(const std::vector<std::string>& items) {
    std::size_t n = 12;
    for (const auto& s : items) n += s.size() + 3;
    return n;
}

// "AFTER[,COUNT]": AFTER empty or "-" means from the start.
bool parse_page(std::string_view params, std::optional<Ipv6Address>& after, std::size_t& count) {
    count = kDefaultPageHoas;
    std::string_view first = params.substr(0, params.find(','));
    if (!first.empty() && first != "-") {
        auto a = Ipv6Address::parse(std::string(first));
        if (!a) return false;
        after = *a;
    }
    if (first.size() < params.size()) {
        std::string_view rest = params.substr(first.size() + 1);
        unsigned long long n = 0;
        auto [end, ec] = std::from_chars(rest.data(), rest.data() + rest.size(), n);
        if (ec != std::errc{} || end != rest.data() + rest.size() || n == 0) return false;
        count = static_cast<std::size_t>(std::min<unsigned long long>(n, kMaxPageHoas));
    }
    return true;
}

void answer_bindings_page(const HomeAgent& agent, std::string_view params, std::uint64_t now_ms,
                          QueryReply& reply, const ReplyLimits& limits) {
    std::optional<Ipv6Address> after;
    std::size_t count = 0;
    if (!parse_page(params, after, count)) {
        reply.status = -EINVAL;
        return;
    }
    const auto& cache = agent.binding_cache();
    reply.add("home_addresses", std::uint64_t{cache.hoa_count()});
    reply.add("bindings", std::uint64_t{cache.binding_count()});
    std::size_t bytes = 128, records = 0, hoas = 0;
    std::optional<HomeAddress> last;
    std::vector<std::vector<std::string>> page;
    const bcache::HoaEntry* entry = cache.next_after(after ? &*after : nullptr);
    for (; entry && hoas < count; entry = cache.next_after(&entry->home_address)) {
        // A HoA's bindings go whole into a page, or into the next one.
        std::vector<std::vector<std::string>> rows;
        std::size_t hoa_bytes = 0;
        for (const auto& row : agent.binding_rows(entry->home_address, now_ms)) {
            rows.push_back(key_values(row));
            hoa_bytes += json_bytes(rows.back());
        }
        if (hoas > 0 &&
            (bytes + hoa_bytes > limits.bytes || records + rows.size() + 4 > limits.entries))
            break;
        bytes += hoa_bytes;
        records += rows.size();
        ++hoas;
        last = entry->home_address;
        for (auto& r : rows) page.push_back(std::move(r));
    }
    reply.add("count", std::uint64_t{hoas});
    reply.add("next", entry && last ? last->to_string() : std::string());
    for (std::size_t i = 0; i < page.size(); ++i)
        reply.add("r" + std::to_string(i), std::move(page[i]));
}

void answer_binding(const HomeAgent& agent, std::string_view params, std::uint64_t now_ms,
                    QueryReply& reply) {
    auto hoa = Ipv6Address::parse(std::string(params));
    if (!hoa) {
        reply.status = -EINVAL;
        return;
    }
    auto rows = agent.binding_rows(*hoa, now_ms);
    reply.add("home_address", hoa->to_string());
    reply.add("count", std::uint64_t{rows.size()});
    for (std::size_t i = 0; i < rows.size(); ++i)
        reply.add("r" + std::to_string(i), key_values(rows[i]));
}

void answer_summary(const HomeAgent& agent, QueryReply& reply) {
    const BindingSummary s = agent.summary();
    reply.add("home_addresses", std::uint64_t{s.home_addresses});
    reply.add("bindings", std::uint64_t{s.bindings});
    reply.add("flows", std::uint64_t{s.flows});
    reply.add("paths_live", std::uint64_t{s.paths_live});
    reply.add("paths_suspect", std::uint64_t{s.paths_suspect});
    reply.add("paths_dead", std::uint64_t{s.paths_dead});
    reply.add("ports_down", std::uint64_t{s.ports_down});
    reply.add("proxied", std::uint64_t{s.proxied});
    reply.add("republish_pending", std::uint64_t{s.republish_pending});
    reply.add("timers_queued", std::uint64_t{s.timers_queued});
}

void answer_neighbors(const HomeAgent& agent, std::string_view params, QueryReply& reply,
                      const ReplyLimits& limits) {
    std::optional<Ipv6Address> after;
    if (!params.empty() && params != "-") {
        after = Ipv6Address::parse(std::string(params));
        if (!after) {
            reply.status = -EINVAL;
            return;
        }
    }
    const std::size_t max = std::min<std::size_t>(limits.entries - 4, limits.bytes / 100);
    auto page = agent.neighbors_after(after ? &*after : nullptr, max + 1);
    const bool more = page.size() > max;
    if (more) page.resize(max);
    reply.add("count", std::uint64_t{page.size()});
    reply.add("next", more ? page.back().address.to_string() : std::string());
    for (std::size_t i = 0; i < page.size(); ++i)
        reply.add("r" + std::to_string(i),
                  std::vector<std::string>{"address=" + page[i].address.to_string(),
                                           "port=" + std::to_string(page[i].port),
                                           "mac=" + page[i].mac.to_string()});
}

// The binding store's figures and the last restore (monami-ctl store).
void answer_store(const HomeAgent& agent, QueryReply& reply) {
    const store::BindingStore* store = agent.binding_store();
    if (!store) {
        reply.add("backend", std::string("none"));
        return;
    }
    const store::StoreStats s = store->stats();
    reply.add("backend", s.backend);
    reply.add("path", s.location);
    reply.add("entries", s.entries);
    reply.add("commits", s.commits);
    reply.add("batches", s.batches);
    reply.add("pending_batches", s.pending_batches);
    reply.add("records_written", s.records_written);
    reply.add("records_removed", s.records_removed);
    reply.add("last_commit_unix_ms", s.last_commit_unix_ms);
    reply.add("last_commit_us", s.last_commit_us);
    reply.add("max_commit_us", s.max_commit_us);
    reply.add("bytes_on_disk", s.bytes_on_disk);
    reply.add("errors", s.errors);
    reply.add("last_error", s.last_error);
    reply.add("backlog_records", s.backlog_records);
    if (!s.role.empty()) {  // a replicated backend: the pair
        reply.add("role", s.role);
        reply.add("member", s.member);
        reply.add("leader", s.leader);
        reply.add("revision", static_cast<std::uint64_t>(s.revision));
        reply.add("revision_seen", static_cast<std::uint64_t>(s.revision_seen));
        reply.add("lag_revisions", s.lag_revisions);
        reply.add("lag_ms", s.lag_ms);
        reply.add("lease", s.lease_state);
        reply.add("lease_left_ms", s.lease_left_ms);
        if (s.answered_ms_ago >= 0)  // left out until etcd first answers
            reply.add("answered_ms_ago", static_cast<std::uint64_t>(s.answered_ms_ago));
        reply.add("fenced", s.fenced);
        reply.add("resynced", s.resynced);
        reply.add("resync_failures", s.resync_failures);
        reply.add("serving", std::string(agent.serving() ? "yes" : "no"));
    }
    const auto& r = agent.last_restore();
    reply.add("restored_home_addresses", std::uint64_t{r.home_addresses});
    reply.add("restored_bindings", std::uint64_t{r.bindings});
    reply.add("restored_flows", std::uint64_t{r.flows});
    reply.add("expired_while_down", std::uint64_t{r.expired});
    reply.add("restore_us", r.took_us);
}

// The Binding Update histograms and the BAs by status (monami's /metrics).
void answer_latency(const HomeAgent& agent, QueryReply& reply) {
    auto add_histogram = [&reply](const std::string& name, const LatencyHistogram& h) {
        reply.add(name + "_count", h.count());
        reply.add(name + "_sum_ns", h.sum_ns());
        reply.add(name + "_max_ns", h.max_ns());
        reply.add(name + "_buckets", h.bucket_entries());
    };
    add_histogram("bu_processing", agent.bu_processing());
    add_histogram("update_latency", agent.update_latency());
    std::vector<std::string> acks;
    const auto& by_status = agent.binding_acks_by_status();
    for (std::size_t status = 0; status < by_status.size(); ++status)
        if (by_status[status])
            acks.push_back(std::to_string(status) + "=" + std::to_string(by_status[status]));
    reply.add("binding_acks_by_status", std::move(acks));
}

}  // namespace

bool answer_query(const HomeAgent& agent, const Query& query, std::uint64_t now_ms,
                  QueryReply& reply, const ReplyLimits& limits) {
    if (query.command == "/monami/bindings") {
        answer_bindings_page(agent, query.params, now_ms, reply, limits);
    } else if (query.command == "/monami/binding") {
        answer_binding(agent, query.params, now_ms, reply);
    } else if (query.command == "/monami/summary") {
        answer_summary(agent, reply);
    } else if (query.command == "/monami/control") {
        for (const auto& [name, value] : agent.counter_items()) reply.add(name, value);
    } else if (query.command == "/monami/neighbors") {
        answer_neighbors(agent, query.params, reply, limits);
    } else if (query.command == "/monami/store") {
        answer_store(agent, reply);
    } else if (query.command == "/monami/latency") {
        answer_latency(agent, reply);
    } else {
        return false;
    }
    return true;
}

}  // namespace monami::ha
