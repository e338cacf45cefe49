// monami-loadgen [EAL args] -- [--access-port N] [--home-port N] [--window W]
//                [--retransmit-ms MS] [--pcap-sample FILE] [--max-seconds S]
//
// The far side of a running monami-gw for the whole-daemon benchmark (tools/bench --daemon)
// and the large end-to-end tests: a DPDK process of its own whose ports are the other ends of
// the gateway's (memif pairs on one machine, NIC ports elsewhere). On the access port it is
// the access router with every mobile node behind it: it sends Binding Updates (monami-bench's
// addressing plan, dataplane/bench/plan.hpp), retransmits those not acknowledged like a mobile
// node does, reads the BAs, answers heartbeats, and receives the tunnelled data. On the home
// port it is the correspondent: it offers data to the home addresses.
//
// It reads commands on standard input and answers each with one JSON line on standard output:
//   register FIRST COUNT COAS [SEQUENCE [DATA_PPS [DATA_HOAS]]]
//       bulk BUs (COAS CoAs each) for HoAs FIRST..FIRST+COUNT-1, at most `window` awaiting
//       their BA; with DATA_PPS, data to HoAs 0..DATA_HOAS-1 (default: those below FIRST)
//       meanwhile
//   data FIRST COUNT SECONDS [PPS]
//       64-byte UDP frames from the correspondent to HoAs FIRST.. in turn (PPS 0: as fast
//       as the port takes them), then what came back tunnelled
//   silence LINK | answer LINK    stop / resume answering heartbeats to CoAs of BID LINK+1
//   cpu N                         move this process to CPU N (a 2-core box shares cores: the
//                                 benchmark puts it beside whichever gateway thread idles)
//   stats                         counters since start
//   quit
// Every command is bounded by --max-seconds (default 600).
#include <poll.h>
#include <pthread.h>
#include <rte_cycles.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <sched.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "controlplane/mh/exthdr.hpp"
#include "controlplane/mh/parser.hpp"
#include "controlplane/net/packet.hpp"
#include "dataplane/bench/plan.hpp"

using namespace monami;

namespace {

constexpr std::uint16_t kBurst = 32;

struct Options {
    std::uint16_t access_port = 0;
    std::uint16_t home_port = 1;
    unsigned window = 512;
    unsigned retransmit_ms = 1000;
    double max_seconds = 600;
    std::string pcap_sample;  // BAs written here (the first 1000), for independent decoders
};

// Counters of the access side: what the gateway sent the mobile nodes.
struct AccessCounters {
    std::uint64_t binding_acks = 0;
    std::uint64_t ack_status[256] = {};
    std::uint64_t heartbeat_requests = 0;
    std::uint64_t heartbeats_answered = 0;
    std::uint64_t tunnelled = 0;
    std::uint64_t tunnelled_wrong_care_of = 0;  // outer destination not a CoA of the inner HoA
    std::uint64_t other = 0;
};

class PcapWriter {
  public:
    bool open(const std::string& path) {
        f_ = std::fopen(path.c_str(), "wb");
        if (!f_) return false;
        const std::uint32_t header[6] = {0xa1b2c3d4, 0x00040002, 0, 0, 65535, 1};
        std::fwrite(header, sizeof header, 1, f_);
        return true;
    }
    void write(const std::uint8_t* p, std::uint32_t n) {
        if (!f_) return;
        auto now = std::chrono::system_clock::now().time_since_epoch();
        auto us = std::chrono::duration_cast<std::chrono::microseconds>(now).count();
        const std::uint32_t rec[4] = {static_cast<std::uint32_t>(us / 1000000),
                                      static_cast<std::uint32_t>(us % 1000000), n, n};
        std::fwrite(rec, sizeof rec, 1, f_);
        std::fwrite(p, n, 1, f_);
        std::fflush(f_);  // readable while the generator runs
    }
    ~PcapWriter() {
        if (f_) std::fclose(f_);
    }

  private:
    std::FILE* f_ = nullptr;
};

class LoadGen {
  public:
    LoadGen(const Options& o, rte_mempool* pool) : o_(o), pool_(pool) {
        if (!o.pcap_sample.empty()) pcap_.open(o.pcap_sample);
        hz_ = rte_get_tsc_hz();
    }

    void run_commands();

  private:
    // Sending: frames copied into mbufs and sent in bursts; what the port refuses is counted.
    void queue_frame(std::uint16_t port, const std::uint8_t* data, std::size_t n);
    void flush();
    // Receiving: everything both ports delivered, handled; returns the frames seen.
    unsigned poll_ports();
    void on_access_frame(const std::uint8_t* p, std::size_t n);

    void cmd_register(std::uint32_t first, std::uint32_t count, unsigned coas,
                      std::uint16_t sequence, double data_pps, std::uint32_t data_hoas);
    void cmd_data(std::uint32_t first, std::uint32_t count, double seconds, double pps);
    void send_data(std::uint32_t hoa);
    void report_stats(const char* command);
    double seconds_since(std::uint64_t tsc) const {
        return static_cast<double>(rte_rdtsc() - tsc) / static_cast<double>(hz_);
    }
    void idle_pause() { std::this_thread::sleep_for(std::chrono::microseconds(20)); }

    Options o_;
    rte_mempool* pool_;
    std::uint64_t hz_ = 1;
    bench::Plan plan_;
    PcapWriter pcap_;
    std::uint64_t pcap_written_ = 0;
    rte_mbuf* tx_[2][kBurst] = {};
    unsigned tx_n_[2] = {0, 0};
    std::uint64_t tx_refused_ = 0;
    std::uint64_t data_sent_ = 0;
    AccessCounters access_;
    std::uint64_t home_received_ = 0;
    std::uint64_t access_frames_ = 0;  // everything the access port received
    bool silenced_[256] = {};
    // The registration under way: BAs are matched to it by HoA and sequence.
    std::uint32_t reg_first_ = 0, reg_count_ = 0;
    std::uint16_t reg_sequence_ = 0;
    std::vector<std::uint8_t> reg_acked_;  // 0: waiting, 1: status < 128, 2: rejected
    std::uint64_t reg_done_ = 0;
    std::uint64_t reg_accepted_ = 0;
    std::uint64_t reg_duplicates_ = 0;
    std::uint64_t reg_lost_acks_ = 0;  // answered 135 with our sequence: accepted before
    std::uint8_t data_frame_[64] = {};
    // The data command's HoAs that some tunnelled packet reached.
    std::uint32_t reached_first_ = 0;
    std::vector<bool> reached_;
    std::uint64_t reached_count_ = 0;
};

void LoadGen::queue_frame(std::uint16_t port, const std::uint8_t* data, std::size_t n) {
    const unsigned side = port == o_.access_port ? 0 : 1;
    rte_mbuf* m = rte_pktmbuf_alloc(pool_);
    if (!m) {
        ++tx_refused_;
        return;
    }
    std::memcpy(rte_pktmbuf_append(m, static_cast<std::uint16_t>(n)), data, n);
    tx_[side][tx_n_[side]++] = m;
    if (tx_n_[side] == kBurst) flush();
}

void LoadGen::flush() {
    for (unsigned side = 0; side < 2; ++side) {
        if (tx_n_[side] == 0) continue;
        const std::uint16_t port = side == 0 ? o_.access_port : o_.home_port;
        std::uint16_t sent =
            rte_eth_tx_burst(port, 0, tx_[side], static_cast<std::uint16_t>(tx_n_[side]));
        for (unsigned i = sent; i < tx_n_[side]; ++i) rte_pktmbuf_free(tx_[side][i]);
        tx_refused_ += tx_n_[side] - sent;
        tx_n_[side] = 0;
    }
}

unsigned LoadGen::poll_ports() {
    rte_mbuf* pkts[kBurst];
    unsigned total = 0;
    std::uint16_t n = rte_eth_rx_burst(o_.access_port, 0, pkts, kBurst);
    access_frames_ += n;
    for (std::uint16_t i = 0; i < n; ++i) {
        on_access_frame(rte_pktmbuf_mtod(pkts[i], const std::uint8_t*),
                        rte_pktmbuf_data_len(pkts[i]));
        rte_pktmbuf_free(pkts[i]);
    }
    total += n;
    if (o_.home_port != o_.access_port) {
        n = rte_eth_rx_burst(o_.home_port, 0, pkts, kBurst);
        home_received_ += n;  // proxy NAs, ICMPv6: not the data we measure
        rte_pktmbuf_free_bulk(pkts, n);
        total += n;
    }
    flush();  // heartbeat answers
    return total;
}

void LoadGen::on_access_frame(const std::uint8_t* p, std::size_t n) {
    if (n < net::kEthernetHeaderSize + net::kIpv6HeaderSize ||
        net::load_be16(p + 12) != net::kEtherTypeIpv6) {
        ++access_.other;
        return;
    }
    const std::uint8_t* ip = p + net::kEthernetHeaderSize;
    const std::size_t ip_len = n - net::kEthernetHeaderSize;
    // Tunnelled data: outer IPv6 [+ Tunnel Encapsulation Limit option] + inner IPv6.
    std::size_t inner = 0;
    if (ip[6] == net::kProtoIpv6InIpv6) inner = net::kIpv6HeaderSize;
    if (ip[6] == net::kProtoDestinationOptions && ip_len >= 48 && ip[40] == net::kProtoIpv6InIpv6)
        inner = net::kIpv6HeaderSize + (std::size_t{ip[41]} + 1) * 8;
    if (inner != 0) {
        if (ip_len < inner + net::kIpv6HeaderSize) {
            ++access_.other;
            return;
        }
        ++access_.tunnelled;
        const std::uint8_t* coa = ip + 24;
        const std::uint8_t* hoa = ip + inner + 24;
        // CoA of HoA i, BID k+1: 2001:db8:c0<k>:<g>::<i> (Plan::care_of).
        if (!bench::Plan::is_home_address(hoa) ||
            std::memcmp(coa, "\x20\x01\x0d\xb8\xc0", 5) != 0 ||
            bench::Plan::load(coa + 12) != bench::Plan::home_index(hoa)) {
            ++access_.tunnelled_wrong_care_of;
            return;
        }
        const std::uint32_t i = bench::Plan::home_index(hoa);
        if (i - reached_first_ < reached_.size() && !reached_[i - reached_first_]) {
            reached_[i - reached_first_] = true;
            ++reached_count_;
        }
        return;
    }
    auto chain = mh::walk_ipv6_headers({ip, ip_len});
    if (!chain || chain->upper_layer_protocol != net::kProtoMobility) {
        ++access_.other;
        return;
    }
    auto parsed = mh::parse_mh(chain->upper_layer({ip, ip_len}), chain->checksum_source(),
                               chain->checksum_destination());
    if (!parsed) {
        ++access_.other;
        return;
    }
    if (const auto* ba = std::get_if<mh::BindingAck>(&parsed->message)) {
        ++access_.binding_acks;
        ++access_.ack_status[ba->status];
        if (pcap_written_ < 1000) {
            pcap_.write(p, static_cast<std::uint32_t>(n));
            ++pcap_written_;
        }
        const Ipv6Address& hoa = chain->checksum_destination();  // the type 2 routing header's
        if (!bench::Plan::is_home_address(hoa.bytes.data())) return;
        const std::uint32_t i = bench::Plan::home_index(hoa.bytes.data());
        if (ba->sequence != reg_sequence_ || i < reg_first_ || i - reg_first_ >= reg_count_) return;
        auto& state = reg_acked_[i - reg_first_];
        if (state != 0) {
            ++reg_duplicates_;  // the BA of a retransmission
            return;
        }
        // 135 naming our own sequence number as the last accepted (RFC 6275 s.9.5.1): an
        // earlier copy of this BU was accepted and its BA lost; the MN is registered.
        const bool accepted_before = ba->status == mh::ba_status::kSequenceOutOfWindow;
        if (accepted_before) ++reg_lost_acks_;
        state = ba->status < 128 || accepted_before ? 1 : 2;
        ++reg_done_;
        if (state == 1) ++reg_accepted_;
        return;
    }
    if (const auto* hb = std::get_if<mh::Heartbeat>(&parsed->message)) {
        if (hb->response) return;
        ++access_.heartbeat_requests;
        const Ipv6Address& coa = chain->destination;
        if (silenced_[coa.bytes[5]]) return;
        auto frame = bench::build_heartbeat_response_frame(plan_, coa, hb->sequence);
        queue_frame(o_.access_port, frame.data(), frame.size());
        ++access_.heartbeats_answered;
        return;
    }
    ++access_.other;
}

void LoadGen::send_data(std::uint32_t hoa) {
    bench::Plan::store(data_frame_ + net::kEthernetHeaderSize + 24 + 12, hoa);
    queue_frame(o_.home_port, data_frame_, sizeof data_frame_);
    ++data_sent_;
}

void LoadGen::cmd_register(std::uint32_t first, std::uint32_t count, unsigned coas,
                           std::uint16_t sequence, double data_pps, std::uint32_t data_hoas) {
    reg_first_ = first;
    reg_count_ = count;
    reg_sequence_ = sequence;
    reg_acked_.assign(count, 0);
    reg_done_ = reg_accepted_ = reg_duplicates_ = reg_lost_acks_ = 0;
    const std::uint64_t acks_before = access_.binding_acks;
    const std::uint64_t tunnelled_before = access_.tunnelled;
    const std::uint64_t data_before = data_sent_;
    std::deque<std::pair<std::uint32_t, std::uint64_t>> waiting;  // (index, sent tsc), in order
    const std::uint64_t retransmit_tsc = hz_ * o_.retransmit_ms / 1000;
    std::uint64_t next = 0, retransmits = 0, data_next_tsc = 0, data_hoa = 0;
    const std::uint64_t data_gap_tsc =
        data_pps > 0 ? static_cast<std::uint64_t>(static_cast<double>(hz_) / data_pps) : 0;
    const std::uint64_t start = rte_rdtsc();
    bench::Registration r;
    r.coas = coas;
    r.sequence = sequence;
    while (reg_done_ < count && seconds_since(start) < o_.max_seconds) {
        bool worked = poll_ports() != 0;
        const std::uint64_t now = rte_rdtsc();
        // New BUs while the window has room, then the oldest unanswered one again.
        while (next < count && waiting.size() < o_.window) {
            r.hoa = first + static_cast<std::uint32_t>(next);
            auto frame = bench::build_bu_frame(plan_, r);
            queue_frame(o_.access_port, frame.data(), frame.size());
            waiting.emplace_back(static_cast<std::uint32_t>(next), now);
            ++next;
            worked = true;
        }
        while (!waiting.empty() && reg_acked_[waiting.front().first] != 0) waiting.pop_front();
        if (!waiting.empty() && now - waiting.front().second > retransmit_tsc) {
            auto [index, sent] = waiting.front();
            waiting.pop_front();
            r.hoa = first + index;
            auto frame = bench::build_bu_frame(plan_, r);
            queue_frame(o_.access_port, frame.data(), frame.size());
            waiting.emplace_back(index, now);
            ++retransmits;
            worked = true;
        }
        if (data_gap_tsc && data_hoas > 0 && now >= data_next_tsc) {
            for (unsigned b = 0; b < 8 && now >= data_next_tsc; ++b) {
                send_data(static_cast<std::uint32_t>(data_hoa++ % data_hoas));
                data_next_tsc = (data_next_tsc ? data_next_tsc : now) + data_gap_tsc;
            }
            worked = true;
        }
        flush();
        if (!worked) idle_pause();
    }
    const double seconds = seconds_since(start);
    // Late BAs of retransmissions: a moment to drain them so `stats` stays exact.
    for (auto t = rte_rdtsc(); seconds_since(t) < 0.05;) poll_ports();
    std::printf(
        "{\"command\": \"register\", \"first\": %u, \"count\": %u, \"coas\": %u, "
        "\"sequence\": %u, \"answered\": %lu, \"accepted\": %lu, \"rejected\": %lu, "
        "\"retransmits\": %lu, \"duplicate_acks\": %lu, \"lost_acks\": %lu, "
        "\"binding_acks\": %lu, "
        "\"seconds\": %.6f, \"per_second\": %.1f, \"data_sent\": %lu, \"data_tunnelled\": %lu, "
        "\"complete\": %s}\n",
        first, count, coas, sequence, reg_done_, reg_accepted_, reg_done_ - reg_accepted_,
        retransmits, reg_duplicates_, reg_lost_acks_, access_.binding_acks - acks_before, seconds,
        static_cast<double>(reg_done_) / seconds, data_sent_ - data_before,
        access_.tunnelled - tunnelled_before, reg_done_ == count ? "true" : "false");
    std::fflush(stdout);
    reg_count_ = 0;
}

void LoadGen::cmd_data(std::uint32_t first, std::uint32_t count, double seconds, double pps) {
    const std::uint64_t sent_before = data_sent_, tunnelled_before = access_.tunnelled,
                        received_before = access_frames_,
                        wrong_before = access_.tunnelled_wrong_care_of,
                        refused_before = tx_refused_;
    const std::uint64_t gap =
        pps > 0 ? static_cast<std::uint64_t>(static_cast<double>(hz_) / pps) : 0;
    reached_first_ = first;
    reached_.assign(count, false);
    reached_count_ = 0;
    const std::uint64_t start = rte_rdtsc();
    std::uint64_t next_tsc = start, k = 0;
    seconds = std::min(seconds, o_.max_seconds);
    while (seconds_since(start) < seconds) {
        const std::uint64_t now = rte_rdtsc();
        for (unsigned b = 0; b < kBurst && (gap == 0 || now >= next_tsc); ++b) {
            send_data(first + static_cast<std::uint32_t>(k++ % count));
            next_tsc += gap;
        }
        flush();
        poll_ports();
    }
    const double sent_seconds = seconds_since(start);
    for (auto t = rte_rdtsc(); seconds_since(t) < 0.2;) poll_ports();  // what is in flight
    reached_.assign(0, false);
    const std::uint64_t offered = data_sent_ - sent_before - (tx_refused_ - refused_before);
    std::printf(
        "{\"command\": \"data\", \"first\": %u, \"count\": %u, \"seconds\": %.6f, "
        "\"offered\": %lu, \"refused_by_port\": %lu, \"received\": %lu, \"tunnelled\": %lu, "
        "\"wrong_care_of\": %lu, \"hoas_reached\": %lu, \"offered_pps\": %.1f, "
        "\"tunnelled_pps\": %.1f}\n",
        first, count, sent_seconds, offered, tx_refused_ - refused_before,
        access_frames_ - received_before, access_.tunnelled - tunnelled_before,
        access_.tunnelled_wrong_care_of - wrong_before, reached_count_,
        static_cast<double>(offered) / sent_seconds,
        static_cast<double>(access_.tunnelled - tunnelled_before) / sent_seconds);
    std::fflush(stdout);
}

void LoadGen::report_stats(const char* command) {
    std::string statuses;
    for (unsigned s = 0; s < 256; ++s)
        if (access_.ack_status[s])
            statuses += (statuses.empty() ? "\"" : ", \"") + std::to_string(s) +
                        "\": " + std::to_string(access_.ack_status[s]);
    std::printf(
        "{\"command\": \"%s\", \"binding_acks\": %lu, \"ack_status\": {%s}, "
        "\"heartbeat_requests\": %lu, \"heartbeats_answered\": %lu, \"tunnelled\": %lu, "
        "\"tunnelled_wrong_care_of\": %lu, \"data_sent\": %lu, \"refused_by_port\": %lu, "
        "\"home_received\": %lu, \"other\": %lu}\n",
        command, access_.binding_acks, statuses.c_str(), access_.heartbeat_requests,
        access_.heartbeats_answered, access_.tunnelled, access_.tunnelled_wrong_care_of, data_sent_,
        tx_refused_, home_received_, access_.other);
    std::fflush(stdout);
}

void LoadGen::run_commands() {
    // The data frame: correspondent -> HoA, UDP to port 9, 64 bytes without FCS.
    net::write_ethernet_header(data_frame_, plan_.home_mac, plan_.home_router_mac);
    net::write_ipv6_header(data_frame_ + net::kEthernetHeaderSize, 10, net::kProtoUdp, 64,
                           bench::Plan::correspondent(1), bench::Plan::home_address(0));
    std::uint8_t* udp = data_frame_ + net::kEthernetHeaderSize + net::kIpv6HeaderSize;
    net::store_be16(udp, 40000);
    net::store_be16(udp + 2, bench::kPlainPort);
    net::store_be16(udp + 4, 10);

    std::string pending;
    char buf[4096];
    while (true) {
        pollfd pfd{0, POLLIN, 0};
        if (poll(&pfd, 1, 0) > 0) {
            ssize_t n = read(0, buf, sizeof buf);
            if (n <= 0) return;  // standard input closed: done
            pending.append(buf, static_cast<std::size_t>(n));
        }
        std::size_t eol;
        while ((eol = pending.find('\n')) != std::string::npos) {
            std::istringstream line(pending.substr(0, eol));
            pending.erase(0, eol + 1);
            std::string cmd;
            line >> cmd;
            if (cmd == "register") {
                std::uint32_t first = 0, count = 0, data_hoas = 0;
                unsigned coas = 1, sequence = 1;
                double pps = 0;
                line >> first >> count >> coas;
                if (!(line >> sequence)) sequence = 1;
                if (!(line >> pps)) pps = 0;
                if (!(line >> data_hoas)) data_hoas = first;
                cmd_register(first, count, coas, static_cast<std::uint16_t>(sequence), pps,
                             data_hoas);
            } else if (cmd == "data") {
                std::uint32_t first = 0, count = 1;
                double seconds = 1, pps = 0;
                line >> first >> count >> seconds;
                if (!(line >> pps)) pps = 0;
                cmd_data(first, std::max<std::uint32_t>(count, 1), seconds, pps);
            } else if (cmd == "silence" || cmd == "answer") {
                unsigned link = 0;
                line >> link;
                silenced_[link & 0xff] = cmd == "silence";
                std::printf("{\"command\": \"%s\", \"link\": %u}\n", cmd.c_str(), link);
                std::fflush(stdout);
            } else if (cmd == "cpu") {
                unsigned cpu = 0;
                line >> cpu;
                cpu_set_t set;
                CPU_ZERO(&set);
                CPU_SET(cpu, &set);
                const int rc = pthread_setaffinity_np(pthread_self(), sizeof set, &set);
                std::printf("{\"command\": \"cpu\", \"cpu\": %u, \"ok\": %s}\n", cpu,
                            rc == 0 ? "true" : "false");
                std::fflush(stdout);
            } else if (cmd == "stats") {
                report_stats("stats");
            } else if (cmd == "quit") {
                report_stats("quit");
                return;
            } else if (!cmd.empty()) {
                std::printf("{\"command\": \"%s\", \"error\": \"unknown command\"}\n", cmd.c_str());
                std::fflush(stdout);
            }
        }
        // Between commands: heartbeats are answered, nothing else is sent.
        if (poll_ports() == 0) idle_pause();
    }
}

bool start_port(std::uint16_t port, rte_mempool* pool, std::string& error) {
    rte_eth_conf conf{};
    if (rte_eth_dev_configure(port, 1, 1, &conf) != 0 ||
        rte_eth_rx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), nullptr, pool) != 0 ||
        rte_eth_tx_queue_setup(port, 0, 1024, rte_eth_dev_socket_id(port), nullptr) != 0 ||
        rte_eth_dev_start(port) != 0) {
        error = "port " + std::to_string(port) + " could not be started";
        return false;
    }
    rte_eth_promiscuous_enable(port);
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    int used = rte_eal_init(argc, argv);
    if (used < 0) {
        std::fprintf(stderr, "monami-loadgen: EAL initialisation failed\n");
        return 1;
    }
    Options o;
    for (int i = used + 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : ""; };
        if (a == "--access-port")
            o.access_port = static_cast<std::uint16_t>(std::atoi(value()));
        else if (a == "--home-port")
            o.home_port = static_cast<std::uint16_t>(std::atoi(value()));
        else if (a == "--window")
            o.window = static_cast<unsigned>(std::atoi(value()));
        else if (a == "--retransmit-ms")
            o.retransmit_ms = static_cast<unsigned>(std::atoi(value()));
        else if (a == "--max-seconds")
            o.max_seconds = std::atof(value());
        else if (a == "--pcap-sample")
            o.pcap_sample = value();
        else {
            std::fprintf(stderr, "monami-loadgen: unknown option '%s'\n", a.c_str());
            return 2;
        }
    }
    prctl(PR_SET_TIMERSLACK, 1UL);  // idle pauses of 20 us, not 70
    rte_mempool* pool = rte_pktmbuf_pool_create("loadgen", 16383, 256, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                                rte_socket_id());
    std::string error;
    if (!pool || rte_eth_dev_count_avail() < 1 || !start_port(o.access_port, pool, error) ||
        (o.home_port != o.access_port && rte_eth_dev_is_valid_port(o.home_port) &&
         !start_port(o.home_port, pool, error))) {
        std::fprintf(stderr, "monami-loadgen: %s\n", error.empty() ? "no ports" : error.c_str());
        return 1;
    }
    {
        LoadGen gen(o, pool);
        std::printf("{\"command\": \"ready\"}\n");
        std::fflush(stdout);
        gen.run_commands();
    }
    rte_eal_cleanup();
    return 0;
}
