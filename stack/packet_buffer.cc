#include "stack/packet_buffer.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <utility>

// Recycled chunks would hide use-after-free from AddressSanitizer, so sanitizer builds always
// go to the system allocator.
#if defined(__SANITIZE_ADDRESS__)
#define WEIR_CHUNK_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEIR_CHUNK_CACHE 0
#endif
#endif
#ifndef WEIR_CHUNK_CACHE
#define WEIR_CHUNK_CACHE 1
#endif

namespace weir {

namespace {

// Size classes the per-thread cache recycles. 256 holds a header-only chunk (push_front on a
// shared packet, a pure ACK); 2048 holds an MTU-sized frame plus the default headroom.
constexpr size_t kSmallChunk = 256;
constexpr size_t kStandardChunk = 2048;

size_t chunk_size_for(size_t n) {
  if (n <= kSmallChunk) return kSmallChunk;
  if (n <= kStandardChunk) return kStandardChunk;
  return n;
}

#if WEIR_CHUNK_CACHE
// A TCP send queue's chunk (SendQueue::kMaxChunk) and a GRO frame: recycled too, but only a
// few per thread (16 pin 1 MiB), enough for a bulk sender's write, send and acknowledge cycle.
constexpr size_t kLargeChunk = 64 * 1024;

// A last-in first-out list of recycled chunks with room for `limit` of them, made once: a put
// never grows it, so the release path carries no reallocation code (and no register saves
// for it) where a vector's push_back did.
class ChunkList {
 public:
  explicit ChunkList(size_t limit)
      : slots_(std::make_unique<std::unique_ptr<Chunk>[]>(limit)), limit_(limit) {}
  bool empty() const { return count_ == 0; }
  bool full() const { return count_ == limit_; }
  std::unique_ptr<Chunk> take() { return std::move(slots_[--count_]); }
  void put(std::unique_ptr<Chunk> chunk) { slots_[count_++] = std::move(chunk); }

 private:
  std::unique_ptr<std::unique_ptr<Chunk>[]> slots_;
  size_t limit_;
  size_t count_ = 0;
};

// Chunks freed on a thread wait here for the next allocation of the same size on that thread.
// Bounded so that a burst does not pin memory forever.
struct ChunkCache {
  static constexpr size_t kMaxPerClass = 256;
  static constexpr size_t kMaxLarge = 16;
  ChunkList small{kMaxPerClass};
  ChunkList standard{kMaxPerClass};
  ChunkList large{kMaxLarge};

  ChunkCache();
  ~ChunkCache();

  ChunkList* list_for(size_t capacity) {
    if (capacity == kSmallChunk) return &small;
    if (capacity == kStandardChunk) return &standard;
    if (capacity == kLargeChunk) return &large;
    return nullptr;
  }
};

// 0: not yet constructed on this thread, 1: usable, 2: destroyed (thread exit). A chunk
// released by a thread-exit destructor after the cache is gone must not touch it.
thread_local int t_cache_state = 0;
// The thread's cache while it is usable, else nullptr: one plain thread-local load answers
// every allocation and release after the first, where the function-local thread_local's
// guard check and the state check cost a dozen instructions each time.
thread_local ChunkCache* t_cache = nullptr;

ChunkCache::ChunkCache() {
  t_cache_state = 1;
  t_cache = this;
}
ChunkCache::~ChunkCache() {
  t_cache_state = 2;
  t_cache = nullptr;
}

ChunkCache* make_thread_cache() {
  if (t_cache_state == 2) return nullptr;
  thread_local ChunkCache cache;
  return &cache;
}

inline ChunkCache* thread_cache() {
  if (ChunkCache* cache = t_cache) return cache;
  return make_thread_cache();
}
#endif

}  // namespace

Chunk::Chunk(size_t capacity)
    : capacity_(capacity),
      storage_(std::make_unique_for_overwrite<std::byte[]>(capacity)),
      data_(storage_.get()) {}

Chunk::Chunk(MutableByteView bytes, ReleaseFn release, void* context)
    : capacity_(bytes.size()), data_(bytes.data()), release_(release), context_(context) {}

// External bytes go back to their owner when the chunk goes, whichever path destroys it.
Chunk::~Chunk() {
  if (release_ != nullptr) release_(context_);
}

boost::intrusive_ptr<Chunk> Chunk::adopt(MutableByteView bytes, ReleaseFn release, void* context) {
  if (release == nullptr) std::abort();  // the owner must learn when its bytes come back
  return boost::intrusive_ptr<Chunk>(new Chunk(bytes, release, context));
}

// Contents of a new chunk are unspecified: PacketBuffer never exposes a byte it has not
// written or zeroed, and link endpoints fill the chunks they allocate.
boost::intrusive_ptr<Chunk> Chunk::allocate(size_t capacity) {
#if WEIR_CHUNK_CACHE
  if (ChunkCache* cache = thread_cache()) {
    if (auto* list = cache->list_for(capacity); list != nullptr && !list->empty()) {
      return boost::intrusive_ptr<Chunk>(list->take().release());
    }
  }
#endif
  return boost::intrusive_ptr<Chunk>(new Chunk(capacity));
}

void Chunk::last_reference_gone(Chunk* c) {
  std::unique_ptr<Chunk> owned(c);
#if WEIR_CHUNK_CACHE
  if (ChunkCache* cache = thread_cache(); cache != nullptr && owned->release_ == nullptr) {
    if (auto* list = cache->list_for(owned->capacity_); list != nullptr && !list->full()) {
      list->put(std::move(owned));
      return;
    }
  }
#endif
}

namespace {

[[noreturn]] void packet_misuse() { std::abort(); }

inline void check_size(size_t n) {
  if (n > PacketBuffer::kMaxBytes) packet_misuse();
}

// A chunk for `data` bytes after `headroom` bytes; the size class may leave tail room, which
// append() fills later. Returns the chunk and the offset where the data starts.
std::pair<ChunkRef, size_t> chunk_with_headroom(size_t data, size_t headroom) {
  check_size(data);
  check_size(headroom);
  const size_t capacity = chunk_size_for(data + headroom);
  return {Chunk::allocate(capacity), headroom};
}

}  // namespace

void PacketBuffer::Slices::grow() {
  const uint32_t capacity = capacity_ * 2;
  auto bigger = std::make_unique<Slice[]>(capacity);
  Slice* d = data();
  for (uint32_t i = 0; i < size_; ++i) bigger[i] = std::move(d[i]);
  heap_ = std::move(bigger);
  capacity_ = capacity;
}

void PacketBuffer::Slices::insert_front(Slice&& slice) {
  if (size_ == capacity_) grow();
  Slice* d = data();
  for (uint32_t i = size_; i > 0; --i) d[i] = std::move(d[i - 1]);
  d[0] = std::move(slice);
  ++size_;
}

void PacketBuffer::Slices::erase_front(size_t n) {
  n = std::min<size_t>(n, size_);
  Slice* d = data();
  for (size_t i = n; i < size_; ++i) d[i - n] = std::move(d[i]);
  for (size_t i = size_ - n; i < size_; ++i) d[i].chunk.reset();
  size_ -= static_cast<uint32_t>(n);
}

void PacketBuffer::Slices::truncate(size_t n) {
  Slice* d = data();
  for (size_t i = n; i < size_; ++i) d[i].chunk.reset();
  size_ = static_cast<uint32_t>(std::min<size_t>(n, size_));
}

void PacketBuffer::Slices::assign(std::span<const Slice> from) {
  clear();
  for (const Slice& s : from) push_back(Slice{s});
}

// These three build the packet holding its one slice, rather than empty and then filled.
PacketBuffer PacketBuffer::allocate(size_t size, size_t headroom) {
  check_size(size);
  check_size(headroom);
  // Built straight into the slice: a chunk and offset returned as a pair went through memory.
  PacketBuffer pkt(Slice{Chunk::allocate(chunk_size_for(size + headroom)),
                         static_cast<uint32_t>(headroom), static_cast<uint32_t>(size)},
                   PacketMeta{});
  // The size class holds headroom + size bytes (chunk_size_for), so the run zeroed is inside
  // the chunk: no second bounds check of a span over it.
  if (size > 0) std::memset(pkt.slices_[0].chunk->bytes().data() + headroom, 0, size);
  return pkt;
}

PacketBuffer PacketBuffer::from_bytes(ByteView data, size_t headroom) {
  auto [chunk, offset] = chunk_with_headroom(data.size(), headroom);
  copy_bytes(chunk->bytes(), offset, data);
  return PacketBuffer(
      Slice{std::move(chunk), static_cast<uint32_t>(offset), static_cast<uint32_t>(data.size())},
      PacketMeta{});
}

PacketBuffer PacketBuffer::from_chunk(ChunkRef chunk, size_t offset, size_t length) {
  if (!chunk || offset > chunk->capacity() || length > chunk->capacity() - offset ||
      offset + length > PacketBuffer::kMaxBytes) {
    packet_misuse();
  }
  return PacketBuffer(
      Slice{std::move(chunk), static_cast<uint32_t>(offset), static_cast<uint32_t>(length)},
      PacketMeta{});
}

MutableByteView PacketBuffer::push_front_chunk(size_t n) {
  check_size(size_ + n);
  // Data goes at the end of the new chunk so that everything before it is headroom for the
  // next push_front.
  const size_t capacity = chunk_size_for(n + kDefaultHeadroom);
  ChunkRef chunk = Chunk::allocate(capacity);
  const size_t offset = capacity - n;
  MutableByteView out = chunk->bytes().subspan(offset, n);
  std::memset(out.data(), 0, n);
  if (!no_slices() && first_slice().length == 0) drop_front_slices(1);
  prepend_slice(Slice{std::move(chunk), static_cast<uint32_t>(offset), static_cast<uint32_t>(n)});
  size_ += n;
  return out;
}

void PacketBuffer::drop_front_slices(size_t count) {
  for (size_t i = 0; i < count; ++i) slices_[head_ + i].chunk.reset();
  head_ += static_cast<uint32_t>(count);
  if (head_ == slices_.size()) {
    clear_slices();
  } else if (head_ >= 8 && size_t{head_} * 2 >= slices_.size()) {
    slices_.erase_front(head_);
    head_ = 0;
  }
}

void PacketBuffer::prepend_slice(Slice slice) {
  if (head_ > 0) {
    slices_[--head_] = std::move(slice);
  } else {
    slices_.insert_front(std::move(slice));
  }
}

void PacketBuffer::pull_front_slices(size_t n) {
  n = std::min(n, size_);
  size_ -= n;
  size_t drop = 0;
  const size_t count = slices_.size() - head_;
  while (n > 0) {
    Slice& s = slices_[head_ + drop];
    if (n < s.length || drop + 1 == count) {
      // The last slice stays even when emptied, so its headroom serves a later push_front.
      s.offset += static_cast<uint32_t>(n);
      s.length -= static_cast<uint32_t>(n);
      break;
    }
    n -= s.length;
    ++drop;
  }
  // A fully consumed front slice with more behind it is dropped, so a non-empty packet never
  // starts with an empty slice.
  while (drop + 1 < count && slices_[head_ + drop].length == 0) ++drop;
  if (drop > 0) drop_front_slices(drop);
}

void PacketBuffer::truncate_slices(size_t n) {
  if (n >= size_) return;
  size_ = n;
  auto slices = live();
  size_t i = 0;
  size_t kept = 0;
  for (; i < slices.size(); ++i) {
    Slice& s = slices[i];
    if (kept + s.length >= n) {
      s.length = static_cast<uint32_t>(n - kept);
      break;
    }
    kept += s.length;
  }
  // Drop what lies after the cut; an emptied first slice stays to keep its headroom.
  size_t keep = i + 1;
  if (keep > 1 && slices[i].length == 0) keep = i;
  slices_.truncate(head_ + keep);
}

namespace {

// Copies n bytes starting at the front of `slices` into dst.
template <typename Slices>
void gather(const Slices& slices, size_t offset, MutableByteView dst) {
  size_t done = 0;
  for (const auto& s : slices) {
    if (done == dst.size()) break;
    if (offset >= s.length) {
      offset -= s.length;
      continue;
    }
    const size_t take = std::min<size_t>(s.length - offset, dst.size() - done);
    copy_bytes(dst, done, ByteView(s.chunk->bytes()).subspan(s.offset + offset, take));
    done += take;
    offset = 0;
  }
}

}  // namespace

// The copy is placed at the end of a fresh chunk so push_front keeps working on it.
void PacketBuffer::linearize_front(size_t n) {
  const size_t capacity = chunk_size_for(n + PacketBuffer::kDefaultHeadroom);
  ChunkRef chunk = Chunk::allocate(capacity);
  const size_t offset = capacity - n;
  gather(live(), 0, chunk->bytes().subspan(offset, n));
  auto slices = live();
  size_t left = n;
  size_t drop = 0;
  while (drop < slices.size() && left > 0 && left >= slices[drop].length) {
    left -= slices[drop].length;
    ++drop;
  }
  if (left > 0) {
    slices[drop].offset += static_cast<uint32_t>(left);
    slices[drop].length -= static_cast<uint32_t>(left);
  }
  if (drop > 0) drop_front_slices(drop);
  prepend_slice(Slice{std::move(chunk), static_cast<uint32_t>(offset), static_cast<uint32_t>(n)});
}

Result<ByteView> PacketBuffer::front_slow(size_t n) {
  if (n > size_) return Error::kBadMessage;
  if (n == 0) return ByteView{};
  if (first_slice().length < n) linearize_front(n);
  const Slice& s = first_slice();
  return ByteView(s.chunk->bytes()).subspan(s.offset, n);
}

Result<MutableByteView> PacketBuffer::mutable_front_slow(size_t n) {
  if (n > size_) return Error::kBadMessage;
  if (n == 0) return MutableByteView{};
  if (first_slice().length < n || first_slice().chunk->shared()) linearize_front(n);
  Slice& s = first_slice();
  return s.chunk->bytes().subspan(s.offset, n);
}

void PacketBuffer::append(ByteView data) {
  if (data.empty()) return;
  check_size(size_ + data.size());
  if (no_slices()) {
    auto [chunk, offset] = chunk_with_headroom(data.size(), kDefaultHeadroom);
    copy_bytes(chunk->bytes(), offset, data);
    slices_.push_back(
        Slice{std::move(chunk), static_cast<uint32_t>(offset), static_cast<uint32_t>(data.size())});
    size_ = data.size();
    return;
  }
  Slice& last = slices_.back();
  // Tail room of the last chunk is ours to fill only when no one else holds the chunk, and
  // never in adopted memory (a zero-copy write's buffer belongs to its writer).
  if (!last.chunk->shared() && !last.chunk->external()) {
    const size_t end = size_t{last.offset} + last.length;
    const size_t room = std::min(last.chunk->capacity() - end, data.size());
    if (room > 0) {
      copy_bytes(last.chunk->bytes(), end, data.first(room));
      last.length += static_cast<uint32_t>(room);
      size_ += room;
      data = data.subspan(room);
    }
  }
  if (data.empty()) return;
  ChunkRef chunk = Chunk::allocate(chunk_size_for(data.size()));
  copy_bytes(chunk->bytes(), 0, data);
  if (view_count() == 1 && first_slice().length == 0) clear_slices();
  slices_.push_back(Slice{std::move(chunk), 0, static_cast<uint32_t>(data.size())});
  size_ += data.size();
}

void PacketBuffer::append(PacketBuffer&& other) {
  if (&other == this) packet_misuse();
  check_size(size_ + other.size_);
  if (other.size_ == 0) {
    other.clear_slices();
    return;
  }
  if (size_ == 0) clear_slices();
  auto incoming = other.live();
  // A slice that continues the last one in the same chunk extends it: segments cut from one
  // buffer and queued back to back stay one view.
  if (!no_slices() && !incoming.empty()) {
    Slice& last = slices_.back();
    const Slice& first = incoming.front();
    if (first.chunk == last.chunk && size_t{last.offset} + last.length == first.offset) {
      last.length += first.length;
      incoming = incoming.subspan(1);
    }
  }
  for (auto& s : incoming) {
    if (s.length > 0) slices_.push_back(std::move(s));
  }
  size_ += other.size_;
  other.clear_slices();
  other.size_ = 0;
}

size_t PacketBuffer::pinned_bytes() const {
  size_t total = 0;
  const Chunk* previous = nullptr;
  for (const auto& s : live()) {
    if (s.chunk.get() != previous) total += s.chunk->capacity();
    previous = s.chunk.get();
  }
  return total;
}

PacketBuffer PacketBuffer::clone() const {
  PacketBuffer p;
  p.slices_.assign(live());
  p.size_ = size_;
  p.meta_ = meta_;
  return p;
}

PacketBuffer PacketBuffer::slice_slices(size_t offset, size_t length) const {
  PacketBuffer p;
  p.meta_ = meta_;
  if (offset >= size_) return p;
  length = std::min(length, size_ - offset);
  p.size_ = length;
  for (const auto& s : live()) {
    if (length == 0) break;
    if (offset >= s.length) {
      offset -= s.length;
      continue;
    }
    const size_t take = std::min<size_t>(s.length - offset, length);
    p.slices_.push_back(
        Slice{s.chunk, static_cast<uint32_t>(s.offset + offset), static_cast<uint32_t>(take)});
    length -= take;
    offset = 0;
  }
  return p;
}

void PacketBuffer::copy_out(size_t offset, MutableByteView out) const {
  if (offset > size_ || out.size() > size_ - offset) packet_misuse();
  gather(live(), offset, out);
}

std::vector<std::byte> PacketBuffer::to_vector() const {
  std::vector<std::byte> v(size_);
  gather(live(), 0, v);
  return v;
}

}  // namespace weir
