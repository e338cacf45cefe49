#include "controlplane/ha/tunnel_header.hpp"

#include "controlplane/ha/home_agent.hpp"
#include "controlplane/net/packet.hpp"

namespace monami::ha {

void write_tunnel_header(DeliveryPath& path, const MacAddress& dst_mac, const MacAddress& src_mac,
                         const Ipv6Address& outer_source, const TunnelSettings& tunnel) {
    std::uint8_t* p = path.header;
    net::write_ethernet_header(p, dst_mac, src_mac);
    bool limit = tunnel.encapsulation_limit.has_value();
    net::write_ipv6_header(p + net::kEthernetHeaderSize, 0,
                           limit ? net::kProtoDestinationOptions : net::kProtoIpv6InIpv6,
                           tunnel.hop_limit, outer_source, path.care_of);
    path.header_length = net::kEthernetHeaderSize + net::kIpv6HeaderSize;
    if (limit) {
        std::uint8_t* opt = p + path.header_length;
        opt[0] = net::kProtoIpv6InIpv6;  // next header
        opt[1] = 0;                      // 8 bytes
        opt[2] = 4;                      // Tunnel Encapsulation Limit
        opt[3] = 1;
        opt[4] = *tunnel.encapsulation_limit;
        opt[5] = 1;  // PadN of 1 byte
        opt[6] = 1;
        opt[7] = 0;
        path.header_length += 8;
    }
}

}  // namespace monami::ha
