// monami-ctl's client of DPDK telemetry: the socket dpdk-telemetry.py uses, one JSON answer
// per command, read with a minimal JSON reader (the answers are small and regular).
#pragma once

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace monami::ctl {

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

using Row = std::map<std::string, std::string>;

// The records "r0", "r1", ... of an answer, in order.
inline std::vector<Row> records_of(const Json& answer) {
    std::vector<Row> rows;
    if (!answer.object()) return rows;
    for (const auto& [k, v] : *answer.object()) {
        if (k.size() < 2 || k[0] != 'r' || !std::isdigit(static_cast<unsigned char>(k[1])) ||
            !v.array())
            continue;
        Row row;
        for (const auto& item : *v.array()) {
            std::string s = item.text();
            auto eq = s.find('=');
            if (eq != std::string::npos) row[s.substr(0, eq)] = s.substr(eq + 1);
        }
        rows.push_back(std::move(row));
    }
    return rows;
}

inline std::string field(const Json& answer, const std::string& key) {
    if (answer.object())
        for (const auto& [k, v] : *answer.object())
            if (k == key) return v.text();
    return {};
}

}  // namespace monami::ctl
