#include "tools/ctl/top.hpp"

#include <poll.h>
#include <sys/ioctl.h>
#include <termios.h>

#include <chrono>
#include <csignal>
#include <ctime>

namespace monami::ctl {

namespace {

volatile std::sig_atomic_t g_stop = 0;

void on_stop_signal(int) {
    g_stop = 1;
}

// Raw keys (no echo, no line buffering; Ctrl-C still raises SIGINT), the alternate screen
// and a hidden cursor while it lives; everything restored when it ends.
class Terminal {
  public:
    Terminal() {
        interactive_ = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_) == 0;
        if (interactive_) {
            termios raw = saved_;
            raw.c_lflag &= static_cast<tcflag_t>(~(ICANON | ECHO));
            raw.c_cc[VMIN] = 0;
            raw.c_cc[VTIME] = 0;
            tcsetattr(STDIN_FILENO, TCSANOW, &raw);
        }
        screen_ = isatty(STDOUT_FILENO);
        if (screen_) std::fputs("\x1b[?1049h\x1b[?25l", stdout);
    }
    ~Terminal() {
        if (screen_) std::fputs("\x1b[?25h\x1b[?1049l", stdout);
        std::fflush(stdout);
        if (interactive_) tcsetattr(STDIN_FILENO, TCSANOW, &saved_);
    }
    Terminal(const Terminal&) = delete;
    Terminal& operator=(const Terminal&) = delete;

    // Waits up to `ms` for a key; true when it was q (or Q).
    bool quit_key_within(int ms) const {
        pollfd p{STDIN_FILENO, POLLIN, 0};
        const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
        while (!g_stop) {
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                                  until - std::chrono::steady_clock::now())
                                  .count();
            if (left <= 0) return false;
            const int ready = poll(&p, 1, static_cast<int>(left));
            if (ready <= 0 || !(p.revents & POLLIN)) {
                if (ready > 0 && (p.revents & (POLLHUP | POLLERR))) p.fd = -1;  // no keys
                continue;
            }
            char c = 0;
            const ssize_t n = read(STDIN_FILENO, &c, 1);
            if (n == 0) p.fd = -1;  // end of input: only the timer and signals remain
            if (n == 1 && (c == 'q' || c == 'Q')) return true;
        }
        return false;
    }

    // One screen: each line overwritten and cleared to its end, then what is below cleared.
    void draw(const std::vector<std::string>& lines) const {
        winsize w{};
        const std::size_t columns =
            screen_ && ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_col ? w.ws_col : 200;
        const std::size_t rows =
            screen_ && ioctl(STDOUT_FILENO, TIOCGWINSZ, &w) == 0 && w.ws_row ? w.ws_row : 1000;
        std::string out = screen_ ? "\x1b[H" : "";
        for (std::size_t i = 0; i < lines.size() && i + 1 < rows; ++i) {
            out += lines[i].substr(0, columns);
            out += screen_ ? "\x1b[K\n" : "\n";
        }
        if (screen_)
            out += "\x1b[J";
        else
            out += "\n";
        std::fputs(out.c_str(), stdout);
        std::fflush(stdout);
    }

  private:
    termios saved_{};
    bool interactive_ = false;
    bool screen_ = false;
};

double number(const Json& answer, const std::string& key) {
    if (const auto* o = answer.object())
        for (const auto& [k, v] : *o)
            if (k == key)
                if (const auto* d = std::get_if<double>(&v.v)) return *d;
    return 0;
}

struct PortSample {
    std::string name;
    std::string id;
    std::string link;
    double rx_packets = 0, tx_packets = 0, rx_bytes = 0, tx_bytes = 0, missed = 0;
};

struct Sample {
    std::chrono::steady_clock::time_point at;
    std::vector<PortSample> ports;
    std::vector<double> worker_busy_cycles, worker_rx;
    std::vector<std::string> worker_lcores;
    double tsc_hz = 0;
    std::map<std::string, double> control, drops;
    Json summary, store;
};

// One reading of everything shown. False when the gateway does not answer (its socket is
// gone); a question the control thread could not answer in time leaves its part empty.
bool take_sample(Telemetry& t, Sample& s, std::string& error) {
    s.at = std::chrono::steady_clock::now();
    Json ports;
    if (!t.query("/monami/ports", ports, error)) return false;
    if (const auto* o = ports.object())
        for (const auto& [name, info] : *o) {
            PortSample p;
            p.name = name;
            if (const auto* items = info.array())
                for (const auto& item : *items) {
                    const std::string kv = item.text();
                    if (kv.rfind("port_id=", 0) == 0) p.id = kv.substr(8);
                    if (kv.rfind("link=", 0) == 0) p.link = kv.substr(5);
                }
            Json stats;
            if (!t.query("/ethdev/stats," + p.id, stats, error)) return false;
            p.rx_packets = number(stats, "ipackets");
            p.tx_packets = number(stats, "opackets");
            p.rx_bytes = number(stats, "ibytes");
            p.tx_bytes = number(stats, "obytes");
            p.missed = number(stats, "imissed");
            s.ports.push_back(std::move(p));
        }
    Json workers;
    if (!t.query("/monami/workers", workers, error)) return false;
    s.tsc_hz = number(workers, "tsc_hz");
    for (unsigned i = 0; i < static_cast<unsigned>(number(workers, "workers")); ++i) {
        Json w;
        if (!t.query("/monami/worker," + std::to_string(i), w, error)) return false;
        s.worker_busy_cycles.push_back(number(w, "busy_cycles"));
        s.worker_rx.push_back(number(w, "rx_packets"));
        s.worker_lcores.push_back(field(w, "lcore"));
    }
    Json drops, control;
    if (!t.query("/monami/drops", drops, error) || !t.query("/monami/control", control, error) ||
        !t.query("/monami/summary", s.summary, error) || !t.query("/monami/store", s.store, error))
        return false;
    for (const auto* from : {&drops, &control})
        if (const auto* o = from->object())
            for (const auto& [k, v] : *o)
                if (const auto* d = std::get_if<double>(&v.v))
                    (from == &drops ? s.drops : s.control)[k] = *d;
    return true;
}

std::string format(const char* fmt, double a, double b = 0, double c = 0, double d = 0,
                   double e = 0) {
    char line[256];
    std::snprintf(line, sizeof line, fmt, a, b, c, d, e);
    return line;
}

// A rate with an SI suffix and four significant digits: "14.88M" (packets or bits per
// second), "812.3k", "950".
std::string si(double value) {
    const char* suffix = "";
    for (const char* next : {"k", "M", "G", "T"}) {
        if (value < 1000) break;
        value /= 1000;
        suffix = next;
    }
    char text[32];
    std::snprintf(text, sizeof text,
                  value < 10    ? "%.2f%s"
                  : value < 100 ? "%.1f%s"
                                : "%.0f%s",
                  value, suffix);
    if (*suffix == 0 && value == static_cast<double>(static_cast<long>(value)))
        std::snprintf(text, sizeof text, "%.0f", value);
    return text;
}

std::vector<std::string> render(const std::string& prefix, const Sample& now,
                                const Sample* before) {
    std::vector<std::string> lines;
    const double dt = before ? std::chrono::duration<double>(now.at - before->at).count() : 0.0;
    auto rate = [&](double a, double b) { return dt > 0 ? (a - b) / dt : 0.0; };
    char clock[16];
    const std::time_t wall = std::time(nullptr);
    std::strftime(clock, sizeof clock, "%H:%M:%S", std::localtime(&wall));
    lines.push_back("monami-ctl top: gateway " + prefix + "  " + clock +
                    (before ? "  rates over the last " + format("%.1f", dt) + " s"
                            : "  (rates from the next refresh)") +
                    "  q: quit");
    const std::string role = field(now.store, "role");
    if (!role.empty())
        lines.push_back("pair: " + role + " (" +
                        (field(now.store, "serving") == "yes" ? "serving" : "silent") +
                        "), leader " + field(now.store, "leader") + ", lag " +
                        field(now.store, "lag_revisions") + " revisions");
    const Json& sum = now.summary;
    if (sum.object())
        lines.push_back("home addresses " + field(sum, "home_addresses") + "  bindings " +
                        field(sum, "bindings") + "  flows " + field(sum, "flows") +
                        "  paths live " + field(sum, "paths_live") + " suspect " +
                        field(sum, "paths_suspect") + " dead " + field(sum, "paths_dead"));
    else
        lines.push_back("home addresses ?  (the control thread did not answer in time)");
    auto control_rate = [&](const char* key) {
        auto a = now.control.find(key);
        if (!before || a == now.control.end()) return 0.0;
        auto b = before->control.find(key);
        return b == before->control.end() ? 0.0 : rate(a->second, b->second);
    };
    lines.push_back(format("BUs/s %.0f  BAs/s %.0f  heartbeats/s %.0f  paths died/s %.0f",
                           control_rate("binding_updates"), control_rate("binding_acks_sent"),
                           control_rate("heartbeats_sent"), control_rate("paths_dead")));
    lines.push_back("");
    lines.push_back("port            rx pkt/s   rx bit/s   tx pkt/s   tx bit/s   missed/s  link");
    for (std::size_t i = 0; i < now.ports.size(); ++i) {
        const PortSample& p = now.ports[i];
        const PortSample* q = before && i < before->ports.size() ? &before->ports[i] : nullptr;
        char line[256];
        std::snprintf(line, sizeof line, "%-15.15s %9s %10s %10s %10s %10s  %s", p.name.c_str(),
                      si(q ? rate(p.rx_packets, q->rx_packets) : 0).c_str(),
                      si(q ? rate(p.rx_bytes, q->rx_bytes) * 8 : 0).c_str(),
                      si(q ? rate(p.tx_packets, q->tx_packets) : 0).c_str(),
                      si(q ? rate(p.tx_bytes, q->tx_bytes) * 8 : 0).c_str(),
                      si(q ? rate(p.missed, q->missed) : 0).c_str(), p.link.c_str());
        lines.push_back(line);
    }
    lines.push_back("");
    lines.push_back("worker  lcore   busy %   rx pkt/s");
    for (std::size_t i = 0; i < now.worker_busy_cycles.size(); ++i) {
        const bool has = before && i < before->worker_busy_cycles.size() && now.tsc_hz > 0;
        char line[128];
        std::snprintf(line, sizeof line, "%-7zu %-5s %8.1f %10s", i, now.worker_lcores[i].c_str(),
                      has ? 100.0 * rate(now.worker_busy_cycles[i], before->worker_busy_cycles[i]) /
                                now.tsc_hz
                          : 0.0,
                      si(has ? rate(now.worker_rx[i], before->worker_rx[i]) : 0).c_str());
        lines.push_back(line);
    }
    lines.push_back("");
    lines.push_back("drops by reason          per s       since start");
    bool any = false;
    for (const auto& [reason, total] : now.drops) {
        const double per_s =
            before && before->drops.count(reason) ? rate(total, before->drops.at(reason)) : 0.0;
        if (total == 0) continue;
        any = true;
        char line[160];
        std::snprintf(line, sizeof line, "%-20s %10.0f %17.0f", reason.c_str(), per_s, total);
        lines.push_back(line);
    }
    if (!any) lines.push_back("(none)");
    return lines;
}

}  // namespace

int run_top(Telemetry& telemetry, const std::string& file_prefix, unsigned refreshes) {
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    int status = 0;
    std::string error;
    {
        Terminal terminal;
        Sample before;
        bool have_before = false;
        for (unsigned n = 0; !g_stop && (refreshes == 0 || n < refreshes); ++n) {
            Sample now;
            if (!take_sample(telemetry, now, error)) {
                status = 1;
                break;
            }
            terminal.draw(render(file_prefix, now, have_before ? &before : nullptr));
            before = std::move(now);
            have_before = true;
            if ((refreshes == 0 || n + 1 < refreshes) && terminal.quit_key_within(1000)) break;
        }
    }
    if (status != 0)
        std::fprintf(stderr, "monami-ctl top: the gateway stopped answering: %s\n", error.c_str());
    return status;
}

}  // namespace monami::ctl
