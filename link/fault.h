// FaultEndpoint: wraps any endpoint and makes its link lossy, from a seed: drops, reorders,
// duplicates, delays and corrupts frames. The kernel here has no netem, so every lossy-network
// test and benchmark goes through this.
//
// Theory of operation. Each frame passing in a faulted direction (transmit: the stack's
// write_packets on its way to the inner endpoint; receive: the inner endpoint's delivery on
// its way to the stack) gets, in this order: drop? corrupt? duplicate? then a hold time =
// delay + uniform[0, jitter) + (reorder? reorder_delay : 0). Frames with no hold time pass at
// once; the others wait in a deadline-ordered queue and are released by a Timer on the
// stack's TimerWheel, so with a ManualClock they move only when the test advances the clock
// and runs the timers. Reordering is therefore "this frame is late, later ones overtake it";
// jitter reorders too, as netem's does. Each kind of fault draws from its own Rng stream
// derived from the seed, so turning one fault on does not change which frames another hits:
// for a given seed, the drop pattern over N frames is fixed.
//
// A rate (rate_bits_per_second) makes the direction a serial line: each frame waits for the
// frames before it to be clocked out at that rate, then for its own serialization time, before
// the delay above. Its queue is bounded (rate_queue_bytes, like netem's limit): a frame that
// would wait behind more than that is tail-dropped and counted.
//
// parse_fault_spec() reads the command-line form, `loss=2%,reorder=1%,dup=1%,delay=5ms,
// jitter=1ms,corrupt=0.1%,rate=100mbit,seed=N,dir=tx|rx|both`, into FaultOptions.
//
// A dropped frame counts as accepted by write_packets(), as a loss on a real wire would be;
// only frames the inner endpoint refuses are reported back. Corruption flips one random bit
// of a private copy of the frame (the network packet on transmit, as the link header is not
// yet there), never of a chunk another packet shares. A checksum must be able to catch it, as
// on a wire: with corruption on, the endpoint hides the inner link's checksum and
// segmentation offloads from the stack (it sums and segments in software), and a corrupted
// received frame loses the inner link's checksum_verified. Held frames are discarded when the
// endpoint is destroyed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "link/wrapping_endpoint.h"
#include "stack/clock.h"
#include "stack/counters.h"
#include "stack/link_endpoint.h"
#include "stack/result.h"
#include "stack/rng.h"
#include "stack/timer.h"

namespace weir::link {

enum class FaultDirection : uint8_t { kTx = 1, kRx = 2, kBoth = 3 };

struct FaultOptions {
  uint64_t seed = 1;
  // Probabilities per frame, in [0, 1].
  double drop = 0;
  double reorder = 0;
  double duplicate = 0;
  double corrupt = 0;
  Duration delay{0};                                     // every frame
  Duration jitter{0};                                    // plus uniform in [0, jitter)
  Duration reorder_delay{std::chrono::milliseconds(1)};  // extra hold of a reordered frame
  uint64_t rate_bits_per_second = 0;                     // 0: no rate limit
  uint64_t rate_queue_bytes = 1'500'000;                 // backlog a rate limit holds at most
  FaultDirection direction = FaultDirection::kBoth;
};

// Parses "key=value,..." (see the header comment); on error, *message names the bad field.
Result<FaultOptions> parse_fault_spec(std::string_view spec, std::string* message = nullptr);

#define WEIR_FAULT_COUNTERS(X)                                                                     \
  X(tx_frames)                                                                                     \
  X(tx_dropped)                                                                                    \
  X(tx_corrupted) X(tx_duplicated) X(tx_reordered) X(tx_delayed) X(tx_inner_rejected) X(rx_frames) \
      X(rx_dropped) X(rx_corrupted) X(rx_duplicated) X(rx_reordered) X(rx_delayed)                 \
          X(rx_drop_not_attached) X(tx_queue_dropped) X(rx_queue_dropped)
WEIR_DEFINE_COUNTERS(FaultCounters, WEIR_FAULT_COUNTERS)

class FaultEndpoint final : public WrappingEndpoint {
 public:
  // timers is the wheel of the stack that will own this endpoint (stack.timers()); it must
  // outlive the endpoint, which holds for the stack's own wheel.
  FaultEndpoint(std::unique_ptr<LinkEndpoint> inner, TimerWheel& timers,
                const FaultOptions& options);

  LinkCapabilities capabilities() const override;
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override;

  // Frames waiting for their release time.
  size_t held() const { return held_.size(); }
  // Releases every held frame now, in deadline order, whatever its deadline.
  void flush();

  const FaultCounters& counters() const { return counters_; }
  const FaultOptions& options() const { return options_; }

 private:

  struct Held {
    PacketBuffer pkt;
    bool transmit = false;
  };
  using HeldKey = std::pair<TimePoint, uint64_t>;  // (release time, arrival order)

  bool faulted(FaultDirection d) const {
    return (static_cast<uint8_t>(options_.direction) & static_cast<uint8_t>(d)) != 0;
  }
  // Applies the faults to pkt; appends what passes at once to `now` and holds the rest.
  void apply(PacketBuffer pkt, bool transmit, std::vector<PacketBuffer>& now);
  // Gives one copy its hold time (delay, jitter, reorder) and passes or holds it.
  void schedule(PacketBuffer frame, bool transmit, std::vector<PacketBuffer>& now);
  void on_inner_receive(PacketBuffer pkt) override;
  void pass_up(PacketBuffer pkt);
  size_t send_down(std::vector<PacketBuffer>& batch);
  void release(bool everything);
  void arm_timer();

  TimerWheel& timers_;
  FaultOptions options_;
  Rng drop_rng_;
  Rng corrupt_rng_;
  Rng duplicate_rng_;
  Rng reorder_rng_;
  Rng jitter_rng_;
  TimePoint line_free_[2]{};  // per direction (tx, rx): when the rate limit's line is idle
  std::map<HeldKey, Held> held_;
  uint64_t arrivals_ = 0;
  Timer timer_;
  FaultCounters counters_;
};

}  // namespace weir::link
