// The link layer's interfaces: what every link endpoint (channel, loopback, tap, packet socket,
// dpdk, pcap, sniffer, fault) implements and what it hands received packets to.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "stack/address.h"
#include "stack/packet_buffer.h"
#include "stack/result.h"

namespace weir {

// EtherTypes of the network protocols the stack knows by number.
inline constexpr uint16_t kEtherTypeIpv4 = 0x0800;
inline constexpr uint16_t kEtherTypeArp = 0x0806;
inline constexpr uint16_t kEtherTypeIpv6 = 0x86dd;

struct LinkCapabilities {
  bool resolution_required = true;   // needs neighbor resolution (ARP/NDP): Ethernet-like links
  bool loopback = false;             // packets sent come back to this stack
  bool tx_checksum_offload = false;  // honours PacketMeta::needs_checksum
  bool rx_checksum_offload = false;  // may set PacketMeta::checksum_verified
  bool gso = false;                  // accepts packets larger than mtu() with gso_type set
};

// Receives packets from a link endpoint, link header already consumed and
// pkt.meta().network_protocol / link_source / link_type filled in.
class NetworkDispatcher {
 public:
  virtual ~NetworkDispatcher() = default;
  virtual void deliver_network_packet(PacketBuffer&& pkt) = 0;
};

class LinkEndpoint {
 public:
  virtual ~LinkEndpoint() = default;

  // The largest network-layer packet (link header excluded) the link carries.
  //
  // A NIC reads mtu() and capabilities() once, when it is made, and consults its copies for
  // every packet: an endpoint whose values change while attached must have its NIC read them
  // again (Nic::refresh_link()) after each change.
  virtual uint32_t mtu() const = 0;
  virtual LinkCapabilities capabilities() const = 0;
  // Bytes of link header this endpoint pushes in front of each packet (14 for Ethernet).
  virtual uint16_t max_header_length() const = 0;
  virtual MacAddress link_address() const = 0;

  // Starts delivering received packets to dispatcher; nullptr detaches. The dispatcher must
  // outlive the attachment.
  virtual void attach(NetworkDispatcher* dispatcher) = 0;
  virtual bool attached() const = 0;

  // Sends a batch. Each packet holds a network-layer packet with meta().network_protocol and,
  // on Ethernet links, meta().link_destination set; the endpoint pushes its link header.
  // Returns how many were accepted (the rest were not sent; they are counted as drops by the
  // caller) or an error if none could be.
  virtual Result<size_t> write_packets(std::span<PacketBuffer> packets) = 0;

  // How many more frames a write would queue now, or kUnboundedTransmitRoom for an endpoint
  // that does not say (a write that goes straight to the kernel). TCP holds new segments back
  // at a full queue instead of losing them into it: the backpressure a Linux qdisc gives its
  // sockets (NET_XMIT_DROP, TCP small queues). Advisory: a write may still find less room.
  static constexpr size_t kUnboundedTransmitRoom = SIZE_MAX;
  virtual size_t transmit_room() const { return kUnboundedTransmitRoom; }

  // For endpoints driven by a file descriptor: the fd the loop waits on for readability, or -1.
  virtual int readable_fd() const { return -1; }
  // For endpoints with nothing to wait on (a DPDK port without receive interrupts): true asks
  // a Loop that watches the endpoint to call process_receive() on every iteration, and to
  // sleep no longer than its poll interval while the endpoint is idle. Endpoints with a
  // readable_fd(), and in-memory ones their owner drives, leave it false.
  virtual bool needs_polling() const { return false; }
  // Reads and delivers up to `budget` received packets; returns how many. Called by the loop
  // when readable_fd() is readable, or by the owner of an in-memory endpoint.
  virtual size_t process_receive(size_t budget) {
    (void)budget;
    return 0;
  }
};

}  // namespace weir
