// Hashing of 16-byte addresses for the control plane's unordered maps (the ordered maps'
// memcmp comparisons were 15% of a Binding Update's cost, docs/performance.md). Defined with
// the address type (dataplane/api/types.hpp), which the data plane's control side uses too.
#pragma once

#include "dataplane/api/types.hpp"

namespace monami::ha {

using monami::Ipv6AddressHash;
using monami::mix_address;

}  // namespace monami::ha
