// A listening socket (RFC 9293 LISTEN): answers SYNs, keeps embryonic connections (the SYN
// queue) and established ones waiting for accept() (the accept queue, bounded by the
// backlog). When the SYN queue is full it answers with SYN cookies instead of keeping state.
#pragma once

#include <cstddef>
#include <vector>

#include "stack/address.h"
#include "stack/result.h"
#include "stack/waiter.h"
#include "tcp/segment_receiver.h"
#include "tcp/socket_options.h"

namespace weir::tcp {

class TcpProtocol;
class Connection;

class Listener final : public SegmentReceiver {
 public:
  // dual_stack: an IPv6 wildcard listener that takes IPv4 connections too.
  Listener(TcpProtocol& protocol, const SocketAddress& local, AddressFamily family,
           const SocketOptions& options, WaiterQueue& user_queue, bool dual_stack = false);
  // Resets every connection not yet accepted (as Linux does on close of a listener).
  ~Listener() override;

  Status start(int backlog);
  void set_backlog(int backlog);
  // The next established connection, now attached to queue; kWouldBlock when none.
  Result<Connection*> accept(WaiterQueue& queue);

  EventMask readiness() const;
  const SocketAddress& local_address() const { return local_; }
  size_t accept_queue_length() const { return accept_queue_.size(); }
  size_t syn_queue_length() const { return embryonic_.size(); }
  void set_socket_options(const SocketOptions& options) { options_ = options; }

  SegmentOutcome on_segment(const NetworkPacketInfo& info, const Segment& seg,
                            PacketBuffer&& payload) override;

  // From children. A child whose handshake completes while the accept queue is full stays in
  // SYN-RECEIVED and drops that ACK (Linux with tcp_abort_on_overflow=0): its SYN-ACK
  // retransmissions and the peer's own retransmissions complete it once accept() makes room.
  bool accept_queue_full() const { return accept_queue_.size() >= backlog_; }
  void child_established(Connection& c);
  void child_closed(Connection& c);

 private:
  void send_cookie_syn_ack(const NetworkPacketInfo& info, const Segment& syn, const Options& opts);

  TcpProtocol& protocol_;
  SocketAddress local_;
  AddressFamily family_;
  SocketOptions options_;
  WaiterQueue& user_queue_;
  size_t backlog_ = 0;
  std::vector<Connection*> embryonic_;     // SYN_RCVD children (non-owning: the protocol owns)
  std::vector<Connection*> accept_queue_;  // established, waiting for accept()
};

}  // namespace weir::tcp
