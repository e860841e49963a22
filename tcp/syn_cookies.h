// SYN cookies (RFC 4987 3.6): when the SYN queue is full the listener keeps no state for a
// SYN; everything it must remember is encoded in the ISN of its SYN-ACK and recovered from the
// ACK that completes the handshake.
//
// Layout of the 32-bit cookie (our ISN), high bits first:
//   [31:29] time counter (64 s periods, mod 8)      [28:26] MSS table index
//   [25:22] peer window scale (15 = none)          [21] SACK permitted  [20] timestamps
//   [19:0]  SipHash of (4-tuple, peer ISN, counter, the 12 bits above), keyed by the stack secret
// The hash covers the option bits, so a forger cannot flip them; a cookie is accepted for the
// current and the previous period (up to 128 s old).
#pragma once

#include <cstdint>
#include <optional>

#include "stack/clock.h"
#include "stack/rng.h"
#include "tcp/isn.h"
#include "tcp/seqnum.h"

namespace weir::tcp {

struct CookieOptions {
  uint16_t mss = 536;
  std::optional<uint8_t> window_scale;  // the peer's
  bool sack_permitted = false;
  bool timestamps = false;
};

class SynCookies {
 public:
  static constexpr Duration kPeriod = std::chrono::seconds(64);

  // The cookie ISN for a SYN with sequence peer_isn; the MSS is rounded down to the table.
  static SeqNum make(const SipKey& key, const FourTuple& t, SeqNum peer_isn, TimePoint now,
                     const CookieOptions& options);
  // Decodes ack - 1 for an ACK whose sequence is seq (peer ISN = seq - 1). nullopt: forged or
  // expired.
  static std::optional<CookieOptions> check(const SipKey& key, const FourTuple& t, SeqNum seq,
                                            SeqNum ack, TimePoint now);
  // The MSS actually encoded for a requested MSS.
  static uint16_t encoded_mss(uint16_t mss);
};

}  // namespace weir::tcp
