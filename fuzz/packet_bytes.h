// Checking a reassembled packet against the bytes it should hold, without copying it out.
#pragma once

#include <cstddef>
#include <cstring>

#include "stack/bytes.h"
#include "stack/packet_buffer.h"

namespace weir::fuzzing {

// Whether pkt holds the first pkt.size() bytes of expected, compared slice by slice: every byte
// is read as a copy would read it (an ASan overread shows), with no copy made.
inline bool holds_prefix_of(const PacketBuffer& pkt, ByteView expected) {
  if (pkt.size() > expected.size()) return false;
  size_t at = 0;
  bool same = true;
  pkt.for_each_view([&](ByteView bytes) {
    if (same && !bytes.empty() && std::memcmp(bytes.data(), expected.data() + at, bytes.size()) != 0)
      same = false;
    at += bytes.size();
  });
  return same;
}

}  // namespace weir::fuzzing
