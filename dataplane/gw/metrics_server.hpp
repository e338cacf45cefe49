// The /metrics HTTP endpoint (config `metrics.listen`): cpp-httplib on a DPDK control thread,
// so it runs on the cores the EAL leaves to housekeeping, never on a worker lcore or the
// control thread's. Each scrape calls `render` on that thread. HTTP types stay inside.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace monami::dp {

class MetricsServer {
  public:
    using Render = std::function<std::string()>;

    // Binds `host`:`port` and starts serving; nullptr with `error` set when it cannot.
    static std::unique_ptr<MetricsServer> start(const std::string& host, std::uint16_t port,
                                                Render render, std::string& error);
    ~MetricsServer();  // stops serving and joins the thread

    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    std::uint64_t scrapes() const;

  private:
    struct Impl;
    explicit MetricsServer(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace monami::dp
