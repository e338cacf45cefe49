#include "dataplane/gw/reload.hpp"

#include <rte_log.h>

#include <chrono>
#include <ctime>

#include "config/reload.hpp"
#include "dataplane/gw/settings.hpp"
#include "dataplane/log.hpp"

namespace monami::gw {

namespace {

// Errors kept and shown for an invalid file: the first ones say what to fix.
constexpr std::size_t kMaxLines = 32;
// DPDK 22.11 telemetry truncates strings at RTE_TEL_MAX_STRING_LEN (128) bytes.
constexpr std::size_t kTelemetryLine = 120;

std::string utc_now() {
    const auto now = std::chrono::system_clock::now();
    const std::time_t t = std::chrono::system_clock::to_time_t(now);
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() %
        1000;
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[40];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
    char out[48];
    std::snprintf(out, sizeof out, "%s.%03dZ", buf, static_cast<int>(ms));
    return out;
}

std::string joined(const std::vector<std::string>& items) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : ", ") + i;
    return out;
}

}  // namespace

std::string_view to_string(ha::ReloadOutcome outcome) {
    switch (outcome) {
        case ha::ReloadOutcome::applied:
            return "applied";
        case ha::ReloadOutcome::unchanged:
            return "unchanged";
        case ha::ReloadOutcome::refused:
            return "refused";
        case ha::ReloadOutcome::invalid:
            return "invalid";
    }
    return "?";
}

Reloader::Reloader(std::string path, config::Config& running, const dp::Runtime& runtime,
                   ha::HomeAgent& agent, dp::LoopHealth& loop)
    : path_(std::move(path)), running_(running), runtime_(runtime), agent_(agent), loop_(loop) {}

Reloader::~Reloader() {
    if (reading_.valid()) reading_.wait();  // a read under way ends with the file read
}

std::shared_ptr<config::LoadResult> Reloader::read(const std::string& path) {
    return std::make_shared<config::LoadResult>(config::load_config_file(path));
}

void Reloader::request(std::uint64_t) {
    if (reading_.valid()) {
        again_ = true;  // the file may have changed after this read opened it
        return;
    }
    reading_ = std::async(std::launch::async, &Reloader::read, path_);
}

void Reloader::poll(std::uint64_t now_ms) {
    if (!reading_.valid() ||
        reading_.wait_for(std::chrono::seconds(0)) != std::future_status::ready)
        return;
    std::shared_ptr<config::LoadResult> loaded = reading_.get();
    apply(std::move(*loaded), "SIGHUP", now_ms);
    if (again_) {
        again_ = false;
        request(now_ms);
    }
}

const ReloadRecord& Reloader::apply(config::LoadResult loaded, std::string trigger,
                                    std::uint64_t now_ms) {
    ReloadRecord r;
    r.sequence = last_.sequence + 1;
    r.time = utc_now();
    r.trigger = std::move(trigger);
    if (!loaded) {
        r.outcome = ha::ReloadOutcome::invalid;
        const auto& errors = loaded.error();
        for (std::size_t i = 0; i < errors.size() && i < kMaxLines; ++i)
            r.lines.push_back(errors[i].to_string());
        if (errors.size() > kMaxLines)
            r.lines.push_back("... and " + std::to_string(errors.size() - kMaxLines) +
                              " more errors (monami-gw --check-config lists them all)");
    } else {
        config::Config& next = loaded.value();
        const config::ConfigChanges changes = config::diff_config(running_, next);
        if (changes.refused()) {
            r.outcome = ha::ReloadOutcome::refused;
            r.lines.push_back(config::refusal_message(changes));
        } else if (!changes.any_live()) {
            r.outcome = ha::ReloadOutcome::unchanged;
            r.lines.emplace_back("no change: the file says what is running");
        } else {
            config::SaChanges sas;
            if (changes.security || changes.security_sas)
                sas = config::diff_sas(running_.security, next.security);
            ha::Reconfiguration what;
            what.routing = changes.routes || changes.neighbors;
            what.home_agent = changes.home_agent;
            what.mobile_nodes = changes.mobile_nodes;
            what.tunnel = changes.tunnel;
            what.heartbeat = changes.heartbeat;
            what.security = changes.security;
            what.policies = changes.policies;
            for (const auto* sa : sas.removed)
                what.sas_removed.emplace_back(sa->spi, sa->direction == config::SaDirection::in
                                                           ? esp::Direction::Inbound
                                                           : esp::Direction::Outbound);
            for (const auto& added : sas.added)
                what.sas_added.push_back({esp_sa(*added.sa, next.security), added.same_keys});
            const std::string error =
                agent_.reconfigure(ha_settings(next, runtime_), std::move(what), now_ms);
            if (changes.log_level)
                rte_log_set_level_pattern("monami.*", static_cast<std::uint32_t>(next.log_level));
            if (changes.loop)
                loop_.set_warning(std::uint64_t{next.dataplane.slow_iteration_warning_us} * 1000);
            std::string line = "applied: " + joined(changes.live_sections());
            if (!sas.empty())
                line += " (" + std::to_string(sas.removed.size()) + " SAs removed, " +
                        std::to_string(sas.added.size()) + " added)";
            r.lines.push_back(std::move(line));
            if (!error.empty()) r.lines.push_back("not applied: " + error);
            r.outcome = ha::ReloadOutcome::applied;
            running_ = std::move(next);
        }
    }
    // reconfigure() counted the applied one.
    if (r.outcome != ha::ReloadOutcome::applied) agent_.count_reload(r.outcome);
    const bool ok =
        r.outcome == ha::ReloadOutcome::applied || r.outcome == ha::ReloadOutcome::unchanged;
    for (const auto& line : r.lines) {
        if (ok)
            MONAMI_LOG(NOTICE, gw, "reload of %s (%s): %s", path_.c_str(), r.trigger.c_str(),
                       line.c_str());
        else if (r.outcome == ha::ReloadOutcome::refused)  // the line says so itself
            MONAMI_LOG(ERR, gw, "reload of %s (%s): %s", path_.c_str(), r.trigger.c_str(),
                       line.c_str());
        else
            MONAMI_LOG(ERR, gw, "reload of %s (%s) %s: %s", path_.c_str(), r.trigger.c_str(),
                       std::string(to_string(r.outcome)).c_str(), line.c_str());
    }
    if (!ok)
        MONAMI_LOG(ERR, gw,
                   "reload of %s (%s): nothing changed; the running configuration "
                   "stays in force",
                   path_.c_str(), r.trigger.c_str());
    last_ = std::move(r);
    return last_;
}

void Reloader::report(QueryReply& reply) const {
    reply.add("reload_sequence", last_.sequence);
    if (last_.sequence == 0) {
        reply.add("reload_result", std::string("none"));
        return;
    }
    reply.add("reload_time", last_.time);
    reply.add("reload_trigger", last_.trigger);
    reply.add("reload_result", std::string(to_string(last_.outcome)));
    std::vector<std::string> wrapped;
    for (const auto& line : last_.lines) {
        std::size_t at = 0;
        do {
            const std::size_t room = at == 0 ? kTelemetryLine : kTelemetryLine - 2;
            wrapped.push_back((at == 0 ? "" : "  ") + line.substr(at, room));
            at += room;
        } while (at < line.size());
    }
    reply.add("reload_message", std::move(wrapped));
}

}  // namespace monami::gw
