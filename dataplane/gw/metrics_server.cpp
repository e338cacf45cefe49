#include "dataplane/gw/metrics_server.hpp"

#include <httplib.h>
#include <rte_lcore.h>

#include <pthread.h>
#include <atomic>
#include <cstring>
#include <thread>

namespace monami::dp {

struct MetricsServer::Impl {
    httplib::Server server;
    Render render;
    pthread_t thread{};
    bool thread_started = false;
    std::atomic<std::uint64_t> scrapes{0};
};

namespace {

void* serve(void* arg) {
    static_cast<httplib::Server*>(arg)->listen_after_bind();
    return nullptr;
}

}  // namespace

std::unique_ptr<MetricsServer> MetricsServer::start(const std::string& host, std::uint16_t port,
                                                    Render render, std::string& error) {
    auto impl = std::make_unique<Impl>();
    impl->render = std::move(render);
    // Scrapes are rare and short: two threads serve them (httplib's default is one per core).
    impl->server.new_task_queue = [] { return new httplib::ThreadPool(2); };
    impl->server.set_read_timeout(std::chrono::seconds(5));
    Impl* raw = impl.get();
    impl->server.Get("/metrics", [raw](const httplib::Request&, httplib::Response& response) {
        response.set_content(raw->render(), "text/plain; version=0.0.4; charset=utf-8");
        raw->scrapes.fetch_add(1, std::memory_order_relaxed);
    });
    if (!impl->server.bind_to_port(host, port)) {
        error = "metrics: cannot listen on [" + host + "]:" + std::to_string(port) + ": " +
                std::strerror(errno);
        return nullptr;
    }
    // A DPDK control thread: its CPU set is the cores no lcore uses (or the main lcore's).
    if (int rc =
            rte_ctrl_thread_create(&impl->thread, "monami-metrics", nullptr, serve, &impl->server);
        rc != 0) {
        error = std::string("metrics: cannot start its thread: ") + std::strerror(-rc);
        return nullptr;
    }
    impl->thread_started = true;
    return std::unique_ptr<MetricsServer>(new MetricsServer(std::move(impl)));
}

MetricsServer::MetricsServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

MetricsServer::~MetricsServer() {
    // httplib's stop() before its listen loop started would leave that loop running.
    for (int i = 0; i < 200 && impl_->thread_started && !impl_->server.is_running(); ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    impl_->server.stop();
    if (impl_->thread_started) pthread_join(impl_->thread, nullptr);
}

std::uint64_t MetricsServer::scrapes() const {
    return impl_->scrapes.load(std::memory_order_relaxed);
}

}  // namespace monami::dp
