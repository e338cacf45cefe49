#include "dataplane/lf_hash.hpp"

#include <rte_hash_crc.h>
#include <rte_lcore.h>

#include <atomic>
#include <cstring>
#include <string>

namespace monami::dp {

namespace {

std::atomic<unsigned> table_serial{0};

// The keys are addresses inside packets, at any alignment; rte_hash_crc would load them
// through uint64_t pointers (undefined behaviour, reported by UBSan).
std::uint32_t hash_address(const void* key, std::uint32_t, std::uint32_t initial) {
    std::uint64_t words[2];
    std::memcpy(words, key, sizeof words);
    return rte_hash_crc_8byte(words[1], rte_hash_crc_8byte(words[0], initial));
}

}  // namespace

rte_hash* create_lf_hash(const char* what, std::uint32_t entries) {
    std::string name = std::string(what) + std::to_string(table_serial.fetch_add(1));
    rte_hash_parameters params{};
    params.name = name.c_str();
    params.entries = entries < 64 ? 64 : entries;
    params.key_len = 16;
    params.hash_func = hash_address;
    params.socket_id = static_cast<int>(rte_socket_id());
    // Lock-free readers; implies NO_FREE_ON_DEL: a deleted key's slot is ours to free
    // after the grace period. The extendable table keeps inserts from failing on a full bucket.
    params.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF | RTE_HASH_EXTRA_FLAGS_EXT_TABLE;
    return rte_hash_create(&params);
}

void free_key_slot(void* table, std::uintptr_t position) {
    rte_hash_free_key_with_position(static_cast<rte_hash*>(table),
                                    static_cast<std::int32_t>(position));
}

}  // namespace monami::dp
