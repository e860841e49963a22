// Byte views and big-endian field access. Every read takes an offset into a span and goes
// through span indexing or subspan, which _GLIBCXX_ASSERTIONS bounds-checks; wire views prove
// their lengths once at parse time so these never fire on validated input.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>
#include <vector>

namespace weir {

using ByteView = std::span<const std::byte>;
using MutableByteView = std::span<std::byte>;

inline uint8_t load_u8(ByteView b, size_t off) { return std::to_integer<uint8_t>(b[off]); }
// A multi-byte field is one subspan (one bounds check under _GLIBCXX_ASSERTIONS, not one per
// byte) and one unaligned load or store; the compiler turns the swap into movbe/bswap.
namespace bytes_detail {
inline uint16_t to_big16(uint16_t v) {
  return std::endian::native == std::endian::little ? __builtin_bswap16(v) : v;
}
inline uint32_t to_big32(uint32_t v) {
  return std::endian::native == std::endian::little ? __builtin_bswap32(v) : v;
}
}  // namespace bytes_detail
inline uint16_t load_be16(ByteView b, size_t off) {
  uint16_t v;
  std::memcpy(&v, b.subspan(off, 2).data(), 2);
  return bytes_detail::to_big16(v);
}
inline uint32_t load_be32(ByteView b, size_t off) {
  uint32_t v;
  std::memcpy(&v, b.subspan(off, 4).data(), 4);
  return bytes_detail::to_big32(v);
}
inline void store_u8(MutableByteView b, size_t off, uint8_t v) { b[off] = std::byte{v}; }
inline void store_be16(MutableByteView b, size_t off, uint16_t v) {
  const uint16_t be = bytes_detail::to_big16(v);
  std::memcpy(b.subspan(off, 2).data(), &be, 2);
}
inline void store_be32(MutableByteView b, size_t off, uint32_t v) {
  const uint32_t be = bytes_detail::to_big32(v);
  std::memcpy(b.subspan(off, 4).data(), &be, 4);
}

// Copies src into dst at offset; the span subscripts check both ends.
inline void copy_bytes(MutableByteView dst, size_t off, ByteView src) {
  if (src.empty()) return;
  auto target = dst.subspan(off, src.size());
  std::memcpy(target.data(), src.data(), src.size());
}

inline ByteView as_bytes(std::string_view s) {
  return std::as_bytes(std::span<const char>(s.data(), s.size()));
}
inline std::vector<std::byte> to_byte_vector(ByteView b) { return {b.begin(), b.end()}; }
inline std::vector<std::byte> to_byte_vector(std::string_view s) {
  return to_byte_vector(as_bytes(s));
}

// A forward cursor over untrusted bytes. A read past the end fails and poisons the reader, so
// a parser can do a run of reads and check ok() once.
class ByteReader {
 public:
  explicit ByteReader(ByteView bytes) : bytes_(bytes) {}

  bool ok() const { return ok_; }
  size_t remaining() const { return ok_ ? bytes_.size() - pos_ : 0; }
  size_t position() const { return pos_; }

  uint8_t u8() { return take(1) ? load_u8(bytes_, pos_ - 1) : 0; }
  uint16_t be16() { return take(2) ? load_be16(bytes_, pos_ - 2) : 0; }
  uint32_t be32() { return take(4) ? load_be32(bytes_, pos_ - 4) : 0; }
  ByteView bytes(size_t n) { return take(n) ? bytes_.subspan(pos_ - n, n) : ByteView{}; }
  void skip(size_t n) { take(n); }
  ByteView rest() const { return ok_ ? bytes_.subspan(pos_) : ByteView{}; }

 private:
  bool take(size_t n) {
    if (!ok_ || n > bytes_.size() - pos_) {
      ok_ = false;
      return false;
    }
    pos_ += n;
    return true;
  }

  ByteView bytes_;
  size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace weir
