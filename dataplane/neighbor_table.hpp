// Resolved neighbors (address -> port and MAC) for the workers' forwarding, in a lock-free
// hash updated in place by the control thread. Kept out of the LPM forwarding table, whose
// every rebuild costs a 64 MB rte_lpm6: learning a neighbor is one hash update.
#pragma once

#include <rte_ether.h>
#include <rte_hash.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dataplane/api/control.hpp"
#include "dataplane/hoa_table.hpp"

namespace monami::dp {

class NeighborTable {
  public:
    static std::unique_ptr<NeighborTable> create(std::uint32_t capacity, Reclaimer& reclaimer,
                                                 std::string& error);
    ~NeighborTable();
    NeighborTable(const NeighborTable&) = delete;
    NeighborTable& operator=(const NeighborTable&) = delete;

    // Control thread: makes the table hold exactly `neighbors` (the last entry of an address
    // wins). Changed entries are replaced with one atomic store each; removed ones' key slots
    // are freed after a grace period. False if the table is full (entries left out, logged).
    bool sync(const std::vector<Neighbor>& neighbors);
    // Control thread: installs or replaces one entry. False if the table is full (logged).
    bool set(const Neighbor& neighbor);
    std::size_t size() const { return current_.size(); }

    // Workers: bit i of *hits is set when keys[i] is a neighbor, entries[i] then holds it.
    struct Entry {
        PortId port;
        rte_ether_addr mac;
    };
    void lookup_bulk(const void** keys, unsigned n, std::uint64_t* hits,
                     std::uint64_t* entries) const {
        rte_hash_lookup_bulk_data(table_, keys, n, hits, reinterpret_cast<void**>(entries));
    }
    static Entry decode(std::uint64_t value) {
        Entry e{static_cast<PortId>(value >> 48), {}};
        for (int i = 0; i < 6; ++i)
            e.mac.addr_bytes[i] = static_cast<std::uint8_t>(value >> (40 - 8 * i));
        return e;
    }
    static std::uint64_t encode(PortId port, const MacAddress& mac) {
        std::uint64_t value = std::uint64_t{port} << 48;
        for (int i = 0; i < 6; ++i) value |= std::uint64_t{mac.bytes[i]} << (40 - 8 * i);
        return value;
    }

  private:
    NeighborTable(Reclaimer& reclaimer) : reclaimer_(reclaimer) {}
    bool install(const Ipv6Address& address, std::uint64_t value);
    Reclaimer& reclaimer_;
    rte_hash* table_ = nullptr;
    std::uint32_t capacity_ = 0;
    // The entry is the hash's data itself (port and MAC fit in 64 bits): no allocation.
    std::map<Ipv6Address, std::uint64_t> current_;  // what the table holds now
};

}  // namespace monami::dp
