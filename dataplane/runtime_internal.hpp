// What the files defining dp::Runtime share and no one else needs (packet_path.cpp,
// control_channel.cpp).
#pragma once

#include <bit>
#include <cstdint>

namespace monami::dp {

// rte_be_to_cpu_16 and rte_cpu_to_be_16 without DPDK's inline asm (an xchgb the compiler
// can neither fold into a load nor schedule): 2-3 instructions less per use.
constexpr std::uint16_t network_order16(std::uint16_t value) {
    if constexpr (std::endian::native == std::endian::little) return __builtin_bswap16(value);
    return value;
}

// hash.usr of the frames the control thread puts on a worker's control_tx ring (0: transmit
// as it is).
// Marks a control-thread frame that the worker classifies instead of transmitting.
constexpr std::uint32_t kRouteThroughFastPath = 1;
// Marks a packet from a signalling queue that is not signalling: the worker takes it as
// received (it may be a reverse tunnel packet to decapsulate).
constexpr std::uint32_t kProcessAsReceived = 2;

}  // namespace monami::dp
