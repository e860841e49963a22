#include "tcp/syn_cookies.h"

#include <algorithm>
#include <array>

namespace weir::tcp {
namespace {

// Common MSS values (Linux's msstab plus jumbo), ascending.
constexpr std::array<uint16_t, 8> kMssTable = {536, 1220, 1300, 1380, 1440, 1460, 4312, 8960};

uint32_t counter(TimePoint now) {
  return static_cast<uint32_t>(now.time_since_epoch() / SynCookies::kPeriod);
}

uint32_t cookie_hash(const SipKey& key, const FourTuple& t, SeqNum peer_isn, uint32_t count,
                     uint32_t option_bits) {
  return static_cast<uint32_t>(
             hash_tuple(key, t, 'C', peer_isn.value(), (count << 12) | option_bits)) &
         0xfffff;
}

size_t mss_index(uint16_t mss) {
  size_t i = 0;
  while (i + 1 < kMssTable.size() && kMssTable[i + 1] <= mss) ++i;
  return i;
}

}  // namespace

uint16_t SynCookies::encoded_mss(uint16_t mss) { return kMssTable[mss_index(mss)]; }

SeqNum SynCookies::make(const SipKey& key, const FourTuple& t, SeqNum peer_isn, TimePoint now,
                        const CookieOptions& options) {
  uint32_t count = counter(now) & 7;
  uint32_t ws = options.window_scale ? std::min<uint32_t>(*options.window_scale, 14) : 15;
  uint32_t bits = (static_cast<uint32_t>(mss_index(options.mss)) << 6) | (ws << 2) |
                  (options.sack_permitted ? 2u : 0u) | (options.timestamps ? 1u : 0u);
  uint32_t cookie = (count << 29) | (bits << 20) | cookie_hash(key, t, peer_isn, count, bits);
  return SeqNum(cookie);
}

std::optional<CookieOptions> SynCookies::check(const SipKey& key, const FourTuple& t, SeqNum seq,
                                               SeqNum ack, TimePoint now) {
  uint32_t cookie = (ack - 1).value();
  SeqNum peer_isn = seq - 1;
  uint32_t count = cookie >> 29;
  uint32_t bits = (cookie >> 20) & 0x1ff;
  uint32_t now_count = counter(now);
  // Accept this period and the previous one only.
  if (count != (now_count & 7) && count != ((now_count - 1) & 7)) return std::nullopt;
  if ((cookie & 0xfffff) != cookie_hash(key, t, peer_isn, count, bits)) return std::nullopt;
  CookieOptions o;
  o.mss = kMssTable[(bits >> 6) & 7];
  uint32_t ws = (bits >> 2) & 0xf;
  if (ws != 15) o.window_scale = static_cast<uint8_t>(ws);
  o.sack_permitted = (bits & 2) != 0;
  o.timestamps = (bits & 1) != 0;
  return o;
}

}  // namespace weir::tcp
