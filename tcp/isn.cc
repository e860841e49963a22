#include "tcp/isn.h"

#include <array>

namespace weir::tcp {

uint64_t hash_tuple(const SipKey& key, const FourTuple& t, uint8_t domain, uint32_t extra,
                    uint32_t extra2) {
  // domain(1) family(1) ports(4) addresses(2x16) extras(8): fixed layout, no padding bytes.
  std::array<std::byte, 46> buf{};
  MutableByteView out(buf);
  store_u8(out, 0, domain);
  store_u8(out, 1, static_cast<uint8_t>(t.local_address.family()));
  store_be16(out, 2, t.local_port);
  store_be16(out, 4, t.remote_port);
  copy_bytes(out, 6, t.local_address.bytes());
  copy_bytes(out, 22, t.remote_address.bytes());
  store_be32(out, 38, extra);
  store_be32(out, 42, extra2);
  return siphash24(key, ByteView(buf));
}

SeqNum generate_isn(const SipKey& key, const FourTuple& t, TimePoint now) {
  auto m = static_cast<uint32_t>(to_micros(now.time_since_epoch()) / 4);
  auto f = static_cast<uint32_t>(hash_tuple(key, t, 'I'));
  return SeqNum(m + f);
}

uint32_t timestamp_offset(const SipKey& key, const FourTuple& t) {
  return static_cast<uint32_t>(hash_tuple(key, t, 'T'));
}

}  // namespace weir::tcp
