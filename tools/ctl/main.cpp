// monami-ctl: the operator's view of a running monami-gw, read through DPDK telemetry
// (the same socket dpdk-telemetry.py uses), printed as tables.
//   monami-ctl [-f FILE_PREFIX] [--json] COMMAND [ARG]
// COMMAND: bindings | binding HOA | summary | loop | store | pair | reload | top | ports |
//          workers | worker N | drops | control | config | neighbors |
//          raw /telemetry/command[,params]
// Tables of any length (bindings, neighbors) are fetched and printed a page at a time: the
// gateway never renders more than one page.
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "tools/ctl/telemetry_client.hpp"
#include "tools/ctl/top.hpp"

namespace {

using namespace monami::ctl;

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

// Prints rows as columns; widths come from the first rows printed and grow as needed, so a
// table of any length streams page by page.
class ColumnPrinter {
  public:
    explicit ColumnPrinter(std::vector<std::string> columns) : columns_(std::move(columns)) {}
    void print(const std::vector<Row>& rows) {
        if (widths_.empty()) {
            for (const auto& c : columns_) {
                std::size_t w = c.size();
                for (const auto& r : rows)
                    if (auto it = r.find(c); it != r.end()) w = std::max(w, it->second.size());
                widths_.push_back(w);
            }
            for (std::size_t i = 0; i < columns_.size(); ++i)
                std::printf("%-*s  ", static_cast<int>(widths_[i]), columns_[i].c_str());
            std::printf("\n");
        }
        for (const auto& r : rows) {
            for (std::size_t i = 0; i < columns_.size(); ++i) {
                auto it = r.find(columns_[i]);
                bool blank = it == r.end() || it->second.empty();
                std::printf("%-*s  ", static_cast<int>(widths_[i]),
                            blank ? "-" : it->second.c_str());
            }
            std::printf("\n");
        }
        printed_ += rows.size();
    }
    std::size_t printed() const { return printed_; }

  private:
    std::vector<std::string> columns_;
    std::vector<std::size_t> widths_;
    std::size_t printed_ = 0;
};

// A paged command (/monami/bindings, /monami/neighbors): every page, each answer's "next"
// naming where the following one starts, printed as it arrives. With `json`, one JSON answer
// a line.
int print_pages(Telemetry& t, const std::string& command, const std::string& page_suffix,
                const std::vector<std::string>& columns, bool json) {
    ColumnPrinter printer(columns);
    std::string after = "-";
    while (true) {
        Json page;
        std::string error;
        if (!t.query(command + "," + after + page_suffix, page, error)) {
            std::fprintf(stderr, "monami-ctl: %s\n", error.c_str());
            return 1;
        }
        if (json)
            std::printf("%s\n", t.last_raw.c_str());
        else
            printer.print(records_of(page));
        after = field(page, "next");
        if (after.empty()) break;
    }
    if (!json) std::printf("(%zu)\n", printer.printed());
    return 0;
}

const std::vector<std::string> kBindingColumns = {
    "home_address", "mn_id",   "bid",   "care_of",         "state", "at_home",
    "lifetime_s",   "packets", "bytes", "reverse_packets", "flows"};

// The redundant pair (state.backend: etcd): role, leader, lease, replication lag, from
// /monami/store and the agent's counters. Exit status 3 when the gateway is not in a pair.
int print_pair(Telemetry& t) {
    Json store, control;
    std::string error;
    if (!t.query("/monami/store", store, error) || !t.query("/monami/control", control, error)) {
        std::fprintf(stderr, "monami-ctl: %s\n", error.c_str());
        return 1;
    }
    if (field(store, "role").empty()) {
        std::printf("not in a pair: state.backend is %s (a pair needs etcd)\n",
                    field(store, "backend").c_str());
        return 3;
    }
    const bool serving = field(store, "serving") == "yes";
    const std::string leader = field(store, "leader");
    std::printf("role       %s (%s)\n", field(store, "role").c_str(),
                serving ? "serving" : "silent: no frame leaves its ports");
    std::printf("member     %s\n", field(store, "member").c_str());
    std::printf("leader     %s\n", leader.empty() ? "none (election pending)" : leader.c_str());
    const std::string answered = field(store, "answered_ms_ago");
    std::printf("lease      %s, %s ms left; etcd %s\n", field(store, "lease").c_str(),
                field(store, "lease_left_ms").c_str(),
                answered.empty() ? "has not answered yet"
                                 : ("last answered " + answered + " ms ago").c_str());
    const std::string lag = field(store, "lag_revisions");
    std::printf("revision   %s in the cache, %s reported by etcd: %s\n",
                field(store, "revision").c_str(), field(store, "revision_seen").c_str(),
                lag.empty() || lag == "0"
                    ? "caught up"
                    : (lag + " behind for " + field(store, "lag_ms") + " ms").c_str());
    std::printf("replicated %s changes applied from the leader; %s takeover(s)\n",
                field(control, "replicated_changes").c_str(), field(control, "takeovers").c_str());
    std::printf("fencing    %s commits refused; %s changes read back (%s could not be)\n",
                field(store, "fenced").c_str(), field(store, "resynced").c_str(),
                field(store, "resync_failures").c_str());
    std::printf("etcd       %s\n", field(store, "path").c_str());
    const std::string failed = field(store, "last_error");
    if (!failed.empty()) std::printf("last error %s\n", failed.c_str());
    return 0;
}

// The outcome of a reload (/monami/reload) or the last one (in /monami/config).
void print_reload(const Json& answer) {
    std::printf("reload %s: %s (%s, %s)\n", field(answer, "reload_sequence").c_str(),
                field(answer, "reload_result").c_str(), field(answer, "reload_trigger").c_str(),
                field(answer, "reload_time").c_str());
    if (answer.object())
        for (const auto& [k, v] : *answer.object())
            if (k == "reload_message" && v.array())
                for (const auto& line : *v.array()) std::printf("  %s\n", line.text().c_str());
}

// monami-ctl reload: the gateway reads its file again; 0 when it applied it (or nothing had
// changed), 4 when it refused it (keys that need a restart), 5 when the file is invalid.
int reload(Telemetry& t, bool json) {
    Json answer;
    std::string error;
    if (!t.query("/monami/reload", answer, error)) {
        std::fprintf(stderr, "monami-ctl: %s\n", error.c_str());
        return 1;
    }
    if (json)
        std::printf("%s\n", t.last_raw.c_str());
    else
        print_reload(answer);
    const std::string result = field(answer, "reload_result");
    if (result == "applied" || result == "unchanged") return 0;
    return result == "refused" ? 4 : 5;
}

void usage() {
    std::fprintf(
        stderr,
        "usage: monami-ctl [-f FILE_PREFIX] [--json] COMMAND [ARG]\n"
        "  bindings          every binding, fetched a page at a time\n"
        "  binding HOA       the bindings of one home address\n"
        "  summary           HoAs, bindings, flows, paths by state\n"
        "  loop              control loop health: iteration times, ring\n"
        "  store             binding store: backend, entries, last commit, size\n"
        "  pair              the redundant pair: role, leader, lease, replication lag\n"
        "  reload            re-read the configuration file (exit 4: refused, 5: invalid)\n"
        "  top [-n COUNT]    live view, refreshed every second (q or Ctrl-C quits)\n"
        "  ports | workers | worker N | drops | control | config | neighbors\n"
        "  raw /command[,params]\n");
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
    if (cmd == "bindings")
        return print_pages(t, "/monami/bindings", ",1000", kBindingColumns, json);
    if (cmd == "neighbors")
        return print_pages(t, "/monami/neighbors", "", {"address", "port", "mac"}, json);
    if (cmd == "binding" && args.size() > 1 && !json) {
        Json answer;
        if (!t.query("/monami/binding," + args[1], answer, error)) {
            std::fprintf(stderr, "monami-ctl: %s\n", error.c_str());
            return 1;
        }
        ColumnPrinter printer(kBindingColumns);
        printer.print(records_of(answer));
        if (printer.printed() == 0) std::printf("no binding for %s\n", args[1].c_str());
        return printer.printed() ? 0 : 3;
    }
    if (cmd == "pair" && !json) return print_pair(t);
    if (cmd == "reload") return reload(t, json);
    if (cmd == "top") {
        unsigned refreshes = 0;
        if (args.size() > 2 && args[1] == "-n")
            refreshes = static_cast<unsigned>(std::atoi(args[2].c_str()));
        return run_top(t, prefix, refreshes);
    }
    if (cmd == "pair")
        telemetry_command = "/monami/store";
    else if (cmd == "raw" && args.size() > 1)
        telemetry_command = args[1];
    else if (cmd == "worker" && args.size() > 1)
        telemetry_command = "/monami/worker," + args[1];
    else if (cmd == "binding" && args.size() > 1)
        telemetry_command = "/monami/binding," + args[1];
    else if (cmd == "ports" || cmd == "workers" || cmd == "drops" || cmd == "control" ||
             cmd == "config" || cmd == "summary" || cmd == "loop" || cmd == "store")
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
