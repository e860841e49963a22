// IPv4 reassembly (RFC 791 3.2, RFC 815).
//
// Theory of operation. Fragments are grouped by (source, destination, protocol, id). Each
// datagram keeps its fragments in a vector sorted by offset (at most max_fragments of them).
// Because overlapping fragments are refused (below), the received ranges are disjoint, so the
// datagram is complete exactly when its length is known (a fragment without MF arrived) and the
// received bytes add up to it: RFC 815's hole list reduces to one counter.
//
// Rules, each with its own counter:
//  - Overlap: a fragment that overlaps bytes already received drops the whole datagram (the
//    rule RFC 5722 made mandatory for IPv6 and modern IPv4 stacks follow), since overlapping
//    fragments are the tool of header-rewriting evasion attacks. An exact duplicate (same
//    offset, same length, same MF) is not an overlap: it is ignored and the first copy kept.
//  - A fragment with MF set must carry a non-zero multiple of 8 bytes.
//  - The last fragment (MF clear) fixes the length. A second, different last fragment, or any
//    fragment reaching past a known end, drops the datagram.
//  - A datagram longer than 65535 bytes (header included) drops the datagram.
//  - A datagram with more than max_fragments fragments is dropped: tiny fragments would
//    otherwise cost far more bookkeeping than their bytes.
//  - Memory: every fragment is charged the memory its payload pins (PacketBuffer::pinned_bytes,
//    after right_size() copied a small fragment out of a large frame), its header and a fixed
//    overhead, so a flood of tiny fragments holds no more than the budget says. When a new
//    fragment would exceed memory_limit, the oldest datagrams are dropped until it fits. When the
//    reassembler is given a shared MemoryBudget (the stack's, which IPv6 reassembly draws from
//    too), the fragment must also fit there, and room is made by dropping the oldest datagram
//    of either family.
//  - Timeout: a datagram not complete within `timeout` of its first fragment is dropped (and
//    reported to the timeout handler if its offset-0 fragment had arrived).
//    Datagrams are kept in arrival order and all share one timeout, so one timer armed for
//    the oldest suffices.
// The header of the offset-0 fragment becomes the header of the reassembled datagram
// (RFC 791: its options are the ones that matter).
#pragma once

#include <boost/container/small_vector.hpp>
#include <boost/intrusive/list.hpp>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "stack/address.h"
#include "stack/clock.h"
#include "stack/counters.h"
#include "stack/memory_budget.h"
#include "stack/packet_buffer.h"
#include "stack/timer.h"

namespace weir::ipv4 {

struct ReassemblyOptions {
  size_t memory_limit = size_t{4} << 20;        // 4 MiB, Linux's ipfrag_high_thresh
  Duration timeout = std::chrono::seconds(30);  // Linux's ipfrag_time
  size_t max_fragments = 64;                    // per datagram
};

#define WEIR_REASSEMBLY_COUNTERS(X)                                                          \
  X(fragments_received)                                                                      \
  X(datagrams_reassembled)                                                                   \
  X(duplicates_ignored) X(drop_overlap) X(drop_bad_fragment_length) X(drop_inconsistent_end) \
      X(drop_too_long) X(drop_too_many_fragments) X(drop_timeout) X(drop_memory_limit)       \
          X(datagrams_dropped) X(fragments_dropped)
WEIR_DEFINE_COUNTERS(ReassemblyCounters, WEIR_REASSEMBLY_COUNTERS)

struct FragmentKey {
  Ipv4Address source;
  Ipv4Address destination;
  uint8_t protocol = 0;
  uint16_t id = 0;
  auto operator<=>(const FragmentKey&) const = default;
};

struct Reassembled {
  std::vector<std::byte> header;  // the offset-0 fragment's header, as received
  PacketBuffer payload;           // the whole payload, fragments chained without copying
};

class Reassembler final : private MemoryBudget::Consumer {
 public:
  // shared: a budget other reassemblers draw from too (may be null).
  Reassembler(TimerWheel& timers, ReassemblyOptions options = {},
              MemoryBudget* shared = nullptr);
  ~Reassembler();
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  // One fragment: `header` is its IP header (IHL*4 bytes), `offset` in bytes, `payload` the
  // bytes after the header (already trimmed to the total length). Returns the datagram when
  // this fragment completed it.
  std::optional<Reassembled> add(const FragmentKey& key, ByteView header, uint32_t offset,
                                 bool more_fragments, PacketBuffer payload);

  // Called for each datagram that times out after its first fragment (offset 0) arrived, with
  // that fragment's header and payload, so the IP layer can send ICMP Time Exceeded (code 1,
  // RFC 792; RFC 1122 3.3.2). Called after the datagram is gone; may do anything but destroy
  // the reassembler.
  using TimeoutHandler = std::function<void(ByteView header, const PacketBuffer& first_payload)>;
  void set_timeout_handler(TimeoutHandler handler) { on_timeout_ = std::move(handler); }

  size_t datagram_count() const { return by_key_.size(); }
  size_t memory_used() const { return memory_used_; }
  const ReassemblyCounters& counters() const { return counters_; }
  ReassemblyCounters& counters() { return counters_; }

  // What each fragment costs besides its bytes (bookkeeping, a chunk reference).
  static constexpr size_t kFragmentOverhead = 128;

 private:
  static constexpr size_t kPiecesInline = 2;
  struct Piece {
    uint32_t offset = 0;
    uint32_t end = 0;
    bool more = false;
    PacketBuffer payload;
  };
  // Lives in its by_key_ node (one allocation per datagram, plus its pieces' vector) and is
  // linked into order_ from there; destroying it unlinks it.
  struct Datagram : boost::intrusive::list_base_hook<
                        boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
    FragmentKey key;  // a copy of its node's, to find the node from order_
    TimePoint deadline;
    TimePoint created;
    // Sorted by offset; ranges are disjoint. The first two in the node itself: a datagram of
    // two fragments (a few KB at an Ethernet MTU) allocates nothing more.
    boost::container::small_vector<Piece, kPiecesInline> pieces;
    std::optional<uint32_t> total;  // payload length, once the last fragment arrived
    size_t received = 0;
    size_t memory = 0;
    std::vector<std::byte> header;  // of the offset-0 fragment
  };
  using ByKey = std::map<FragmentKey, Datagram>;
  using Order = boost::intrusive::list<Datagram, boost::intrusive::constant_time_size<false>>;

  void drop(ByKey::iterator it, uint64_t& reason);
  void drop_oldest(uint64_t& reason);
  std::optional<TimePoint> oldest_charge() const override;
  void reclaim_oldest() override;
  void on_timer();
  void arm_timer();

  TimerWheel& timers_;
  ReassemblyOptions options_;
  ByKey by_key_;
  Order order_;  // oldest first
  size_t memory_used_ = 0;
  MemoryBudget* shared_;
  Timer timer_;
  TimeoutHandler on_timeout_;
  ReassemblyCounters counters_;
};

}  // namespace weir::ipv4
