#include "tcp/time_wait.h"

#include <algorithm>
#include <iterator>
#include <utility>

#include "tcp/tcp.h"
#include "tcp/wire.h"

namespace weir::tcp {

TimeWait::TimeWait(TcpProtocol& protocol, const TransportEndpointId& id, TimeWaitState state,
                   TimePoint deadline)
    : protocol_(protocol), s_(std::move(state)) {
  demux_id_ = id;
  protocol_.time_wait_queue().schedule(*this, deadline);
}

TimeWait::~TimeWait() {
  if (in_demux()) protocol_.stack().demux().remove(*this);
  if (s_.port_handle) protocol_.stack().ports().release(*s_.port_handle);
}

Status TimeWait::enter() { return protocol_.stack().demux().add(*this, demux_id_); }

void TimeWait::end() {
  if (ended_) return;
  ended_ = true;
  protocol_.time_wait_queue().remove(*this);
  if (in_demux()) protocol_.stack().demux().remove(*this);
  if (s_.port_handle) protocol_.stack().ports().release(*std::exchange(s_.port_handle, {}));
  protocol_.time_wait_ended(*this);
}

void TimeWait::restart_wait() {
  protocol_.time_wait_queue().schedule(*this,
                                       protocol_.stack().now() + protocol_.options().time_wait);
}

void TimeWaitQueue::schedule(TimeWait& record, TimePoint deadline) {
  if (record.queue_hook_.is_linked()) records_.erase(records_.iterator_to(record));
  record.deadline_ = deadline;
  auto at = records_.end();
  while (at != records_.begin() && std::prev(at)->deadline_ > deadline) --at;
  records_.insert(at, record);
  if (&records_.front() == &record && (!timer_.armed() || deadline < timer_.deadline())) {
    wheel_.arm(timer_, deadline);
  }
}

void TimeWaitQueue::remove(TimeWait& record) {
  if (record.queue_hook_.is_linked()) records_.erase(records_.iterator_to(record));
  if (records_.empty()) timer_.cancel();
}

void TimeWaitQueue::expire() {
  const TimePoint now = wheel_.now();
  while (!records_.empty() && records_.front().deadline_ <= now) {
    TimeWait& record = records_.front();
    records_.pop_front();
    record.end();  // only queues the record for reaping
  }
  if (!records_.empty()) wheel_.arm(timer_, records_.front().deadline_);
}

void TimeWait::send_ack(const NetworkPacketInfo& info) {
  TcpCounters& c = protocol_.counters();
  auto route = protocol_.route_back(info);
  if (!route) {
    c.drop_route_error++;
    return;
  }
  SegmentHeader h;
  h.source_port = demux_id_.local_port;
  h.destination_port = demux_id_.remote_port;
  h.seq = s_.snd_nxt;
  h.ack = s_.rcv_nxt;
  h.flags = kAck;
  h.window = static_cast<uint16_t>(
      std::min<uint32_t>(s_.receive_window >> s_.receive_window_scale, 0xffff));
  if (s_.timestamps) {
    const auto now_ms =
        static_cast<uint32_t>(to_millis(protocol_.stack().now().time_since_epoch()));
    h.options.timestamps = Timestamps{now_ms + s_.ts_offset, s_.ts_recent};
  }
  PacketBuffer pkt =
      build_segment(h, PacketBuffer(), demux_id_.local_address, demux_id_.remote_address);
  s_.last_ack_sent = s_.rcv_nxt;
  c.segments_sent++;
  if (auto st = protocol_.transmit(*route, std::move(pkt)); !st) c.drop_send_error++;
}

void TimeWait::send_challenge_ack(const NetworkPacketInfo& info) {
  if (protocol_.take_challenge_ack_budget()) send_ack(info);
}

SegmentOutcome TimeWait::on_segment(const NetworkPacketInfo& info, const Segment& seg,
                                    PacketBuffer&& payload) {
  TcpCounters& c = protocol_.counters();
  if (ended_) return SegmentOutcome::kRedeliver;
  const Options opts = seg.options();
  if (opts.malformed) c.drop_bad_options++;
  const uint8_t flags = seg.flags();
  SeqNum seq = seg.seq();
  const TimePoint now = protocol_.stack().now();
  const bool have_ts = s_.timestamps && opts.timestamps.has_value();
  const int32_t ts_delta =
      have_ts ? static_cast<int32_t>(opts.timestamps->value - s_.ts_recent) : 0;

  // A new SYN clearly newer than the old incarnation starts a new one. A port reused within
  // one timestamp tick carries an equal timestamp, so the sequence number must still count
  // then, as in Linux's tcp_timewait_state_process.
  if ((flags & (kSyn | kAck | kRst)) == kSyn) {
    if ((have_ts && ts_delta > 0) || (ts_delta >= 0 && seq > s_.rcv_nxt)) {
      c.time_wait_reused++;
      end();
      return SegmentOutcome::kRedeliver;
    }
  }

  const uint32_t seg_len =
      static_cast<uint32_t>(payload.size()) + ((flags & kSyn) ? 1 : 0) + ((flags & kFin) ? 1 : 0);

  if (have_ts && (flags & kRst) == 0 && ts_delta < 0 && now - s_.ts_recent_stamp < kPawsIdle) {
    c.drop_paws++;
    send_ack(info);
    return SegmentOutcome::kDone;
  }

  if (!segment_acceptable(s_.rcv_nxt, s_.receive_window, seq, seg_len)) {
    if (flags & kRst) {
      c.drop_rst_out_of_window++;
      return SegmentOutcome::kDone;
    }
    c.drop_out_of_window++;
    // A retransmitted FIN: our ACK of it was lost, so the peer may retransmit again.
    if ((flags & kFin) && seq + seg_len == s_.rcv_nxt) restart_wait();
    send_ack(info);
    return SegmentOutcome::kDone;
  }

  if (have_ts && seq <= s_.last_ack_sent && ts_delta >= 0) {
    s_.ts_recent = opts.timestamps->value;
    s_.ts_recent_stamp = now;
  }

  if (flags & kRst) {
    if (seq != s_.rcv_nxt) {
      send_challenge_ack(info);
      return SegmentOutcome::kDone;
    }
    c.resets_received++;
    end();
    return SegmentOutcome::kDone;
  }
  if (flags & kSyn) {
    c.drop_syn_in_window++;
    send_challenge_ack(info);
    return SegmentOutcome::kDone;
  }
  // Bytes we already have are answered (our ACK may have been lost); anything new the peer
  // sends after its FIN is not data.
  bool answer = false;
  if (seq < s_.rcv_nxt) {
    const auto dup = static_cast<uint32_t>(s_.rcv_nxt - seq);
    const uint32_t data_dup = std::min<uint32_t>(dup, static_cast<uint32_t>(payload.size()));
    answer = data_dup > 0;
    payload.pull_front(data_dup);
  }
  if (payload.size() > s_.receive_window) c.drop_beyond_receive_window++;
  if ((flags & kAck) == 0) {
    c.drop_no_ack_flag++;
    return SegmentOutcome::kDone;
  }
  const SeqNum ack = seg.ack();
  if (ack > s_.snd_nxt) {
    c.drop_bad_ack++;
    send_ack(info);
    return SegmentOutcome::kDone;
  }
  if (ack < s_.snd_nxt - std::max<uint32_t>(s_.max_send_window, 65535)) {
    c.drop_bad_ack++;
    send_challenge_ack(info);
    return SegmentOutcome::kDone;
  }
  if (answer) send_ack(info);
  return SegmentOutcome::kDone;
}

}  // namespace weir::tcp
