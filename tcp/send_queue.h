// The send buffer: bytes the user wrote that the peer has not acknowledged yet, from snd.una
// on. Bytes are copied once, into chunks; segments (first transmissions and retransmissions)
// are slices that share those chunks, so sending copies nothing. append_buffer() takes the
// caller's packet as it is (its chunks, possibly external memory from Chunk::adopt), so those
// bytes are never copied at all.
//
// Memory. With set_account(), what the queue pins (pinned_bytes(): whole chunks, a borrowed
// buffer at what its chunks hold) is charged to the stack-wide SocketMemory as blocks come and
// go, as Linux charges sk_wmem_queued to tcp_mem: a block is charged when it is added and
// released when it is acknowledged and let go, so the account always equals the sum of the
// queues' charged().
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "stack/bytes.h"
#include "stack/memory_budget.h"
#include "stack/packet_buffer.h"
#include "stack/result.h"

namespace weir::tcp {

class SendQueue {
 public:
  static constexpr size_t kMinChunk = 2048;
  static constexpr size_t kMaxChunk = 64 * 1024;

  SendQueue() = default;
  ~SendQueue() { set_account(nullptr); }
  SendQueue(const SendQueue&) = delete;
  SendQueue& operator=(const SendQueue&) = delete;

  // Charges charged() to account from now on (nullptr: to none); account must outlive the
  // queue or be replaced first.
  void set_account(SocketMemory* account);
  // What the queue's blocks pin, as charged to the account: pinned_bytes() as the blocks were
  // added (a borrowed buffer's chunks stay charged until the whole block is acknowledged).
  size_t charged() const { return charged_; }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  // The memory the queue's blocks keep alive (whole chunks, spare room included).
  size_t pinned_bytes() const;
  // Whether the list of blocks holds storage (none once drained).
  bool holds_storage() const { return blocks_.capacity() > 0; }

  // Copies up to max bytes of data; returns how many.
  size_t append(ByteView data, size_t max);
  // Lets `fill` write up to max bytes straight into the queue's memory (a read() from a
  // socket, say), so the bytes are copied once, not through a buffer of the caller's. fill
  // returns how many bytes it wrote; fewer than offered ends the call. Its error is returned
  // when nothing was appended.
  using Fill = std::function<Result<size_t>(MutableByteView)>;
  Result<size_t> append_from(size_t max, const Fill& fill);
  // Takes up to max bytes from the front of data without copying them: the queue keeps slices
  // of data's chunks (data keeps the rest). Nothing is ever written into those chunks, and
  // later append() calls start a chunk of their own. Returns how many bytes it took.
  size_t append_buffer(PacketBuffer& data, size_t max);
  // length bytes starting offset bytes after the front (clamped), sharing the chunks.
  PacketBuffer slice(size_t offset, size_t length) const;
  // The same bytes as one view into the queue's own memory, when they lie in one chunk the
  // queue copied them into (nullopt otherwise: a borrowed buffer, or a range across chunks).
  // Valid until the queue next changes. For a small segment, copied straight behind its header.
  std::optional<ByteView> contiguous(size_t offset, size_t length) const;
  // Drops the first n bytes (they were acknowledged).
  void consume(size_t n);
  void clear();

 private:
  // Either bytes the queue copied into its own chunk (chunk set), or a caller's buffer taken
  // by append_buffer (borrowed; chunk null), which is never written to.
  struct Block {
    ChunkRef chunk;
    uint32_t begin = 0;  // first valid byte in chunk
    uint32_t end = 0;    // one past the last valid byte
    PacketBuffer borrowed;
    size_t charge = 0;  // what adding the block charged
    size_t size() const { return chunk ? end - begin : borrowed.size(); }
    // Spare room past `end` that append() may fill.
    size_t room() const { return chunk ? chunk->capacity() - end : 0; }
  };
  void add_block(Block&& block);
  // A block of the queue's own: a fresh chunk of `capacity`, built in place (no packet moved).
  void add_own_block(size_t capacity);
  void charge(size_t n) {
    charged_ += n;
    if (account_ != nullptr) account_->charge(n);
  }
  void uncharge(size_t n) {
    charged_ -= n;
    if (account_ != nullptr) account_->release(n);
  }

  static constexpr size_t kBlocksKeptWhenIdle = 2;
  std::vector<Block> blocks_;
  size_t head_ = 0;  // blocks_[0, head_) are consumed and empty
  size_t size_ = 0;
  size_t charged_ = 0;
  SocketMemory* account_ = nullptr;
};

}  // namespace weir::tcp
