// Right-sizing a received payload before a queue keeps it.
#pragma once

#include <cstddef>
#include <utility>

#include "stack/packet_buffer.h"

namespace weir {

// A payload sliced out of a receive chunk pins the whole chunk: a 1-byte IP fragment in a
// 2 KiB frame, or in a 64 KiB one from a tap with offloads. A queue that keeps many such
// payloads would hold far more memory than their bytes (or than it is charged), so a payload
// that pins more than twice its size plus a small chunk's worth is copied into right-sized
// memory; everything else, full-sized fragments above all, is kept without a copy. The
// metadata stays.
inline void right_size(PacketBuffer& payload) {
  constexpr size_t kSlack = 512;
  const size_t size = payload.size();
  if (payload.pinned_bytes() <= 2 * size + kSlack) return;
  PacketBuffer copy = PacketBuffer::allocate(size, 0);
  if (size > 0) payload.copy_out(0, copy.mutable_front(size).value());
  copy.meta() = payload.meta();
  payload = std::move(copy);
}

}  // namespace weir
