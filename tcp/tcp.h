// The TCP transport protocol: registers with the Stack, owns every connection's state, and
// dispatches segments and ICMP errors to connections and listeners.
//
// Ownership. The protocol owns every Connection. A user's Endpoint is a handle that "attaches"
// to one; destroying the Endpoint detaches it, and a detached connection that has reached
// CLOSED (or that finishes FIN/TIME_WAIT later) is reaped by the protocol. Reaping happens only
// from the protocol's own reap timer, never while a connection's code is on the call stack.
// Endpoints must not outlive the Stack.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "stack/protocol.h"
#include "stack/stack.h"
#include "stack/timer.h"
#include "tcp/cc/congestion_control.h"
#include "tcp/counters.h"
#include "tcp/rtt_estimator.h"
#include "tcp/socket_options.h"
#include "tcp/time_wait.h"
#include "tcp/wire.h"

namespace weir::tcp {

class Connection;
class Forwarder;

struct TcpOptions {
  // Names are parsed where they come in (parse_congestion_algorithm), where a wrong one is an
  // error, so every connection gets exactly the algorithm asked for.
  CongestionAlgorithm congestion_control = CongestionAlgorithm::kCubic;
  RtoConfig rto;
  bool sack = true;                   // RFC 2018
  bool timestamps = true;             // RFC 7323
  bool window_scaling = true;         // RFC 7323
  bool rack = true;                   // RFC 8985 time-based loss detection
  bool tlp = true;                    // RFC 8985 tail loss probes
  bool frto = true;                   // RFC 5682 spurious-timeout detection (Linux's tcp_frto)
  uint32_t send_buffer = 256 * 1024;  // default SO_SNDBUF
  uint32_t send_buffer_max = 4 * 1024 * 1024;  // send-buffer autotuning's cap (tcp_wmem[2])
  uint32_t receive_buffer = 128 * 1024;        // initial receive window (auto-tuned upward)
  uint32_t receive_buffer_max = 6 * 1024 * 1024;
  bool receive_autotune = true;
  Duration time_wait = std::chrono::seconds(60);  // 2*MSL
  Duration fin_wait2_timeout = std::chrono::seconds(60);
  Duration delayed_ack = std::chrono::milliseconds(40);
  uint32_t syn_retries = 6;
  uint32_t synack_retries = 5;
  uint32_t retries = 15;                // data retransmissions before giving up (tcp_retries2)
  // The same for a connection its user closed and let go of (an orphan), whose data no one
  // waits for: retransmissions, and zero-window probes at the longest interval (Linux's
  // tcp_orphan_retries, whose 0 means 8).
  uint32_t orphan_retries = 8;
  uint32_t syn_backlog = 256;           // embryonic connections per listener before SYN cookies
  bool syn_cookies = true;              // when the SYN queue is full; false: drop the SYN
  uint32_t challenge_ack_limit = 1000;  // per second, stack-wide (RFC 5961 7)
  uint32_t reordering = 3;              // duplicate ACK threshold
  // Send runs of whole segments as one GSO packet (up to 64 KiB), cut by the link when it
  // segments and by the NIC in software when it does not (stack/gso.h); false: one packet per
  // segment all the way down.
  bool gso = true;
};

class TcpProtocol final : public TransportProtocol {
 public:
  TcpProtocol(Stack& stack, TcpOptions options);
  ~TcpProtocol() override;

  uint8_t number() const override { return kProtocolTcp; }
  TransportDelivery handle_packet(const NetworkPacketInfo& info, PacketBuffer& pkt) override;
  void handle_control(const TransportControl& control) override;
  size_t segment_header_length(ByteView transport) const override;
  void update_segment_header(MutableByteView header, uint32_t payload_offset, bool first,
                             bool last) const override;

  Stack& stack() { return stack_; }
  const TcpOptions& options() const { return options_; }
  TcpCounters& counters() { return counters_; }
  const TcpCounters& counters() const { return counters_; }

  // A fresh CLOSED connection, attached to a user handle.
  Connection& create_connection(AddressFamily family, const SocketOptions& options);
  // A connection for the protocol's own use (listener children), not attached.
  Connection& create_child(AddressFamily family, const SocketOptions& options);
  // The user's handle is gone.
  void detach(Connection& c);
  // c reached CLOSED; reaped soon if detached.
  void connection_closed(Connection& c);
  // Connections not yet closed and let go of, a TIME-WAIT record counting as one (the
  // connection it replaced is closed and waits to be freed).
  size_t connection_count() const {
    return connections_.size() - zombies_.size() + time_waits_.size() - ended_time_waits_.size();
  }
  // TIME-WAIT records (tcp/time_wait.h) that stand in for closed connections.
  size_t time_wait_count() const { return time_waits_.size(); }
  // A TIME-WAIT record for id takes the place in the demux that a connection has just left.
  void add_time_wait(const TransportEndpointId& id, TimeWaitState state, TimePoint deadline);
  // The record's wait is over and it has left the demux: freed by the reap timer.
  void time_wait_ended(TimeWait& record);
  // Where TIME-WAIT records wait for their deadlines (one wheel timer for all of them).
  TimeWaitQueue& time_wait_queue() { return time_wait_queue_; }
  // Whether any connection still has data queued to send (a supervisor waits for this before
  // tearing the stack down after its program ended).
  bool has_unsent_data() const;

  // Send buffers grown by autotuning, counted by their growth over the default: together at
  // most the socket-memory pressure level (Connection::expand_send_buffer), so many long fat
  // connections cannot grow past what receive memory may pin before pressure. Linux charges
  // queued send bytes to tcp_mem; weir's account has receive memory only.
  bool reserve_send_growth(size_t bytes);
  void release_send_growth(size_t bytes) {
    send_growth_reserved_ -= std::min(send_growth_reserved_, bytes);
  }
  size_t send_growth_reserved() const { return send_growth_reserved_; }

  // The forwarder that takes SYNs for foreign addresses (tcp/forwarder.h), or nullptr; the
  // Forwarder sets and clears itself.
  Forwarder* forwarder() const { return forwarder_; }
  void set_forwarder(Forwarder* forwarder) { forwarder_ = forwarder; }
  // The route back to the source of an inbound segment through the NIC it came in on, from
  // the address it was sent to (which for a forwarded flow is not the stack's).
  Result<RouteInfo> route_back(const NetworkPacketInfo& info) const;

  // Sends a RST answering a segment that matches no connection (RFC 9293 3.10.7.1).
  void send_reset_for(const NetworkPacketInfo& info, const Segment& seg, size_t payload_length);
  // handle_packet()'s cold parts (see there).
  [[gnu::cold, gnu::noinline]] static TransportDelivery drop_malformed(uint64_t& counter);
  [[gnu::cold, gnu::noinline]] TransportDelivery deliver_unusual(const NetworkPacketInfo& info,
                                                                 PacketBuffer& pkt,
                                                                 const Segment& seg,
                                                                 ByteView header, size_t offset,
                                                                 int round);
  // Writes a finished segment (transport header in front) toward route.
  Status transmit(const RouteInfo& route, PacketBuffer&& pkt);
  // RFC 5961 7: a stack-wide budget of challenge ACKs per second; counts the ACK as sent or
  // rate-limited.
  bool take_challenge_ack_budget();
  // The options as a shared, immutable value: the one handed out last when equal (a listener's
  // children, connections that keep the defaults), so connections do not each hold a copy.
  std::shared_ptr<const SocketOptions> share_options(const SocketOptions& options);
  // Frees detached closed connections now (also runs from the reap timer). Must not be
  // called while a connection's code is on the call stack.
  void reap();

 private:
  Connection& insert(std::unique_ptr<Connection> c);

  Stack& stack_;
  TcpOptions options_;
  TcpCounters counters_;
  // Each connection knows its slot (Connection::protocol_slot): 8 bytes per connection where a
  // map keyed by address cost a 32-byte node and its bucket.
  std::vector<std::unique_ptr<Connection>> connections_;
  std::vector<Connection*> zombies_;
  std::shared_ptr<const SocketOptions> shared_options_;
  TimeWaitQueue time_wait_queue_;  // before the records: they leave it as they go
  std::unordered_map<const TimeWait*, std::unique_ptr<TimeWait>> time_waits_;
  std::vector<const TimeWait*> ended_time_waits_;
  Timer reap_timer_;
  Forwarder* forwarder_ = nullptr;  // not owned: a Forwarder registers and unregisters itself
  TimePoint challenge_window_start_{};
  uint32_t challenge_acks_in_window_ = 0;
  size_t send_growth_reserved_ = 0;
};

// Registers TCP with stack and returns it. The stack owns it.
TcpProtocol& install(Stack& stack, TcpOptions options = {});
// The TCP protocol of stack, or nullptr when not installed.
TcpProtocol* find(Stack& stack);

}  // namespace weir::tcp
