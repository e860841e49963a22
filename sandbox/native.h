// Fields of the kernel's ABI structs (sockaddr families, msghdr, iovec, timeval, ifreq, ...) in
// the program's memory are in host byte order. These read and write them at an offset into a
// byte span through span indexing (bounds-checked), never by casting bytes to a struct.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

#include "stack/bytes.h"

namespace weir::sandbox {

template <typename T>
T load_host(ByteView b, size_t off) {
  auto src = b.subspan(off, sizeof(T));
  T v;
  std::memcpy(&v, src.data(), sizeof(T));
  return v;
}

template <typename T>
void store_host(MutableByteView b, size_t off, T v) {
  auto dst = b.subspan(off, sizeof(T));
  std::memcpy(dst.data(), &v, sizeof(T));
}

// The bytes of a trivially copyable value (an int option, a timeval) for writing out.
template <typename T>
std::span<const std::byte, sizeof(T)> bytes_of(const T& v) {
  return std::as_bytes(std::span<const T, 1>(&v, 1));
}

}  // namespace weir::sandbox
