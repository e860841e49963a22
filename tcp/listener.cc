#include "tcp/listener.h"

#include <algorithm>

#include "stack/stack.h"
#include "tcp/connection.h"
#include "tcp/syn_cookies.h"
#include "tcp/tcp.h"

namespace weir::tcp {

Listener::Listener(TcpProtocol& protocol, const SocketAddress& local, AddressFamily family,
                   const SocketOptions& options, WaiterQueue& user_queue, bool dual_stack)
    : protocol_(protocol),
      local_(local),
      family_(family),
      options_(options),
      user_queue_(user_queue) {
  set_accepts_v4(dual_stack);
}

Listener::~Listener() {
  if (in_demux()) protocol_.stack().demux().remove(*this);
  // Children detach from us first, so their close does not call back into a dying listener.
  auto children = std::move(embryonic_);
  auto queued = std::move(accept_queue_);
  for (Connection* c : children) {
    c->clear_listener();
    c->abort();
  }
  for (Connection* c : queued) {
    c->clear_listener();
    c->abort();
  }
}

Status Listener::start(int backlog) {
  set_backlog(backlog);
  TransportEndpointId id;
  id.local_address = local_.address;
  id.local_port = local_.port;
  id.remote_address = IpAddress::any(family_);
  return protocol_.stack().demux().add(*this, id);
}

void Listener::set_backlog(int backlog) {
  // Linux clamps to somaxconn (4096) and treats <= 0 as a minimal queue.
  backlog_ = static_cast<size_t>(std::clamp(backlog, 1, 4096));
}

Result<Connection*> Listener::accept(WaiterQueue& queue) {
  if (accept_queue_.empty()) return Error::kWouldBlock;
  Connection* c = accept_queue_.front();
  accept_queue_.erase(accept_queue_.begin());
  c->clear_listener();
  c->set_user(&queue);
  return c;
}

EventMask Listener::readiness() const { return accept_queue_.empty() ? 0 : kEventReadable; }

void Listener::child_established(Connection& c) {
  auto it = std::find(embryonic_.begin(), embryonic_.end(), &c);
  if (it != embryonic_.end()) embryonic_.erase(it);
  // Both callers checked accept_queue_full() first: a completing handshake waits for room.
  accept_queue_.push_back(&c);
  user_queue_.notify(kEventReadable);
}

void Listener::child_closed(Connection& c) {
  auto it = std::find(embryonic_.begin(), embryonic_.end(), &c);
  if (it != embryonic_.end()) embryonic_.erase(it);
  auto q = std::find(accept_queue_.begin(), accept_queue_.end(), &c);
  if (q != accept_queue_.end()) accept_queue_.erase(q);
}

SegmentOutcome Listener::on_segment(const NetworkPacketInfo& info, const Segment& seg,
                                    PacketBuffer&& payload) {
  TcpCounters& c = protocol_.counters();
  uint8_t flags = seg.flags();
  if (flags & kRst) {
    c.drop_listen_bad_segment++;
    return SegmentOutcome::kDone;
  }
  Options opts = seg.options();
  if (opts.malformed) c.drop_bad_options++;
  if ((flags & kAck) && (flags & kSyn) == 0) {
    // Possibly the third packet of a cookie handshake (RFC 4987 3.6).
    const TcpOptions& po = protocol_.options();
    if (po.syn_cookies) {
      FourTuple t{info.destination, seg.destination_port(), info.source, seg.source_port()};
      auto cookie = SynCookies::check(protocol_.stack().secret(), t, seg.seq(), seg.ack(),
                                      protocol_.stack().now());
      if (cookie) {
        if (accept_queue_full()) {
          c.drop_accept_queue_full++;
          return SegmentOutcome::kDone;
        }
        // The packet's family: a dual-stack listener's IPv4 children are IPv4 connections.
        Connection& child = protocol_.create_child(info.source.family(), options_);
        if (!child.accept_cookie(*this, info, seg, opts, *cookie)) {
          child.abort();
          return SegmentOutcome::kDone;
        }
        c.syn_cookies_validated++;
        embryonic_.push_back(&child);
        child_established(child);
        // Data or FIN riding on the ACK is processed by the new connection.
        if (!payload.empty() || (flags & kFin))
          (void)child.on_segment(info, seg, std::move(payload));
        return SegmentOutcome::kDone;
      }
      c.syn_cookies_failed++;
    }
    c.drop_listen_bad_segment++;
    protocol_.send_reset_for(info, seg, payload.size());
    return SegmentOutcome::kDone;
  }
  if ((flags & kSyn) == 0 || (flags & kAck)) {
    c.drop_listen_bad_segment++;
    if (flags & kAck) protocol_.send_reset_for(info, seg, payload.size());
    return SegmentOutcome::kDone;
  }
  if (info.to_broadcast_or_multicast) {
    c.drop_multicast++;
    return SegmentOutcome::kDone;
  }
  if (accept_queue_full()) {
    c.listen_overflows++;
    return SegmentOutcome::kDone;
  }
  if (embryonic_.size() >= protocol_.options().syn_backlog) {
    c.syn_queue_overflows++;
    if (protocol_.options().syn_cookies) send_cookie_syn_ack(info, seg, opts);
    return SegmentOutcome::kDone;
  }
  Connection& child = protocol_.create_child(info.source.family(), options_);
  if (!child.accept_syn(this, info, seg, opts)) {
    c.drop_route_error++;
    child.abort();
    return SegmentOutcome::kDone;
  }
  embryonic_.push_back(&child);
  return SegmentOutcome::kDone;
}

void Listener::send_cookie_syn_ack(const NetworkPacketInfo& info, const Segment& syn,
                                   const Options& opts) {
  TcpCounters& c = protocol_.counters();
  Stack& stack = protocol_.stack();
  auto route = stack.find_route(info.source, info.destination, info.nic);
  if (!route) {
    c.drop_route_error++;
    return;
  }
  const TcpOptions& po = protocol_.options();
  FourTuple t{info.destination, syn.destination_port(), info.source, syn.source_port()};
  uint16_t our_mss =
      advertised_mss(route->mtu, info.source.is_v4() ? AddressFamily::kIpv4 : AddressFamily::kIpv6,
                     options_.max_segment);

  CookieOptions co;
  co.mss = SynCookies::encoded_mss(opts.mss.value_or(536));
  if (po.window_scaling) co.window_scale = opts.window_scale;
  co.sack_permitted = po.sack && opts.sack_permitted;
  co.timestamps = po.timestamps && opts.timestamps.has_value();
  SeqNum isn = SynCookies::make(stack.secret(), t, syn.seq(), stack.now(), co);

  SegmentHeader h;
  h.source_port = syn.destination_port();
  h.destination_port = syn.source_port();
  h.seq = isn;
  h.ack = syn.seq() + 1;
  h.flags = kSyn | kAck;
  uint32_t rcv_buf = options_.receive_buffer != 0 ? options_.receive_buffer : po.receive_buffer;
  h.window = static_cast<uint16_t>(std::min<uint32_t>(rcv_buf, 65535));
  h.options.mss = our_mss;
  if (co.window_scale) {
    uint32_t max_rcv =
        options_.receive_buffer != 0 ? options_.receive_buffer : po.receive_buffer_max;
    h.options.window_scale = receive_window_scale(max_rcv);
  }
  h.options.sack_permitted = co.sack_permitted;
  if (co.timestamps) {
    uint32_t tsval = static_cast<uint32_t>(to_millis(stack.now().time_since_epoch())) +
                     timestamp_offset(stack.secret(), t);
    h.options.timestamps = Timestamps{tsval, opts.timestamps->value};
  }
  PacketBuffer pkt = build_segment(h, PacketBuffer(), info.destination, info.source);
  c.syn_cookies_sent++;
  c.segments_sent++;
  if (auto st = protocol_.transmit(*route, std::move(pkt)); !st) c.drop_send_error++;
}

}  // namespace weir::tcp
