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
// The send side keeps user bytes in the SendQueue (from snd.una) and one SentSegment record per
// transmitted range. Records carry their send time and lost/SACKed flags: RACK (RFC 8985)
// compares send times to mark losses, the SACK scoreboard says which ranges the peer holds,
// and retransmissions re-slice the same bytes out of the SendQueue. snd.nxt never moves back:
// an RTO marks every outstanding record lost and they are resent as the congestion window
// (behind the CongestionControl interface) opens again, as in Linux.
//
// The receive side keeps payloads as received unless they pin far more memory than their
// size, holds at most about twice its buffer in charged memory (ReceiveQueue), advertises a
// window that never shrinks (rcv_adv_ only moves right), avoids silly windows, ACKs every
// second segment or after the delayed-ACK timeout, and ACKs at once on reordering, gaps and
// D-SACKs.
//
// Urgent data: the urgent pointer is parsed and ignored; urgent bytes are delivered inline
// with the rest of the stream (as with SO_OOBINLINE). We never send URG.
#include "tcp/connection.h"

#include <algorithm>

#include "stack/stack.h"
#include "tcp/listener.h"
#include "tcp/tcp.h"

namespace weir::tcp {
namespace {

constexpr uint32_t kMinMss = 64;
constexpr Duration kPawsIdle = std::chrono::hours(24 * 24);  // RFC 7323 5.5
constexpr Duration kMaxPersist = std::chrono::seconds(60);
// The least receive memory a connection may hold, whatever its buffer (process_data).
constexpr size_t kMinReceiveMemory = 64 * 1024;
// What a connection may always hold in order, past the stack's hard limit (Linux's
// tcp_rmem[0]): enough for a segment or two, so every connection keeps making progress.
constexpr size_t kMemoryFloor = 4096;

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

uint8_t receive_window_scale(uint32_t max_buffer) {
  uint8_t s = 0;
  while (s < kMaxWindowScale && (uint64_t{65535} << s) < max_buffer) ++s;
  return s;
}

Connection::Connection(TcpProtocol& protocol, AddressFamily family, const SocketOptions& options)
    : protocol_(protocol),
      stack_(protocol.stack()),
      family_(family),
      options_(options),
      rtt_(protocol.options().rto),
      rexmit_timer_([this] { on_rexmit_timer(); }),
      delack_timer_([this] { on_delack_timer(); }),
      aux_timer_([this] { on_aux_timer(); }) {
  rcvq_.set_account(&stack_.socket_memory());
  stack_.socket_memory().add_socket();
}

Connection::~Connection() {
  stack_.socket_memory().remove_socket();
  if (in_demux()) stack_.demux().remove(*this);
  if (port_handle_) stack_.ports().release(*port_handle_);
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

uint32_t Connection::congestion_window() const { return cc_ ? cc_->cwnd() : 0; }

uint32_t Connection::receive_window() const {
  return rcv_adv_ > rcv_nxt_ ? static_cast<uint32_t>(rcv_adv_ - rcv_nxt_) : 0;
}

uint32_t Connection::ts_now() const {
  return static_cast<uint32_t>(to_millis(stack_.now().time_since_epoch())) + ts_offset_;
}

// ---------------------------------------------------------------------------------------------
// Setup

void Connection::init_route_and_mss(const RouteInfo& route) {
  route_ = route;
  if (const Nic* nic = stack_.nic(route.nic); nic != nullptr)
    route_link_ = nic->endpoint().capabilities();
  pmtu_ = route.mtu;
  uint32_t limit = mss_for_mtu(route.mtu, family_);
  if (options_.max_segment != 0) limit = std::min<uint32_t>(limit, options_.max_segment);
  adv_mss_ = static_cast<uint16_t>(std::max(limit, kMinMss));
  const TcpOptions& po = protocol_.options();
  rcv_buf_ = options_.receive_buffer != 0 ? options_.receive_buffer : po.receive_buffer;
  snd_buf_ = options_.send_buffer != 0 ? options_.send_buffer : po.send_buffer;
  uint32_t max_rcv = options_.receive_buffer != 0 ? options_.receive_buffer : po.receive_buffer_max;
  rcv_wscale_ = po.window_scaling ? receive_window_scale(max_rcv) : 0;
}

void Connection::init_after_syn(const Options& peer) {
  const TcpOptions& po = protocol_.options();
  peer_mss_ = peer.mss.value_or(family_ == AddressFamily::kIpv4 ? 536 : 1220);
  ws_ok_ = po.window_scaling && peer.window_scale.has_value();
  if (ws_ok_) {
    snd_wscale_ = std::min(*peer.window_scale, kMaxWindowScale);
  } else {
    snd_wscale_ = 0;
    rcv_wscale_ = 0;
  }
  sack_ok_ = po.sack && peer.sack_permitted;
  ts_ok_ = po.timestamps && peer.timestamps.has_value();
  if (ts_ok_) {
    ts_recent_ = peer.timestamps->value;
    ts_recent_stamp_ = stack_.now();
  }
  uint32_t path = mss_for_mtu(pmtu_, family_);
  uint32_t mss = std::min<uint32_t>(peer_mss_, path);
  if (options_.max_segment != 0) mss = std::min<uint32_t>(mss, options_.max_segment);
  if (ts_ok_) mss = mss > 12 ? mss - 12 : mss;
  mss_ = std::max(mss, kMinMss);
  CongestionControlOptions cco;
  cco.mss = mss_;
  // Cannot fail: mss_ is at least kMinMss and the initial window is RFC 6928's.
  if (auto cc = make_congestion_control(po.congestion_control, cco)) cc_ = std::move(*cc);
}

Status Connection::register_tuple() { return stack_.demux().add(*this, demux_id_); }

Status Connection::connect(const SocketAddress& local, std::optional<PortTable::Handle> port_handle,
                           const SocketAddress& remote) {
  if (state_ != State::kClosed || was_established_ || hard_failed_) {
    if (port_handle) stack_.ports().release(*port_handle);
    return state_ == State::kSynSent ? Error::kAlready : Error::kAlreadyConnected;
  }
  port_handle_ = port_handle;
  auto route = stack_.find_route(remote.address, local.address);
  if (!route) return route.error();
  init_route_and_mss(*route);
  demux_id_ =
      TransportEndpointId{local.address.is_unspecified() ? route->local_address : local.address,
                          remote.address, local.port, remote.port};
  if (auto st = register_tuple(); !st) return st.error();
  iss_ = generate_isn(stack_.secret(), tuple(), stack_.now());
  ts_offset_ = timestamp_offset(stack_.secret(), tuple());
  snd_una_ = iss_;
  snd_nxt_ = iss_ + 1;
  last_small_end_ = snd_una_;
  rcv_adv_ = rcv_nxt_;
  protocol_.counters().active_opens++;
  enter_state(State::kSynSent);
  rtt_probe_ = std::make_pair(iss_, stack_.now());
  send_syn(false);
  arm_retransmit_timer();
  return Error::kInProgress;
}

Status Connection::accept_syn(Listener* listener, const NetworkPacketInfo& info,
                              const Segment& syn, const Options& syn_options) {
  auto route = protocol_.route_back(info);
  if (!route) return route.error();
  init_route_and_mss(*route);
  demux_id_ =
      TransportEndpointId{info.destination, info.source, syn.destination_port(), syn.source_port()};
  if (auto st = register_tuple(); !st) return st.error();
  listener_ = listener;
  irs_ = syn.seq();
  rcv_nxt_ = irs_ + 1;
  rcv_adv_ = rcv_nxt_;
  iss_ = generate_isn(stack_.secret(), tuple(), stack_.now());
  ts_offset_ = timestamp_offset(stack_.secret(), tuple());
  snd_una_ = iss_;
  snd_nxt_ = iss_ + 1;
  last_small_end_ = snd_una_;
  init_after_syn(syn_options);
  snd_wnd_ = syn.window();  // never scaled in a SYN
  max_snd_wnd_ = snd_wnd_;
  snd_wl1_ = syn.seq();
  snd_wl2_ = iss_;
  protocol_.counters().passive_opens++;
  enter_state(State::kSynReceived);
  rtt_probe_ = std::make_pair(iss_, stack_.now());
  send_syn(true);
  arm_retransmit_timer();
  return ok_status();
}

Status Connection::accept_cookie(Listener& l, const NetworkPacketInfo& info, const Segment& ack,
                                 const Options& ack_options, const CookieOptions& cookie) {
  auto route = stack_.find_route(info.source, info.destination, info.nic);
  if (!route) return route.error();
  init_route_and_mss(*route);
  demux_id_ =
      TransportEndpointId{info.destination, info.source, ack.destination_port(), ack.source_port()};
  if (auto st = register_tuple(); !st) return st.error();
  listener_ = &l;
  irs_ = ack.seq() - 1;
  rcv_nxt_ = ack.seq();
  iss_ = ack.ack() - 1;
  ts_offset_ = timestamp_offset(stack_.secret(), tuple());
  snd_una_ = ack.ack();
  snd_nxt_ = ack.ack();
  last_small_end_ = snd_una_;
  // What the SYN carried, as the cookie remembered it.
  Options peer;
  peer.mss = cookie.mss;
  peer.window_scale = cookie.window_scale;
  peer.sack_permitted = cookie.sack_permitted;
  if (cookie.timestamps && ack_options.timestamps) peer.timestamps = ack_options.timestamps;
  init_after_syn(peer);
  // The SYN-ACK announced the window unscaled; from now on the peer applies our scale.
  rcv_adv_ = rcv_nxt_ + std::min<uint32_t>(rcv_buf_, 65535);
  snd_wnd_ = uint32_t{ack.window()} << snd_wscale_;
  max_snd_wnd_ = snd_wnd_;
  snd_wl1_ = ack.seq();
  snd_wl2_ = ack.ack();
  last_recv_ = stack_.now();
  protocol_.counters().passive_opens++;
  enter_state(State::kEstablished);
  restart_keepalive();
  return ok_status();
}

// ---------------------------------------------------------------------------------------------
// User calls

Result<size_t> Connection::read(MutableByteView out, bool peek) {
  if (rcvq_.readable() > 0 && !read_shutdown_) {
    if (peek) return rcvq_.peek(out);
    size_t n = rcvq_.read(out);
    autotune_receive_buffer(n);
    maybe_send_window_update();
    return n;
  }
  if (error_) {
    Error e = *error_;
    error_.reset();
    return e;
  }
  if (read_shutdown_ || fin_received_) return size_t{0};
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
      if (hard_failed_) return hard_error_;
      return was_established_ ? Error::kBrokenPipe : Error::kNotConnected;
    default:
      return Error::kBrokenPipe;
  }
  if (fin_queued_) return Error::kBrokenPipe;
  size_t space = snd_buf_ > sendq_.size() ? snd_buf_ - sendq_.size() : 0;
  if (space == 0) return Error::kWouldBlock;
  return space;
}

Result<size_t> Connection::write(ByteView data) {
  auto space = writable_space();
  if (!space) return space.error() == Error::kWouldBlock && data.empty() ? Result<size_t>(size_t{0})
                                                                          : space;
  if (data.empty()) return size_t{0};
  size_t n = sendq_.append(data, *space);
  output();
  return n;
}

Result<size_t> Connection::write_buffer(PacketBuffer& data) {
  auto space = writable_space();
  if (!space) return space.error() == Error::kWouldBlock && data.empty() ? Result<size_t>(size_t{0})
                                                                          : space;
  if (data.empty()) return size_t{0};
  size_t n = sendq_.append_buffer(data, *space);
  output();
  return n;
}

Result<size_t> Connection::write_from(size_t max, const SendQueue::Fill& fill) {
  auto space = writable_space();
  if (!space) return space;
  auto n = sendq_.append_from(std::min(max, *space), fill);
  if (n && *n > 0) output();
  return n;
}

Result<size_t> Connection::read_with(size_t max, const Take& take) {
  if (rcvq_.readable() == 0 || read_shutdown_) {
    std::array<std::byte, 1> none;
    return read(MutableByteView(none).first(0), false);
  }
  lent_.clear();
  rcvq_.lend(max, lent_);
  auto n = take(lent_);
  if (!n || *n == 0) return n;
  size_t taken = rcvq_.discard(*n);
  autotune_receive_buffer(taken);
  maybe_send_window_update();
  return taken;
}

Result<std::span<const ByteView>> Connection::lend(size_t max) {
  lent_.clear();
  if (rcvq_.readable() == 0 || read_shutdown_) {
    std::array<std::byte, 1> none;
    auto r = read(MutableByteView(none).first(0), false);
    if (!r) return r.error();
    return std::span<const ByteView>();  // end of stream
  }
  rcvq_.lend(max, lent_);
  return std::span<const ByteView>(lent_);
}

Result<size_t> Connection::consume(size_t n) {
  lent_.clear();
  if (read_shutdown_) return size_t{0};
  size_t taken = rcvq_.discard(n);
  if (taken == 0) return taken;
  autotune_receive_buffer(taken);
  maybe_send_window_update();
  return taken;
}

Status Connection::shutdown(bool read, bool write) {
  if (state_ == State::kClosed || state_ == State::kListen) return Error::kNotConnected;
  if (read) {
    read_shutdown_ = true;
    rcvq_.discard(rcvq_.readable());
    notify(kEventReadable);
  }
  if (write && !fin_queued_) {
    switch (state_) {
      case State::kSynSent:
        // Nothing sent yet: the FIN goes out once the handshake completes.
        fin_queued_ = true;
        break;
      case State::kSynReceived:
      case State::kEstablished:
        fin_queued_ = true;
        enter_state(State::kFinWait1);
        output();
        break;
      case State::kCloseWait:
        fin_queued_ = true;
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
  read_shutdown_ = true;
  if (options_.linger && options_.linger->count() == 0) {
    abort();
    return;
  }
  // RFC 2525 2.17: closing with unread data resets, so the peer learns data was lost.
  if (rcvq_.readable() > 0) {
    abort();
    return;
  }
  // Data beyond a hole can no longer reach a reader: give its memory back to the stack now
  // rather than when the connection finally goes (SACK is advisory, RFC 2018 8).
  rcvq_.clear();
  switch (state_) {
    case State::kSynSent:
      enter_state(State::kClosed);
      return;
    case State::kFinWait2:
      stack_.timers().arm_after(aux_timer_, protocol_.options().fin_wait2_timeout);
      return;
    default:
      break;
  }
  (void)shutdown(false, true);
}

void Connection::abort() {
  switch (state_) {
    case State::kSynReceived:
    case State::kEstablished:
    case State::kFinWait1:
    case State::kFinWait2:
    case State::kCloseWait:
      send_reset(snd_nxt_, rcv_nxt_, true);
      protocol_.counters().connections_aborted++;
      break;
    default:
      break;
  }
  closed_by_user_ = true;
  sendq_.clear();
  rcvq_.clear();
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
  if (rcvq_.readable() > 0 || fin_received_ || read_shutdown_) m |= kEventReadable;
  if (fin_received_) m |= kEventReadHangup;
  if ((state_ == State::kEstablished || state_ == State::kCloseWait) && !fin_queued_ &&
      sendq_.size() < snd_buf_) {
    m |= kEventWritable;
  }
  if (fin_received_ && fin_queued_) m |= kEventHangup;
  return m;
}

std::optional<Error> Connection::take_error() {
  auto e = error_;
  error_.reset();
  return e;
}

void Connection::set_socket_options(const SocketOptions& options) {
  bool push = (options_.no_delay != options.no_delay && options.no_delay) ||
              (options_.cork && !options.cork);
  // Uncorking pushes what is queued at once, past Nagle, as Linux does.
  push_once_ = options_.cork && !options.cork;
  bool keepalive_changed =
      options_.keepalive != options.keepalive || options_.keepalive_idle != options.keepalive_idle;
  options_ = options;
  if (options.receive_buffer != 0 && state_ != State::kClosed) {
    rcv_buf_ = std::max<uint32_t>(options.receive_buffer, rcv_buf_ > 0 ? 2 * kMinMss : 0);
  }
  if (options.send_buffer != 0) snd_buf_ = options.send_buffer;
  if (keepalive_changed) restart_keepalive();
  if (push) output();
  push_once_ = false;
}

TcpInfo Connection::info() const {
  TcpInfo i;
  TimePoint now = stack_.now();
  auto ms_since = [&](TimePoint t) {
    return t == TimePoint{} ? 0u : static_cast<uint32_t>(to_millis(now - t));
  };
  i.tcpi_state = static_cast<uint8_t>(linux_state(state_));
  i.tcpi_ca_state = in_loss_ ? 4 : in_recovery_ ? 3 : 0;
  i.tcpi_retransmits = static_cast<uint8_t>(std::min(consecutive_rtos_, 255u));
  i.tcpi_probes = static_cast<uint8_t>(std::min(probes_out_, 255u));
  i.tcpi_backoff = static_cast<uint8_t>(std::min(rtt_.backoff_count(), 255u));
  i.tcpi_options = (ts_ok_ ? 1 : 0) | (sack_ok_ ? 2 : 0) | (ws_ok_ ? 4 : 0);
  i.tcpi_snd_wscale = snd_wscale_;
  i.tcpi_rcv_wscale = rcv_wscale_;
  i.tcpi_rto = static_cast<uint32_t>(to_micros(rtt_.rto()));
  i.tcpi_ato = static_cast<uint32_t>(to_micros(protocol_.options().delayed_ack));
  i.tcpi_snd_mss = mss_;
  i.tcpi_rcv_mss = adv_mss_;
  i.tcpi_unacked = static_cast<uint32_t>(sent_.size() - sent_head_);
  uint32_t sacked = 0;
  uint32_t lost = 0;
  for (size_t k = sent_head_; k < sent_.size(); ++k) {
    sacked += sent_[k].sacked ? 1 : 0;
    lost += sent_[k].lost ? 1 : 0;
  }
  i.tcpi_sacked = sacked;
  i.tcpi_lost = lost;
  i.tcpi_last_data_sent = ms_since(last_data_sent_);
  i.tcpi_last_data_recv = ms_since(last_data_recv_);
  i.tcpi_last_ack_recv = ms_since(last_recv_);
  i.tcpi_pmtu = pmtu_;
  i.tcpi_rcv_ssthresh = rcv_buf_;
  i.tcpi_rtt = static_cast<uint32_t>(to_micros(rtt_.srtt()));
  i.tcpi_rttvar = static_cast<uint32_t>(to_micros(rtt_.rttvar()));
  if (cc_) {
    i.tcpi_snd_ssthresh =
        std::min<uint32_t>(cc_->ssthresh() / std::max<uint32_t>(mss_, 1), 0x7fffffff);
    i.tcpi_snd_cwnd = cc_->cwnd() / std::max<uint32_t>(mss_, 1);
  }
  i.tcpi_advmss = adv_mss_;
  i.tcpi_reordering = protocol_.options().reordering;
  i.tcpi_rcv_space = rcv_buf_;
  i.tcpi_total_retrans = total_retrans_;
  i.tcpi_bytes_acked = bytes_acked_;
  i.tcpi_bytes_received = bytes_received_;
  i.tcpi_segs_out = segs_out_;
  i.tcpi_segs_in = segs_in_;
  uint32_t unsent = static_cast<uint32_t>(sendq_.size());
  uint32_t out = outstanding();
  i.tcpi_notsent_bytes = unsent > out ? unsent - out : 0;
  i.tcpi_min_rtt = static_cast<uint32_t>(to_micros(rtt_.min_rtt()));
  i.tcpi_bytes_sent = bytes_sent_;
  i.tcpi_bytes_retrans = bytes_retrans_;
  i.tcpi_dsack_dups = dsack_dups_;
  i.tcpi_rcv_ooopack = ooo_packets_;
  i.tcpi_snd_wnd = snd_wnd_;
  return i;
}

// ---------------------------------------------------------------------------------------------
// Input

SegmentOutcome Connection::on_segment(const NetworkPacketInfo& info, const Segment& seg,
                                      PacketBuffer payload) {
  segs_in_++;
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
      return SegmentOutcome::kDone;
    default:
      return process_synchronized(info, seg, opts, std::move(payload));
  }
}

void Connection::process_syn_sent(const Segment& seg, const Options& opts, PacketBuffer payload) {
  uint8_t flags = seg.flags();
  TcpCounters& c = protocol_.counters();
  if (flags & kAck) {
    if (seg.ack() <= iss_ || seg.ack() > snd_nxt_) {
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
  irs_ = seg.seq();
  rcv_nxt_ = irs_ + 1;
  rcv_adv_ = rcv_nxt_;
  init_after_syn(opts);
  last_recv_ = stack_.now();
  if (flags & kAck) {
    snd_una_ = seg.ack();
    snd_wnd_ = seg.window();  // unscaled in a SYN
    max_snd_wnd_ = snd_wnd_;
    snd_wl1_ = seg.seq();
    snd_wl2_ = seg.ack();
    if (rtt_probe_ && syn_retries_ == 0) rtt_.on_sample(stack_.now() - rtt_probe_->second);
    rtt_probe_.reset();
    rtt_.reset_backoff();
    rexmit_timer_.cancel();
    timer_mode_ = TimerMode::kNone;
    enter_state(State::kEstablished);
    restart_keepalive();
    if (!payload.empty()) process_data(seg.seq() + 1, std::move(payload), (flags & kPsh) != 0);
    if (flags & kFin) process_fin();
    ack_now_ = true;
    if (fin_queued_) enter_state(State::kFinWait1);
    output();
    notify(kEventWritable);
    return;
  }
  // Simultaneous open (RFC 9293 3.5, figure 8).
  snd_wnd_ = seg.window();
  max_snd_wnd_ = snd_wnd_;
  snd_wl1_ = seg.seq();
  snd_wl2_ = snd_una_;
  enter_state(State::kSynReceived);
  send_syn(true);
  arm_retransmit_timer();
}

bool Connection::acceptable(SeqNum seq, uint32_t length) const {
  uint32_t wnd = receive_window();
  if (length == 0) {
    if (wnd == 0) return seq == rcv_nxt_;
    return seq.in_window(rcv_nxt_, wnd);
  }
  if (wnd == 0) return false;
  return seq.in_window(rcv_nxt_, wnd) || (seq + (length - 1)).in_window(rcv_nxt_, wnd);
}

void Connection::send_challenge_ack() {
  if (!protocol_.take_challenge_ack_budget()) {
    protocol_.counters().challenge_acks_rate_limited++;
    return;
  }
  protocol_.counters().challenge_acks++;
  send_ack();
}

SegmentOutcome Connection::process_synchronized(const NetworkPacketInfo& info, const Segment& seg,
                                                const Options& opts, PacketBuffer payload) {
  (void)info;
  TcpCounters& c = protocol_.counters();
  uint8_t flags = seg.flags();
  SeqNum seq = seg.seq();
  TimePoint now = stack_.now();

  // A new SYN for a connection in TIME-WAIT may start a new incarnation when it is clearly
  // newer: a newer timestamp (RFC 6191), or a higher sequence number (RFC 1122 4.2.2.13) that
  // PAWS does not reject. A port reused within one timestamp tick carries an equal timestamp,
  // so the sequence number must still count then, as in Linux's tcp_timewait_state_process.
  if (state_ == State::kTimeWait && (flags & (kSyn | kAck | kRst)) == kSyn) {
    bool have_ts = ts_ok_ && opts.timestamps;
    auto ts_delta = have_ts ? static_cast<int32_t>(opts.timestamps->value - ts_recent_) : 0;
    bool newer = (have_ts && ts_delta > 0) || (ts_delta >= 0 && seq > rcv_nxt_);
    if (newer) {
      c.time_wait_reused++;
      enter_state(State::kClosed);
      return SegmentOutcome::kRedeliver;
    }
  }

  uint32_t seg_len =
      static_cast<uint32_t>(payload.size()) + ((flags & kSyn) ? 1 : 0) + ((flags & kFin) ? 1 : 0);

  // PAWS (RFC 7323 5.3).
  if (ts_ok_ && opts.timestamps && (flags & kRst) == 0) {
    if (static_cast<int32_t>(opts.timestamps->value - ts_recent_) < 0 &&
        now - ts_recent_stamp_ < kPawsIdle) {
      c.drop_paws++;
      send_ack();
      return SegmentOutcome::kDone;
    }
  }

  // Our SYN-ACK was lost: the peer repeats its SYN.
  if (state_ == State::kSynReceived && (flags & (kSyn | kRst | kAck)) == kSyn && seq == irs_) {
    send_syn(true);
    return SegmentOutcome::kDone;
  }

  if (!acceptable(seq, seg_len)) {
    if (flags & kRst) {
      c.drop_rst_out_of_window++;
      return SegmentOutcome::kDone;
    }
    c.drop_out_of_window++;
    // TIME-WAIT: a retransmitted FIN (our ACK was lost) restarts the 2MSL wait.
    if (state_ == State::kTimeWait && (flags & kFin) && seq + seg_len == rcv_nxt_) {
      stack_.timers().arm_after(aux_timer_, protocol_.options().time_wait);
    }
    // A retransmission of data we already have: report it as a D-SACK.
    if (sack_ok_ && !payload.empty() && seq < rcv_nxt_) {
      rcvq_.note_duplicate(SeqRange{seq, seq + static_cast<uint32_t>(payload.size())});
      c.dsacks_sent++;
    }
    send_ack();
    return SegmentOutcome::kDone;
  }
  last_recv_ = now;
  keepalive_probes_sent_ = 0;

  // RFC 7323 4.3: remember the timestamp of the segment that covers the left window edge.
  if (ts_ok_ && opts.timestamps && seq <= last_ack_sent_ &&
      static_cast<int32_t>(opts.timestamps->value - ts_recent_) >= 0) {
    ts_recent_ = opts.timestamps->value;
    ts_recent_stamp_ = now;
  }

  // RST (RFC 5961 3.2): exactly rcv.nxt resets; anywhere else in the window is challenged.
  if (flags & kRst) {
    if (seq != rcv_nxt_) {
      send_challenge_ack();
      return SegmentOutcome::kDone;
    }
    c.resets_received++;
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

  // Trim what we already have and what lies beyond the window.
  bool fin = (flags & kFin) != 0;
  if (flags & kSyn) {
    // RFC 5961 4.2: any SYN in a synchronized state is answered with a challenge ACK.
    c.drop_syn_in_window++;
    send_challenge_ack();
    return SegmentOutcome::kDone;
  }
  if (seq < rcv_nxt_) {
    auto dup = static_cast<uint32_t>(rcv_nxt_ - seq);
    uint32_t data_dup = std::min<uint32_t>(dup, static_cast<uint32_t>(payload.size()));
    if (data_dup > 0 && sack_ok_) {
      rcvq_.note_duplicate(SeqRange{seq, seq + data_dup});
      c.dsacks_sent++;
    }
    payload.pull_front(data_dup);
    seq += data_dup;
    if (dup > data_dup) fin = false;  // the FIN itself was a duplicate
    if (data_dup > 0) ack_now_ = true;
  }
  uint32_t wnd = receive_window();
  if (payload.size() > wnd) {
    c.drop_beyond_receive_window++;
    payload.truncate(wnd);
    fin = false;
  }

  if ((flags & kAck) == 0) {
    c.drop_no_ack_flag++;
    return SegmentOutcome::kDone;
  }
  if (state_ == State::kSynReceived) {
    if (seg.ack() > snd_una_ && seg.ack() <= snd_nxt_) {
      if (listener_ != nullptr && listener_->accept_queue_full()) {
        // Resetting here would kill a connection the peer already believes open, and an
        // HTTP client then reads ECONNRESET: drop the ACK and let a retransmission retry.
        c.drop_accept_queue_full++;
        return SegmentOutcome::kDone;
      }
      rexmit_timer_.cancel();
      timer_mode_ = TimerMode::kNone;
      snd_wnd_ = uint32_t{seg.window()} << snd_wscale_;
      max_snd_wnd_ = std::max(max_snd_wnd_, snd_wnd_);
      snd_wl1_ = seq;
      snd_wl2_ = seg.ack();
      enter_state(State::kEstablished);
      restart_keepalive();
      if (listener_ != nullptr) listener_->child_established(*this);
      notify(kEventWritable);
      if (fin_queued_) enter_state(State::kFinWait1);
    } else {
      c.drop_bad_ack++;
      send_reset(seg.ack(), SeqNum(), false);
      return SegmentOutcome::kDone;
    }
  }
  if (!process_ack(seg, opts, seg_len)) return SegmentOutcome::kDone;
  if (state_ == State::kClosed) return SegmentOutcome::kDone;

  // URG is not implemented: the pointer is ignored and urgent bytes stay inline.
  if (!payload.empty()) {
    switch (state_) {
      case State::kEstablished:
      case State::kFinWait1:
      case State::kFinWait2:
        if (closed_by_user_ && !attached()) {
          // No one will ever read this (RFC 9293 3.10.7.4 lets us reset; Linux does).
          c.drop_data_after_close++;
          send_reset(snd_nxt_, rcv_nxt_ + static_cast<uint32_t>(payload.size()), true);
          terminate(Error::kConnectionReset);
          return SegmentOutcome::kDone;
        }
        process_data(seq, std::move(payload), (flags & kPsh) != 0);
        break;
      default:
        break;  // the peer's FIN was already received: ignore
    }
  }
  if (fin) {
    SeqNum fin_seq = seq + static_cast<uint32_t>(payload.size());
    if (fin_seq == rcv_nxt_ && !fin_received_) {
      process_fin();
    } else if (fin_seq > rcv_nxt_) {
      ooo_fin_ = fin_seq;
      ack_now_ = true;
    } else if (fin_received_) {
      // A repeated FIN (our ACK was lost); in TIME-WAIT restart the 2MSL wait.
      if (state_ == State::kTimeWait)
        stack_.timers().arm_after(aux_timer_, protocol_.options().time_wait);
      ack_now_ = true;
    }
  }
  output();
  return SegmentOutcome::kDone;
}

void Connection::update_send_window(const Segment& seg) {
  SeqNum seq = seg.seq();
  SeqNum ack = seg.ack();
  if (snd_wl1_ < seq || (snd_wl1_ == seq && snd_wl2_ <= ack)) {
    uint32_t wnd = uint32_t{seg.window()} << snd_wscale_;
    bool opened = snd_wnd_ == 0 && wnd > 0;
    snd_wnd_ = wnd;
    max_snd_wnd_ = std::max(max_snd_wnd_, wnd);
    snd_wl1_ = seq;
    snd_wl2_ = ack;
    if (opened) {
      persist_backoff_ = 0;
      if (timer_mode_ == TimerMode::kPersist) {
        rexmit_timer_.cancel();
        timer_mode_ = TimerMode::kNone;
      }
    }
  }
}

bool Connection::process_ack(const Segment& seg, const Options& opts, uint32_t seg_len) {
  TcpCounters& c = protocol_.counters();
  SeqNum ack = seg.ack();
  TimePoint now = stack_.now();
  if (ack > snd_nxt_) {
    c.drop_bad_ack++;
    send_ack();
    return false;
  }
  // RFC 5961 5.2: an ACK too far below snd.una is suspicious.
  uint32_t max_wnd = std::max<uint32_t>(max_snd_wnd_, 65535);
  if (ack < snd_una_ - max_wnd) {
    c.drop_bad_ack++;
    send_challenge_ack();
    return false;
  }
  uint32_t old_wnd = snd_wnd_;
  if (ack >= snd_una_) update_send_window(seg);
  ack_tsecr_.reset();
  if (ts_ok_ && opts.timestamps) ack_tsecr_ = opts.timestamps->echo;

  uint32_t newly_sacked = 0;
  bool dsack = false;
  on_sack_blocks(opts, newly_sacked, dsack);
  Duration rtt_sample{};
  if (ack > snd_una_) {
    auto acked = static_cast<uint32_t>(ack - snd_una_);
    uint32_t ctl = 0;
    if (snd_una_ == iss_) ctl++;  // our SYN
    bool fin_acked = fin_sent_ && ack == snd_nxt_;
    if (fin_acked) ctl++;
    sendq_.consume(acked - std::min(acked, ctl));
    bytes_acked_ += acked;

    // Retire fully acknowledged records, noting the send times of the oldest and newest one
    // sent once (Karn: a retransmitted record's ACK may be for either copy).
    std::optional<TimePoint> oldest_sent;
    std::optional<TimePoint> newest_sent;
    auto note_sent = [&](const SentSegment& s) {
      if (s.retransmitted || s.sacked) return;
      if (!oldest_sent) oldest_sent = s.sent;
      newest_sent = s.sent;
    };
    while (sent_head_ < sent_.size() && sent_[sent_head_].end <= ack) {
      SentSegment& s = sent_[sent_head_];
      note_sent(s);
      if (!s.sacked) rack_update(s, now);
      if (s.lost) lost_bytes_ -= s.end - s.begin;
      ++sent_head_;
    }
    if (sent_head_ < sent_.size() && sent_[sent_head_].begin < ack) {
      SentSegment& s = sent_[sent_head_];
      note_sent(s);  // part of a GSO batch: sent at the batch's time
      if (s.lost) lost_bytes_ -= static_cast<uint32_t>(ack - s.begin);
      s.begin = ack;
    }

    // RTT, as Linux measures it: from the send times of what this ACK covers, at the clock's
    // resolution, where the timestamp echo (RFC 7323 4.1) only has the millisecond of the
    // TSval clock: a LAN's 100 us round trip would read as 0 or 1 ms. The RTO takes the oldest
    // record's time (the conservative sample), congestion control the newest. The echo is
    // the fallback when everything covered was retransmitted. The SYN is no record: without
    // timestamps, its send time (rtt_probe_, dropped if the SYN was resent) times the
    // handshake.
    Duration rto_sample{};
    if (oldest_sent) {
      // A zero sample (a clock that did not move) counts as one microsecond, as in Linux.
      constexpr Duration kFloor = std::chrono::microseconds(1);
      rto_sample = std::max<Duration>(now - *oldest_sent, kFloor);
      rtt_sample = std::max<Duration>(now - *newest_sent, kFloor);
    } else if (ts_ok_ && opts.timestamps && opts.timestamps->echo != 0) {
      auto ms = static_cast<int32_t>(ts_now() - opts.timestamps->echo);
      if (ms >= 0) rtt_sample = rto_sample = std::chrono::milliseconds(std::max(ms, 1));
    } else if (rtt_probe_ && ack > rtt_probe_->first) {
      rtt_sample = rto_sample = now - rtt_probe_->second;
    }
    if (rtt_probe_ && ack > rtt_probe_->first) rtt_probe_.reset();
    if (rto_sample > Duration::zero()) rtt_.on_sample(rto_sample);
    rtt_.reset_backoff();
    consecutive_rtos_ = 0;
    probes_out_ = 0;
    if (sent_head_ == sent_.size()) {
      sent_.clear();
      sent_head_ = 0;
    } else if (sent_head_ > 64 && sent_head_ * 2 > sent_.size()) {
      sent_.erase(sent_.begin(), sent_.begin() + static_cast<std::ptrdiff_t>(sent_head_));
      sent_head_ = 0;
    }
    scoreboard_.advance(ack);
    snd_una_ = ack;
    dupacks_ = 0;

    if ((in_recovery_ || in_loss_) && ack >= recovery_point_) {
      in_recovery_ = false;
      in_loss_ = false;
      rack_.on_recovery_exit();
      c.recovery_exits++;
      if (cc_) cc_->on_recovery_exit(now);
    } else if (in_recovery_ && !sack_ok_ && sent_head_ < sent_.size()) {
      // NewReno partial ACK (RFC 6582 3.2 step 3): the next hole is lost too.
      SentSegment& s = sent_[sent_head_];
      if (!s.lost && !s.sacked) mark_lost(s);
    }
    if (cc_) {
      AckSample sample;
      sample.now = now;
      sample.bytes_acked = acked + newly_sacked;
      sample.bytes_in_flight = bytes_in_flight();
      sample.rtt = rtt_sample;
      sample.min_rtt = rtt_.has_sample() ? rtt_.min_rtt() : Duration{};
      sample.app_limited = sendq_.size() <= outstanding();
      cc_->on_ack(sample, in_recovery_ || in_loss_);
    }

    if (fin_acked) {
      switch (state_) {
        case State::kFinWait1:
          enter_state(State::kFinWait2);
          if (closed_by_user_)
            stack_.timers().arm_after(aux_timer_, protocol_.options().fin_wait2_timeout);
          break;
        case State::kClosing:
          enter_time_wait();
          break;
        case State::kLastAck:
          enter_state(State::kClosed);
          return false;
        default:
          break;
      }
    }
    if (outstanding() == 0) {
      if (timer_mode_ != TimerMode::kPersist) {
        rexmit_timer_.cancel();
        timer_mode_ = TimerMode::kNone;
      }
    } else {
      arm_loss_timer();
    }
    if (state_ == State::kEstablished || state_ == State::kCloseWait) notify(kEventWritable);
  } else if (ack == snd_una_ && seg_len == 0 && outstanding() > 0 && snd_wnd_ == old_wnd &&
             (seg.flags() & (kSyn | kFin)) == 0) {
    // RFC 5681 duplicate ACK.
    dupacks_++;
    c.dup_acks_received++;
    if (newly_sacked > 0 && cc_) {
      AckSample sample;
      sample.now = now;
      sample.bytes_acked = newly_sacked;
      sample.bytes_in_flight = bytes_in_flight();
      cc_->on_ack(sample, in_recovery_ || in_loss_);
    }
    if (dupacks_ >= protocol_.options().reordering && !in_recovery_ && !in_loss_ &&
        sent_head_ < sent_.size()) {
      SentSegment& s = sent_[sent_head_];
      if (!s.lost && !s.sacked) mark_lost(s);
    }
  }

  rack_.on_ack(dsack, snd_una_, snd_nxt_);
  if (rack_.probe_outstanding() && rack_.on_ack_during_probe(ack, dsack)) {
    // RFC 8985 7.4: the probe alone repaired a loss: react to it as to any congestion.
    c.tlp_loss_repaired++;
    if (cc_) cc_->on_congestion_event(now, bytes_in_flight());
  }
  if (sack_ok_ && protocol_.options().rack && (scoreboard_.sacked_bytes() > 0 || in_recovery_)) {
    rack_detect_loss(now);
  } else if (sack_ok_ && !protocol_.options().rack && !in_recovery_ && !in_loss_) {
    // Without RACK: RFC 6675 IsLost for the first hole (DupThresh segments SACKed above it).
    if (scoreboard_.sacked_bytes() >= protocol_.options().reordering * mss_ &&
        sent_head_ < sent_.size()) {
      auto high = scoreboard_.highest_sacked();
      for (size_t k = sent_head_; k < sent_.size() && high && sent_[k].end <= *high; ++k) {
        if (!sent_[k].sacked && !sent_[k].lost) mark_lost(sent_[k]);
      }
    }
  }
  if (lost_bytes_ > 0 && !in_recovery_ && !in_loss_) enter_recovery(sack_ok_);
  return true;
}

void Connection::on_sack_blocks(const Options& opts, uint32_t& newly_sacked, bool& dsack) {
  if (!sack_ok_ || opts.sack_block_count == 0) return;
  auto blocks = opts.sacks();
  TcpCounters& c = protocol_.counters();
  const SeqRange& first = blocks[0];
  if (first.end <= snd_una_ ||
      (blocks.size() > 1 && blocks[1].begin <= first.begin && first.end <= blocks[1].end)) {
    dsack = true;
    c.dsacks_received++;
    dsack_dups_++;
  }
  newly_sacked = scoreboard_.update(snd_una_, snd_nxt_, blocks);
  if (newly_sacked == 0) return;
  TimePoint now = stack_.now();
  for (const SeqRange& b : blocks) {
    if (b.end <= snd_una_) continue;
    // A record sent as one GSO packet covers many segments, of which the peer may have
    // received some: cut it at the block's edges so each part is SACKed or lost on its own,
    // as Linux fragments a TSO skb on SACK.
    split_sent_at(b.begin);
    split_sent_at(b.end);
    auto it = std::lower_bound(sent_.begin() + static_cast<std::ptrdiff_t>(sent_head_), sent_.end(),
                               b.begin, [](const SentSegment& s, SeqNum v) { return s.end <= v; });
    for (; it != sent_.end() && it->begin < b.end; ++it) {
      if (it->sacked) continue;
      if (!scoreboard_.is_sacked(SeqRange{it->begin, it->end})) continue;
      it->sacked = true;
      if (it->lost) {
        it->lost = false;
        lost_bytes_ -= it->end - it->begin;
      }
      rack_update(*it, now);
    }
  }
}

void Connection::split_sent_at(SeqNum at) {
  auto it = std::lower_bound(sent_.begin() + static_cast<std::ptrdiff_t>(sent_head_), sent_.end(),
                             at, [](const SentSegment& s, SeqNum v) { return s.end <= v; });
  if (it == sent_.end() || !(it->begin < at) || !(at < it->end)) return;
  SentSegment tail = *it;
  tail.begin = at;
  it->end = at;
  sent_.insert(it + 1, tail);
}

void Connection::rack_update(const SentSegment& s, TimePoint now) {
  if (s.end > fack_ || fack_ == SeqNum()) fack_ = s.end;
  // The ACK of a retransmission may be for either copy, unless its timestamp echo is at least
  // the TSval of the retransmission (RFC 8985 6.2 step 2).
  bool ambiguous = s.retransmitted;
  if (ambiguous && ts_ok_ && ack_tsecr_) {
    auto tsval = static_cast<uint32_t>(to_millis(s.sent.time_since_epoch())) + ts_offset_;
    ambiguous = static_cast<int32_t>(*ack_tsecr_ - tsval) < 0;
  }
  rack_.on_delivered(Rack::SentSegment{s.end, s.sent, s.retransmitted}, now,
                     rtt_.has_sample() ? rtt_.min_rtt() : Duration{}, ambiguous);
}

void Connection::mark_lost(SentSegment& s) {
  if (s.lost || s.sacked) return;
  s.lost = true;
  lost_bytes_ += s.end - s.begin;
}

void Connection::rack_detect_loss(TimePoint now) {
  if (!rack_.has_delivery()) return;
  auto sacked_segments =
      static_cast<uint32_t>(scoreboard_.sacked_bytes() / std::max<uint32_t>(mss_, 1));
  Duration reo_wnd = rack_.reorder_window(in_recovery_ || in_loss_, sacked_segments, rtt_.srtt(),
                                          rtt_.has_sample() ? rtt_.min_rtt() : Duration{});
  Duration wait{0};
  for (size_t k = sent_head_; k < sent_.size(); ++k) {
    SentSegment& s = sent_[k];
    // Records are in sequence order; past the highest delivered byte only a retransmission
    // can have been sent before the RACK segment.
    if (s.begin >= fack_ && !s.retransmitted) break;
    if (s.sacked || s.lost) continue;
    if (rack_.is_lost(Rack::SentSegment{s.end, s.sent, s.retransmitted}, now, reo_wnd, &wait)) {
      mark_lost(s);
      protocol_.counters().rack_lost_marked++;
    }
  }
  if (wait > Duration::zero() && timer_mode_ != TimerMode::kReorder) {
    timer_mode_ = TimerMode::kReorder;
    stack_.timers().arm_after(rexmit_timer_, wait);
  }
}

void Connection::enter_recovery(bool sack_based) {
  TcpCounters& c = protocol_.counters();
  in_recovery_ = true;
  recovery_point_ = snd_nxt_;
  c.fast_retransmits++;
  if (sack_based)
    c.sack_recoveries++;
  else
    c.newreno_recoveries++;
  if (cc_) cc_->on_congestion_event(stack_.now(), bytes_in_flight());
}

uint32_t Connection::bytes_in_flight() const {
  uint32_t out = outstanding();
  uint32_t gone = scoreboard_.sacked_bytes() + lost_bytes_;
  return out > gone ? out - gone : 0;
}

void Connection::process_data(SeqNum seq, PacketBuffer payload, bool push) {
  (void)push;
  TcpCounters& c = protocol_.counters();
  size_t len = payload.size();
  bytes_received_ += len;
  c.bytes_received += len;
  last_data_recv_ = stack_.now();
  // Receive memory is charged at what it pins; twice the buffer leaves room for segments in
  // chunks up to 1.5 times their size (see tcp/receive_queue.h), and the floor keeps a tiny
  // buffer from refusing a segment that arrived in a standard-sized chunk.
  size_t limit = std::max<size_t>(2 * size_t{rcv_buf_}, kMinReceiveMemory);
  // The stack's account may bind tighter (see SocketMemory): which limit did decides how a
  // prune or a drop is counted.
  enum class Bound { kOwn, kPressure, kHardLimit } bound = Bound::kOwn;
  auto tighten = [&](size_t cap, Bound why) {
    if (cap < limit) {
      limit = cap;
      bound = why;
    }
  };
  SocketMemory& memory = stack_.socket_memory();
  const bool in_order = seq == rcv_nxt_;
  const size_t need = payload.pinned_bytes();
  bool refuse = false;
  if (memory.under_pressure()) {
    // Out-of-order data goes first (Linux's tcp_prune_queue under pressure): beyond its fair
    // share of the hard limit a connection keeps what it holds in order and what just came
    // in order, and gives up pieces beyond a hole to make room.
    size_t keep = in_order ? rcvq_.in_order_charged() + need : 0;
    tighten(std::max({memory.fair_share(), kMemoryFloor, keep}), Bound::kPressure);
  }
  if (memory.exceeds_hard_limit(need)) {
    if (in_order && rcvq_.in_order_charged() < kMemoryFloor) {
      // Every connection may hold a little in order whatever the others pin, so each still
      // makes progress (Linux forces the charge when the receive queue is empty).
      c.memory_floor_accepted++;
    } else if (!in_order && memory.over_hard_limit()) {
      // Nothing beyond a hole is worth memory the stack does not have.
      tighten(0, Bound::kHardLimit);
      refuse = true;
    } else {
      const size_t room =
          memory.limits().max > memory.used() ? memory.limits().max - memory.used() : 0;
      tighten(rcvq_.charged() + room, Bound::kHardLimit);
    }
  }
  ReceiveQueue::AddResult r;
  if (refuse)
    r.dropped = true;
  else
    r = rcvq_.add(rcv_nxt_, seq, std::move(payload), limit);
  if (bound == Bound::kOwn)
    c.ofo_pruned += r.pruned;
  else
    c.ofo_pruned_pressure += r.pruned;
  if (r.dropped) {
    switch (bound) {
      case Bound::kOwn:
        c.drop_receive_queue_memory++;
        break;
      case Bound::kPressure:
        c.drop_memory_pressure++;
        break;
      case Bound::kHardLimit:
        c.drop_memory_hard_limit++;
        memory.note_refused();
        break;
    }
  }
  if (r.advanced > 0) {
    rcv_nxt_ += r.advanced;
    if (read_shutdown_)
      rcvq_.discard(rcvq_.readable());
    else
      notify(kEventReadable);
  }
  if (r.out_of_order || refuse) {
    c.out_of_order_segments++;
    ooo_packets_++;
  }
  if (r.out_of_order || refuse || r.filled_gap || rcvq_.dsack_pending() ||
      rcvq_.has_out_of_order()) {
    ack_now_ = true;  // RFC 5681 4.2: ACK reordering and gap-filling at once
  } else if (r.advanced > 0) {
    schedule_ack(false);
  }
  if (ooo_fin_ && *ooo_fin_ == rcv_nxt_) process_fin();
}

void Connection::process_fin() {
  fin_received_ = true;
  ooo_fin_.reset();
  rcv_nxt_ += 1;
  ack_now_ = true;
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
  unacked_segments_++;
  if (quick || options_.quick_ack || quick_acks_left_ > 0) {
    if (quick_acks_left_ > 0) quick_acks_left_--;
    protocol_.counters().quick_acks++;
    ack_now_ = true;
    return;
  }
  if (unacked_segments_ >= 2) {
    ack_now_ = true;
    return;
  }
  if (!delack_timer_.armed())
    stack_.timers().arm_after(delack_timer_, protocol_.options().delayed_ack);
}

void Connection::on_delack_timer() {
  if (unacked_segments_ == 0 && !ack_now_) return;
  protocol_.counters().delayed_acks++;
  send_ack();
}

// ---------------------------------------------------------------------------------------------
// Output

bool Connection::fin_ready() const { return fin_queued_ && !fin_sent_; }

uint32_t Connection::receive_space(bool count) {
  size_t used = rcvq_.readable() + rcvq_.out_of_order_bytes();
  uint32_t free_space = rcv_buf_ > used ? static_cast<uint32_t>(rcv_buf_ - used) : 0;
  // Under memory pressure the window opens no further than four segments (Linux clamps
  // rcv_ssthresh to 4 * advmss); callers never move the right edge back (RFC 9293 3.8.6).
  const uint32_t clamp = 4u * adv_mss_;
  if (free_space > clamp && stack_.socket_memory().under_pressure()) {
    free_space = clamp;
    if (count) protocol_.counters().window_clamped_pressure++;
  }
  return free_space;
}

uint16_t Connection::advertised_window() {
  uint32_t free_space = receive_space(true);
  uint32_t current = receive_window();
  uint32_t wnd = current;
  if (free_space > current) {
    // Receiver SWS avoidance (RFC 9293 3.8.6.2.2): open in steps of min(buffer/2, MSS).
    uint32_t step = std::min<uint32_t>(rcv_buf_ / 2, adv_mss_);
    if (free_space - current >= step) wnd = free_space;
  }
  uint32_t field = std::min<uint32_t>(wnd >> rcv_wscale_, 65535);
  if ((uint64_t{field} << rcv_wscale_) < current && field < 65535) field++;
  SeqNum edge = rcv_nxt_ + (field << rcv_wscale_);
  if (edge > rcv_adv_) rcv_adv_ = edge;
  last_adv_window_ = field << rcv_wscale_;
  return static_cast<uint16_t>(field);
}

void Connection::fill_ack_options(Options& o) {
  if (ts_ok_) o.timestamps = Timestamps{ts_now(), ts_recent_};
  if (sack_ok_) {
    std::array<SeqRange, kMaxSackBlocks> blocks{};
    // With timestamps only three blocks fit in 40 option bytes.
    size_t room = ts_ok_ ? 3 : 4;
    size_t n = rcvq_.take_sack_blocks(rcv_nxt_, std::span(blocks).first(room));
    for (size_t k = 0; k < n; ++k) o.add_sack(blocks[k]);
    if (n > 0) protocol_.counters().sack_blocks_sent += n;
  }
}

void Connection::transmit(uint8_t flags, SeqNum seq, PacketBuffer payload, bool syn_options) {
  TcpCounters& c = protocol_.counters();
  SegmentHeader h;
  h.source_port = demux_id_.local_port;
  h.destination_port = demux_id_.remote_port;
  h.seq = seq;
  h.flags = flags;
  if (flags & kAck) h.ack = rcv_nxt_;
  if (syn_options) {
    const TcpOptions& po = protocol_.options();
    h.options.mss = adv_mss_;
    bool syn_ack = (flags & kAck) != 0;
    if (po.window_scaling && (!syn_ack || ws_ok_)) h.options.window_scale = rcv_wscale_;
    if (po.sack && (!syn_ack || sack_ok_)) h.options.sack_permitted = true;
    if (po.timestamps && (!syn_ack || ts_ok_)) {
      h.options.timestamps = Timestamps{ts_now(), syn_ack ? ts_recent_ : 0};
    }
    // Windows in SYN segments are never scaled (RFC 7323 2.2).
    uint32_t wnd = std::min<uint32_t>(rcv_buf_, 65535);
    h.window = static_cast<uint16_t>(wnd);
    if (rcv_nxt_ + wnd > rcv_adv_) rcv_adv_ = rcv_nxt_ + wnd;
  } else if ((flags & kRst) == 0) {
    h.window = advertised_window();
    fill_ack_options(h.options);
  }
  size_t payload_len = payload.size();
  // A GSO packet's checksum is always left for whoever cuts it: the link, or the NIC which
  // sums each piece for links that cannot.
  PacketBuffer pkt =
      route_link_.tx_checksum_offload || payload_len > mss_
          ? build_segment_offloaded(h, std::move(payload), demux_id_.local_address,
                                    demux_id_.remote_address)
          : build_segment(h, std::move(payload), demux_id_.local_address,
                          demux_id_.remote_address);
  uint32_t segments = 1;
  if (payload_len > mss_) {
    // Only send_new_data builds these (segment_limit()).
    pkt.meta().gso_type =
        demux_id_.local_address.is_v4() ? GsoType::kTcpV4 : GsoType::kTcpV6;
    pkt.meta().gso_size = static_cast<uint16_t>(mss_);
    segments = static_cast<uint32_t>((payload_len + mss_ - 1) / mss_);
    pkt.meta().gso_segments = static_cast<uint16_t>(segments);
  }
  if (flags & kAck) {
    last_ack_sent_ = rcv_nxt_;
    unacked_segments_ = 0;
    ack_now_ = false;
    delack_timer_.cancel();
  }
  segs_out_ += segments;
  c.segments_sent += segments;
  if (payload_len > 0) {
    c.bytes_sent += payload_len;
    bytes_sent_ += payload_len;
    last_data_sent_ = stack_.now();
  }
  if (flags & kRst) c.resets_sent++;
  if (auto st = protocol_.transmit(route_, std::move(pkt)); !st) c.drop_send_error++;
}

size_t Connection::segment_limit() const {
  if (!protocol_.options().gso) return mss_;
  // The link or the NIC cuts one packet into MSS-sized segments (TSO/GSO): as many whole
  // segments as fit in one IP datagram with the largest TCP header.
  constexpr size_t kLargestHeaders = 40 + 60;
  const size_t whole = (size_t{65535} - kLargestHeaders) / mss_;
  return std::max<size_t>(whole, 1) * mss_;
}

void Connection::send_syn(bool with_ack) {
  transmit(with_ack ? (kSyn | kAck) : kSyn, iss_, PacketBuffer(), true);
}

void Connection::send_ack() { transmit(kAck, snd_nxt_, PacketBuffer(), false); }

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
  if (auto st = protocol_.transmit(route_, std::move(pkt)); !st)
    protocol_.counters().drop_send_error++;
}

void Connection::send_probe() { transmit(kAck, snd_una_ - 1, PacketBuffer(), false); }

bool Connection::retransmit_lost() {
  bool sent = false;
  uint32_t cwnd = cc_ ? cc_->cwnd() : mss_;
  for (size_t k = sent_head_; k < sent_.size() && lost_bytes_ > 0; ++k) {
    SentSegment& s = sent_[k];
    if (!s.lost || s.sacked) continue;
    uint32_t flight = bytes_in_flight();
    if (flight > 0 && flight + std::min<uint32_t>(s.end - s.begin, mss_) > cwnd) break;
    retransmit_segment(sent_[k]);
    sent = true;
  }
  return sent;
}

void Connection::retransmit_segment(SentSegment& s_ref) {
  // Split a record wider than the (possibly reduced) MSS; the tail stays lost.
  size_t index = static_cast<size_t>(&s_ref - sent_.data());
  bool has_fin = fin_sent_ && s_ref.end == snd_nxt_;
  uint32_t data_len = (s_ref.end - s_ref.begin) - (has_fin ? 1 : 0);
  if (data_len > mss_) {
    SentSegment tail = s_ref;
    tail.begin = s_ref.begin + mss_;
    sent_[index].end = sent_[index].begin + mss_;
    sent_.insert(sent_.begin() + static_cast<std::ptrdiff_t>(index + 1), tail);
    has_fin = false;
    data_len = mss_;
  }
  SentSegment& s = sent_[index];
  uint8_t flags = kAck;
  if (has_fin) flags |= kFin;
  PacketBuffer payload = sendq_.slice(static_cast<size_t>(s.begin - snd_una_), data_len);
  if (s.lost) {
    lost_bytes_ -= s.end - s.begin;
    s.lost = false;
  }
  s.retransmitted = true;
  s.sent = stack_.now();
  TcpCounters& c = protocol_.counters();
  c.retransmitted_segments++;
  total_retrans_++;
  bytes_retrans_ += data_len;
  transmit(flags, s.begin, std::move(payload), false);
  if (!rexmit_timer_.armed()) arm_loss_timer();
}

bool Connection::send_new_data(bool force_one) {
  if (fin_sent_) return false;
  bool sent_any = false;
  TimePoint now = stack_.now();
  if (outstanding() == 0 && cc_ && last_data_sent_ != TimePoint{} &&
      now - last_data_sent_ > rtt_.rto()) {
    cc_->on_idle_restart(now);  // RFC 5681 4.1
  }
  while (true) {
    auto queued_off = static_cast<uint32_t>(snd_nxt_ - snd_una_);
    size_t avail = sendq_.size() > queued_off ? sendq_.size() - queued_off : 0;
    bool fin_pending = fin_ready();
    if (avail == 0 && !fin_pending) break;
    SeqNum wnd_edge = snd_una_ + snd_wnd_;
    uint32_t usable = wnd_edge > snd_nxt_ ? static_cast<uint32_t>(wnd_edge - snd_nxt_) : 0;
    uint32_t cwnd = cc_ ? cc_->cwnd() : mss_;
    uint32_t flight = bytes_in_flight();
    uint32_t cwnd_room = cwnd > flight ? cwnd - flight : 0;
    if (force_one) cwnd_room = mss_;
    size_t len = std::min<size_t>({segment_limit(), avail, usable, cwnd_room});
    // A GSO batch carries whole segments only; the tail below one MSS goes on its own, through
    // the SWS, Nagle and cork checks below.
    if (len > mss_) len -= len % mss_;
    bool fin_now = fin_pending && len == avail && (usable > 0 || avail == 0 || force_one);
    if (len == 0 && !fin_now) break;
    if (len < avail && len < mss_) {
      // Sender SWS avoidance (RFC 9293 3.8.6.2.1): wait for a useful window unless it is at
      // least half the largest window the peer ever offered.
      if (len < max_snd_wnd_ / 2 && !force_one) break;
    }
    if (len == avail && len < mss_ && !fin_now && !force_one) {
      if (options_.cork) break;  // TCP_CORK: only full segments until uncorked
      // Nagle (RFC 896) in Minshall's form, as Linux has it: a partial segment waits only while
      // an earlier partial one is unacknowledged, so a response written as a small head and a
      // body does not sit out the peer's delayed ACK behind full segments already sent.
      if (!options_.no_delay && !push_once_ && outstanding() > 0 && small_segment_in_flight()) {
        break;
      }
    }
    uint8_t flags = kAck;
    if (len == avail && len > 0) flags |= kPsh;
    if (fin_now) flags |= kFin;
    PacketBuffer payload = sendq_.slice(queued_off, len);
    SeqNum begin = snd_nxt_;
    auto seq_len = static_cast<uint32_t>(len + (fin_now ? 1 : 0));
    sent_.push_back(SentSegment{begin, begin + seq_len, now, false, false, false});
    snd_nxt_ += seq_len;
    if (len < mss_ && len > 0) last_small_end_ = snd_nxt_;
    if (fin_now) fin_sent_ = true;
    transmit(flags, begin, std::move(payload), false);
    sent_any = true;
    // RFC 6298 5.1 starts the RTO only if it is not running; RFC 8985 7.2 restarts the PTO
    // after new data (but not after the probe itself).
    if (timer_mode_ != TimerMode::kRetransmit || !rexmit_timer_.armed()) {
      if (!force_one) arm_loss_timer();
    }
    if (force_one || fin_now) break;
  }
  return sent_any;
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
      if (ack_now_) send_ack();
      return;
    default:
      return;
  }
  if (lost_bytes_ > 0) retransmit_lost();
  send_new_data(false);
  // Zero window with data waiting and nothing in flight to elicit an ACK: probe (RFC 9293
  // 3.8.6.1), backing off like the RTO but never giving up.
  auto queued_off = static_cast<uint32_t>(snd_nxt_ - snd_una_);
  bool waiting = sendq_.size() > queued_off || fin_ready();
  if (waiting && outstanding() == 0 && snd_wnd_ == 0 && timer_mode_ != TimerMode::kPersist) {
    timer_mode_ = TimerMode::kPersist;
    Duration d =
        std::min<Duration>(rtt_.rto() * (1 << std::min(persist_backoff_, 10u)), kMaxPersist);
    stack_.timers().arm_after(rexmit_timer_, d);
  }
  if (ack_now_) send_ack();
}

void Connection::maybe_send_window_update() {
  if (state_ != State::kEstablished && state_ != State::kFinWait1 && state_ != State::kFinWait2)
    return;
  uint32_t free_space = receive_space(false);
  uint32_t current = receive_window();
  // Worth telling the peer when the window grows by two segments or half the buffer.
  if (free_space > current &&
      (free_space - current >= 2u * adv_mss_ || free_space - current >= rcv_buf_ / 2)) {
    protocol_.counters().window_updates_sent++;
    send_ack();
  }
}

void Connection::autotune_receive_buffer(size_t copied) {
  const TcpOptions& po = protocol_.options();
  if (!po.receive_autotune || options_.receive_buffer != 0) return;
  TimePoint now = stack_.now();
  copied_in_round_ += copied;
  Duration rtt = rtt_.has_sample() ? rtt_.srtt() : std::chrono::milliseconds(1);
  if (round_start_ == TimePoint{}) round_start_ = now;
  if (now - round_start_ < rtt) return;
  // Dynamic right-sizing (as Linux's tcp_rcv_space_adjust): the buffer should hold twice
  // what the application drains per round trip, so the sender is never window-limited.
  if (2 * copied_in_round_ > rcv_buf_ && rcv_buf_ < po.receive_buffer_max &&
      stack_.socket_memory().under_pressure()) {
    // No buffer grows while the stack is short of memory (Linux's tcp_rcv_space_adjust).
    protocol_.counters().autotune_suppressed_pressure++;
  } else if (2 * copied_in_round_ > rcv_buf_ && rcv_buf_ < po.receive_buffer_max) {
    rcv_buf_ = static_cast<uint32_t>(
        std::min<size_t>(2 * copied_in_round_ + rcv_buf_ / 2, po.receive_buffer_max));
    protocol_.counters().receive_buffer_grown++;
  }
  copied_in_round_ = 0;
  round_start_ = now;
}

// ---------------------------------------------------------------------------------------------
// Timers

void Connection::arm_retransmit_timer() {
  timer_mode_ = TimerMode::kRetransmit;
  stack_.timers().arm_after(rexmit_timer_, rtt_.rto());
}

void Connection::arm_loss_timer() {
  if (outstanding() == 0 && state_ != State::kSynSent && state_ != State::kSynReceived) {
    rexmit_timer_.cancel();
    timer_mode_ = TimerMode::kNone;
    return;
  }
  const TcpOptions& po = protocol_.options();
  bool tlp = po.tlp && sack_ok_ && !in_recovery_ && !in_loss_ && !rack_.probe_outstanding() &&
             rtt_.has_sample() && state_ != State::kSynSent && state_ != State::kSynReceived;
  if (tlp) {
    // RFC 8985 7.2: PTO = 2 * SRTT, plus a delayed-ACK allowance for a lone segment; a floor
    // of 10 ms keeps a near-zero SRTT (in-memory links) from probing every tick.
    Duration pto = Rack::probe_timeout(rtt_.srtt(), outstanding() <= mss_, rtt_.rto());
    pto = std::min(std::max<Duration>(pto, std::chrono::milliseconds(10)), rtt_.rto());
    timer_mode_ = TimerMode::kTailLossProbe;
    stack_.timers().arm_after(rexmit_timer_, pto);
    return;
  }
  arm_retransmit_timer();
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
      rack_detect_loss(stack_.now());
      if (lost_bytes_ > 0 && !in_recovery_ && !in_loss_) enter_recovery(true);
      output();
      if (!rexmit_timer_.armed()) arm_loss_timer();
      break;
    case TimerMode::kPersist: {
      TcpCounters& c = protocol_.counters();
      c.zero_window_probes++;
      probes_out_++;
      persist_backoff_++;
      send_probe();
      output();  // re-arms persist while the window stays closed
      break;
    }
    case TimerMode::kNone:
      break;
  }
}

void Connection::on_rto() {
  TcpCounters& c = protocol_.counters();
  const TcpOptions& po = protocol_.options();
  TimePoint now = stack_.now();
  if (state_ == State::kSynSent || state_ == State::kSynReceived) {
    unsigned limit = state_ == State::kSynSent ? po.syn_retries : po.synack_retries;
    if (syn_retries_ >= limit) {
      c.timeouts++;
      if (state_ == State::kSynSent) c.failed_attempts++;
      terminate(Error::kTimedOut);
      return;
    }
    syn_retries_++;
    c.syn_retransmits++;
    rtt_.backoff();
    rtt_probe_.reset();
    send_syn(state_ == State::kSynReceived);
    arm_retransmit_timer();
    return;
  }
  if (outstanding() == 0) return;
  consecutive_rtos_++;
  if (consecutive_rtos_ > po.retries) {
    c.timeouts++;
    terminate(soft_error_.value_or(Error::kTimedOut));
    return;
  }
  c.rto_timeouts++;
  if (cc_) cc_->on_retransmission_timeout(now, bytes_in_flight());
  rtt_.backoff();
  // RFC 5681 / 6675: everything outstanding and not SACKed is presumed lost.
  for (size_t k = sent_head_; k < sent_.size(); ++k) mark_lost(sent_[k]);
  in_loss_ = true;
  in_recovery_ = false;
  rack_.on_rto();  // RFC 8985 7.4: an RTO ends any TLP episode
  recovery_point_ = snd_nxt_;
  dupacks_ = 0;
  for (size_t k = sent_head_; k < sent_.size(); ++k) {
    if (sent_[k].lost) {
      retransmit_segment(sent_[k]);
      break;
    }
  }
  if (outstanding() > 0 && sent_head_ == sent_.size()) {
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
    for (size_t k = sent_.size(); k > sent_head_; --k) {
      if (!sent_[k - 1].sacked) {
        retransmit_segment(sent_[k - 1]);
        retransmission = true;
        break;
      }
    }
  }
  rack_.on_probe_sent(snd_nxt_, retransmission);
  if (outstanding() > 0) arm_retransmit_timer();
}

void Connection::restart_keepalive() {
  if (options_.keepalive && (state_ == State::kEstablished || state_ == State::kCloseWait)) {
    stack_.timers().arm_after(aux_timer_, options_.keepalive_idle);
  } else if (state_ == State::kEstablished || state_ == State::kCloseWait) {
    aux_timer_.cancel();
  }
}

void Connection::on_aux_timer() {
  TimePoint now = stack_.now();
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
  if (!options_.keepalive) return;
  // Keepalive (RFC 1122 4.2.3.6): only an idle connection is probed.
  Duration idle = now - last_recv_;
  if (keepalive_probes_sent_ == 0 && (idle < options_.keepalive_idle || outstanding() > 0)) {
    Duration wait =
        idle < options_.keepalive_idle ? options_.keepalive_idle - idle : options_.keepalive_idle;
    stack_.timers().arm_after(aux_timer_, wait);
    return;
  }
  if (keepalive_probes_sent_ >= options_.keepalive_count) {
    protocol_.counters().timeouts++;
    terminate(Error::kTimedOut);
    return;
  }
  keepalive_probes_sent_++;
  probes_out_ = keepalive_probes_sent_;
  protocol_.counters().keepalive_probes++;
  send_probe();
  stack_.timers().arm_after(aux_timer_, options_.keepalive_interval);
}

void Connection::enter_time_wait() {
  enter_state(State::kTimeWait);
  rexmit_timer_.cancel();
  timer_mode_ = TimerMode::kNone;
  delack_timer_.cancel();
  sendq_.clear();
  sent_.clear();
  sent_head_ = 0;
  lost_bytes_ = 0;
  stack_.timers().arm_after(aux_timer_, protocol_.options().time_wait);
}

void Connection::enter_state(State s) {
  if (state_ == s) return;
  State old = state_;
  state_ = s;
  TcpCounters& c = protocol_.counters();
  if (s == State::kEstablished && !was_established_) {
    was_established_ = true;
    c.established++;
  }
  if (s == State::kClosed) {
    rexmit_timer_.cancel();
    delack_timer_.cancel();
    aux_timer_.cancel();
    timer_mode_ = TimerMode::kNone;
    if (in_demux()) stack_.demux().remove(*this);
    if (old != State::kSynSent || was_established_) c.connections_closed++;
    if (listener_ != nullptr) {
      Listener* l = listener_;
      listener_ = nullptr;
      l->child_closed(*this);
    }
    sent_.clear();
    sent_head_ = 0;
    lost_bytes_ = 0;
    notify(kEventReadable | kEventWritable | kEventHangup | (error_ ? kEventError : 0));
    protocol_.connection_closed(*this);
  }
}

void Connection::set_error(Error e) { error_ = e; }

void Connection::terminate(Error e) {
  error_ = e;
  hard_error_ = e;
  hard_failed_ = true;
  sendq_.clear();
  rcvq_.clear();
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
  // Only errors quoting a sequence number we have outstanding are believed (RFC 5927 4.1).
  SeqNum seq(load_be32(control.transport_header, 4));
  if (!(snd_una_ <= seq && seq < snd_nxt_) && !(state_ == State::kSynSent && seq == iss_)) {
    c.drop_icmp_unmatched++;
    return;
  }
  switch (control.type) {
    case ControlType::kFragmentationNeeded: {
      uint32_t floor = family_ == AddressFamily::kIpv4 ? 68 : 1280;
      if (control.mtu < floor || control.mtu >= pmtu_) return;
      pmtu_ = control.mtu;
      uint32_t mss = mss_for_mtu(pmtu_, family_);
      if (options_.max_segment != 0) mss = std::min<uint32_t>(mss, options_.max_segment);
      mss = std::min<uint32_t>(mss, peer_mss_);
      if (ts_ok_ && mss > 12) mss -= 12;
      mss = std::max(mss, kMinMss);
      if (mss >= mss_) return;
      mss_ = mss;
      c.pmtu_updates++;
      if (cc_) cc_->set_mss(mss_);
      // RFC 1191: what was sent too large is gone; resend it in smaller pieces now.
      for (size_t k = sent_head_; k < sent_.size(); ++k) {
        if (static_cast<uint32_t>(sent_[k].end - sent_[k].begin) > mss_) mark_lost(sent_[k]);
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
