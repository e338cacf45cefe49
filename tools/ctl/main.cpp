// monami-ctl: the operator's view of a running monami-gw, read through DPDK telemetry
// (the same socket dpdk-telemetry.py uses), printed as tables.
//   monami-ctl [-f FILE_PREFIX] [--json] COMMAND [ARG]
// COMMAND: bindings | ports | workers | worker N | drops | control | config | neighbors |
//          raw /telemetry/command[,params]
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace {

// ---- A minimal JSON reader for telemetry answers --------------------------------------

struct Json;
using JsonObject = std::vector<std::pair<std::string, Json>>;
using JsonArray = std::vector<Json>;
struct Json {
    std::variant<std::nullptr_t, bool, double, std::string, std::shared_ptr<JsonArray>,
                 std::shared_ptr<JsonObject>>
        v;
    const JsonObject* object() const {
        auto p = std::get_if<std::shared_ptr<JsonObject>>(&v);
        return p ? p->get() : nullptr;
    }
    const JsonArray* array() const {
        auto p = std::get_if<std::shared_ptr<JsonArray>>(&v);
        return p ? p->get() : nullptr;
    }
    std::string text() const {
        if (auto s = std::get_if<std::string>(&v)) return *s;
        if (auto d = std::get_if<double>(&v)) {
            char buf[32];
            std::snprintf(buf, sizeof buf, "%.0f", *d);
            return buf;
        }
        if (auto b = std::get_if<bool>(&v)) return *b ? "true" : "false";
        return "";
    }
};

class Parser {
  public:
    explicit Parser(const std::string& s) : s_(s) {}
    bool parse(Json& out) {
        if (!value(out)) return false;
        skip();
        return i_ == s_.size();
    }

  private:
    void skip() {
        while (i_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[i_]))) ++i_;
    }
    bool literal(const char* word) {
        std::size_t n = std::strlen(word);
        if (s_.compare(i_, n, word) != 0) return false;
        i_ += n;
        return true;
    }
    bool string(std::string& out) {
        if (s_[i_] != '"') return false;
        ++i_;
        while (i_ < s_.size() && s_[i_] != '"') {
            char c = s_[i_++];
            if (c == '\\' && i_ < s_.size()) {
                char e = s_[i_++];
                c = e == 'n' ? '\n' : e == 't' ? '\t' : e;
            }
            out.push_back(c);
        }
        if (i_ >= s_.size()) return false;
        ++i_;
        return true;
    }
    bool value(Json& out) {
        skip();
        if (i_ >= s_.size()) return false;
        char c = s_[i_];
        if (c == '{') {
            ++i_;
            auto obj = std::make_shared<JsonObject>();
            skip();
            if (s_[i_] == '}') {
                ++i_;
                out.v = obj;
                return true;
            }
            while (true) {
                skip();
                std::string key;
                if (!string(key)) return false;
                skip();
                if (s_[i_++] != ':') return false;
                Json v;
                if (!value(v)) return false;
                obj->emplace_back(std::move(key), std::move(v));
                skip();
                if (s_[i_] == ',') {
                    ++i_;
                    continue;
                }
                if (s_[i_++] != '}') return false;
                out.v = obj;
                return true;
            }
        }
        if (c == '[') {
            ++i_;
            auto arr = std::make_shared<JsonArray>();
            skip();
            if (s_[i_] == ']') {
                ++i_;
                out.v = arr;
                return true;
            }
            while (true) {
                Json v;
                if (!value(v)) return false;
                arr->push_back(std::move(v));
                skip();
                if (s_[i_] == ',') {
                    ++i_;
                    continue;
                }
                if (s_[i_++] != ']') return false;
                out.v = arr;
                return true;
            }
        }
        if (c == '"') {
            std::string s;
            if (!string(s)) return false;
            out.v = std::move(s);
            return true;
        }
        if (literal("true")) return out.v = true, true;
        if (literal("false")) return out.v = false, true;
        if (literal("null")) return out.v = nullptr, true;
        char* end = nullptr;
        double d = std::strtod(s_.c_str() + i_, &end);
        if (end == s_.c_str() + i_) return false;
        i_ = static_cast<std::size_t>(end - s_.c_str());
        out.v = d;
        return true;
    }
    const std::string& s_;
    std::size_t i_ = 0;
};

// ---- Telemetry client ------------------------------------------------------------------

class Telemetry {
  public:
    bool connect_to(const std::string& prefix, std::string& error) {
        std::string dir = getuid() == 0 ? "/var/run/dpdk/"
                                        : std::string(std::getenv("XDG_RUNTIME_DIR")
                                                          ? std::getenv("XDG_RUNTIME_DIR")
                                                          : "/tmp") +
                                              "/dpdk/";
        std::string path = dir + prefix + "/dpdk_telemetry.v2";
        fd_ = socket(AF_UNIX, SOCK_SEQPACKET, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
        if (fd_ < 0 || connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
            error = "cannot connect to " + path + ": " + std::strerror(errno) +
                    " (is monami-gw running with this --file-prefix?)";
            return false;
        }
        std::string hello;
        return receive(hello);
    }
    ~Telemetry() {
        if (fd_ >= 0) close(fd_);
    }
    bool query(const std::string& command, Json& answer, std::string& error) {
        if (send(fd_, command.data(), command.size(), 0) < 0) {
            error = std::strerror(errno);
            return false;
        }
        std::string text;
        if (!receive(text)) {
            error = "no answer";
            return false;
        }
        Json all;
        if (!Parser(text).parse(all) || !all.object()) {
            error = "unreadable answer: " + text;
            return false;
        }
        for (const auto& [k, v] : *all.object())
            if (k == command.substr(0, command.find(','))) {
                answer = v;
                return true;
            }
        error = "unexpected answer: " + text;
        return false;
    }
    std::string last_raw;

  private:
    bool receive(std::string& out) {
        std::vector<char> buf(1 << 16);
        ssize_t n = recv(fd_, buf.data(), buf.size(), 0);
        if (n <= 0) return false;
        out.assign(buf.data(), static_cast<std::size_t>(n));
        last_raw = out;
        return true;
    }
    int fd_ = -1;
};

void print_dict(const Json& j) {
    if (!j.object()) {
        std::printf("%s\n", j.text().c_str());
        return;
    }
    std::size_t width = 0;
    for (const auto& [k, v] : *j.object()) width = std::max(width, k.size());
    for (const auto& [k, v] : *j.object()) {
        if (const auto* a = v.array()) {
            std::string joined;
            for (const auto& item : *a) joined += (joined.empty() ? "" : "  ") + item.text();
            std::printf("%-*s  %s\n", static_cast<int>(width), k.c_str(), joined.c_str());
        } else {
            std::printf("%-*s  %s\n", static_cast<int>(width), k.c_str(), v.text().c_str());
        }
    }
}

// Tables come as {"total", "start", "rN": ["key=value", ...]}: print them as columns.
int print_table(Telemetry& t, const std::string& command, const std::vector<std::string>& columns) {
    std::vector<std::map<std::string, std::string>> rows;
    std::size_t total = 0;
    do {
        Json page;
        std::string error;
        std::string cmd = rows.empty() ? command : command + "," + std::to_string(rows.size());
        if (!t.query(cmd, page, error)) {
            std::fprintf(stderr, "monami-ctl: %s\n", error.c_str());
            return 1;
        }
        std::size_t before = rows.size();
        for (const auto& [k, v] : *page.object()) {
            if (k == "total") total = static_cast<std::size_t>(std::stoull(v.text()));
            if (k.empty() || k[0] != 'r' || !v.array()) continue;
            std::map<std::string, std::string> row;
            for (const auto& item : *v.array()) {
                std::string s = item.text();
                auto eq = s.find('=');
                if (eq != std::string::npos) row[s.substr(0, eq)] = s.substr(eq + 1);
            }
            rows.push_back(std::move(row));
        }
        if (rows.size() == before) break;
    } while (rows.size() < total);
    std::vector<std::size_t> widths;
    for (const auto& c : columns) {
        std::size_t w = c.size();
        for (const auto& r : rows) {
            auto it = r.find(c);
            if (it != r.end()) w = std::max(w, it->second.size());
        }
        widths.push_back(w);
    }
    for (std::size_t i = 0; i < columns.size(); ++i)
        std::printf("%-*s  ", static_cast<int>(widths[i]), columns[i].c_str());
    std::printf("\n");
    for (const auto& r : rows) {
        for (std::size_t i = 0; i < columns.size(); ++i) {
            auto it = r.find(columns[i]);
            bool blank = it == r.end() || it->second.empty();
            std::printf("%-*s  ", static_cast<int>(widths[i]), blank ? "-" : it->second.c_str());
        }
        std::printf("\n");
    }
    std::printf("(%zu)\n", rows.size());
    return 0;
}

void usage() {
    std::fprintf(stderr,
                 "usage: monami-ctl [-f FILE_PREFIX] [--json] COMMAND [ARG]\n"
                 "  bindings | ports | workers | worker N | drops | control | config |\n"
                 "  neighbors | raw /command[,params]\n");
}

}  // namespace

int main(int argc, char** argv) {
    std::string prefix = "rte";
    bool json = false;
    std::vector<std::string> args;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        if ((a == "-f" || a == "--file-prefix") && i + 1 < argc) {
            prefix = argv[++i];
        } else if (a == "--json") {
            json = true;
        } else if (a == "-h" || a == "--help") {
            usage();
            return 0;
        } else {
            args.push_back(a);
        }
    }
    if (args.empty()) {
        usage();
        return 2;
    }
    Telemetry t;
    std::string error;
    if (!t.connect_to(prefix, error)) {
        std::fprintf(stderr, "monami-ctl: %s\n", error.c_str());
        return 1;
    }
    const std::string& cmd = args[0];
    std::string telemetry_command;
    if (cmd == "bindings" && !json)
        return print_table(t, "/monami/bindings",
                           {"home_address", "mn_id", "bid", "care_of", "state", "at_home",
                            "lifetime_s", "packets", "bytes", "reverse_packets"});
    if (cmd == "neighbors" && !json)
        return print_table(t, "/monami/neighbors", {"address", "port", "mac"});
    if (cmd == "raw" && args.size() > 1)
        telemetry_command = args[1];
    else if (cmd == "worker" && args.size() > 1)
        telemetry_command = "/monami/worker," + args[1];
    else if (cmd == "bindings" || cmd == "ports" || cmd == "workers" || cmd == "drops" ||
             cmd == "control" || cmd == "config" || cmd == "neighbors")
        telemetry_command = "/monami/" + cmd;
    else {
        usage();
        return 2;
    }
    Json answer;
    if (!t.query(telemetry_command, answer, error)) {
        std::fprintf(stderr, "monami-ctl: %s\n", error.c_str());
        return 1;
    }
    if (json)
        std::printf("%s\n", t.last_raw.c_str());
    else
        print_dict(answer);
    return 0;
}
