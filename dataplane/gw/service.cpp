#include "dataplane/gw/service.hpp"

#include <rte_log.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string_view>

#ifdef MONAMI_HAVE_SYSTEMD
#include <systemd/sd-daemon.h>
#endif

namespace monami::gw {

namespace {

// One notification is newline-separated assignments: a STATUS= text must stay one line.
std::string one_line(std::string text) {
    std::replace(text.begin(), text.end(), '\n', ' ');
    return text;
}

void notify([[maybe_unused]] const std::string& message) {
#ifdef MONAMI_HAVE_SYSTEMD
    // A manager that went away or a full socket must not stop the gateway: the result is
    // only what systemd would see, and the gateway carries on either way.
    (void)sd_notify(0, message.c_str());
#endif
}

// The journal's log stream: every line of a message gets "<syslog priority>". A message
// normally arrives whole (rte_vlog flushes after each); one longer than the stream's buffer
// comes in pieces, so the prefix goes only where a line starts.
bool g_at_line_start = true;

ssize_t write_to_journal(void*, const char* buf, size_t size) {
    // RTE_LOG_EMERG is 1, LOG_EMERG 0.
    const int priority = std::clamp(static_cast<int>(rte_log_cur_msg_loglevel()) - 1, 0, 7);
    std::string out;
    out.reserve(size + 8);
    for (char c : std::string_view(buf, size)) {
        if (g_at_line_start) out += "<" + std::to_string(priority) + ">";
        out += c;
        g_at_line_start = c == '\n';
    }
    std::size_t done = 0;
    while (done < out.size()) {
        const ssize_t n = ::write(STDERR_FILENO, out.data() + done, out.size() - done);
        if (n <= 0) break;  // nowhere else to report it
        done += static_cast<std::size_t>(n);
    }
    return static_cast<ssize_t>(size);
}

}  // namespace

bool log_to_journal_if_connected() {
    const char* stream = std::getenv("JOURNAL_STREAM");
    unsigned long long dev = 0, ino = 0;
    struct stat st {};
    if (!stream || std::sscanf(stream, "%llu:%llu", &dev, &ino) != 2 ||
        ::fstat(STDERR_FILENO, &st) != 0 || st.st_dev != dev || st.st_ino != ino)
        return false;
    FILE* f = ::fopencookie(nullptr, "w", {nullptr, write_to_journal, nullptr, nullptr});
    if (!f) return false;
    return rte_openlog_stream(f) == 0;
}

ServiceNotifier::ServiceNotifier() {
#ifdef MONAMI_HAVE_SYSTEMD
    std::uint64_t usec = 0;
    // > 0 only when WATCHDOG_USEC is set and WATCHDOG_PID, if set, is this process.
    if (sd_watchdog_enabled(0, &usec) > 0 && usec != 0)
        watchdog_interval_ms_ = std::max<std::uint64_t>(1, usec / 2 / 1000);
#endif
}

void ServiceNotifier::status(const std::string& text) const {
    notify("STATUS=" + one_line(text));
}

void ServiceNotifier::ready(const std::string& status) const {
    notify("READY=1\nSTATUS=" + one_line(status));
}

void ServiceNotifier::stopping(const std::string& status) const {
    notify("STOPPING=1\nSTATUS=" + one_line(status));
}

void ServiceNotifier::feed_watchdog(std::uint64_t now_ms) {
    notify("WATCHDOG=1");
    last_watchdog_ms_ = now_ms;
}

}  // namespace monami::gw
