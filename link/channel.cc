#include "link/channel.h"

#include <array>
#include <atomic>
#include <cstdlib>
#include <utility>

#include "link/ethernet.h"
#include "link/frame_queue.h"
#include "link/raw_ip.h"

namespace weir::link {

// Side 0 is `a` (or the test's endpoint), side 1 is `b` (or the FramePeer). inbound[i] holds
// frames travelling towards side i.
class ChannelWire {
 public:
  explicit ChannelWire(const ChannelOptions& options) : options_(options) {
    const FrameQueue::Options queue_options{.limit = options.queue_limit,
                                            .locked = options.thread_safe,
                                            .signalled = options.thread_safe};
    for (auto& q : inbound_) {
      auto made = FrameQueue::create(queue_options);
      // Only eventfd creation can fail; without it a threaded channel cannot work at all.
      if (!made) std::abort();
      q = std::move(made).value();
    }
  }

  const ChannelOptions& options() const { return options_; }
  FrameQueue& inbound(int side) { return *inbound_[side]; }
  bool alive(int side) const { return alive_[side].load(std::memory_order_acquire); }
  void set_alive(int side, bool on) { alive_[side].store(on, std::memory_order_release); }
  // The endpoint on side 0 while it exists; single-threaded channels only (FramePeer::inject).
  ChannelEndpoint* endpoint = nullptr;

 private:
  ChannelOptions options_;
  std::array<std::unique_ptr<FrameQueue>, 2> inbound_;
  std::array<std::atomic<bool>, 2> alive_{};
};

namespace {

// Sends are in-memory, so a batch is delivered from the queue in one go; this is only the
// granularity of the pop.
constexpr size_t kPopBatch = 64;

}  // namespace

ChannelEndpoint::Pair ChannelEndpoint::make_pair(const ChannelOptions& options) {
  auto wire = std::make_shared<ChannelWire>(options);
  Pair pair;
  pair.a = std::make_unique<ChannelEndpoint>(Key(), wire, 0, options.mac_a);
  pair.b = std::make_unique<ChannelEndpoint>(Key(), wire, 1, options.mac_b);
  return pair;
}

ChannelEndpoint::TestPair ChannelEndpoint::make_test_pair(const ChannelOptions& options) {
  auto wire = std::make_shared<ChannelWire>(options);
  TestPair pair;
  pair.endpoint = std::make_unique<ChannelEndpoint>(Key(), wire, 0, options.mac_a);
  pair.peer = std::make_unique<FramePeer>(Key(), wire, options.mac_b, options.mac_a);
  return pair;
}

// Defined before its callers: pump() asks each side in turn until both are quiet, so most
// calls find nothing, and that answer should cost no call.
size_t ChannelEndpoint::receive_queued(size_t budget) {
  if (inbound_->idle()) return 0;
  return deliver_queued(*inbound_, budget);
}

bool ChannelEndpoint::inbound_idle() const { return inbound_->idle(); }

size_t ChannelEndpoint::pump(ChannelEndpoint& a, ChannelEndpoint& b, size_t max_frames) {
  size_t total = 0;
  while (total < max_frames) {
    const size_t moved = a.receive_queued(max_frames - total);
    const size_t moved_b =
        total + moved < max_frames ? b.receive_queued(max_frames - total - moved) : 0;
    if (moved + moved_b == 0) break;
    total += moved + moved_b;
  }
  return total;
}

ChannelEndpoint::ChannelEndpoint(Key, std::shared_ptr<ChannelWire> wire, int side, MacAddress mac)
    : wire_(std::move(wire)), side_(side), inbound_(&wire_->inbound(side)), mac_(mac) {
  wire_->set_alive(side_, true);
  if (side_ == 0) wire_->endpoint = this;
}

ChannelEndpoint::~ChannelEndpoint() {
  wire_->set_alive(side_, false);
  if (side_ == 0) wire_->endpoint = nullptr;
  // Frames still queued towards us are released with the wire (or now, if the peer lives on).
  wire_->inbound(side_).clear();
}

uint32_t ChannelEndpoint::mtu() const { return wire_->options().mtu; }

LinkCapabilities ChannelEndpoint::capabilities() const {
  LinkCapabilities caps;
  caps.resolution_required = wire_->options().framing == Framing::kEthernet;
  caps.tx_checksum_offload = wire_->options().offloads;
  caps.rx_checksum_offload = wire_->options().offloads;
  caps.gso = wire_->options().offloads;
  return caps;
}

uint16_t ChannelEndpoint::max_header_length() const {
  return wire_->options().framing == Framing::kEthernet ? kEthernetHeaderLength : 0;
}

Result<size_t> ChannelEndpoint::write_packets(std::span<PacketBuffer> packets) {
  const ChannelOptions& options = wire_->options();
  const int peer = 1 - side_;
  FrameQueue& queue = wire_->inbound(peer);
  const bool peer_alive = wire_->alive(peer);
  size_t sent = 0;
  Error last_error = Error::kNoBufferSpace;
  for (PacketBuffer& pkt : packets) {
    if (!peer_alive) {
      ++counters_.tx_drop_no_peer;
      last_error = Error::kNotConnected;
      continue;
    }
    const bool gso = options.offloads && pkt.meta().gso_type != GsoType::kNone;
    if (pkt.size() > options.mtu && !gso) {
      ++counters_.tx_drop_too_big;
      last_error = Error::kMessageTooLong;
      continue;
    }
    if (options.framing == Framing::kEthernet) push_ethernet_header(pkt, mac_);
    const size_t bytes = pkt.size();
    // The receiver starts from a clean slate: transmit requests are not receive facts, except
    // what an offloading link turns them into. Reset in place: a PacketMeta built on the stack
    // and copied over gave this loop a stack-protected frame.
    PacketMeta& meta = pkt.meta();
    const bool verified = options.offloads && meta.needs_checksum;
    const GsoType gso_type = options.offloads ? meta.gso_type : GsoType::kNone;
    const uint16_t gso_size = options.offloads ? meta.gso_size : 0;
    meta = PacketMeta{};
    meta.checksum_verified = verified;
    meta.gso_type = gso_type;
    meta.gso_size = gso_size;
    if (gso) ++counters_.tx_gso_frames;
    if (!queue.push(pkt)) {
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

size_t ChannelEndpoint::transmit_room() const {
  const int peer = 1 - side_;
  // Writes to a closed end fail whatever the room: nothing to hold back for.
  if (!wire_->alive(peer)) return kUnboundedTransmitRoom;
  return wire_->inbound(peer).room();
}

int ChannelEndpoint::readable_fd() const { return wire_->inbound(side_).fd(); }

size_t ChannelEndpoint::process_receive(size_t budget) { return receive_queued(budget); }

void ChannelEndpoint::deliver_frame(PacketBuffer&& frame) {
  if (frame.meta().gso_type != GsoType::kNone) ++counters_.rx_gso_frames;
  if (wire_->options().framing == Framing::kEthernet) {
    deliver_ethernet_frame(std::move(frame), {.self = mac_, .promiscuous = promiscuous_},
                           dispatcher_, counters_);
  } else {
    deliver_raw_ip_packet(std::move(frame), dispatcher_, counters_);
  }
}

size_t ChannelEndpoint::deliver_queued(FrameQueue& queue, size_t budget) {
  if (!queue.unshared()) return deliver_batches(queue, budget);
  // One thread: straight from the ring to the stack, a frame at a time. Dropped frames count
  // against the budget too: the budget bounds the work done.
  size_t delivered = 0;
  PacketBuffer frame;
  while (delivered < budget && queue.pop(frame)) {
    deliver_frame(std::move(frame));
    ++delivered;
  }
  return delivered;
}

// Out of line: its batch vector made the one-thread path above save and restore registers and
// move the kept vector in and out on every call.
[[gnu::noinline]] size_t ChannelEndpoint::deliver_batches(FrameQueue& queue, size_t budget) {
  size_t delivered = 0;
  // The batch vector is kept between calls so receiving allocates nothing; taken out of the
  // member while it is in use, so a nested call would simply start its own.
  std::vector<PacketBuffer> batch = std::move(rx_batch_);
  while (delivered < budget) {
    batch.clear();
    const size_t n = queue.pop_batch(std::min(budget - delivered, kPopBatch), batch);
    if (n == 0) break;
    for (PacketBuffer& frame : batch) deliver_frame(std::move(frame));
    delivered += n;
  }
  batch.clear();
  rx_batch_ = std::move(batch);
  return delivered;
}

size_t ChannelEndpoint::pending() const { return wire_->inbound(side_).size(); }

// ---- FramePeer ------------------------------------------------------------------------------

FramePeer::FramePeer(ChannelEndpoint::Key, std::shared_ptr<ChannelWire> wire, MacAddress mac,
                     MacAddress endpoint_mac)
    : wire_(std::move(wire)), mac_(mac), endpoint_mac_(endpoint_mac) {
  wire_->set_alive(1, true);
}

FramePeer::~FramePeer() {
  wire_->set_alive(1, false);
  wire_->inbound(1).clear();
}

Status FramePeer::push(PacketBuffer frame) {
  if (!wire_->alive(0)) return Error::kNotConnected;
  PacketMeta arrives;
  if (wire_->options().offloads) {
    arrives.checksum_verified = frame.meta().checksum_verified;
    arrives.gso_type = frame.meta().gso_type;
    arrives.gso_size = frame.meta().gso_size;
  }
  frame.meta() = arrives;
  if (!wire_->inbound(0).push(frame)) return Error::kNoBufferSpace;
  return ok_status();
}

Status FramePeer::enqueue(ByteView frame) { return push(PacketBuffer::from_bytes(frame)); }
Status FramePeer::enqueue(PacketBuffer frame) { return push(std::move(frame)); }

Status FramePeer::inject(ByteView frame) { return inject(PacketBuffer::from_bytes(frame)); }

Status FramePeer::inject_network(uint16_t ethertype, ByteView packet) {
  if (wire_->options().framing == Framing::kRawIp) return inject(packet);
  return inject(build_ethernet_frame(endpoint_mac_, mac_, ethertype, packet));
}

Status FramePeer::inject(PacketBuffer frame) {
  WEIR_TRY(push(std::move(frame)));
  if (!wire_->options().thread_safe && wire_->endpoint != nullptr && wire_->endpoint->attached()) {
    deliver();
  }
  return ok_status();
}

size_t FramePeer::deliver(size_t budget) {
  if (wire_->options().thread_safe || wire_->endpoint == nullptr) return 0;
  return wire_->endpoint->process_receive(budget);
}

std::optional<PacketBuffer> FramePeer::read_packet() {
  // A single-threaded queue hands the frame over directly, without a vector per frame.
  if (FrameQueue& queue = wire_->inbound(1); queue.unshared()) {
    PacketBuffer pkt;
    if (!queue.pop(pkt)) return std::nullopt;
    return pkt;
  }
  std::vector<PacketBuffer> one;
  if (wire_->inbound(1).pop_batch(1, one) == 0) return std::nullopt;
  return std::move(one.front());
}

std::optional<std::vector<std::byte>> FramePeer::read() {
  auto pkt = read_packet();
  if (!pkt) return std::nullopt;
  return pkt->to_vector();
}

std::vector<std::vector<std::byte>> FramePeer::read_all() {
  std::vector<std::vector<std::byte>> frames;
  while (auto frame = read()) frames.push_back(std::move(*frame));
  return frames;
}

size_t FramePeer::pending() const { return wire_->inbound(1).size(); }

void FramePeer::clear() { wire_->inbound(1).clear(); }

}  // namespace weir::link
