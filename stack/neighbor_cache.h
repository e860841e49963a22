// The neighbor cache: which link address answers for an on-link IP address, for any address
// family. ARP (IPv4) and NDP (IPv6) differ only in how they ask, so they plug in a
// NeighborResolver that sends the question; the cache owns the state machine, the timers and
// the packets waiting for an answer.
//
// Theory of operation. Each entry, keyed by (NIC, address), is in one state:
//   kIncomplete  resolution in progress: packets queue (at most max_pending packets and
//                max_pending_bytes bytes; the oldest is dropped first), a broadcast solicitation
//                goes out every retransmit_interval, and after max_probes unanswered ones the
//                queued packets are dropped and the entry turns kFailed.
//   kReachable   confirmed within reachable_time: packets go straight out.
//   kStale       not confirmed lately, still used as is. The first packet sent through a stale
//                entry moves it to kProbe (or to kDelay when delay_first_probe is set); an
//                unused stale entry is forgotten after stale_time.
//   kDelay       (RFC 4861 7.3.3, NDP only) used while stale: packets go out, and if nothing
//                confirms the neighbor within delay_first_probe the entry moves to kProbe.
//   kProbe       used while stale: packets still go out to the old link address while unicast
//                solicitations re-confirm it; max_probes without answer forgets the entry.
//   kFailed      resolution just failed: for failed_time, packets to it are dropped at once
//                instead of starting another round of solicitations.
// A confirmation (an answer, or a request aimed at us) makes an entry kReachable, creating it
// if needed, and sends whatever was queued. An unsolicited announcement (gratuitous ARP,
// unsolicited NA) only refreshes an entry that already exists, so a stranger cannot plant
// entries for addresses we never asked about.
// update() applies RFC 4861's finer rules (7.2.3, 7.2.5): a link address that arrives without
// confirming reachability makes the entry kStale, an advertisement without the override flag
// never replaces a cached link address, and a solicitation from a neighbor may create a kStale
// entry for it.
//
// Timers: each entry has one Timer on the stack's wheel. An entry is never destroyed inside
// its own timer callback; it moves to a graveyard emptied on the next call into the cache.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "stack/address.h"
#include "stack/clock.h"
#include "stack/counters.h"
#include "stack/fifo.h"
#include "stack/packet_buffer.h"
#include "stack/result.h"
#include "stack/timer.h"

namespace weir {

class Nic;
class Stack;

struct NeighborOptions {
  Duration reachable_time = std::chrono::seconds(30);
  Duration stale_time = std::chrono::seconds(60);
  Duration retransmit_interval = std::chrono::seconds(1);
  Duration failed_time = std::chrono::seconds(1);
  uint32_t max_probes = 3;
  // RFC 4861 DELAY_FIRST_PROBE_TIME (5 s for NDP). Zero: no kDelay state, a stale entry in
  // use is probed at once (ARP's behaviour).
  Duration delay_first_probe = Duration::zero();
  // What is held per unresolved neighbor, in bytes and in packets; past either bound the
  // oldest queued packet is dropped (drop_queue_full). The byte bound is Linux's
  // unres_qlen_bytes (212992, SK_WMEM_MAX): a burst of a thousand connections' SYNs, or three
  // maximal UDP datagrams' fragments, waits for the answer instead of a retransmission timeout.
  // The packet bound only caps the bookkeeping of tiny packets, which their bytes undercount,
  // so what a scan of unreachable addresses can pin stays near Linux's.
  size_t max_pending = 1024;
  size_t max_pending_bytes = 212992;
  size_t max_entries = 1024;
};

enum class NeighborState : uint8_t { kIncomplete, kReachable, kStale, kProbe, kFailed, kDelay };

// What an RFC 4861 message says about a neighbor (see NeighborCache::update).
struct NeighborUpdate {
  std::optional<MacAddress> link_address;  // nullopt: the message carried none
  bool solicited = false;  // answers our solicitation (NA S flag): the neighbor is reachable
  bool override = true;    // may replace a different cached link address (NA O flag)
  bool create = false;     // with a link address, create a kStale entry when there is none
};

// Sends the protocol's question. ARP and NDP implement it.
class NeighborResolver {
 public:
  virtual ~NeighborResolver() = default;
  // Asks who has `target` on nic: broadcast (or solicited-node multicast) when unicast_to is
  // nullopt, else a unicast re-confirmation to that link address.
  virtual void send_solicitation(Nic& nic, const IpAddress& target,
                                 const std::optional<MacAddress>& unicast_to) = 0;
};

#define WEIR_NEIGHBOR_COUNTERS(X)                                                              \
  X(entries_created)                                                                           \
  X(solicitations_sent) X(resolved) X(confirmations) X(updates_ignored) X(resolution_failures) \
      X(entries_expired) X(packets_queued) X(packets_released) X(drop_queue_full)              \
          X(drop_resolution_failed) X(drop_failed_entry) X(drop_cache_full) X(drop_link_error)
WEIR_DEFINE_COUNTERS(NeighborCounters, WEIR_NEIGHBOR_COUNTERS)

class NeighborCache {
 public:
  NeighborCache(Stack& stack, NeighborResolver& resolver, NeighborOptions options = {});
  ~NeighborCache();
  NeighborCache(const NeighborCache&) = delete;
  NeighborCache& operator=(const NeighborCache&) = delete;

  // Sends pkt (network header in front, meta().network_protocol set) to the neighbor
  // next_hop on nic: at once when its link address is known, else queued while resolving.
  // Errors: kHostUnreachable (resolution recently failed), kNoBufferSpace (cache full).
  // A queued packet counts as success.
  Status send(Nic& nic, const IpAddress& next_hop, PacketBuffer pkt);

  // The neighbor answered (or asked us directly): create or update, make reachable, and send
  // the queued packets.
  void confirm(Nic& nic, const IpAddress& address, const MacAddress& link_address);
  // An unsolicited announcement: updates an existing entry only. Returns whether one existed.
  bool update_existing(Nic& nic, const IpAddress& address, const MacAddress& link_address);
  // RFC 4861 7.2.3 / 7.2.5 update. Returns whether an entry exists afterwards.
  bool update(Nic& nic, const IpAddress& address, const NeighborUpdate& update);
  // Upper-layer proof that the neighbor is reachable (RFC 4861 7.3.1: forward progress):
  // an entry with a link address becomes kReachable. No-op otherwise.
  void confirm_reachable(NicId nic, const IpAddress& address);

  struct EntryInfo {
    NeighborState state;
    MacAddress link_address;
    size_t pending;
  };
  std::optional<EntryInfo> find(NicId nic, const IpAddress& address) const;
  // Forgets every entry of a NIC (NIC down or removed), dropping queued packets.
  void flush(NicId nic);
  size_t size() const { return entries_.size(); }

  const NeighborOptions& options() const { return options_; }
  // RFC 4861 6.3.4: a router may announce these; they apply to timers armed from now on.
  void set_reachable_time(Duration d) { options_.reachable_time = d; }
  void set_retransmit_interval(Duration d) { options_.retransmit_interval = d; }
  const NeighborCounters& counters() const { return counters_; }
  NeighborCounters& counters() { return counters_; }

 private:
  // Lives in its entries_ node (one allocation per neighbor); a retired entry's node is
  // extracted into the graveyard, so its address, which its timer's callback holds, stays put.
  struct Entry {
    Entry(NeighborCache& cache, NicId nic_id, const IpAddress& addr)
        : nic(nic_id), address(addr), timer([&cache, this] { cache.on_timer(*this); }) {}

    NicId nic;
    IpAddress address;
    MacAddress link_address;
    NeighborState state = NeighborState::kIncomplete;
    uint32_t probes = 0;
    Fifo<PacketBuffer> pending;  // not std::deque: see stack/fifo.h
    size_t pending_bytes = 0;
    Timer timer;
  };
  using Key = std::pair<NicId, IpAddress>;
  using Entries = std::map<Key, Entry>;

  Entry* create(Nic& nic, const IpAddress& address);
  void on_timer(Entry& entry);
  void make_reachable(Entry& entry, const MacAddress& link_address);
  void make_stale(Entry& entry);
  void transmit(Nic& nic, Entry& entry, PacketBuffer pkt);
  void enqueue(Entry& entry, PacketBuffer pkt);
  void release_pending(Entry& entry);
  void drop_pending(Entry& entry);
  void retire(Entry& entry);  // removes the entry, deferring its destruction
  bool evict_one();
  void bury();

  Stack& stack_;
  NeighborResolver& resolver_;
  NeighborOptions options_;
  Entries entries_;
  std::vector<Entries::node_type> graveyard_;
  NeighborCounters counters_;
};

}  // namespace weir
