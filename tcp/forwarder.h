// The TCP flow forwarder: accepts connections to any address and port, as gVisor's
// tcp.Forwarder does for tun2socks and wireguard-go.
//
//   nic->set_accept_any_destination(true);        // the NIC the flows come in on
//   tcp::Forwarder fwd(stack, [&](const tcp::ForwardRequest& r) {
//     // r.local: where the client wanted to go (not one of ours); r.remote: the client.
//     start_outbound_connect(r.id, r.local);     // defer: decide when that succeeds
//   });
//   ...
//   auto ep = fwd.accept(id);                     // SYN-ACK from r.local; an ordinary Endpoint
//   fwd.refuse(id);                               // or RST, as a closed port would answer
//
// What reaches it. A SYN (without ACK) that arrived on a NIC accepting any destination, for
// an address the stack does not own, matching no connection. Segments for such addresses
// reach only connections of their exact 4-tuple (a forwarded flow, once accepted) or this
// forwarder, never a wildcard listener; anything else is answered with a RST from the address
// the peer tried. SYNs to the stack's own addresses go to listeners as always.
//
// Deciding. The handler runs on the stack's thread while the SYN is processed. It may call
// accept() or refuse() on the request's id at once, or return without deciding: the request
// then stays pending (deferred) until accept() or refuse() names it, which may happen from any
// later point on the stack's thread (a readiness callback of the outbound connection, say).
// At most ForwarderOptions::max_pending requests wait; a SYN that finds the table full is
// dropped (counted, and the peer retransmits it), and a retransmitted SYN of a pending request
// makes no second one. A pending request keeps the SYN's options (MSS, window scale, SACK,
// timestamps), so the connection accept() creates negotiates them as a listener's child would.
// Pending requests are not timed out here: an embedder that defers must decide every request
// (its outbound connect times out, then refuse).
//
// Ownership and threads. A Forwarder registers itself with the stack's TCP protocol on
// construction (one per stack) and unregisters when destroyed; it must not outlive the
// Stack, and like everything on a stack is used from the stack's thread only. Pending
// requests die with it (their peers' SYNs go unanswered). The handler must not destroy the
// Forwarder. The Endpoints accept() returns are
// independent of the Forwarder afterwards.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "stack/address.h"
#include "stack/bytes.h"
#include "stack/protocol.h"
#include "stack/result.h"
#include "tcp/endpoint.h"
#include "tcp/socket_options.h"

namespace weir {
class Stack;
}

namespace weir::tcp {

class TcpProtocol;
class Segment;

// A new flow waiting for a decision.
struct ForwardRequest {
  uint64_t id = 0;       // names it to accept() and refuse(); never reused by a Forwarder
  SocketAddress local;   // the address and port the client connected to (not the stack's)
  SocketAddress remote;  // the client
  NicId nic = 0;         // the NIC its SYN arrived on
};

struct ForwarderOptions {
  size_t max_pending = 1024;  // deferred requests kept at once
  // Options every forwarded connection starts with (buffers, Nagle, keepalive, ...); an
  // Endpoint may change them after accept() as any other.
  SocketOptions socket_options;
};

class Forwarder {
 public:
  // Told about every new flow; see "Deciding" above for what it may call.
  using Handler = std::function<void(const ForwardRequest& request)>;

  // Registers with stack's TCP protocol (tcp::install first). kInvalidArgument when TCP is not
  // installed, kAddressInUse when the stack already has a forwarder.
  static Result<std::unique_ptr<Forwarder>> create(Stack& stack, Handler handler,
                                                   ForwarderOptions options = {});
  Forwarder(TcpProtocol& protocol, Handler handler, ForwarderOptions options);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Answers the request's SYN with a SYN-ACK from request.local and returns the connection's
  // endpoint (in SYN-RECEIVED: writable once the handshake completes, like a connecting one;
  // readable data and errors as for any connection). kNotFound when id names no pending
  // request (already decided, or never made); the request is gone either way.
  Result<std::unique_ptr<Endpoint>> accept(uint64_t id);
  // Answers the request's SYN with a RST. kNotFound as for accept().
  Status refuse(uint64_t id);

  size_t pending() const { return pending_.size(); }
  const ForwarderOptions& options() const { return options_; }

  // From the protocol: a SYN for a foreign address that matched no connection. header is the
  // segment's TCP header (checksum verified), seg its parsed view.
  void on_syn(const NetworkPacketInfo& info, const Segment& seg, ByteView header);

 private:
  struct Pending {
    ForwardRequest request;
    NetworkPacketInfo info;
    std::vector<std::byte> syn_header;  // the SYN's TCP header, options included
  };
  std::vector<Pending>::iterator find_pending(uint64_t id);

  TcpProtocol& protocol_;
  Handler handler_;
  ForwarderOptions options_;
  std::vector<Pending> pending_;  // oldest first; bounded by options_.max_pending
  uint64_t next_id_ = 1;
};

}  // namespace weir::tcp
