// A stack with UDP and a fake network layer, for UDP unit tests: the fake IpProtocol records
// what UDP writes and the fixture injects datagrams straight into UdpProtocol, as an IP layer
// would after its own validation.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <vector>

#include "stack/checksum.h"
#include "stack/clock.h"
#include "stack/link_endpoint.h"
#include "stack/stack.h"
#include "udp/endpoint.h"
#include "udp/udp.h"
#include "udp/wire.h"

namespace weir::udp::testing {

// A link that accepts and discards everything; only its MTU and address matter here.
class NullLink final : public LinkEndpoint {
 public:
  uint32_t mtu() const override { return 1500; }
  LinkCapabilities capabilities() const override { return {}; }
  uint16_t max_header_length() const override { return 14; }
  MacAddress link_address() const override { return MacAddress({2, 0, 0, 0, 0, 1}); }
  void attach(NetworkDispatcher* dispatcher) override { dispatcher_ = dispatcher; }
  bool attached() const override { return dispatcher_ != nullptr; }
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override { return packets.size(); }

 private:
  NetworkDispatcher* dispatcher_ = nullptr;
};

struct WrittenPacket {
  RouteInfo route;
  IpWriteParams params;
  std::vector<std::byte> bytes;  // from the UDP header on
};

class FakeIp final : public IpProtocol {
 public:
  explicit FakeIp(AddressFamily family) : family_(family) {}
  uint16_t ethertype() const override {
    return family_ == AddressFamily::kIpv4 ? kEtherTypeIpv4 : kEtherTypeIpv6;
  }
  void handle_packet(Nic&, PacketBuffer&&) override {}
  AddressFamily family() const override { return family_; }
  size_t header_length() const override { return family_ == AddressFamily::kIpv4 ? 20 : 40; }
  Status write_packet(const RouteInfo& route, const IpWriteParams& params,
                      PacketBuffer&& pkt) override {
    if (fail_with) return *fail_with;
    written.push_back({route, params, pkt.to_vector()});
    return {};
  }

  std::vector<WrittenPacket> written;
  std::optional<Error> fail_with;

 private:
  AddressFamily family_;
};

inline IpAddress ip(std::string_view text) { return IpAddress::parse(text).value(); }
inline SocketAddress sa(std::string_view text, uint16_t port) { return {ip(text), port}; }

// How to fill the checksum field of a built datagram.
enum class Checksum { kCompute, kZero, kCorrupt };

// A UDP datagram (header + payload) from src to dst. length_field overrides the header's
// length; padding appends bytes after the datagram that the length field does not cover.
inline PacketBuffer build_datagram(const SocketAddress& src, const SocketAddress& dst,
                                   ByteView payload, Checksum checksum = Checksum::kCompute,
                                   std::optional<uint16_t> length_field = std::nullopt,
                                   size_t padding = 0) {
  const auto length = static_cast<uint16_t>(kHeaderLength + payload.size());
  PacketBuffer pkt = PacketBuffer::from_bytes(payload);
  write_header(pkt.push_front(kHeaderLength), src.port, dst.port, length, 0);
  uint16_t sum = 0;
  if (checksum != Checksum::kZero) sum = compute_checksum(pkt, src.address, dst.address);
  if (checksum == Checksum::kCorrupt) sum = static_cast<uint16_t>(sum ^ 0x0101);
  auto header = pkt.mutable_front(kHeaderLength).value();
  store_be16(header, 6, sum);
  if (length_field) store_be16(header, 4, *length_field);
  if (padding > 0) {
    std::vector<std::byte> pad(padding, std::byte{0xee});
    pkt.append(pad);
  }
  return pkt;
}

class UdpTest : public ::testing::Test {
 protected:
  UdpTest()
      : stack_(clock_, repeatable_stack_options(42)),
        ip4_(stack_.add_network_protocol(std::make_unique<FakeIp>(AddressFamily::kIpv4))),
        ip6_(stack_.add_network_protocol(std::make_unique<FakeIp>(AddressFamily::kIpv6))),
        udp_(install(stack_)) {
    nic_ = stack_.add_nic(std::make_unique<NullLink>(), "eth0").value();
    EXPECT_TRUE(stack_.add_address(nic_, IpPrefix::parse("10.0.0.1/24").value()));
    EXPECT_TRUE(stack_.add_address(nic_, IpPrefix::parse("10.0.0.3/24").value()));
    EXPECT_TRUE(stack_.add_address(nic_, IpPrefix::parse("fd00::1/64").value()));
  }

  std::unique_ptr<Endpoint> open(AddressFamily family = AddressFamily::kIpv4) {
    return Endpoint::create(stack_, family).value();
  }

  // Hands a datagram to UDP as the network layer would.
  TransportDelivery inject(PacketBuffer& pkt, const IpAddress& src, const IpAddress& dst,
                           bool broadcast = false) {
    NetworkPacketInfo info;
    info.nic = nic_;
    info.source = src;
    info.destination = dst;
    info.ttl = 64;
    info.to_broadcast_or_multicast = broadcast;
    return udp_.handle_packet(info, pkt);
  }
  TransportDelivery inject(const SocketAddress& src, const SocketAddress& dst, ByteView payload,
                           bool broadcast = false) {
    PacketBuffer pkt = build_datagram(src, dst, payload);
    return inject(pkt, src.address, dst.address, broadcast);
  }

  ManualClock clock_;
  Stack stack_;
  FakeIp& ip4_;
  FakeIp& ip6_;
  UdpProtocol& udp_;
  NicId nic_ = 0;
};

}  // namespace weir::udp::testing
