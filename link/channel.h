// ChannelEndpoint: an in-memory link. Two endpoints made together are joined like two NICs on
// one cable, so two stacks in one process talk to each other (ARP included); or one endpoint
// is joined to a FramePeer that a test holds, to inject frames and read what a stack sent.
//
// Theory of operation. A pair shares one ChannelWire that holds a bounded inbound queue per
// side. write_packets() frames each packet (Ethernet by default; raw IP on request) and moves
// it onto the other side's queue; the bytes are not copied (the queue holds the packet's
// reference-counted chunks). Nothing is delivered during write_packets(): the receiving side
// delivers its queue in process_receive(budget), so a stack never re-enters itself or its
// peer through a write. A full queue drops the frame and counts tx_drop_queue_full on the
// sender. Frames addressed to another unicast MAC are dropped by the receiver
// (rx_drop_other_host) unless promiscuous.
//
// Threads. By default both ends are driven from one thread and the queues take no lock. With
// ChannelOptions::thread_safe each queue is guarded by a mutex and has an eventfd, exposed as
// readable_fd(), so each stack's Loop can watch its end (Loop::watch(endpoint)).
//
// Lifetime. The wire is co-owned by the two ends (a shared_ptr, since either side may be
// destroyed first, possibly on another thread). Writing towards a destroyed peer counts
// tx_drop_no_peer.
//
// ---- Test harness (for the IPv4, UDP, TCP tests) -------------------------------------------
//
//   auto [endpoint, peer] = link::ChannelEndpoint::make_test_pair();   // Ethernet, MTU 1500
//   NicId nic = stack.add_nic(std::move(endpoint), "eth0").value();
//   // The stack's MAC is peer->endpoint_mac(); the test's is peer->mac().
//   peer->inject(link::build_ethernet_frame(peer->endpoint_mac(), peer->mac(),
//                                           kEtherTypeIpv4, ip_packet));
//   // or, the same: peer->inject_network(kEtherTypeIpv4, ip_packet);
//   // inject() delivers at once: the stack has handled the frame when inject() returns, and
//   // whatever it sent in response is waiting in the peer.
//   std::optional<std::vector<std::byte>> frame = peer->read();   // full Ethernet frame
//   EXPECT_FALSE(peer->read());                                    // nothing else was sent
//
// Frames the stack sends later (timers) show up in read() after ManualClock::advance() and
// stack.run_timers(). enqueue() queues without delivering, and deliver() then runs the
// endpoint's process_receive(), for tests of batching or queue limits. With
// Framing::kRawIp the channel carries bare IP packets (no ARP): inject and read IP packets.
//
// Two stacks: `auto [a, b] = ChannelEndpoint::make_pair();` keep references `auto& ra = *a;`
// before handing the endpoints to the stacks, then `ChannelEndpoint::pump(ra, rb)` moves
// frames both ways until both queues are empty (tests interleave it with run_timers()).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "link/link_counters.h"
#include "stack/address.h"
#include "stack/link_endpoint.h"
#include "stack/packet_buffer.h"
#include "stack/result.h"

namespace weir::link {

enum class Framing : uint8_t {
  kEthernet,  // 14-byte Ethernet II header; resolution_required
  kRawIp,     // bare IPv4/IPv6 packets, protocol from the version nibble (like a tun device)
};

struct ChannelOptions {
  uint32_t mtu = 1500;
  MacAddress mac_a = MacAddress({0x02, 0x00, 0x00, 0x00, 0x00, 0x01});
  MacAddress mac_b = MacAddress({0x02, 0x00, 0x00, 0x00, 0x00, 0x02});
  size_t queue_limit = 1024;  // frames queued towards each side; more are dropped
  Framing framing = Framing::kEthernet;
  bool thread_safe = false;  // the ends run on different threads: mutex + eventfd
  // Two stacks on one host, as over a tap or veth with offloads: the channel advertises
  // checksum offload and GSO; a frame sent with its checksum left to the link arrives marked
  // checksum_verified, and an unsegmented TCP frame arrives whole, with its gso_type and
  // gso_size (what GRO would have made of its segments). A FramePeer on such a channel may
  // inject frames carrying those receive facts, as the kernel does through a tap.
  bool offloads = false;
};

class ChannelWire;
class FramePeer;
class FrameQueue;

class ChannelEndpoint final : public LinkEndpoint {
 public:
  struct Pair {
    std::unique_ptr<ChannelEndpoint> a;  // MAC mac_a
    std::unique_ptr<ChannelEndpoint> b;  // MAC mac_b
  };
  struct TestPair {
    std::unique_ptr<ChannelEndpoint> endpoint;  // MAC mac_a: give it to the stack
    std::unique_ptr<FramePeer> peer;            // MAC mac_b: the test's side of the cable
  };

  static Pair make_pair(const ChannelOptions& options = {});
  static TestPair make_test_pair(const ChannelOptions& options = {});

  // Delivers queued frames on both ends, alternating, until both queues are empty or
  // max_frames were delivered. Returns how many were delivered. Single-threaded pairs only.
  static size_t pump(ChannelEndpoint& a, ChannelEndpoint& b, size_t max_frames = 1'000'000);

  // Made only by make_pair()/make_test_pair(), which hold the key.
  class Key {
    friend class ChannelEndpoint;
    Key() = default;
  };
  ChannelEndpoint(Key, std::shared_ptr<ChannelWire> wire, int side, MacAddress mac);
  ~ChannelEndpoint() override;
  ChannelEndpoint(const ChannelEndpoint&) = delete;
  ChannelEndpoint& operator=(const ChannelEndpoint&) = delete;

  uint32_t mtu() const override;
  LinkCapabilities capabilities() const override;
  uint16_t max_header_length() const override;
  MacAddress link_address() const override { return mac_; }
  void attach(NetworkDispatcher* dispatcher) override { dispatcher_ = dispatcher; }
  bool attached() const override { return dispatcher_ != nullptr; }
  // Moves the packets out of `packets` (they are left empty).
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override;
  size_t transmit_room() const override;
  int readable_fd() const override;
  size_t process_receive(size_t budget) override;

  // Frames waiting in this end's inbound queue.
  size_t pending() const;
  // Nothing waits inbound, said without a lock: true only for a single-threaded pair's queue
  // (a queue shared between threads always may have something).
  bool inbound_idle() const;
  void set_promiscuous(bool on) { promiscuous_ = on; }
  const LinkCounters& counters() const { return counters_; }

 private:
  friend class FramePeer;
  // process_receive(), inline in pump() (defined, and used, in channel.cc only).
  inline size_t receive_queued(size_t budget);
  // process_receive() once the queue has something (or may have: a locked queue never says).
  size_t deliver_queued(FrameQueue& queue, size_t budget);
  // deliver_queued() for a queue shared between threads: a batch at a time, under its lock.
  size_t deliver_batches(FrameQueue& queue, size_t budget);
  void deliver_frame(PacketBuffer&& frame);

  std::shared_ptr<ChannelWire> wire_;
  int side_;
  // wire_->inbound(side_), which lives as long as wire_: the idle check pump() makes on each
  // side many times per frame is one load through it.
  FrameQueue* inbound_;
  MacAddress mac_;
  NetworkDispatcher* dispatcher_ = nullptr;
  bool promiscuous_ = false;
  LinkCounters counters_;
  std::vector<PacketBuffer> rx_batch_;  // process_receive()'s, reused
};

// The test's end of a channel: see the header comment for the intended use.
class FramePeer {
 public:
  FramePeer(ChannelEndpoint::Key, std::shared_ptr<ChannelWire> wire, MacAddress mac,
            MacAddress endpoint_mac);
  ~FramePeer();
  FramePeer(const FramePeer&) = delete;
  FramePeer& operator=(const FramePeer&) = delete;

  // Puts a frame on the wire towards the endpoint and, if the endpoint is attached and the
  // channel single-threaded, delivers everything queued before returning. Error
  // kNoBufferSpace when the endpoint's queue is full, kNotConnected when it is gone.
  Status inject(ByteView frame);
  Status inject(PacketBuffer frame);
  // inject() of a network packet framed for the endpoint: Ethernet header from mac() to
  // endpoint_mac() with this EtherType (on a raw IP channel, the bare packet).
  Status inject_network(uint16_t ethertype, ByteView packet);
  // Like inject() but only queues; deliver() or the endpoint's process_receive() delivers.
  Status enqueue(ByteView frame);
  Status enqueue(PacketBuffer frame);
  // Runs the endpoint's process_receive(budget); returns how many frames it delivered.
  size_t deliver(size_t budget = SIZE_MAX);

  // The oldest frame the endpoint sent that the test has not read yet, link header included.
  std::optional<std::vector<std::byte>> read();
  std::optional<PacketBuffer> read_packet();
  std::vector<std::vector<std::byte>> read_all();
  // Frames the endpoint sent that are waiting to be read.
  size_t pending() const;
  void clear();

  MacAddress mac() const { return mac_; }                    // the test's MAC (mac_b)
  MacAddress endpoint_mac() const { return endpoint_mac_; }  // the stack's MAC (mac_a)

 private:
  Status push(PacketBuffer frame);

  std::shared_ptr<ChannelWire> wire_;
  MacAddress mac_;
  MacAddress endpoint_mac_;
};

}  // namespace weir::link
