// The interfaces through which protocols register with the stack. stack/ never includes a
// protocol's header: IPv4/ARP/IPv6 implement NetworkProtocol, TCP/UDP implement
// TransportProtocol, and they find each other through the Stack.
#pragma once

#include <cstdint>
#include <optional>

#include "stack/address.h"
#include "stack/packet_buffer.h"
#include "stack/result.h"

namespace weir {

class Nic;

inline constexpr uint8_t kProtocolIcmp = 1;
inline constexpr uint8_t kProtocolTcp = 6;
inline constexpr uint8_t kProtocolUdp = 17;
inline constexpr uint8_t kProtocolIcmpv6 = 58;

// Where a transport's packet goes: the result of a route lookup with a source address chosen.
struct RouteInfo {
  NicId nic = 0;
  IpAddress local_address;
  IpAddress remote_address;
  IpAddress next_hop;  // remote_address itself when on-link
  uint32_t mtu = 0;    // the NIC's MTU, or the path MTU toward remote when one was learned
  bool broadcast = false;  // remote is a (limited or subnet) broadcast address
};

// What a network layer tells a transport about a packet it delivers.
struct NetworkPacketInfo {
  NicId nic = 0;
  IpAddress source;
  IpAddress destination;
  uint8_t ttl = 0;  // hop limit for IPv6
  uint8_t tos = 0;  // traffic class for IPv6
  bool to_broadcast_or_multicast = false;
  // The destination is not one of the stack's addresses: the packet came in on a NIC that
  // accepts any destination (Nic::set_accept_any_destination). Transports hand such packets
  // only to connections of that exact 4-tuple or to a forwarder, never to a wildcard socket.
  bool foreign_destination = false;
};

struct IpWriteParams {
  uint8_t protocol = 0;
  uint8_t ttl = 0;  // 0: the network layer's default (64)
  uint8_t tos = 0;
  bool dont_fragment = false;  // IPv4 DF; IPv6 never fragments on the path
};

// One per EtherType the stack accepts.
class NetworkProtocol {
 public:
  virtual ~NetworkProtocol() = default;
  virtual uint16_t ethertype() const = 0;
  // pkt starts at the network header.
  virtual void handle_packet(Nic& nic, PacketBuffer&& pkt) = 0;
  // Software segmentation (stack/gso.h): rewrites the network header copied into one segment
  // cut from a larger packet, for a segment of packet_length bytes in all that is the index-th
  // (from 0) of its packet: length fields, and what must differ per packet (IPv4's
  // identification). False if this protocol's packets cannot be segmented.
  virtual bool update_segment_header(MutableByteView header, size_t packet_length,
                                     uint32_t index) const {
    (void)header;
    (void)packet_length;
    (void)index;
    return false;
  }
};

// A network protocol that carries transport traffic for an address family.
class IpProtocol : public NetworkProtocol {
 public:
  virtual AddressFamily family() const = 0;
  // Bytes a transport should leave in front of its header for this layer (without the link's).
  virtual size_t header_length() const = 0;
  // Sends pkt (starting at the transport header) along route: pushes the network header,
  // fragments when needed and allowed, resolves the next hop and hands it to the NIC.
  virtual Status write_packet(const RouteInfo& route, const IpWriteParams& params,
                              PacketBuffer&& pkt) = 0;
  // The largest packet worth sending toward remote through nic: the NIC's MTU unless the
  // layer knows better (IPv6: a link MTU from router advertisements, a path MTU learned from
  // Packet Too Big). find_route reports it.
  virtual uint32_t path_mtu(const Nic& nic, const IpAddress& remote) const;
  // The source address for a packet toward remote leaving through nic to next_hop, when the
  // caller fixed none: by default the NIC's first address of the family, preferring one whose
  // prefix holds next_hop. IPv6 may apply RFC 6724. find_route asks it.
  virtual std::optional<IpAddress> select_source(const Nic& nic, const IpAddress& remote,
                                                 const IpAddress& next_hop) const;
  // An address was added to a NIC (gratuitous ARP, duplicate address detection, ...).
  virtual void address_added(Nic& nic, const IpPrefix& prefix) {
    (void)nic;
    (void)prefix;
  }
};

// ICMP errors as a transport sees them, whichever ICMP version carried them.
enum class ControlType : uint8_t {
  kPortUnreachable,
  kProtocolUnreachable,
  kHostUnreachable,
  kNetworkUnreachable,
  kAdministrativelyProhibited,
  kFragmentationNeeded,  // IPv4 frag-needed or ICMPv6 packet too big; mtu is set
  kTimeExceeded,
  kParameterProblem,
  kSourceRouteFailed,
};

struct TransportControl {
  ControlType type = ControlType::kHostUnreachable;
  uint32_t mtu = 0;
  // The offending packet as we sent it: our address, the peer's, and the first bytes of our
  // transport header (at least 8).
  IpAddress local_address;
  IpAddress remote_address;
  ByteView transport_header;
};

enum class TransportDelivery : uint8_t {
  kDelivered,   // taken (or dropped and counted by the transport)
  kNoEndpoint,  // no one listens: the network layer answers with an unreachable
  kMalformed,   // failed validation; already counted by the transport
};

class TransportProtocol {
 public:
  virtual ~TransportProtocol() = default;
  virtual uint8_t number() const = 0;
  // pkt starts at the transport header. On kNoEndpoint pkt must be left unmodified so the
  // network layer can quote it in an ICMP error.
  virtual TransportDelivery handle_packet(const NetworkPacketInfo& info, PacketBuffer& pkt) = 0;
  virtual void handle_control(const TransportControl& control) = 0;

  // Software segmentation (stack/gso.h) of packets built with a GSO type naming this transport.
  // The length of the transport header at the front of `transport` (the packet's transport
  // part, or its first bytes), or 0 when it is malformed or this transport does not segment.
  virtual size_t segment_header_length(ByteView transport) const {
    (void)transport;
    return 0;
  }
  // Rewrites the transport header copied into the segment whose payload starts payload_offset
  // bytes into the original's payload; first and last say whether it is the first or the last
  // segment. The checksum field is the segmenter's.
  virtual void update_segment_header(MutableByteView header, uint32_t payload_offset, bool first,
                                     bool last) const {
    (void)header;
    (void)payload_offset;
    (void)first;
    (void)last;
  }
};

}  // namespace weir
