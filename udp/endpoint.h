// UDP sockets: non-blocking operations plus readiness, the model of DESIGN.md "Sockets".
//
// An Endpoint is created unbound. bind() reserves a port in the stack's PortTable (port 0 picks
// an ephemeral one) and enters the endpoint in the demux as bound; connect() fixes the peer and
// the local address (chosen by the route when bound to the wildcard) and re-enters it as a
// connected 4-tuple, so it then only receives from that peer. A first send or connect on an
// unbound endpoint binds it to an ephemeral port, as Linux does.
//
// Nothing blocks: receive_from() on an empty queue is kWouldBlock. readiness() says what would
// not block now, and waiters() is notified whenever that may have changed; the blocking facade,
// the loop's users and the sandbox wait through it. Sends go out at once (UDP keeps no send
// queue), so the endpoint is always writable; an error from the network layer (no route, an
// unresolvable neighbor) is returned by the send itself, except a full queue below
// (kNoBufferSpace), which Linux reports as success and we count as drop_send_no_buffer.
//
// An ICMP error for a connected endpoint becomes a pending error (kEventError): the next send or
// receive fails with it once, or take_error() (SO_ERROR) returns and clears it.
//
// Dual stack (RFC 4038, Linux's bindv6only=0). An IPv6 endpoint names IPv4 peers by their
// IPv4-mapped addresses (::ffff:a.b.c.d) unless set_v6only(true). Inside, such an address is
// the IPv4 address itself: binding to ::ffff:a.b.c.d binds a.b.c.d, connecting or sending to
// ::ffff:a.b.c.d goes out over IPv4, and an endpoint bound to :: also receives IPv4 datagrams
// for its port that no IPv4 endpoint takes. Every address the endpoint reports (sources of
// datagrams, local_address(), remote_address()) is in IPv6 form again.
//
// Lifetime: an Endpoint borrows the Stack and must be destroyed (or closed) before it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "stack/address.h"
#include "stack/bytes.h"
#include "stack/demux.h"
#include "stack/fifo.h"
#include "stack/packet_buffer.h"
#include "stack/protocol.h"
#include "stack/result.h"
#include "stack/waiter.h"

namespace weir {
class Stack;
}

namespace weir::udp {

class UdpProtocol;

struct ReceiveOptions {
  bool peek = false;  // MSG_PEEK: copy the next datagram but leave it queued
};

// What receive_from() returns about the datagram it read.
struct DatagramInfo {
  size_t size = 0;         // bytes copied into the caller's buffer
  size_t full_size = 0;    // the datagram's payload length (what MSG_TRUNC reports)
  bool truncated = false;  // full_size > size: the rest is discarded (unless peeking)
  SocketAddress from;
  IpAddress destination;  // the address it was sent to (IP_PKTINFO); broadcasts show here
  NicId nic = 0;          // the NIC it arrived on
};

// A datagram taken whole, without copying its bytes.
struct Datagram {
  PacketBuffer payload;
  SocketAddress from;
  IpAddress destination;
  NicId nic = 0;
};

enum class ShutdownHow : uint8_t { kRead, kWrite, kBoth };

class Endpoint final : public TransportEndpoint {
 public:
  // Linux's default net.core.rmem_default / wmem_default.
  static constexpr size_t kDefaultReceiveBuffer = 212992;
  static constexpr size_t kDefaultSendBuffer = 212992;
  // Each queued datagram is charged its payload plus this, so a flood of empty datagrams is
  // bounded too (Linux charges the skb's truesize for the same reason).
  static constexpr size_t kDatagramOverhead = 256;
  static constexpr size_t kMinReceiveBuffer = 2 * kDatagramOverhead;

  // A new unbound socket. kProtocolNotSupported when udp::install() was not called on stack.
  static Result<std::unique_ptr<Endpoint>> create(Stack& stack, AddressFamily family);

  Endpoint(UdpProtocol& protocol, AddressFamily family);
  ~Endpoint() override;

  AddressFamily family() const { return family_; }

  // bind(2). Port 0 picks an ephemeral port. The address must be of the socket's family and be
  // unspecified, one of the stack's addresses, a broadcast address of one of its subnets, or
  // multicast. kInvalidArgument if already bound; kAddressInUse if the PortTable refuses.
  Status bind(const SocketAddress& local);
  // connect(2). Sets the default destination and receives only from it from now on. An
  // unspecified address disconnects (like AF_UNSPEC). Broadcast needs set_broadcast(true).
  Status connect(const SocketAddress& remote);
  Status disconnect();

  // sendto(2): one datagram to `to`, or to the connected peer when `to` is nullopt. Returns the
  // payload size sent. kDestinationRequired when there is no destination, kMessageTooLong past
  // max_payload(family), kPermissionDenied for broadcast without set_broadcast(true),
  // kBrokenPipe after shutdown(kWrite), or the pending ICMP error (reported once).
  Result<size_t> send_to(ByteView data, std::optional<SocketAddress> to = std::nullopt);
  Result<size_t> send(ByteView data) { return send_to(data, std::nullopt); }
  // Same, taking a payload packet without copying it (e.g. echoing a received datagram).
  Result<size_t> send_packet(PacketBuffer payload, std::optional<SocketAddress> to = std::nullopt);

  // recvfrom(2): copies the next datagram into out; a longer datagram is truncated and the rest
  // dropped (see DatagramInfo). kWouldBlock when none is queued; a zero-size result with no
  // datagram after shutdown(kRead); the pending ICMP error first if there is one.
  Result<DatagramInfo> receive_from(MutableByteView out, ReceiveOptions options = {});
  // Takes the next datagram whole without copying.
  Result<Datagram> receive_packet();
  // FIONREAD for UDP: the payload size of the next datagram (0 when none).
  size_t next_datagram_size() const;
  size_t queued_datagrams() const { return queue_.size(); }
  size_t queued_bytes() const { return queued_charge_; }

  // shutdown(2). As in Linux, an unconnected socket reports kNotConnected but still shuts down
  // (so waiters blocked on it wake up).
  Status shutdown(ShutdownHow how);
  // Releases the port and the demux entry and drops queued datagrams. Idempotent; the
  // destructor does it too.
  void close();

  // What would not block now: kEventReadable (a datagram is queued, or reads are shut down),
  // kEventWritable, kEventError (an error is pending), kEventHangup after a full shutdown.
  EventMask readiness(EventMask mask = ~EventMask{0}) const;
  WaiterQueue& waiters() { return waiters_; }
  // SO_ERROR: the pending error, cleared.
  std::optional<Error> take_error();

  bool bound() const { return port_handle_.has_value() || forwarded_route_.has_value(); }
  // A flow a Forwarder accepted (udp/forwarder.h): bound to an address that is not the
  // stack's, connected to its peer for good.
  bool forwarded() const { return forwarded_route_.has_value(); }
  bool connected() const { return remote_.has_value(); }
  bool closed() const { return closed_; }
  // getsockname(2): the bound address and port (unspecified/0 while unbound).
  SocketAddress local_address() const;
  // getpeername(2).
  Result<SocketAddress> remote_address() const;

  // IPV6_V6ONLY (IPv6 endpoints only): refuse IPv4-mapped addresses and IPv4 traffic. Like
  // Linux, only before the endpoint is bound (kInvalidArgument after).
  Status set_v6only(bool on);
  bool v6only() const { return v6only_; }

  // Socket options. Reuse flags apply to the next bind (including the implicit one).
  void set_reuse_address(bool on) { reuse_address_ = on; }
  bool reuse_address() const { return reuse_address_; }
  void set_reuse_port(bool on) { reuse_port_ = on; }
  bool reuse_port() const { return reuse_port_; }
  void set_broadcast(bool on) { broadcast_ = on; }  // SO_BROADCAST
  bool broadcast() const { return broadcast_; }
  // SO_RCVBUF in bytes of queue charge (clamped below at kMinReceiveBuffer). Shrinking it
  // drops nothing already queued.
  void set_receive_buffer(size_t bytes);
  size_t receive_buffer() const { return receive_buffer_; }
  // SO_SNDBUF: kept for getsockopt; UDP sends without queueing.
  void set_send_buffer(size_t bytes) { send_buffer_ = bytes; }
  size_t send_buffer() const { return send_buffer_; }
  void set_ttl(uint8_t ttl) { ttl_ = ttl; }  // 0: the network layer's default
  uint8_t ttl() const { return ttl_; }
  void set_multicast_ttl(uint8_t ttl) { multicast_ttl_ = ttl; }
  uint8_t multicast_ttl() const { return multicast_ttl_; }
  void set_tos(uint8_t tos) { tos_ = tos; }
  uint8_t tos() const { return tos_; }

  // IP_ADD_MEMBERSHIP / IPV6_JOIN_GROUP: the NIC (given, or the one the route toward the group
  // picks) starts accepting the group. As with Linux's default IP_MULTICAST_ALL, every socket
  // bound to the wildcard (or to the group) on the port then receives the group's datagrams.
  // Memberships are left on close. Errors: kInvalidArgument (not multicast), kNoDevice (no such
  // NIC / no route), kAddressInUse (already joined there).
  Status join_group(const IpAddress& group, std::optional<NicId> nic = std::nullopt);
  // kAddressNotAvailable when this socket did not join group there.
  Status leave_group(const IpAddress& group, std::optional<NicId> nic = std::nullopt);
  // IP_MULTICAST_IF: the NIC multicast datagrams leave through (nullopt: by route).
  void set_multicast_interface(std::optional<NicId> nic) { multicast_nic_ = nic; }
  std::optional<NicId> multicast_interface() const { return multicast_nic_; }

  // From the protocol: a validated datagram, trimmed to its UDP length, header still on front.
  void handle_packet(const NetworkPacketInfo& info, PacketBuffer pkt) override;
  // From the protocol: an ICMP error matched to this endpoint's 4-tuple.
  void set_pending_error(Error error);

 private:
  friend class Forwarder;
  // Enters the endpoint as the flow local <-> remote that arrived on a forwarding NIC, sending
  // along route. No port is reserved: the address is not ours, and every flow to one foreign
  // address and port is its own endpoint, told apart by the peer.
  Status attach_forwarded(const SocketAddress& local, const SocketAddress& remote,
                          const RouteInfo& route);

  struct Queued {
    PacketBuffer payload;
    SocketAddress from;
    IpAddress destination;
    NicId nic = 0;
    size_t pinned = 0;  // charged to the stack's socket memory
  };

  Stack& stack();
  Status ensure_bound();
  Status reserve(const IpAddress& address, uint16_t port);
  void release_port();
  // The address to use as the route's source toward a peer of `family`: the bound address
  // when it is one of ours and of that family.
  IpAddress route_source(AddressFamily family) const;
  // Dual stack: the address the stack uses for one the user gave (::ffff:a.b.c.d -> a.b.c.d
  // on an IPv6 endpoint), and back.
  IpAddress internal(const IpAddress& a) const;
  IpAddress external(const IpAddress& a) const;
  SocketAddress external(const SocketAddress& a) const { return {external(a.address), a.port}; }
  // Whether a peer address (internal form) may be used from this endpoint.
  Status check_peer_family(const IpAddress& peer) const;
  bool is_broadcast_address(const IpAddress& address) const;
  Result<size_t> send_payload(PacketBuffer payload, const std::optional<SocketAddress>& to);
  Status check_open() const;
  Result<NicId> group_nic(const IpAddress& group, std::optional<NicId> nic);
  void leave_all_groups();
  std::optional<Error> consume_error();
  void notify(EventMask events);
  // Gives the stack's socket memory back what the datagram (or the whole queue) pinned.
  void release_pinned(size_t n);

  UdpProtocol& protocol_;
  AddressFamily family_;
  bool v6only_ = false;
  bool closed_ = false;

  // What bind() asked for; connect() may narrow the demux entry's local address, disconnect()
  // goes back to this.
  IpAddress bound_address_;
  uint16_t port_ = 0;
  std::optional<PortTable::Handle> port_handle_;
  bool port_explicit_ = false;  // bound by bind() rather than implicitly
  std::optional<SocketAddress> remote_;
  std::optional<RouteInfo> forwarded_route_;  // set by attach_forwarded

  Fifo<Queued> queue_;  // not std::deque: see stack/fifo.h
  size_t queued_charge_ = 0;
  // What the queue pins (chunks plus kDatagramOverhead each), charged to the stack's
  // SocketMemory; the receive buffer above keeps Linux's payload-based rule.
  size_t pinned_charge_ = 0;
  std::optional<Error> pending_error_;
  bool read_shutdown_ = false;
  bool write_shutdown_ = false;

  bool reuse_address_ = false;
  bool reuse_port_ = false;
  bool broadcast_ = false;
  size_t receive_buffer_ = kDefaultReceiveBuffer;
  size_t send_buffer_ = kDefaultSendBuffer;
  uint8_t ttl_ = 0;
  uint8_t multicast_ttl_ = 1;  // IP_MULTICAST_TTL default
  uint8_t tos_ = 0;
  std::optional<NicId> multicast_nic_;
  std::vector<std::pair<IpAddress, NicId>> memberships_;

  WaiterQueue waiters_;
};

}  // namespace weir::udp
