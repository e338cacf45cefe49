#include "controlplane/store/record.hpp"

#include "controlplane/mh/builder.hpp"
#include "controlplane/mh/parser.hpp"

namespace monami::store {

namespace {

// Layout (big-endian), version 1:
//   "MB" version kind
//   HoA:  address[16] flags(mobile_router 0x01, link_local_compat 0x02) last_sequence:16
//         mn_id: len:16 bytes
//         bindings: count:16 { bid:16 flags(mcoa 0x01, at_home 0x02) care_of[16] ha[16]
//                               sequence:16 expiry:64 }
//         prefixes: count:16 { length:8 address[16] }
//         flows: count:16 { fid:16 priority:16 expiry:64 bids: count:16 {bid:16}
//                           selector: len:16 (TS Format, Reserved, RFC 6088 binary) }
//   ESP:  spi:32 direction(1 outbound, 0 inbound):8 mark:64
constexpr std::uint8_t kKindHoa = 1;
constexpr std::uint8_t kKindEsp = 2;
constexpr std::uint8_t kHoaMobileRouter = 0x01;
constexpr std::uint8_t kHoaLinkLocal = 0x02;
constexpr std::uint8_t kBindingMcoa = 0x01;
constexpr std::uint8_t kBindingAtHome = 0x02;

class Writer {
  public:
    explicit Writer(std::uint8_t kind) { out_ = {'M', 'B', kRecordVersion, kind}; }
    void u8(std::uint8_t v) { out_.push_back(v); }
    void u16(std::uint16_t v) {
        out_.push_back(static_cast<std::uint8_t>(v >> 8));
        out_.push_back(static_cast<std::uint8_t>(v));
    }
    void u32(std::uint32_t v) {
        u16(static_cast<std::uint16_t>(v >> 16));
        u16(static_cast<std::uint16_t>(v));
    }
    void u64(std::uint64_t v) {
        u32(static_cast<std::uint32_t>(v >> 32));
        u32(static_cast<std::uint32_t>(v));
    }
    void address(const Ipv6Address& a) { out_.insert(out_.end(), a.bytes.begin(), a.bytes.end()); }
    void count(std::size_t n) { u16(static_cast<std::uint16_t>(n)); }
    std::vector<std::uint8_t>& bytes() { return out_; }

  private:
    std::vector<std::uint8_t> out_;
};

class Reader {
  public:
    explicit Reader(std::span<const std::uint8_t> in) : in_(in) {}
    bool u8(std::uint8_t& v) {
        if (!room(1)) return false;
        v = in_[at_++];
        return true;
    }
    bool u16(std::uint16_t& v) {
        if (!room(2)) return false;
        v = static_cast<std::uint16_t>(in_[at_] << 8 | in_[at_ + 1]);
        at_ += 2;
        return true;
    }
    bool u32(std::uint32_t& v) {
        std::uint16_t hi = 0, lo = 0;
        if (!u16(hi) || !u16(lo)) return false;
        v = std::uint32_t{hi} << 16 | lo;
        return true;
    }
    bool u64(std::uint64_t& v) {
        std::uint32_t hi = 0, lo = 0;
        if (!u32(hi) || !u32(lo)) return false;
        v = std::uint64_t{hi} << 32 | lo;
        return true;
    }
    bool address(Ipv6Address& a) {
        if (!room(16)) return false;
        std::copy(in_.begin() + static_cast<std::ptrdiff_t>(at_),
                  in_.begin() + static_cast<std::ptrdiff_t>(at_ + 16), a.bytes.begin());
        at_ += 16;
        return true;
    }
    bool bytes(std::size_t n, std::span<const std::uint8_t>& out) {
        if (!room(n)) return false;
        out = in_.subspan(at_, n);
        at_ += n;
        return true;
    }
    bool done() const { return at_ == in_.size(); }

  private:
    bool room(std::size_t n) const { return in_.size() - at_ >= n; }
    std::span<const std::uint8_t> in_;
    std::size_t at_ = 0;
};

// Checks "MB", the version and the kind.
std::optional<RecordError> header(Reader& r, std::uint8_t kind) {
    std::uint8_t m = 0, b = 0, version = 0, k = 0;
    if (!r.u8(m) || !r.u8(b)) return RecordError::Truncated;
    if (m != 'M' || b != 'B') return RecordError::BadMagic;
    if (!r.u8(version)) return RecordError::Truncated;
    if (version != kRecordVersion) return RecordError::BadVersion;
    if (!r.u8(k)) return RecordError::Truncated;
    if (k != kind) return RecordError::BadMagic;
    return std::nullopt;
}

}  // namespace

std::string_view to_string(RecordError e) {
    switch (e) {
        case RecordError::Truncated:
            return "truncated record";
        case RecordError::BadMagic:
            return "not a monami binding record";
        case RecordError::BadVersion:
            return "record format version not supported by this build";
        case RecordError::BadValue:
            return "field out of range";
        case RecordError::TrailingData:
            return "bytes after the last field";
    }
    return "unknown record error";
}

std::vector<std::uint8_t> encode(const HoaRecord& record) {
    Writer w(kKindHoa);
    w.address(record.home_address);
    w.u8(static_cast<std::uint8_t>((record.mobile_router ? kHoaMobileRouter : 0) |
                                   (record.link_local_compat ? kHoaLinkLocal : 0)));
    w.u16(record.last_sequence);
    w.count(record.mn_id.size());
    w.bytes().insert(w.bytes().end(), record.mn_id.begin(), record.mn_id.end());
    w.count(record.bindings.size());
    for (const auto& b : record.bindings) {
        w.u16(b.bid);
        w.u8(static_cast<std::uint8_t>((b.mcoa ? kBindingMcoa : 0) |
                                       (b.at_home ? kBindingAtHome : 0)));
        w.address(b.care_of);
        w.address(b.ha_address);
        w.u16(b.sequence);
        w.u64(b.expiry_unix_ms);
    }
    w.count(record.network_prefixes.size());
    for (const auto& p : record.network_prefixes) {
        w.u8(p.length);
        w.address(p.address);
    }
    w.count(record.flows.size());
    for (const auto& f : record.flows) {
        w.u16(f.fid);
        w.u16(f.priority);
        w.u64(f.expiry_unix_ms);
        w.count(f.bids.size());
        for (auto bid : f.bids) w.u16(bid);
        std::vector<std::uint8_t> selector;
        mh::append_traffic_selector(selector, f.selector);
        w.count(selector.size());
        w.bytes().insert(w.bytes().end(), selector.begin(), selector.end());
    }
    return std::move(w.bytes());
}

Result<HoaRecord, RecordError> decode_hoa(std::span<const std::uint8_t> bytes) {
    Reader r(bytes);
    if (auto e = header(r, kKindHoa)) return Err{*e};
    HoaRecord out;
    std::uint8_t flags = 0;
    std::uint16_t n = 0;
    std::span<const std::uint8_t> raw;
    if (!r.address(out.home_address) || !r.u8(flags) || !r.u16(out.last_sequence) || !r.u16(n) ||
        !r.bytes(n, raw))
        return Err{RecordError::Truncated};
    if (flags & ~(kHoaMobileRouter | kHoaLinkLocal)) return Err{RecordError::BadValue};
    out.mobile_router = flags & kHoaMobileRouter;
    out.link_local_compat = flags & kHoaLinkLocal;
    out.mn_id.assign(raw.begin(), raw.end());
    if (!r.u16(n)) return Err{RecordError::Truncated};
    out.bindings.resize(n);
    for (auto& b : out.bindings) {
        if (!r.u16(b.bid) || !r.u8(flags) || !r.address(b.care_of) || !r.address(b.ha_address) ||
            !r.u16(b.sequence) || !r.u64(b.expiry_unix_ms))
            return Err{RecordError::Truncated};
        if (flags & ~(kBindingMcoa | kBindingAtHome)) return Err{RecordError::BadValue};
        b.mcoa = flags & kBindingMcoa;
        b.at_home = flags & kBindingAtHome;
    }
    if (!r.u16(n)) return Err{RecordError::Truncated};
    out.network_prefixes.resize(n);
    for (auto& p : out.network_prefixes) {
        if (!r.u8(p.length) || !r.address(p.address)) return Err{RecordError::Truncated};
        if (p.length > 128 || Ipv6Prefix::covering(p.address, p.length) != p)
            return Err{RecordError::BadValue};
    }
    if (!r.u16(n)) return Err{RecordError::Truncated};
    out.flows.resize(n);
    for (auto& f : out.flows) {
        std::uint16_t bids = 0;
        if (!r.u16(f.fid) || !r.u16(f.priority) || !r.u64(f.expiry_unix_ms) || !r.u16(bids))
            return Err{RecordError::Truncated};
        f.bids.resize(bids);
        for (auto& bid : f.bids)
            if (!r.u16(bid)) return Err{RecordError::Truncated};
        if (!r.u16(n) || !r.bytes(n, raw)) return Err{RecordError::Truncated};
        auto selector = mh::parse_traffic_selector(raw);
        if (!selector) return Err{RecordError::BadValue};
        f.selector = std::move(*selector);
    }
    if (!r.done()) return Err{RecordError::TrailingData};
    return out;
}

std::vector<std::uint8_t> encode(const EspMarks& marks) {
    Writer w(kKindEsp);
    w.u32(marks.spi);
    w.u8(marks.outbound ? 1 : 0);
    w.u64(marks.mark);
    return std::move(w.bytes());
}

Result<EspMarks, RecordError> decode_esp(std::span<const std::uint8_t> bytes) {
    Reader r(bytes);
    if (auto e = header(r, kKindEsp)) return Err{*e};
    EspMarks out;
    std::uint8_t direction = 0;
    if (!r.u32(out.spi) || !r.u8(direction) || !r.u64(out.mark)) return Err{RecordError::Truncated};
    if (direction > 1) return Err{RecordError::BadValue};
    out.outbound = direction == 1;
    if (!r.done()) return Err{RecordError::TrailingData};
    return out;
}

}  // namespace monami::store
