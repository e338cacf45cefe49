#include "tools/mn/options.hpp"

#include <charconv>
#include <cstdlib>
#include <limits>

namespace monami::mn {

namespace {

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    std::size_t start = 0;
    while (true) {
        auto at = text.find(separator, start);
        parts.push_back(text.substr(start, at - start));
        if (at == std::string_view::npos) break;
        start = at + 1;
    }
    return parts;
}

template <class T>
std::optional<T> parse_number(std::string_view text) {
    std::uint64_t value = 0;
    int base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        text.remove_prefix(2);
        base = 16;
    }
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (text.empty() || ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    if (value > std::numeric_limits<T>::max()) return std::nullopt;
    return static_cast<T>(value);
}

// "N" or "N-M" (inclusive, N <= M).
template <class T>
std::optional<mh::Range<T>> parse_number_range(std::string_view text) {
    auto dash = text.find('-');
    auto first = parse_number<T>(text.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : parse_number<T>(text.substr(dash + 1));
    if (!first || !last || *first > *last) return std::nullopt;
    return mh::Range<T>{*first, *last};
}

// "ADDR", "ADDR-ADDR" or "PREFIX/LEN" (every address of the prefix).
std::optional<mh::Range<Ipv6Address>> parse_address_range(std::string_view text) {
    if (text.find('/') != std::string_view::npos) {
        auto prefix = Ipv6Prefix::parse(text);
        if (!prefix) return std::nullopt;
        Ipv6Address last = prefix->address;
        for (unsigned bit = prefix->length; bit < 128; ++bit)
            last.bytes[bit / 8] |= static_cast<std::uint8_t>(0x80u >> (bit % 8));
        return mh::Range<Ipv6Address>{prefix->address, last};
    }
    auto dash = text.find('-');
    auto first = Ipv6Address::parse(text.substr(0, dash));
    auto last = dash == std::string_view::npos ? first : Ipv6Address::parse(text.substr(dash + 1));
    if (!first || !last || *last < *first) return std::nullopt;
    return mh::Range<Ipv6Address>{*first, *last};
}

std::optional<std::uint16_t> bid_of(std::string_view text, std::span<const LinkSpec> links) {
    for (std::size_t i = 0; i < links.size(); ++i)
        if (links[i].name == text) return static_cast<std::uint16_t>(i + 1);
    auto bid = parse_number<std::uint16_t>(text);
    if (!bid || *bid == 0) return std::nullopt;
    return bid;
}

std::string quoted(std::string_view text) {
    return "'" + std::string(text) + "'";
}

}  // namespace

std::string usage() {
    return R"(usage: monami-mn --home-address HOA --home-agent HA --link NAME:IFACE:COA[,via=ROUTER][,mac=MAC] ...
  --link NAME:IFACE:COA    an access link; BIDs are 1..n in the order given.
                           via=ROUTER: next hop to resolve (default: the kernel's route to the HA
                           on IFACE, else the HA itself); mac=MAC: next hop MAC, no resolution
  --mn-id NAI              Mobile Node Identifier option (RFC 4283)
  --lifetime SECONDS       requested binding lifetime (default 60)
  --bulk                   one BU with every BID and its CoA (RFC 5648 bulk registration)
  --flow SPEC              fid=N,prio=N,bids=1+2|wifi+cell[,proto=N][,sport=A[-B]][,dport=A[-B]]
                           [,src=ADDR|PREFIX|A-B][,dst=...][,tc=N[-M]] (RFC 6089/6088)
  --prefix PREFIX          mobile network prefix, sets the R flag (RFC 3963)
  --gateway-mac MAC        next-hop MAC for every link without mac=
  --run-for SECONDS        exit after this long
  --deregister-at-exit     de-register (lifetime 0) on SIGTERM/SIGINT, quit and at the end
  --initial-timeout MS     first BA timeout, doubled per retransmission (default 1500)
  --max-timeout MS         retransmission timeout ceiling (default 32000)
  --nd-retransmit MS       Neighbor Solicitation interval (default 1000)
  --tap NAME               tun interface with the HoA/128 (the MN's own kernel stack)
  --tap-route PREFIX       route PREFIX into the tun interface (default ::/0), repeatable
  --esp-sa in|out:SPI:ALGORITHM:KEYHEX[:AUTHKEYHEX]
                           ESP SA mirroring the gateway's (out protects BUs and heartbeat
                           replies, in opens BAs); ALGORITHM aes-gcm-128|aes-gcm-256|
                           aes-cbc-128-hmac-sha256|aes-cbc-256-hmac-sha256; GCM keys end with
                           the 4-byte salt. With SAs, BAs in clear are ignored. Repeatable
  --esp-replay-window N    anti-replay window for the in SA (multiple of 32, 0 = off; 64)
Control on stdin, one per line: link down NAME | link up NAME | deregister [NAME] |
  flow add SPEC | flow modify SPEC | flow remove FID | stats | quit
)";
}

Result<LinkSpec, std::string> parse_link_spec(std::string_view text) {
    auto fields = split(text, ',');
    std::string_view main = fields[0];
    auto first = main.find(':');
    auto second = first == std::string_view::npos ? first : main.find(':', first + 1);
    if (second == std::string_view::npos)
        return Err{"--link " + quoted(text) + ": expected NAME:INTERFACE:CARE_OF_ADDRESS"};
    LinkSpec link;
    link.name = std::string(main.substr(0, first));
    link.interface = std::string(main.substr(first + 1, second - first - 1));
    auto coa = Ipv6Address::parse(main.substr(second + 1));
    if (link.name.empty() || link.interface.empty() || !coa)
        return Err{"--link " + quoted(text) + ": expected NAME:INTERFACE:CARE_OF_ADDRESS"};
    link.care_of = *coa;
    for (std::size_t i = 1; i < fields.size(); ++i) {
        auto eq = fields[i].find('=');
        auto key = fields[i].substr(0, eq);
        auto value = eq == std::string_view::npos ? std::string_view{} : fields[i].substr(eq + 1);
        if (key == "via") {
            link.via = Ipv6Address::parse(value);
            if (!link.via) return Err{"--link " + quoted(text) + ": bad via address"};
        } else if (key == "mac") {
            link.gateway_mac = MacAddress::parse(value);
            if (!link.gateway_mac) return Err{"--link " + quoted(text) + ": bad mac"};
        } else {
            return Err{"--link " + quoted(text) + ": unknown key " + quoted(key)};
        }
    }
    return link;
}

Result<FlowSpec, std::string> parse_flow_spec(std::string_view text,
                                              std::span<const LinkSpec> links) {
    FlowSpec flow;
    bool have_fid = false;
    auto bad = [&](std::string_view what) {
        return Err{"flow " + quoted(text) + ": " + std::string(what)};
    };
    for (auto field : split(text, ',')) {
        auto eq = field.find('=');
        if (eq == std::string_view::npos) return bad("expected KEY=VALUE, got " + quoted(field));
        auto key = field.substr(0, eq);
        auto value = field.substr(eq + 1);
        auto& ts = flow.selector;
        if (key == "fid") {
            auto fid = parse_number<std::uint16_t>(value);
            if (!fid) return bad("bad fid");
            flow.fid = *fid;
            have_fid = true;
        } else if (key == "prio" || key == "priority") {
            auto prio = parse_number<std::uint16_t>(value);
            if (!prio) return bad("bad priority");
            flow.priority = *prio;
        } else if (key == "bids") {
            for (auto item : split(value, '+')) {
                auto bid = bid_of(item, links);
                if (!bid) return bad("bad BID " + quoted(item));
                flow.bids.push_back(*bid);
            }
        } else if (key == "proto") {
            if (!(ts.next_header = parse_number_range<std::uint8_t>(value)))
                return bad("bad proto");
        } else if (key == "sport") {
            if (!(ts.source_port = parse_number_range<std::uint16_t>(value)))
                return bad("bad sport");
        } else if (key == "dport") {
            if (!(ts.destination_port = parse_number_range<std::uint16_t>(value)))
                return bad("bad dport");
        } else if (key == "tc") {
            if (!(ts.traffic_class = parse_number_range<std::uint8_t>(value))) return bad("bad tc");
        } else if (key == "src") {
            if (!(ts.source_address = parse_address_range(value))) return bad("bad src");
        } else if (key == "dst") {
            if (!(ts.destination_address = parse_address_range(value))) return bad("bad dst");
        } else {
            return bad("unknown key " + quoted(key));
        }
    }
    if (!have_fid) return bad("fid is required");
    if (flow.bids.empty()) return bad("bids is required");
    return flow;
}

namespace {

std::optional<std::vector<std::uint8_t>> parse_hex(std::string_view text) {
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X'))
        text.remove_prefix(2);
    if (text.empty() || text.size() % 2 != 0) return std::nullopt;
    std::vector<std::uint8_t> out;
    for (std::size_t i = 0; i < text.size(); i += 2) {
        std::uint8_t byte = 0;
        auto [end, ec] = std::from_chars(text.data() + i, text.data() + i + 2, byte, 16);
        if (ec != std::errc{} || end != text.data() + i + 2) return std::nullopt;
        out.push_back(byte);
    }
    return out;
}

}  // namespace

Result<EspSaSpec, std::string> parse_esp_sa_spec(std::string_view text) {
    // The text holds keys: errors name the field, never echo it.
    auto bad = [](const std::string& why) { return Err{"--esp-sa: " + why}; };
    auto parts = split(text, ':');
    if (parts.size() != 4 && parts.size() != 5)
        return bad("expected in|out:SPI:ALGORITHM:KEYHEX[:AUTHKEYHEX]");
    EspSaSpec sa;
    if (parts[0] == "in")
        sa.direction = esp::Direction::Inbound;
    else if (parts[0] == "out")
        sa.direction = esp::Direction::Outbound;
    else
        return bad("direction must be in or out");
    auto spi = parse_number<std::uint32_t>(parts[1]);
    if (!spi || *spi < 256) return bad("SPI must be 256..4294967295");
    sa.spi = *spi;
    const std::pair<std::string_view, esp::Algorithm> names[] = {
        {"aes-gcm-128", esp::Algorithm::AesGcm128},
        {"aes-gcm-256", esp::Algorithm::AesGcm256},
        {"aes-cbc-128-hmac-sha256", esp::Algorithm::AesCbc128HmacSha256128},
        {"aes-cbc-256-hmac-sha256", esp::Algorithm::AesCbc256HmacSha256128}};
    bool known = false;
    for (const auto& [name, algorithm] : names)
        if (parts[2] == name) {
            sa.algorithm = algorithm;
            known = true;
        }
    if (!known)
        return bad(
            "algorithm must be aes-gcm-128, aes-gcm-256, aes-cbc-128-hmac-sha256 or "
            "aes-cbc-256-hmac-sha256");
    auto key = parse_hex(parts[3]);
    if (!key) return bad("KEYHEX is not hex");
    sa.key = std::move(*key);
    const esp::AlgorithmTraits t = esp::traits(sa.algorithm);
    if (sa.key.size() != t.cipher_key_bytes + t.salt_bytes)
        return bad("the key must be " + std::to_string(t.cipher_key_bytes + t.salt_bytes) +
                   " bytes for " + std::string(parts[2]));
    if (t.aead != (parts.size() == 4))
        return bad(t.aead ? "GCM takes no AUTHKEYHEX" : "CBC needs AUTHKEYHEX (32 bytes)");
    if (!t.aead) {
        auto auth = parse_hex(parts[4]);
        if (!auth || auth->size() != t.auth_key_bytes) return bad("AUTHKEYHEX must be 32 bytes");
        sa.auth_key = std::move(*auth);
    }
    return sa;
}

Result<MnOptions, std::string> parse_command_line(std::span<const std::string> args) {
    MnOptions options;
    std::optional<HomeAddress> hoa;
    std::optional<Ipv6Address> ha;
    std::vector<std::string> flow_texts;  // parsed after every --link is known
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string& arg = args[i];
        auto value = [&]() -> std::optional<std::string> {
            if (i + 1 >= args.size()) return std::nullopt;
            return args[++i];
        };
        auto missing = [&] { return Err{arg + ": missing value"}; };
        if (arg == "-h" || arg == "--help") {
            options.help = true;
        } else if (arg == "--bulk") {
            options.bulk = true;
        } else if (arg == "--deregister-at-exit") {
            options.deregister_at_exit = true;
        } else {
            auto v = value();
            if (!v) return missing();
            auto bad = [&] { return Err{arg + ": bad value " + quoted(*v)}; };
            if (arg == "--home-address") {
                if (!(hoa = Ipv6Address::parse(*v))) return bad();
            } else if (arg == "--home-agent") {
                if (!(ha = Ipv6Address::parse(*v))) return bad();
            } else if (arg == "--link") {
                auto link = parse_link_spec(*v);
                if (!link) return Err{link.error()};
                options.links.push_back(std::move(*link));
            } else if (arg == "--mn-id") {
                if (v->empty() || v->size() > 255) return bad();
                options.mn_id = *v;
            } else if (arg == "--lifetime") {
                auto s = parse_number<std::uint32_t>(*v);
                // The BU carries 4-second units in 16 bits (RFC 6275 s.6.1.7).
                if (!s || *s < 4 || *s / 4 > 0xffff) return bad();
                options.lifetime_s = *s;
            } else if (arg == "--flow") {
                flow_texts.push_back(*v);
            } else if (arg == "--prefix") {
                auto p = Ipv6Prefix::parse(*v);
                if (!p) return bad();
                options.prefixes.push_back(*p);
            } else if (arg == "--gateway-mac") {
                if (!(options.gateway_mac = MacAddress::parse(*v))) return bad();
            } else if (arg == "--run-for") {
                char* end = nullptr;
                double s = std::strtod(v->c_str(), &end);
                if (end != v->c_str() + v->size() || !(s > 0)) return bad();
                options.run_for_s = s;
            } else if (arg == "--initial-timeout") {
                auto ms = parse_number<std::uint32_t>(*v);
                if (!ms || *ms == 0) return bad();
                options.initial_bindack_timeout_ms = *ms;
            } else if (arg == "--max-timeout") {
                auto ms = parse_number<std::uint32_t>(*v);
                if (!ms || *ms == 0) return bad();
                options.max_bindack_timeout_ms = *ms;
            } else if (arg == "--nd-retransmit") {
                auto ms = parse_number<std::uint32_t>(*v);
                if (!ms || *ms == 0) return bad();
                options.nd_retransmit_ms = *ms;
            } else if (arg == "--esp-sa") {
                auto sa = parse_esp_sa_spec(*v);
                if (!sa) return Err{sa.error()};
                options.esp_sas.push_back(std::move(*sa));
            } else if (arg == "--esp-replay-window") {
                auto w = parse_number<std::uint32_t>(*v);
                if (!w || *w % 32 != 0 || *w > 4096) return bad();
                options.esp_replay_window = *w;
            } else if (arg == "--tap") {
                if (v->empty() || v->size() > 15) return bad();
                options.tap = *v;
            } else if (arg == "--tap-route") {
                auto p = Ipv6Prefix::parse(*v);
                if (!p) return bad();
                options.tap_routes.push_back(*p);
            } else {
                return Err{"unknown option " + quoted(arg)};
            }
        }
    }
    if (options.help) return options;
    if (!hoa) return Err{std::string("--home-address is required")};
    if (!ha) return Err{std::string("--home-agent is required")};
    if (options.links.empty()) return Err{std::string("at least one --link is required")};
    options.home_address = *hoa;
    options.home_agent = *ha;
    for (std::size_t i = 0; i < options.links.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (options.links[i].name == options.links[j].name)
                return Err{"--link: duplicate name " + quoted(options.links[i].name)};
    if (options.max_bindack_timeout_ms < options.initial_bindack_timeout_ms)
        return Err{std::string("--max-timeout is below --initial-timeout")};
    for (const auto& text : flow_texts) {
        auto flow = parse_flow_spec(text, options.links);
        if (!flow) return Err{flow.error()};
        for (auto bid : flow->bids)
            if (bid > options.links.size())
                return Err{"--flow " + quoted(text) + ": no link with BID " + std::to_string(bid)};
        for (const auto& other : options.flows)
            if (other.fid == flow->fid)
                return Err{"--flow: duplicate fid " + std::to_string(flow->fid)};
        options.flows.push_back(*flow);
    }
    if (options.tap && options.tap_routes.empty())
        options.tap_routes.push_back(*Ipv6Prefix::parse("::/0"));
    return options;
}

mh::FlowIdentification flow_option(const FlowSpec& flow) {
    mh::FlowIdentification option;
    option.fid = flow.fid;
    option.priority = flow.priority;
    option.bid_references = flow.bids;
    option.traffic_selector = flow.selector;
    return option;
}

}  // namespace monami::mn
