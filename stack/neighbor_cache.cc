#include "stack/neighbor_cache.h"

#include "stack/fifo.h"
#include "stack/nic.h"
#include "stack/stack.h"

namespace weir {

NeighborCache::NeighborCache(Stack& stack, NeighborResolver& resolver, NeighborOptions options)
    : stack_(stack), resolver_(resolver), options_(options) {}

NeighborCache::~NeighborCache() = default;

void NeighborCache::bury() { graveyard_.clear(); }

NeighborCache::Entry* NeighborCache::create(Nic& nic, const IpAddress& address) {
  if (entries_.size() >= options_.max_entries && !evict_one()) {
    ++counters_.drop_cache_full;
    return nullptr;
  }
  auto [it, created] = entries_.try_emplace(Key{nic.id(), address}, *this, nic.id(), address);
  ++counters_.entries_created;
  return &it->second;
}

bool NeighborCache::evict_one() {
  // Only entries nobody is waiting on: stale ones, or failures we would forget soon anyway.
  for (auto& [key, entry] : entries_) {
    if (entry.state == NeighborState::kStale || entry.state == NeighborState::kFailed) {
      ++counters_.entries_expired;
      retire(entry);
      return true;
    }
  }
  return false;
}

void NeighborCache::retire(Entry& entry) {
  entry.timer.cancel();
  auto it = entries_.find(Key{entry.nic, entry.address});
  if (it == entries_.end() || &it->second != &entry) return;
  graveyard_.push_back(entries_.extract(it));
}

void NeighborCache::transmit(Nic& nic, Entry& entry, PacketBuffer pkt) {
  pkt.meta().link_destination = entry.link_address;
  if (!nic.write_packet(std::move(pkt))) ++counters_.drop_link_error;
}

Status NeighborCache::send(Nic& nic, const IpAddress& next_hop, PacketBuffer pkt) {
  bury();
  auto it = entries_.find(Key{nic.id(), next_hop});
  if (it == entries_.end()) {
    Entry* entry = create(nic, next_hop);
    if (entry == nullptr) return Error::kNoBufferSpace;
    enqueue(*entry, std::move(pkt));
    // State first, then the question: an answer may arrive before solicit returns.
    entry->probes = 1;
    stack_.timers().arm_after(entry->timer, options_.retransmit_interval);
    ++counters_.solicitations_sent;
    resolver_.send_solicitation(nic, next_hop, std::nullopt);
    return ok_status();
  }
  Entry& entry = it->second;
  switch (entry.state) {
    case NeighborState::kIncomplete:
      enqueue(entry, std::move(pkt));
      return ok_status();
    case NeighborState::kReachable:
    case NeighborState::kProbe:
    case NeighborState::kDelay:
      transmit(nic, entry, std::move(pkt));
      return ok_status();
    case NeighborState::kStale: {
      if (options_.delay_first_probe > Duration::zero()) {
        // RFC 4861 7.3.3: give upper layers a moment to confirm before probing.
        entry.state = NeighborState::kDelay;
        entry.probes = 0;
        stack_.timers().arm_after(entry.timer, options_.delay_first_probe);
        transmit(nic, entry, std::move(pkt));
        return ok_status();
      }
      entry.state = NeighborState::kProbe;
      entry.probes = 1;
      stack_.timers().arm_after(entry.timer, options_.retransmit_interval);
      MacAddress old = entry.link_address;
      transmit(nic, entry, std::move(pkt));
      ++counters_.solicitations_sent;
      resolver_.send_solicitation(nic, next_hop, old);
      return ok_status();
    }
    case NeighborState::kFailed:
      ++counters_.drop_failed_entry;
      return Error::kHostUnreachable;
  }
  return ok_status();
}

void NeighborCache::enqueue(Entry& entry, PacketBuffer pkt) {
  entry.pending_bytes += pkt.size();
  entry.pending.push_back(std::move(pkt));
  ++counters_.packets_queued;
  // The newest packets are the ones a retransmitting sender still cares about.
  while (entry.pending.size() > 1 && (entry.pending.size() > options_.max_pending ||
                                      entry.pending_bytes > options_.max_pending_bytes)) {
    entry.pending_bytes -= entry.pending.front().size();
    entry.pending.pop_front();
    ++counters_.drop_queue_full;
  }
}

void NeighborCache::make_reachable(Entry& entry, const MacAddress& link_address) {
  if (entry.state == NeighborState::kIncomplete || entry.state == NeighborState::kFailed) {
    ++counters_.resolved;
  } else {
    ++counters_.confirmations;
  }
  entry.link_address = link_address;
  entry.state = NeighborState::kReachable;
  entry.probes = 0;
  stack_.timers().arm_after(entry.timer, options_.reachable_time);
}

void NeighborCache::make_stale(Entry& entry) {
  entry.state = NeighborState::kStale;
  entry.probes = 0;
  stack_.timers().arm_after(entry.timer, options_.stale_time);
}

bool NeighborCache::update(Nic& nic, const IpAddress& address, const NeighborUpdate& u) {
  bury();
  auto it = entries_.find(Key{nic.id(), address});
  if (it == entries_.end()) {
    if (!u.create || !u.link_address) {
      ++counters_.updates_ignored;
      return false;
    }
    Entry* entry = create(nic, address);
    if (entry == nullptr) return false;
    entry->link_address = *u.link_address;
    make_stale(*entry);
    return true;
  }
  Entry& entry = it->second;
  if (entry.state == NeighborState::kIncomplete || entry.state == NeighborState::kFailed) {
    if (!u.link_address) {
      ++counters_.updates_ignored;
      return true;
    }
    if (u.solicited) {
      make_reachable(entry, *u.link_address);
    } else {
      ++counters_.resolved;
      entry.link_address = *u.link_address;
      make_stale(entry);
    }
    release_pending(entry);
    return true;
  }
  const bool differs = u.link_address && *u.link_address != entry.link_address;
  if (differs && !u.override) {
    // 7.2.5: a different address without the override flag is not believed, but it does
    // cast doubt on the one we have.
    if (entry.state == NeighborState::kReachable) make_stale(entry);
    ++counters_.updates_ignored;
    return true;
  }
  if (differs) entry.link_address = *u.link_address;
  if (u.solicited) {
    make_reachable(entry, entry.link_address);
  } else if (differs) {
    make_stale(entry);
  }
  return true;
}

void NeighborCache::confirm_reachable(NicId nic, const IpAddress& address) {
  bury();
  auto it = entries_.find(Key{nic, address});
  if (it == entries_.end()) return;
  Entry& entry = it->second;
  if (entry.state == NeighborState::kIncomplete || entry.state == NeighborState::kFailed) return;
  make_reachable(entry, entry.link_address);
}

void NeighborCache::release_pending(Entry& entry) {
  if (entry.pending.empty()) return;
  // Sending may re-enter the cache (a synchronous link); work on a private queue.
  Fifo<PacketBuffer> queue = std::move(entry.pending);
  entry.pending.clear();
  entry.pending_bytes = 0;
  Nic* nic = stack_.nic(entry.nic);
  MacAddress mac = entry.link_address;
  for (auto& pkt : queue) {
    ++counters_.packets_released;
    if (nic == nullptr) continue;
    pkt.meta().link_destination = mac;
    if (!nic->write_packet(std::move(pkt))) ++counters_.drop_link_error;
  }
}

void NeighborCache::drop_pending(Entry& entry) {
  counters_.drop_resolution_failed += entry.pending.size();
  entry.pending.clear();
  entry.pending_bytes = 0;
}

void NeighborCache::confirm(Nic& nic, const IpAddress& address, const MacAddress& link_address) {
  bury();
  auto it = entries_.find(Key{nic.id(), address});
  Entry* entry = it != entries_.end() ? &it->second : create(nic, address);
  if (entry == nullptr) return;
  make_reachable(*entry, link_address);
  release_pending(*entry);
}

bool NeighborCache::update_existing(Nic& nic, const IpAddress& address,
                                    const MacAddress& link_address) {
  bury();
  auto it = entries_.find(Key{nic.id(), address});
  if (it == entries_.end()) {
    ++counters_.updates_ignored;
    return false;
  }
  Entry& entry = it->second;
  if (entry.state == NeighborState::kIncomplete || entry.state == NeighborState::kFailed) {
    // We were asking anyway: the announcement answers the question.
    make_reachable(entry, link_address);
    release_pending(entry);
  } else if (entry.link_address != link_address) {
    // The address moved. Use the new link address, but re-confirm it before trusting it for
    // long.
    entry.link_address = link_address;
    entry.state = NeighborState::kStale;
    entry.probes = 0;
    stack_.timers().arm_after(entry.timer, options_.stale_time);
  }
  return true;
}

void NeighborCache::on_timer(Entry& entry) {
  Nic* nic = stack_.nic(entry.nic);
  if (nic == nullptr) {
    drop_pending(entry);
    retire(entry);
    return;
  }
  switch (entry.state) {
    case NeighborState::kIncomplete:
      if (entry.probes < options_.max_probes) {
        ++entry.probes;
        stack_.timers().arm_after(entry.timer, options_.retransmit_interval);
        ++counters_.solicitations_sent;
        resolver_.send_solicitation(*nic, entry.address, std::nullopt);
        return;
      }
      ++counters_.resolution_failures;
      drop_pending(entry);
      entry.state = NeighborState::kFailed;
      stack_.timers().arm_after(entry.timer, options_.failed_time);
      return;
    case NeighborState::kReachable:
      entry.state = NeighborState::kStale;
      stack_.timers().arm_after(entry.timer, options_.stale_time);
      return;
    case NeighborState::kDelay:
      // Nothing confirmed the neighbor while we waited: ask it directly.
      entry.state = NeighborState::kProbe;
      entry.probes = 1;
      stack_.timers().arm_after(entry.timer, options_.retransmit_interval);
      ++counters_.solicitations_sent;
      resolver_.send_solicitation(*nic, entry.address, entry.link_address);
      return;
    case NeighborState::kProbe:
      if (entry.probes < options_.max_probes) {
        ++entry.probes;
        stack_.timers().arm_after(entry.timer, options_.retransmit_interval);
        ++counters_.solicitations_sent;
        resolver_.send_solicitation(*nic, entry.address, entry.link_address);
        return;
      }
      ++counters_.resolution_failures;
      retire(entry);
      return;
    case NeighborState::kStale:
      ++counters_.entries_expired;
      retire(entry);
      return;
    case NeighborState::kFailed:
      retire(entry);
      return;
  }
}

std::optional<NeighborCache::EntryInfo> NeighborCache::find(NicId nic,
                                                            const IpAddress& address) const {
  auto it = entries_.find(Key{nic, address});
  if (it == entries_.end()) return std::nullopt;
  const Entry& e = it->second;
  return EntryInfo{e.state, e.link_address, e.pending.size()};
}

void NeighborCache::flush(NicId nic) {
  bury();
  std::vector<Entry*> doomed;
  for (auto& [key, entry] : entries_) {
    if (key.first == nic) doomed.push_back(&entry);
  }
  for (Entry* e : doomed) {
    drop_pending(*e);
    retire(*e);
  }
}

}  // namespace weir
