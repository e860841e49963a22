#include "ipv4/reassembly.h"

#include <algorithm>
#include <iterator>

#include "ipv4/wire.h"
#include "stack/right_size.h"

namespace weir::ipv4 {

Reassembler::Reassembler(TimerWheel& timers, ReassemblyOptions options, MemoryBudget* shared)
    : timers_(timers), options_(options), shared_(shared), timer_([this] { on_timer(); }) {
  if (shared_ != nullptr) shared_->add_consumer(*this);
}

Reassembler::~Reassembler() {
  if (shared_ != nullptr) {
    shared_->release(memory_used_);
    shared_->remove_consumer(*this);
  }
}

std::optional<TimePoint> Reassembler::oldest_charge() const {
  if (order_.empty()) return std::nullopt;
  return order_.front().created;
}

void Reassembler::reclaim_oldest() {
  if (!order_.empty()) drop_oldest(counters_.drop_memory_limit);
}

void Reassembler::drop(ByKey::iterator it, uint64_t& reason) {
  ++reason;
  ++counters_.datagrams_dropped;
  const Datagram& d = it->second;
  counters_.fragments_dropped += d.pieces.size();
  memory_used_ -= d.memory;
  if (shared_ != nullptr) shared_->release(d.memory);
  by_key_.erase(it);  // unlinks it from order_ too
  arm_timer();
}

void Reassembler::drop_oldest(uint64_t& reason) { drop(by_key_.find(order_.front().key), reason); }

void Reassembler::arm_timer() {
  if (order_.empty()) {
    timer_.cancel();
    return;
  }
  TimePoint deadline = order_.front().deadline;
  if (!timer_.armed() || timer_.deadline() != deadline) timers_.arm(timer_, deadline);
}

void Reassembler::on_timer() {
  TimePoint now = timers_.now();
  while (!order_.empty() && order_.front().deadline <= now) {
    Datagram& d = order_.front();
    std::vector<std::byte> header;
    PacketBuffer first;
    // Taken, not copied: the datagram goes before the handler runs.
    if (on_timeout_ && !d.pieces.empty() && d.pieces.front().offset == 0 && !d.header.empty()) {
      header = std::move(d.header);
      first = std::move(d.pieces.front().payload);
    }
    drop_oldest(counters_.drop_timeout);
    if (!header.empty()) on_timeout_(header, first);
  }
  arm_timer();
}

std::optional<Reassembled> Reassembler::add(const FragmentKey& key, ByteView header,
                                            uint32_t offset, bool more_fragments,
                                            PacketBuffer payload) {
  ++counters_.fragments_received;
  const size_t length = payload.size();
  const size_t end = size_t{offset} + length;

  // Offsets count 8-byte units, so every fragment but the last must fill whole units.
  if (more_fragments && (length == 0 || length % 8 != 0)) {
    ++counters_.drop_bad_fragment_length;
    ++counters_.fragments_dropped;
    return std::nullopt;
  }

  auto existing = by_key_.find(key);
  if (end + header.size() > kMaxDatagramLength) {
    ++counters_.fragments_dropped;
    if (existing != by_key_.end()) {
      drop(existing, counters_.drop_too_long);
    } else {
      ++counters_.drop_too_long;
    }
    return std::nullopt;
  }

  // Charged at what it pins, after a small fragment in a large frame was copied out of it.
  right_size(payload);
  const size_t cost = payload.pinned_bytes() + header.size() + kFragmentOverhead;
  if (cost > options_.memory_limit) {
    ++counters_.drop_memory_limit;
    ++counters_.fragments_dropped;
    return std::nullopt;
  }
  // Room comes from the oldest datagrams: they are the likeliest never to complete.
  while (memory_used_ + cost > options_.memory_limit && !order_.empty()) {
    drop_oldest(counters_.drop_memory_limit);
  }
  if (shared_ != nullptr && !shared_->make_room(cost)) {
    ++counters_.drop_memory_limit;
    ++counters_.fragments_dropped;
    return std::nullopt;
  }

  auto [it, created] = by_key_.try_emplace(key);
  Datagram& d = it->second;
  if (created) {
    d.key = key;
    d.created = timers_.now();
    d.deadline = d.created + options_.timeout;
    order_.push_back(d);
    arm_timer();
  }

  // An exact duplicate is harmless: keep the first copy.
  auto next = std::lower_bound(d.pieces.begin(), d.pieces.end(), offset,
                               [](const Piece& p, uint32_t o) { return p.offset < o; });
  if (next != d.pieces.end() && next->offset == offset && next->end == end &&
      next->more == more_fragments) {
    ++counters_.duplicates_ignored;
    return std::nullopt;
  }

  if (!more_fragments) {
    bool inconsistent = d.total.has_value() && *d.total != end;
    if (!inconsistent && !d.pieces.empty()) inconsistent = d.pieces.back().end > end;
    if (inconsistent) {
      ++counters_.fragments_dropped;
      drop(it, counters_.drop_inconsistent_end);
      return std::nullopt;
    }
  } else if (d.total.has_value() && end > *d.total) {
    ++counters_.fragments_dropped;
    drop(it, counters_.drop_inconsistent_end);
    return std::nullopt;
  }

  bool overlaps = next != d.pieces.end() && next->offset < end;
  if (!overlaps && next != d.pieces.begin()) overlaps = std::prev(next)->end > offset;
  // A zero-length last fragment sitting exactly on another fragment's start is an overlap too:
  // two fragments cannot share an offset.
  if (!overlaps && next != d.pieces.end() && next->offset == offset) overlaps = true;
  if (overlaps) {
    ++counters_.fragments_dropped;
    drop(it, counters_.drop_overlap);
    return std::nullopt;
  }

  if (d.pieces.size() >= options_.max_fragments) {
    ++counters_.fragments_dropped;
    drop(it, counters_.drop_too_many_fragments);
    return std::nullopt;
  }

  d.pieces.insert(next,
                  Piece{offset, static_cast<uint32_t>(end), more_fragments, std::move(payload)});
  d.received += length;
  d.memory += cost;
  memory_used_ += cost;
  if (shared_ != nullptr) shared_->charge(cost);
  if (offset == 0) d.header.assign(header.begin(), header.end());
  if (!more_fragments) d.total = static_cast<uint32_t>(end);

  if (!d.total.has_value() || d.received != *d.total || d.header.empty()) return std::nullopt;

  Reassembled out;
  out.header = std::move(d.header);
  for (Piece& piece : d.pieces) {
    if (piece.offset == 0) {
      out.payload = std::move(piece.payload);
    } else {
      out.payload.append(std::move(piece.payload));
    }
  }
  memory_used_ -= d.memory;
  if (shared_ != nullptr) shared_->release(d.memory);
  by_key_.erase(it);
  arm_timer();
  ++counters_.datagrams_reassembled;
  return out;
}

}  // namespace weir::ipv4
