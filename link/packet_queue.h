// PacketQueueEndpoint: a link whose other side is the embedder's own code. The embedder hands
// it inbound packets (read from a tun device, a VPN tunnel, another OS's driver) and takes the
// packets the stack sends, whole, to write wherever they go. gVisor's channel endpoint is the
// model; this is the public way to feed a weir stack packets.
//
// Theory of operation. Two bounded FIFOs sit between the embedder and the stack:
//
//   embedder --inject()--> [inbound] --process_receive()--> stack
//   stack --write_packets()--> [outbound] --take_outbound()/drain()--> embedder
//
// inject() validates and queues; nothing reaches the stack until process_receive(budget) runs
// on the stack's thread (Stack::poll() calls it for every NIC, so does a Loop watching the
// endpoint's readable_fd()). The stack is therefore never re-entered from inject(), and an
// injected burst is handled inside one batch at one clock reading, like a burst from a tap.
// A frame inject() refuses (too short, not IPv4/IPv6 in raw IP mode, over the MTU, inbound
// queue full) is counted under its reason and the call returns the Error saying why; the
// stack never sees it. Ethernet-level checks (VLAN tags, 802.3 frames, other hosts' MACs)
// happen at delivery, in deliver_ethernet_frame, and are counted there.
//
// Outbound, write_packets() pushes the link header (Ethernet mode) and queues the packet
// without copying its bytes. The queue is bounded in packets and in bytes, as a NIC's ring
// is: a packet that does not fit is counted (tx_drop_queue_full, or queue_counters()
// .tx_drop_queue_bytes) and dropped, and TCP's retransmission recovers, as it would from a
// full ring. The embedder learns that output waits in two ways, both optional:
//   - set_output_ready(fn): fn runs on the stack's thread, inside write_packets(), each time
//     the outbound queue goes from empty to non-empty. It is a notification only: it may
//     take packets from this endpoint (take_outbound/drain), set a flag, write an eventfd or
//     post to another thread; it must not call into the Stack or its sockets (the stack is in
//     the middle of sending), must not destroy the endpoint, and should not block.
//   - PacketQueueOptions::output_fd: an eventfd, output_fd(), readable exactly while outbound
//     packets wait, for an embedder that polls fds (epoll/poll on it with the tun fd).
//
// Modes. Framing::kRawIp (a tun device): no link header, the network protocol is read from
// the version nibble, no neighbour resolution (capabilities().resolution_required is false),
// link_address() is all zeros. Framing::kEthernet (a tap device): 14-byte Ethernet II
// headers, the endpoint's MAC, ARP and NDP run over it; outbound frames start with the
// Ethernet header.
//
// Checksums and offloads: none. The stack computes every checksum and verifies every received
// one, GSO batches are cut into MTU-sized packets before they reach the queue, and nothing an
// embedder injects is trusted beyond its bytes.
//
// Threads. By default (thread_safe = false) everything, inject() and take_outbound()
// included, runs on the one thread that drives the stack, and no lock is taken; readable_fd()
// is -1 because the owner knows when it injected: call Stack::poll() after injecting, or,
// under a Loop, inject from a Loop::watch_fd handler (the tun fd's, say) and call
// process_receive() there (the handler runs inside the loop's batch). With thread_safe = true, any
// one thread may inject() and any one thread may take outbound packets while the stack runs on its
// own thread: both queues are locked, and readable_fd() is an eventfd, readable while injected
// packets wait, so a Loop (Loop::watch) or Stack::wait_set() wakes for them. set_output_ready's
// callback still runs on the stack's thread. counters() are written on the stack's thread (and, for
// inject()'s refusals, on the injecting thread): read them there, or after the threads are done.
//
// Lifetime. The stack owns the endpoint once it is given to Stack::add_nic(); keep a reference
// (`auto& link = *endpoint;`) before moving it in. The reference is valid as long as the
// stack; another thread using it must be done before the stack is destroyed.
//
//   auto endpoint = link::PacketQueueEndpoint::create({.framing = link::Framing::kRawIp}).value();
//   link::PacketQueueEndpoint& link = *endpoint;
//   NicId nic = stack.add_nic(std::move(endpoint), "tun0").value();
//   ...
//   link.inject(bytes_read_from_tun);       // copies; or inject(PacketBuffer) to move
//   auto r = stack.poll();                  // delivers what was injected, fires timers
//   link.drain([&](PacketBuffer pkt) { write_to_tun(pkt); });
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <vector>

#include "link/channel.h"  // Framing
#include "link/frame_queue.h"
#include "link/link_counters.h"
#include "stack/address.h"
#include "stack/counters.h"
#include "stack/link_endpoint.h"
#include "stack/packet_buffer.h"
#include "stack/result.h"
#include "stack/unique_fd.h"

namespace weir::link {

struct PacketQueueOptions {
  Framing framing = Framing::kRawIp;
  // The largest network-layer packet (link header excluded), both directions. Injected
  // packets (frames, minus their 14-byte header) above it are refused with kMessageTooLong.
  uint32_t mtu = 1500;
  // Ethernet mode: the endpoint's MAC (unicast; a locally administered one by default).
  // Ignored in raw IP mode.
  MacAddress mac = MacAddress({0x02, 0x00, 0x00, 0x00, 0x00, 0x01});
  // Injected packets waiting for process_receive(); more are refused with kNoBufferSpace.
  size_t inbound_limit = 1024;
  // Packets the stack sent that the embedder has not taken yet, in packets and in bytes
  // (link headers included); a packet past either limit is dropped and counted.
  size_t outbound_limit = 1024;
  size_t outbound_byte_limit = size_t{4} << 20;
  // Keep an eventfd readable while outbound packets wait (output_fd()).
  bool output_fd = false;
  // inject() and take_outbound()/drain() may run on threads other than the stack's (see the
  // header comment): locks both queues and makes readable_fd() an eventfd.
  bool thread_safe = false;
};

// Drops and facts of the queues that LinkCounters has no name for.
#define WEIR_PACKET_QUEUE_COUNTERS(X)                                                         \
  X(rx_drop_queue_full)  /* inject(): the inbound queue was at inbound_limit */               \
  X(rx_drop_too_big)     /* inject(): larger than the MTU (plus the link header) */           \
  X(tx_drop_queue_bytes) /* write_packets(): the outbound queue was at outbound_byte_limit */ \
  X(output_ready_calls)  /* the outbound queue went from empty to non-empty */
WEIR_DEFINE_COUNTERS(PacketQueueCounters, WEIR_PACKET_QUEUE_COUNTERS)

class PacketQueueEndpoint final : public LinkEndpoint {
 public:
  // kInvalidArgument for an MTU below 68 (IPv4's minimum) or above 65535, a zero limit, or
  // (Ethernet) a multicast or all-zero MAC; an errno-derived error if an eventfd cannot be
  // made.
  static Result<std::unique_ptr<PacketQueueEndpoint>> create(
      const PacketQueueOptions& options = {});

  // Made only by create(), which holds the key.
  class Key {
    friend class PacketQueueEndpoint;
    Key() = default;
  };
  PacketQueueEndpoint(Key, const PacketQueueOptions& options);
  ~PacketQueueEndpoint() override;
  PacketQueueEndpoint(const PacketQueueEndpoint&) = delete;
  PacketQueueEndpoint& operator=(const PacketQueueEndpoint&) = delete;

  // ---- The embedder's side -----------------------------------------------------------------

  // Queues one inbound frame (Ethernet mode) or IP packet (raw IP mode) for the next
  // process_receive(). The ByteView form copies; the PacketBuffer form takes the packet
  // (its meta is reset: nothing about it is trusted). Errors, each counted:
  //   kBadMessage      shorter than an Ethernet header, or (raw IP) than the IP header its
  //                    version needs (20 or 40 bytes), or (raw IP) a version other than 4 or 6
  //   kMessageTooLong  larger than mtu() (plus 14 in Ethernet mode)
  //   kNoBufferSpace   inbound_limit packets already wait
  Status inject(ByteView frame);
  Status inject(PacketBuffer frame);

  // The oldest packet the stack sent, whole (with its Ethernet header in Ethernet mode), or
  // nullopt when none waits.
  std::optional<PacketBuffer> take_outbound();
  // Moves up to max waiting packets, oldest first, onto the end of out; returns how many.
  size_t take_outbound(std::vector<PacketBuffer>& out, size_t max = SIZE_MAX);
  // Hands every waiting packet, oldest first, to fn, which owns it from then on; returns how
  // many. Packets the stack sends while fn runs wait for the next call. fn runs without the
  // queue's lock held.
  size_t drain(const std::function<void(PacketBuffer)>& fn);

  // Called on the stack's thread when the outbound queue goes from empty to non-empty; see the
  // header comment for what it may call. Set it before the stack starts sending (or on the
  // stack's thread). Empty: no callback.
  void set_output_ready(std::function<void()> fn);
  // The eventfd readable while outbound packets wait, or -1 without PacketQueueOptions::
  // output_fd. Never read it yourself: taking the last packet clears it.
  int output_fd() const { return output_fd_.get(); }

  size_t inbound_pending() const { return inbound_->size(); }
  size_t outbound_pending() const;
  size_t outbound_bytes() const;
  Framing framing() const { return options_.framing; }
  const LinkCounters& counters() const { return counters_; }
  const PacketQueueCounters& queue_counters() const { return queue_counters_; }

  // ---- LinkEndpoint (the stack's side) -----------------------------------------------------

  uint32_t mtu() const override { return options_.mtu; }
  LinkCapabilities capabilities() const override;
  uint16_t max_header_length() const override;
  MacAddress link_address() const override;
  void attach(NetworkDispatcher* dispatcher) override { dispatcher_ = dispatcher; }
  bool attached() const override { return dispatcher_ != nullptr; }
  // Moves the packets out of `packets` onto the outbound queue.
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override;
  // Frames the outbound queue takes before either limit, counting each at the largest frame.
  size_t transmit_room() const override;
  // -1, or with thread_safe the inbound queue's eventfd.
  int readable_fd() const override { return inbound_->fd(); }
  // Delivers up to budget injected packets to the stack; returns how many were taken off the
  // queue (refused ones included: the budget bounds work).
  size_t process_receive(size_t budget) override;

 private:
  // The outbound queue's state changes under out_mutex_ when thread_safe; these keep the
  // eventfd in step with emptiness.
  void set_output_signal(bool readable);

  PacketQueueOptions options_;
  NetworkDispatcher* dispatcher_ = nullptr;
  std::unique_ptr<FrameQueue> inbound_;
  std::vector<PacketBuffer> receive_batch_;  // reused by process_receive

  mutable std::mutex out_mutex_;  // taken only when thread_safe
  std::deque<PacketBuffer> outbound_;
  size_t outbound_bytes_ = 0;
  std::function<void()> output_ready_;
  UniqueFd output_fd_;

  LinkCounters counters_;
  PacketQueueCounters queue_counters_;
};

}  // namespace weir::link
