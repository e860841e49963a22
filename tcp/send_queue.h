// The send buffer: bytes the user wrote that the peer has not acknowledged yet, from snd.una
// on. Bytes are copied once, into chunks; segments (first transmissions and retransmissions)
// are slices that share those chunks, so sending copies nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

#include "stack/bytes.h"
#include "stack/packet_buffer.h"
#include "stack/result.h"

namespace weir::tcp {

class SendQueue {
 public:
  static constexpr size_t kMinChunk = 2048;
  static constexpr size_t kMaxChunk = 64 * 1024;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Copies up to max bytes of data; returns how many.
  size_t append(ByteView data, size_t max);
  // Lets `fill` write up to max bytes straight into the queue's memory (a read() from a
  // socket, say), so the bytes are copied once, not through a buffer of the caller's. fill
  // returns how many bytes it wrote; fewer than offered ends the call. Its error is returned
  // when nothing was appended.
  using Fill = std::function<Result<size_t>(MutableByteView)>;
  Result<size_t> append_from(size_t max, const Fill& fill);
  // length bytes starting offset bytes after the front (clamped), sharing the chunks.
  PacketBuffer slice(size_t offset, size_t length) const;
  // Drops the first n bytes (they were acknowledged).
  void consume(size_t n);
  void clear();

 private:
  struct Block {
    ChunkRef chunk;
    uint32_t begin = 0;  // first valid byte in chunk
    uint32_t end = 0;    // one past the last valid byte
    size_t size() const { return end - begin; }
  };
  std::vector<Block> blocks_;
  size_t head_ = 0;  // blocks_[0, head_) are consumed and empty
  size_t size_ = 0;
};

}  // namespace weir::tcp
