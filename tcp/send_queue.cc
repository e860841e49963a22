#include "tcp/send_queue.h"

#include <algorithm>
#include <utility>

#include "tcp/drained_vector.h"

namespace weir::tcp {

size_t SendQueue::append(ByteView data, size_t max) {
  size_t want = std::min(data.size(), max);
  size_t done = 0;
  while (done < want) {
    // Fill the tail chunk while it has room; bytes past `end` belong to no slice yet, so
    // writing them cannot change any packet that shares the chunk.
    if (head_ < blocks_.size()) {
      Block& tail = blocks_.back();
      size_t room = tail.room();
      if (room > 0) {
        size_t n = std::min(room, want - done);
        copy_bytes(tail.chunk->bytes(), tail.end, data.subspan(done, n));
        tail.end += static_cast<uint32_t>(n);
        done += n;
        continue;
      }
    }
    // Not std::clamp, whose bounds check the hardened build asserts: the bounds are constants.
    add_own_block(std::min(std::max(want - done, kMinChunk), kMaxChunk));
  }
  size_ += done;
  return done;
}

size_t SendQueue::append_buffer(PacketBuffer& data, size_t max) {
  const size_t take = std::min(data.size(), max);
  if (take == 0) return 0;
  PacketBuffer part = data.slice(0, take);
  data.pull_front(take);
  // Headers and metadata of whatever the buffer was before mean nothing in the stream.
  part.meta() = PacketMeta{};
  const size_t pinned = part.pinned_bytes();
  add_block(Block{ChunkRef(), 0, 0, std::move(part), pinned});
  charge(pinned);
  size_ += take;
  return take;
}

Result<size_t> SendQueue::append_from(size_t max, const Fill& fill) {
  size_t done = 0;
  while (done < max) {
    if (head_ == blocks_.size() || blocks_.back().room() == 0) {
      size_t capacity = std::clamp(max - done, kMinChunk, kMaxChunk);
      add_own_block(capacity);
    }
    // Bytes past the tail's end belong to no slice yet (see append()).
    Block& tail = blocks_.back();
    size_t room = std::min<size_t>(tail.chunk->capacity() - tail.end, max - done);
    auto n = fill(tail.chunk->bytes().subspan(tail.end, room));
    if (!n) {
      if (done == 0) return n.error();
      break;
    }
    size_t got = std::min(*n, room);
    tail.end += static_cast<uint32_t>(got);
    done += got;
    size_ += got;
    if (got < room) break;
  }
  return done;
}

void SendQueue::add_own_block(size_t capacity) {
  reserve_for_burst(blocks_);
  Block& b = blocks_.emplace_back();
  b.chunk = Chunk::allocate(capacity);
  b.charge = b.chunk->capacity();
  charge(b.charge);
}

void SendQueue::set_account(SocketMemory* account) {
  if (account_ != nullptr) account_->release(charged_);
  account_ = account;
  if (account_ != nullptr) account_->charge(charged_);
}

void SendQueue::add_block(Block&& block) {
  reserve_for_burst(blocks_);
  blocks_.push_back(std::move(block));
}

PacketBuffer SendQueue::slice(size_t offset, size_t length) const {
  PacketBuffer out;
  if (offset >= size_) return out;
  length = std::min(length, size_ - offset);
  for (size_t i = head_; i < blocks_.size() && length > 0; ++i) {
    const Block& b = blocks_[i];
    if (offset >= b.size()) {
      offset -= b.size();
      continue;
    }
    size_t n = std::min(length, b.size() - offset);
    PacketBuffer part = b.chunk ? PacketBuffer::from_chunk(b.chunk, b.begin + offset, n)
                                : b.borrowed.slice(offset, n);
    if (out.empty())
      out = std::move(part);
    else
      out.append(std::move(part));
    length -= n;
    offset = 0;
  }
  return out;
}

std::optional<ByteView> SendQueue::contiguous(size_t offset, size_t length) const {
  if (offset > size_ || length > size_ - offset) return std::nullopt;
  for (size_t i = head_; i < blocks_.size(); ++i) {
    const Block& b = blocks_[i];
    const size_t n = b.size();
    if (offset >= n) {
      offset -= n;
      continue;
    }
    if (!b.chunk || length > n - offset) return std::nullopt;
    return ByteView(b.chunk->bytes()).subspan(b.begin + offset, length);
  }
  return std::nullopt;
}

void SendQueue::consume(size_t n) {
  n = std::min(n, size_);
  size_ -= n;
  while (n > 0 && head_ < blocks_.size()) {
    Block& b = blocks_[head_];
    size_t take = std::min(n, b.size());
    n -= take;
    if (!b.chunk) {
      // A borrowed buffer goes back to its owner (its release runs) as soon as it is acked.
      b.borrowed.pull_front(take);
      if (b.borrowed.empty()) {
        b.borrowed = PacketBuffer();
        uncharge(std::exchange(b.charge, 0));
        ++head_;
      }
      continue;
    }
    b.begin += static_cast<uint32_t>(take);
    // While bytes are outstanding, keep a partly filled tail chunk so small writes keep
    // packing into it; a drained queue lets go of it below.
    if (b.size() == 0 && (head_ + 1 < blocks_.size() || b.room() == 0)) {
      b.chunk.reset();
      uncharge(std::exchange(b.charge, 0));
      ++head_;
    }
  }
  // Drained: an idle connection holds no send memory (the chunk and vector caches make the
  // next write's chunk and block list cheap).
  if (head_ == blocks_.size() || size_ == 0) {
    uncharge(charged_);  // what is left is a kept tail chunk
    release_drained(blocks_, kBlocksKeptWhenIdle);
    head_ = 0;
  } else if (head_ > 32 && head_ * 2 > blocks_.size()) {
    blocks_.erase(blocks_.begin(), blocks_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

size_t SendQueue::pinned_bytes() const {
  size_t total = 0;
  for (size_t i = head_; i < blocks_.size(); ++i) {
    const Block& b = blocks_[i];
    total += b.chunk ? b.chunk->capacity() : b.borrowed.pinned_bytes();
  }
  return total;
}

void SendQueue::clear() {
  uncharge(charged_);
  release_drained(blocks_, kBlocksKeptWhenIdle);
  head_ = 0;
  size_ = 0;
}

}  // namespace weir::tcp
