// Lock-free rte_hash tables keyed by IPv6 addresses, shared by the HoA and neighbor tables:
// readers never lock, and a deleted key's slot is freed after an RCU grace period.
#pragma once

#include <rte_hash.h>

#include <cstdint>

namespace monami::dp {

// An rte_hash with lock-free readers (RW_CONCURRENCY_LF, hence NO_FREE_ON_DEL: free a
// deleted key's slot with free_key_slot after the grace period) and an extendable table,
// keyed by 16-byte addresses at any alignment. `what` prefixes the table's unique name.
rte_hash* create_lf_hash(const char* what, std::uint32_t entries);

// Reclaimer::FreeFn for a deleted key: `table` is the rte_hash, `position` what
// rte_hash_del_key returned.
void free_key_slot(void* table, std::uintptr_t position);

}  // namespace monami::dp
