#include "stack/checksum.h"

#include <bit>
#include <cstring>

#if defined(__x86_64__)
#include <immintrin.h>
#endif

#include "stack/packet_buffer.h"

namespace weir {

namespace {

// One's complement addition in 64 bits: the carry out of bit 63 wraps around to bit 0. Since
// 2^16 - 1 divides 2^64 - 1, folding the 64-bit result gives the 16-bit sum.
inline uint64_t add_ones(uint64_t a, uint64_t b) {
  const uint64_t s = a + b;
  return s + (s < b);
}

inline uint64_t load_native64(const std::byte* p) {
  uint64_t w;
  std::memcpy(&w, p, sizeof w);
  return w;
}

using checksum_detail::fold64;

#if defined(__x86_64__)
// Bulk data is summed with AVX2 where the CPU has it: each 32-bit word is widened to 64 bits
// and added without carries (a 64-bit lane cannot overflow on fewer than 2^32 words), four
// words per instruction. The scalar loop below needs an add, a compare and a carry add per 8
// bytes; this is about three times fewer instructions and no carry chain. 2^32 = 1 (mod
// 2^16 - 1), so the plain sum of 32-bit words is the one's complement sum of the 16-bit words
// they hold, in the same host-order lanes as the scalar loads.
constexpr size_t kVectorMinimum = 128;

__attribute__((target("avx2"))) uint64_t sum_words32_avx2(const std::byte* p, size_t n) {
  __m256i a = _mm256_setzero_si256();
  __m256i b = _mm256_setzero_si256();
  __m256i c = _mm256_setzero_si256();
  __m256i d = _mm256_setzero_si256();
  // Unaligned 16-byte loads through memcpy (a movdqu): no cast of packet bytes to a vector.
  __m128i w0;
  __m128i w1;
  __m128i w2;
  __m128i w3;
  while (n >= 64) {
    std::memcpy(&w0, p, sizeof w0);
    std::memcpy(&w1, p + 16, sizeof w1);
    std::memcpy(&w2, p + 32, sizeof w2);
    std::memcpy(&w3, p + 48, sizeof w3);
    a = _mm256_add_epi64(a, _mm256_cvtepu32_epi64(w0));
    b = _mm256_add_epi64(b, _mm256_cvtepu32_epi64(w1));
    c = _mm256_add_epi64(c, _mm256_cvtepu32_epi64(w2));
    d = _mm256_add_epi64(d, _mm256_cvtepu32_epi64(w3));
    p += 64;
    n -= 64;
  }
  while (n >= 16) {
    std::memcpy(&w0, p, sizeof w0);
    a = _mm256_add_epi64(a, _mm256_cvtepu32_epi64(w0));
    p += 16;
    n -= 16;
  }
  const __m256i all = _mm256_add_epi64(_mm256_add_epi64(a, b), _mm256_add_epi64(c, d));
  uint64_t lanes[4];
  std::memcpy(lanes, &all, sizeof lanes);
  return lanes[0] + lanes[1] + lanes[2] + lanes[3];
}

bool cpu_has_avx2() {
  static const bool has = __builtin_cpu_supports("avx2");
  return has;
}
#endif

// The host-order one's complement sum of n bytes, n a multiple of 64, not folded. Out of line:
// the registers its four chains need would otherwise be saved and restored by every short sum
// (a header, TCP's with options too) as well.
[[gnu::noinline]] uint64_t sum_bulk(const std::byte* p, size_t n) {
#if defined(__x86_64__)
  if (n >= kVectorMinimum && cpu_has_avx2()) return sum_words32_avx2(p, n);
#endif
  // Four independent chains let the adds of each overlap the carries of the others.
  uint64_t a = 0;
  uint64_t b = 0;
  uint64_t c = 0;
  uint64_t d = 0;
  while (n >= 64) {
    a = add_ones(a, load_native64(p));
    b = add_ones(b, load_native64(p + 8));
    c = add_ones(c, load_native64(p + 16));
    d = add_ones(d, load_native64(p + 24));
    a = add_ones(a, load_native64(p + 32));
    b = add_ones(b, load_native64(p + 40));
    c = add_ones(c, load_native64(p + 48));
    d = add_ones(d, load_native64(p + 56));
    p += 64;
    n -= 64;
  }
  return add_ones(add_ones(a, c), add_ones(b, d));
}

// The one's complement sum of data as big-endian 16-bit words, data starting on a word
// boundary; a trailing odd byte is the high byte of a word padded with zero.
//
// Words are loaded in host order, eight bytes at a time. The one's complement sum commutes
// with byte swapping (RFC 1071 section 2(B)), so the host-order sum, folded and swapped once
// at the end, is the network-order sum.
uint16_t sum_words(ByteView data) {
  const std::byte* p = data.data();
  size_t n = data.size();
  uint64_t a = 0;
  if (n >= 64) {
    const size_t whole = n & ~size_t{63};
    a = sum_bulk(p, whole);
    p += whole;
    n -= whole;
  }
  // Under 64 bytes remain: 32, 16 and 8 at a time by the bits of n, each a fixed run of
  // loads, where a loop of 8 paid its count and test per word (a TCP header is 20-60 bytes).
  if ((n & 32) != 0) {
    a = add_ones(a, load_native64(p));
    a = add_ones(a, load_native64(p + 8));
    a = add_ones(a, load_native64(p + 16));
    a = add_ones(a, load_native64(p + 24));
    p += 32;
  }
  if ((n & 16) != 0) {
    a = add_ones(a, load_native64(p));
    a = add_ones(a, load_native64(p + 8));
    p += 16;
  }
  if ((n & 8) != 0) {
    a = add_ones(a, load_native64(p));
    p += 8;
  }
  n &= 7;
  if (n > 0) {
    // Zero padding keeps each byte in its lane: on a little-endian host the byte at an even
    // stream position lands in the low half of a 16-bit lane, which the final swap makes high.
    uint64_t tail = 0;
    if constexpr (std::endian::native == std::endian::little) {
      // Fixed-size loads, each placed where a zero-padded copy would put it: a memcpy of a
      // variable length is a library call, which doubled the cost of a 20-byte header.
      size_t at = 0;
      if ((n & 4) != 0) {
        uint32_t v;
        std::memcpy(&v, p, sizeof v);
        tail = v;
        at = 4;
      }
      if ((n & 2) != 0) {
        uint16_t v;
        std::memcpy(&v, p + at, sizeof v);
        tail |= uint64_t{v} << (8 * at);
        at += 2;
      }
      if ((n & 1) != 0) tail |= uint64_t{std::to_integer<uint8_t>(p[at])} << (8 * at);
    } else {
      std::memcpy(&tail, p, n);
    }
    a = add_ones(a, tail);
  }
  const uint16_t folded = fold64(a);
  if constexpr (std::endian::native == std::endian::little) {
    return static_cast<uint16_t>((folded >> 8) | (folded << 8));
  } else {
    return folded;
  }
}

}  // namespace

namespace {

// add(ByteView), inline in it and in add(PacketBuffer)'s walk over the packet's views (every
// segment sent and received is summed that way).
inline void add_view(uint64_t& sum, bool& odd, ByteView data) {
  if (data.empty()) return;
  if (odd) {
    // The byte that completes a word begun in an earlier view is that word's low byte.
    sum += load_u8(data, 0);
    data = data.subspan(1);
    odd = false;
  }
  sum += sum_words(data);
  odd = (data.size() & 1) != 0;
}

}  // namespace

void ChecksumAccumulator::add(ByteView data) { add_view(sum_, odd_, data); }

void ChecksumAccumulator::add_u32(uint32_t v) { sum_ += (v >> 16) + (v & 0xffff); }

void ChecksumAccumulator::add(const PacketBuffer& pkt, size_t offset) {
  // A packet in one slice (every segment a stack built, as it arrives) is one view: no walk.
  if (offset == 0 && pkt.view_count() == 1) {
    add_view(sum_, odd_,
             ByteView(pkt.front_chunk()->bytes()).subspan(pkt.front_offset(), pkt.size()));
    return;
  }
  pkt.for_each_view([&](ByteView view) {
    if (offset >= view.size()) {
      offset -= view.size();
      return;
    }
    add_view(sum_, odd_, view.subspan(offset));
    offset = 0;
  });
}

// Straight to the words, without an accumulator's odd-byte bookkeeping: every IPv4 header
// sent and received is summed here.
uint16_t internet_checksum(ByteView data) { return static_cast<uint16_t>(~sum_words(data)); }

namespace checksum_detail {

// pseudo_header_sum() past its inline IPv4 case (an address of each family counts as its
// words, as the sum over IPv4 addresses does).
uint16_t pseudo_header_sum_v6(const IpAddress& src, const IpAddress& dst, uint8_t protocol,
                              uint32_t length) {
  uint64_t sum = uint64_t{protocol} + length;
  for (const IpAddress* address : {&src, &dst}) {
    const ByteView bytes = address->bytes();
    for (size_t at = 0; at + 4 <= bytes.size(); at += 4) sum += load_be32(bytes, at);
  }
  return fold64(sum);
}

}  // namespace checksum_detail

namespace {
uint16_t fold32(uint32_t s) {
  s = (s & 0xffff) + (s >> 16);
  s = (s & 0xffff) + (s >> 16);
  return static_cast<uint16_t>(s);
}
}  // namespace

// RFC 1624 eqn. 3: HC' = ~(~HC + ~m + m'). Unlike eqn. 2 it never produces 0x0000 from a
// non-zero input sum, which matches what a full recomputation gives.
uint16_t checksum_update16(uint16_t checksum, uint16_t old_word, uint16_t new_word) {
  const uint32_t s = uint32_t{static_cast<uint16_t>(~checksum)} +
                     uint32_t{static_cast<uint16_t>(~old_word)} + new_word;
  return static_cast<uint16_t>(~fold32(s));
}

uint16_t checksum_update32(uint16_t checksum, uint32_t old_word, uint32_t new_word) {
  const uint32_t s = uint32_t{static_cast<uint16_t>(~checksum)} +
                     uint32_t{static_cast<uint16_t>(~(old_word >> 16))} +
                     uint32_t{static_cast<uint16_t>(~(old_word & 0xffff))} +
                     (new_word >> 16) + (new_word & 0xffff);
  return static_cast<uint16_t>(~fold32(s));
}

void finish_offloaded_checksum(PacketBuffer& pkt, size_t network_header_length) {
  PacketMeta& meta = pkt.meta();
  if (!meta.needs_checksum) return;
  meta.needs_checksum = false;
  if (meta.csum_start < network_header_length) return;
  const size_t start = meta.csum_start - network_header_length;
  const size_t field = start + meta.csum_offset;
  if (field + 2 > pkt.size()) return;
  ChecksumAccumulator acc;
  acc.add(pkt, start);
  const uint16_t sum = acc.finish();
  auto bytes = pkt.mutable_front(field + 2);
  if (!bytes) return;
  store_be16(*bytes, field, sum);
}

}  // namespace weir
