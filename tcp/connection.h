// One TCP connection: the RFC 9293 state machine with its send and receive sides, loss
// recovery, and timers. See the theory of operation at the top of connection.cc.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "stack/demux.h"
#include "stack/protocol.h"
#include "stack/stack.h"
#include "stack/timer.h"
#include "stack/waiter.h"
#include "tcp/cc/congestion_control.h"
#include "tcp/connection_timers.h"
#include "tcp/isn.h"
#include "tcp/loss_recovery.h"
#include "tcp/receive_side.h"
#include "tcp/segment_receiver.h"
#include "tcp/send_queue.h"
#include "tcp/send_side.h"
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
// The MSS we announce on a path of this MTU, under a TCP_MAXSEG cap (0: none). A connection
// and a listener answering with a SYN cookie must announce the same.
uint16_t advertised_mss(uint32_t mtu, AddressFamily family, uint32_t max_segment);

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
  const SocketOptions& socket_options() const { return *options_; }
  // Applies changed options (TCP_NODELAY / uncorking may send at once).
  void set_socket_options(const SocketOptions& options);

  State state() const { return state_; }
  bool was_established() const { return was_established_; }
  AddressFamily family() const { return family_; }
  SocketAddress local_address() const;
  SocketAddress remote_address() const;
  uint32_t send_mss() const { return mss_; }
  uint32_t congestion_window() const;
  uint32_t send_window() const;
  uint32_t receive_window() const;
  // The send buffer in bytes: as set, or as autotuning has grown it (SO_SNDBUF).
  uint32_t send_buffer() const;
  size_t send_queue_bytes() const { return work_ ? work_->send.queue().size() : 0; }
  // What the send queue pins, as charged to the stack's socket memory.
  size_t send_queue_charged() const { return work_ ? work_->send.queue().charged() : 0; }
  SeqNum snd_una() const { return work_ ? work_->send.una() : parked_.send.una; }
  SeqNum snd_nxt() const { return work_ ? work_->send.nxt() : parked_.send.una; }
  SeqNum rcv_nxt() const { return work_ ? work_->recv.nxt() : parked_.recv.nxt; }
  SeqNum iss() const { return work_ ? work_->send.iss() : parked_.send.iss; }
  RttEstimator rtt() const;
  // Whether loss recovery's in-flight part (and the congestion controller) exists: made by the
  // first data segment, never by the handshake alone.
  bool loss_recovery_active() const { return work_ && work_->loss.active(); }
  // Whether the timers' storage is held (armed now, or the connection has carried data).
  bool holds_timer_storage() const { return timers_.holds_storage(); }
  // Whether the connection is parked: its send side, receive side and loss recovery given
  // back until the next segment, user call or timer (see the theory of operation).
  bool parked() const { return work_ == nullptr; }
  // What the receive side holds and what it is charged (tests, stats).
  const ReceiveQueue& receive_queue() const;

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
                            PacketBuffer&& payload) override;
  void handle_control(const TransportControl& control);
  bool attached() const { return user_queue_ != nullptr; }
  // Attaches a user handle whose waiters hear this connection's events; nullptr detaches.
  void set_user(WaiterQueue* queue);
  bool reapable() const { return state_ == State::kClosed && user_queue_ == nullptr; }
  // Where the protocol keeps this connection (TcpProtocol's connection vector).
  uint32_t protocol_slot() const { return protocol_slot_; }
  void set_protocol_slot(uint32_t slot) { protocol_slot_ = slot; }
  // Whether it was not queued for the protocol's reap yet (and now is).
  bool queue_for_reap() { return !std::exchange(queued_for_reap_, true); }
  void unqueue_for_reap() { queued_for_reap_ = false; }
  // In TIME-WAIT with no user left: hands the wait to a TimeWait record (tcp/time_wait.h) and
  // closes. Whether it did.
  bool retire_to_time_wait();
  void on_control(const TransportControl& control) override { handle_control(control); }

 private:
  // The ACK owed for the in-order data of the batch that just ended (ReceiveSide::AckDue).
  void on_batch_end();
  // kLinkRetry: new data waits for room in the link's queue with nothing in flight to bring
  // an ACK (hold_for_link).
  enum class TimerMode : uint8_t {
    kNone,
    kRetransmit,
    kTailLossProbe,
    kReorder,
    kPersist,
    kLinkRetry
  };

  // The parts a connection works with while it carries data or a handshake, and the data
  // statistics that come with them. It is also the task that sends the ACK a batch's end owes
  // (only a working connection owes one).
  struct Working final : BatchEndTask {
    Working(Connection& owner, SocketMemory& memory, const RtoConfig& rto)
        : owner(owner), recv(memory), loss(rto) {
      send.queue().set_account(&memory);
    }
    void on_batch_end() override { owner.on_batch_end(); }
    Connection& owner;
    SendSide send;
    ReceiveSide recv;
    LossRecovery loss;
    TimePoint last_data_sent{};
    uint64_t bytes_sent = 0;
    // The window was restarted for the idle time since last_data_sent: a send the window, cork
    // or peer then held back must not decay it a second time.
    bool restarted_after_idle = false;
    // The user found the send buffer full (Linux's SOCK_NOSPACE): the next ACK that frees room
    // may grow it (expand_send_buffer).
    bool send_buffer_full = false;
    // Whether the congestion window held sending back in the window of data that ends at
    // cwnd_usage_end, and the most sent in that window while it did not (note_cwnd_use).
    bool cwnd_limited = false;
    uint32_t max_outstanding = 0;
    SeqNum cwnd_usage_end;
    // TCP_USER_TIMEOUT's clock (Linux's retrans_stamp and icsk_probes_tstamp): when the
    // handshake began, when the data at snd.una was last sent before its first RTO, or when
    // zero-window probing began; unset once the connection makes progress again.
    TimePoint stalled_since{};
    // Send-buffer autotuning's delivery-rate sample: bytes_acked_ when it began, and when.
    uint64_t rate_sample_acked = 0;
    TimePoint rate_sample_start{};
  };
  // What a parked connection keeps of them.
  struct Parked {
    SendSide::Idle send;
    ReceiveSide::Idle recv;
    LossRecovery::Idle loss;
  };
  // The working parts, made again from the parked state if the connection is parked. Every
  // entry point that may change the parts (a segment, a timer, a user call that writes or
  // closes) calls it first.
  Working& unpark();
  // The parked state into new parts (unpark(), and info() of a parked connection).
  void restore_parked(SendSide& send, ReceiveSide& recv, LossRecovery& loss) const;
  // Gives the working parts back when an established connection has never carried data and
  // nothing but keepalive is pending. After each entry point that called unpark().
  void park_if_idle();
  // The parts, while working (callers have unparked).
  SendSide& send() { return work_->send; }
  const SendSide& send() const { return work_->send; }
  ReceiveSide& recv() { return work_->recv; }
  const ReceiveSide& recv() const { return work_->recv; }
  LossRecovery& loss() { return work_->loss; }
  const LossRecovery& loss() const { return work_->loss; }
  TcpInfo info_of(const SendSide& send, const ReceiveSide& recv, const LossRecovery& loss,
                  TimePoint last_data_sent, uint64_t bytes_sent) const;

  // setup
  void init_route_and_mss(const RouteInfo& route);
  void init_after_syn(const Options& peer);
  // The handshake has fixed the MSS and options (the controller's starting point).
  bool negotiated() const;
  // The first data segment is about to go: loss recovery's in-flight part and the controller.
  void activate_loss_recovery();
  // After a segment: a connection that has carried no data keeps no timer storage while no
  // timer is armed (the handshake's retransmission timer, once the handshake is done).
  void shed_unused_timers();
  // The payload per segment on a path of this MTU, as the peer's MSS, our own cap and the
  // timestamp option allow.
  uint32_t send_mss_for(uint32_t path_mtu) const;
  Status register_tuple();
  RouteInfo route() const;

  // input
  SegmentOutcome process_synchronized(const NetworkPacketInfo& info, const Segment& seg,
                                      const Options& opts, PacketBuffer&& payload);
  // process_synchronized()'s unusual cases, each out of the hot path (see there).
  [[gnu::cold]] bool time_wait_steps_aside(const Segment& seg, const Options& opts);
  [[gnu::cold]] bool disordered_ack(const Segment& seg, SeqNum seq, uint32_t seg_len,
                                    int32_t behind) const;
  [[gnu::cold]] SegmentOutcome drop_paws();
  [[gnu::cold]] SegmentOutcome resend_syn_ack();
  [[gnu::cold]] SegmentOutcome process_unacceptable(uint8_t flags, SeqNum seq, uint32_t seg_len,
                                                    const PacketBuffer& payload);
  [[gnu::cold]] SegmentOutcome process_reset(SeqNum seq);
  [[gnu::cold]] SegmentOutcome challenge_syn_in_window();
  [[gnu::cold]] void trim_duplicate(SeqNum& seq, PacketBuffer& payload, bool& fin);
  [[gnu::cold]] void truncate_to_window(PacketBuffer& payload, bool& fin);
  [[gnu::cold]] SegmentOutcome drop_no_ack();
  [[gnu::cold]] bool complete_passive_open(const Segment& seg, SeqNum seq);
  [[gnu::cold]] SegmentOutcome reset_on_data_after_close(size_t payload_length);
  // process_ack()'s unusual cases: an ACK of data never sent or far below snd.una (both
  // return false: the segment goes no further), an RTT sample when everything acknowledged
  // was retransmitted, our FIN acknowledged (false: the connection closed).
  [[gnu::cold]] bool drop_ack_beyond_sent();
  [[gnu::cold]] bool drop_ack_far_below();
  [[gnu::cold]] Duration fallback_rtt_sample(const Options& opts,
                                             std::optional<Duration> syn_sample) const;
  [[gnu::cold]] bool on_fin_acked();
  // A FIN at fin_seq: in order, early (held), or a repeat.
  void process_fin_flag(SeqNum fin_seq);
  void process_syn_sent(const Segment& seg, const Options& opts, PacketBuffer&& payload);
  bool process_ack(const Segment& seg, const Options& opts, uint32_t seg_len);
  void process_data(SeqNum seq, PacketBuffer&& payload);
  void process_fin();
  void update_send_window(const Segment& seg);
  void send_challenge_ack();
  LossRecovery::Policy loss_policy() const;
  // Runs the reorder timer for RACK's wait, unless it already runs.
  void arm_reorder_timer(Duration wait);

  // output
  void output();
  bool send_new_data(bool force_one);
  bool retransmit_lost();
  // Resends live record k (SendSide::retransmit).
  void retransmit_record(size_t k);
  // The most payload one transmit() may carry: one segment of seg_mss, or a GSO batch of them.
  size_t segment_limit(uint32_t seg_mss) const;
  // The payload a data segment sent now may carry: the MSS less the SACK blocks it will carry.
  uint32_t current_mss() const;
  size_t sack_block_room() const;
  void send_syn(bool with_ack);
  void send_ack();
  void send_reset(SeqNum seq, SeqNum ack, bool with_ack);
  void send_probe();  // seq = snd.una - 1, elicits an ACK (keepalive, zero window)
  // segment_size: what a GSO batch is cut into (0: the MSS).
  void transmit(uint8_t flags, SeqNum seq, PacketBuffer&& payload, bool syn_options,
                uint32_t segment_size = 0);
  // The same for a payload of at most kSmallPayloadMax bytes still in the send queue: copied
  // straight behind the header.
  void transmit_small(uint8_t flags, SeqNum seq, ByteView payload);
  SegmentHeader header_for(uint8_t flags, SeqNum seq, bool syn_options);
  // The bookkeeping of a built segment carrying `segments` segments, and handing it down.
  void send_built(uint8_t flags, size_t payload_len, uint32_t segments, PacketBuffer&& pkt);
  void fill_ack_options(Options& o);

  // timers
  friend class ConnectionTimers<Connection>;
  using TimerKind = ConnectionTimers<Connection>::Kind;
  TimerWheel& timer_wheel();
  Stack& stack() const;
  // The wheel timer fired: runs every kind that is due, earliest first.
  void on_timers_due();
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
  void terminate(Error e);  // hard error: CLOSED, error reported
  void notify(EventMask events);
  void maybe_send_window_update();
  void expand_send_buffer();
  // What autotuning grew the send buffer by, which it reserved (TcpProtocol::reserve_send_growth):
  // derived, not stored, so that a parked connection keeps its size.
  uint32_t send_buffer_growth() const;
  // Frames the route's link still queues (LinkEndpoint::transmit_room).
  size_t link_transmit_room();
  // After a send: whether the window held it back, kept for a window of data (Linux's
  // tcp_cwnd_validate), which is what lets cwnd grow (RFC 7661).
  void note_cwnd_use(bool limited);
  // Sending stopped at a full link queue: note it, and retry by timer if no ACK will come.
  void hold_for_link();
  // After the user took n bytes: grow the buffer, and tell the peer if the window opened.
  void after_read(size_t n);
  // Room in the send buffer, or why nothing can be written now.
  Result<size_t> writable_space();
  // Bytes a write may still queue as the stack's socket memory allows (SIZE_MAX: no bound).
  size_t send_memory_room() const;
  // Closed by its user and let go of: no one will read or write it again.
  bool orphaned() const { return closed_by_user_ && !attached(); }
  // At an orphan's retransmission or probe timer (Linux's tcp_out_of_resources): past the
  // stack's hard memory limit it is reset, its memory given back to the connections in use.
  bool reset_orphan_for_memory();
  // How long a closed connection waits in FIN-WAIT-2 (TCP_LINGER2, else the protocol's).
  Duration fin_wait2_timeout() const;
  // TCP_USER_TIMEOUT (zero: off).
  Duration user_timeout() const { return std::chrono::milliseconds(options_->user_timeout_ms); }
  // Whether the user timeout has run out since the stall began (never when off or not stalled).
  bool user_timed_out(TimePoint now) const;
  // A retransmission or probe timer's delay, cut so it fires when the user timeout runs out.
  Duration clamp_to_user_timeout(Duration delay) const;
  uint32_t ts_now() const;
  FourTuple tuple() const;

  TcpProtocol& protocol_;
  std::unique_ptr<Working> work_;  // null: parked
  Parked parked_;                  // while parked
  // Shared with every connection that has the same options (TcpProtocol::share_options): the
  // children of one listener, and all that keep the defaults.
  std::shared_ptr<const SocketOptions> options_;
  // The route, without the two addresses the demux id already holds (route() puts it together).
  IpAddress next_hop_;
  LinkCapabilities route_link_;  // what the route's NIC finishes for us (checksum, GSO)
  // Errors (beside the route's capabilities: they fill what its alignment leaves).
  CompactError error_;       // SO_ERROR
  CompactError soft_error_;  // ICMP errors, reported if the connection times out
  CompactError hard_error_;  // why it failed, when hard_failed_
  uint16_t probes_out_ = 0;  // unanswered zero-window or keepalive probes (saturating)
  NicId route_nic_ = 0;
  uint32_t route_mtu_ = 0;
  uint32_t protocol_slot_ = 0;
  PortTable::Handle port_handle_ = 0;  // 0: none (handles are never 0)
  WaiterQueue* user_queue_ = nullptr;
  Listener* listener_ = nullptr;

  // Negotiated in the handshake.
  uint32_t ts_offset_ = 0;
  uint32_t ts_recent_ = 0;
  TimePoint ts_recent_stamp_{};
  SeqNum last_ack_sent_;
  uint32_t mss_ = 536;  // payload bytes per segment (options excluded)
  uint32_t pmtu_ = 0;
  uint16_t peer_mss_ = 536;
  uint16_t adv_mss_ = 536;  // what we announced
  bool ws_ok_ = false;
  bool sack_ok_ = false;
  bool ts_ok_ = false;

  AddressFamily family_;
  State state_ = State::kClosed;
  TimerMode timer_mode_ = TimerMode::kNone;
  bool closed_by_user_ = false;
  bool push_once_ = false;  // uncorked: send the tail past Nagle once
  bool hard_failed_ = false;
  bool was_established_ = false;
  bool queued_for_reap_ = false;
  // Counts bounded by small options (retries, keepalive probes); saturating where they could
  // pass their width.
  uint8_t syn_retries_ = 0;
  uint8_t persist_backoff_ = 0;
  uint8_t link_retries_ = 0;  // kLinkRetry timeouts since data last went: the backoff
  uint16_t keepalive_probes_sent_ = 0;

  // Statistics for TCP_INFO that no part owns.
  TimePoint last_recv_{};
  uint64_t bytes_acked_ = 0;
  uint32_t segs_in_ = 0;
  uint32_t segs_out_ = 0;

  ConnectionTimers<Connection> timers_;  // the retransmission one runs as timer_mode_ says
};

}  // namespace weir::tcp
