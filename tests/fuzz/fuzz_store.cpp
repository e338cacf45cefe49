// libFuzzer target for the binding store's record decoder: any bytes decode to a record or
// a typed error, never a crash or a read past the input; a record that decodes encodes back
// to a record that decodes to the same value (the store writes what it read the same way).
#include <cstddef>
#include <cstdint>
#include <span>

#include "controlplane/store/record.hpp"

namespace store = monami::store;

namespace {

void check(bool condition) {
    if (!condition) __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::span<const std::uint8_t> bytes(data, size);
    if (auto record = store::decode_hoa(bytes)) {
        auto again = store::decode_hoa(store::encode(*record));
        check(again.ok() && *again == *record);
    }
    if (auto marks = store::decode_esp(bytes)) {
        auto again = store::decode_esp(store::encode(*marks));
        check(again.ok() && *again == *marks);
    }
    return 0;
}
