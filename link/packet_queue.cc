#include "link/packet_queue.h"

#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <utility>

#include "link/ethernet.h"
#include "link/raw_ip.h"

namespace weir::link {

namespace {

constexpr uint32_t kMinMtu = 68;  // RFC 791: every IPv4 host handles 68-byte datagrams
constexpr uint32_t kMaxMtu = 65535;
constexpr size_t kIpv4MinHeader = 20;
constexpr size_t kIpv6Header = 40;

}  // namespace

Result<std::unique_ptr<PacketQueueEndpoint>> PacketQueueEndpoint::create(
    const PacketQueueOptions& options) {
  if (options.mtu < kMinMtu || options.mtu > kMaxMtu) return Error::kInvalidArgument;
  if (options.inbound_limit == 0 || options.outbound_limit == 0 ||
      options.outbound_byte_limit == 0) {
    return Error::kInvalidArgument;
  }
  if (options.framing == Framing::kEthernet &&
      (options.mac.is_multicast() || options.mac.is_zero())) {
    return Error::kInvalidArgument;
  }
  auto endpoint = std::make_unique<PacketQueueEndpoint>(Key(), options);
  auto inbound = FrameQueue::create({.limit = options.inbound_limit,
                                     .locked = options.thread_safe,
                                     .signalled = options.thread_safe});
  if (!inbound) return inbound.error();
  endpoint->inbound_ = std::move(inbound).value();
  if (options.output_fd) {
    endpoint->output_fd_.reset(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!endpoint->output_fd_) return error_from_errno(errno);
  }
  return endpoint;
}

PacketQueueEndpoint::PacketQueueEndpoint(Key, const PacketQueueOptions& options)
    : options_(options) {}

PacketQueueEndpoint::~PacketQueueEndpoint() = default;

LinkCapabilities PacketQueueEndpoint::capabilities() const {
  LinkCapabilities caps;
  caps.resolution_required = options_.framing == Framing::kEthernet;
  return caps;
}

uint16_t PacketQueueEndpoint::max_header_length() const {
  return options_.framing == Framing::kEthernet ? kEthernetHeaderLength : 0;
}

MacAddress PacketQueueEndpoint::link_address() const {
  return options_.framing == Framing::kEthernet ? options_.mac : MacAddress();
}

// ---- Inbound --------------------------------------------------------------------------------

Status PacketQueueEndpoint::inject(ByteView frame) {
  // Check before copying, so a refused frame costs no allocation.
  if (options_.framing == Framing::kRawIp && frame.empty()) {
    ++counters_.rx_drop_runt;
    return Error::kBadMessage;
  }
  return inject(PacketBuffer::from_bytes(frame));
}

Status PacketQueueEndpoint::inject(PacketBuffer frame) {
  frame.meta() = PacketMeta();
  size_t network_size = frame.size();
  if (options_.framing == Framing::kEthernet) {
    if (frame.size() < kEthernetHeaderLength) {
      ++counters_.rx_drop_runt;
      return Error::kBadMessage;
    }
    network_size -= kEthernetHeaderLength;
  } else {
    auto first = frame.front(1);
    if (!first) {
      ++counters_.rx_drop_runt;
      return Error::kBadMessage;
    }
    const uint8_t version = load_u8(*first, 0) >> 4;
    if (version != 4 && version != 6) {
      ++counters_.rx_drop_bad_ip_version;
      return Error::kBadMessage;
    }
    if (frame.size() < (version == 4 ? kIpv4MinHeader : kIpv6Header)) {
      ++counters_.rx_drop_runt;
      return Error::kBadMessage;
    }
  }
  if (network_size > options_.mtu) {
    ++queue_counters_.rx_drop_too_big;
    return Error::kMessageTooLong;
  }
  if (!inbound_->push(frame)) {
    ++queue_counters_.rx_drop_queue_full;
    return Error::kNoBufferSpace;
  }
  return ok_status();
}

size_t PacketQueueEndpoint::process_receive(size_t budget) {
  size_t taken = 0;
  while (taken < budget) {
    receive_batch_.clear();
    // In batches, so a thread-safe queue's lock is taken once per batch, not per packet.
    const size_t n = inbound_->pop_batch(std::min<size_t>(budget - taken, 64), receive_batch_);
    if (n == 0) break;
    for (PacketBuffer& frame : receive_batch_) {
      if (options_.framing == Framing::kEthernet) {
        deliver_ethernet_frame(std::move(frame), {.self = options_.mac}, dispatcher_, counters_);
      } else {
        deliver_raw_ip_packet(std::move(frame), dispatcher_, counters_);
      }
    }
    taken += n;
  }
  receive_batch_.clear();
  return taken;
}

// ---- Outbound -------------------------------------------------------------------------------

void PacketQueueEndpoint::set_output_signal(bool readable) {
  if (!output_fd_) return;
  if (readable) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t w = ::write(output_fd_.get(), &one, sizeof one);
  } else {
    uint64_t count;
    [[maybe_unused]] ssize_t r = ::read(output_fd_.get(), &count, sizeof count);
  }
}

Result<size_t> PacketQueueEndpoint::write_packets(std::span<PacketBuffer> packets) {
  size_t sent = 0;
  bool became_ready = false;
  Error last_error = Error::kNoBufferSpace;
  {
    MaybeLock lock(out_mutex_, options_.thread_safe);
    for (PacketBuffer& pkt : packets) {
      if (pkt.size() > options_.mtu) {
        ++counters_.tx_drop_too_big;
        last_error = Error::kMessageTooLong;
        continue;
      }
      const size_t frame_size = pkt.size() + max_header_length();
      if (outbound_.size() >= options_.outbound_limit) {
        ++counters_.tx_drop_queue_full;
        last_error = Error::kNoBufferSpace;
        continue;
      }
      if (outbound_bytes_ + frame_size > options_.outbound_byte_limit) {
        ++queue_counters_.tx_drop_queue_bytes;
        last_error = Error::kNoBufferSpace;
        continue;
      }
      if (options_.framing == Framing::kEthernet) push_ethernet_header(pkt, options_.mac);
      if (outbound_.empty()) became_ready = true;
      outbound_bytes_ += pkt.size();
      ++counters_.tx_frames;
      counters_.tx_bytes += pkt.size();
      outbound_.push_back(std::move(pkt));
      ++sent;
    }
    // Under the lock, so a taker on another thread that empties the queue clears the fd
    // after this write, never before it.
    if (became_ready) set_output_signal(true);
  }
  if (became_ready) {
    ++queue_counters_.output_ready_calls;
    if (output_ready_) output_ready_();
  }
  if (sent == 0 && !packets.empty()) return last_error;
  return sent;
}

size_t PacketQueueEndpoint::take_outbound(std::vector<PacketBuffer>& out, size_t max) {
  MaybeLock lock(out_mutex_, options_.thread_safe);
  size_t n = 0;
  while (n < max && !outbound_.empty()) {
    outbound_bytes_ -= outbound_.front().size();
    out.push_back(std::move(outbound_.front()));
    outbound_.pop_front();
    ++n;
  }
  if (n > 0 && outbound_.empty()) set_output_signal(false);
  return n;
}

std::optional<PacketBuffer> PacketQueueEndpoint::take_outbound() {
  MaybeLock lock(out_mutex_, options_.thread_safe);
  if (outbound_.empty()) return std::nullopt;
  PacketBuffer pkt = std::move(outbound_.front());
  outbound_.pop_front();
  outbound_bytes_ -= pkt.size();
  if (outbound_.empty()) set_output_signal(false);
  return pkt;
}

size_t PacketQueueEndpoint::drain(const std::function<void(PacketBuffer)>& fn) {
  // Swap the whole queue out first: fn runs without the lock, and what the stack sends
  // meanwhile (it should not, but a thread-safe endpoint's stack runs on) waits for next time.
  std::deque<PacketBuffer> taken;
  {
    MaybeLock lock(out_mutex_, options_.thread_safe);
    if (outbound_.empty()) return 0;
    taken.swap(outbound_);
    outbound_bytes_ = 0;
    set_output_signal(false);
  }
  const size_t n = taken.size();
  for (PacketBuffer& pkt : taken) fn(std::move(pkt));
  return n;
}

void PacketQueueEndpoint::set_output_ready(std::function<void()> fn) {
  output_ready_ = std::move(fn);
}

size_t PacketQueueEndpoint::outbound_pending() const {
  MaybeLock lock(out_mutex_, options_.thread_safe);
  return outbound_.size();
}

size_t PacketQueueEndpoint::transmit_room() const {
  MaybeLock lock(out_mutex_, options_.thread_safe);
  const size_t by_count =
      outbound_.size() < options_.outbound_limit ? options_.outbound_limit - outbound_.size() : 0;
  const size_t frame = size_t{options_.mtu} + max_header_length();
  const size_t by_bytes = outbound_bytes_ < options_.outbound_byte_limit
                              ? (options_.outbound_byte_limit - outbound_bytes_) / frame
                              : 0;
  return std::min(by_count, by_bytes);
}

size_t PacketQueueEndpoint::outbound_bytes() const {
  MaybeLock lock(out_mutex_, options_.thread_safe);
  return outbound_bytes_;
}

}  // namespace weir::link
