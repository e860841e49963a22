#include "tcp/tcp.h"

#include <algorithm>

#include "stack/nic.h"
#include "tcp/connection.h"
#include "tcp/forwarder.h"
#include "tcp/listener.h"
#include "tcp/time_wait.h"

namespace weir::tcp {

void SegmentReceiver::handle_packet(const NetworkPacketInfo& info, PacketBuffer pkt) {
  auto fixed = pkt.front(kMinHeaderLength);
  if (!fixed) return;
  size_t offset = static_cast<size_t>(load_u8(*fixed, 12) >> 4) * 4;
  auto header = pkt.front(std::max(offset, kMinHeaderLength));
  if (!header) return;
  auto seg = Segment::parse(*header);
  if (!seg) return;
  PacketBuffer payload = pkt.slice(seg->header_length(), pkt.size() - seg->header_length());
  (void)on_segment(info, *seg, std::move(payload));
}

TcpProtocol::TcpProtocol(Stack& stack, TcpOptions options)
    : stack_(stack),
      options_(std::move(options)),
      time_wait_queue_(stack.timers()),
      reap_timer_([this] { reap(); }) {
  stack_.counters().add_struct("tcp", counters_);
}

TcpProtocol::~TcpProtocol() {
  // Connections and TIME-WAIT records unlink themselves from the demux and release ports as
  // they go.
  connections_.clear();
  time_waits_.clear();
}

Connection& TcpProtocol::insert(std::unique_ptr<Connection> c) {
  Connection& ref = *c;
  ref.set_protocol_slot(static_cast<uint32_t>(connections_.size()));
  connections_.push_back(std::move(c));
  return ref;
}

Connection& TcpProtocol::create_connection(AddressFamily family, const SocketOptions& options) {
  return insert(std::make_unique<Connection>(*this, family, options));
}

Connection& TcpProtocol::create_child(AddressFamily family, const SocketOptions& options) {
  return insert(std::make_unique<Connection>(*this, family, options));
}

void TcpProtocol::detach(Connection& c) {
  c.set_user(nullptr);
  // In TIME-WAIT, a record takes over and c closes, which reaps it.
  if (c.retire_to_time_wait()) return;
  if (c.reapable()) connection_closed(c);
}

void TcpProtocol::add_time_wait(const TransportEndpointId& id, TimeWaitState state,
                                TimePoint deadline) {
  auto record = std::make_unique<TimeWait>(*this, id, std::move(state), deadline);
  // The connection has just left this 4-tuple, so it is free; if not, the record goes (its
  // port with it) and the peer's retransmissions meet a RST, as after the wait.
  if (auto st = record->enter(); !st) return;
  const TimeWait* key = record.get();
  time_waits_.emplace(key, std::move(record));
}

void TcpProtocol::time_wait_ended(TimeWait& record) {
  ended_time_waits_.push_back(&record);
  if (!reap_timer_.armed()) stack_.timers().arm_after(reap_timer_, Duration::zero());
}

void TcpProtocol::connection_closed(Connection& c) {
  if (c.attached() || !c.queue_for_reap()) return;
  zombies_.push_back(&c);
  if (!reap_timer_.armed()) stack_.timers().arm_after(reap_timer_, Duration::zero());
}

bool TcpProtocol::has_unsent_data() const {
  for (const auto& c : connections_) {
    if (c->send_queue_bytes() > 0) return true;
  }
  return false;
}

void TcpProtocol::reap() {
  auto zombies = std::move(zombies_);
  zombies_.clear();
  // Each connection is queued once (Connection::queue_for_reap), so every pointer here is to
  // a live connection: only this function destroys them.
  for (Connection* z : zombies) {
    z->unqueue_for_reap();
    if (!z->reapable()) continue;
    const uint32_t slot = z->protocol_slot();
    // Swap-remove: the last connection takes the slot.
    if (slot + 1 != connections_.size()) {
      connections_[slot] = std::move(connections_.back());
      connections_[slot]->set_protocol_slot(slot);
    }
    connections_.pop_back();
  }
  auto ended = std::move(ended_time_waits_);
  ended_time_waits_.clear();
  for (const TimeWait* record : ended) time_waits_.erase(record);
}

std::shared_ptr<const SocketOptions> TcpProtocol::share_options(const SocketOptions& options) {
  if (!shared_options_ || !(*shared_options_ == options)) {
    shared_options_ = std::make_shared<const SocketOptions>(options);
  }
  return shared_options_;
}

bool TcpProtocol::reserve_send_growth(size_t bytes) {
  if (send_growth_reserved_ + bytes > stack_.socket_memory().limits().pressure) return false;
  send_growth_reserved_ += bytes;
  return true;
}

bool TcpProtocol::take_challenge_ack_budget() {
  TimePoint now = stack_.now();
  if (now - challenge_window_start_ >= std::chrono::seconds(1)) {
    challenge_window_start_ = now;
    challenge_acks_in_window_ = 0;
  }
  if (challenge_acks_in_window_ >= options_.challenge_ack_limit) {
    counters_.challenge_acks_rate_limited++;
    return false;
  }
  challenge_acks_in_window_++;
  counters_.challenge_acks++;
  return true;
}

Status TcpProtocol::transmit(const RouteInfo& route, PacketBuffer&& pkt) {
  IpProtocol* ip = stack_.ip_protocol(route.local_address.family());
  if (ip == nullptr) return Error::kAddressFamilyNotSupported;
  IpWriteParams params;
  params.protocol = kProtocolTcp;
  params.dont_fragment = true;  // RFC 1191: TCP does path MTU discovery
  return ip->write_packet(route, params, std::move(pkt));
}

void TcpProtocol::send_reset_for(const NetworkPacketInfo& info, const Segment& seg,
                                 size_t payload_length) {
  if (seg.flags() & kRst) {
    counters_.drop_rst_to_rst++;
    return;
  }
  if (info.to_broadcast_or_multicast) return;
  SegmentHeader h;
  h.source_port = seg.destination_port();
  h.destination_port = seg.source_port();
  if (seg.flags() & kAck) {
    h.seq = seg.ack();
    h.flags = kRst;
  } else {
    uint32_t len = static_cast<uint32_t>(payload_length) + ((seg.flags() & kSyn) ? 1 : 0) +
                   ((seg.flags() & kFin) ? 1 : 0);
    h.seq = SeqNum(0);
    h.ack = seg.seq() + len;
    h.flags = kRst | kAck;
  }
  auto route = route_back(info);
  if (!route) {
    counters_.drop_route_error++;
    return;
  }
  PacketBuffer pkt = build_segment(h, PacketBuffer(), info.destination, info.source);
  counters_.resets_sent++;
  counters_.segments_sent++;
  if (auto st = transmit(*route, std::move(pkt)); !st) counters_.drop_send_error++;
}

Result<RouteInfo> TcpProtocol::route_back(const NetworkPacketInfo& info) const {
  if (info.foreign_destination) {
    const Nic* nic = stack_.nic(info.nic);
    if (nic == nullptr) return Error::kNoDevice;
    return nic->route_for_foreign_flow(info.source, info.destination);
  }
  return stack_.find_route(info.source, info.destination, info.nic);
}

// The segment path is split in two: what an established connection's segment runs through
// stays in one short function, and everything else (malformed segments, the TIME-WAIT second
// round, foreign flows, resets) lives in cold functions placed away from it, so the hot path
// spans fewer instruction-cache lines (the request/response path's code outgrows the L1
// instruction cache; every line it does not touch is a miss it does not take).
TransportDelivery TcpProtocol::handle_packet(const NetworkPacketInfo& info, PacketBuffer& pkt) {
  counters_.segments_received++;
  auto fixed = pkt.front(kMinHeaderLength);
  if (!fixed) return drop_malformed(counters_.drop_malformed);
  const size_t offset = static_cast<size_t>(load_u8(*fixed, 12) >> 4) * 4;
  if (offset < kMinHeaderLength || offset > pkt.size())
    return drop_malformed(counters_.drop_malformed);
  auto header = pkt.front(offset);
  if (!header) return drop_malformed(counters_.drop_malformed);
  auto seg = Segment::parse(*header);
  if (!seg) return drop_malformed(counters_.drop_malformed);
  if (!pkt.meta().checksum_verified && !checksum_valid(pkt, info.source, info.destination))
    return drop_malformed(counters_.drop_bad_checksum);
  if (!info.to_broadcast_or_multicast && !info.destination.is_multicast() &&
      !info.foreign_destination) [[likely]] {
    const TransportEndpointId id{info.destination, info.source, seg->destination_port(),
                                 seg->source_port()};
    if (TransportEndpoint* ep = stack_.demux().find(kProtocolTcp, id)) [[likely]] {
      // Only TCP endpoints are entered under kProtocolTcp, and all of them are SegmentReceivers.
      if (static_cast<SegmentReceiver&>(*ep).on_segment(
              info, *seg, pkt.slice(offset, pkt.size() - offset)) == SegmentOutcome::kDone)
          [[likely]]
        return TransportDelivery::kDelivered;
      return deliver_unusual(info, pkt, *seg, *header, offset, 1);
    }
  }
  return deliver_unusual(info, pkt, *seg, *header, offset, 0);
}

TransportDelivery TcpProtocol::drop_malformed(uint64_t& counter) {
  counter++;
  return TransportDelivery::kMalformed;
}

TransportDelivery TcpProtocol::deliver_unusual(const NetworkPacketInfo& info, PacketBuffer& pkt,
                                               const Segment& seg, ByteView header, size_t offset,
                                               int round) {
  if (info.to_broadcast_or_multicast || info.destination.is_multicast()) {
    counters_.drop_multicast++;
    return TransportDelivery::kDelivered;
  }
  const TransportEndpointId id{info.destination, info.source, seg.destination_port(),
                               seg.source_port()};
  // Two rounds at most: a TIME-WAIT connection may step aside for a new SYN. `round` 1: the
  // hot path's first round found a connection that stepped aside.
  for (; round < 2; ++round) {
    // Not ours to serve: only a forwarded connection of this exact 4-tuple may take it.
    if (info.foreign_destination && !stack_.demux().connected_exists(kProtocolTcp, id)) break;
    TransportEndpoint* ep = stack_.demux().find(kProtocolTcp, id);
    if (ep == nullptr) break;
    auto& receiver = static_cast<SegmentReceiver&>(*ep);
    if (receiver.on_segment(info, seg, pkt.slice(offset, pkt.size() - offset)) ==
        SegmentOutcome::kDone) {
      return TransportDelivery::kDelivered;
    }
  }
  if (info.foreign_destination) {
    const uint8_t flags = seg.flags();
    if (forwarder_ != nullptr && (flags & kSyn) && !(flags & (kAck | kRst | kFin))) {
      forwarder_->on_syn(info, seg, header);
      return TransportDelivery::kDelivered;
    }
    counters_.drop_foreign_no_flow++;
  } else {
    counters_.drop_no_endpoint++;
  }
  send_reset_for(info, seg, pkt.size() - offset);
  return TransportDelivery::kDelivered;
}

size_t TcpProtocol::segment_header_length(ByteView transport) const {
  return gso_header_length(transport);
}

void TcpProtocol::update_segment_header(MutableByteView header, uint32_t payload_offset, bool first,
                                        bool last) const {
  rewrite_gso_segment_header(header, payload_offset, first, last);
}

void TcpProtocol::handle_control(const TransportControl& control) {
  if (control.transport_header.size() < 8) {
    counters_.drop_icmp_unmatched++;
    return;
  }
  TransportEndpointId id{control.local_address, control.remote_address,
                         load_be16(control.transport_header, 0),
                         load_be16(control.transport_header, 2)};
  if (!stack_.demux().connected_exists(kProtocolTcp, id)) {
    counters_.drop_icmp_unmatched++;
    return;
  }
  TransportEndpoint* ep = stack_.demux().find(kProtocolTcp, id);
  if (ep == nullptr) return;
  static_cast<SegmentReceiver&>(*ep).on_control(control);
}

TcpProtocol& install(Stack& stack, TcpOptions options) {
  return stack.add_transport_protocol(std::make_unique<TcpProtocol>(stack, std::move(options)));
}

TcpProtocol* find(Stack& stack) {
  return dynamic_cast<TcpProtocol*>(stack.transport_protocol(kProtocolTcp));
}

}  // namespace weir::tcp
