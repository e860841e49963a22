// The UDP flow forwarder: takes datagrams to any address and port, as gVisor's udp.Forwarder
// does for tun2socks and wireguard-go.
//
//   nic->set_accept_any_destination(true);
//   udp::Forwarder fwd(stack, [&](const udp::ForwardRequest& r) {
//     auto ep = fwd.accept(r.id);     // bound to r.local, connected to r.remote; the first
//     ...                            // datagram is already queued on it
//   });
//
// What reaches it. A unicast datagram that arrived on a NIC accepting any destination, for an
// address the stack does not own, matching no endpoint of its exact 4-tuple (forwarded flows
// are such endpoints; wildcard sockets never see foreign datagrams).
//
// Deciding. The handler runs on the stack's thread while the datagram is processed, and
// decides then: accept(id) returns an Endpoint bound to the original destination and
// connected to the source, with this datagram queued on it; it then receives the rest of the
// flow and its sends leave from the original destination. refuse(id) answers with an ICMP
// port unreachable from the original destination. Returning without either drops the datagram
// (counted: forward_ignored). Both calls are valid only inside the handler, for its request.
// A flow's later datagrams reach its Endpoint; once that Endpoint is gone the next datagram
// is a new request.
//
// Ownership and threads. One Forwarder per stack; it registers with the stack's UDP protocol
// on construction and unregisters when destroyed, must not outlive the Stack, and is used from
// the stack's thread only; the handler must not destroy it. Endpoints it returns are ordinary
// sockets owned by the caller.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "stack/address.h"
#include "stack/packet_buffer.h"
#include "stack/protocol.h"
#include "stack/result.h"
#include "udp/endpoint.h"

namespace weir {
class Stack;
}

namespace weir::udp {

class UdpProtocol;

// A new flow, valid for the duration of the handler call.
struct ForwardRequest {
  uint64_t id = 0;
  SocketAddress local;   // where the datagram was sent (not one of the stack's addresses)
  SocketAddress remote;  // its source
  NicId nic = 0;         // the NIC it arrived on
  size_t payload_size = 0;
};

class Forwarder {
 public:
  using Handler = std::function<void(const ForwardRequest& request)>;

  // Registers with stack's UDP protocol (udp::install first). kInvalidArgument when UDP is not
  // installed or handler is empty, kAddressInUse when the stack already has a forwarder.
  static Result<std::unique_ptr<Forwarder>> create(Stack& stack, Handler handler);
  Forwarder(UdpProtocol& protocol, Handler handler);
  ~Forwarder();
  Forwarder(const Forwarder&) = delete;
  Forwarder& operator=(const Forwarder&) = delete;

  // Only from the handler, for the request it was given; kNotFound otherwise (or when the
  // request was already decided).
  Result<std::unique_ptr<Endpoint>> accept(uint64_t id);
  Status refuse(uint64_t id);

  // From the protocol: a datagram for a foreign address that no endpoint took. pkt starts at
  // the UDP header and is `length` bytes long (header included, padding excluded); it is left
  // untouched unless accepted. Returns what the network layer should do: kNoEndpoint when
  // refused (it sends the port unreachable), else kDelivered.
  TransportDelivery on_datagram(const NetworkPacketInfo& info, uint16_t source_port,
                                uint16_t destination_port, PacketBuffer& pkt, size_t length);

 private:
  enum class Decision : uint8_t { kNone, kAccepted, kRefused };
  struct Current {
    ForwardRequest request;
    const NetworkPacketInfo* info = nullptr;
    PacketBuffer* packet = nullptr;
    size_t length = 0;
    Decision decision = Decision::kNone;
  };

  UdpProtocol& protocol_;
  Handler handler_;
  Current* current_ = nullptr;  // the request being decided (not owned: on_datagram's frame)
  uint64_t next_id_ = 1;
};

}  // namespace weir::udp
