#include "link/fault.h"

#include <algorithm>

namespace weir::link {

namespace {

// One independent stream per kind of fault (see the header).
uint64_t stream_seed(uint64_t seed, uint64_t stream) {
  return seed * 0x9e3779b97f4a7c15ull + stream * 0xbf58476d1ce4e5b9ull + 1;
}

bool draw(Rng& rng, double probability) {
  if (probability <= 0) return false;
  if (probability >= 1) return true;
  return rng.chance(probability);
}

// A private copy of pkt (bytes and meta) with one bit flipped.
PacketBuffer corrupted_copy(const PacketBuffer& pkt, Rng& rng) {
  std::vector<std::byte> bytes = pkt.to_vector();
  const uint64_t bit = rng.uniform(bytes.size() * 8);
  bytes[bit / 8] ^= std::byte(uint8_t{1} << (bit % 8));
  PacketBuffer copy = PacketBuffer::from_bytes(bytes);
  copy.meta() = pkt.meta();
  return copy;
}

}  // namespace

FaultEndpoint::FaultEndpoint(std::unique_ptr<LinkEndpoint> inner, TimerWheel& timers,
                             const FaultOptions& options)
    : inner_(std::move(inner)),
      timers_(timers),
      options_(options),
      drop_rng_(stream_seed(options.seed, 1)),
      corrupt_rng_(stream_seed(options.seed, 2)),
      duplicate_rng_(stream_seed(options.seed, 3)),
      reorder_rng_(stream_seed(options.seed, 4)),
      jitter_rng_(stream_seed(options.seed, 5)),
      timer_([this] { release(false); }) {
  inner_->attach(&inner_dispatcher_);
}

FaultEndpoint::~FaultEndpoint() { inner_->attach(nullptr); }

void FaultEndpoint::apply(PacketBuffer pkt, bool transmit, std::vector<PacketBuffer>& now) {
  if (draw(drop_rng_, options_.drop)) {
    ++(transmit ? counters_.tx_dropped : counters_.rx_dropped);
    return;
  }
  if (!pkt.empty() && draw(corrupt_rng_, options_.corrupt)) {
    pkt = corrupted_copy(pkt, corrupt_rng_);
    ++(transmit ? counters_.tx_corrupted : counters_.rx_corrupted);
  }
  if (draw(duplicate_rng_, options_.duplicate)) {
    ++(transmit ? counters_.tx_duplicated : counters_.rx_duplicated);
    schedule(pkt.clone(), transmit, now);
  }
  schedule(std::move(pkt), transmit, now);
}

void FaultEndpoint::schedule(PacketBuffer frame, bool transmit, std::vector<PacketBuffer>& now) {
  Duration hold = options_.delay;
  if (options_.jitter > Duration::zero()) {
    hold += Duration(static_cast<Duration::rep>(
        jitter_rng_.uniform(static_cast<uint64_t>(options_.jitter.count()))));
  }
  if (draw(reorder_rng_, options_.reorder)) {
    hold += options_.reorder_delay;
    ++(transmit ? counters_.tx_reordered : counters_.rx_reordered);
  }
  if (hold <= Duration::zero()) {
    now.push_back(std::move(frame));
    return;
  }
  ++(transmit ? counters_.tx_delayed : counters_.rx_delayed);
  held_.emplace(HeldKey{timers_.now() + hold, arrivals_++},
                Held{.pkt = std::move(frame), .transmit = transmit});
}

Result<size_t> FaultEndpoint::write_packets(std::span<PacketBuffer> packets) {
  if (!faulted(FaultDirection::kTx)) return inner_->write_packets(packets);
  std::vector<PacketBuffer> now;
  now.reserve(packets.size());
  const size_t held_before = held_.size();
  for (PacketBuffer& pkt : packets) {
    ++counters_.tx_frames;
    apply(std::move(pkt), true, now);
  }
  if (held_.size() != held_before) arm_timer();
  if (now.empty()) return packets.size();
  const size_t offered = now.size();
  const size_t rejected = offered - send_down(now);
  // Duplicates make `offered` larger than the batch; a rejected frame may have been either.
  const size_t accepted = packets.size() - std::min(rejected, packets.size());
  if (accepted == 0) return Error::kNoBufferSpace;
  return accepted;
}

size_t FaultEndpoint::send_down(std::vector<PacketBuffer>& batch) {
  if (batch.empty()) return 0;
  auto sent = inner_->write_packets(batch);
  const size_t n = sent ? *sent : 0;
  counters_.tx_inner_rejected += batch.size() - n;
  batch.clear();
  return n;
}

void FaultEndpoint::receive(PacketBuffer pkt) {
  if (!faulted(FaultDirection::kRx)) {
    deliver_up(std::move(pkt));
    return;
  }
  ++counters_.rx_frames;
  std::vector<PacketBuffer> now;
  const size_t held_before = held_.size();
  apply(std::move(pkt), false, now);
  if (held_.size() != held_before) arm_timer();
  for (PacketBuffer& p : now) deliver_up(std::move(p));
}

void FaultEndpoint::deliver_up(PacketBuffer pkt) {
  if (dispatcher_ == nullptr) {
    ++counters_.rx_drop_not_attached;
    return;
  }
  dispatcher_->deliver_network_packet(std::move(pkt));
}

void FaultEndpoint::arm_timer() {
  if (held_.empty()) {
    timer_.cancel();
    return;
  }
  const TimePoint first = held_.begin()->first.first;
  if (!timer_.armed() || timer_.deadline() != first) timers_.arm(timer_, first);
}

void FaultEndpoint::release(bool everything) {
  // Take the due frames out first: delivering one may make the stack send, which adds to
  // held_ while we are walking it.
  const TimePoint now = timers_.now();
  std::vector<Held> due;
  while (!held_.empty() && (everything || held_.begin()->first.first <= now)) {
    due.push_back(std::move(held_.begin()->second));
    held_.erase(held_.begin());
  }
  std::vector<PacketBuffer> tx_batch;
  for (Held& h : due) {
    if (h.transmit) {
      tx_batch.push_back(std::move(h.pkt));
    } else {
      send_down(tx_batch);  // keep the relative order of the two directions
      deliver_up(std::move(h.pkt));
    }
  }
  send_down(tx_batch);
  arm_timer();
}

void FaultEndpoint::flush() { release(true); }

}  // namespace weir::link
