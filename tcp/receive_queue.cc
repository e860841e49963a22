#include "tcp/receive_queue.h"

#include <algorithm>
#include <cstring>
#include <iterator>
#include <memory>

#include "stack/object_cache.h"
#include "tcp/drained_vector.h"

namespace weir::tcp {

namespace {

// A payload that pins more than 1.5 times its size is copied rather than kept: a full-sized
// segment in a standard 2 KiB chunk (1448 of 2048) is not, a small one or one alone in a big
// offload chunk is.
bool wasteful(size_t size, size_t pinned) { return 2 * pinned > 3 * size; }

// A piece whose slices outnumber both this and one per 512 bytes is flattened into one or two
// chunks. Both bounds keep the flattening amortized O(1) per byte added: after a flatten the
// piece needs many more merges before it qualifies again.
constexpr size_t kFlattenViews = 16;
constexpr size_t kBytesPerView = 512;

// The largest chunk a small segment arriving to an empty queue is kept in rather than copied
// out of: a standard MTU-sized frame's (2 KiB), not a 64 KiB offload chunk.
constexpr size_t kKeptAloneMax = 2048;

// What a collapse copies readable bytes into: the size of a sender's send-queue chunk and of a
// GRO frame, which the per-thread chunk cache recycles.
constexpr size_t kCollapseChunk = 64 * 1024;

// Copies len bytes of data from offset onto the end of out (into its tail room when it has
// some). Returns the capacity of the chunks the copy had to take: what out newly pins.
size_t append_copy(PacketBuffer& out, const PacketBuffer& data, size_t offset, size_t len) {
  size_t added = 0;
  size_t pos = 0;
  const size_t stop = offset + len;
  data.for_each_view([&](ByteView v) {
    const size_t begin = pos;
    pos += v.size();
    const size_t a = std::max(begin, offset);
    const size_t b = std::min(pos, stop);
    if (a >= b) return;
    const Chunk* before = out.back_chunk();
    out.append(v.subspan(a - begin, b - a));
    if (out.back_chunk() != before) added += out.back_chunk()->capacity();
  });
  return added;
}

// Copies len bytes of data from offset in front of out (into its headroom when it has some).
// Returns the capacity of a chunk the copy had to take.
size_t prepend_copy(PacketBuffer& out, const PacketBuffer& data, size_t offset, size_t len) {
  const Chunk* before = out.front_chunk();
  MutableByteView dst = out.push_front(len);
  data.copy_out(offset, dst);
  return out.front_chunk() != before ? out.front_chunk()->capacity() : 0;
}

}  // namespace

// Inline into the cache's give(), which runs it on every drained queue.
[[gnu::always_inline]] inline void ReceiveQueue::Contents::reset() {
  // In place: a move-assignment from a fresh packet did the same work twice over.
  std::destroy_at(&ready);
  std::construct_at(&ready);
  ready_charges.clear();
  ready_charges_head = 0;
  ready_charge = 0;
  if (!ooo.empty()) ooo.clear();
  ooo_bytes = 0;
  ooo_charge = 0;
  recent_count = 0;
  run_chunk = nullptr;
  run_end = 0;
  run_kept = false;
}

ReceiveQueue::Contents& ReceiveQueue::hold() {
  if (!held_) held_ = ObjectCache<Contents>::take();
  return *held_;
}

void ReceiveQueue::empty_charges(Contents& c) {
  // Small storage stays with the contents, which go back to the per-thread cache whole: giving
  // it to the vector cache separately cost a second cache round trip per message. Storage a
  // burst grew is freed, and its size remembered for the next burst.
  if (c.ready_charges.capacity() > kChargesKeptWhenIdle) {
    release_drained(c.ready_charges, kChargesKeptWhenIdle, charges_wanted_log2_);
  } else {
    c.ready_charges.clear();
  }
  c.ready_charges_head = 0;
}

void ReceiveQueue::let_go_if_drained() {
  if (!held_ || !held_->empty()) return;
  empty_charges(*held_);
  ObjectCache<Contents>::give(std::move(held_));
}

void ReceiveQueue::drop_emptied_ready() {
  Contents& c = *held_;
  if (!c.ready.empty()) return;
  // Drained, the contents go back whole (and reset() empties the slice list once); with
  // out-of-order data still held, only the emptied slice list's storage goes.
  if (c.ooo.empty()) {
    let_go_if_drained();
  } else {
    c.ready = PacketBuffer();
  }
}

// Inline into read() and discard(): once per request or response read.
[[gnu::always_inline]] inline void ReceiveQueue::let_go_emptied() {
  Contents& c = *held_;
  // empty_charges(), and reset() does the rest.
  if (c.ready_charges.capacity() > kChargesKeptWhenIdle)
    release_drained(c.ready_charges, kChargesKeptWhenIdle, charges_wanted_log2_);
  // Everything charged was in order, and all of it is consumed.
  if (account_ != nullptr && accounted_ != 0) account_->release(accounted_);
  accounted_ = 0;
  ObjectCache<Contents>::give(std::move(held_));
}

size_t ReceiveQueue::read(MutableByteView out) {
  if (!held_) return 0;
  Contents& c = *held_;
  const size_t have = c.ready.size();
  if (out.size() >= have && have != 0 && c.ooo.empty()) {
    // The whole queue is read (every request and response): copy each view, and the contents
    // go back in one step, without consuming the bytes and their records one by one.
    std::byte* to = out.data();
    c.ready.for_each_view([&](ByteView v) {
      std::memcpy(to, v.data(), v.size());
      to += v.size();
    });
    let_go_emptied();
    return have;
  }
  size_t n = std::min(out.size(), have);
  if (n == 0) return 0;
  c.ready.copy_out(0, out.first(n));
  c.ready.pull_front(n);
  release_ready(n);
  drop_emptied_ready();
  return n;
}

size_t ReceiveQueue::discard(size_t n) {
  if (!held_) return 0;
  Contents& c = *held_;
  if (n >= c.ready.size() && c.ready.size() != 0 && c.ooo.empty()) {
    n = c.ready.size();
    let_go_emptied();
    return n;
  }
  n = std::min(n, c.ready.size());
  c.ready.pull_front(n);
  release_ready(n);
  drop_emptied_ready();
  return n;
}

void ReceiveQueue::lend(size_t max, std::vector<ByteView>& views) const {
  views.clear();
  if (!held_) return;
  held_->ready.for_each_view([&](ByteView v) {
    if (max == 0 || v.empty()) return;
    if (v.size() > max) v = v.first(max);
    views.push_back(v);
    max -= v.size();
  });
}

size_t ReceiveQueue::peek(MutableByteView out) const {
  if (!held_) return 0;
  const Contents& c = *held_;
  size_t n = std::min(out.size(), c.ready.size());
  if (n > 0) c.ready.copy_out(0, out.first(n));
  return n;
}

void ReceiveQueue::remember_recent(SeqNum seq) {
  Contents& c = *held_;
  // Newest first; an older entry for the same block is dropped when blocks are built.
  size_t keep = std::min<size_t>(c.recent_count, kMaxSackBlocks - 1);
  for (size_t i = keep; i > 0; --i) c.recent[i] = c.recent[i - 1];
  c.recent[0] = seq;
  c.recent_count = static_cast<uint8_t>(keep + 1);
}

void ReceiveQueue::add_charge(const ReadyCharge& charge) {
  Contents& c = *held_;
  reserve_for_burst(c.ready_charges, charges_wanted_log2_);
  c.ready_charges.push_back(charge);
  c.run_kept = false;  // the last record is a new one; add_data marks a kept run's
}

void ReceiveQueue::append_ready(PacketBuffer&& data, size_t charge) {
  Contents& c = *held_;
  size_t n = data.size();
  if (c.ready.empty()) {
    std::destroy_at(&c.ready);
    std::construct_at(&c.ready, std::move(data));
  } else
    c.ready.append(std::move(data));
  add_charge(ReadyCharge{n, charge});
  c.ready_charge += charge;
}

void ReceiveQueue::release_ready(size_t n) {
  Contents& c = *held_;
  // A record's charge goes when its last byte is consumed: its chunks may be shared with the
  // bytes after it until then.
  while (n > 0 && c.ready_charges_head < c.ready_charges.size()) {
    ReadyCharge& f = c.ready_charges[c.ready_charges_head];
    if (n < f.bytes) {
      // Not a return: the charges of the records consumed before this one still go to the
      // account below.
      f.bytes -= n;
      break;
    }
    n -= f.bytes;
    c.ready_charge -= f.charge;
    ++c.ready_charges_head;
  }
  // Consumed records leave the front in one move once they are half the vector, so each
  // record is moved O(1) times.
  if (c.ready_charges_head == c.ready_charges.size()) {
    empty_charges(c);
    c.run_kept = false;
  } else if (c.ready_charges_head * 2 >= c.ready_charges.size()) {
    c.ready_charges.erase(c.ready_charges.begin(),
                          c.ready_charges.begin() + static_cast<ptrdiff_t>(c.ready_charges_head));
    c.ready_charges_head = 0;
  }
  sync_account();
}

bool ReceiveQueue::make_room(size_t need, size_t limit, std::optional<SeqNum> floor,
                             AddResult& result) {
  Contents& c = *held_;
  // As Linux's tcp_prune_queue: compact what is held before anything the peer sent is lost.
  if (charged() + need > limit && collapse_ready()) result.collapsed = true;
  while (charged() + need > limit && !c.ooo.empty()) {
    auto last = std::prev(c.ooo.end());
    if (floor && last->first <= *floor) break;
    ++pieces_visited_;
    c.ooo_bytes -= last->second.data.size();
    c.ooo_charge -= last->second.charge;
    c.ooo.erase(last);
    result.pruned++;
  }
  return charged() + need <= limit;
}

bool ReceiveQueue::collapse_ready() {
  Contents& c = *held_;
  const size_t n = c.ready.size();
  if (!wasteful(n, c.ready_charge)) return false;
  PacketBuffer compact;
  c.ready_charges.clear();
  c.ready_charges_head = 0;
  c.ready_charge = 0;
  for (size_t offset = 0; offset < n;) {
    const size_t m = std::min(n - offset, kCollapseChunk);
    ChunkRef chunk = Chunk::allocate(std::max(m, kKeptAloneMax));
    c.ready.copy_out(offset, chunk->bytes().first(m));
    const size_t charge = chunk->capacity();
    compact.append(PacketBuffer::from_chunk(std::move(chunk), 0, m));
    c.ready_charges.push_back(ReadyCharge{m, charge});
    c.ready_charge += charge;
    offset += m;
  }
  c.ready = std::move(compact);
  c.run_kept = false;  // the run's chunk went with the old records
  return true;
}

ReceiveQueue::~ReceiveQueue() { set_account(nullptr); }

void ReceiveQueue::set_account(SocketMemory* account) {
  if (account_ != nullptr) account_->release(accounted_);
  accounted_ = 0;
  account_ = account;
  sync_account();
}

void ReceiveQueue::sync_account() {
  if (account_ == nullptr) return;
  const size_t now = charged();
  if (now > accounted_)
    account_->charge(now - accounted_);
  else if (now < accounted_)
    account_->release(accounted_ - now);
  else
    return;
  accounted_ = now;
}

ReceiveQueue::AddResult ReceiveQueue::add(SeqNum rcv_nxt, SeqNum seq, PacketBuffer&& data,
                                          size_t limit, bool allow_runs) {
  if (data.empty()) return {};
  if (held_ == nullptr && seq == rcv_nxt && allow_runs && data.view_count() == 1) {
    // The first segment to an empty queue (every request and response): add_data's "alone"
    // case in one step. A queue without contents charges nothing, so the segment's chunk is
    // all it charges; kept as it arrived, it starts a run its chunk's next slice may extend.
    const Chunk* source = data.front_chunk();
    const size_t pinned = source->capacity();
    if (pinned <= kKeptAloneMax && pinned <= limit) {
      const size_t len = data.size();
      held_ = ObjectCache<Contents>::take();
      Contents& c = *held_;
      c.run_chunk = source;
      c.run_end = data.front_offset() + static_cast<uint32_t>(len);
      c.run_kept = !source->external();
      std::destroy_at(&c.ready);
      std::construct_at(&c.ready, std::move(data));
      reserve_for_burst(c.ready_charges, charges_wanted_log2_);
      c.ready_charges.push_back(ReadyCharge{len, pinned});
      c.ready_charge = pinned;
      if (account_ != nullptr) {
        account_->charge(pinned);
        accounted_ = pinned;
      }
      AddResult result;
      result.advanced = static_cast<uint32_t>(len);
      return result;
    }
  }
  hold();
  AddResult result = add_data(rcv_nxt, seq, std::move(data), limit, allow_runs);
  let_go_if_drained();
  sync_account();
  return result;
}

ReceiveQueue::AddResult ReceiveQueue::add_data(SeqNum rcv_nxt, SeqNum seq, PacketBuffer&& data,
                                               size_t limit, bool allow_runs) {
  if (seq != rcv_nxt) return add_out_of_order(seq, std::move(data), limit);
  Contents& c = *held_;
  AddResult result;
  const size_t len = data.size();
  // Segments cut from one buffer (an in-process link hands over the sender's send-queue
  // memory, which software segmentation slices) arrive as consecutive slices of one chunk.
  // The first is judged alone, and is usually copied: it pins the whole chunk. A second that
  // continues it starts a kept run: the chunk is charged once, at its capacity, and every later
  // slice of the run joins that record at no further charge, without a copy.
  const Chunk* source = data.view_count() == 1 ? data.front_chunk() : nullptr;
  const uint32_t source_offset = data.front_offset();
  const bool continues = source != nullptr && !source->external() && source == c.run_chunk &&
                         source_offset == c.run_end;
  const bool extends_kept_run = continues && c.run_kept;
  c.run_chunk = source;
  c.run_end = source_offset + static_cast<uint32_t>(len);
  // From here run_kept says whether the record this segment ends in charges source.
  c.run_kept = false;
  if (extends_kept_run) {
    result.advanced = static_cast<uint32_t>(len);
    c.ready.append(std::move(data));
    c.ready_charges.back().bytes += len;
    c.run_kept = true;
    pull_in_order(seq + static_cast<uint32_t>(len), result);
    return result;
  }
  const size_t pinned = source != nullptr ? source->capacity() : data.pinned_bytes();
  // A run starts only where its chunk fits as things are: pruning out-of-order data (which the
  // peer holds as SACKed) to make room for a chunk a copy would not need is no bargain.
  // Nor is a segment copied that arrives to nothing unread in a standard-sized chunk: the
  // reader usually takes it before anything follows (a request, a response), so it pins one
  // frame's chunk for a moment, charged in full, and the copy would cost more than the bytes.
  // What follows it before it is read is judged as usual (and may fill the chunk's tail).
  const bool alone = c.ready.empty() && c.ooo.empty() && pinned <= kKeptAloneMax && allow_runs &&
                     charged() + pinned <= limit;
  const bool copy = wasteful(len, pinned) && !alone &&
                    !(continues && allow_runs && charged() + pinned <= limit);
  // In-order data is worth more than anything beyond a hole: every out-of-order piece may go.
  const size_t need = copy ? len : pinned;
  if (charged() + need > limit && !make_room(need, limit, std::nullopt, result)) {
    result.dropped = true;
    c.run_chunk = nullptr;
    return result;
  }
  result.advanced = static_cast<uint32_t>(len);
  if (copy) {
    // One record per chunk the copies take, so reading releases each chunk's charge as the
    // chunk goes. Bytes that fit the tail room of the last chunk are counted with the record
    // of any new chunk taken by the same view: off by at most one chunk, for a moment.
    data.for_each_view([&](ByteView v) {
      const Chunk* before = c.ready.back_chunk();
      c.ready.append(v);
      if (c.ready.back_chunk() != before || c.ready_charges_head == c.ready_charges.size()) {
        size_t added = c.ready.back_chunk()->capacity();
        add_charge(ReadyCharge{v.size(), added});
        c.ready_charge += added;
      } else {
        c.ready_charges.back().bytes += v.size();
      }
    });
  } else {
    append_ready(std::move(data), pinned);
    // A kept single-slice record charges its whole chunk: a later slice continuing it is free.
    c.run_kept = source != nullptr && !source->external();
  }
  if (!c.ooo.empty()) pull_in_order(seq + static_cast<uint32_t>(len), result);
  return result;
}

void ReceiveQueue::pull_in_order(SeqNum next, AddResult& result) {
  Contents& c = *held_;
  // Pull queued pieces that are now in order; trim any overlap with what just arrived.
  while (!c.ooo.empty() && c.ooo.begin()->first <= next) {
    ++pieces_visited_;
    auto it = c.ooo.begin();
    SeqNum pseq = it->first;
    Piece p = std::move(it->second);
    c.ooo.erase(it);
    c.ooo_bytes -= p.data.size();
    c.ooo_charge -= p.charge;
    SeqNum pend = pseq + static_cast<uint32_t>(p.data.size());
    if (pend > next) {
      p.data.pull_front(static_cast<uint32_t>(next - pseq));
      result.advanced += static_cast<uint32_t>(p.data.size());
      next = pend;
      append_ready(std::move(p.data), p.charge - kPieceOverhead);
    }
    result.filled_gap = true;
    c.run_chunk = nullptr;  // the stream moved past the last segment's bytes
  }
}

ReceiveQueue::AddResult ReceiveQueue::add_out_of_order(SeqNum seq, PacketBuffer&& data,
                                                       size_t limit) {
  Contents& c = *held_;
  AddResult result;
  const size_t len = data.size();
  const SeqNum end = seq + static_cast<uint32_t>(len);
  // The piece starting at or before seq, when it reaches seq (touching counts: it merges).
  auto reaching = [&]() -> OooMap::iterator {
    auto it = c.ooo.upper_bound(seq);
    if (it == c.ooo.begin()) return it;
    auto prev = std::prev(it);
    ++pieces_visited_;
    SeqNum prev_end = prev->first + static_cast<uint32_t>(prev->second.data.size());
    return prev_end >= seq ? prev : it;
  };
  auto it = reaching();
  if (it != c.ooo.end() && it->first <= seq &&
      end <= it->first + static_cast<uint32_t>(it->second.data.size())) {
    dsack_ = SeqRange{seq, end};  // entirely held already: a duplicate worth a D-SACK
    return result;
  }
  const size_t pinned = data.pinned_bytes();
  const bool copy = wasteful(len, pinned);
  // Only pieces above this segment may make room for it: the lower ones fill first.
  if (!make_room((copy ? len : pinned) + kPieceOverhead, limit, seq, result)) {
    result.dropped = true;
    return result;
  }
  result.out_of_order = true;
  remember_recent(seq);
  it = reaching();  // pruning may have removed what followed

  // Merge the segment with every piece it overlaps or touches, left to right. Bytes already
  // held are kept and the segment's copies of them dropped (as Linux does).
  Piece merged;  // charge without kPieceOverhead until the end
  SeqNum merged_seq = seq;
  bool have = false;
  bool new_charged = false;
  SeqNum at = seq;  // the first byte of the segment not yet placed
  auto place_new = [&](SeqNum until) {
    if (!(at < until)) return;
    auto off = static_cast<size_t>(at - seq);
    auto n = static_cast<size_t>(until - at);
    if (!have) {
      merged_seq = at;
      have = true;
    }
    if (copy) {
      merged.charge += append_copy(merged.data, data, off, n);
    } else {
      merged.data.append(data.slice(off, n));
      if (!new_charged) merged.charge += pinned;  // every slice shares the segment's chunks
      new_charged = true;
    }
    at = until;
  };
  while (it != c.ooo.end() && it->first <= end) {
    ++pieces_visited_;
    SeqNum pseq = it->first;
    Piece p = std::move(it->second);
    it = c.ooo.erase(it);
    c.ooo_bytes -= p.data.size();
    c.ooo_charge -= p.charge;
    p.charge -= kPieceOverhead;
    SeqNum pend = pseq + static_cast<uint32_t>(p.data.size());
    if (!have && at < pseq && copy) {
      // Bytes just in front of a piece go into its headroom, so a peer sending downwards
      // grows one chunk rather than a list of them.
      p.charge +=
          prepend_copy(p.data, data, static_cast<size_t>(at - seq), static_cast<size_t>(pseq - at));
      merged = std::move(p);
      merged_seq = at;
      have = true;
    } else {
      place_new(pseq);
      if (!have) {
        merged = std::move(p);
        merged_seq = pseq;
        have = true;
      } else {
        merged.charge += p.charge;
        merged.data.append(std::move(p.data));
      }
    }
    at = seq_max(at, pend);
  }
  place_new(end);

  size_t views = merged.data.view_count();
  if (views > kFlattenViews && views > merged.data.size() / kBytesPerView) {
    PacketBuffer flat;
    merged.charge = append_copy(flat, merged.data, 0, merged.data.size());
    merged.data = std::move(flat);
  }
  merged.charge += kPieceOverhead;
  c.ooo_bytes += merged.data.size();
  c.ooo_charge += merged.charge;
  c.ooo.emplace_hint(it, merged_seq, std::move(merged));
  return result;
}

size_t ReceiveQueue::take_held_sack_blocks(SeqNum rcv_nxt, std::span<SeqRange> out) {
  size_t n = 0;
  if (dsack_ && !out.empty()) {
    out[n++] = *dsack_;
    dsack_.reset();
  }
  if (!held_) return n;
  Contents& c = *held_;
  auto block = [](const OooMap::value_type& p) {
    return SeqRange{p.first, p.first + static_cast<uint32_t>(p.second.data.size())};
  };
  // Pieces never touch, so the piece holding s is the whole SACK block.
  auto range_of = [&](SeqNum s) -> std::optional<SeqRange> {
    auto it = c.ooo.upper_bound(s);
    if (it == c.ooo.begin()) return std::nullopt;
    SeqRange r = block(*std::prev(it));
    if (!r.contains(s)) return std::nullopt;
    return r;
  };
  auto add = [&](SeqRange r) {
    if (r.end <= rcv_nxt || n >= out.size()) return;
    for (size_t i = 0; i < n; ++i) {
      if (out[i] == r) return;
    }
    out[n++] = r;
  };
  size_t kept = 0;
  for (size_t i = 0; i < c.recent_count; ++i) {
    if (auto r = range_of(c.recent[i])) {
      add(*r);
      c.recent[kept++] = c.recent[i];
    }
  }
  c.recent_count = static_cast<uint8_t>(kept);
  // Fill with the remaining blocks, highest first, so the sender learns of every hole.
  for (auto it = c.ooo.rbegin(); it != c.ooo.rend() && n < out.size(); ++it) add(block(*it));
  return n;
}

std::optional<SeqNum> ReceiveQueue::highest_out_of_order() const {
  if (!held_) return std::nullopt;
  const Contents& c = *held_;
  if (c.ooo.empty()) return std::nullopt;
  const auto& last = *c.ooo.rbegin();
  return last.first + static_cast<uint32_t>(last.second.data.size());
}

void ReceiveQueue::clear() {
  if (held_) {
    held_->reset();
    let_go_if_drained();
  }
  dsack_.reset();
  sync_account();
}

}  // namespace weir::tcp
