// fuzz_udp: the UDP header view, the length rules and the checksum, then UdpProtocol's input
// path (demux, broadcast fan-out, receive queues, ICMP errors) over a fake network layer.
//
// Input layout:
//   byte 0        flags: bit 0 IPv6, bit 1 broadcast/multicast delivery, bit 2 offload says the
//                 checksum was verified, bit 3 deliver as an ICMP error instead of a datagram,
//                 bits 4-7 the ICMP error type (ControlType, modulo its size)
//   byte 1        where to split the datagram into two slices (non-contiguous parsing)
//   4 or 16 bytes source address, then as many for the destination
//   the rest      the UDP datagram as the network layer hands it over (header first)
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "stack/bytes.h"
#include "stack/clock.h"
#include "stack/link_endpoint.h"
#include "stack/packet_buffer.h"
#include "stack/protocol.h"
#include "stack/stack.h"
#include "udp/endpoint.h"
#include "udp/udp.h"
#include "udp/wire.h"

namespace weir::udp {
namespace {

class NullLink final : public LinkEndpoint {
 public:
  uint32_t mtu() const override { return 1500; }
  LinkCapabilities capabilities() const override { return {}; }
  uint16_t max_header_length() const override { return 14; }
  MacAddress link_address() const override { return MacAddress({2, 0, 0, 0, 0, 1}); }
  void attach(NetworkDispatcher* d) override { attached_ = d != nullptr; }
  bool attached() const override { return attached_; }
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override { return packets.size(); }

 private:
  bool attached_ = false;
};

// Accepts what UDP writes and checks it: a well-formed header whose checksum verifies.
class CheckingIp final : public IpProtocol {
 public:
  explicit CheckingIp(AddressFamily family) : family_(family) {}
  uint16_t ethertype() const override {
    return family_ == AddressFamily::kIpv4 ? kEtherTypeIpv4 : kEtherTypeIpv6;
  }
  void handle_packet(Nic&, PacketBuffer&&) override {}
  AddressFamily family() const override { return family_; }
  size_t header_length() const override { return family_ == AddressFamily::kIpv4 ? 20 : 40; }
  Status write_packet(const RouteInfo& route, const IpWriteParams&, PacketBuffer&& pkt) override {
    auto front = pkt.front(kHeaderLength);
    if (!front) __builtin_trap();
    auto header = Header::parse(*front);
    if (!header || header->length() != pkt.size() || header->checksum() == 0) __builtin_trap();
    if (!checksum_valid(pkt, route.local_address, route.remote_address)) __builtin_trap();
    return {};
  }

 private:
  AddressFamily family_;
};

struct World {
  World() : stack(clock, repeatable_stack_options(7)) {
    stack.add_network_protocol(std::make_unique<CheckingIp>(AddressFamily::kIpv4));
    stack.add_network_protocol(std::make_unique<CheckingIp>(AddressFamily::kIpv6));
    udp = &install(stack);
    NicId nic = stack.add_nic(std::make_unique<NullLink>(), "eth0").value();
    (void)stack.add_address(nic, IpPrefix::parse("10.0.0.1/24").value());
    (void)stack.add_address(nic, IpPrefix::parse("fd00::1/64").value());
    // Endpoints on well-known ports, for both families: wildcard, specific, connected.
    for (auto family : {AddressFamily::kIpv4, AddressFamily::kIpv6}) {
      const bool v4 = family == AddressFamily::kIpv4;
      auto any = udp->open(family);
      any->set_reuse_address(true);
      (void)any->bind({IpAddress::any(family), 7});
      auto any2 = udp->open(family);
      any2->set_reuse_address(true);
      (void)any2->bind({IpAddress::any(family), 7});
      auto specific = udp->open(family);
      (void)specific->bind({IpAddress::parse(v4 ? "10.0.0.1" : "fd00::1").value(), 53});
      auto connected = udp->open(family);
      (void)connected->bind({IpAddress::any(family), 5353});
      (void)connected->connect({IpAddress::parse(v4 ? "10.0.0.2" : "fd00::2").value(), 53});
      endpoints.push_back(std::move(any));
      endpoints.push_back(std::move(any2));
      endpoints.push_back(std::move(specific));
      endpoints.push_back(std::move(connected));
    }
  }

  // Reads every queued datagram (echoing the first of each socket through the send path), so
  // queues never fill across runs.
  void drain() {
    std::vector<std::byte> buf(2048);
    for (auto& ep : endpoints) {
      (void)ep->take_error();
      if (auto d = ep->receive_packet()) (void)ep->send_packet(std::move(d->payload), d->from);
      for (;;) {
        auto info = ep->receive_from(buf);
        if (!info) break;
        if (info->size > buf.size() || info->full_size < info->size) __builtin_trap();
      }
      if ((ep->readiness() & kEventReadable) != 0) __builtin_trap();
    }
  }

  ManualClock clock;
  Stack stack;
  UdpProtocol* udp = nullptr;
  std::vector<std::unique_ptr<Endpoint>> endpoints;
};

}  // namespace
}  // namespace weir::udp

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weir;
  using namespace weir::udp;
  static World world;  // one world for the process: only its queues change

  ByteReader in(std::as_bytes(std::span<const uint8_t>(data, size)));
  const uint8_t flags = in.u8();
  const uint8_t cut = in.u8();
  const bool v6 = (flags & 1) != 0;
  ByteView src_bytes = in.bytes(v6 ? 16 : 4);
  ByteView dst_bytes = in.bytes(v6 ? 16 : 4);
  if (!in.ok()) return 0;
  const IpAddress src = v6 ? IpAddress(Ipv6Address::from_bytes(src_bytes))
                           : IpAddress(Ipv4Address::from_bytes(src_bytes));
  const IpAddress dst = v6 ? IpAddress(Ipv6Address::from_bytes(dst_bytes))
                           : IpAddress(Ipv4Address::from_bytes(dst_bytes));
  const ByteView datagram = in.rest();

  // The view and the length rule on their own.
  if (auto header = Header::parse(datagram)) {
    if (header->bytes().size() != kHeaderLength) __builtin_trap();
    if (auto length = datagram_length(*header, datagram.size())) {
      if (*length < kHeaderLength || *length > datagram.size()) __builtin_trap();
      // Recomputing the checksum over the datagram must make it verify.
      std::vector<std::byte> copy(datagram.begin(), datagram.begin() + *length);
      store_be16(copy, 6, 0);
      PacketBuffer pkt = PacketBuffer::from_bytes(copy);
      const uint16_t sum = compute_checksum(pkt, src, dst);
      if (sum == 0) __builtin_trap();
      store_be16(copy, 6, sum);
      if (!checksum_valid(PacketBuffer::from_bytes(copy), src, dst)) __builtin_trap();
    }
  } else if (datagram.size() >= kHeaderLength) {
    __builtin_trap();
  }

  const size_t split = datagram.empty() ? 0 : cut % (datagram.size() + 1);
  PacketBuffer pkt = PacketBuffer::from_bytes(datagram.first(split));
  pkt.append(datagram.subspan(split));
  pkt.meta().checksum_verified = (flags & 4) != 0;

  if ((flags & 8) != 0) {
    TransportControl control;
    control.type = static_cast<ControlType>((flags >> 4) % 9);
    control.local_address = dst;
    control.remote_address = src;
    control.transport_header = datagram;
    world.udp->handle_control(control);
  } else {
    NetworkPacketInfo info;
    info.nic = 1;
    info.source = src;
    info.destination = dst;
    info.to_broadcast_or_multicast = (flags & 2) != 0;
    const auto before = pkt.to_vector();
    const TransportDelivery result = world.udp->handle_packet(info, pkt);
    // A packet handed back for an ICMP error must be untouched.
    if (result == TransportDelivery::kNoEndpoint && pkt.to_vector() != before) __builtin_trap();
  }
  world.drain();
  return 0;
}
