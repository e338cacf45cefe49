// monami-mn: a mobile node with several access links, for tests and the demo. It runs in
// the network namespace that holds its interfaces, speaks on AF_PACKET sockets (one per
// link) and prints one JSON object per event on stdout. Control commands come on stdin.
#include <arpa/inet.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tools/mn/json.hpp"
#include "tools/mn/mobile_node.hpp"
#include "tools/mn/options.hpp"

namespace {

using monami::Ipv6Address;
using monami::Ipv6Prefix;
using monami::MacAddress;
using namespace monami::mn;

std::uint64_t now_ms() {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

void print_line(const std::string& line) {
    std::fwrite(line.data(), 1, line.size(), stdout);
    std::fputc('\n', stdout);
    std::fflush(stdout);
}

void fatal(const std::string& message) {
    print_line(JsonObject().add("event", "error").add("message", message).str());
    std::fprintf(stderr, "monami-mn: %s\n", message.c_str());
    std::exit(1);
}

std::optional<MacAddress> interface_mac(const std::string& name) {
    int fd = socket(AF_INET6, SOCK_DGRAM, 0);
    if (fd < 0) return std::nullopt;
    ifreq req{};
    std::strncpy(req.ifr_name, name.c_str(), IFNAMSIZ - 1);
    int rc = ioctl(fd, SIOCGIFHWADDR, &req);
    close(fd);
    if (rc != 0) return std::nullopt;
    return MacAddress::from_bytes(reinterpret_cast<const std::uint8_t*>(req.ifr_hwaddr.sa_data));
}

bool address_configured(const std::string& interface, const Ipv6Address& address) {
    ifaddrs* list = nullptr;
    if (getifaddrs(&list) != 0) return false;
    bool found = false;
    for (ifaddrs* a = list; a && !found; a = a->ifa_next) {
        if (!a->ifa_addr || a->ifa_addr->sa_family != AF_INET6 || interface != a->ifa_name)
            continue;
        const auto* sin6 = reinterpret_cast<const sockaddr_in6*>(a->ifa_addr);
        found = std::memcmp(&sin6->sin6_addr, address.bytes.data(), 16) == 0;
    }
    freeifaddrs(list);
    return found;
}

std::optional<Ipv6Address> hex_address(const std::string& hex) {
    if (hex.size() != 32) return std::nullopt;
    Ipv6Address a;
    for (std::size_t i = 0; i < 16; ++i)
        a.bytes[i] = static_cast<std::uint8_t>(std::stoul(hex.substr(i * 2, 2), nullptr, 16));
    return a;
}

// The kernel's gateway towards `destination` through `interface` (longest prefix, then
// lowest metric), read from /proc/net/ipv6_route.
std::optional<Ipv6Address> route_next_hop(const std::string& interface,
                                          const Ipv6Address& destination) {
    std::ifstream routes("/proc/net/ipv6_route");
    std::string line;
    std::optional<Ipv6Address> best;
    int best_length = -1;
    unsigned long best_metric = 0;
    while (std::getline(routes, line)) {
        std::istringstream in(line);
        std::string dst, dst_len, src, src_len, gateway, metric, refcnt, use, flags, name;
        if (!(in >> dst >> dst_len >> src >> src_len >> gateway >> metric >> refcnt >> use >>
              flags >> name))
            continue;
        if (name != interface) continue;
        auto prefix_address = hex_address(dst);
        auto next_hop = hex_address(gateway);
        if (!prefix_address || !next_hop || next_hop->is_unspecified()) continue;
        int length = static_cast<int>(std::stoul(dst_len, nullptr, 16));
        unsigned long m = std::stoul(metric, nullptr, 16);
        Ipv6Prefix prefix{*prefix_address, static_cast<std::uint8_t>(length)};
        if (!prefix.contains(destination)) continue;
        if (length > best_length || (length == best_length && m < best_metric)) {
            best = next_hop;
            best_length = length;
            best_metric = m;
        }
    }
    return best;
}

int open_packet_socket(const std::string& interface, bool all_multicast) {
    unsigned index = if_nametoindex(interface.c_str());
    if (index == 0) fatal("no interface " + interface);
    int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_IPV6));
    if (fd < 0) fatal("AF_PACKET socket: " + std::string(std::strerror(errno)));
    sockaddr_ll addr{};
    addr.sll_family = AF_PACKET;
    addr.sll_protocol = htons(ETH_P_IPV6);
    addr.sll_ifindex = static_cast<int>(index);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
        fatal("bind to " + interface + ": " + std::strerror(errno));
    if (all_multicast) {
        // Without the CoA in the kernel, nobody joined its solicited-node group.
        packet_mreq mreq{};
        mreq.mr_ifindex = static_cast<int>(index);
        mreq.mr_type = PACKET_MR_ALLMULTI;
        setsockopt(fd, SOL_PACKET, PACKET_ADD_MEMBERSHIP, &mreq, sizeof mreq);
    }
    return fd;
}

int run_command(const std::vector<std::string>& argv) {
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        std::vector<char*> args;
        for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        execvp(args[0], args.data());
        _exit(127);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

// A tun interface (IPv6 packets, no link layer: no Neighbor Discovery to fake) with the HoA.
int open_tun(const MnOptions& options) {
    int fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) fatal("/dev/net/tun: " + std::string(std::strerror(errno)));
    ifreq req{};
    req.ifr_flags = IFF_TUN | IFF_NO_PI;
    std::strncpy(req.ifr_name, options.tap->c_str(), IFNAMSIZ - 1);
    if (ioctl(fd, TUNSETIFF, &req) != 0)
        fatal("TUNSETIFF " + *options.tap + ": " + std::strerror(errno));
    const std::string& name = *options.tap;
    std::vector<std::vector<std::string>> steps = {
        {"ip", "link", "set", name, "up"},
        {"ip", "-6", "addr", "add", options.home_address.to_string() + "/128", "dev", name,
         "nodad"},
    };
    for (const auto& route : options.tap_routes)
        steps.push_back({"ip", "-6", "route", "replace", route.to_string(), "dev", name});
    for (const auto& step : steps)
        if (run_command(step) != 0) {
            std::string text;
            for (const auto& s : step) text += s + " ";
            fatal("failed: " + text);
        }
    return fd;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::string> args(argv + 1, argv + argc);
    auto parsed = parse_command_line(args);
    if (!parsed) {
        std::fprintf(stderr, "monami-mn: %s\n%s", parsed.error().c_str(), usage().c_str());
        return 2;
    }
    MnOptions options = std::move(*parsed);
    if (options.help) {
        std::fputs(usage().c_str(), stdout);
        return 0;
    }

    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigprocmask(SIG_BLOCK, &signals, nullptr);
    int signal_fd = signalfd(-1, &signals, SFD_NONBLOCK | SFD_CLOEXEC);
    signal(SIGPIPE, SIG_IGN);

    std::vector<LinkEnvironment> environment;
    std::vector<int> sockets;
    for (const auto& link : options.links) {
        LinkEnvironment env;
        auto mac = interface_mac(link.interface);
        if (!mac) fatal("cannot read the MAC address of " + link.interface);
        env.mac = *mac;
        env.kernel_owns_care_of = address_configured(link.interface, link.care_of);
        env.route_next_hop = route_next_hop(link.interface, options.home_agent);
        environment.push_back(env);
        sockets.push_back(open_packet_socket(link.interface, !env.kernel_owns_care_of));
    }
    int tun_fd = options.tap ? open_tun(options) : -1;

    auto send = [&](std::size_t link, std::span<const std::uint8_t> frame) {
        return ::send(sockets[link], frame.data(), frame.size(), 0) ==
               static_cast<ssize_t>(frame.size());
    };
    auto write_tun = [&](std::span<const std::uint8_t> ip) {
        if (tun_fd >= 0) (void)!write(tun_fd, ip.data(), ip.size());
    };
    MobileNode node(options, environment, send, print_line, write_tun);

    const std::uint64_t started = now_ms();
    print_line(JsonObject()
                   .add("event", "start")
                   .add("home_address", options.home_address.to_string())
                   .add("home_agent", options.home_agent.to_string())
                   .add("bulk", options.bulk)
                   .add("lifetime", options.lifetime_s)
                   .str());
    node.start(started);

    std::optional<std::uint64_t> stop_at;
    if (options.run_for_s)
        stop_at = started + static_cast<std::uint64_t>(*options.run_for_s * 1000.0);
    bool stdin_open = true;
    std::string stdin_buffer;
    fcntl(STDIN_FILENO, F_SETFL, fcntl(STDIN_FILENO, F_GETFL) | O_NONBLOCK);
    std::vector<std::uint8_t> buffer(65536);
    std::string exit_reason;

    auto stop = [&](const std::string& reason) {
        if (!exit_reason.empty()) return;
        exit_reason = reason;
        node.begin_shutdown(now_ms());
    };

    while (true) {
        std::uint64_t now = now_ms();
        if (stop_at && now >= *stop_at) stop("run_for");
        if (!exit_reason.empty() && node.shutdown_complete(now)) break;

        std::vector<pollfd> fds;
        for (int s : sockets) fds.push_back({s, POLLIN, 0});
        std::size_t first_extra = fds.size();
        fds.push_back({signal_fd, POLLIN, 0});
        fds.push_back({stdin_open ? STDIN_FILENO : -1, POLLIN, 0});
        fds.push_back({tun_fd, POLLIN, 0});
        int timeout = 1000;
        auto deadline = node.next_deadline_ms();
        if (stop_at && exit_reason.empty())
            deadline = deadline ? std::min(*deadline, *stop_at) : *stop_at;
        if (deadline)
            timeout = static_cast<int>(std::clamp<std::int64_t>(
                static_cast<std::int64_t>(*deadline) - static_cast<std::int64_t>(now), 0, 1000));
        int ready = poll(fds.data(), fds.size(), timeout);
        if (ready < 0 && errno != EINTR) fatal("poll: " + std::string(std::strerror(errno)));
        now = now_ms();

        for (std::size_t i = 0; i < sockets.size(); ++i) {
            if (!(fds[i].revents & POLLIN)) continue;
            for (int n = 0; n < 64; ++n) {  // bounded: one busy link cannot starve the rest
                sockaddr_ll from{};
                socklen_t from_len = sizeof from;
                ssize_t got = recvfrom(sockets[i], buffer.data(), buffer.size(), 0,
                                       reinterpret_cast<sockaddr*>(&from), &from_len);
                if (got <= 0) break;
                if (from.sll_pkttype == PACKET_OUTGOING) continue;  // our own frames
                node.on_frame(i, std::span(buffer.data(), static_cast<std::size_t>(got)), now);
            }
        }
        if (fds[first_extra].revents & POLLIN) {
            signalfd_siginfo info{};
            if (read(signal_fd, &info, sizeof info) == sizeof info)
                stop(info.ssi_signo == SIGTERM ? "SIGTERM" : "SIGINT");
        }
        if (fds[first_extra + 1].revents & (POLLIN | POLLHUP | POLLERR)) {
            char chunk[4096];
            ssize_t got = read(STDIN_FILENO, chunk, sizeof chunk);
            if (got > 0) {
                stdin_buffer.append(chunk, static_cast<std::size_t>(got));
            } else if (got == 0 || (errno != EAGAIN && errno != EINTR)) {
                stdin_open = false;  // EOF: keep running (stdin may simply be /dev/null)
            }
            std::size_t newline;
            while ((newline = stdin_buffer.find('\n')) != std::string::npos) {
                std::string line = stdin_buffer.substr(0, newline);
                stdin_buffer.erase(0, newline + 1);
                if (node.command(line, now) == CommandOutcome::Quit) stop("quit");
            }
        }
        if (tun_fd >= 0 && (fds[first_extra + 2].revents & POLLIN)) {
            for (int n = 0; n < 64; ++n) {
                ssize_t got = read(tun_fd, buffer.data(), buffer.size());
                if (got <= 0) break;
                node.on_tun_packet(std::span(buffer.data(), static_cast<std::size_t>(got)), now);
            }
        }
        node.on_tick(now);
    }
    node.emit_stats();
    print_line(JsonObject().add("event", "exit").add("reason", exit_reason).str());
    for (int s : sockets) close(s);
    if (tun_fd >= 0) close(tun_fd);
    return 0;
}
