// The service manager's side of monami-gw: systemd's notify protocol (sd_notify(3)).
// READY=1 once the ports forward and the binding state is restored, STATUS= lines a person
// reads in `systemctl status`, STOPPING=1 on the way out, and WATCHDOG=1 from the control
// loop when the unit sets WatchdogSec=. Without NOTIFY_SOCKET (not started by systemd, or
// built without libsystemd) every call does nothing.
#pragma once

#include <cstdint>
#include <string>

namespace monami::gw {

// When systemd connected standard error to the journal (JOURNAL_STREAM names it), DPDK's
// log goes there alone, each line with its priority as an sd-daemon(3) "<N>" prefix: by
// default the EAL writes every line to stderr and to syslog(3) both, which the journal would
// store twice, once without its level. Call before rte_eal_init. True when it did.
bool log_to_journal_if_connected();

class ServiceNotifier {
  public:
    ServiceNotifier();

    void status(const std::string& text) const;
    void ready(const std::string& status) const;
    void stopping(const std::string& status) const;

    // Called on every control-loop iteration with the loop's clock: one comparison unless a
    // keep-alive is due (half the manager's timeout, as sd_watchdog_enabled(3) advises).
    void watchdog(std::uint64_t now_ms) {
        if (watchdog_interval_ms_ != 0 && now_ms - last_watchdog_ms_ >= watchdog_interval_ms_)
            feed_watchdog(now_ms);
    }
    std::uint64_t watchdog_interval_ms() const { return watchdog_interval_ms_; }

  private:
    void feed_watchdog(std::uint64_t now_ms);

    std::uint64_t watchdog_interval_ms_ = 0;  // 0: no watchdog asked for
    std::uint64_t last_watchdog_ms_ = 0;
};

}  // namespace monami::gw
