#include "config/schema.hpp"

namespace monami::config {

Ipv6Prefix InterfaceAddress::on_link_prefix() const {
    Ipv6Prefix prefix{address, prefix_length};
    for (unsigned bit = prefix_length; bit < 128; ++bit)
        prefix.address.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80u >> (bit % 8)));
    return prefix;
}

bool Port::is_on_link(const Ipv6Address& a) const {
    if (a.is_link_local()) return true;
    for (const auto& own : addresses)
        if (own.on_link_prefix().contains(a)) return true;
    return false;
}

std::string_view to_string(LogLevel level) {
    switch (level) {
        case LogLevel::emerg:
            return "emerg";
        case LogLevel::alert:
            return "alert";
        case LogLevel::crit:
            return "crit";
        case LogLevel::err:
            return "err";
        case LogLevel::warning:
            return "warning";
        case LogLevel::notice:
            return "notice";
        case LogLevel::info:
            return "info";
        case LogLevel::debug:
            return "debug";
    }
    return "?";
}

std::string_view to_string(SecurityMode mode) {
    return mode == SecurityMode::esp ? "esp" : "none";
}

std::string_view to_string(SaDirection direction) {
    return direction == SaDirection::in ? "in" : "out";
}

std::string_view to_string(EspAlgorithm algorithm) {
    switch (algorithm) {
        case EspAlgorithm::aes_gcm_128:
            return "aes-gcm-128";
        case EspAlgorithm::aes_gcm_256:
            return "aes-gcm-256";
        case EspAlgorithm::aes_cbc_128_hmac_sha256:
            return "aes-cbc-128-hmac-sha256";
        case EspAlgorithm::aes_cbc_256_hmac_sha256:
            return "aes-cbc-256-hmac-sha256";
    }
    return "?";
}

std::string_view to_string(RuleMode mode) {
    switch (mode) {
        case RuleMode::prefer:
            return "prefer";
        case RuleMode::weighted:
            return "weighted";
        case RuleMode::ncast:
            return "ncast";
    }
    return "?";
}

std::string_view to_string(StateBackend backend) {
    switch (backend) {
        case StateBackend::lmdb:
            return "lmdb";
        case StateBackend::etcd:
            return "etcd";
        case StateBackend::none:
            break;
    }
    return "none";
}

std::string_view to_string(StateDurability durability) {
    return durability == StateDurability::async ? "async" : "sync";
}

}  // namespace monami::config
