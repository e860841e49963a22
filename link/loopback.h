// LoopbackEndpoint: packets written to it come back to the same stack, like Linux's lo.
//
// Theory of operation. There is no link header and no neighbor resolution. write_packets()
// only queues (bounded; tx_drop_queue_full when full); the packets are delivered back in the
// next process_receive(budget), never inside the write. Delivering inline would re-enter the
// network layer from its own transmit path (a TCP segment sent from inside the receive of the
// segment it acknowledges), which the stack's layers are not written to survive. The queue's
// eventfd is readable_fd(), so a Loop that watches the endpoint delivers the packets on its
// next turn; tests without a Loop call process_receive() themselves.
#pragma once

#include <memory>

#include "link/frame_queue.h"
#include "link/link_counters.h"
#include "stack/link_endpoint.h"
#include "stack/result.h"

namespace weir::link {

struct LoopbackOptions {
  uint32_t mtu = 65536;
  size_t queue_limit = 4096;
  bool with_fd = true;  // keep an eventfd for a Loop; tests that drive by hand may skip it
};

class LoopbackEndpoint final : public LinkEndpoint {
 public:
  // Fails only if the eventfd cannot be made.
  static Result<std::unique_ptr<LoopbackEndpoint>> create(const LoopbackOptions& options = {});

  class Key {
    friend class LoopbackEndpoint;
    Key() = default;
  };
  LoopbackEndpoint(Key, const LoopbackOptions& options, std::unique_ptr<FrameQueue> queue);

  uint32_t mtu() const override { return options_.mtu; }
  LinkCapabilities capabilities() const override;
  uint16_t max_header_length() const override { return 0; }
  MacAddress link_address() const override { return MacAddress(); }
  void attach(NetworkDispatcher* dispatcher) override { dispatcher_ = dispatcher; }
  bool attached() const override { return dispatcher_ != nullptr; }
  // Moves the packets out of `packets`. Each needs meta().network_protocol set.
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override;
  size_t transmit_room() const override { return queue_->room(); }
  int readable_fd() const override { return queue_->fd(); }
  size_t process_receive(size_t budget) override;

  // Back to what create() made, keeping the queue's eventfd (the fuzz targets keep one
  // loopback for the process instead of making an eventfd per input): queued packets are
  // dropped, the signal drained, the counters zeroed. Only while detached.
  void reset();

  size_t pending() const { return queue_->size(); }
  const LinkCounters& counters() const { return counters_; }

 private:
  LoopbackOptions options_;
  std::unique_ptr<FrameQueue> queue_;
  NetworkDispatcher* dispatcher_ = nullptr;
  LinkCounters counters_;
  std::vector<PacketBuffer> batch_;  // reused between receives
};

}  // namespace weir::link
