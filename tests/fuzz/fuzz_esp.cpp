// libFuzzer target for the ESP path of the signalling and the extension-header walker.
// Each input is tried three ways: through the IPv6 extension-header walker (its offsets
// must stay inside the packet), through EspEndpoint::unprotect as a received packet (SPIs
// 0x1000 GCM and 0x1001 CBC exist, so the fuzzer reaches the replay window, the ICV check
// and, with the seeds' valid packets, padding and selector checks), and as the payload of
// a packet protected by one endpoint and opened by its peer, which must give back exactly
// the packet that was protected.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "controlplane/esp/transport.hpp"
#include "controlplane/mh/exthdr.hpp"

namespace {

namespace esp = monami::esp;
namespace mh = monami::mh;
using monami::Ipv6Address;

const Ipv6Address kHomeAgent = *Ipv6Address::parse("2001:db8:1::1");
const Ipv6Address kHomeAddress = *Ipv6Address::parse("2001:db8:1::100");
const Ipv6Address kCareOf = *Ipv6Address::parse("2001:db8:a::100");

void check(bool condition) {
    if (!condition) __builtin_trap();
}

esp::SecurityAssociation sa(std::uint32_t spi, esp::Direction dir, esp::Algorithm alg,
                            const Ipv6Address& selector, std::uint32_t window) {
    esp::SecurityAssociation s;
    s.spi = spi;
    s.dir = dir;
    s.alg = alg;
    s.home_address = selector;
    const auto t = esp::traits(alg);
    s.key.assign(t.cipher_key_bytes + t.salt_bytes, 0x11);
    s.auth_key.assign(t.auth_key_bytes, 0x22);
    s.replay_window = window;
    return s;
}

struct Endpoints {
    std::unique_ptr<esp::EspEndpoint> home_agent = esp::EspEndpoint::create();
    std::unique_ptr<esp::EspEndpoint> mobile_node = esp::EspEndpoint::create();
    Endpoints() {
        check(home_agent && mobile_node);
        // Inbound at the HA: a GCM and a CBC SA; the MN's outbound GCM mirrors the first.
        // Window 0: the fuzzer replays inputs, which must still reach the ICV check.
        check(home_agent->sas()
                  .add(sa(0x1000, esp::Direction::Inbound, esp::Algorithm::AesGcm128, kHomeAddress,
                          0))
                  .ok());
        check(home_agent->sas()
                  .add(sa(0x1001, esp::Direction::Inbound, esp::Algorithm::AesCbc128HmacSha256128,
                          kHomeAddress, 0))
                  .ok());
        check(mobile_node->sas()
                  .add(sa(0x1000, esp::Direction::Outbound, esp::Algorithm::AesGcm128, kHomeAgent,
                          64))
                  .ok());
    }
};

Endpoints& endpoints() {
    static Endpoints e;
    return e;
}

void walk(std::span<const std::uint8_t> packet) {
    auto chain = mh::walk_ipv6_headers(packet);
    if (!chain) {
        check(chain.error().offset <= packet.size());
        return;
    }
    check(chain->upper_layer_offset <= chain->packet_end);
    check(chain->packet_end <= packet.size());
    check(chain->upper_layer(packet).size() == chain->packet_end - chain->upper_layer_offset);
}

// IPv6 (CoA -> HA) + destination options with the Home Address option + `payload`, whose
// protocol is its first byte.
std::vector<std::uint8_t> bu_like_packet(std::span<const std::uint8_t> payload) {
    std::vector<std::uint8_t> p(40 + 24);
    p[0] = 0x60;
    p[6] = 60;  // destination options
    p[7] = 64;
    std::copy(kCareOf.bytes.begin(), kCareOf.bytes.end(), p.begin() + 8);
    std::copy(kHomeAgent.bytes.begin(), kHomeAgent.bytes.end(), p.begin() + 24);
    std::uint8_t* opt = p.data() + 40;
    opt[0] = payload.empty() ? 59 : payload[0];
    opt[1] = 2;  // 24 bytes
    opt[2] = 1;  // PadN of 2
    opt[3] = 2;
    opt[6] = mh::kHomeAddressOptionType;
    opt[7] = 16;
    std::copy(kHomeAddress.bytes.begin(), kHomeAddress.bytes.end(), opt + 8);
    p.insert(p.end(), payload.begin(), payload.end());
    const std::size_t length = p.size() - 40;
    p[4] = static_cast<std::uint8_t>(length >> 8);
    p[5] = static_cast<std::uint8_t>(length);
    return p;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> input(data, size);
    Endpoints& e = endpoints();
    walk(input);

    auto opened = e.home_agent->unprotect(input);
    if (opened) {
        check(opened->size() < size);
        walk(*opened);
    }

    if (size > 60000) return 0;
    const auto packet = bu_like_packet(input);
    // A payload that starts like an extension header that stays in clear (hop-by-hop,
    // routing, destination options) moves where ESP goes, or is refused when malformed.
    const bool plain_payload = size == 0 || (data[0] != 0 && data[0] != 43 && data[0] != 60);
    auto sealed = e.mobile_node->protect(packet);
    if (!sealed) {
        check(!plain_payload);
        return 0;
    }
    walk(*sealed);
    auto back = e.home_agent->unprotect(*sealed);
    if (!plain_payload) return 0;
    check(back.ok());
    check(*back == packet);
    // One flipped bit past the clear headers must be caught (the ICV covers ESP's header).
    if (size > 0) {
        std::vector<std::uint8_t> forged = *sealed;
        const std::size_t at = 64 + data[0] % (forged.size() - 64);
        forged[at] ^= static_cast<std::uint8_t>(1u << (size % 8));
        check(!e.home_agent->unprotect(forged).ok());
    }
    return 0;
}
