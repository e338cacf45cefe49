// The etcd backend (etcd's v3 gRPC API, generated from its own .proto files). Keys under the
// group's prefix P:
//   P leader                    the election key: the leader's name, held by its lease
//   P hoa/<32 hex digits>       a home address's HoaRecord
//   P esp/<8 hex digits>/in|out an SA's EspMarks
// Threads: the writer (BatchingStore: one fenced Txn per group of changes), the session
// (lease grant, keep-alive every TTL/3, campaign) and the watch (the group's changes, and the
// leader key's deletion, which starts a campaign at once rather than at a poll).
#include "controlplane/store/etcd/etcd_store.hpp"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <pthread.h>

#include <condition_variable>
#include <deque>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "controlplane/store/batching_store.hpp"
#include "rpc.grpc.pb.h"

namespace monami::store {

namespace {

using Clock = std::chrono::steady_clock;

// etcd refuses a Txn of more operations than its --max-txn-ops (128 by default).
constexpr std::size_t kOpsPerTxn = 128;
// Records read per Range at load (a response must stay under gRPC's message limit).
constexpr std::int64_t kLoadPage = 5000;
// A leader stops serving this long before its lease could have expired in etcd: the lease
// is renewed from when etcd received the keep-alive, which is after it was sent.
constexpr auto kLeaseMargin = std::chrono::milliseconds(100);

std::string hex(const std::uint8_t* p, std::size_t n) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(n * 2);
    for (std::size_t i = 0; i < n; ++i) {
        out.push_back(kDigits[p[i] >> 4]);
        out.push_back(kDigits[p[i] & 15]);
    }
    return out;
}

std::optional<HomeAddress> hoa_from_hex(std::string_view text) {
    if (text.size() != 32) return std::nullopt;
    HomeAddress a;
    for (std::size_t i = 0; i < 16; ++i) {
        unsigned v = 0;
        for (char c : text.substr(i * 2, 2)) {
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= static_cast<unsigned>(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= static_cast<unsigned>(c - 'a' + 10);
            else
                return std::nullopt;
        }
        a.bytes[i] = static_cast<std::uint8_t>(v);
    }
    return a;
}

// The first key after every key that starts with `prefix` (etcd's range_end for a prefix).
std::string prefix_end(std::string prefix) {
    while (!prefix.empty()) {
        if (static_cast<unsigned char>(prefix.back()) < 0xff) {
            prefix.back() = static_cast<char>(prefix.back() + 1);
            return prefix;
        }
        prefix.pop_back();
    }
    return std::string(1, '\0');
}

std::optional<std::string> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return std::nullopt;
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void set_deadline(grpc::ClientContext& context, std::uint32_t timeout_ms) {
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(timeout_ms));
}

class EtcdStore final : public BatchingStore {
  public:
    explicit EtcdStore(EtcdOptions options)
        : options_(std::move(options)),
          leader_key_(options_.prefix + "leader"),
          hoa_prefix_(options_.prefix + "hoa/"),
          esp_prefix_(options_.prefix + "esp/") {}

    ~EtcdStore() override { resign(); }

    void resign() override {
        {
            std::lock_guard lock(session_mutex_);
            if (resigned_) return;
            resigned_ = true;
        }
        // The last batches first, while the lease still guards their transactions.
        stop_writer();
        {
            std::lock_guard lock(session_mutex_);
            stopping_ = true;
            if (keepalive_context_) keepalive_context_->TryCancel();
            if (watch_context_) watch_context_->TryCancel();
        }
        session_wake_.notify_all();
        if (watch_thread_.joinable()) watch_thread_.join();
        if (session_thread_.joinable()) session_thread_.join();
        // A clean stop hands leadership over at once rather than after the TTL. The session
        // thread, stopping, set its lease aside as abandoned: that is the one to revoke.
        for (std::int64_t lease : {lease_, abandoned_lease_})
            if (lease != 0) revoke_lease(lease);
        lease_ = abandoned_lease_ = 0;
    }

    std::optional<std::string> open() {
        if (options_.endpoints.empty()) return std::string("etcd: no endpoints configured");
        std::shared_ptr<grpc::ChannelCredentials> credentials;
        if (!options_.ca_file.empty()) {
            grpc::SslCredentialsOptions tls;
            auto ca = read_file(options_.ca_file);
            if (!ca) return options_.ca_file + ": cannot read the etcd CA certificate";
            tls.pem_root_certs = *ca;
            if (!options_.cert_file.empty()) {
                auto cert = read_file(options_.cert_file);
                auto key = read_file(options_.key_file);
                if (!cert) return options_.cert_file + ": cannot read the etcd client certificate";
                if (!key) return options_.key_file + ": cannot read the etcd client key";
                tls.pem_cert_chain = *cert;
                tls.pem_private_key = *key;
            }
            credentials = grpc::SslCredentials(tls);
        } else {
            credentials = grpc::InsecureChannelCredentials();
        }
        // The configured endpoints only, in turn (no member discovery): the operator's path
        // to etcd is the one that counts.
        grpc::ChannelArguments args;
        args.SetMaxReceiveMessageSize(64 << 20);
        args.SetLoadBalancingPolicyName("pick_first");
        // One channel per endpoint would need failover of our own; gRPC's pick_first over a
        // static address list does it. Such a list ("ipv4:" or "ipv6:") takes addresses of
        // one family, not names: a name is allowed only as the one endpoint.
        if (options_.endpoints.size() == 1) {
            channel_ = grpc::CreateCustomChannel(options_.endpoints[0], credentials, args);
        } else {
            const bool v6 = options_.endpoints[0].find('[') == 0;
            std::string list;
            for (const auto& e : options_.endpoints) {
                const auto colon = e.rfind(':');
                std::string host = e.substr(0, colon == std::string::npos ? 0 : colon);
                if (v6 && host.size() >= 2 && host.front() == '[' && host.back() == ']')
                    host = host.substr(1, host.size() - 2);
                std::uint8_t scratch[16];
                if (::inet_pton(v6 ? AF_INET6 : AF_INET, host.c_str(), scratch) != 1)
                    return "etcd: endpoint " + e + ": several endpoints must all be " +
                           (v6 ? "IPv6" : "IPv4") + " addresses (host names only as the one " +
                           "endpoint)";
                list += (list.empty() ? "" : ",") + e;
            }
            channel_ =
                grpc::CreateCustomChannel((v6 ? "ipv6:" : "ipv4:") + list, credentials, args);
        }
        kv_stub_ = etcdserverpb::KV::NewStub(channel_);
        lease_stub_ = etcdserverpb::Lease::NewStub(channel_);
        watch_stub_ = etcdserverpb::Watch::NewStub(channel_);
        if (!channel_->WaitForConnected(std::chrono::system_clock::now() +
                                        std::chrono::milliseconds(options_.request_timeout_ms * 5)))
            return "etcd: cannot connect to " + endpoints_text();
        return std::nullopt;
    }

    Result<StoredState, std::string> load() override {
        StoredState state;
        std::int64_t revision = 0;
        auto page_through = [&](const std::string& prefix,
                                auto&& each) -> std::optional<std::string> {
            std::string from = prefix;
            const std::string end = prefix_end(prefix);
            for (;;) {
                grpc::ClientContext context;
                set_deadline(context, options_.request_timeout_ms * 10);
                etcdserverpb::RangeRequest request;
                request.set_key(from);
                request.set_range_end(end);
                request.set_limit(kLoadPage);
                if (revision != 0) request.set_revision(revision);  // one consistent view
                etcdserverpb::RangeResponse response;
                auto status = kv_stub_->Range(&context, request, &response);
                if (!status.ok())
                    return "etcd " + endpoints_text() + ": cannot read " + prefix + ": " +
                           status.error_message();
                if (revision == 0) revision = response.header().revision();
                for (const auto& kv : response.kvs())
                    if (auto error = each(kv)) return error;
                if (!response.more() || response.kvs().empty()) return std::nullopt;
                from = response.kvs(response.kvs_size() - 1).key() + std::string(1, '\0');
            }
        };
        auto error = page_through(hoa_prefix_, [&](const mvccpb::KeyValue& kv) {
            auto record = decode_hoa(std::span(
                reinterpret_cast<const std::uint8_t*>(kv.value().data()), kv.value().size()));
            auto named = hoa_from_hex(std::string_view(kv.key()).substr(hoa_prefix_.size()));
            if (!record || !named || *named != record->home_address)
                return std::optional<std::string>(
                    "etcd " + endpoints_text() + ": the record " + kv.key() + " is damaged: " +
                    std::string(record ? "its key names another address"
                                       : to_string(record.error())));
            state.hoas.push_back(std::move(*record));
            return std::optional<std::string>();
        });
        if (!error)
            error = page_through(esp_prefix_, [&](const mvccpb::KeyValue& kv) {
                auto marks = decode_esp(std::span(
                    reinterpret_cast<const std::uint8_t*>(kv.value().data()), kv.value().size()));
                if (!marks)
                    return std::optional<std::string>(
                        "etcd " + endpoints_text() + ": the record " + kv.key() +
                        " is damaged: " + std::string(to_string(marks.error())));
                state.esp.push_back(*marks);
                return std::optional<std::string>();
            });
        if (error) return Err{*error};
        {
            std::lock_guard lock(session_mutex_);
            applied_revision_ = revision;
            entries_ = state.hoas.size();
        }
        start_writer("monami-store");
        watch_thread_ = std::thread([this, revision] { run_watch(revision + 1); });
        ::pthread_setname_np(watch_thread_.native_handle(), "monami-watch");
        session_thread_ = std::thread([this] { run_session(); });
        ::pthread_setname_np(session_thread_.native_handle(), "monami-lease");
        return state;
    }

    Role role() const override {
        std::lock_guard lock(session_mutex_);
        return serving_locked() ? Role::Leader : Role::Standby;
    }

    std::string cannot_follow() const override {
        std::lock_guard lock(session_mutex_);
        return cannot_follow_;
    }

    std::vector<Change> take_changes() override {
        std::lock_guard lock(session_mutex_);
        std::vector<Change> out(std::make_move_iterator(changes_.begin()),
                                std::make_move_iterator(changes_.end()));
        changes_.clear();
        taken_revision_ = queued_revision_;
        update_lag_locked();
        return out;
    }

  private:
    std::string endpoints_text() const {
        std::string s;
        for (const auto& e : options_.endpoints) s += (s.empty() ? "" : ",") + e;
        return s;
    }

    // Leader, lease valid, and every change from before the election handed over.
    bool serving_locked() const {
        return leader_revision_ != 0 && cannot_follow_.empty() && Clock::now() < serve_until_ &&
               taken_revision_ >= leader_revision_ - 1 && applied_revision_ >= leader_revision_ - 1;
    }

    void add_stats(StoreStats& s) const override {
        std::lock_guard lock(session_mutex_);
        s.backend = "etcd";
        s.location = endpoints_text() + " " + options_.prefix;
        s.entries = entries_;
        s.role = serving_locked() ? "leader" : "standby";
        s.member = options_.member;
        s.leader = leader_name_;
        const auto now = Clock::now();
        s.revision = taken_revision_;
        s.revision_seen = std::max(seen_revision_, taken_revision_);
        // A leader's cache is the source of what etcd holds: only a standby can lag.
        if (!serving_locked() && behind_since_ != Clock::time_point{}) {
            s.lag_revisions = static_cast<std::uint64_t>(seen_revision_ - taken_revision_);
            s.lag_ms = milliseconds_between(behind_since_, now);
        }
        s.lease_state = serve_until_ > now ? "held" : "none";
        if (last_answer_ != Clock::time_point{})
            s.answered_ms_ago = static_cast<std::int64_t>(milliseconds_between(last_answer_, now));
        s.lease_left_ms = milliseconds_between(now, serve_until_);
        s.fenced = fenced_;
        s.resynced = resynced_;
        s.resync_failures = resync_failures_;
        if (!cannot_follow_.empty()) s.last_error = cannot_follow_;
    }

    // ---- writer thread -----------------------------------------------------------------

    CommitResult commit(const std::deque<Batch>& work) override {
        CommitResult result;
        Batch all;
        for (auto batch : work) fold(all, batch);  // a Txn may not name a key twice
        std::int64_t fence;
        {
            std::lock_guard lock(session_mutex_);
            fence = leader_revision_;
        }
        if (fence == 0) {
            result.error = "etcd: not the leader; the changes are not written";
            result.refused = true;
            resync(all);
            return result;
        }
        for (std::size_t at = 0; at < all.ops.size(); at += kOpsPerTxn) {
            etcdserverpb::TxnRequest txn;
            // Fencing: written only while the election key is the one this gateway created.
            auto* compare = txn.add_compare();
            compare->set_key(leader_key_);
            compare->set_target(etcdserverpb::Compare::CREATE);
            compare->set_result(etcdserverpb::Compare::EQUAL);
            compare->set_create_revision(fence);
            const std::size_t end = std::min(all.ops.size(), at + kOpsPerTxn);
            for (std::size_t i = at; i < end; ++i) {
                const StoreOp& op = all.ops[i];
                auto* request = txn.add_success();
                if (op.kind == StoreOp::Kind::RemoveHoa) {
                    request->mutable_request_delete_range()->set_key(hoa_key(op.home_address));
                    ++result.removed;
                } else {
                    auto* put = request->mutable_request_put();
                    put->set_key(op.kind == StoreOp::Kind::PutHoa ? hoa_key(op.home_address)
                                                                  : esp_key(op.spi, op.outbound));
                    put->set_value(op.value.data(), op.value.size());
                    ++result.written;
                }
            }
            grpc::ClientContext context;
            set_deadline(context, options_.request_timeout_ms);
            etcdserverpb::TxnResponse response;
            auto status = kv_stub_->Txn(&context, txn, &response);
            if (!status.ok()) {
                result.error =
                    "etcd " + endpoints_text() + ": commit failed: " + status.error_message();
                return result;
            }
            if (!response.succeeded()) {
                // Another gateway leads: this one's changes are not the group's.
                {
                    std::lock_guard lock(session_mutex_);
                    ++fenced_;
                    if (leader_revision_ == fence) leader_revision_ = 0;
                }
                session_wake_.notify_all();
                result.error = "etcd: fenced: another gateway holds " + leader_key_;
                result.refused = true;
                resync(all);
                return result;
            }
        }
        return result;
    }

    // After a refusal, the keys this gateway meant to change are read back as etcd has
    // them and handed over like the leader's changes: its cache then holds the group's
    // state, not what it could not commit.
    void resync(const Batch& refused) {
        std::vector<Change> read_back;
        std::vector<std::pair<std::string, std::int64_t>> read_back_at;
        for (std::size_t at = 0; at < refused.ops.size(); at += kOpsPerTxn) {
            etcdserverpb::TxnRequest txn;  // no compare: the ranges run as one read
            const std::size_t end = std::min(refused.ops.size(), at + kOpsPerTxn);
            for (std::size_t i = at; i < end; ++i) {
                const StoreOp& op = refused.ops[i];
                txn.add_success()->mutable_request_range()->set_key(
                    op.kind == StoreOp::Kind::PutEsp ? esp_key(op.spi, op.outbound)
                                                     : hoa_key(op.home_address));
            }
            grpc::ClientContext context;
            set_deadline(context, options_.request_timeout_ms);
            etcdserverpb::TxnResponse response;
            if (!kv_stub_->Txn(&context, txn, &response).ok() ||
                response.responses_size() != static_cast<int>(end - at)) {
                std::lock_guard lock(session_mutex_);
                resync_failures_ += end - at;
                continue;
            }
            const std::int64_t read_at = response.header().revision();
            for (std::size_t i = at; i < end; ++i) {
                const StoreOp& op = refused.ops[i];
                const auto& kvs =
                    response.responses(static_cast<int>(i - at)).response_range().kvs();
                read_back_at.emplace_back(
                    txn.success(static_cast<int>(i - at)).request_range().key(), read_at);
                Change c;
                if (op.kind == StoreOp::Kind::PutEsp) {
                    if (kvs.empty()) continue;
                    auto marks = decode_esp(
                        std::span(reinterpret_cast<const std::uint8_t*>(kvs[0].value().data()),
                                  kvs[0].value().size()));
                    if (!marks) continue;
                    c.kind = Change::Kind::PutEsp;
                    c.marks = *marks;
                } else if (kvs.empty()) {
                    c.kind = Change::Kind::RemoveHoa;
                    c.home_address = op.home_address;
                } else {
                    auto record = decode_hoa(
                        std::span(reinterpret_cast<const std::uint8_t*>(kvs[0].value().data()),
                                  kvs[0].value().size()));
                    if (!record) continue;
                    c.kind = Change::Kind::PutHoa;
                    c.record = std::move(*record);
                }
                read_back.push_back(std::move(c));
            }
        }
        std::lock_guard lock(session_mutex_);
        resynced_ += read_back.size();
        for (auto& c : read_back) changes_.push_back(std::move(c));
        // Events the watch has yet to deliver for these keys are older than what was read.
        for (auto& [key, at] : read_back_at) read_back_at_[std::move(key)] = at;
    }

    std::string hoa_key(const HomeAddress& a) const {
        return hoa_prefix_ + hex(a.bytes.data(), a.bytes.size());
    }
    std::string esp_key(std::uint32_t spi, bool outbound) const {
        const std::uint8_t b[4] = {
            static_cast<std::uint8_t>(spi >> 24), static_cast<std::uint8_t>(spi >> 16),
            static_cast<std::uint8_t>(spi >> 8), static_cast<std::uint8_t>(spi)};
        return esp_prefix_ + hex(b, 4) + (outbound ? "/out" : "/in");
    }

    // ---- session thread: lease and election --------------------------------------------

    void run_session() {
        const auto ttl = std::chrono::milliseconds(options_.lease_ttl_s * 1000u);
        while (!stopped()) {
            if (!grant_lease()) {
                wait_session(std::chrono::milliseconds(100));
                continue;
            }
            auto context = stream_context(keepalive_context_);
            if (!context) break;
            auto stream = lease_stub_->LeaseKeepAlive(context.get());
            // Responses come in the order of the requests: the renewal a response confirms
            // counts from when its request was sent.
            std::mutex sent_mutex;
            std::deque<Clock::time_point> sent;
            std::thread reader([&] {
                etcdserverpb::LeaseKeepAliveResponse response;
                while (stream->Read(&response)) {
                    Clock::time_point at;
                    {
                        std::lock_guard lock(sent_mutex);
                        if (sent.empty()) continue;
                        at = sent.front();
                        sent.pop_front();
                    }
                    std::lock_guard lock(session_mutex_);
                    note_answer_locked(response.header().revision());
                    if (response.ttl() <= 0) {  // the lease is gone
                        lease_lost_ = true;
                        session_wake_.notify_all();
                        return;
                    }
                    serve_until_ = std::max(
                        serve_until_, at + std::chrono::seconds(response.ttl()) - kLeaseMargin);
                }
            });
            campaign();
            while (!stopped()) {
                {
                    std::lock_guard lock(session_mutex_);
                    if (lease_lost_ || Clock::now() >= serve_until_) break;
                }
                etcdserverpb::LeaseKeepAliveRequest request;
                request.set_id(lease_);
                {
                    std::lock_guard lock(sent_mutex);
                    sent.push_back(Clock::now());
                }
                if (!stream->Write(request)) break;
                // Not leading: a look at the election key every renewal (the watch's deletion
                // event is the fast path; this is the net if an event was missed).
                bool leading;
                {
                    std::lock_guard lock(session_mutex_);
                    leading = leader_revision_ != 0;
                }
                if (!leading) campaign();
                // A third of the TTL, or at once when the watch saw the leader key go.
                const auto next = Clock::now() + ttl / 3;
                while (!stopped() && Clock::now() < next) {
                    bool want_campaign;
                    {
                        std::unique_lock lock(session_mutex_);
                        session_wake_.wait_until(lock, next, [&] {
                            return stopping_ || campaign_wanted_ || lease_lost_;
                        });
                        // Woken by the watch: the key went.
                        want_campaign = leader_revision_ == 0 && campaign_wanted_;
                        campaign_wanted_ = false;
                        if (lease_lost_) break;
                    }
                    if (want_campaign) campaign();
                }
            }
            // The lease is lost, or cannot have been renewed in time: silent until a new one.
            context->TryCancel();
            reader.join();
            {
                std::lock_guard lock(session_mutex_);
                keepalive_context_.reset();
                leader_revision_ = 0;
                lease_lost_ = false;
                serve_until_ = Clock::time_point{};
            }
            abandoned_lease_ = lease_;
            lease_ = 0;
        }
    }

    bool grant_lease() {
        grpc::ClientContext context;
        set_deadline(context, options_.request_timeout_ms);
        etcdserverpb::LeaseGrantRequest request;
        request.set_ttl(options_.lease_ttl_s);
        etcdserverpb::LeaseGrantResponse response;
        const auto sent = Clock::now();
        auto status = lease_stub_->LeaseGrant(&context, request, &response);
        if (!status.ok() || !response.error().empty() || response.id() == 0) return false;
        lease_ = response.id();
        {
            std::lock_guard lock(session_mutex_);
            serve_until_ = sent + std::chrono::seconds(response.ttl()) - kLeaseMargin;
        }
        if (abandoned_lease_ != 0) {
            // The lease given up (it could not be renewed in time) may still hold the
            // election key in etcd: revoked, the key goes now instead of at its expiry.
            revoke_lease(abandoned_lease_);
            abandoned_lease_ = 0;
        }
        return true;
    }

    // Best effort: etcd deletes the lease's keys (the election key) at once.
    void revoke_lease(std::int64_t lease) {
        grpc::ClientContext context;
        set_deadline(context, options_.request_timeout_ms);
        etcdserverpb::LeaseRevokeRequest request;
        request.set_id(lease);
        etcdserverpb::LeaseRevokeResponse response;
        (void)lease_stub_->LeaseRevoke(&context, request, &response);
    }

    // Creates the election key under this gateway's lease if nobody holds it.
    void campaign() {
        {
            std::lock_guard lock(session_mutex_);
            if (!cannot_follow_.empty()) return;  // its cache is not the group's state
        }
        etcdserverpb::TxnRequest txn;
        auto* compare = txn.add_compare();
        compare->set_key(leader_key_);
        compare->set_target(etcdserverpb::Compare::CREATE);
        compare->set_result(etcdserverpb::Compare::EQUAL);
        compare->set_create_revision(0);
        auto* put = txn.add_success()->mutable_request_put();
        put->set_key(leader_key_);
        put->set_value(options_.member);
        put->set_lease(lease_);
        txn.add_failure()->mutable_request_range()->set_key(leader_key_);
        grpc::ClientContext context;
        set_deadline(context, options_.request_timeout_ms);
        etcdserverpb::TxnResponse response;
        if (!kv_stub_->Txn(&context, txn, &response).ok()) return;
        std::lock_guard lock(session_mutex_);
        if (response.succeeded()) {
            leader_revision_ = response.header().revision();
            leader_name_ = options_.member;
        } else if (response.responses_size() == 1 &&
                   response.responses(0).response_range().kvs_size() == 1) {
            leader_name_ = response.responses(0).response_range().kvs(0).value();
        }
    }

    // ---- watch thread ------------------------------------------------------------------

    void run_watch(std::int64_t from) {
        while (!stopped()) {
            auto context = stream_context(watch_context_);
            if (!context) return;
            auto stream = watch_stub_->Watch(context.get());
            etcdserverpb::WatchRequest request;
            auto* create = request.mutable_create_request();
            create->set_key(options_.prefix);
            create->set_range_end(prefix_end(options_.prefix));
            create->set_start_revision(from);
            if (stream->Write(request)) {
                etcdserverpb::WatchResponse response;
                while (stream->Read(&response)) {
                    if (response.compact_revision() != 0) {
                        // The changes this gateway missed are gone from etcd's history: its
                        // cache can no longer become the group's. It gives up its lease (and
                        // the election key if it held it) and campaigns no more.
                        std::lock_guard lock(session_mutex_);
                        cannot_follow_ = "etcd compacted its history to revision " +
                                         std::to_string(response.compact_revision()) +
                                         " while this gateway had applied only up to revision " +
                                         std::to_string(from - 1) +
                                         ": the changes in between are lost to it";
                        lease_lost_ = true;
                        session_wake_.notify_all();
                        context->TryCancel();
                        (void)stream->Finish();
                        return;
                    }
                    from = std::max(from, apply_events(response) + 1);
                }
            }
            context->TryCancel();
            (void)stream->Finish();
            wait_session(std::chrono::milliseconds(100));
        }
    }

    // Returns the highest revision seen.
    std::int64_t apply_events(const etcdserverpb::WatchResponse& response) {
        std::lock_guard lock(session_mutex_);
        std::int64_t highest = response.header().revision();
        for (const auto& event : response.events()) {
            const auto& kv = event.kv();
            highest = std::max(highest, kv.mod_revision());
            const bool own = leader_revision_ != 0 && kv.mod_revision() > leader_revision_;
            if (kv.key() == leader_key_) {
                if (event.type() == mvccpb::Event::DELETE) {
                    leader_name_.clear();
                    campaign_wanted_ = true;
                    session_wake_.notify_all();
                } else {
                    leader_name_ = kv.value();
                }
                continue;
            }
            if (own) continue;  // this leader's own writes
            if (auto read = read_back_at_.find(kv.key()); read != read_back_at_.end()) {
                if (kv.mod_revision() <= read->second) continue;  // resync read it newer
                read_back_at_.erase(read);
            }
            const auto bytes = std::span(reinterpret_cast<const std::uint8_t*>(kv.value().data()),
                                         kv.value().size());
            if (kv.key().rfind(hoa_prefix_, 0) == 0) {
                auto named = hoa_from_hex(std::string_view(kv.key()).substr(hoa_prefix_.size()));
                if (!named) continue;
                if (event.type() == mvccpb::Event::DELETE) {
                    Change c;
                    c.kind = Change::Kind::RemoveHoa;
                    c.home_address = *named;
                    changes_.push_back(std::move(c));
                    if (entries_) --entries_;
                } else if (auto record = decode_hoa(bytes)) {
                    if (kv.version() == 1) ++entries_;
                    Change c;
                    c.kind = Change::Kind::PutHoa;
                    c.record = std::move(*record);
                    changes_.push_back(std::move(c));
                }
            } else if (kv.key().rfind(esp_prefix_, 0) == 0 && event.type() == mvccpb::Event::PUT) {
                if (auto marks = decode_esp(bytes)) {
                    Change c;
                    c.kind = Change::Kind::PutEsp;
                    c.marks = *marks;
                    changes_.push_back(std::move(c));
                }
            }
        }
        applied_revision_ = std::max(applied_revision_, highest);
        std::erase_if(read_back_at_, [&](const auto& e) { return e.second <= applied_revision_; });
        queued_revision_ = applied_revision_;
        if (changes_.empty()) taken_revision_ = queued_revision_;
        note_answer_locked(response.header().revision());
        return highest;
    }

    // A context for a long-lived stream, kept in `slot` so that a stop can cancel it;
    // nullptr once stopping.
    std::shared_ptr<grpc::ClientContext> stream_context(
        std::shared_ptr<grpc::ClientContext>& slot) {
        auto context = std::make_shared<grpc::ClientContext>();
        std::lock_guard lock(session_mutex_);
        if (stopping_) return nullptr;
        slot = context;
        return context;
    }

    bool stopped() const {
        std::lock_guard lock(session_mutex_);
        return stopping_;
    }

    // etcd answered, at `revision`: the replication lag counts from when this gateway first
    // heard of a revision its cache does not hold yet.
    void note_answer_locked(std::int64_t revision) {
        last_answer_ = Clock::now();
        if (revision > seen_revision_) seen_revision_ = revision;
        update_lag_locked();
    }
    void update_lag_locked() {
        if (taken_revision_ >= seen_revision_)
            behind_since_ = Clock::time_point{};
        else if (behind_since_ == Clock::time_point{})
            behind_since_ = Clock::now();
    }
    static std::uint64_t milliseconds_between(Clock::time_point from, Clock::time_point to) {
        return to > from
                   ? static_cast<std::uint64_t>(
                         std::chrono::duration_cast<std::chrono::milliseconds>(to - from).count())
                   : 0;
    }
    void wait_session(std::chrono::milliseconds d) {
        std::unique_lock lock(session_mutex_);
        session_wake_.wait_for(lock, d, [&] { return stopping_; });
    }

    EtcdOptions options_;
    const std::string leader_key_, hoa_prefix_, esp_prefix_;
    std::shared_ptr<grpc::Channel> channel_;
    std::unique_ptr<etcdserverpb::KV::Stub> kv_stub_;
    std::unique_ptr<etcdserverpb::Lease::Stub> lease_stub_;
    std::unique_ptr<etcdserverpb::Watch::Stub> watch_stub_;
    std::int64_t lease_ = 0;            // session thread
    std::int64_t abandoned_lease_ = 0;  // session thread: given up, to revoke

    // Shared by the session, watch and writer threads and the control thread.
    mutable std::mutex session_mutex_;
    std::condition_variable session_wake_;
    bool stopping_ = false;
    bool resigned_ = false;
    bool lease_lost_ = false;
    bool campaign_wanted_ = false;
    Clock::time_point serve_until_{};    // the lease cannot have expired before this
    std::int64_t leader_revision_ = 0;   // the election key's create revision while leading
    std::int64_t applied_revision_ = 0;  // everything up to it is in changes_ or taken
    std::int64_t queued_revision_ = 0;
    std::int64_t taken_revision_ = 0;   // handed to the control thread up to here
    std::int64_t seen_revision_ = 0;    // the newest revision etcd has reported
    Clock::time_point behind_since_{};  // taken_revision_ < seen_revision_ since then
    Clock::time_point last_answer_{};   // etcd's last keep-alive or watch answer
    std::string leader_name_;
    std::string cannot_follow_;  // set once; the gateway must start again
    std::uint64_t entries_ = 0;
    std::uint64_t fenced_ = 0;
    std::uint64_t resynced_ = 0, resync_failures_ = 0;
    // Keys read back after a refusal, and the revision they were read at.
    std::unordered_map<std::string, std::int64_t> read_back_at_;
    std::deque<Change> changes_;
    std::shared_ptr<grpc::ClientContext> keepalive_context_, watch_context_;
    std::thread session_thread_, watch_thread_;
};

}  // namespace

Result<std::unique_ptr<BindingStore>, std::string> open_etcd_store(const EtcdOptions& options) {
    auto store = std::make_unique<EtcdStore>(options);
    if (auto error = store->open()) return Err{*error};
    return std::unique_ptr<BindingStore>(std::move(store));
}

}  // namespace monami::store
