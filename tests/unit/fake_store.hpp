// A binding store in memory whose durability the test moves by hand (the LMDB backend has
// its own tests in store_test.cpp).
#pragma once

#include <map>
#include <tuple>
#include <vector>

#include "controlplane/store/binding_store.hpp"

namespace monami::test_support {

struct FakeStore : store::BindingStore {
    std::map<HomeAddress, store::HoaRecord> records;
    std::map<std::pair<std::uint32_t, bool>, store::EspMarks> esp;  // (SPI, outbound)
    std::vector<HomeAddress> removed;
    std::uint64_t next = 1, durable = 0;
    std::size_t changes = 0;

    Result<store::StoredState, std::string> load() override { return state(); }
    store::StoredState state() const {
        store::StoredState s;
        for (const auto& [hoa, r] : records) s.hoas.push_back(r);
        for (const auto& [key, m] : esp) s.esp.push_back(m);
        return s;
    }
    void put(const store::HoaRecord& r) override {
        records[r.home_address] = r;
        ++changes;
    }
    void remove(const HomeAddress& hoa) override {
        records.erase(hoa);
        removed.push_back(hoa);
        ++changes;
    }
    void put(const store::EspMarks& m) override {
        esp[{m.spi, m.outbound}] = m;
        ++changes;
    }
    std::uint64_t close_batch() override {
        if (changes == 0) return next - 1;
        changes = 0;
        return next++;
    }
    std::uint64_t open_batch() const override { return next; }
    std::uint64_t durable_batch() const override { return durable; }
    store::StoreStats stats() const override { return {}; }
};

}  // namespace monami::test_support
