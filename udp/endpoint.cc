#include "udp/endpoint.h"

#include <algorithm>

#include "stack/stack.h"
#include "udp/udp.h"
#include "udp/wire.h"

namespace weir::udp {

namespace {

constexpr EventMask kAllEvents =
    kEventReadable | kEventWritable | kEventError | kEventHangup | kEventReadHangup;

}  // namespace

Result<std::unique_ptr<Endpoint>> Endpoint::create(Stack& stack, AddressFamily family) {
  UdpProtocol* udp = find(stack);
  if (udp == nullptr) return Error::kProtocolNotSupported;
  return udp->open(family);
}

Endpoint::Endpoint(UdpProtocol& protocol, AddressFamily family)
    : TransportEndpoint(kProtocolUdp),
      protocol_(protocol),
      family_(family),
      bound_address_(IpAddress::any(family)) {}

void Endpoint::release_pinned(size_t n) {
  n = std::min(n, pinned_charge_);
  pinned_charge_ -= n;
  protocol_.stack().socket_memory().release(n);
}

Endpoint::~Endpoint() {
  // No notification: a waiter's callback must not run against a half-destroyed endpoint.
  release_pinned(pinned_charge_);
  release_port();
  leave_all_groups();
}

Stack& Endpoint::stack() { return protocol_.stack(); }

Status Endpoint::check_open() const {
  if (closed_) return Error::kBadFileDescriptor;
  return ok_status();
}

std::optional<Error> Endpoint::consume_error() {
  auto error = pending_error_;
  pending_error_.reset();
  return error;
}

std::optional<Error> Endpoint::take_error() { return consume_error(); }

void Endpoint::notify(EventMask events) { waiters_.notify(events); }

bool Endpoint::is_broadcast_address(const IpAddress& address) const {
  if (!address.is_v4()) return false;  // IPv6 has no broadcast
  const Ipv4Address a = address.v4();
  if (a.is_broadcast()) return true;
  // Every IPv4 send asks this: the NICs are walked in place, with no list of them built.
  return protocol_.stack().any_nic([&](const Nic& nic) {
    for (const IpPrefix& prefix : nic.addresses()) {
      // /31 and /32 subnets have no broadcast address (RFC 3021).
      if (!prefix.address.is_v4() || prefix.length > 30) continue;
      const uint32_t host_mask = prefix.length == 0 ? ~0u : (~0u >> prefix.length);
      const uint32_t directed = prefix.address.v4().value() | host_mask;
      if (directed == a.value()) return true;
    }
    return false;
  });
}

IpAddress Endpoint::internal(const IpAddress& a) const {
  if (family_ == AddressFamily::kIpv6 && !v6only_) return a.unmapped();
  return a;
}

IpAddress Endpoint::external(const IpAddress& a) const {
  if (family_ == AddressFamily::kIpv6) return a.mapped();
  return a;
}

Status Endpoint::check_peer_family(const IpAddress& peer) const {
  if (peer.family() == family_) {
    // An IPv6 endpoint narrowed to IPv4 (bound to a mapped address) has no IPv6 peers.
    if (bound() && bound_address_.family() != peer.family()) return Error::kNetworkUnreachable;
    return ok_status();
  }
  // An IPv4 peer of an IPv6 endpoint (a mapped address): fine unless bound to a specific
  // IPv6 address, which cannot be an IPv4 source.
  if (bound() && bound_address_.is_v6() && !bound_address_.is_unspecified()) {
    return Error::kNetworkUnreachable;
  }
  return ok_status();
}

Status Endpoint::set_v6only(bool on) {
  WEIR_TRY(check_open());
  if (family_ != AddressFamily::kIpv6) return Error::kNoProtocolOption;
  if (bound()) return Error::kInvalidArgument;
  v6only_ = on;
  return ok_status();
}

Status Endpoint::reserve(const IpAddress& address, uint16_t port) {
  const bool dual =
      family_ == AddressFamily::kIpv6 && !v6only_ && address.is_v6() && address.is_unspecified();
  const PortBindingOptions options{reuse_address_, reuse_port_, dual};
  PortTable& ports = stack().ports();
  uint16_t chosen = port;
  PortTable::Handle handle = 0;
  if (port == 0) {
    auto reserved = ports.reserve_ephemeral(kProtocolUdp, address, options, stack().rng());
    if (!reserved) return reserved.error();
    chosen = reserved->first;
    handle = reserved->second;
  } else {
    auto reserved = ports.reserve(kProtocolUdp, port, address, options);
    if (!reserved) return reserved.error();
    handle = *reserved;
  }
  TransportEndpointId id;
  id.local_address = address;
  id.local_port = chosen;
  id.remote_address = IpAddress::any(address.family());
  set_accepts_v4(dual);
  auto added = stack().demux().add(*this, id);
  if (!added) {
    ports.release(handle);
    return added.error();
  }
  bound_address_ = address;
  port_ = chosen;
  port_handle_ = handle;
  return ok_status();
}

Status Endpoint::attach_forwarded(const SocketAddress& local, const SocketAddress& remote,
                                  const RouteInfo& route) {
  WEIR_TRY(check_open());
  if (bound()) return Error::kInvalidArgument;
  TransportEndpointId id;
  id.local_address = local.address;
  id.local_port = local.port;
  id.remote_address = remote.address;
  id.remote_port = remote.port;
  WEIR_TRY(stack().demux().add(*this, id));
  bound_address_ = local.address;
  port_ = local.port;
  port_explicit_ = true;
  remote_ = remote;
  forwarded_route_ = route;
  return ok_status();
}

void Endpoint::release_port() {
  forwarded_route_.reset();
  if (in_demux()) stack().demux().remove(*this);
  if (port_handle_) stack().ports().release(*port_handle_);
  port_handle_.reset();
  port_ = 0;
  port_explicit_ = false;
  bound_address_ = IpAddress::any(family_);
  demux_id_ = TransportEndpointId{};
}

Status Endpoint::ensure_bound() {
  if (bound()) return ok_status();
  return reserve(IpAddress::any(family_), 0);
}

Status Endpoint::bind(const SocketAddress& local) {
  WEIR_TRY(check_open());
  if (local.address.family() != family_) return Error::kAddressFamilyNotSupported;
  if (bound()) return Error::kInvalidArgument;
  // Linux: IPV6_V6ONLY refuses a mapped address with EINVAL.
  if (v6only_ && local.address.is_v4_mapped()) return Error::kInvalidArgument;
  const IpAddress a = internal(local.address);
  if (!a.is_unspecified() && !a.is_multicast() && !stack().is_local_address(a) &&
      !is_broadcast_address(a)) {
    return Error::kAddressNotAvailable;
  }
  WEIR_TRY(reserve(a, local.port));
  port_explicit_ = true;
  return ok_status();
}

IpAddress Endpoint::route_source(AddressFamily family) const {
  Stack& s = protocol_.stack();
  if (remote_ && !demux_id_.local_address.is_unspecified() &&
      demux_id_.local_address.family() == family && s.is_local_address(demux_id_.local_address)) {
    return demux_id_.local_address;
  }
  if (!bound_address_.is_unspecified() && bound_address_.family() == family &&
      s.is_local_address(bound_address_)) {
    return bound_address_;
  }
  return IpAddress::any(family);
}

Status Endpoint::connect(const SocketAddress& user_remote) {
  WEIR_TRY(check_open());
  if (user_remote.address.family() != family_) return Error::kAddressFamilyNotSupported;
  // A forwarded flow's peer is what the flow is; its address is not ours to route from.
  if (forwarded()) return Error::kAlreadyConnected;
  if (user_remote.address.is_unspecified()) return disconnect();
  if (user_remote.port == 0) return Error::kInvalidArgument;
  if (v6only_ && user_remote.address.is_v4_mapped()) return Error::kNetworkUnreachable;
  const SocketAddress remote{internal(user_remote.address), user_remote.port};
  WEIR_TRY(check_peer_family(remote.address));
  const AddressFamily peer_family = remote.address.family();

  // A new peer starts from the bound address, not from the previous peer's route.
  const IpAddress source = !bound_address_.is_unspecified() &&
                                   bound_address_.family() == peer_family &&
                                   stack().is_local_address(bound_address_)
                               ? bound_address_
                               : IpAddress::any(peer_family);
  auto route = stack().find_route(remote.address, source);
  if (!route) return route.error();
  if ((route->broadcast || is_broadcast_address(remote.address)) && !broadcast_) {
    return Error::kPermissionDenied;
  }
  WEIR_TRY(ensure_bound());

  TransportEndpointId id;
  id.local_address = bound_address_.is_unspecified() ? route->local_address : bound_address_;
  id.local_port = port_;
  id.remote_address = remote.address;
  id.remote_port = remote.port;
  const TransportEndpointId previous = demux_id_;
  auto added = stack().demux().add(*this, id);
  if (!added) {
    // Stay as we were (the demux may already have unlinked us).
    if (!in_demux()) (void)stack().demux().add(*this, previous);
    return added.error();
  }
  remote_ = remote;
  return ok_status();
}

Status Endpoint::disconnect() {
  WEIR_TRY(check_open());
  if (forwarded()) return Error::kInvalidArgument;
  if (!remote_) return ok_status();
  remote_.reset();
  if (!port_explicit_) {
    // Linux unbinds a port that only connect() or a send bound (no SOCK_BINDPORT_LOCK).
    release_port();
    return ok_status();
  }
  TransportEndpointId id;
  id.local_address = bound_address_;
  id.local_port = port_;
  id.remote_address = IpAddress::any(bound_address_.family());
  return stack().demux().add(*this, id);
}

Result<size_t> Endpoint::send_to(ByteView data, std::optional<SocketAddress> to) {
  WEIR_TRY(check_open());
  // Check the size before copying the payload into a packet.
  if (data.size() > max_payload(family_)) return Error::kMessageTooLong;
  return send_payload(PacketBuffer::from_bytes(data), to);
}

Result<size_t> Endpoint::send_packet(PacketBuffer payload, std::optional<SocketAddress> to) {
  WEIR_TRY(check_open());
  return send_payload(std::move(payload), to);
}

Result<size_t> Endpoint::send_payload(PacketBuffer payload,
                                      const std::optional<SocketAddress>& to) {
  if (auto error = consume_error()) return *error;
  if (write_shutdown_) return Error::kBrokenPipe;

  SocketAddress destination;
  if (to) {
    if (to->address.family() != family_) return Error::kAddressFamilyNotSupported;
    if (v6only_ && to->address.is_v4_mapped()) return Error::kNetworkUnreachable;
    destination = SocketAddress{internal(to->address), to->port};
    WEIR_TRY(check_peer_family(destination.address));
  } else if (remote_) {
    destination = *remote_;
  } else {
    return Error::kDestinationRequired;
  }
  if (destination.port == 0) return Error::kInvalidArgument;
  const size_t size = payload.size();
  const AddressFamily peer_family = destination.address.family();
  if (size > max_payload(peer_family)) return Error::kMessageTooLong;

  IpProtocol* ip = stack().ip_protocol(peer_family);
  if (ip == nullptr) return Error::kNetworkUnreachable;
  std::optional<NicId> via;
  if (destination.address.is_multicast()) via = multicast_nic_;
  Result<RouteInfo> route = Error::kNetworkUnreachable;
  if (forwarded()) {
    // From the flow's foreign address, which find_route would refuse as a source; and only
    // to the flow's peer, the one host that address speaks for here.
    if (!(destination == *remote_)) return Error::kInvalidArgument;
    route = *forwarded_route_;
  } else {
    route = stack().find_route(destination.address, route_source(peer_family), via);
  }
  if (!route) {
    ++protocol_.counters().send_errors;
    return route.error();
  }
  if ((route->broadcast || is_broadcast_address(destination.address)) && !broadcast_) {
    return Error::kPermissionDenied;
  }
  WEIR_TRY(ensure_bound());

  // Metadata of a received packet (when echoing one) means nothing on the way out.
  payload.meta() = PacketMeta{};
  const auto length = static_cast<uint16_t>(kHeaderLength + size);
  MutableByteView header = payload.push_front(kHeaderLength);
  write_header(header, port_, destination.port, length, 0);
  store_be16(header, 6, compute_checksum(payload, route->local_address, destination.address));

  IpWriteParams params;
  params.protocol = kProtocolUdp;
  params.ttl = destination.address.is_multicast() ? multicast_ttl_ : ttl_;
  params.tos = tos_;
  Status written = ip->write_packet(*route, params, std::move(payload));
  if (!written) {
    if (written.error() == Error::kNoBufferSpace) {
      // Linux (udp_send_skb) reports a full queue below as success unless IP_RECVERR is set:
      // UDP is allowed to lose the datagram, and senders do not expect ENOBUFS.
      ++protocol_.counters().drop_send_no_buffer;
      return size;
    }
    ++protocol_.counters().send_errors;
    return written.error();
  }
  ++protocol_.counters().sent;
  return size;
}

void Endpoint::handle_packet(const NetworkPacketInfo& info, PacketBuffer pkt) {
  UdpCounters& counters = protocol_.counters();
  if (closed_) {
    ++counters.drop_closed;
    return;
  }
  // IPv4 reaches an IPv6 endpoint only as dual stack (the demux saw to that).
  if (info.source.family() != family_ && (family_ != AddressFamily::kIpv6 || v6only_)) {
    ++counters.drop_family_mismatch;
    return;
  }
  auto header = pkt.front(kHeaderLength);
  if (!header) {
    ++counters.drop_short_header;
    return;
  }
  const SocketAddress from{info.source, load_be16(*header, 0)};
  // The demux only hands a connected endpoint its exact 4-tuple; this guards the contract.
  if (remote_ && !(*remote_ == from)) {
    ++counters.drop_not_from_peer;
    return;
  }
  if (read_shutdown_) {
    ++counters.drop_read_shutdown;
    return;
  }
  pkt.pull_front(kHeaderLength);
  const size_t charge = pkt.size() + kDatagramOverhead;
  // Linux's rule (__udp_enqueue_schedule_skb): a queue at most half full takes any datagram;
  // past that, only one that fits.
  if (queued_charge_ > receive_buffer_ / 2 && queued_charge_ + charge > receive_buffer_) {
    ++counters.drop_receive_buffer_full;
    return;
  }
  // The stack-wide account counts what the datagram pins, and past its hard limit no socket
  // takes more (Linux's udp_mem).
  const size_t pinned = pkt.pinned_bytes() + kDatagramOverhead;
  SocketMemory& memory = protocol_.stack().socket_memory();
  if (memory.exceeds_hard_limit(pinned)) {
    ++counters.drop_memory_hard_limit;
    memory.note_refused();
    return;
  }
  memory.charge(pinned);
  pinned_charge_ += pinned;
  queued_charge_ += charge;
  queue_.push_back(Queued{std::move(pkt), from, info.destination, info.nic, pinned});
  ++counters.delivered;
  notify(kEventReadable);
}

void Endpoint::set_pending_error(Error error) {
  pending_error_ = error;
  // Like sk_error_report: wake readers and writers too, the error ends their wait.
  notify(kEventError | kEventReadable | kEventWritable);
}

Result<DatagramInfo> Endpoint::receive_from(MutableByteView out, ReceiveOptions options) {
  WEIR_TRY(check_open());
  if (auto error = consume_error()) return *error;
  if (queue_.empty()) {
    if (read_shutdown_) return DatagramInfo{};
    return Error::kWouldBlock;
  }
  Queued& next = queue_.front();
  DatagramInfo info;
  info.full_size = next.payload.size();
  info.size = std::min(out.size(), info.full_size);
  info.truncated = info.size < info.full_size;
  info.from = external(next.from);
  info.destination = external(next.destination);
  info.nic = next.nic;
  next.payload.copy_out(0, out.first(info.size));
  if (!options.peek) {
    queued_charge_ -= info.full_size + kDatagramOverhead;
    release_pinned(next.pinned);
    queue_.pop_front();
  }
  return info;
}

Result<Datagram> Endpoint::receive_packet() {
  WEIR_TRY(check_open());
  if (auto error = consume_error()) return *error;
  if (queue_.empty()) {
    if (read_shutdown_) return Datagram{};
    return Error::kWouldBlock;
  }
  Queued next = std::move(queue_.front());
  queue_.pop_front();
  queued_charge_ -= next.payload.size() + kDatagramOverhead;
  release_pinned(next.pinned);
  return Datagram{std::move(next.payload), external(next.from), external(next.destination),
                  next.nic};
}

size_t Endpoint::next_datagram_size() const {
  return queue_.empty() ? 0 : queue_.front().payload.size();
}

void Endpoint::set_receive_buffer(size_t bytes) {
  receive_buffer_ = std::max(bytes, kMinReceiveBuffer);
}

Status Endpoint::shutdown(ShutdownHow how) {
  WEIR_TRY(check_open());
  if (how == ShutdownHow::kRead || how == ShutdownHow::kBoth) read_shutdown_ = true;
  if (how == ShutdownHow::kWrite || how == ShutdownHow::kBoth) write_shutdown_ = true;
  notify(kAllEvents);
  if (!connected()) return Error::kNotConnected;
  return ok_status();
}

void Endpoint::close() {
  if (closed_) return;
  closed_ = true;
  release_port();
  leave_all_groups();
  remote_.reset();
  queue_.clear();
  queued_charge_ = 0;
  release_pinned(pinned_charge_);
  pending_error_.reset();
  notify(kAllEvents);
}

EventMask Endpoint::readiness(EventMask mask) const {
  if (closed_) return kEventHangup & mask;
  EventMask events = kEventWritable;
  if (!queue_.empty() || read_shutdown_) events |= kEventReadable;
  if (read_shutdown_) events |= kEventReadHangup;
  if (read_shutdown_ && write_shutdown_) events |= kEventHangup;
  if (pending_error_) events |= kEventError;
  return events & mask;
}

Result<NicId> Endpoint::group_nic(const IpAddress& group, std::optional<NicId> nic) {
  if (nic) {
    if (stack().nic(*nic) == nullptr) return Error::kNoDevice;
    return *nic;
  }
  auto route = stack().find_route(group);
  if (!route) return Error::kNoDevice;
  return route->nic;
}

Status Endpoint::join_group(const IpAddress& group, std::optional<NicId> nic) {
  WEIR_TRY(check_open());
  if (group.family() != family_) return Error::kAddressFamilyNotSupported;
  if (!group.is_multicast()) return Error::kInvalidArgument;
  auto id = group_nic(group, nic);
  if (!id) return id.error();
  const std::pair<IpAddress, NicId> membership{group, *id};
  if (std::find(memberships_.begin(), memberships_.end(), membership) != memberships_.end()) {
    return Error::kAddressInUse;
  }
  stack().nic(*id)->join_group(group);
  memberships_.push_back(membership);
  return ok_status();
}

Status Endpoint::leave_group(const IpAddress& group, std::optional<NicId> nic) {
  WEIR_TRY(check_open());
  if (group.family() != family_) return Error::kAddressFamilyNotSupported;
  if (!group.is_multicast()) return Error::kInvalidArgument;
  auto it = std::find_if(memberships_.begin(), memberships_.end(), [&](const auto& m) {
    return m.first == group && (!nic || m.second == *nic);
  });
  if (it == memberships_.end()) return Error::kAddressNotAvailable;
  if (Nic* n = stack().nic(it->second)) n->leave_group(group);
  memberships_.erase(it);
  return ok_status();
}

void Endpoint::leave_all_groups() {
  for (const auto& [group, id] : memberships_) {
    if (Nic* n = stack().nic(id)) n->leave_group(group);
  }
  memberships_.clear();
}

SocketAddress Endpoint::local_address() const {
  if (remote_) return SocketAddress{external(demux_id_.local_address), port_};
  return SocketAddress{external(bound_address_), port_};
}

Result<SocketAddress> Endpoint::remote_address() const {
  if (!remote_) return Error::kNotConnected;
  return external(*remote_);
}

}  // namespace weir::udp
