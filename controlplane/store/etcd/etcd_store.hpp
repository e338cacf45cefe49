// The etcd backend of the binding store: the bindings of a group of gateways (a pair: an
// active one and a standby) in etcd, with leadership by an etcd lease and an election key
// (docs/architecture.md, "Redundancy on etcd"). Nothing of gRPC or etcd's types leaks here.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "controlplane/store/binding_store.hpp"

namespace monami::store {

struct EtcdOptions {
    std::vector<std::string> endpoints;       // host:port each; no member discovery
    std::string prefix = "/monami/default/";  // the group's keys (ends with '/')
    std::string member;                       // this gateway's name in the election
    std::uint32_t lease_ttl_s = 1;
    std::uint32_t request_timeout_ms = 1000;
    // TLS (all three files PEM): on when ca_file is set; cert and key for client auth.
    std::string ca_file, cert_file, key_file;
};

// Connects to the endpoints (nothing is read or elected until load()). The error names the
// endpoint and what is wrong.
[[nodiscard]] Result<std::unique_ptr<BindingStore>, std::string> open_etcd_store(
    const EtcdOptions& options);

}  // namespace monami::store
