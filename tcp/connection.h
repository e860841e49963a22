// One TCP connection: the RFC 9293 state machine with its send and receive sides, loss
// recovery, and timers. See the theory of operation at the top of connection.cc.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "stack/demux.h"
#include "stack/protocol.h"
#include "stack/stack.h"
#include "stack/timer.h"
#include "stack/waiter.h"
#include "tcp/cc/congestion_control.h"
#include "tcp/isn.h"
#include "tcp/rack.h"
#include "tcp/receive_queue.h"
#include "tcp/rtt_estimator.h"
#include "tcp/sack_scoreboard.h"
#include "tcp/segment_receiver.h"
#include "tcp/send_queue.h"
#include "tcp/seqnum.h"
#include "tcp/socket_options.h"
#include "tcp/syn_cookies.h"
#include "tcp/tcp_info.h"
#include "tcp/wire.h"

namespace weir::tcp {

class TcpProtocol;
class Listener;

enum class State : uint8_t {
  kClosed,
  kListen,
  kSynSent,
  kSynReceived,
  kEstablished,
  kFinWait1,
  kFinWait2,
  kCloseWait,
  kClosing,
  kLastAck,
  kTimeWait,
};
std::string_view state_name(State s);
LinuxTcpState linux_state(State s);
// The receive window scale we announce for a receive buffer that may grow to max_buffer.
uint8_t receive_window_scale(uint32_t max_buffer);

class Connection final : public SegmentReceiver {
 public:
  Connection(TcpProtocol& protocol, AddressFamily family, const SocketOptions& options);
  ~Connection() override;

  // ---- user side (through Endpoint) ----
  // Active open from local (port already reserved by the caller; handle released with the
  // connection) to remote. kInProgress on success: completion is readiness writable/error.
  Status connect(const SocketAddress& local, std::optional<PortTable::Handle> port_handle,
                 const SocketAddress& remote);
  Result<size_t> read(MutableByteView out, bool peek = false);
  Result<size_t> write(ByteView data);
  // write() without the copy: takes up to the send buffer's room from the front of data, whose
  // chunks the send queue then holds (SendQueue::append_buffer).
  Result<size_t> write_buffer(PacketBuffer& data);
  // write() with the bytes produced in place (SendQueue::append_from): up to max bytes.
  Result<size_t> write_from(size_t max, const SendQueue::Fill& fill);
  // read() without the copy: `take` gets views of up to max readable bytes and returns how
  // many it consumed. Errors, EOF (0) and kWouldBlock are read()'s.
  using Take = std::function<Result<size_t>(std::span<const ByteView>)>;
  Result<size_t> read_with(size_t max, const Take& take);
  // read() in two steps without the copy: views of up to max readable bytes (empty at EOF;
  // read()'s errors and kWouldBlock otherwise), valid until consume() or any other call that
  // reads or closes; then consume(n) drops n of them and opens the window as read() does.
  Result<std::span<const ByteView>> lend(size_t max);
  Result<size_t> consume(size_t n);
  Status shutdown(bool read, bool write);
  // Graceful close (FIN after queued data); with SO_LINGER 0 an abortive close.
  void close();
  // RST now, drop everything.
  void abort();

  EventMask readiness() const;
  std::optional<Error> take_error();
  TcpInfo info() const;
  const SocketOptions& socket_options() const { return options_; }
  // Applies changed options (TCP_NODELAY / uncorking may send at once).
  void set_socket_options(const SocketOptions& options);

  State state() const { return state_; }
  bool was_established() const { return was_established_; }
  AddressFamily family() const { return family_; }
  SocketAddress local_address() const;
  SocketAddress remote_address() const;
  uint32_t send_mss() const { return mss_; }
  uint32_t congestion_window() const;
  uint32_t send_window() const { return snd_wnd_; }
  uint32_t receive_window() const;
  size_t send_queue_bytes() const { return sendq_.size(); }
  SeqNum snd_una() const { return snd_una_; }
  SeqNum snd_nxt() const { return snd_nxt_; }
  SeqNum rcv_nxt() const { return rcv_nxt_; }
  SeqNum iss() const { return iss_; }
  const RttEstimator& rtt() const { return rtt_; }
  // What the receive side holds and what it is charged (tests, stats).
  const ReceiveQueue& receive_queue() const { return rcvq_; }

  // ---- listener side ----
  // SYN_RCVD from a SYN that arrived at listener l; sends the SYN-ACK.
  // listener is nullptr for a forwarded flow (tcp/forwarder.h): its user already holds it.
  Status accept_syn(Listener* listener, const NetworkPacketInfo& info, const Segment& syn,
                    const Options& syn_options);
  // ESTABLISHED from the ACK that returned a valid SYN cookie.
  Status accept_cookie(Listener& l, const NetworkPacketInfo& info, const Segment& ack,
                       const Options& ack_options, const CookieOptions& cookie);
  Listener* listener() const { return listener_; }
  void clear_listener() { listener_ = nullptr; }

  // ---- protocol side ----
  SegmentOutcome on_segment(const NetworkPacketInfo& info, const Segment& seg,
                            PacketBuffer payload) override;
  void handle_control(const TransportControl& control);
  bool attached() const { return user_queue_ != nullptr; }
  // Attaches a user handle whose waiters hear this connection's events; nullptr detaches.
  void set_user(WaiterQueue* queue);
  bool reapable() const { return state_ == State::kClosed && user_queue_ == nullptr; }
  void on_control(const TransportControl& control) override { handle_control(control); }

 private:
  // One transmitted (and not yet cumulatively acknowledged) range, for RACK and retransmission.
  struct SentSegment {
    SeqNum begin;
    SeqNum end;  // includes a FIN's sequence number
    TimePoint sent{};
    bool retransmitted = false;
    bool lost = false;  // marked lost, not yet retransmitted
    bool sacked = false;
  };
  enum class TimerMode : uint8_t { kNone, kRetransmit, kTailLossProbe, kReorder, kPersist };

  // setup
  void init_route_and_mss(const RouteInfo& route);
  void init_after_syn(const Options& peer);
  void allocate_buffers();
  Status register_tuple();

  // input
  SegmentOutcome process_synchronized(const NetworkPacketInfo& info, const Segment& seg,
                                      const Options& opts, PacketBuffer payload);
  void process_syn_sent(const Segment& seg, const Options& opts, PacketBuffer payload);
  bool acceptable(SeqNum seq, uint32_t length) const;
  bool process_ack(const Segment& seg, const Options& opts, uint32_t seg_len);
  void process_data(SeqNum seq, PacketBuffer payload, bool push);
  void process_fin();
  void update_send_window(const Segment& seg);
  void send_challenge_ack();
  void note_received_segment();

  // loss detection and recovery
  void on_sack_blocks(const Options& opts, uint32_t& newly_sacked, bool& dsack);
  void rack_update(const SentSegment& s, TimePoint now);
  void rack_detect_loss(TimePoint now);
  void mark_lost(SentSegment& s);
  // Cuts the sent record that holds `at` strictly inside into two at `at`.
  void split_sent_at(SeqNum at);
  void enter_recovery(bool sack_based);
  uint32_t bytes_in_flight() const;
  uint32_t outstanding() const { return static_cast<uint32_t>(snd_nxt_ - snd_una_); }

  // output
  void output();
  bool send_new_data(bool force_one);
  bool retransmit_lost();
  void retransmit_segment(SentSegment& s);
  // The most payload one transmit() may carry: the MSS, or a GSO batch of whole MSS segments.
  size_t segment_limit() const;
  void send_syn(bool with_ack);
  void send_ack();
  void send_reset(SeqNum seq, SeqNum ack, bool with_ack);
  void send_probe();  // seq = snd.una - 1, elicits an ACK (keepalive, zero window)
  void transmit(uint8_t flags, SeqNum seq, PacketBuffer payload, bool syn_options);
  uint16_t advertised_window();
  // Free receive buffer, clamped under the stack's memory pressure (counted when count).
  uint32_t receive_space(bool count);
  void fill_ack_options(Options& o);
  bool fin_ready() const;

  // timers
  void arm_retransmit_timer();
  void arm_loss_timer();
  void on_rexmit_timer();
  void on_rto();
  void on_tlp();
  void on_delack_timer();
  void on_aux_timer();  // keepalive, FIN_WAIT_2, TIME_WAIT
  void schedule_ack(bool quick);
  void restart_keepalive();
  void enter_time_wait();
  void enter_state(State s);
  void set_error(Error e);
  void terminate(Error e);  // hard error: CLOSED, error reported
  void notify(EventMask events);
  void maybe_send_window_update();
  void autotune_receive_buffer(size_t copied);
  // Room in the send buffer, or why nothing can be written now.
  Result<size_t> writable_space();
  uint32_t ts_now() const;
  FourTuple tuple() const;

  TcpProtocol& protocol_;
  Stack& stack_;
  AddressFamily family_;
  SocketOptions options_;
  State state_ = State::kClosed;
  WaiterQueue* user_queue_ = nullptr;
  bool closed_by_user_ = false;
  bool ack_now_ = false;
  bool push_once_ = false;  // uncorked: send the tail past Nagle once
  Listener* listener_ = nullptr;
  std::optional<PortTable::Handle> port_handle_;
  RouteInfo route_;
  LinkCapabilities route_link_;  // what the route's NIC finishes for us (checksum, GSO)

  // Send sequence space (RFC 9293 3.3.1).
  SeqNum iss_;
  SeqNum snd_una_;
  SeqNum snd_nxt_;  // also the highest sent: retransmissions never move it back
  // End of the last segment sent shorter than the MSS (Linux's snd_sml): Minshall's Nagle.
  SeqNum last_small_end_;
  bool small_segment_in_flight() const {
    return last_small_end_ > snd_una_ && last_small_end_ <= snd_nxt_;
  }
  SeqNum snd_wl1_;
  SeqNum snd_wl2_;
  uint32_t snd_wnd_ = 0;
  uint32_t max_snd_wnd_ = 0;
  uint8_t snd_wscale_ = 0;
  // Receive sequence space.
  SeqNum irs_;
  SeqNum rcv_nxt_;
  SeqNum rcv_adv_;  // right edge of the window we advertised: never moves left (RFC 9293)
  uint8_t rcv_wscale_ = 0;
  uint32_t rcv_buf_ = 0;  // current receive buffer (auto-tuned)
  uint32_t snd_buf_ = 0;

  // Negotiated.
  bool ws_ok_ = false;
  bool sack_ok_ = false;
  bool ts_ok_ = false;
  uint32_t ts_offset_ = 0;
  uint32_t ts_recent_ = 0;
  TimePoint ts_recent_stamp_{};
  SeqNum last_ack_sent_;
  uint16_t peer_mss_ = 536;
  uint32_t mss_ = 536;      // payload bytes per segment (options excluded)
  uint16_t adv_mss_ = 536;  // what we announced
  uint32_t pmtu_ = 0;

  SendQueue sendq_;
  ReceiveQueue rcvq_;
  std::vector<ByteView> lent_;  // read_with()'s and lend()'s views, kept to reuse their storage
  std::vector<SentSegment> sent_;  // ascending by begin; [sent_head_, end) are live
  size_t sent_head_ = 0;
  bool fin_queued_ = false;  // user shut down writing: FIN follows the queued data
  bool fin_sent_ = false;
  bool fin_received_ = false;
  bool read_shutdown_ = false;
  std::optional<SeqNum> ooo_fin_;  // a FIN that arrived beyond a gap

  // Retransmission and congestion control.
  RttEstimator rtt_;
  std::unique_ptr<CongestionControl> cc_;
  SackScoreboard scoreboard_;
  uint32_t lost_bytes_ = 0;  // marked lost and not yet retransmitted
  unsigned consecutive_rtos_ = 0;
  unsigned syn_retries_ = 0;
  bool in_recovery_ = false;
  bool in_loss_ = false;  // recovering after an RTO
  SeqNum recovery_point_;
  uint32_t dupacks_ = 0;
  std::optional<std::pair<SeqNum, TimePoint>> rtt_probe_;  // our SYN's send time
  // RACK-TLP (RFC 8985): the detection state lives in the Rack component.
  Rack rack_;
  SeqNum fack_;  // highest delivered end: records above it (never resent) cannot be RACK-lost
  std::optional<uint32_t> ack_tsecr_;  // TSecr of the ACK being processed
  // TLP.
  TimerMode timer_mode_ = TimerMode::kNone;
  unsigned persist_backoff_ = 0;
  unsigned keepalive_probes_sent_ = 0;
  unsigned probes_out_ = 0;

  // ACK generation.
  uint32_t unacked_segments_ = 0;  // in-order data segments received and not yet ACKed
  uint32_t quick_acks_left_ = 16;  // RFC 1122 allows delaying; start quick like Linux
  uint32_t last_adv_window_ = 0;

  // Auto-tuning (receive side, Linux DRS style).
  size_t copied_in_round_ = 0;
  TimePoint round_start_{};

  // Errors and events.
  std::optional<Error> error_;       // SO_ERROR
  std::optional<Error> soft_error_;  // ICMP errors, reported if the connection times out
  Error hard_error_ = Error::kNotConnected;
  bool hard_failed_ = false;
  bool was_established_ = false;

  // Statistics for TCP_INFO.
  TimePoint last_recv_{};
  TimePoint last_data_sent_{};
  TimePoint last_data_recv_{};
  uint64_t bytes_acked_ = 0;
  uint64_t bytes_received_ = 0;
  uint64_t bytes_sent_ = 0;
  uint64_t bytes_retrans_ = 0;
  uint32_t segs_in_ = 0;
  uint32_t segs_out_ = 0;
  uint32_t total_retrans_ = 0;
  uint32_t dsack_dups_ = 0;
  uint32_t ooo_packets_ = 0;

  Timer rexmit_timer_;  // RTO, TLP, RACK reorder or persist (one at a time, as timer_mode_)
  Timer delack_timer_;
  Timer aux_timer_;  // keepalive, FIN_WAIT_2 or TIME_WAIT
};

}  // namespace weir::tcp
