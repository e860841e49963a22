// Initial sequence numbers per RFC 6528: ISN = M + F(4-tuple, secret), where M is a clock
// ticking every 4 microseconds and F is SipHash-2-4 keyed with the stack's secret. Also the
// per-connection timestamp offset (RFC 7323 5.4), derived the same way so that a reused 4-tuple
// keeps a monotonic TSval across incarnations.
#pragma once

#include <cstdint>

#include "stack/address.h"
#include "stack/clock.h"
#include "stack/rng.h"
#include "tcp/seqnum.h"

namespace weir::tcp {

struct FourTuple {
  IpAddress local_address;
  uint16_t local_port = 0;
  IpAddress remote_address;
  uint16_t remote_port = 0;
};

// The 4-tuple (plus a domain tag byte and extra words) hashed with key.
uint64_t hash_tuple(const SipKey& key, const FourTuple& t, uint8_t domain, uint32_t extra = 0,
                    uint32_t extra2 = 0);

SeqNum generate_isn(const SipKey& key, const FourTuple& t, TimePoint now);
uint32_t timestamp_offset(const SipKey& key, const FourTuple& t);

}  // namespace weir::tcp
