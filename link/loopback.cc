#include "link/loopback.h"

#include <algorithm>
#include <utility>

namespace weir::link {

Result<std::unique_ptr<LoopbackEndpoint>> LoopbackEndpoint::create(const LoopbackOptions& options) {
  auto queue = FrameQueue::create(
      {.limit = options.queue_limit, .locked = false, .signalled = options.with_fd});
  if (!queue) return queue.error();
  return std::make_unique<LoopbackEndpoint>(Key(), options, std::move(queue).value());
}

LoopbackEndpoint::LoopbackEndpoint(Key, const LoopbackOptions& options,
                                   std::unique_ptr<FrameQueue> queue)
    : options_(options), queue_(std::move(queue)) {}

LinkCapabilities LoopbackEndpoint::capabilities() const {
  LinkCapabilities caps;
  caps.resolution_required = false;
  caps.loopback = true;
  return caps;
}

Result<size_t> LoopbackEndpoint::write_packets(std::span<PacketBuffer> packets) {
  size_t sent = 0;
  Error last_error = Error::kNoBufferSpace;
  for (PacketBuffer& pkt : packets) {
    if (pkt.size() > options_.mtu) {
      ++counters_.tx_drop_too_big;
      last_error = Error::kMessageTooLong;
      continue;
    }
    const size_t bytes = pkt.size();
    // Only the protocol survives the trip: everything else in meta described the send.
    const uint16_t protocol = pkt.meta().network_protocol;
    pkt.meta() = PacketMeta{};
    pkt.meta().network_protocol = protocol;
    if (!queue_->push(pkt)) {
      ++counters_.tx_drop_queue_full;
      last_error = Error::kNoBufferSpace;
      continue;
    }
    ++counters_.tx_frames;
    counters_.tx_bytes += bytes;
    ++sent;
  }
  if (sent == 0 && !packets.empty()) return last_error;
  return sent;
}

void LoopbackEndpoint::reset() {
  queue_->clear();
  counters_ = LinkCounters{};
  batch_.clear();
}

size_t LoopbackEndpoint::process_receive(size_t budget) {
  // What the stack sends while it handles these packets is delivered by this same loop, so
  // it needs no wake-up; release_signal() leaves the fd readable if the budget runs out first.
  queue_->hold_signal();
  size_t handled = 0;
  while (handled < budget) {
    batch_.clear();
    const size_t n = queue_->pop_batch(std::min<size_t>(budget - handled, 64), batch_);
    if (n == 0) break;
    handled += n;
    for (PacketBuffer& pkt : batch_) {
      if (dispatcher_ == nullptr) {
        ++counters_.rx_drop_not_attached;
        continue;
      }
      pkt.meta().link_type = LinkPacketType::kHost;
      ++counters_.rx_frames;
      counters_.rx_bytes += pkt.size();
      dispatcher_->deliver_network_packet(std::move(pkt));
    }
  }
  batch_.clear();
  queue_->release_signal();
  return handled;
}

}  // namespace weir::link
