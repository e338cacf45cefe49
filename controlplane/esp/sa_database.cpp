#include "controlplane/esp/sa_database.hpp"

namespace monami::esp {

Result<SaState*, EspError> SaDatabase::add(const SecurityAssociation& sa) {
    if (by_spi_.contains(key(sa.spi, sa.dir))) return Err{EspError::DuplicateSa};
    if (sa.dir == Direction::Outbound && outbound_by_home_address_.contains(sa.home_address)) {
        return Err{EspError::DuplicateSa};
    }
    auto created = SaState::create(sa, engine_);
    if (!created) return Err{created.error()};
    SaState* state = created->get();
    by_spi_.emplace(key(sa.spi, sa.dir), std::move(created).value());
    if (sa.dir == Direction::Outbound)
        outbound_by_home_address_.emplace(sa.home_address, state);
    else
        inbound_by_home_address_.emplace(sa.home_address, state);  // the first one stays
    return state;
}

bool SaDatabase::remove(std::uint32_t spi, Direction direction) {
    auto it = by_spi_.find(key(spi, direction));
    if (it == by_spi_.end()) return false;
    if (direction == Direction::Outbound) {
        outbound_by_home_address_.erase(it->second->home_address());
    } else {
        auto in = inbound_by_home_address_.find(it->second->home_address());
        if (in != inbound_by_home_address_.end() && in->second == it->second.get())
            inbound_by_home_address_.erase(in);
    }
    by_spi_.erase(it);
    return true;
}

SaState* SaDatabase::find(std::uint32_t spi, Direction direction) const {
    auto it = by_spi_.find(key(spi, direction));
    return it == by_spi_.end() ? nullptr : it->second.get();
}

SaState* SaDatabase::find_inbound(const HomeAddress& home_address) const {
    auto it = inbound_by_home_address_.find(home_address);
    return it == inbound_by_home_address_.end() ? nullptr : it->second;
}

SaState* SaDatabase::find_outbound(const HomeAddress& home_address) const {
    auto it = outbound_by_home_address_.find(home_address);
    return it == outbound_by_home_address_.end() ? nullptr : it->second;
}

}  // namespace monami::esp
