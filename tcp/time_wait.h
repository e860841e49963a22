// TIME-WAIT without the connection, as Linux's inet_timewait_sock: once the user has let go of a
// connection in TIME-WAIT, the 2MSL wait (RFC 9293 3.10.7.4) needs only the 4-tuple, the two
// sequence numbers, the timestamp state and the port. A TimeWait record holding just
// those takes the connection's place in the demux and its port reservation, and the connection
// (with its queues, timers and loss-recovery state, about 1.4 KB) is freed at once. A server
// that closes first holds a minute of closed connections, tens of thousands under load: this
// is most of what they cost, and the freed connection memory is reused hot by the next one.
//
// What it answers, as the connection did in TIME-WAIT and as Linux's
// tcp_timewait_state_process does:
//  - a SYN clearly newer than the old incarnation (a newer timestamp, RFC 6191, or a higher
//    sequence number that PAWS does not reject, RFC 1122 4.2.2.13) ends the wait and is looked
//    up again, so a listener takes it;
//  - PAWS rejects (RFC 7323 5.3) and unacceptable segments get an ACK; a retransmitted FIN
//    (our ACK was lost) restarts the 2MSL wait;
//  - an RST at rcv.nxt ends the wait (Linux's default, tcp_rfc1337=0); an RST elsewhere in the
//    window and an in-window SYN get a challenge ACK (RFC 5961);
//  - an ACK beyond snd.nxt gets an ACK, one far below it a challenge ACK (RFC 5961 5.2).
// A connection its user still holds stays whole in TIME-WAIT (its handle may still be asked
// for its state) and hands over when the handle goes.
#pragma once

#include <boost/intrusive/list.hpp>
#include <cstdint>
#include <optional>

#include "stack/clock.h"
#include "stack/demux.h"
#include "stack/protocol.h"
#include "stack/timer.h"
#include "tcp/segment_receiver.h"
#include "tcp/seqnum.h"

namespace weir::tcp {

class TcpProtocol;

// RFC 7323 5.5: a timestamp older than this may no longer be compared with.
inline constexpr Duration kPawsIdle = std::chrono::hours(24 * 24);
// How far behind TS.Recent a synchronized connection still takes a timestamp, in ticks, as
// Linux's TCP_PAWS_WINDOW (TIME-WAIT takes none).
inline constexpr int32_t kPawsWindow = 1;

// What a connection leaving for TIME-WAIT hands over. No route: a record only ever answers a
// segment, so it answers along the route back to that segment's source.
struct TimeWaitState {
  std::optional<PortTable::Handle> port_handle;  // released when the wait ends
  SeqNum snd_nxt;                                // our FIN is acknowledged: snd.una == snd.nxt
  SeqNum rcv_nxt;                                // past the peer's FIN
  SeqNum last_ack_sent;
  uint32_t receive_window = 0;  // what is left of the window we advertised
  uint32_t max_send_window = 0;
  uint32_t ts_offset = 0;
  uint32_t ts_recent = 0;
  TimePoint ts_recent_stamp{};
  uint8_t receive_window_scale = 0;
  bool timestamps = false;
};

class TimeWait final : public SegmentReceiver {
 public:
  // A record for id, waiting until deadline; enter() puts it in the demux.
  TimeWait(TcpProtocol& protocol, const TransportEndpointId& id, TimeWaitState state,
           TimePoint deadline);
  ~TimeWait() override;
  TimeWait(const TimeWait&) = delete;
  TimeWait& operator=(const TimeWait&) = delete;

  // Takes id's place in the demux (the connection must have left it).
  Status enter();
  SegmentOutcome on_segment(const NetworkPacketInfo& info, const Segment& seg,
                            PacketBuffer&& payload) override;

 private:
  friend class TimeWaitQueue;  // ends the record when its deadline passes
  // Leaves the demux, gives the port back and asks the protocol to free this record.
  void end();
  void restart_wait();
  void send_ack(const NetworkPacketInfo& info);
  void send_challenge_ack(const NetworkPacketInfo& info);

  TcpProtocol& protocol_;
  TimeWaitState s_;
  // In the protocol's TimeWaitQueue until the wait ends.
  boost::intrusive::list_member_hook<boost::intrusive::link_mode<boost::intrusive::auto_unlink>>
      queue_hook_;
  TimePoint deadline_{};
  bool ended_ = false;
};

// Every TIME-WAIT record's deadline on one wheel timer, instead of a 64-byte timer in each: the
// records wait in deadline order (nearly always arrival order, as all wait the same 2MSL), and
// the timer runs at the first one's deadline. A record whose wait restarts moves to its place
// from the back; the timer, left early when the first record moves, re-arms when it fires.
class TimeWaitQueue {
 public:
  explicit TimeWaitQueue(TimerWheel& wheel) : wheel_(wheel), timer_([this] { expire(); }) {}
  TimeWaitQueue(const TimeWaitQueue&) = delete;
  TimeWaitQueue& operator=(const TimeWaitQueue&) = delete;

  // Puts record in line to end at deadline (moving it if it waits already).
  void schedule(TimeWait& record, TimePoint deadline);
  void remove(TimeWait& record);

 private:
  // Ends every record whose deadline has passed.
  void expire();

  using Records =
      boost::intrusive::list<TimeWait,
                             boost::intrusive::member_hook<
                                 TimeWait, decltype(TimeWait::queue_hook_), &TimeWait::queue_hook_>,
                             boost::intrusive::constant_time_size<false>>;
  TimerWheel& wheel_;
  Timer timer_;
  Records records_;  // by deadline, earliest first
};

}  // namespace weir::tcp
