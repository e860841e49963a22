// Theory of operation.
//
// A Connection is one TCP control block. Input arrives through on_segment() (already demuxed,
// checksummed and parsed), output leaves through transmit(), and time enters through three
// timers owned by the connection (so destroying it cancels them): the retransmission timer,
// which at any moment runs in one mode (RTO, tail loss probe, RACK reorder window, or persist),
// the delayed-ACK timer, and an auxiliary timer for keepalive, FIN_WAIT_2 and TIME_WAIT.
//
// Input follows RFC 9293 3.10.7 in order: PAWS (RFC 7323), sequence acceptability, RST (with
// RFC 5961 challenge ACKs for in-window resets), SYN (challenge ACK), ACK (window update,
// cumulative ACK, SACK, loss detection), data, FIN. After input, output() sends what the
// windows allow and decides whether an ACK is due; an ACK rides on data whenever there is any.
//
// The control block is split into parts with one job each, so each can be read (and later
// allocated) on its own; the Connection owns them, runs the state machine and the timers, and
// builds every segment, passing each part only what it needs (no part points back at it):
//
// - SendSide (tcp/send_side.h) keeps user bytes in the SendQueue (from snd.una), the send
//   sequence space and the peer's window, and one SentSegment record per transmitted range with
//   its send time and lost/SACKed marks; retransmissions re-slice the same bytes out of the
//   SendQueue. snd.nxt never moves back: an RTO marks every outstanding record lost and they are
//   resent as the congestion window opens again, as in Linux.
// - LossRecovery (tcp/loss_recovery.h) decides which records are lost: the SACK scoreboard says
//   which ranges the peer holds, RACK (RFC 8985) compares send times, with the RFC 6675 and
//   NewReno fallbacks; it keeps the RTT estimate, the recovery episode and the congestion
//   controller (behind the CongestionControl interface). It marks; the Connection resends.
// - ReceiveSide (tcp/receive_side.h) keeps payloads as received unless they pin far more memory
//   than their size, holds at most about twice its buffer in charged memory (ReceiveQueue),
//   advertises a window that never shrinks (its right edge only moves right), avoids silly
//   windows, grows the buffer with the reader, and decides when an ACK is due: every second
//   segment or after the delayed-ACK timeout, at once on reordering, gaps and D-SACKs.
//
// Parking. Most of a server's or a proxy's connections sit open and idle. An ESTABLISHED
// connection that has never carried data and owes nothing (no ACK, no FIN, no timer but
// keepalive) gives its three parts back and keeps what they would be made from (Parked: the
// sequence numbers, windows, buffer sizes and the RTT estimate, ~100 bytes against ~380).
// Every entry point that may change a part (a segment, a timer, a user call that writes,
// shuts down or closes, an option change) makes them again first (unpark()) and offers to
// park after (park_if_idle()); reads that find nothing, readiness and TCP_INFO answer from the
// parked state without making anything. A connection that has carried data keeps its parts:
// request/response traffic should not pay for making them on every message.
//
// Urgent data: the urgent pointer is parsed and ignored; urgent bytes are delivered inline
// with the rest of the stream (as with SO_OOBINLINE). We never send URG.
#include "tcp/connection.h"

#include <algorithm>
#include <utility>

#include "stack/stack.h"
#include "tcp/cc/window.h"
#include "tcp/listener.h"
#include "tcp/tcp.h"
#include "tcp/time_wait.h"

namespace weir::tcp {
namespace {

constexpr uint32_t kMinMss = 64;
constexpr Duration kMaxPersist = std::chrono::seconds(60);
// How soon new data held back by a full link queue, with nothing in flight, tries again.
constexpr Duration kLinkRetry = std::chrono::milliseconds(1);

size_t ip_header_length(AddressFamily f) { return f == AddressFamily::kIpv4 ? 20 : 40; }

// Payload bytes a segment may carry on a path of this MTU (IPv4 total length tops out at
// 65535, so a 64 KiB loopback MTU still means MSS 65495).
uint32_t mss_for_mtu(uint32_t mtu, AddressFamily f) {
  uint32_t packet = std::min<uint32_t>(mtu, 65535);
  auto headers = static_cast<uint32_t>(ip_header_length(f) + kMinHeaderLength);
  return packet > headers + kMinMss ? packet - headers : kMinMss;
}

}  // namespace

std::string_view state_name(State s) {
  switch (s) {
    case State::kClosed:
      return "CLOSED";
    case State::kListen:
      return "LISTEN";
    case State::kSynSent:
      return "SYN-SENT";
    case State::kSynReceived:
      return "SYN-RECEIVED";
    case State::kEstablished:
      return "ESTABLISHED";
    case State::kFinWait1:
      return "FIN-WAIT-1";
    case State::kFinWait2:
      return "FIN-WAIT-2";
    case State::kCloseWait:
      return "CLOSE-WAIT";
    case State::kClosing:
      return "CLOSING";
    case State::kLastAck:
      return "LAST-ACK";
    case State::kTimeWait:
      return "TIME-WAIT";
  }
  return "?";
}

LinuxTcpState linux_state(State s) {
  switch (s) {
    case State::kClosed:
      return LinuxTcpState::kClose;
    case State::kListen:
      return LinuxTcpState::kListen;
    case State::kSynSent:
      return LinuxTcpState::kSynSent;
    case State::kSynReceived:
      return LinuxTcpState::kSynRecv;
    case State::kEstablished:
      return LinuxTcpState::kEstablished;
    case State::kFinWait1:
      return LinuxTcpState::kFinWait1;
    case State::kFinWait2:
      return LinuxTcpState::kFinWait2;
    case State::kCloseWait:
      return LinuxTcpState::kCloseWait;
    case State::kClosing:
      return LinuxTcpState::kClosing;
    case State::kLastAck:
      return LinuxTcpState::kLastAck;
    case State::kTimeWait:
      return LinuxTcpState::kTimeWait;
  }
  return LinuxTcpState::kClose;
}

uint16_t advertised_mss(uint32_t mtu, AddressFamily family, uint32_t max_segment) {
  uint32_t limit = mss_for_mtu(mtu, family);
  if (max_segment != 0) limit = std::min<uint32_t>(limit, max_segment);
  return static_cast<uint16_t>(std::max(limit, kMinMss));
}

uint8_t receive_window_scale(uint32_t max_buffer) {
  uint8_t s = 0;
  while (s < kMaxWindowScale && (uint64_t{65535} << s) < max_buffer) ++s;
  return s;
}

Connection::Connection(TcpProtocol& protocol, AddressFamily family, const SocketOptions& options)
    : protocol_(protocol),
      work_(std::make_unique<Working>(*this, protocol.stack().socket_memory(),
                                      protocol.options().rto)),
      options_(protocol.share_options(options)),
      family_(family) {
  stack().socket_memory().add_socket();
}

Connection::~Connection() {
  protocol_.release_send_growth(send_buffer_growth());
  stack().socket_memory().remove_socket();
  if (in_demux()) stack().demux().remove(*this);
  if (port_handle_ != 0) stack().ports().release(port_handle_);
  if (listener_ != nullptr) listener_->child_closed(*this);
}

void Connection::set_user(WaiterQueue* queue) { user_queue_ = queue; }

FourTuple Connection::tuple() const {
  return FourTuple{demux_id_.local_address, demux_id_.local_port, demux_id_.remote_address,
                   demux_id_.remote_port};
}

SocketAddress Connection::local_address() const {
  return SocketAddress{demux_id_.local_address, demux_id_.local_port};
}
SocketAddress Connection::remote_address() const {
  return SocketAddress{demux_id_.remote_address, demux_id_.remote_port};
}

Stack& Connection::stack() const { return protocol_.stack(); }

TimerWheel& Connection::timer_wheel() { return stack().timers(); }

RttEstimator Connection::rtt() const {
  if (work_) return work_->loss.rtt();
  return RttEstimator::restored(parked_.loss.rtt, protocol_.options().rto);
}

uint32_t Connection::send_window() const { return work_ ? send().window() : parked_.send.wnd; }

uint32_t Connection::send_buffer() const { return work_ ? send().buffer() : parked_.send.buffer; }

uint32_t Connection::receive_window() const {
  if (work_) return recv().window();
  const ReceiveSide::Idle& r = parked_.recv;
  return r.adv > r.nxt ? static_cast<uint32_t>(r.adv - r.nxt) : 0;
}

const ReceiveQueue& Connection::receive_queue() const {
  static const ReceiveQueue kNothing;
  return work_ ? recv().queue() : kNothing;
}

Connection::Working& Connection::unpark() {
  if (work_) return *work_;
  work_ = std::make_unique<Working>(*this, stack().socket_memory(), protocol_.options().rto);
  restore_parked(work_->send, work_->recv, work_->loss);
  return *work_;
}

void Connection::restore_parked(SendSide& send, ReceiveSide& recv, LossRecovery& loss) const {
  send.restore(parked_.send);
  recv.restore(parked_.recv);
  loss.restore(parked_.loss);
}

void Connection::park_if_idle() {
  // A connection that has sent data never parks: tested first, it is the hot paths' answer.
  // Only ESTABLISHED parks: every other state has a timer, a FIN or a handshake to finish.
  if (!work_ || work_->bytes_sent != 0 || state_ != State::kEstablished ||
      timer_mode_ != TimerMode::kNone || push_once_ || timers_.armed(TimerKind::kRetransmit) ||
      timers_.armed(TimerKind::kDelayedAck)) {
    return;
  }
  const Working& w = *work_;
  if (!w.send.idle() || !w.recv.idle() || !w.loss.idle()) return;
  parked_ = Parked{w.send.idle_state(), w.recv.idle_state(), w.loss.idle_state()};
  work_.reset();
}

uint32_t Connection::congestion_window() const {
  if (const CongestionControl* cc = work_ ? loss().cc() : nullptr) return cc->cwnd();
  // Negotiated but no data sent yet: the window the controller will start with.
  return negotiated() ? CongestionControlOptions{}.initial_window_segments * mss_ : 0;
}

void Connection::shed_unused_timers() {
  if (!work_ || (!loss().active() && recv().bytes_received() == 0)) timers_.release_if_unarmed();
}

bool Connection::negotiated() const { return was_established_ || state_ == State::kSynReceived; }

void Connection::activate_loss_recovery() {
  CongestionControlOptions cco;
  cco.mss = mss_;
  // Cannot fail: mss_ is at least kMinMss and the initial window is RFC 6928's.
  auto cc = make_congestion_control(protocol_.options().congestion_control, cco);
  loss().activate(cc ? std::move(*cc) : nullptr,
                  ts_ok_ ? std::optional<uint32_t>(ts_offset_) : std::nullopt);
}

uint32_t Connection::ts_now() const {
  return static_cast<uint32_t>(to_millis(stack().now().time_since_epoch())) + ts_offset_;
}

// ---------------------------------------------------------------------------------------------
// Setup

RouteInfo Connection::route() const {
  return RouteInfo{
      route_nic_, demux_id_.local_address, demux_id_.remote_address, next_hop_, route_mtu_, false};
}

void Connection::init_route_and_mss(const RouteInfo& route) {
  route_nic_ = route.nic;
  next_hop_ = route.next_hop;
  route_mtu_ = route.mtu;
  if (const Nic* nic = stack().nic(route.nic); nic != nullptr)
    route_link_ = nic->endpoint().capabilities();
  pmtu_ = route.mtu;
  adv_mss_ = advertised_mss(route.mtu, family_, options_->max_segment);
  const TcpOptions& po = protocol_.options();
  recv().set_buffer(options_->receive_buffer != 0 ? options_->receive_buffer : po.receive_buffer);
  send().set_buffer(options_->send_buffer != 0 ? options_->send_buffer : po.send_buffer);
  uint32_t max_rcv =
      options_->receive_buffer != 0 ? options_->receive_buffer : po.receive_buffer_max;
  recv().set_window_scale(po.window_scaling ? receive_window_scale(max_rcv) : 0);
}

void Connection::init_after_syn(const Options& peer) {
  const TcpOptions& po = protocol_.options();
  peer_mss_ = peer.mss.value_or(family_ == AddressFamily::kIpv4 ? 536 : 1220);
  ws_ok_ = po.window_scaling && peer.window_scale.has_value();
  if (ws_ok_) {
    send().set_window_scale(std::min(*peer.window_scale, kMaxWindowScale));
  } else {
    send().set_window_scale(0);
    recv().set_window_scale(0);
  }
  sack_ok_ = po.sack && peer.sack_permitted;
  ts_ok_ = po.timestamps && peer.timestamps.has_value();
  if (ts_ok_) {
    ts_recent_ = peer.timestamps->value;
    ts_recent_stamp_ = stack().now();
  }
  mss_ = send_mss_for(pmtu_);
  // The congestion controller comes with the first data segment (activate_loss_recovery).
}

uint32_t Connection::send_mss_for(uint32_t path_mtu) const {
  uint32_t mss = std::min<uint32_t>(peer_mss_, mss_for_mtu(path_mtu, family_));
  if (options_->max_segment != 0) mss = std::min<uint32_t>(mss, options_->max_segment);
  if (ts_ok_ && mss > 12) mss -= 12;  // the timestamp option rides on every segment
  return std::max(mss, kMinMss);
}

Status Connection::register_tuple() { return stack().demux().add(*this, demux_id_); }

Status Connection::connect(const SocketAddress& local, std::optional<PortTable::Handle> port_handle,
                           const SocketAddress& remote) {
  if (state_ != State::kClosed || was_established_ || hard_failed_) {
    if (port_handle) stack().ports().release(*port_handle);
    return state_ == State::kSynSent ? Error::kAlready : Error::kAlreadyConnected;
  }
  port_handle_ = port_handle.value_or(0);
  auto route = stack().find_route(remote.address, local.address);
  if (!route) return route.error();
  init_route_and_mss(*route);
  demux_id_ =
      TransportEndpointId{local.address.is_unspecified() ? route->local_address : local.address,
                          remote.address, local.port, remote.port};
  if (auto st = register_tuple(); !st) return st.error();
  SeqNum iss = generate_isn(stack().secret(), tuple(), stack().now());
  ts_offset_ = timestamp_offset(stack().secret(), tuple());
  send().start(iss, iss, iss + 1);
  protocol_.counters().active_opens++;
  enter_state(State::kSynSent);
  loss().time_syn(iss, stack().now());
  work_->stalled_since = stack().now();  // TCP_USER_TIMEOUT also bounds the handshake
  send_syn(false);
  arm_retransmit_timer();
  return Error::kInProgress;
}

Status Connection::accept_syn(Listener* listener, const NetworkPacketInfo& info, const Segment& syn,
                              const Options& syn_options) {
  auto route = protocol_.route_back(info);
  if (!route) return route.error();
  init_route_and_mss(*route);
  demux_id_ =
      TransportEndpointId{info.destination, info.source, syn.destination_port(), syn.source_port()};
  if (auto st = register_tuple(); !st) return st.error();
  listener_ = listener;
  recv().start(syn.seq());
  SeqNum iss = generate_isn(stack().secret(), tuple(), stack().now());
  ts_offset_ = timestamp_offset(stack().secret(), tuple());
  send().start(iss, iss, iss + 1);
  init_after_syn(syn_options);
  send().set_window(syn.window(), syn.seq(), iss);  // never scaled in a SYN
  protocol_.counters().passive_opens++;
  enter_state(State::kSynReceived);
  loss().time_syn(iss, stack().now());
  work_->stalled_since = stack().now();
  send_syn(true);
  arm_retransmit_timer();
  return ok_status();
}

Status Connection::accept_cookie(Listener& l, const NetworkPacketInfo& info, const Segment& ack,
                                 const Options& ack_options, const CookieOptions& cookie) {
  auto route = stack().find_route(info.source, info.destination, info.nic);
  if (!route) return route.error();
  init_route_and_mss(*route);
  demux_id_ =
      TransportEndpointId{info.destination, info.source, ack.destination_port(), ack.source_port()};
  if (auto st = register_tuple(); !st) return st.error();
  listener_ = &l;
  recv().start(ack.seq() - 1);
  ts_offset_ = timestamp_offset(stack().secret(), tuple());
  send().start(ack.ack() - 1, ack.ack(), ack.ack());
  // What the SYN carried, as the cookie remembered it.
  Options peer;
  peer.mss = cookie.mss;
  peer.window_scale = cookie.window_scale;
  peer.sack_permitted = cookie.sack_permitted;
  if (cookie.timestamps && ack_options.timestamps) peer.timestamps = ack_options.timestamps;
  init_after_syn(peer);
  // The SYN-ACK announced the window unscaled; from now on the peer applies our scale.
  (void)recv().syn_window();
  send().set_window(uint32_t{ack.window()} << send().window_scale(), ack.seq(), ack.ack());
  last_recv_ = stack().now();
  protocol_.counters().passive_opens++;
  enter_state(State::kEstablished);
  restart_keepalive();
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
// User calls

Result<size_t> Connection::read(MutableByteView out, bool peek) {
  // Parked: nothing to read, no FIN, not shut for reading (so no unpark for a poll's read).
  if (work_ && recv().queue().readable() > 0 && !recv().read_shut()) {
    if (peek) return recv().queue().peek(out);
    size_t n = recv().queue().read(out);
    after_read(n);
    return n;
  }
  if (error_) {
    Error e = *error_;
    error_.reset();
    return e;
  }
  if (work_ && (recv().read_shut() || recv().fin_received())) return size_t{0};
  switch (state_) {
    case State::kClosed:
      return was_established_ ? Result<size_t>(size_t{0}) : Result<size_t>(Error::kNotConnected);
    case State::kSynSent:
    case State::kSynReceived:
    case State::kEstablished:
    case State::kFinWait1:
    case State::kFinWait2:
      return Error::kWouldBlock;
    default:
      return size_t{0};
  }
}

Result<size_t> Connection::writable_space() {
  if (error_) {
    Error e = *error_;
    error_.reset();
    return e;
  }
  switch (state_) {
    case State::kSynSent:
    case State::kSynReceived:
      return Error::kWouldBlock;
    case State::kEstablished:
    case State::kCloseWait:
      break;
    case State::kClosed:
      if (hard_failed_) return hard_error_.value_or(Error::kNotConnected);
      return was_established_ ? Error::kBrokenPipe : Error::kNotConnected;
    default:
      return Error::kBrokenPipe;
  }
  SendSide& send = unpark().send;
  if (send.fin_queued()) return Error::kBrokenPipe;
  size_t space = send.buffer() > send.queue().size() ? send.buffer() - send.queue().size() : 0;
  if (space == 0) {
    work_->send_buffer_full = true;
    return Error::kWouldBlock;
  }
  if (const uint32_t lowat = options_->notsent_lowat; lowat != 0) {
    // TCP_NOTSENT_LOWAT: no more than lowat bytes wait unsent (Linux's tcp_stream_memory_free).
    const size_t unsent = send.unsent();
    if (unsent >= lowat) return Error::kWouldBlock;
    space = std::min<size_t>(space, lowat - unsent);
  }
  const size_t memory_room = send_memory_room();
  if (memory_room == 0) {
    // Nothing is lost: the queue holds data, whose ACK frees memory and wakes the writer.
    if (stack().socket_memory().over_hard_limit()) {
      protocol_.counters().write_refused_hard_limit++;
      stack().socket_memory().note_refused();
    } else {
      protocol_.counters().write_refused_pressure++;
    }
    return Error::kWouldBlock;
  }
  return std::min(space, memory_room);
}

// Send memory as Linux's __sk_mem_raise_allocated grants it to a stream socket: anything below
// the pressure level; under pressure, as much as keeps the connection (both queues) within its
// fair share of the hard limit; nothing past the hard limit. Whatever the stack holds, a
// connection may queue up to a small floor (Linux's tcp_wmem[0]), so each still makes progress,
// and its ACKs, which free memory, are what wakes a writer it refused.
size_t Connection::send_memory_room() const {
  const SocketMemory& memory = stack().socket_memory();
  if (!memory.under_pressure() && !memory.over_hard_limit()) {
    const size_t max = memory.limits().max;
    return memory.used() < max ? max - memory.used() : 0;
  }
  constexpr size_t kFloor = 4096;
  const size_t pinned = send().queue().charged();
  size_t room = pinned < kFloor ? kFloor - pinned : 0;
  const size_t max = memory.limits().max;
  if (memory.used() >= max) return room;
  size_t grant = max - memory.used();
  if (memory.under_pressure()) {
    const size_t own = pinned + recv().queue().charged();
    grant = std::min(grant, memory.fair_share() > own ? memory.fair_share() - own : 0);
  }
  return std::max(room, grant);
}

Result<size_t> Connection::write(ByteView data) {
  auto space = writable_space();
  if (!space)
    return space.error() == Error::kWouldBlock && data.empty() ? Result<size_t>(size_t{0}) : space;
  if (data.empty()) {
    park_if_idle();
    return size_t{0};
  }
  size_t n = send().queue().append(data, *space);
  output();
  return n;
}

Result<size_t> Connection::write_buffer(PacketBuffer& data) {
  auto space = writable_space();
  if (!space)
    return space.error() == Error::kWouldBlock && data.empty() ? Result<size_t>(size_t{0}) : space;
  if (data.empty()) {
    park_if_idle();
    return size_t{0};
  }
  size_t n = send().queue().append_buffer(data, *space);
  output();
  return n;
}

Result<size_t> Connection::write_from(size_t max, const SendQueue::Fill& fill) {
  auto space = writable_space();
  if (!space) return space;
  auto n = send().queue().append_from(std::min(max, *space), fill);
  if (n && *n > 0) output();
  park_if_idle();
  return n;
}

Result<size_t> Connection::read_with(size_t max, const Take& take) {
  if (!work_ || recv().queue().readable() == 0 || recv().read_shut()) {
    std::array<std::byte, 1> none;
    return read(MutableByteView(none).first(0), false);
  }
  recv().lent().clear();
  recv().queue().lend(max, recv().lent());
  auto n = take(recv().lent());
  if (!n || *n == 0) return n;
  size_t taken = recv().queue().discard(*n);
  after_read(taken);
  return taken;
}

Result<std::span<const ByteView>> Connection::lend(size_t max) {
  if (work_) recv().lent().clear();
  if (!work_ || recv().queue().readable() == 0 || recv().read_shut()) {
    std::array<std::byte, 1> none;
    auto r = read(MutableByteView(none).first(0), false);
    if (!r) return r.error();
    return std::span<const ByteView>();  // end of stream
  }
  recv().queue().lend(max, recv().lent());
  return std::span<const ByteView>(recv().lent());
}

Result<size_t> Connection::consume(size_t n) {
  if (!work_) return size_t{0};  // parked: nothing lent, nothing to consume
  recv().lent().clear();
  if (recv().read_shut()) return size_t{0};
  size_t taken = recv().queue().discard(n);
  if (taken == 0) return taken;
  after_read(taken);
  return taken;
}

Status Connection::shutdown(bool read, bool write) {
  if (state_ == State::kClosed || state_ == State::kListen) return Error::kNotConnected;
  unpark();
  if (read) {
    recv().shut_read();
    recv().queue().discard(recv().queue().readable());
    notify(kEventReadable);
  }
  if (write && !send().fin_queued()) {
    switch (state_) {
      case State::kSynSent:
        // Nothing sent yet: the FIN goes out once the handshake completes.
        send().queue_fin();
        break;
      case State::kSynReceived:
      case State::kEstablished:
        send().queue_fin();
        enter_state(State::kFinWait1);
        output();
        break;
      case State::kCloseWait:
        send().queue_fin();
        enter_state(State::kLastAck);
        output();
        break;
      default:
        break;
    }
  }
  return ok_status();
}

void Connection::close() {
  if (closed_by_user_) return;
  closed_by_user_ = true;
  unpark();
  recv().shut_read();
  if (options_->linger && options_->linger->count() == 0) {
    abort();
    return;
  }
  // RFC 2525 2.17: closing with unread data resets, so the peer learns data was lost.
  if (recv().queue().readable() > 0) {
    abort();
    return;
  }
  // Data beyond a hole can no longer reach a reader: give its memory back to the stack now
  // rather than when the connection finally goes (SACK is advisory, RFC 2018 8).
  recv().queue().clear();
  switch (state_) {
    case State::kSynSent:
      enter_state(State::kClosed);
      return;
    case State::kFinWait2:
      if (options_->linger2 < 0) {
        abort();  // TCP_LINGER2 < 0: no wait for the peer's FIN (Linux's tcp_close)
        return;
      }
      timers_.arm_after(*this, TimerKind::kAux, fin_wait2_timeout());
      return;
    default:
      break;
  }
  (void)shutdown(false, true);
}

void Connection::abort() {
  unpark();
  switch (state_) {
    case State::kSynReceived:
    case State::kEstablished:
    case State::kFinWait1:
    case State::kFinWait2:
    case State::kCloseWait:
      send_reset(send().nxt(), recv().nxt(), true);
      protocol_.counters().connections_aborted++;
      break;
    default:
      break;
  }
  closed_by_user_ = true;
  send().queue().clear();
  recv().queue().clear();
  if (state_ != State::kClosed)
    enter_state(State::kClosed);
  else
    protocol_.connection_closed(*this);
}

EventMask Connection::readiness() const {
  EventMask m = 0;
  if (error_) m |= kEventError;
  switch (state_) {
    case State::kClosed:
      if (was_established_ || hard_failed_) m |= kEventHangup | kEventReadable | kEventWritable;
      return m;
    case State::kSynSent:
    case State::kSynReceived:
      return m;
    default:
      break;
  }
  if (!work_) {
    // Parked: established, nothing queued either way, no FIN.
    if (parked_.send.buffer > 0) m |= kEventWritable;
    return m;
  }
  if (recv().queue().readable() > 0 || recv().fin_received() || recv().read_shut())
    m |= kEventReadable;
  if (recv().fin_received()) m |= kEventReadHangup;
  if ((state_ == State::kEstablished || state_ == State::kCloseWait) && !send().fin_queued() &&
      send().queue().size() < send().buffer() && send_memory_room() > 0 &&
      (options_->notsent_lowat == 0 || 2 * send().unsent() < options_->notsent_lowat)) {
    m |= kEventWritable;
  }
  if (recv().fin_received() && send().fin_queued()) m |= kEventHangup;
  return m;
}

std::optional<Error> Connection::take_error() {
  auto e = error_.get();
  error_.reset();
  return e;
}

void Connection::set_socket_options(const SocketOptions& options) {
  bool push = (options_->no_delay != options.no_delay && options.no_delay) ||
              (options_->cork && !options.cork);
  // Uncorking pushes what is queued at once, past Nagle, as Linux does.
  push_once_ = options_->cork && !options.cork;
  bool keepalive_changed = options_->keepalive != options.keepalive ||
                           options_->keepalive_idle != options.keepalive_idle;
  // A higher (or no) unsent limit may let a waiting writer go on (Linux wakes it).
  const uint32_t old_lowat = options_->notsent_lowat;
  const bool lowat_raised =
      old_lowat != 0 && (options.notsent_lowat == 0 || options.notsent_lowat > old_lowat);
  // A buffer the user sets replaces the grown one.
  if (options.send_buffer != 0) protocol_.release_send_growth(send_buffer_growth());
  options_ = protocol_.share_options(options);
  unpark();
  if (options.receive_buffer != 0 && state_ != State::kClosed) {
    recv().set_buffer(
        std::max<uint32_t>(options.receive_buffer, recv().buffer() > 0 ? 2 * kMinMss : 0));
  }
  if (options.send_buffer != 0) send().set_buffer(options.send_buffer);
  if (keepalive_changed) restart_keepalive();
  if (push) output();
  push_once_ = false;
  if (lowat_raised && (readiness() & kEventWritable)) notify(kEventWritable);
  park_if_idle();
}

TcpInfo Connection::info() const {
  if (work_)
    return info_of(work_->send, work_->recv, work_->loss, work_->last_data_sent, work_->bytes_sent);
  // Parked: answer from the parts as they would be made again (no data sent yet).
  SendSide send;
  ReceiveSide recv(stack().socket_memory());
  LossRecovery loss(protocol_.options().rto);
  restore_parked(send, recv, loss);
  return info_of(send, recv, loss, TimePoint{}, 0);
}

TcpInfo Connection::info_of(const SendSide& send, const ReceiveSide& recv, const LossRecovery& loss,
                            TimePoint last_data_sent, uint64_t bytes_sent) const {
  TcpInfo i;
  TimePoint now = stack().now();
  auto ms_since = [&](TimePoint t) {
    return t == TimePoint{} ? 0u : static_cast<uint32_t>(to_millis(now - t));
  };
  i.tcpi_state = static_cast<uint8_t>(linux_state(state_));
  i.tcpi_ca_state = loss.in_loss() ? 4 : loss.in_recovery() ? 3 : 0;
  i.tcpi_retransmits = static_cast<uint8_t>(std::min(loss.consecutive_rtos(), 255u));
  i.tcpi_probes = static_cast<uint8_t>(std::min<uint32_t>(probes_out_, 255));
  i.tcpi_backoff = static_cast<uint8_t>(std::min(loss.rtt().backoff_count(), 255u));
  i.tcpi_options = (ts_ok_ ? 1 : 0) | (sack_ok_ ? 2 : 0) | (ws_ok_ ? 4 : 0);
  i.tcpi_snd_wscale = send.window_scale();
  i.tcpi_rcv_wscale = recv.window_scale();
  i.tcpi_rto = static_cast<uint32_t>(to_micros(loss.rtt().rto()));
  i.tcpi_ato = static_cast<uint32_t>(to_micros(protocol_.options().delayed_ack));
  i.tcpi_snd_mss = mss_;
  i.tcpi_rcv_mss = adv_mss_;
  i.tcpi_unacked = static_cast<uint32_t>(send.record_count());
  uint32_t sacked = 0;
  uint32_t lost = 0;
  for (size_t k = 0; k < send.record_count(); ++k) {
    sacked += send.record(k).sacked ? 1 : 0;
    lost += send.record(k).lost ? 1 : 0;
  }
  i.tcpi_sacked = sacked;
  i.tcpi_lost = lost;
  i.tcpi_last_data_sent = ms_since(last_data_sent);
  i.tcpi_last_data_recv = ms_since(recv.last_data_received());
  i.tcpi_last_ack_recv = ms_since(last_recv_);
  i.tcpi_pmtu = pmtu_;
  i.tcpi_rcv_ssthresh = recv.buffer();
  i.tcpi_rtt = static_cast<uint32_t>(to_micros(loss.rtt().srtt()));
  i.tcpi_rttvar = static_cast<uint32_t>(to_micros(loss.rtt().rttvar()));
  if (negotiated() || loss.cc()) {
    uint32_t ssthresh = loss.cc() ? loss.cc()->ssthresh() : cc_detail::kInfiniteSsthresh;
    i.tcpi_snd_ssthresh = std::min<uint32_t>(ssthresh / std::max<uint32_t>(mss_, 1), 0x7fffffff);
    i.tcpi_snd_cwnd = congestion_window() / std::max<uint32_t>(mss_, 1);
  }
  i.tcpi_advmss = adv_mss_;
  i.tcpi_reordering = protocol_.options().reordering;
  i.tcpi_rcv_space = recv.buffer();
  i.tcpi_total_retrans = send.total_retransmits();
  i.tcpi_bytes_acked = bytes_acked_;
  i.tcpi_bytes_received = recv.bytes_received();
  i.tcpi_segs_out = segs_out_;
  i.tcpi_segs_in = segs_in_;
  i.tcpi_notsent_bytes = static_cast<uint32_t>(send.unsent());
  i.tcpi_min_rtt = static_cast<uint32_t>(to_micros(loss.rtt().min_rtt()));
  i.tcpi_bytes_sent = bytes_sent;
  i.tcpi_bytes_retrans = send.bytes_retransmitted();
  i.tcpi_dsack_dups = loss.dsack_dups();
  i.tcpi_rcv_ooopack = recv.out_of_order_packets();
  i.tcpi_snd_wnd = send.window();
  return i;
}

// ---------------------------------------------------------------------------------------------
// Input

SegmentOutcome Connection::on_segment(const NetworkPacketInfo& info, const Segment& seg,
                                      PacketBuffer&& payload) {
  segs_in_++;
  unpark();
  Options opts = seg.options();
  if (opts.malformed) protocol_.counters().drop_bad_options++;
  switch (state_) {
    case State::kClosed:
    case State::kListen:
      protocol_.counters().drop_closed++;
      if ((seg.flags() & kRst) == 0) protocol_.send_reset_for(info, seg, payload.size());
      return SegmentOutcome::kDone;
    case State::kSynSent:
      process_syn_sent(seg, opts, std::move(payload));
      shed_unused_timers();
      park_if_idle();
      return SegmentOutcome::kDone;
    default: {
      const SegmentOutcome outcome = process_synchronized(info, seg, opts, std::move(payload));
      // Its ACK sent, a connection its user has let go of needs nothing more than a record.
      if (state_ == State::kTimeWait) retire_to_time_wait();
      shed_unused_timers();
      park_if_idle();
      return outcome;
    }
  }
}

bool Connection::retire_to_time_wait() {
  if (state_ != State::kTimeWait || attached() || listener_ != nullptr) return false;
  TimeWaitState s;
  const PortTable::Handle handle = std::exchange(port_handle_, 0);
  if (handle != 0) s.port_handle = handle;
  s.snd_nxt = send().nxt();
  s.rcv_nxt = recv().nxt();
  s.last_ack_sent = last_ack_sent_;
  s.receive_window = recv().window();
  s.receive_window_scale = recv().window_scale();
  s.max_send_window = send().max_window();
  s.ts_offset = ts_offset_;
  s.ts_recent = ts_recent_;
  s.ts_recent_stamp = ts_recent_stamp_;
  s.timestamps = ts_ok_;
  const TimePoint deadline = timers_.deadline(TimerKind::kAux);
  // The record enters the demux under the 4-tuple this connection leaves.
  if (in_demux()) stack().demux().remove(*this);
  protocol_.add_time_wait(demux_id_, std::move(s), deadline);
  enter_state(State::kClosed);
  return true;
}

void Connection::process_syn_sent(const Segment& seg, const Options& opts, PacketBuffer&& payload) {
  uint8_t flags = seg.flags();
  TcpCounters& c = protocol_.counters();
  if (flags & kAck) {
    if (seg.ack() <= send().iss() || seg.ack() > send().nxt()) {
      c.drop_syn_sent_bad++;
      if ((flags & kRst) == 0) send_reset(seg.ack(), SeqNum(), false);
      return;
    }
  }
  if (flags & kRst) {
    if (flags & kAck) {
      c.resets_received++;
      c.failed_attempts++;
      terminate(Error::kConnectionRefused);
    } else {
      c.drop_syn_sent_bad++;
    }
    return;
  }
  if ((flags & kSyn) == 0) {
    c.drop_syn_sent_bad++;
    return;
  }
  recv().start(seg.seq());
  init_after_syn(opts);
  last_recv_ = stack().now();
  if (flags & kAck) {
    send().set_una(seg.ack());
    send().set_window(seg.window(), seg.seq(), seg.ack());  // unscaled in a SYN
    // The SYN-ACK acknowledges our SYN, so it times the handshake unless the SYN was resent.
    auto sample = loss().take_syn_sample(seg.ack(), stack().now());
    if (sample && syn_retries_ == 0) loss().rtt().on_sample(*sample);
    loss().rtt().reset_backoff();
    timers_.cancel(TimerKind::kRetransmit);
    timer_mode_ = TimerMode::kNone;
    enter_state(State::kEstablished);
    restart_keepalive();
    if (!payload.empty()) process_data(seg.seq() + 1, std::move(payload));
    if (flags & kFin) process_fin();
    recv().request_ack();
    if (send().fin_queued()) enter_state(State::kFinWait1);
    output();
    notify(kEventWritable);
    return;
  }
  // Simultaneous open (RFC 9293 3.5, figure 8).
  send().set_window(seg.window(), seg.seq(), send().una());
  enter_state(State::kSynReceived);
  send_syn(true);
  arm_retransmit_timer();
}

void Connection::send_challenge_ack() {
  if (protocol_.take_challenge_ack_budget()) send_ack();
}

// The path of an in-order segment of an established connection runs straight through; every
// unusual case is a cold function below, placed away from it, so the hot path spans fewer
// instruction-cache lines (see TcpProtocol::handle_packet).
SegmentOutcome Connection::process_synchronized(const NetworkPacketInfo& info, const Segment& seg,
                                                const Options& opts, PacketBuffer&& payload) {
  (void)info;
  uint8_t flags = seg.flags();
  SeqNum seq = seg.seq();
  TimePoint now = stack().now();

  if (state_ == State::kTimeWait && (flags & (kSyn | kAck | kRst)) == kSyn &&
      time_wait_steps_aside(seg, opts)) {
    return SegmentOutcome::kRedeliver;
  }

  uint32_t seg_len =
      static_cast<uint32_t>(payload.size()) + ((flags & kSyn) ? 1 : 0) + ((flags & kFin) ? 1 : 0);

  // PAWS (RFC 7323 5.3), with Linux's two allowances (tcp_paws_discard): a timestamp one tick
  // behind passes, and so does a duplicate ACK that a later segment overtook, which changes
  // nothing here (dropping it would only send an ACK back, and lose its SACK blocks).
  if (ts_ok_ && opts.timestamps && (flags & kRst) == 0) {
    const auto behind = static_cast<int32_t>(ts_recent_ - opts.timestamps->value);
    if (behind > kPawsWindow && now - ts_recent_stamp_ < kPawsIdle &&
        !disordered_ack(seg, seq, seg_len, behind)) {
      return drop_paws();
    }
  }

  // Our SYN-ACK was lost: the peer repeats its SYN.
  if (state_ == State::kSynReceived && (flags & (kSyn | kRst | kAck)) == kSyn &&
      seq == recv().irs()) {
    return resend_syn_ack();
  }

  if (!recv().acceptable(seq, seg_len)) return process_unacceptable(flags, seq, seg_len, payload);
  last_recv_ = now;
  keepalive_probes_sent_ = 0;

  // RFC 7323 4.3: remember the timestamp of the segment that covers the left window edge.
  if (ts_ok_ && opts.timestamps && seq <= last_ack_sent_ &&
      static_cast<int32_t>(opts.timestamps->value - ts_recent_) >= 0) {
    ts_recent_ = opts.timestamps->value;
    ts_recent_stamp_ = now;
  }

  if (flags & kRst) return process_reset(seq);

  // Trim what we already have and what lies beyond the window.
  bool fin = (flags & kFin) != 0;
  if (flags & kSyn) return challenge_syn_in_window();
  if (seq < recv().nxt()) trim_duplicate(seq, payload, fin);
  if (payload.size() > recv().window()) truncate_to_window(payload, fin);

  if ((flags & kAck) == 0) return drop_no_ack();
  if (state_ == State::kSynReceived && !complete_passive_open(seg, seq)) {
    return SegmentOutcome::kDone;
  }
  if (!process_ack(seg, opts, seg_len)) return SegmentOutcome::kDone;
  if (state_ == State::kClosed) return SegmentOutcome::kDone;

  // The FIN's sequence number follows the payload, which process_data() takes away.
  const auto payload_length = static_cast<uint32_t>(payload.size());
  // URG is not implemented: the pointer is ignored and urgent bytes stay inline.
  if (!payload.empty()) {
    switch (state_) {
      case State::kEstablished:
      case State::kFinWait1:
      case State::kFinWait2:
        // No one will ever read this (RFC 9293 3.10.7.4 lets us reset; Linux does).
        if (closed_by_user_ && !attached()) return reset_on_data_after_close(payload.size());
        process_data(seq, std::move(payload));
        break;
      default:
        break;  // the peer's FIN was already received: ignore
    }
  }
  if (fin) process_fin_flag(seq + payload_length);
  output();
  return SegmentOutcome::kDone;
}

bool Connection::time_wait_steps_aside(const Segment& seg, const Options& opts) {
  // A new SYN for a connection in TIME-WAIT may start a new incarnation when it is clearly
  // newer: a newer timestamp (RFC 6191), or a higher sequence number (RFC 1122 4.2.2.13) that
  // PAWS does not reject. A port reused within one timestamp tick carries an equal timestamp,
  // so the sequence number must still count then, as in Linux's tcp_timewait_state_process.
  bool have_ts = ts_ok_ && opts.timestamps;
  auto ts_delta = have_ts ? static_cast<int32_t>(opts.timestamps->value - ts_recent_) : 0;
  bool newer = (have_ts && ts_delta > 0) || (ts_delta >= 0 && seg.seq() > recv().nxt());
  if (!newer) return false;
  protocol_.counters().time_wait_reused++;
  enter_state(State::kClosed);
  return true;
}

bool Connection::disordered_ack(const Segment& seg, SeqNum seq, uint32_t seg_len,
                                int32_t behind) const {
  // Linux's tcp_disordered_ack: a pure ACK at rcv.nxt that acknowledges nothing new, would not
  // update the send window, and is no older than one RTO in timestamp ticks (1 ms here).
  if ((seg.flags() & kAck) == 0 || seg_len != 0 || seq != recv().nxt()) return false;
  if (seg.ack() != send().una() || send().would_update_window(seq, seg.ack(), seg.window())) {
    return false;
  }
  const auto rto_ticks = std::chrono::duration_cast<std::chrono::milliseconds>(loss().rtt().rto());
  return behind <= rto_ticks.count();
}

SegmentOutcome Connection::drop_paws() {
  protocol_.counters().drop_paws++;
  send_ack();
  return SegmentOutcome::kDone;
}

SegmentOutcome Connection::resend_syn_ack() {
  send_syn(true);
  return SegmentOutcome::kDone;
}

SegmentOutcome Connection::process_unacceptable(uint8_t flags, SeqNum seq, uint32_t seg_len,
                                                const PacketBuffer& payload) {
  TcpCounters& c = protocol_.counters();
  if (flags & kRst) {
    c.drop_rst_out_of_window++;
    return SegmentOutcome::kDone;
  }
  c.drop_out_of_window++;
  // TIME-WAIT: a retransmitted FIN (our ACK was lost) restarts the 2MSL wait.
  if (state_ == State::kTimeWait && (flags & kFin) && seq + seg_len == recv().nxt()) {
    timers_.arm_after(*this, TimerKind::kAux, protocol_.options().time_wait);
  }
  // A retransmission of data we already have: report it as a D-SACK.
  if (sack_ok_ && !payload.empty() && seq < recv().nxt()) {
    recv().note_duplicate(SeqRange{seq, seq + static_cast<uint32_t>(payload.size())});
    c.dsacks_sent++;
  }
  send_ack();
  return SegmentOutcome::kDone;
}

SegmentOutcome Connection::process_reset(SeqNum seq) {
  // RST (RFC 5961 3.2): exactly rcv.nxt resets; anywhere else in the window is challenged.
  if (seq != recv().nxt()) {
    send_challenge_ack();
    return SegmentOutcome::kDone;
  }
  protocol_.counters().resets_received++;
  switch (state_) {
    case State::kSynReceived:
      if (listener_ != nullptr) {
        enter_state(State::kClosed);  // passive open: back to LISTEN, i.e. forget it
      } else {
        terminate(Error::kConnectionRefused);
      }
      break;
    case State::kEstablished:
    case State::kFinWait1:
    case State::kFinWait2:
    case State::kCloseWait:
      terminate(Error::kConnectionReset);
      break;
    default:
      enter_state(State::kClosed);
      break;
  }
  return SegmentOutcome::kDone;
}

SegmentOutcome Connection::challenge_syn_in_window() {
  // RFC 5961 4.2: any SYN in a synchronized state is answered with a challenge ACK.
  protocol_.counters().drop_syn_in_window++;
  send_challenge_ack();
  return SegmentOutcome::kDone;
}

void Connection::trim_duplicate(SeqNum& seq, PacketBuffer& payload, bool& fin) {
  auto dup = static_cast<uint32_t>(recv().nxt() - seq);
  uint32_t data_dup = std::min<uint32_t>(dup, static_cast<uint32_t>(payload.size()));
  if (data_dup > 0 && sack_ok_) {
    recv().note_duplicate(SeqRange{seq, seq + data_dup});
    protocol_.counters().dsacks_sent++;
  }
  payload.pull_front(data_dup);
  seq += data_dup;
  if (dup > data_dup) fin = false;  // the FIN itself was a duplicate
  if (data_dup > 0) recv().request_ack();
}

void Connection::truncate_to_window(PacketBuffer& payload, bool& fin) {
  protocol_.counters().drop_beyond_receive_window++;
  payload.truncate(recv().window());
  fin = false;
}

SegmentOutcome Connection::drop_no_ack() {
  protocol_.counters().drop_no_ack_flag++;
  return SegmentOutcome::kDone;
}

bool Connection::complete_passive_open(const Segment& seg, SeqNum seq) {
  TcpCounters& c = protocol_.counters();
  if (seg.ack() > send().una() && seg.ack() <= send().nxt()) {
    if (listener_ != nullptr && listener_->accept_queue_full()) {
      // Resetting here would kill a connection the peer already believes open, and an
      // HTTP client then reads ECONNRESET: drop the ACK and let a retransmission retry.
      c.drop_accept_queue_full++;
      return false;
    }
    timers_.cancel(TimerKind::kRetransmit);
    timer_mode_ = TimerMode::kNone;
    send().set_window(uint32_t{seg.window()} << send().window_scale(), seq, seg.ack());
    enter_state(State::kEstablished);
    restart_keepalive();
    if (listener_ != nullptr) listener_->child_established(*this);
    notify(kEventWritable);
    if (send().fin_queued()) enter_state(State::kFinWait1);
    return true;
  }
  c.drop_bad_ack++;
  send_reset(seg.ack(), SeqNum(), false);
  return false;
}

SegmentOutcome Connection::reset_on_data_after_close(size_t payload_length) {
  protocol_.counters().drop_data_after_close++;
  send_reset(send().nxt(), recv().nxt() + static_cast<uint32_t>(payload_length), true);
  terminate(Error::kConnectionReset);
  return SegmentOutcome::kDone;
}

void Connection::process_fin_flag(SeqNum fin_seq) {
  if (fin_seq == recv().nxt() && !recv().fin_received()) {
    process_fin();
  } else if (fin_seq > recv().nxt()) {
    recv().hold_fin(fin_seq);
  } else if (recv().fin_received()) {
    // A repeated FIN (our ACK was lost); in TIME-WAIT restart the 2MSL wait.
    if (state_ == State::kTimeWait)
      timers_.arm_after(*this, TimerKind::kAux, protocol_.options().time_wait);
    recv().request_ack();
  }
}

void Connection::update_send_window(const Segment& seg) {
  if (send().update_window(seg.seq(), seg.ack(), seg.window())) {
    persist_backoff_ = 0;
    if (timer_mode_ == TimerMode::kPersist) {
      timers_.cancel(TimerKind::kRetransmit);
      timer_mode_ = TimerMode::kNone;
      if (send().window() > 0) work_->stalled_since = TimePoint{};  // probing is over
    }
  }
}

LossRecovery::Policy Connection::loss_policy() const {
  const TcpOptions& po = protocol_.options();
  return LossRecovery::Policy{sack_ok_, po.rack, po.reordering, mss_};
}

void Connection::arm_reorder_timer(Duration wait) {
  if (wait > Duration::zero() && timer_mode_ != TimerMode::kReorder) {
    timer_mode_ = TimerMode::kReorder;
    timers_.arm_after(*this, TimerKind::kRetransmit, wait);
  }
}

bool Connection::process_ack(const Segment& seg, const Options& opts, uint32_t seg_len) {
  TcpCounters& c = protocol_.counters();
  SeqNum ack = seg.ack();
  TimePoint now = stack().now();
  if (ack > send().nxt()) return drop_ack_beyond_sent();
  // RFC 5961 5.2: an ACK too far below snd.una is suspicious.
  uint32_t max_wnd = std::max<uint32_t>(send().max_window(), 65535);
  if (ack < send().una() - max_wnd) return drop_ack_far_below();
  uint32_t old_wnd = send().window();
  if (ack >= send().una()) update_send_window(seg);
  loss().set_ack_echo(ts_ok_ && opts.timestamps ? std::optional<uint32_t>(opts.timestamps->echo)
                                                : std::nullopt);

  uint32_t newly_sacked = 0;
  bool dsack = false;
  if (sack_ok_ && opts.sack_block_count > 0)
    newly_sacked = loss().on_sack_blocks(send(), ack, opts.sacks(), now, dsack, c);
  const LossRecovery::Policy policy = loss_policy();
  if (ack > send().una()) {
    auto acked = static_cast<uint32_t>(ack - send().una());
    uint32_t ctl = 0;
    if (send().una() == send().iss()) ctl++;  // our SYN
    bool fin_acked = send().fin_sent() && ack == send().nxt();
    if (fin_acked) ctl++;
    bytes_acked_ += acked;

    // Retire fully acknowledged records, noting the send times of the oldest and newest one
    // sent once (Karn: a retransmitted record's ACK may be for either copy).
    std::optional<TimePoint> oldest_sent;
    std::optional<TimePoint> newest_sent;
    send().acknowledge(ack, ctl, [&](const SentSegment& s, bool whole) {
      // A record cut at ack is part of a GSO batch: sent at the batch's time.
      if (!s.retransmitted && !s.sacked) {
        if (!oldest_sent) oldest_sent = s.sent;
        newest_sent = s.sent;
      }
      if (whole && !s.sacked) {
        loss().delivered(s, now);
      } else if (!whole) {
        loss().partly_delivered(s, ack);
      }
    });

    // RTT, as Linux measures it: from the send times of what this ACK covers, at the clock's
    // resolution, where the timestamp echo (RFC 7323 4.1) only has the millisecond of the
    // TSval clock: a LAN's 100 us round trip would read as 0 or 1 ms. The RTO takes the oldest
    // record's time (the conservative sample), congestion control the newest. The echo is
    // the fallback when everything covered was retransmitted. The SYN is no record: without
    // timestamps, its send time (dropped if the SYN was resent) times the handshake.
    std::optional<Duration> syn_sample = loss().take_syn_sample(ack, now);
    Duration rto_sample{};
    Duration rtt_sample{};
    if (oldest_sent) {
      // A zero sample (a clock that did not move) counts as one microsecond, as in Linux.
      constexpr Duration kFloor = std::chrono::microseconds(1);
      rto_sample = std::max<Duration>(now - *oldest_sent, kFloor);
      rtt_sample = std::max<Duration>(now - *newest_sent, kFloor);
    } else {
      rtt_sample = rto_sample = fallback_rtt_sample(opts, syn_sample);
    }
    if (rto_sample > Duration::zero()) loss().rtt().on_sample(rto_sample);
    loss().on_forward_progress(ack);
    probes_out_ = 0;
    work_->stalled_since = TimePoint{};

    loss().on_cumulative_ack(send(), ack, now, c, policy);
    AckSample sample;
    sample.now = now;
    sample.bytes_acked = acked + newly_sacked;
    sample.rtt = rtt_sample;
    sample.min_rtt = loss().min_rtt_or_zero();
    // Not using the window (no more data, or held back by the receiver's window, Nagle or a
    // full link queue) is not using it up: cwnd must not grow for it (RFC 7661).
    sample.app_limited = !work_->cwnd_limited;
    loss().on_delivery(send(), sample);

    if (fin_acked && !on_fin_acked()) return false;
    if (send().outstanding() == 0) {
      if (timer_mode_ != TimerMode::kPersist) {
        timers_.cancel(TimerKind::kRetransmit);
        timer_mode_ = TimerMode::kNone;
      }
    } else {
      arm_loss_timer();
    }
    if (work_->send_buffer_full) expand_send_buffer();
    if (state_ == State::kEstablished || state_ == State::kCloseWait) notify(kEventWritable);
  } else if (ack == send().una() && seg_len == 0 && send().outstanding() > 0 &&
             send().window() == old_wnd && (seg.flags() & (kSyn | kFin)) == 0) {
    // RFC 5681 duplicate ACK.
    loss().on_duplicate_ack(send(), newly_sacked, now, c, policy);
  }

  arm_reorder_timer(loss().after_ack(send(), ack, dsack, now, c, policy));
  return true;
}

bool Connection::drop_ack_beyond_sent() {
  protocol_.counters().drop_bad_ack++;
  send_ack();
  return false;
}

bool Connection::drop_ack_far_below() {
  protocol_.counters().drop_bad_ack++;
  send_challenge_ack();
  return false;
}

Duration Connection::fallback_rtt_sample(const Options& opts,
                                         std::optional<Duration> syn_sample) const {
  // Everything this ACK covers was retransmitted (Karn): the timestamp echo times it, at the
  // TSval clock's millisecond; without timestamps, the SYN's send time times the handshake.
  if (ts_ok_ && opts.timestamps && opts.timestamps->echo != 0) {
    auto ms = static_cast<int32_t>(ts_now() - opts.timestamps->echo);
    return ms >= 0 ? Duration(std::chrono::milliseconds(std::max(ms, 1))) : Duration{};
  }
  return syn_sample ? *syn_sample : Duration{};
}

bool Connection::on_fin_acked() {
  switch (state_) {
    case State::kFinWait1:
      enter_state(State::kFinWait2);
      if (closed_by_user_) {
        if (options_->linger2 < 0) {
          abort();  // as Linux's tcp_rcv_state_process resets an orphan then
          return false;
        }
        timers_.arm_after(*this, TimerKind::kAux, fin_wait2_timeout());
      }
      return true;
    case State::kClosing:
      enter_time_wait();
      return true;
    case State::kLastAck:
      enter_state(State::kClosed);
      return false;
    default:
      return true;
  }
}

void Connection::process_data(SeqNum seq, PacketBuffer&& payload) {
  auto d = recv().receive(seq, std::move(payload), stack().socket_memory(), protocol_.counters(),
                          stack().now());
  if (d.readable) notify(kEventReadable);
  if (d.schedule_ack) schedule_ack(false);
  if (recv().held_fin_reached()) process_fin();
}

void Connection::process_fin() {
  recv().receive_fin();
  switch (state_) {
    case State::kSynReceived:
    case State::kEstablished:
      enter_state(State::kCloseWait);
      break;
    case State::kFinWait1:
      enter_state(State::kClosing);  // simultaneous close (our FIN not yet acked)
      break;
    case State::kFinWait2:
      enter_time_wait();
      break;
    default:
      break;
  }
  notify(kEventReadable | kEventReadHangup);
}

void Connection::schedule_ack(bool quick) {
  const ReceiveSide::AckDue due =
      recv().schedule_ack(quick, options_->quick_ack, stack().in_batch(), protocol_.counters());
  switch (due) {
    case ReceiveSide::AckDue::kNow:
      break;
    case ReceiveSide::AckDue::kAtBatchEnd:
      stack().defer_to_batch_end(*work_);
      break;
    case ReceiveSide::AckDue::kDelayed:
      if (!timers_.armed(TimerKind::kDelayedAck))
        timers_.arm_after(*this, TimerKind::kDelayedAck, protocol_.options().delayed_ack);
      break;
  }
}

void Connection::on_batch_end() {
  // Data or another ACK sent since carried it already (on_ack_sent cleared the flag).
  if (!recv().ack_at_batch_end()) return;
  if (state_ == State::kClosed || state_ == State::kListen || state_ == State::kSynSent) return;
  protocol_.counters().batched_acks++;
  send_ack();
}

void Connection::on_delack_timer() {
  if (!recv().ack_pending()) return;
  protocol_.counters().delayed_acks++;
  send_ack();
}

// ---------------------------------------------------------------------------------------------
// Output

void Connection::fill_ack_options(Options& o) {
  if (ts_ok_) o.timestamps = Timestamps{ts_now(), ts_recent_};
  if (sack_ok_) {
    const size_t room = sack_block_room();
    const size_t n = recv().take_sack_blocks(std::span(o.sack_blocks).first(room));
    o.sack_block_count = static_cast<uint8_t>(n);
    if (n > 0) protocol_.counters().sack_blocks_sent += n;
  }
}

inline size_t Connection::sack_block_room() const {
  return ts_ok_ ? 3 : 4;  // with timestamps only three blocks fit in 40 option bytes
}

inline uint32_t Connection::current_mss() const {
  // mss_ leaves room for the timestamp option alone. SACK blocks ride on every segment while
  // data is held out of order, and a full segment carrying them would exceed the path MTU (the
  // link drops it): the payload shrinks by their 4 + 8n option bytes, as Linux's
  // tcp_current_mss does.
  if (!sack_ok_) return mss_;
  const size_t blocks = std::min(recv().sack_blocks_pending(), sack_block_room());
  if (blocks == 0) return mss_;
  const auto option_bytes = static_cast<uint32_t>(4 + 8 * blocks);
  return std::max(mss_ - std::min(mss_, option_bytes), kMinMss);
}

SegmentHeader Connection::header_for(uint8_t flags, SeqNum seq, bool syn_options) {
  SegmentHeader h;
  h.source_port = demux_id_.local_port;
  h.destination_port = demux_id_.remote_port;
  h.seq = seq;
  h.flags = flags;
  if (flags & kAck) h.ack = recv().nxt();
  if (syn_options) {
    const TcpOptions& po = protocol_.options();
    h.options.mss = adv_mss_;
    bool syn_ack = (flags & kAck) != 0;
    if (po.window_scaling && (!syn_ack || ws_ok_)) h.options.window_scale = recv().window_scale();
    if (po.sack && (!syn_ack || sack_ok_)) h.options.sack_permitted = true;
    if (po.timestamps && (!syn_ack || ts_ok_)) {
      h.options.timestamps = Timestamps{ts_now(), syn_ack ? ts_recent_ : 0};
    }
    h.window = recv().syn_window();
  } else if ((flags & kRst) == 0) {
    h.window = recv().advertise(stack().socket_memory(), protocol_.counters(), adv_mss_);
    fill_ack_options(h.options);
  }
  return h;
}

void Connection::transmit(uint8_t flags, SeqNum seq, PacketBuffer&& payload, bool syn_options,
                          uint32_t segment_size) {
  const uint32_t seg_mss = segment_size != 0 ? segment_size : mss_;
  const SegmentHeader h = header_for(flags, seq, syn_options);
  size_t payload_len = payload.size();
  // A GSO packet's checksum is always left for whoever cuts it: the link, or the NIC which
  // sums each piece for links that cannot.
  PacketBuffer pkt =
      route_link_.tx_checksum_offload || payload_len > seg_mss
          ? build_segment_offloaded(h, std::move(payload), demux_id_.local_address,
                                    demux_id_.remote_address)
          : build_segment(h, std::move(payload), demux_id_.local_address, demux_id_.remote_address);
  uint32_t segments = 1;
  if (payload_len > seg_mss) {
    // Only send_new_data builds these (segment_limit()).
    pkt.meta().gso_type = demux_id_.local_address.is_v4() ? GsoType::kTcpV4 : GsoType::kTcpV6;
    pkt.meta().gso_size = static_cast<uint16_t>(seg_mss);
    segments = static_cast<uint32_t>((payload_len + seg_mss - 1) / seg_mss);
    pkt.meta().gso_segments = static_cast<uint16_t>(segments);
  }
  send_built(flags, payload_len, segments, std::move(pkt));
}

void Connection::transmit_small(uint8_t flags, SeqNum seq, ByteView payload) {
  const SegmentHeader h = header_for(flags, seq, false);
  send_built(flags, payload.size(), 1,
             build_segment_copying(h, payload, demux_id_.local_address, demux_id_.remote_address,
                                   route_link_.tx_checksum_offload));
}

void Connection::send_built(uint8_t flags, size_t payload_len, uint32_t segments,
                            PacketBuffer&& pkt) {
  TcpCounters& c = protocol_.counters();
  if (flags & kAck) {
    last_ack_sent_ = recv().nxt();
    recv().on_ack_sent();
    timers_.cancel(TimerKind::kDelayedAck);
  }
  segs_out_ += segments;
  c.segments_sent += segments;
  if (payload_len > 0) {
    c.bytes_sent += payload_len;
    work_->bytes_sent += payload_len;
    work_->last_data_sent = stack().now();
    work_->restarted_after_idle = false;
  }
  if (flags & kRst) c.resets_sent++;
  if (auto st = protocol_.transmit(route(), std::move(pkt)); !st) c.drop_send_error++;
}

size_t Connection::segment_limit(uint32_t seg_mss) const {
  if (!protocol_.options().gso) return seg_mss;
  // The link or the NIC cuts one packet into MSS-sized segments (TSO/GSO): as many whole
  // segments as fit in one IP datagram with the largest TCP header.
  constexpr size_t kLargestHeaders = 40 + 60;
  const size_t whole = (size_t{65535} - kLargestHeaders) / seg_mss;
  return std::max<size_t>(whole, 1) * seg_mss;
}

void Connection::send_syn(bool with_ack) {
  transmit(with_ack ? (kSyn | kAck) : kSyn, send().iss(), PacketBuffer(), true);
}

void Connection::send_ack() { transmit(kAck, send().nxt(), PacketBuffer(), false); }

void Connection::send_reset(SeqNum seq, SeqNum ack, bool with_ack) {
  SegmentHeader h;
  h.source_port = demux_id_.local_port;
  h.destination_port = demux_id_.remote_port;
  h.seq = seq;
  h.ack = ack;
  h.flags = with_ack ? (kRst | kAck) : kRst;
  PacketBuffer pkt =
      build_segment(h, PacketBuffer(), demux_id_.local_address, demux_id_.remote_address);
  protocol_.counters().resets_sent++;
  protocol_.counters().segments_sent++;
  segs_out_++;
  if (auto st = protocol_.transmit(route(), std::move(pkt)); !st)
    protocol_.counters().drop_send_error++;
}

void Connection::send_probe() { transmit(kAck, send().una() - 1, PacketBuffer(), false); }

bool Connection::retransmit_lost() {
  bool sent = false;
  uint32_t cwnd = loss().cwnd_or(mss_);
  size_t link_room = link_transmit_room();
  for (size_t k = 0; k < send().record_count() && send().lost_bytes() > 0; ++k) {
    const SentSegment& s = send().record(k);
    if (!s.lost || s.sacked) continue;
    uint32_t flight = loss().bytes_in_flight(send());
    if (flight > 0 && flight + std::min<uint32_t>(s.end - s.begin, mss_) > cwnd) break;
    // A retransmission is at most one segment: one frame.
    if (link_room == 0) {
      hold_for_link();
      break;
    }
    if (link_room != LinkEndpoint::kUnboundedTransmitRoom) --link_room;
    retransmit_record(k);
    sent = true;
  }
  return sent;
}

void Connection::retransmit_record(size_t k) {
  const TimePoint now = stack().now();
  const uint32_t seg_mss = current_mss();
  SendSide::Retransmission r = send().retransmit(k, seg_mss, now);
  loss().on_retransmitted(r.seq, r.seq + r.data_len + (r.fin ? 1 : 0), now);
  protocol_.counters().retransmitted_segments++;
  transmit(r.fin ? (kAck | kFin) : kAck, r.seq, std::move(r.payload), false, seg_mss);
  // Resending the first outstanding segment restarts the RTO, as Linux's
  // tcp_xmit_retransmit_queue does, unless the reorder timer waits: a tail probe armed before
  // the recovery must not fire inside it.
  if (k == 0 && timer_mode_ != TimerMode::kReorder) {
    arm_retransmit_timer();
  } else if (!timers_.armed(TimerKind::kRetransmit)) {
    arm_loss_timer();
  }
}

bool Connection::send_new_data(bool force_one) {
  if (send().fin_sent()) return false;
  bool sent_any = false;
  TimePoint now = stack().now();
  // RFC 5681 4.1, when there is data to send after the idle time (as Linux checks when data is
  // queued), once per idle period.
  if (send().outstanding() == 0 && send().unsent() > 0 && loss().cc() &&
      work_->last_data_sent != TimePoint{} && !work_->restarted_after_idle &&
      now - work_->last_data_sent > loss().rtt().rto()) {
    loss().cc()->on_idle_restart(now, now - work_->last_data_sent, loss().rtt().rto());
    work_->restarted_after_idle = true;
  }
  bool stopped_by_cwnd = false;
  // Read when the first segment is ready: most calls (an ACK's output()) find nothing to send.
  size_t link_room = 0;
  bool link_room_read = false;
  while (true) {
    auto queued_off = static_cast<uint32_t>(send().nxt() - send().una());
    size_t avail = send().queue().size() > queued_off ? send().queue().size() - queued_off : 0;
    bool fin_pending = send().fin_ready();
    if (avail == 0 && !fin_pending) break;
    if (!loss().active()) activate_loss_recovery();
    SeqNum wnd_edge = send().una() + send().window();
    uint32_t usable = wnd_edge > send().nxt() ? static_cast<uint32_t>(wnd_edge - send().nxt()) : 0;
    const uint32_t seg_mss = current_mss();
    uint32_t cwnd = loss().cwnd_or(mss_);
    uint32_t flight = loss().bytes_in_flight(send());
    uint32_t cwnd_room = cwnd > flight ? cwnd - flight : 0;
    if (force_one) cwnd_room = seg_mss;
    size_t len = std::min<size_t>({segment_limit(seg_mss), avail, usable, cwnd_room});
    // A GSO batch carries whole segments only; the tail below one MSS goes on its own, through
    // the SWS, Nagle and cork checks below.
    if (len > seg_mss) len -= len % seg_mss;
    bool fin_now = fin_pending && len == avail && (usable > 0 || avail == 0 || force_one);
    if (len == 0 && !fin_now) {
      stopped_by_cwnd = cwnd_room == 0 && avail > 0 && usable > 0;
      break;
    }
    if (len < avail && len < seg_mss) {
      // Sender SWS avoidance (RFC 9293 3.8.6.2.1): wait for a useful window unless it is at
      // least half the largest window the peer ever offered.
      if (len < send().max_window() / 2 && !force_one) break;
    }
    if (len == avail && len < seg_mss && !fin_now && !force_one) {
      if (options_->cork) break;  // TCP_CORK: only full segments until uncorked
      // Nagle (RFC 896) in Minshall's form, as Linux has it: a partial segment waits only while
      // an earlier partial one is unacknowledged, so a response written as a small head and a
      // body does not sit out the peer's delayed ACK behind full segments already sent.
      if (!options_->no_delay && !push_once_ && send().outstanding() > 0 &&
          send().small_segment_in_flight()) {
        break;
      }
    }
    if (!link_room_read) {
      link_room = link_transmit_room();
      link_room_read = true;
    }
    if (link_room != LinkEndpoint::kUnboundedTransmitRoom) {
      // A link that cannot cut a GSO packet gets it as that many frames (Nic::write_segmented).
      size_t frames = route_link_.gso || len <= seg_mss ? 1 : (len + seg_mss - 1) / seg_mss;
      if (frames > link_room) {
        if (link_room == 0) {
          hold_for_link();
          break;
        }
        len = link_room * seg_mss;  // frames > 1: whole segments, less than avail
        fin_now = false;
        frames = link_room;
      }
      link_room -= frames;
    }
    uint8_t flags = kAck;
    if (len == avail && len > 0) flags |= kPsh;
    if (fin_now) flags |= kFin;
    // A small segment's bytes go straight from the queue behind the header; others are slices
    // of the queue's chunks (sending copies nothing).
    std::optional<ByteView> small;
    if (len > 0 && len <= kSmallPayloadMax) small = send().queue().contiguous(queued_off, len);
    if (small) {
      transmit_small(flags, send().record_new(len, fin_now, len < seg_mss, now), *small);
    } else {
      PacketBuffer payload = send().queue().slice(queued_off, len);
      const SeqNum begin = send().record_new(len, fin_now, len < seg_mss && len > 0, now);
      transmit(flags, begin, std::move(payload), false, seg_mss);
    }
    sent_any = true;
    // RFC 6298 5.1 starts the RTO only if it is not running; RFC 8985 7.2 restarts the PTO
    // after new data (but not after the probe itself).
    if (timer_mode_ != TimerMode::kRetransmit || !timers_.armed(TimerKind::kRetransmit)) {
      if (!force_one) arm_loss_timer();
    }
    if (force_one || fin_now) break;
  }
  if (sent_any) link_retries_ = 0;
  if (sent_any || stopped_by_cwnd) note_cwnd_use(stopped_by_cwnd);
  return sent_any;
}

void Connection::note_cwnd_use(bool limited) {
  Working& w = *work_;
  // Outstanding bytes, as Linux counts packets_out here: cheaper than the flight, and the same
  // outside a recovery.
  const uint32_t outstanding = send().outstanding();
  if (limited || send().una() >= w.cwnd_usage_end ||
      (!w.cwnd_limited && outstanding > w.max_outstanding)) {
    w.cwnd_limited = limited;
    w.max_outstanding = outstanding;
    w.cwnd_usage_end = send().nxt();
  }
}

void Connection::output() {
  switch (state_) {
    case State::kEstablished:
    case State::kCloseWait:
    case State::kFinWait1:
    case State::kClosing:
    case State::kLastAck:
      break;
    case State::kFinWait2:
    case State::kTimeWait:
    case State::kSynReceived:
      if (recv().ack_now()) send_ack();
      return;
    default:
      return;
  }
  // F-RTO step 2b (RFC 5682 3.1): new data, not the next retransmission, so that the next ACK
  // tells whether the peer had the originals all along. Without new data to send, the timeout
  // is handled as a real one.
  bool frto_sent_new = false;
  if (loss().take_frto_new_data()) {
    frto_sent_new = send_new_data(false);
    if (!frto_sent_new) loss().end_frto();
  }
  if (send().lost_bytes() > 0 && !frto_sent_new) retransmit_lost();
  send_new_data(false);
  // Zero window with data waiting and nothing in flight to elicit an ACK: probe (RFC 9293
  // 3.8.6.1), backing off like the RTO but never giving up.
  bool waiting = send().unsent() > 0 || send().fin_ready();
  if (waiting && send().outstanding() == 0 && send().window() == 0 &&
      timer_mode_ != TimerMode::kPersist) {
    timer_mode_ = TimerMode::kPersist;
    Duration d = std::min<Duration>(
        loss().rtt().rto() * (1 << std::min<unsigned>(persist_backoff_, 10)), kMaxPersist);
    timers_.arm_after(*this, TimerKind::kRetransmit, clamp_to_user_timeout(d));
  }
  if (recv().ack_now()) send_ack();
}

// Send-buffer autotuning. When an ACK frees room that the writer was waiting for (Linux's
// tcp_new_space), the buffer grows to twice the path's bandwidth-delay product, measured as the
// delivery rate over at least a round trip times the smallest RTT, up to
// TcpOptions::send_buffer_max: a window in flight and the next one queued. Not when the user set
// SO_SNDBUF, not under memory pressure, and not while the window is full (then the network, not
// the buffer, holds the sender back), as in Linux.
//
// Linux sizes by twice the congestion window instead (at least twice the initial window), which
// queueing inflates: on a link whose only delay is its queue the window, and the buffer after
// it, grow until the queue is full (Linux's TCP small queues then keep the queue short), and
// every byte queued beyond the caches costs throughput. The delivery rate sees no queue: while
// the buffer limits the sender it delivers a buffer per round trip, so the buffer at most
// doubles per round trip, as the window does in slow start.
void Connection::expand_send_buffer() {
  Working& w = *work_;
  w.send_buffer_full = false;
  const TcpOptions& po = protocol_.options();
  const CongestionControl* cc = loss().cc();
  if (options_->send_buffer != 0 || cc == nullptr || send().buffer() >= po.send_buffer_max ||
      !loss().rtt().has_sample() || stack().socket_memory().under_pressure() ||
      loss().bytes_in_flight(send()) >= cc->cwnd()) {
    return;
  }
  const TimePoint now = stack().now();
  const Duration span = now - w.rate_sample_start;
  if (w.rate_sample_start == TimePoint{} || span > 8 * loss().rtt().srtt()) {
    // The first sample, or one from an earlier busy period: start afresh.
    w.rate_sample_start = now;
    w.rate_sample_acked = bytes_acked_;
    return;
  }
  if (span < loss().rtt().srtt() || span <= Duration::zero()) return;
  const uint64_t delivered = bytes_acked_ - w.rate_sample_acked;
  w.rate_sample_start = now;
  w.rate_sample_acked = bytes_acked_;
  const auto min_rtt = static_cast<uint64_t>(loss().min_rtt_or_zero().count());
  const uint64_t bdp = delivered * min_rtt / static_cast<uint64_t>(span.count());
  const uint64_t wanted = std::min<uint64_t>(2 * bdp, po.send_buffer_max);
  if (wanted <= send().buffer()) return;
  const auto growth = static_cast<uint32_t>(wanted - send().buffer());
  if (!protocol_.reserve_send_growth(growth)) {
    protocol_.counters().send_buffer_growth_refused++;
    return;
  }
  send().set_buffer(static_cast<uint32_t>(wanted));
  protocol_.counters().send_buffer_expanded++;
}

uint32_t Connection::send_buffer_growth() const {
  const uint32_t base = protocol_.options().send_buffer;
  const uint32_t now = send_buffer();
  return options_->send_buffer == 0 && now > base ? now - base : 0;
}

size_t Connection::link_transmit_room() {
  const Nic* nic = stack().nic(route_nic_);
  return nic != nullptr ? nic->transmit_room() : LinkEndpoint::kUnboundedTransmitRoom;
}

void Connection::hold_for_link() {
  protocol_.counters().send_held_link_full++;
  // Segments in flight bring ACKs, and each ACK tries again. Without any, a timer does, as Linux
  // arms its probe timer when a queue refused the segment at the head (tcp_check_probe_timer).
  if (send().outstanding() == 0 && !timers_.armed(TimerKind::kRetransmit)) {
    // Doubling from 1 ms up to the RTO, as Linux backs off its probe timer: a link that never
    // drains (an embedder that stopped reading) is not polled every millisecond.
    timer_mode_ = TimerMode::kLinkRetry;
    const Duration delay = std::min<Duration>(
        kLinkRetry * (1 << std::min<unsigned>(link_retries_, 16)), loss().rtt().rto());
    timers_.arm_after(*this, TimerKind::kRetransmit, delay);
  }
}

void Connection::maybe_send_window_update() {
  if (state_ != State::kEstablished && state_ != State::kFinWait1 && state_ != State::kFinWait2)
    return;
  if (recv().window_update_due(stack().socket_memory(), adv_mss_)) {
    protocol_.counters().window_updates_sent++;
    send_ack();
  }
}

void Connection::after_read(size_t n) {
  const TcpOptions& po = protocol_.options();
  if (po.receive_autotune && options_->receive_buffer == 0) {
    const RttEstimator& rtt = loss().rtt();
    recv().autotune(n, stack().now(), rtt.has_sample() ? rtt.srtt() : std::chrono::milliseconds(1),
                    po.receive_buffer_max, stack().socket_memory(), protocol_.counters());
  }
  maybe_send_window_update();
}

// ---------------------------------------------------------------------------------------------
// Timers

void Connection::arm_retransmit_timer() {
  timer_mode_ = TimerMode::kRetransmit;
  timers_.arm_after(*this, TimerKind::kRetransmit, clamp_to_user_timeout(loss().rtt().rto()));
}

Duration Connection::fin_wait2_timeout() const {
  if (options_->linger2 > 0) return std::chrono::seconds(options_->linger2);
  return protocol_.options().fin_wait2_timeout;
}

bool Connection::reset_orphan_for_memory() {
  if (!orphaned() || !stack().socket_memory().over_hard_limit()) return false;
  protocol_.counters().orphans_reset_memory++;
  abort();
  return true;
}

bool Connection::user_timed_out(TimePoint now) const {
  const Duration limit = user_timeout();
  return limit > Duration::zero() && work_ && work_->stalled_since != TimePoint{} &&
         now - work_->stalled_since >= limit;
}

Duration Connection::clamp_to_user_timeout(Duration delay) const {
  const Duration limit = user_timeout();
  if (limit == Duration::zero() || !work_ || work_->stalled_since == TimePoint{}) return delay;
  // At least a millisecond, as Linux's TCP_TIMEOUT_MIN: the timer that finds the time run out
  // ends the connection.
  const Duration left = work_->stalled_since + limit - stack().now();
  return std::min(delay, std::max<Duration>(left, std::chrono::milliseconds(1)));
}

void Connection::arm_loss_timer() {
  if (send().outstanding() == 0 && state_ != State::kSynSent && state_ != State::kSynReceived) {
    timers_.cancel(TimerKind::kRetransmit);
    timer_mode_ = TimerMode::kNone;
    return;
  }
  const TcpOptions& po = protocol_.options();
  bool tlp = po.tlp && sack_ok_ && !loss().in_recovery() && !loss().in_loss() &&
             !loss().probe_outstanding() && loss().rtt().has_sample() &&
             state_ != State::kSynSent && state_ != State::kSynReceived;
  if (tlp) {
    // RFC 8985 7.2: PTO = 2 * SRTT, plus a delayed-ACK allowance for a lone segment; a floor
    // of 10 ms keeps a near-zero SRTT (in-memory links) from probing every tick.
    Duration pto =
        Rack::probe_timeout(loss().rtt().srtt(), send().outstanding() <= mss_, loss().rtt().rto());
    pto = std::min(std::max<Duration>(pto, std::chrono::milliseconds(10)), loss().rtt().rto());
    timer_mode_ = TimerMode::kTailLossProbe;
    timers_.arm_after(*this, TimerKind::kRetransmit, pto);
    return;
  }
  arm_retransmit_timer();
}

void Connection::on_timers_due() {
  unpark();
  while (std::optional<TimerKind> due = timers_.take_due()) {
    switch (*due) {
      case TimerKind::kRetransmit:
        on_rexmit_timer();
        break;
      case TimerKind::kDelayedAck:
        on_delack_timer();
        break;
      case TimerKind::kAux:
        on_aux_timer();
        break;
    }
  }
  timers_.rearm();
  park_if_idle();
}

void Connection::on_rexmit_timer() {
  TimerMode mode = timer_mode_;
  timer_mode_ = TimerMode::kNone;
  switch (mode) {
    case TimerMode::kRetransmit:
      on_rto();
      break;
    case TimerMode::kTailLossProbe:
      on_tlp();
      break;
    case TimerMode::kReorder:
      arm_reorder_timer(
          loss().on_reorder_timeout(send(), stack().now(), protocol_.counters(), loss_policy()));
      output();
      if (!timers_.armed(TimerKind::kRetransmit)) arm_loss_timer();
      break;
    case TimerMode::kPersist: {
      TcpCounters& c = protocol_.counters();
      // A peer that answers every probe but never opens its window holds the connection for
      // ever (RFC 9293 3.8.6.1), unless the user set a timeout (Linux's tcp_probe_timer).
      if (user_timeout() > Duration::zero()) {
        if (work_->stalled_since == TimePoint{}) {
          work_->stalled_since = stack().now();
        } else if (user_timed_out(stack().now())) {
          c.timeouts++;
          terminate(soft_error_.value_or(Error::kTimedOut));
          break;
        }
      }
      if (orphaned() && persist_backoff_ >= protocol_.options().orphan_retries) {
        // An orphan's data has no reader waiting: a window that stays shut through that many
        // probes, backed off to about a minute apart, ends it (Linux's tcp_probe_timer).
        c.timeouts++;
        terminate(Error::kTimedOut);
        break;
      }
      if (reset_orphan_for_memory()) break;
      c.zero_window_probes++;
      if (probes_out_ < UINT16_MAX) probes_out_++;
      if (persist_backoff_ < UINT8_MAX) persist_backoff_++;
      send_probe();
      output();  // re-arms persist while the window stays closed
      break;
    }
    case TimerMode::kLinkRetry:
      if (link_retries_ < UINT8_MAX) link_retries_++;
      output();
      break;
    case TimerMode::kNone:
      break;
  }
}

void Connection::on_rto() {
  TcpCounters& c = protocol_.counters();
  const TcpOptions& po = protocol_.options();
  TimePoint now = stack().now();
  if (state_ == State::kSynSent || state_ == State::kSynReceived) {
    // At most 255 (the counter's width; Linux caps tcp_syn_retries at 127).
    unsigned limit = options_->syn_retries != 0 ? options_->syn_retries
                     : state_ == State::kSynSent ? po.syn_retries
                                                 : po.synack_retries;
    limit = std::min(limit, 255u);
    const bool expired = user_timeout() > Duration::zero()
                             ? syn_retries_ > 0 && user_timed_out(now)
                             : syn_retries_ >= limit;
    if (expired) {
      c.timeouts++;
      if (state_ == State::kSynSent) c.failed_attempts++;
      terminate(Error::kTimedOut);
      return;
    }
    if (syn_retries_ < UINT8_MAX) syn_retries_++;  // a long TCP_USER_TIMEOUT may pass 255
    c.syn_retransmits++;
    loss().rtt().backoff();
    loss().forget_syn_time();
    send_syn(state_ == State::kSynReceived);
    arm_retransmit_timer();
    return;
  }
  if (send().outstanding() == 0) return;
  if (reset_orphan_for_memory()) return;
  const unsigned rtos = loss().note_rto();
  // With TCP_USER_TIMEOUT the time since the stall began decides, not the count (RFC 5482, as
  // Linux's retransmits_timed_out): the first RTO starts the clock at the last send of what
  // is at snd.una.
  bool expired = rtos > (orphaned() ? std::min(po.retries, po.orphan_retries) : po.retries);
  if (user_timeout() > Duration::zero()) {
    if (rtos == 1 || work_->stalled_since == TimePoint{}) {
      work_->stalled_since = send().record_count() > 0 ? send().record(0).sent : now;
    }
    expired = rtos > 1 && user_timed_out(now);
  }
  if (expired) {
    c.timeouts++;
    terminate(soft_error_.value_or(Error::kTimedOut));
    return;
  }
  c.rto_timeouts++;
  // RFC 5681 / 6675: what is outstanding and not SACKed is presumed lost (see on_rto).
  loss().on_rto(send(), now, c, loss_policy(), po.frto);
  for (size_t k = 0; k < send().record_count(); ++k) {
    if (send().record(k).lost) {
      retransmit_record(k);
      break;
    }
  }
  if (send().outstanding() > 0 && send().record_count() == 0) {
    // Only a probe-style byte is outstanding (zero window); resend it as a probe.
    send_probe();
  }
  arm_retransmit_timer();
}

void Connection::on_tlp() {
  TcpCounters& c = protocol_.counters();
  c.tlp_probes++;
  bool retransmission = false;
  if (send_new_data(true)) {
    c.tlp_new_data++;
  } else {
    for (size_t k = send().record_count(); k > 0; --k) {
      if (!send().record(k - 1).sacked) {
        retransmit_record(k - 1);
        retransmission = true;
        break;
      }
    }
  }
  loss().on_probe_sent(send().nxt(), retransmission);
  if (send().outstanding() > 0) arm_retransmit_timer();
}

void Connection::restart_keepalive() {
  if (options_->keepalive && (state_ == State::kEstablished || state_ == State::kCloseWait)) {
    timers_.arm_after(*this, TimerKind::kAux, options_->keepalive_idle);
  } else if (state_ == State::kEstablished || state_ == State::kCloseWait) {
    timers_.cancel(TimerKind::kAux);
  }
}

void Connection::on_aux_timer() {
  TimePoint now = stack().now();
  switch (state_) {
    case State::kTimeWait:
      enter_state(State::kClosed);
      return;
    case State::kFinWait2:
      if (closed_by_user_) {
        protocol_.counters().timeouts++;
        enter_state(State::kClosed);
      }
      return;
    case State::kEstablished:
    case State::kCloseWait:
      break;
    default:
      return;
  }
  if (!options_->keepalive) return;
  // Keepalive (RFC 1122 4.2.3.6): only an idle connection is probed.
  Duration idle = now - last_recv_;
  if (keepalive_probes_sent_ == 0 &&
      (idle < options_->keepalive_idle || send().outstanding() > 0)) {
    Duration wait = idle < options_->keepalive_idle ? options_->keepalive_idle - idle
                                                    : options_->keepalive_idle;
    timers_.arm_after(*this, TimerKind::kAux, wait);
    return;
  }
  // With TCP_USER_TIMEOUT, the time without a word from the peer decides once a probe went
  // unanswered, not the count (Linux's tcp_keepalive_timer).
  const bool expired = user_timeout() > Duration::zero()
                           ? keepalive_probes_sent_ > 0 && idle >= user_timeout()
                           : keepalive_probes_sent_ >= options_->keepalive_count;
  if (expired) {
    protocol_.counters().timeouts++;
    terminate(Error::kTimedOut);
    return;
  }
  if (keepalive_probes_sent_ < UINT16_MAX) keepalive_probes_sent_++;
  probes_out_ = keepalive_probes_sent_;
  protocol_.counters().keepalive_probes++;
  send_probe();
  timers_.arm_after(*this, TimerKind::kAux, options_->keepalive_interval);
}

void Connection::enter_time_wait() {
  enter_state(State::kTimeWait);
  timers_.cancel(TimerKind::kRetransmit);
  timer_mode_ = TimerMode::kNone;
  timers_.cancel(TimerKind::kDelayedAck);
  send().queue().clear();
  send().clear_records();
  timers_.arm_after(*this, TimerKind::kAux, protocol_.options().time_wait);
}

void Connection::enter_state(State s) {
  if (state_ == s) return;
  State old = state_;
  state_ = s;
  TcpCounters& c = protocol_.counters();
  if (s == State::kEstablished && !was_established_) {
    was_established_ = true;
    c.established++;
    if (work_) work_->stalled_since = TimePoint{};
  }
  if (s == State::kClosed) {
    timers_.cancel_all();
    timer_mode_ = TimerMode::kNone;
    if (in_demux()) stack().demux().remove(*this);
    if (old != State::kSynSent || was_established_) c.connections_closed++;
    if (listener_ != nullptr) {
      Listener* l = listener_;
      listener_ = nullptr;
      l->child_closed(*this);
    }
    send().clear_records();
    notify(kEventReadable | kEventWritable | kEventHangup | (error_ ? kEventError : 0));
    protocol_.connection_closed(*this);
  }
}

void Connection::terminate(Error e) {
  error_ = e;
  hard_error_ = e;
  hard_failed_ = true;
  send().queue().clear();
  recv().queue().clear();
  enter_state(State::kClosed);
}

void Connection::notify(EventMask events) {
  if (user_queue_ != nullptr) user_queue_->notify(events);
}

void Connection::handle_control(const TransportControl& control) {
  TcpCounters& c = protocol_.counters();
  if (control.transport_header.size() < 8) {
    c.drop_icmp_unmatched++;
    return;
  }
  // Only errors quoting a sequence number we have outstanding are believed (RFC 5927 4.1). A
  // parked connection has none.
  SeqNum seq(load_be32(control.transport_header, 4));
  if (!work_ || (!(send().una() <= seq && seq < send().nxt()) &&
                 !(state_ == State::kSynSent && seq == send().iss()))) {
    c.drop_icmp_unmatched++;
    return;
  }
  switch (control.type) {
    case ControlType::kFragmentationNeeded: {
      uint32_t floor = family_ == AddressFamily::kIpv4 ? 68 : 1280;
      if (control.mtu < floor || control.mtu >= pmtu_) return;
      pmtu_ = control.mtu;
      uint32_t mss = send_mss_for(pmtu_);
      if (mss >= mss_) return;
      mss_ = mss;
      c.pmtu_updates++;
      if (loss().cc()) loss().cc()->set_mss(mss_);
      // RFC 1191: what was sent too large is gone; resend it in smaller pieces now.
      for (size_t k = 0; k < send().record_count(); ++k) {
        SentSegment& s = send().record(k);
        if (static_cast<uint32_t>(s.end - s.begin) > mss_) send().mark_lost(s);
      }
      output();
      return;
    }
    case ControlType::kPortUnreachable:
    case ControlType::kProtocolUnreachable:
    case ControlType::kHostUnreachable:
    case ControlType::kNetworkUnreachable:
    case ControlType::kAdministrativelyProhibited:
    case ControlType::kSourceRouteFailed: {
      Error e = control.type == ControlType::kPortUnreachable ||
                        control.type == ControlType::kProtocolUnreachable
                    ? Error::kConnectionRefused
                : control.type == ControlType::kNetworkUnreachable ? Error::kNetworkUnreachable
                                                                   : Error::kHostUnreachable;
      if (state_ == State::kSynSent) {
        c.failed_attempts++;
        terminate(e);
      } else {
        soft_error_ = e;  // RFC 1122 4.2.3.9: soft for a synchronized connection
      }
      return;
    }
    default:
      return;
  }
}

}  // namespace weir::tcp
