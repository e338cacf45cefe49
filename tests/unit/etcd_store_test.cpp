// The etcd backend of the binding store against a real etcd (Debian's etcd-server, started
// here with a temporary data dir and the short election timeout a 1 s lease needs): commits
// and reload, a standby following the leader and taking over when the leader's process is
// killed, and a leader that loses etcd going silent.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "controlplane/store/etcd/etcd_store.hpp"
#include "rpc.grpc.pb.h"

namespace monami {
namespace {

using Clock = std::chrono::steady_clock;

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
    socklen_t n = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &n);
    ::close(fd);
    return ntohs(a.sin_port);
}

store::HoaRecord record(std::uint8_t n, std::uint16_t sequence) {
    store::HoaRecord r;
    r.home_address = *Ipv6Address::parse("2001:db8:1::100");
    r.home_address.bytes[15] = n;
    r.last_sequence = sequence;
    r.bindings.push_back({1, false, false, *Ipv6Address::parse("2001:db8:a::100"),
                          *Ipv6Address::parse("2001:db8:1::1"), sequence, 4'000'000'000'000});
    return r;
}

// Waits (bounded) until `done` holds; false if it never did.
template <typename F>
bool eventually(F done, std::chrono::milliseconds limit = std::chrono::seconds(10)) {
    const auto end = Clock::now() + limit;
    while (Clock::now() < end) {
        if (done()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return done();
}

constexpr const char* kLeaderChild = "--leader-child";

store::EtcdOptions test_options(const std::string& endpoint, const std::string& member) {
    store::EtcdOptions o;
    o.endpoints = {endpoint};
    o.prefix = "/monami/test/";
    o.member = member;
    o.lease_ttl_s = 1;
    o.request_timeout_ms = 500;
    return o;
}

// The leader of StandbyFollowsAndTakesOverWhenTheLeaderIsKilled, in its own process: leads,
// says so on `fd` ('L'), commits ten records after the standby has started ('D'), then
// waits for its SIGKILL.
int run_leader_child(const std::string& endpoint, int fd) {
    auto opened = store::open_etcd_store(test_options(endpoint, "a"));
    if (!opened.ok()) return 2;
    auto& s = *opened;
    if (!s->load().ok()) return 2;
    if (!eventually([&] { return s->role() == store::Role::Leader; })) return 3;
    if (::write(fd, "L", 1) != 1) return 5;
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    for (std::uint8_t i = 0; i < 10; ++i) s->put(record(i, 5));
    const auto batch = s->close_batch();
    if (!eventually([&] { return s->durable_batch() >= batch; })) return 4;
    if (::write(fd, "D", 1) != 1) return 5;
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
}

constexpr const char* kFencedChild = "--fenced-child";

// The leader of ADeposedLeaderReadsBackWhatItCouldNotCommit: leads ('L'), then changes
// home address 9 every 50 ms. Once deposed it must have read back what it could not commit:
// it sends 'R' and the sequence number of the last record of home address 9 among its
// changes (what its cache would hold), or 'F'.
int run_fenced_child(const std::string& endpoint, int fd) {
    auto opened = store::open_etcd_store(test_options(endpoint, "a"));
    if (!opened.ok()) return 2;
    auto& s = *opened;
    if (!s->load().ok()) return 2;
    if (!eventually([&] { return s->role() == store::Role::Leader; })) return 3;
    if (::write(fd, "L", 1) != 1) return 5;
    const auto end = Clock::now() + std::chrono::seconds(30);
    std::optional<std::uint16_t> held;
    auto look = [&] {
        for (const auto& c : s->take_changes())
            if (c.kind == store::Change::Kind::PutHoa &&
                c.record.home_address == record(9, 0).home_address)
                held = c.record.last_sequence;
    };
    for (std::uint16_t sequence = 1; Clock::now() < end; ++sequence) {
        s->put(record(9, sequence));
        s->close_batch();
        look();
        if (s->role() == store::Role::Standby && s->stats().resynced > 0 && held) {
            // Late watch events must not undo the read-back: look once more, later.
            std::this_thread::sleep_for(std::chrono::milliseconds(500));
            look();
            const std::uint8_t answer[3] = {'R', static_cast<std::uint8_t>(*held >> 8),
                                            static_cast<std::uint8_t>(*held)};
            (void)::write(fd, answer, 3);
            for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    (void)::write(fd, "F", 1);
    return 6;
}

// A TCP forwarder in front of etcd whose connections can be cut and later allowed again:
// one gateway's path to etcd fails while the other's works.
class CuttablePath {
  public:
    CuttablePath(int listen_port, int etcd_port) : port_(listen_port), etcd_port_(etcd_port) {
        thread_ = std::thread([this] { run(); });
    }
    ~CuttablePath() {
        stop_ = true;
        thread_.join();
    }
    std::string endpoint() const { return "127.0.0.1:" + std::to_string(port_); }
    void cut() { cut_ = true; }
    void restore() { cut_ = false; }

  private:
    static sockaddr_in loopback(int port) {
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(static_cast<std::uint16_t>(port));
        return a;
    }
    int listen_socket() const {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        int on = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        auto a = loopback(port_);
        if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 || ::listen(fd, 16) != 0) {
            ::close(fd);
            return -1;
        }
        return fd;
    }
    void run() {
        int listener = -1;
        std::vector<std::pair<int, int>> links;  // client, etcd
        while (!stop_) {
            if (cut_) {  // every connection closed, none accepted
                for (auto [a, b] : links) ::close(a), ::close(b);
                links.clear();
                if (listener >= 0) ::close(listener), listener = -1;
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                continue;
            }
            if (listener < 0 && (listener = listen_socket()) < 0) {
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
                continue;
            }
            std::vector<pollfd> fds{{listener, POLLIN, 0}};
            for (auto [a, b] : links) fds.push_back({a, POLLIN, 0}), fds.push_back({b, POLLIN, 0});
            if (::poll(fds.data(), fds.size(), 5) <= 0) continue;
            if (fds[0].revents & POLLIN) {
                int client = ::accept4(listener, nullptr, nullptr, 0);
                int upstream = ::socket(AF_INET, SOCK_STREAM, 0);
                auto a = loopback(etcd_port_);
                if (client >= 0 &&
                    ::connect(upstream, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
                    links.emplace_back(client, upstream);
                } else {
                    if (client >= 0) ::close(client);
                    ::close(upstream);
                }
            }
            std::vector<std::pair<int, int>> kept;
            for (std::size_t i = 0; i < links.size() && 1 + 2 * i + 1 < fds.size(); ++i) {
                bool alive = true;
                for (int side = 0; side < 2 && alive; ++side) {
                    if (!(fds[1 + 2 * i + side].revents & (POLLIN | POLLHUP | POLLERR))) continue;
                    char buf[16384];
                    const int from = side ? links[i].second : links[i].first;
                    const int to = side ? links[i].first : links[i].second;
                    const ssize_t n = ::read(from, buf, sizeof buf);
                    alive =
                        n > 0 && ::send(to, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) == n;
                }
                if (alive) {
                    kept.push_back(links[i]);
                } else {
                    ::close(links[i].first);
                    ::close(links[i].second);
                }
            }
            for (std::size_t i = fds.size() / 2; i < links.size(); ++i) kept.push_back(links[i]);
            links = std::move(kept);
        }
        for (auto [a, b] : links) ::close(a), ::close(b);
        if (listener >= 0) ::close(listener);
    }
    const int port_, etcd_port_;
    std::atomic<bool> stop_{false}, cut_{false};
    std::thread thread_;
};

class EtcdStoreTest : public ::testing::Test {
  protected:
    void SetUp() override {
        dir_ = std::filesystem::temp_directory_path() /
               ("monami-etcd-" + std::to_string(::getpid()) + "-" +
                ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::remove_all(dir_);
        std::filesystem::create_directories(dir_);
        const int client = free_port(), peer = free_port();
        endpoint_ = "127.0.0.1:" + std::to_string(client);
        const std::string client_url = "http://" + endpoint_;
        const std::string peer_url = "http://127.0.0.1:" + std::to_string(peer);
        etcd_ = ::fork();
        ASSERT_GE(etcd_, 0);
        if (etcd_ == 0) {
            const std::string log = (dir_ / "etcd.log").string();
            std::freopen(log.c_str(), "w", stderr);
            std::freopen(log.c_str(), "a", stdout);
            // A 1 s lease needs an election timeout of at most 666 ms (etcd 3.4 grants no
            // lease shorter than 1.5 x the election timeout).
            ::execlp("etcd", "etcd", "--name", "t", "--data-dir", (dir_ / "data").c_str(),
                     "--listen-client-urls", client_url.c_str(), "--advertise-client-urls",
                     client_url.c_str(), "--listen-peer-urls", peer_url.c_str(),
                     "--initial-advertise-peer-urls", peer_url.c_str(), "--initial-cluster",
                     ("t=" + peer_url).c_str(), "--heartbeat-interval", "50", "--election-timeout",
                     "500", static_cast<char*>(nullptr));
            std::_Exit(127);
        }
        // Ready when its client port accepts (bounded: a loaded machine starts it slowly).
        ASSERT_TRUE(eventually(
            [&] {
                int fd = ::socket(AF_INET, SOCK_STREAM, 0);
                sockaddr_in a{};
                a.sin_family = AF_INET;
                a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
                a.sin_port = htons(static_cast<std::uint16_t>(client));
                const bool up = ::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
                ::close(fd);
                return up;
            },
            std::chrono::seconds(30)))
            << "etcd did not start: " << (dir_ / "etcd.log");
    }
    void TearDown() override {
        if (etcd_ > 0) {
            ::kill(etcd_, SIGCONT);
            ::kill(etcd_, SIGKILL);
            ::waitpid(etcd_, nullptr, 0);
        }
        std::filesystem::remove_all(dir_);
    }
    // This binary again as a child in `mode` (gRPC does not survive a fork): its pid, and
    // the read end of the pipe it reports on.
    std::pair<pid_t, int> spawn(const char* mode) const {
        int fds[2];
        if (::pipe(fds) != 0) return {-1, -1};
        const pid_t child = ::fork();
        if (child == 0) {
            ::close(fds[0]);
            const std::string fd = std::to_string(fds[1]);
            ::execl("/proc/self/exe", "unit_etcd_store", mode, endpoint_.c_str(), fd.c_str(),
                    static_cast<char*>(nullptr));
            std::_Exit(127);
        }
        ::close(fds[1]);
        return {child, fds[0]};
    }
    std::unique_ptr<store::BindingStore> open(const std::string& member) {
        auto s = store::open_etcd_store(test_options(endpoint_, member));
        EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error());
        return s.ok() ? std::move(s.value()) : nullptr;
    }
    // Compacts etcd's history up to its newest revision: older watch positions are gone.
    std::int64_t compact() const {
        auto kv = kv_stub();
        etcdserverpb::RangeResponse current;
        if (!range(*kv, "/", current)) return 0;
        grpc::ClientContext context;
        etcdserverpb::CompactionRequest request;
        request.set_revision(current.header().revision());
        request.set_physical(true);
        etcdserverpb::CompactionResponse response;
        return kv->Compact(&context, request, &response).ok() ? current.header().revision() : 0;
    }
    // The election key's holder in etcd now ("" when nobody holds it).
    std::string election_key_holder() const {
        etcdserverpb::RangeResponse response;
        if (!range(*kv_stub(), "/monami/test/leader", response)) return "(etcd did not answer)";
        return response.kvs_size() == 1 ? response.kvs(0).value() : std::string();
    }
    // A client of the test's etcd, straight (not through the store under test).
    std::unique_ptr<etcdserverpb::KV::Stub> kv_stub() const {
        return etcdserverpb::KV::NewStub(
            grpc::CreateChannel(endpoint_, grpc::InsecureChannelCredentials()));
    }
    static bool range(etcdserverpb::KV::Stub& kv, const std::string& key,
                      etcdserverpb::RangeResponse& response) {
        grpc::ClientContext context;
        etcdserverpb::RangeRequest request;
        request.set_key(key);
        return kv.Range(&context, request, &response).ok();
    }
    int etcd_port() const { return std::stoi(endpoint_.substr(endpoint_.rfind(':') + 1)); }
    std::filesystem::path dir_;
    std::string endpoint_;
    pid_t etcd_ = -1;
};

TEST_F(EtcdStoreTest, BatchesCommitUnderTheLeadersFenceAndReload) {
    {
        auto s = open("a");
        ASSERT_TRUE(s);
        auto loaded = s->load();
        ASSERT_TRUE(loaded.ok()) << loaded.error();
        EXPECT_TRUE(loaded->hoas.empty());
        ASSERT_TRUE(eventually([&] { return s->role() == store::Role::Leader; }));
        for (std::uint8_t i = 0; i < 200; ++i) s->put(record(i, 1));  // two Txns' worth
        s->put(store::EspMarks{7, true, 65536});
        const auto first = s->close_batch();
        s->put(record(0, 2));
        s->remove(record(1, 1).home_address);
        const auto second = s->close_batch();
        ASSERT_TRUE(eventually([&] { return s->durable_batch() >= second; }));
        EXPECT_GT(second, first);
        auto stats = s->stats();
        EXPECT_EQ(stats.backend, "etcd");
        EXPECT_EQ(stats.role, "leader");
        EXPECT_EQ(stats.leader, "a");
        EXPECT_EQ(stats.errors, 0u);
    }
    auto s = open("a");
    auto loaded = s->load();
    ASSERT_TRUE(loaded.ok()) << loaded.error();
    ASSERT_EQ(loaded->hoas.size(), 199u);
    EXPECT_EQ(loaded->hoas[0], record(0, 2));
    EXPECT_EQ(loaded->hoas[1], record(2, 1));
    ASSERT_EQ(loaded->esp.size(), 1u);
    EXPECT_EQ(loaded->esp[0], (store::EspMarks{7, true, 65536}));
}

// A clean stop: what was committed is written, and the election key goes with the revoked
// lease as resign() returns, so a standby takes over now rather than after the TTL. (The
// lease used to be revoked only while the session still held it, which it no longer did
// once stopping: the key stayed until the lease expired.)
TEST_F(EtcdStoreTest, AResigningLeaderGivesTheElectionKeyUpAtOnce) {
    auto a = open("a");
    ASSERT_TRUE(a);
    ASSERT_TRUE(a->load().ok());
    ASSERT_TRUE(eventually([&] { return a->role() == store::Role::Leader; }));
    EXPECT_EQ(election_key_holder(), "a");
    a->put(record(1, 1));
    const auto batch = a->close_batch();
    a->resign();
    EXPECT_EQ(election_key_holder(), "");
    EXPECT_GE(a->durable_batch(), batch);
    EXPECT_NE(a->role(), store::Role::Leader);
    a->resign();  // again, and in the destructor: nothing more happens
    a.reset();
    auto b = open("b");
    auto loaded = b->load();
    ASSERT_TRUE(loaded.ok()) << loaded.error();
    ASSERT_EQ(loaded->hoas.size(), 1u);
    EXPECT_EQ(loaded->hoas[0], record(1, 1));
}

// The leader runs in a child process (this binary again, exec'd: gRPC does not survive a
// fork) that is killed with SIGKILL: its lease is not revoked, and the standby takes over
// once etcd expires it, having followed every change.
TEST_F(EtcdStoreTest, StandbyFollowsAndTakesOverWhenTheLeaderIsKilled) {
    const auto [leader, ready] = spawn(kLeaderChild);
    ASSERT_GT(leader, 0);
    char c = 0;
    ASSERT_EQ(::read(ready, &c, 1), 1);
    ASSERT_EQ(c, 'L');
    auto standby = open("b");
    ASSERT_TRUE(standby);
    ASSERT_TRUE(standby->load().ok());
    EXPECT_TRUE(eventually([&] { return standby->stats().leader == "a"; }));
    EXPECT_EQ(standby->role(), store::Role::Standby);
    ASSERT_EQ(::read(ready, &c, 1), 1);
    ASSERT_EQ(c, 'D');
    // Received and not yet taken into the cache: the standby says it lags, by how much.
    ASSERT_TRUE(eventually([&] { return standby->stats().lag_revisions > 0; }));
    EXPECT_EQ(standby->stats().lease_state, "held");
    EXPECT_GE(standby->stats().answered_ms_ago, 0);
    std::vector<store::Change> followed;
    ASSERT_TRUE(eventually([&] {
        for (auto& ch : standby->take_changes()) followed.push_back(std::move(ch));
        return followed.size() >= 10;
    }));
    EXPECT_EQ(followed.size(), 10u);
    EXPECT_EQ(followed[3].kind, store::Change::Kind::PutHoa);
    EXPECT_EQ(followed[3].record, record(3, 5));
    const auto caught_up = standby->stats();
    EXPECT_EQ(caught_up.lag_revisions, 0u);
    EXPECT_EQ(caught_up.lag_ms, 0u);
    EXPECT_EQ(caught_up.revision, caught_up.revision_seen);

    ::kill(leader, SIGKILL);
    const auto killed = Clock::now();
    ::waitpid(leader, nullptr, 0);
    ASSERT_TRUE(eventually([&] {
        (void)standby->take_changes();
        return standby->role() == store::Role::Leader;
    }));
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - killed).count();
    std::printf("takeover %lld ms after the leader's kill (lease TTL 1 s)\n",
                static_cast<long long>(took));
    EXPECT_EQ(standby->stats().leader, "b");
    // The new leader writes under its own fence.
    standby->put(record(0, 6));
    const auto batch = standby->close_batch();
    ASSERT_TRUE(eventually([&] { return standby->durable_batch() >= batch; }));
    EXPECT_EQ(standby->stats().fenced, 0u);
}

// Several endpoints are used in turn: the first here is dead, the store works through the
// second. Several endpoints must be addresses (gRPC's static list takes no names).
TEST_F(EtcdStoreTest, SeveralEndpointsAreTriedInTurn) {
    auto o = test_options(endpoint_, "a");
    o.endpoints = {"127.0.0.1:" + std::to_string(free_port()), endpoint_};
    auto opened = store::open_etcd_store(o);
    ASSERT_TRUE(opened.ok()) << opened.error();
    auto& s = *opened;
    ASSERT_TRUE(s->load().ok());
    EXPECT_TRUE(eventually([&] { return s->role() == store::Role::Leader; }));
    o.endpoints = {"etcd-a:2379", "etcd-b:2379"};
    auto named = store::open_etcd_store(o);
    ASSERT_FALSE(named.ok());
    EXPECT_NE(named.error().find("several endpoints must all be IPv4 addresses"), std::string::npos)
        << named.error();
}

// A leader that cannot reach etcd stops serving before its lease can have expired there:
// etcd is frozen (SIGSTOP), so no keep-alive is answered.
TEST_F(EtcdStoreTest, LeaderThatLosesEtcdGoesSilentWithinTheTtl) {
    auto s = open("a");
    ASSERT_TRUE(s);
    ASSERT_TRUE(s->load().ok());
    ASSERT_TRUE(eventually([&] { return s->role() == store::Role::Leader; }));
    ::kill(etcd_, SIGSTOP);
    const auto frozen = Clock::now();
    ASSERT_TRUE(eventually([&] { return s->role() == store::Role::Standby; }));
    const auto took =
        std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - frozen).count();
    std::printf("silent %lld ms after etcd froze (lease TTL 1 s)\n", static_cast<long long>(took));
    // Changes made meanwhile are not committed: nothing counts durable.
    s->put(record(1, 1));
    const auto batch = s->close_batch();
    std::this_thread::sleep_for(std::chrono::milliseconds(1500));
    EXPECT_LT(s->durable_batch(), batch);
    ::kill(etcd_, SIGCONT);
    // Back: it campaigns again (its old lease revoked) and leads once it has taken the
    // changes handed to it (the refused record read back), as the gateway does every
    // iteration.
    EXPECT_TRUE(eventually([&] {
        (void)s->take_changes();
        return s->role() == store::Role::Leader;
    })) << "leader '"
        << s->stats().leader << "' lease " << s->stats().lease_left_ms << " ms, revision "
        << s->stats().revision << ", " << s->stats().last_error;
}

// A leader frozen (SIGSTOP: a long pause) past its lease: the other gateway leads; the old
// one, thawed, serves no more, its next writes are refused (fenced, or it already knows it
// does not lead), and what it meant to change is read back as the group has it, so its
// cache does not keep what it could not commit.
TEST_F(EtcdStoreTest, ADeposedLeaderReadsBackWhatItCouldNotCommit) {
    const auto [old_leader, said] = spawn(kFencedChild);
    ASSERT_GT(old_leader, 0);
    char c = 0;
    ASSERT_EQ(::read(said, &c, 1), 1);
    ASSERT_EQ(c, 'L');
    auto other = open("b");
    ASSERT_TRUE(other);
    ASSERT_TRUE(other->load().ok());
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    ::kill(old_leader, SIGSTOP);
    ASSERT_TRUE(eventually([&] {
        (void)other->take_changes();
        return other->role() == store::Role::Leader;
    }));
    other->put(record(8, 1000));  // the new leader's own change, elsewhere
    const auto batch = other->close_batch();
    ASSERT_TRUE(eventually([&] { return other->durable_batch() >= batch; }));
    ::kill(old_leader, SIGCONT);
    std::uint8_t answer[3] = {};
    ASSERT_EQ(::read(said, answer, 1), 1);
    ASSERT_EQ(answer[0], 'R');
    ASSERT_EQ(::read(said, answer + 1, 2), 2);
    ::kill(old_leader, SIGKILL);
    ::waitpid(old_leader, nullptr, 0);
    // What the deposed gateway holds for home address 9 is what the group has.
    other.reset();
    auto reader = open("c");
    auto loaded = reader->load();
    ASSERT_TRUE(loaded.ok());
    ASSERT_EQ(loaded->hoas.size(), 2u);
    EXPECT_EQ(loaded->hoas[0].last_sequence, 1000u);  // ...8: the new leader's
    EXPECT_EQ(loaded->hoas[1].home_address, record(9, 0).home_address);
    EXPECT_EQ(loaded->hoas[1].last_sequence, answer[1] << 8 | answer[2]);
}

// A standby whose path to etcd fails while the leader changes bindings and etcd compacts its
// history cannot catch up by watching: it says why, never campaigns (the leader's stop does
// not make it lead), and a store opened again reads every binding.
TEST_F(EtcdStoreTest, AStandbyThatMissedCompactedHistoryStopsFollowing) {
    auto leader = open("a");
    ASSERT_TRUE(leader);
    ASSERT_TRUE(leader->load().ok());
    ASSERT_TRUE(eventually([&] { return leader->role() == store::Role::Leader; }));
    CuttablePath path(free_port(), etcd_port());
    auto o = test_options(path.endpoint(), "b");
    auto opened = store::open_etcd_store(o);
    ASSERT_TRUE(opened.ok()) << opened.error();
    auto& standby = *opened;
    ASSERT_TRUE(standby->load().ok());
    ASSERT_TRUE(eventually([&] { return standby->stats().leader == "a"; }));

    path.cut();
    // Cut: the standby hears nothing more from etcd (its keep-alives go unanswered).
    ASSERT_TRUE(eventually([&] { return standby->stats().answered_ms_ago > 500; }));
    // Two transactions (etcd keeps the revision it compacts to: the first is what is lost).
    for (std::uint8_t i = 0; i < 20; ++i) leader->put(record(i, 3));
    const auto first = leader->close_batch();
    ASSERT_TRUE(eventually([&] { return leader->durable_batch() >= first; }));
    leader->put(record(0, 4));
    const auto second = leader->close_batch();
    ASSERT_TRUE(eventually([&] { return leader->durable_batch() >= second; }));
    const std::int64_t compacted = compact();
    ASSERT_GT(compacted, 0);
    EXPECT_TRUE(standby->cannot_follow().empty());
    path.restore();

    ASSERT_TRUE(
        eventually([&] { return !standby->cannot_follow().empty(); }, std::chrono::seconds(30)))
        << "revision " << standby->stats().revision << " (compacted " << compacted
        << "), etcd answered " << standby->stats().answered_ms_ago << " ms ago, leader "
        << standby->stats().leader;
    const std::string why = standby->cannot_follow();
    EXPECT_NE(why.find("compacted its history to revision " + std::to_string(compacted)),
              std::string::npos)
        << why;
    EXPECT_TRUE(standby->take_changes().empty()) << "the missed changes cannot be handed over";
    // The leader goes (its lease revoked at once): the standby that cannot follow neither
    // takes its place nor holds the election key, so a gateway that can follow leads.
    leader.reset();
    std::this_thread::sleep_for(std::chrono::seconds(2));
    EXPECT_EQ(standby->role(), store::Role::Standby);
    EXPECT_EQ(standby->stats().last_error, why);
    auto fresh = open("c");
    auto loaded = fresh->load();
    ASSERT_TRUE(loaded.ok()) << loaded.error();
    EXPECT_EQ(loaded->hoas.size(), 20u);
    EXPECT_TRUE(eventually([&] { return fresh->role() == store::Role::Leader; }));
    EXPECT_EQ(standby->role(), store::Role::Standby);
}

}  // namespace
}  // namespace monami

int main(int argc, char** argv) {
    if (argc == 4 && std::string(argv[1]) == monami::kLeaderChild)
        return monami::run_leader_child(argv[2], std::atoi(argv[3]));
    if (argc == 4 && std::string(argv[1]) == monami::kFencedChild)
        return monami::run_fenced_child(argv[2], std::atoi(argv[3]));
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
