#include "ipv6/reassembly.h"

#include <iterator>

#include "ipv6/wire.h"
#include "stack/right_size.h"

namespace weir::ipv6 {

namespace {
struct Piece {
  uint32_t end = 0;
  bool more = false;
  PacketBuffer payload;
};
}  // namespace

struct Reassembler::Datagram {
  FragmentKey key;
  TimePoint created;
  TimePoint deadline;
  std::map<uint32_t, Piece> pieces;  // by offset; ranges are disjoint
  std::optional<uint32_t> total;     // payload length, once the last fragment arrived
  size_t received = 0;
  size_t memory = 0;
  std::vector<std::byte> headers;  // of the offset-0 fragment
  size_t next_header_field = 0;
  uint8_t next_header = 0;
};

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
  return order_.front()->created;
}

void Reassembler::reclaim_oldest() {
  if (!order_.empty()) drop(order_.begin(), counters_.drop_memory_limit);
}

void Reassembler::drop(Order::iterator it, uint64_t& reason) {
  ++reason;
  ++counters_.datagrams_dropped;
  Datagram& d = **it;
  counters_.fragments_dropped += d.pieces.size();
  memory_used_ -= d.memory;
  if (shared_ != nullptr) shared_->release(d.memory);
  by_key_.erase(d.key);
  order_.erase(it);
  arm_timer();
}

void Reassembler::arm_timer() {
  if (order_.empty()) {
    timer_.cancel();
    return;
  }
  TimePoint deadline = order_.front()->deadline;
  if (!timer_.armed() || timer_.deadline() != deadline) timers_.arm(timer_, deadline);
}

void Reassembler::on_timer() {
  TimePoint now = timers_.now();
  while (!order_.empty() && order_.front()->deadline <= now) {
    Datagram& d = *order_.front();
    std::vector<std::byte> headers;
    PacketBuffer first;
    if (auto it = d.pieces.find(0); on_timeout_ && it != d.pieces.end() && !d.headers.empty()) {
      headers = d.headers;
      first = it->second.payload.clone();
    }
    drop(order_.begin(), counters_.drop_timeout);
    if (!headers.empty()) on_timeout_(headers, first);
  }
  arm_timer();
}

std::optional<Reassembled> Reassembler::add(const FragmentKey& key, const Fragment& fragment,
                                            PacketBuffer payload) {
  ++counters_.fragments_received;
  const uint32_t offset = fragment.offset;
  const bool more = fragment.more;
  const size_t length = payload.size();
  const size_t end = size_t{offset} + length;

  if (more && (length == 0 || length % 8 != 0)) {
    ++counters_.drop_bad_fragment_length;
    ++counters_.fragments_dropped;
    return std::nullopt;
  }

  auto existing = by_key_.find(key);
  if (end > kMaxPayloadLength) {
    ++counters_.fragments_dropped;
    if (existing != by_key_.end()) {
      drop(existing->second, counters_.drop_too_long);
    } else {
      ++counters_.drop_too_long;
    }
    return std::nullopt;
  }

  // Charged at what it pins, after a small fragment in a large frame was copied out of it.
  right_size(payload);
  const size_t cost = payload.pinned_bytes() + fragment.headers.size() + kFragmentOverhead;
  if (cost > options_.memory_limit) {
    ++counters_.drop_memory_limit;
    ++counters_.fragments_dropped;
    return std::nullopt;
  }
  // Room comes from the oldest datagrams: they are the likeliest never to complete.
  while (memory_used_ + cost > options_.memory_limit && !order_.empty()) {
    drop(order_.begin(), counters_.drop_memory_limit);
  }
  if (shared_ != nullptr && !shared_->make_room(cost)) {
    ++counters_.drop_memory_limit;
    ++counters_.fragments_dropped;
    return std::nullopt;
  }

  existing = by_key_.find(key);
  Order::iterator it;
  if (existing == by_key_.end()) {
    auto d = std::make_unique<Datagram>();
    d->key = key;
    d->created = timers_.now();
    d->deadline = d->created + options_.timeout;
    order_.push_back(std::move(d));
    it = std::prev(order_.end());
    by_key_.emplace(key, it);
    arm_timer();
  } else {
    it = existing->second;
  }
  Datagram& d = **it;

  auto next = d.pieces.lower_bound(offset);
  if (next != d.pieces.end() && next->first == offset && next->second.end == end &&
      next->second.more == more) {
    ++counters_.duplicates_ignored;
    return std::nullopt;
  }

  if (!more) {
    bool inconsistent = d.total.has_value() && *d.total != end;
    if (!inconsistent && !d.pieces.empty()) inconsistent = d.pieces.rbegin()->second.end > end;
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

  bool overlaps = next != d.pieces.end() && next->first < end;
  if (!overlaps && next != d.pieces.begin()) overlaps = std::prev(next)->second.end > offset;
  // Two fragments cannot share an offset, even when one of them is empty.
  if (!overlaps && next != d.pieces.end() && next->first == offset) overlaps = true;
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

  d.pieces.emplace(offset, Piece{static_cast<uint32_t>(end), more, std::move(payload)});
  d.received += length;
  d.memory += cost;
  memory_used_ += cost;
  if (shared_ != nullptr) shared_->charge(cost);
  if (offset == 0) {
    d.headers.assign(fragment.headers.begin(), fragment.headers.end());
    d.next_header_field = fragment.next_header_field;
    d.next_header = fragment.next_header;
  }
  if (!more) d.total = static_cast<uint32_t>(end);

  if (!d.total.has_value() || d.received != *d.total || d.headers.empty()) return std::nullopt;

  // The reassembled payload length counts the unfragmentable headers (less the Fragment
  // header) too; past 65535 it cannot be expressed (RFC 8200 4.5).
  if (d.headers.size() - kFragmentHeaderLength - kHeaderLength + *d.total > kMaxPayloadLength) {
    drop(it, counters_.drop_too_long);
    return std::nullopt;
  }

  Reassembled out;
  out.headers = std::move(d.headers);
  out.next_header_field = d.next_header_field;
  out.next_header = d.next_header;
  for (auto& [off, piece] : d.pieces) {
    if (off == 0) {
      out.payload = std::move(piece.payload);
    } else {
      out.payload.append(std::move(piece.payload));
    }
  }
  memory_used_ -= d.memory;
  if (shared_ != nullptr) shared_->release(d.memory);
  by_key_.erase(d.key);
  order_.erase(it);
  arm_timer();
  ++counters_.datagrams_reassembled;
  return out;
}

}  // namespace weir::ipv6
