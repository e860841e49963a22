// PacketBuffer: one packet as a chain of slices over reference-counted chunks.
//
// Theory of operation. A chunk is a fixed block of bytes with an atomic reference count.
// A PacketBuffer is a short list of (chunk, offset, length) slices plus per-packet metadata.
// Copying a packet (clone, slice) only bumps reference counts. Bytes are writable only through
// push_front/mutable_front, which first make sure the chunk is not shared (copy-on-write), so
// a clone never sees another packet's header writes. Layers build a packet back to front: the
// transport allocates with headroom for every header below it, then each layer push_front()s
// its header into that headroom without copying. Parsing goes through front(n), which proves
// that n bytes exist (linearizing the first n bytes when they span slices) and returns a
// bounds-checked span.
#pragma once

#include <algorithm>
#include <array>
#include <atomic>
#include <boost/intrusive_ptr.hpp>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <vector>

#include "stack/address.h"
#include "stack/bytes.h"
#include "stack/result.h"

namespace weir {

// The one allocator of packet memory (reviewed: the only new/delete in the packet path).
//
// External memory. adopt() wraps bytes that belong to someone else (a DPDK mbuf's buffer, a
// ring slot) in a chunk without copying them: the chunk's bytes are those bytes, and when the
// last reference goes, release(context) hands them back instead of freeing anything. The
// chunk is then as writable as any other (push_front into its headroom, copy-on-write when
// shared), so the owner must hand over bytes nobody else writes while the chunk lives. release
// runs on whichever thread drops the last reference. External chunks never enter the
// per-thread recycling cache.
class Chunk {
 public:
  using ReleaseFn = void (*)(void* context) noexcept;

  static boost::intrusive_ptr<Chunk> allocate(size_t capacity);
  static boost::intrusive_ptr<Chunk> adopt(MutableByteView bytes, ReleaseFn release,
                                           void* context);

  size_t capacity() const { return capacity_; }
  MutableByteView bytes() { return {data_, capacity_}; }
  ByteView bytes() const { return {data_, capacity_}; }
  bool shared() const { return refs_.load(std::memory_order_acquire) > 1; }
  // Adopted memory (adopt()): someone else's bytes, which the stack does not write beyond what
  // was handed to it.
  bool external() const { return release_ != nullptr; }

  Chunk(const Chunk&) = delete;
  Chunk& operator=(const Chunk&) = delete;
  ~Chunk();

 private:
  explicit Chunk(size_t capacity);
  Chunk(MutableByteView bytes, ReleaseFn release, void* context);
  friend void intrusive_ptr_add_ref(Chunk* c);
  friend void intrusive_ptr_release(Chunk* c);
  // The last reference went: free the chunk, recycle it, or hand external memory back.
  static void last_reference_gone(Chunk* c);

  std::atomic<uint32_t> refs_{0};
  size_t capacity_;
  std::unique_ptr<std::byte[]> storage_;  // empty for external memory
  std::byte* data_;                       // storage_, or the adopted bytes
  ReleaseFn release_ = nullptr;           // set for external memory
  void* context_ = nullptr;
};

// Every slice of a packet takes and drops a reference, so both are inline: only the last
// release leaves the caller.
inline void intrusive_ptr_add_ref(Chunk* c) { c->refs_.fetch_add(1, std::memory_order_relaxed); }
inline void intrusive_ptr_release(Chunk* c) {
  if (c->refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) Chunk::last_reference_gone(c);
}

using ChunkRef = boost::intrusive_ptr<Chunk>;

using NicId = uint32_t;

enum class LinkPacketType : uint8_t { kHost, kBroadcast, kMulticast, kOtherHost, kOutgoing };
enum class GsoType : uint8_t { kNone, kTcpV4, kTcpV6, kUdp };

// What the layers tell each other about a packet besides its bytes.
struct PacketMeta {
  uint16_t network_protocol = 0;  // EtherType of the network header (0x0800, 0x0806, 0x86dd)
  NicId nic = 0;                  // receive: the NIC it arrived on
  LinkPacketType link_type = LinkPacketType::kHost;
  MacAddress link_source;       // receive: from the link header
  MacAddress link_destination;  // transmit: chosen by neighbor resolution; receive: from the header
  // Receive: the link already verified the transport checksum (offload).
  bool checksum_verified = false;
  // Transmit offload requests, honoured by endpoints that advertise them.
  bool needs_checksum = false;  // fill the 16-bit sum at csum_start + csum_offset
  uint16_t csum_start = 0;
  uint16_t csum_offset = 0;
  GsoType gso_type = GsoType::kNone;
  uint16_t gso_size = 0;  // segment payload size when gso_type != kNone
  uint16_t gso_segments = 0;  // how many segments that makes (the network layer numbers them)
};

class PacketBuffer {
 public:
  // Headroom left in front of new data: Ethernet + IPv6 + TCP with options, rounded up.
  static constexpr size_t kDefaultHeadroom = 128;
  // Slices record offsets and lengths in 32 bits; nothing near that size is a packet.
  static constexpr size_t kMaxBytes = size_t{1} << 31;

  PacketBuffer() = default;
  // Moves take the slices. The moved-from packet has no slices left; its size() and metadata
  // are left as they were, but nothing should read them: it is only fit to be assigned to.
  PacketBuffer(PacketBuffer&& other) noexcept
      : slices_(std::move(other.slices_)), head_(other.head_), size_(other.size_),
        meta_(other.meta_) {
    other.head_ = 0;  // moving the slices left other's list empty
  }
  PacketBuffer& operator=(PacketBuffer&& other) noexcept {
    if (this != &other) {
      slices_ = std::move(other.slices_);
      head_ = other.head_;
      size_ = other.size_;
      meta_ = other.meta_;
      other.head_ = 0;
    }
    return *this;
  }
  // Copies are explicit: clone() shares the bytes, which is what callers nearly always want.
  PacketBuffer(const PacketBuffer&) = delete;
  PacketBuffer& operator=(const PacketBuffer&) = delete;

  // A packet of `size` zeroed bytes with `headroom` bytes in front for headers.
  static PacketBuffer allocate(size_t size, size_t headroom = kDefaultHeadroom);
  // A packet holding a copy of data, with headroom in front.
  static PacketBuffer from_bytes(ByteView data, size_t headroom = kDefaultHeadroom);
  // A packet over `length` bytes of an existing chunk starting at `offset` (no copy).
  static PacketBuffer from_chunk(ChunkRef chunk, size_t offset, size_t length);

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }

  // Grows the packet by n bytes at the front and returns them for writing. Uses the first
  // chunk's headroom when that chunk is not shared, else prepends a fresh chunk.
  MutableByteView push_front(size_t n) {
    // Every layer's header goes into the headroom of an unshared first chunk: that case is
    // inline, where the zeroing of a header of constant size is a few stores, not a call.
    if (!no_slices() && size_ + n <= kMaxBytes) {
      Slice& s = first_slice();
      if (s.offset >= n && !s.chunk->shared()) {
        s.offset -= static_cast<uint32_t>(n);
        s.length += static_cast<uint32_t>(n);
        size_ += n;
        // Headroom may hold bytes of an earlier packet that used this chunk: never hand out
        // stale bytes a careless header writer could leak onto the wire.
        MutableByteView out = s.chunk->bytes().subspan(s.offset, n);
        std::memset(out.data(), 0, n);
        return out;
      }
    }
    return push_front_chunk(n);
  }
  // Drops n bytes from the front. n must not exceed size().
  void pull_front(size_t n) {
    // Every layer pulls its header off the first slice, which nearly always holds more: that
    // case is inline, and leaves no slice to drop.
    if (!no_slices()) {
      Slice& s = first_slice();
      if (n < s.length) {
        s.offset += static_cast<uint32_t>(n);
        s.length -= static_cast<uint32_t>(n);
        size_ -= n;
        return;
      }
    }
    pull_front_slices(n);
  }
  // Keeps the first n bytes (no-op when n >= size()).
  void truncate(size_t n) {
    if (n < size_) truncate_slices(n);
  }

  // The first n bytes as one span, linearizing them if they span slices. Error if the packet
  // is shorter than n.
  Result<ByteView> front(size_t n) {
    // Inline when the first slice already holds the n bytes, as it does for every header of a
    // packet built by a stack; linearizing, and the errors, are out of line.
    if (n != 0 && !no_slices()) {
      const Slice& s = first_slice();
      if (n <= s.length) return ByteView(s.chunk->bytes()).subspan(s.offset, n);
    }
    return front_slow(n);
  }
  // The first n bytes, contiguous and unshared, for in-place rewriting (copy-on-write).
  Result<MutableByteView> mutable_front(size_t n) {
    // Inline when the first slice holds the n bytes in a chunk no one else holds (a header
    // just written into its own chunk); copy-on-write and the errors are out of line.
    if (n != 0 && !no_slices()) {
      Slice& s = first_slice();
      if (n <= s.length && !s.chunk->shared()) return s.chunk->bytes().subspan(s.offset, n);
    }
    return mutable_front_slow(n);
  }

  void append(ByteView data);
  void append(PacketBuffer&& other);  // takes other's slices; metadata stays this packet's

  PacketBuffer clone() const;                                // shares chunks, copies metadata
  // Shares chunks; clamped to size.
  PacketBuffer slice(size_t offset, size_t length) const {
    // Inline when one slice holds the packet (a received segment's payload behind its header):
    // the new packet is built holding its one slice, not built empty and then filled.
    if (view_count() == 1 && offset < size_ && length != 0) {
      const Slice& s = slices_[head_];
      return PacketBuffer(Slice{s.chunk, static_cast<uint32_t>(s.offset + offset),
                                static_cast<uint32_t>(std::min(length, size_ - offset))},
                          meta_);
    }
    return slice_slices(offset, length);
  }
  void copy_out(size_t offset, MutableByteView out) const;   // out.size() bytes from offset
  std::vector<std::byte> to_vector() const;

  size_t view_count() const { return slices_.size() - head_; }
  // The memory this packet keeps alive: the capacity of every chunk its slices point into
  // (a chunk counted once per run of consecutive slices over it), so a 1-byte payload in a
  // 64 KiB receive chunk pins 64 KiB. Queues charge this, not size(), against their limits.
  size_t pinned_bytes() const;
  // The chunks holding the first and last bytes (nullptr when there are none), so a caller can
  // tell whether append(ByteView)/push_front filled spare room or took a new chunk.
  const Chunk* front_chunk() const {
    return head_ == slices_.size() ? nullptr : slices_[head_].chunk.get();
  }
  // Where the first slice starts in front_chunk() (0 when there is none).
  uint32_t front_offset() const { return head_ == slices_.size() ? 0 : slices_[head_].offset; }
  const Chunk* back_chunk() const {
    return head_ == slices_.size() ? nullptr : slices_.back().chunk.get();
  }
  template <typename F>
  void for_each_view(F&& f) const {
    for (const auto& s : live()) f(ByteView(s.chunk->bytes()).subspan(s.offset, s.length));
  }

  PacketMeta& meta() { return meta_; }
  const PacketMeta& meta() const { return meta_; }

 private:
  struct Slice {
    ChunkRef chunk;
    uint32_t offset = 0;
    uint32_t length = 0;
  };

  // A packet's slices: two inline (nearly every packet has one or two), more on the heap.
  // A packet is moved at every layer it passes, and moving two inline chunk references is a
  // few swaps here, where boost's small_vector took its generic element-wise path (about 120
  // instructions per packet move).
  class Slices {
   public:
    Slices() = default;
    explicit Slices(Slice&& only) : inline_{{std::move(only), Slice{}}}, size_(1) {}
    // A slot not in use holds a null chunk (every operation that vacates one resets it), so a
    // move takes both inline slots whole, used or not: a fixed copy of two slices with no loop
    // over the count and no test of where the list lives.
    Slices(Slices&& other) noexcept
        : inline_{{take_slot(other.inline_[0]), take_slot(other.inline_[1])}},
          heap_(std::move(other.heap_)), size_(other.size_), capacity_(other.capacity_) {
      other.size_ = 0;
      other.capacity_ = kInline;
    }
    Slices& operator=(Slices&& other) noexcept {
      if (this != &other) {
        // Theirs come in and ours go out to them, then they let ours go: plain loads and stores
        // first, and the tests for what to release only on the list that is dropped.
        for (size_t i = 0; i < kInline; ++i) {
          inline_[i].chunk.swap(other.inline_[i].chunk);
          inline_[i].offset = other.inline_[i].offset;
          inline_[i].length = other.inline_[i].length;
        }
        heap_.swap(other.heap_);
        size_ = other.size_;
        std::swap(capacity_, other.capacity_);
        other.release();
      }
      return *this;
    }
    Slices(const Slices&) = delete;
    Slices& operator=(const Slices&) = delete;
    ~Slices() = default;

    size_t size() const { return size_; }
    Slice* data() { return heap_ ? heap_.get() : inline_.data(); }
    const Slice* data() const { return heap_ ? heap_.get() : inline_.data(); }
    Slice& operator[](size_t i) { return data()[i]; }
    const Slice& operator[](size_t i) const { return data()[i]; }
    Slice& back() { return data()[size_ - 1]; }
    const Slice& back() const { return data()[size_ - 1]; }

    void push_back(Slice&& slice) {
      if (size_ == capacity_) grow();
      data()[size_++] = std::move(slice);
    }
    void insert_front(Slice&& slice);
    // Removes the first n slices, moving the rest down.
    void erase_front(size_t n);
    // Keeps the first n slices.
    void truncate(size_t n);
    // Becomes a copy of `from` (each chunk gains a reference).
    void assign(std::span<const Slice> from);
    // Drops every slice and the heap room: the list is as new.
    void release() noexcept {
      inline_[0].chunk.reset();
      inline_[1].chunk.reset();
      heap_.reset();
      size_ = 0;
      capacity_ = kInline;
    }
    // Drops every slice; heap room, if any, is kept for reuse.
    void clear() {
      Slice* d = data();
      for (uint32_t i = 0; i < size_; ++i) d[i].chunk.reset();
      size_ = 0;
    }

   private:
    static constexpr uint32_t kInline = 2;
    static_assert(kInline == 2, "release() and the moves name each inline slot");
    // The slot's slice, leaving its chunk null (no reference count touched).
    static Slice take_slot(Slice& from) noexcept {
      return Slice{ChunkRef(from.chunk.detach(), false), from.offset, from.length};
    }
    void grow();

    std::array<Slice, kInline> inline_{};
    std::unique_ptr<Slice[]> heap_;
    uint32_t size_ = 0;
    uint32_t capacity_ = kInline;
  };

  // The live slices are slices_[head_, end): dropping slices from the front only releases
  // their chunks and moves head_, and the dead slots are reclaimed once they are at least half
  // of the vector, so a long queue (a receive queue read a little at a time) pays O(1)
  // amortized per slice consumed instead of moving every slice behind it.
  std::span<Slice> live() { return {slices_.data() + head_, slices_.size() - head_}; }
  std::span<const Slice> live() const {
    return {slices_.data() + head_, slices_.size() - head_};
  }
  bool no_slices() const { return head_ == slices_.size(); }
  Slice& first_slice() { return slices_[head_]; }
  void drop_front_slices(size_t count);
  void prepend_slice(Slice slice);
  void clear_slices() {
    slices_.clear();
    head_ = 0;
  }
  // A packet of one slice.
  PacketBuffer(Slice&& only, const PacketMeta& meta)
      : slices_(std::move(only)), size_(only.length), meta_(meta) {}
  PacketBuffer slice_slices(size_t offset, size_t length) const;
  // Replaces the first n bytes (0 < n <= size) with one unshared slice holding a copy.
  void linearize_front(size_t n);
  // The out-of-line rest of push_front(), pull_front(), truncate(), front() and
  // mutable_front().
  MutableByteView push_front_chunk(size_t n);
  void pull_front_slices(size_t n);
  void truncate_slices(size_t n);
  Result<ByteView> front_slow(size_t n);
  Result<MutableByteView> mutable_front_slow(size_t n);

  Slices slices_;
  uint32_t head_ = 0;
  size_t size_ = 0;
  PacketMeta meta_;
};

}  // namespace weir
