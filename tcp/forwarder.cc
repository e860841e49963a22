#include "tcp/forwarder.h"

#include <algorithm>

#include "stack/stack.h"
#include "tcp/connection.h"
#include "tcp/tcp.h"
#include "tcp/wire.h"

namespace weir::tcp {

Result<std::unique_ptr<Forwarder>> Forwarder::create(Stack& stack, Handler handler,
                                                     ForwarderOptions options) {
  TcpProtocol* protocol = find(stack);
  if (protocol == nullptr || !handler) return Error::kInvalidArgument;
  if (protocol->forwarder() != nullptr) return Error::kAddressInUse;
  return std::make_unique<Forwarder>(*protocol, std::move(handler), std::move(options));
}

Forwarder::Forwarder(TcpProtocol& protocol, Handler handler, ForwarderOptions options)
    : protocol_(protocol), handler_(std::move(handler)), options_(std::move(options)) {
  protocol_.set_forwarder(this);
}

Forwarder::~Forwarder() {
  if (protocol_.forwarder() == this) protocol_.set_forwarder(nullptr);
}

std::vector<Forwarder::Pending>::iterator Forwarder::find_pending(uint64_t id) {
  return std::find_if(pending_.begin(), pending_.end(),
                      [id](const Pending& p) { return p.request.id == id; });
}

void Forwarder::on_syn(const NetworkPacketInfo& info, const Segment& seg, ByteView header) {
  TcpCounters& counters = protocol_.counters();
  const SocketAddress local{info.destination, seg.destination_port()};
  const SocketAddress remote{info.source, seg.source_port()};
  const bool duplicate = std::any_of(pending_.begin(), pending_.end(), [&](const Pending& p) {
    return p.request.local == local && p.request.remote == remote;
  });
  if (duplicate) {
    counters.forward_syn_retransmits++;
    return;
  }
  if (pending_.size() >= options_.max_pending) {
    counters.drop_forward_pending_full++;
    return;
  }
  counters.forward_requests++;
  Pending p;
  p.request = ForwardRequest{next_id_++, local, remote, info.nic};
  p.info = info;
  p.syn_header.assign(header.begin(), header.end());
  const ForwardRequest request = p.request;
  pending_.push_back(std::move(p));
  // The handler may accept or refuse at once, which removes the entry; it may also destroy
  // other endpoints, so nothing here is touched after it but by id.
  handler_(request);
  if (find_pending(request.id) != pending_.end()) counters.forward_deferred++;
}

Result<std::unique_ptr<Endpoint>> Forwarder::accept(uint64_t id) {
  auto it = find_pending(id);
  if (it == pending_.end()) return Error::kNotFound;
  Pending p = std::move(*it);
  pending_.erase(it);
  TcpCounters& counters = protocol_.counters();
  // The header was parsed once already; it cannot fail now.
  auto seg = Segment::parse(p.syn_header);
  if (!seg) {
    counters.forward_accept_failed++;
    return Error::kBadMessage;
  }
  // A client that gave up and came back with a new SYN, accepted by an earlier request of the
  // same 4-tuple, already has its connection.
  TransportEndpointId tuple{p.info.destination, p.info.source, seg->destination_port(),
                            seg->source_port()};
  if (protocol_.stack().demux().connected_exists(kProtocolTcp, tuple)) {
    counters.forward_accept_failed++;
    return Error::kAddressInUse;
  }
  const AddressFamily family = p.info.source.family();
  auto endpoint = std::make_unique<Endpoint>(Endpoint::Key{}, protocol_, family);
  Connection& c = protocol_.create_connection(family, options_.socket_options);
  c.set_user(&endpoint->waiters_);
  if (auto st = c.accept_syn(nullptr, p.info, *seg, seg->options()); !st) {
    counters.forward_accept_failed++;
    c.abort();
    protocol_.detach(c);  // reaped by the protocol; the endpoint never held it
    return st.error();
  }
  endpoint->conn_ = &c;
  counters.forward_accepted++;
  return endpoint;
}

Status Forwarder::refuse(uint64_t id) {
  auto it = find_pending(id);
  if (it == pending_.end()) return Error::kNotFound;
  Pending p = std::move(*it);
  pending_.erase(it);
  protocol_.counters().forward_refused++;
  auto seg = Segment::parse(p.syn_header);
  if (!seg) return Error::kBadMessage;
  protocol_.send_reset_for(p.info, *seg, 0);
  return ok_status();
}

}  // namespace weir::tcp
