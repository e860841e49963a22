#include "udp/udp.h"

#include <algorithm>
#include <vector>

#include "stack/stack.h"
#include "udp/endpoint.h"
#include "udp/forwarder.h"
#include "udp/wire.h"

namespace weir::udp {

namespace {

// Which ICMP errors a connected socket sees, as in Linux without IP_RECVERR: only the "hard"
// ones (icmp_err_convert's fatal entries for IPv4; ICMPv6 unreachables are all hard). Soft
// errors (time exceeded, parameter problem, packet too big: we do no path MTU discovery for
// UDP) are counted and dropped.
std::optional<Error> error_for(const TransportControl& control) {
  switch (control.type) {
    case ControlType::kPortUnreachable:
      return Error::kConnectionRefused;
    case ControlType::kProtocolUnreachable:
      return Error::kNoProtocolOption;
    case ControlType::kAdministrativelyProhibited:
      return Error::kHostUnreachable;
    case ControlType::kHostUnreachable:
      if (control.local_address.is_v6()) return Error::kHostUnreachable;
      return std::nullopt;
    case ControlType::kNetworkUnreachable:
      if (control.local_address.is_v6()) return Error::kNetworkUnreachable;
      return std::nullopt;
    case ControlType::kFragmentationNeeded:
    case ControlType::kTimeExceeded:
    case ControlType::kParameterProblem:
    case ControlType::kSourceRouteFailed:
      return std::nullopt;
  }
  return std::nullopt;
}

}  // namespace

UdpProtocol::UdpProtocol(Stack& stack) : stack_(stack) {}

std::unique_ptr<Endpoint> UdpProtocol::open(AddressFamily family) {
  return std::make_unique<Endpoint>(*this, family);
}

TransportDelivery UdpProtocol::handle_packet(const NetworkPacketInfo& info, PacketBuffer& pkt) {
  ++counters_.received;
  auto front = pkt.front(kHeaderLength);
  if (!front) {
    ++counters_.drop_short_header;
    return TransportDelivery::kMalformed;
  }
  auto header = Header::parse(*front);
  if (!header) {
    ++counters_.drop_short_header;
    return TransportDelivery::kMalformed;
  }
  // Read the fields now: later front() calls may linearize and move the bytes.
  const uint16_t source_port = header->source_port();
  const uint16_t destination_port = header->destination_port();
  const uint16_t checksum = header->checksum();
  auto length = datagram_length(*header, pkt.size());
  if (!length) {
    ++counters_.drop_bad_length;
    return TransportDelivery::kMalformed;
  }

  if (checksum == 0) {
    if (!info.source.is_v4()) {
      ++counters_.drop_zero_checksum_ipv6;
      return TransportDelivery::kMalformed;
    }
    ++counters_.zero_checksum_accepted;
  } else if (!pkt.meta().checksum_verified) {
    // The slice shares the bytes; it only keeps padding out of the sum.
    if (!checksum_valid(pkt.slice(0, *length), info.source, info.destination)) {
      ++counters_.drop_bad_checksum;
      return TransportDelivery::kMalformed;
    }
  }

  if (info.to_broadcast_or_multicast) {
    pkt.truncate(*length);
    // Delivery runs waiter callbacks, which may close other endpoints on this port, so the
    // candidates are looked up afresh after every delivery and only pointers seen in the
    // current lookup are dereferenced.
    std::vector<const TransportEndpoint*> done;
    for (;;) {
      TransportEndpoint* next = nullptr;
      stack_.demux().for_each_bound(
          kProtocolUdp, destination_port, info.destination, [&](TransportEndpoint& ep) {
            if (next == nullptr && std::find(done.begin(), done.end(), &ep) == done.end()) {
              next = &ep;
            }
          });
      if (next == nullptr) break;
      done.push_back(next);
      next->handle_packet(info, pkt.clone());
    }
    if (done.empty()) ++counters_.drop_no_port_broadcast;
    return TransportDelivery::kDelivered;
  }

  TransportEndpointId id;
  id.local_address = info.destination;
  id.local_port = destination_port;
  id.remote_address = info.source;
  id.remote_port = source_port;
  if (info.foreign_destination && !stack_.demux().connected_exists(kProtocolUdp, id)) {
    // Not ours: only a forwarded flow of this exact 4-tuple or the forwarder may take it.
    if (forwarder_ != nullptr) {
      return forwarder_->on_datagram(info, source_port, destination_port, pkt, *length);
    }
    ++counters_.drop_foreign_no_flow;
    return TransportDelivery::kNoEndpoint;
  }
  TransportEndpoint* ep = stack_.demux().find(kProtocolUdp, id);
  if (auto* bound = dynamic_cast<Endpoint*>(ep);
      bound != nullptr && bound->reuse_port() && !bound->connected()) {
    ep = pick_from_reuse_port_group(*bound, id);
  }
  if (ep == nullptr) {
    // pkt stays as it arrived: the network layer quotes it in a port unreachable.
    ++counters_.drop_no_port;
    return TransportDelivery::kNoEndpoint;
  }
  pkt.truncate(*length);
  ep->handle_packet(info, std::move(pkt));
  return TransportDelivery::kDelivered;
}

TransportEndpoint* UdpProtocol::pick_from_reuse_port_group(Endpoint& found,
                                                           const TransportEndpointId& id) {
  // Like Linux, spread a SO_REUSEPORT group's datagrams by a keyed hash of the peer, so one
  // peer's datagrams stay on one socket.
  std::vector<TransportEndpoint*> group;
  const IpAddress& local = found.demux_id().local_address;
  stack_.demux().for_each_bound(
      kProtocolUdp, id.local_port, id.local_address, [&](TransportEndpoint& ep) {
        auto* udp = dynamic_cast<Endpoint*>(&ep);
        if (udp != nullptr && udp->reuse_port() && ep.demux_id().local_address == local) {
          group.push_back(&ep);
        }
      });
  if (group.size() < 2) return &found;
  std::vector<std::byte> key(id.remote_address.bytes().begin(), id.remote_address.bytes().end());
  key.push_back(std::byte(id.remote_port >> 8));
  key.push_back(std::byte(id.remote_port & 0xff));
  return group[siphash24(stack_.secret(), key) % group.size()];
}

void UdpProtocol::handle_control(const TransportControl& control) {
  ++counters_.control_received;
  auto header = Header::parse(control.transport_header);
  if (!header) {
    ++counters_.control_malformed;
    return;
  }
  // The quoted header is one we sent: its source is our port, its destination the peer's.
  TransportEndpointId id;
  id.local_address = control.local_address;
  id.local_port = header->source_port();
  id.remote_address = control.remote_address;
  id.remote_port = header->destination_port();
  auto* ep = dynamic_cast<Endpoint*>(stack_.demux().find(kProtocolUdp, id));
  if (ep == nullptr || !ep->connected()) {
    ++counters_.control_no_endpoint;
    return;
  }
  // The demux matched the connected 4-tuple; make sure it is this endpoint's own.
  if (ep->demux_id().remote_address != id.remote_address ||
      ep->demux_id().remote_port != id.remote_port) {
    ++counters_.control_no_endpoint;
    return;
  }
  auto error = error_for(control);
  if (!error) {
    ++counters_.control_ignored;
    return;
  }
  ++counters_.control_delivered;
  ep->set_pending_error(*error);
}

UdpProtocol& install(Stack& stack) {
  if (UdpProtocol* existing = find(stack)) return *existing;
  UdpProtocol& udp = stack.add_transport_protocol(std::make_unique<UdpProtocol>(stack));
  stack.counters().add_struct("udp", udp.counters());
  return udp;
}

UdpProtocol* find(Stack& stack) {
  return dynamic_cast<UdpProtocol*>(stack.transport_protocol(kProtocolUdp));
}

}  // namespace weir::udp
