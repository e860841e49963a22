// Reading what a stack sent on a channel peer, for the fuzz targets. Every frame is taken off
// the peer and each of its bytes copied out, as FramePeer::read_all() does (so ASan still checks
// that whatever the frame's slices point at is live memory), but into one buffer reused for the
// whole process instead of a new vector per frame plus the vector holding them: under ASan every
// allocation records a stack trace when made and another when freed, and the frame targets read
// after every input record.
#pragma once

#include <cstddef>
#include <vector>

#include "link/channel.h"
#include "stack/bytes.h"

namespace weir::fuzzing {

// The buffer every read_frames() call reads into. Only ever grows: a frame is read into the
// front of it.
inline std::vector<std::byte>& frame_buffer() {
  thread_local std::vector<std::byte> buffer;
  return buffer;
}

// Takes every frame `peer` holds, in order, and hands each to on_frame(ByteView) (the view is
// valid until the next frame); returns the bytes they came to.
template <typename OnFrame>
size_t read_frames(link::FramePeer& peer, OnFrame&& on_frame) {
  std::vector<std::byte>& buffer = frame_buffer();
  size_t total = 0;
  while (peer.pending() > 0) {
    auto pkt = peer.read_packet();
    if (!pkt) break;
    if (buffer.size() < pkt->size()) buffer.resize(pkt->size());
    const MutableByteView bytes = MutableByteView(buffer).first(pkt->size());
    pkt->copy_out(0, bytes);
    total += bytes.size();
    on_frame(ByteView(bytes));
  }
  return total;
}

inline size_t read_frames(link::FramePeer& peer) {
  return read_frames(peer, [](ByteView) {});
}

}  // namespace weir::fuzzing
