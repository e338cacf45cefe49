// The SA database of the home agent: inbound SAs found by SPI, outbound SAs by the
// mobile node's home address (the selector of RFC 3776 s.5).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <unordered_map>

#include "controlplane/esp/crypto.hpp"
#include "controlplane/esp/sa.hpp"
#include "controlplane/esp/sa_state.hpp"
#include "dataplane/api/result.hpp"

namespace monami::esp {

class SaDatabase {
  public:
    // The engine must outlive the database.
    explicit SaDatabase(CryptoEngine& engine) : engine_(engine) {}

    // InvalidSa for a bad SA; DuplicateSa if (spi, direction) is taken, or for a second
    // outbound SA with the same home address.
    Result<SaState*, EspError> add(const SecurityAssociation& sa);
    bool remove(std::uint32_t spi, Direction direction);

    SaState* find(std::uint32_t spi, Direction direction) const;
    SaState* find_outbound(const HomeAddress& home_address) const;
    // The first inbound SA added for `home_address`, or nullptr.
    SaState* find_inbound(const HomeAddress& home_address) const;
    std::size_t size() const { return by_spi_.size(); }
    template <class F>
    void for_each(F&& f) const {
        for (const auto& [key, sa] : by_spi_) f(*sa);
    }

  private:
    static std::uint64_t key(std::uint32_t spi, Direction direction) {
        return std::uint64_t{spi} << 1 | (direction == Direction::Outbound ? 1u : 0u);
    }

    CryptoEngine& engine_;
    std::unordered_map<std::uint64_t, std::unique_ptr<SaState>> by_spi_;
    std::map<HomeAddress, SaState*> outbound_by_home_address_;
    std::map<HomeAddress, SaState*> inbound_by_home_address_;
};

}  // namespace monami::esp
