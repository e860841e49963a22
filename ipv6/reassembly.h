// IPv6 reassembly (RFC 8200 4.5, RFC 5722, RFC 6946, RFC 7112).
//
// Theory of operation. Fragments are grouped by (source, destination, identification). As in
// IPv4's reassembler (ipv4/reassembly.h), a datagram keeps its fragments in a map ordered by
// offset, overlapping fragments are refused, so the received ranges are disjoint and the
// datagram is complete exactly when its length is known and the bytes add up to it.
//
// What the IPv6 layer does before calling add() (it needs the packet to answer): an atomic
// fragment (offset 0, M clear, RFC 6946) never gets here, it is processed at once on its own;
// a fragment with M set whose length is not a multiple of 8, and one reaching past 65535 bytes
// of payload, are answered with Parameter Problem code 0; a first fragment that does not hold
// the whole header chain up to the upper-layer header is answered with Parameter Problem
// code 3 (RFC 7112). add() checks the first two again, as its own invariants.
//
// Rules here, each with its own counter:
//  - Overlap (RFC 5722): a fragment overlapping bytes already received drops the whole
//    datagram. An exact duplicate (same offset, length and M) is ignored, as in Linux.
//  - The last fragment (M clear) fixes the length; a second, different last fragment, or a
//    fragment reaching past a known end, drops the datagram.
//  - More than max_fragments fragments drop the datagram.
//  - Memory: every fragment costs what its payload pins (PacketBuffer::pinned_bytes, after
//    right_size() copied a small fragment out of a large frame), its headers and
//    kFragmentOverhead against memory_limit and
//    against the stack's shared MemoryBudget (IPv4 reassembly draws from it too): room is made
//    by dropping the oldest datagram, of either family.
//  - Timeout: a datagram not complete within `timeout` (60 s, RFC 8200 4.5) of its first
//    fragment is dropped; if its offset-0 fragment had arrived, the timeout handler gets that
//    fragment so the IPv6 layer can send Time Exceeded code 1.
// The headers that precede the first fragment's Fragment header (the unfragmentable part)
// become the reassembled packet's headers.
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

namespace weir::ipv6 {

struct ReassemblyOptions {
  size_t memory_limit = size_t{4} << 20;        // 4 MiB, Linux's ip6frag_high_thresh
  Duration timeout = std::chrono::seconds(60);  // RFC 8200 4.5, Linux's ip6frag_time
  size_t max_fragments = 128;                   // per datagram
};

#define WEIR_IPV6_REASSEMBLY_COUNTERS(X)                                                   \
  X(fragments_received)                                                                    \
  X(datagrams_reassembled)                                                                 \
  X(duplicates_ignored)                                                                    \
  X(drop_overlap) X(drop_bad_fragment_length) X(drop_inconsistent_end) X(drop_too_long)    \
      X(drop_too_many_fragments) X(drop_timeout) X(drop_memory_limit) X(datagrams_dropped) \
          X(fragments_dropped)
WEIR_DEFINE_COUNTERS(ReassemblyCounters, WEIR_IPV6_REASSEMBLY_COUNTERS)

struct FragmentKey {
  Ipv6Address source;
  Ipv6Address destination;
  uint32_t id = 0;
  auto operator<=>(const FragmentKey&) const = default;
};

// One received fragment as the IPv6 layer describes it.
struct Fragment {
  // The packet's bytes from the IPv6 header through the Fragment header.
  ByteView headers;
  // Where the next header field naming the Fragment header sits in `headers`.
  size_t next_header_field = 0;
  uint8_t next_header = 0;  // the Fragment header's: what the reassembled payload starts with
  uint32_t offset = 0;      // bytes
  bool more = false;
};

struct Reassembled {
  // The offset-0 fragment's headers through its Fragment header, as received.
  std::vector<std::byte> headers;
  size_t next_header_field = 0;
  uint8_t next_header = 0;
  PacketBuffer payload;  // the fragmentable part, fragments chained without copying
};

class Reassembler final : private MemoryBudget::Consumer {
 public:
  // shared: the budget IPv4's reassembly draws from too (may be null).
  Reassembler(TimerWheel& timers, ReassemblyOptions options = {}, MemoryBudget* shared = nullptr);
  ~Reassembler() override;
  Reassembler(const Reassembler&) = delete;
  Reassembler& operator=(const Reassembler&) = delete;

  // payload: the bytes after the Fragment header. Returns the datagram when this fragment
  // completed it.
  std::optional<Reassembled> add(const FragmentKey& key, const Fragment& fragment,
                                 PacketBuffer payload);

  // Called for a datagram that timed out after its offset-0 fragment arrived, with that
  // fragment's headers (through the Fragment header) and payload. Called after the datagram
  // is gone; may do anything but destroy the reassembler.
  using TimeoutHandler = std::function<void(ByteView headers, const PacketBuffer& payload)>;
  void set_timeout_handler(TimeoutHandler handler) { on_timeout_ = std::move(handler); }

  size_t datagram_count() const { return by_key_.size(); }
  size_t memory_used() const { return memory_used_; }
  const ReassemblyOptions& options() const { return options_; }
  const ReassemblyCounters& counters() const { return counters_; }
  ReassemblyCounters& counters() { return counters_; }

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
    TimePoint created;
    TimePoint deadline;
    // Sorted by offset; ranges are disjoint. The first two in the node itself: a datagram of
    // two fragments (a few KB at an Ethernet MTU) allocates nothing more.
    boost::container::small_vector<Piece, kPiecesInline> pieces;
    std::optional<uint32_t> total;  // payload length, once the last fragment arrived
    size_t received = 0;
    size_t memory = 0;
    std::vector<std::byte> headers;  // of the offset-0 fragment
    size_t next_header_field = 0;
    uint8_t next_header = 0;
  };
  using ByKey = std::map<FragmentKey, Datagram>;
  using Order = boost::intrusive::list<Datagram, boost::intrusive::constant_time_size<false>>;

  void drop(ByKey::iterator it, uint64_t& reason);
  void drop_oldest(uint64_t& reason);
  void on_timer();
  void arm_timer();
  std::optional<TimePoint> oldest_charge() const override;
  void reclaim_oldest() override;

  TimerWheel& timers_;
  ReassemblyOptions options_;
  MemoryBudget* shared_;
  ByKey by_key_;
  Order order_;  // oldest first
  size_t memory_used_ = 0;
  Timer timer_;
  TimeoutHandler on_timeout_;
  ReassemblyCounters counters_;
};

}  // namespace weir::ipv6
