#include "udp/forwarder.h"

#include "stack/nic.h"
#include "stack/stack.h"
#include "udp/udp.h"
#include "udp/wire.h"

namespace weir::udp {

Result<std::unique_ptr<Forwarder>> Forwarder::create(Stack& stack, Handler handler) {
  UdpProtocol* protocol = find(stack);
  if (protocol == nullptr || !handler) return Error::kInvalidArgument;
  if (protocol->forwarder() != nullptr) return Error::kAddressInUse;
  return std::make_unique<Forwarder>(*protocol, std::move(handler));
}

Forwarder::Forwarder(UdpProtocol& protocol, Handler handler)
    : protocol_(protocol), handler_(std::move(handler)) {
  protocol_.set_forwarder(this);
}

Forwarder::~Forwarder() {
  if (protocol_.forwarder() == this) protocol_.set_forwarder(nullptr);
}

TransportDelivery Forwarder::on_datagram(const NetworkPacketInfo& info, uint16_t source_port,
                                         uint16_t destination_port, PacketBuffer& pkt,
                                         size_t length) {
  UdpCounters& counters = protocol_.counters();
  counters.forward_requests++;
  Current current;
  current.request = ForwardRequest{next_id_++, SocketAddress{info.destination, destination_port},
                                   SocketAddress{info.source, source_port}, info.nic,
                                   length - kHeaderLength};
  current.info = &info;
  current.packet = &pkt;
  current.length = length;
  current_ = &current;
  handler_(current.request);
  current_ = nullptr;
  switch (current.decision) {
    case Decision::kAccepted:
      return TransportDelivery::kDelivered;
    case Decision::kRefused:
      return TransportDelivery::kNoEndpoint;
    case Decision::kNone:
      break;
  }
  counters.forward_ignored++;
  return TransportDelivery::kDelivered;
}

Result<std::unique_ptr<Endpoint>> Forwarder::accept(uint64_t id) {
  if (current_ == nullptr || current_->request.id != id ||
      current_->decision != Decision::kNone) {
    return Error::kNotFound;
  }
  UdpCounters& counters = protocol_.counters();
  const NetworkPacketInfo& info = *current_->info;
  const Nic* nic = protocol_.stack().nic(info.nic);
  if (nic == nullptr) {
    counters.forward_accept_failed++;
    return Error::kNoDevice;
  }
  auto endpoint = std::make_unique<Endpoint>(protocol_, info.source.family());
  const ForwardRequest& r = current_->request;
  if (auto st = endpoint->attach_forwarded(r.local, r.remote,
                                           nic->route_for_foreign_flow(r.remote.address,
                                                                       r.local.address));
      !st) {
    counters.forward_accept_failed++;
    return st.error();
  }
  current_->decision = Decision::kAccepted;
  counters.forward_accepted++;
  // The flow's first datagram, queued before the caller sees the endpoint so that a read
  // right after accept() finds it. The packet's bytes are shared, not copied.
  PacketBuffer first = current_->packet->clone();
  first.truncate(current_->length);
  endpoint->handle_packet(info, std::move(first));
  return endpoint;
}

Status Forwarder::refuse(uint64_t id) {
  if (current_ == nullptr || current_->request.id != id ||
      current_->decision != Decision::kNone) {
    return Error::kNotFound;
  }
  current_->decision = Decision::kRefused;
  protocol_.counters().forward_refused++;
  return ok_status();
}

}  // namespace weir::udp
