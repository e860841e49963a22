// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
#pragma once

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>

#include "stack/address.h"
#include "stack/bytes.h"

namespace weir {

class PacketBuffer;

// Sums 16-bit big-endian words in one's complement, 8 bytes per step. Handles views of odd
// length and odd alignment, so a packet can be summed slice by slice.
class ChecksumAccumulator {
 public:
  void add(ByteView data);
  // Inline, as fold(): every segment sent and received adds its pseudo-header sum and folds.
  void add_u16(uint16_t v) { sum_ += v; }
  void add_u32(uint32_t v);
  void add(const PacketBuffer& pkt, size_t offset = 0);
  // The folded 16-bit one's complement sum (not inverted).
  inline uint16_t fold() const;
  // The value to put in a checksum field: ~fold().
  uint16_t finish() const { return static_cast<uint16_t>(~fold()); }

 private:
  uint64_t sum_ = 0;
  bool odd_ = false;  // an odd number of bytes has been added so far
};

// ~(one's complement sum of data).
uint16_t internet_checksum(ByteView data);

namespace checksum_detail {

// The one's complement sum held in 64 bits, folded to 16. Adding a word to itself rotated by
// half its width leaves the end-around-carry sum of its halves in the top half: two rotate-adds
// instead of four mask-shift-adds. Zero only for a zero sum, as the one's complement fold.
inline uint16_t fold64(uint64_t s) {
  const auto x = static_cast<uint32_t>((s + std::rotr(s, 32)) >> 32);
  return static_cast<uint16_t>((x + std::rotr(x, 16)) >> 16);
}

}  // namespace checksum_detail

uint16_t ChecksumAccumulator::fold() const { return checksum_detail::fold64(sum_); }

// internet_checksum() of exactly 20 bytes (an IPv4 header without options), inline: every IPv4
// datagram sent and received sums one, and the general sum's length tests and calls were most
// of its cost. Five 32-bit words added in 64 bits carry nothing out; since 2^16 = 1 (mod
// 2^16 - 1), folding that sum gives the one's complement sum of the host-order 16-bit words,
// which one byte swap turns into the network-order sum (RFC 1071 2(B)).
inline uint16_t internet_checksum_of_20(std::span<const std::byte, 20> data) {
  // Word by word into scalars: a local array would give every caller a stack-protected frame.
  const auto word = [&](size_t at) {
    uint32_t w;
    std::memcpy(&w, data.data() + at, sizeof w);
    return uint64_t{w};
  };
  auto folded =
      checksum_detail::fold64(word(0) + word(4) + word(8) + word(12) + word(16));
  if constexpr (std::endian::native == std::endian::little) {
    folded = static_cast<uint16_t>((folded >> 8) | (folded << 8));
  }
  return static_cast<uint16_t>(~folded);
}

namespace checksum_detail {
uint16_t pseudo_header_sum_v6(const IpAddress& src, const IpAddress& dst, uint8_t protocol,
                              uint32_t length);
}  // namespace checksum_detail

// The pseudo-header sum for TCP/UDP/ICMPv6 over IPv4 (RFC 793/768) or IPv6 (RFC 8200 8.1).
// IPv4: src, dst, zero byte + protocol, 16-bit length. IPv6: src, dst, 32-bit length, three
// zero bytes + next header. As one's complement sums both are src + dst + protocol + length.
// Addresses are whole 32-bit big-endian words, and 2^16 = 1 (mod 2^16 - 1), so adding them as
// plain integers and folding once gives the 16-bit sum. The IPv4 case is inline: every
// segment sent and received pays it, and a call cost as much as the additions.
inline uint16_t pseudo_header_sum(const IpAddress& src, const IpAddress& dst, uint8_t protocol,
                                  uint32_t length) {
  if (src.is_v4() && dst.is_v4()) {
    return checksum_detail::fold64(uint64_t{protocol} + length + src.v4().value() +
                                   dst.v4().value());
  }
  return checksum_detail::pseudo_header_sum_v6(src, dst, protocol, length);
}

// Finishes a checksum a transport left for offload (meta().needs_checksum; csum_start counts
// from the start of the network header), in software, and clears the request. pkt is a whole
// network packet, or (network_header_length > 0) the transport packet that header will go in
// front of. A request that points outside the packet is dropped, not followed.
void finish_offloaded_checksum(PacketBuffer& pkt, size_t network_header_length = 0);

// RFC 1624 eqn. 3: the new checksum field after one 16-bit word changes from old to new.
uint16_t checksum_update16(uint16_t checksum, uint16_t old_word, uint16_t new_word);
uint16_t checksum_update32(uint16_t checksum, uint32_t old_word, uint32_t new_word);

}  // namespace weir
