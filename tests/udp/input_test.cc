// UdpProtocol input: header and length checks, checksum rules, demux, broadcast delivery and
// ICMP errors, through a fake network layer.
#include <gtest/gtest.h>

#include "tests/udp/fake_network.h"

namespace weir::udp {
namespace {

using testing::build_datagram;
using testing::Checksum;
using testing::ip;
using testing::sa;
using testing::UdpTest;

std::string read_string(Endpoint& ep, DatagramInfo* info_out = nullptr) {
  std::vector<std::byte> buf(70000);
  auto info = ep.receive_from(buf);
  if (!info) return "<" + std::string(error_name(info.error())) + ">";
  if (info_out) *info_out = *info;
  std::string out;
  for (size_t i = 0; i < info->size; ++i) out.push_back(static_cast<char>(buf[i]));
  return out;
}

class UdpInputTest : public UdpTest {};

TEST_F(UdpInputTest, DeliversValidDatagram) {
  auto ep = open();
  ASSERT_TRUE(ep->bind(sa("0.0.0.0", 7)));
  EXPECT_EQ(inject(sa("10.0.0.2", 4000), sa("10.0.0.1", 7), as_bytes("ping")),
            TransportDelivery::kDelivered);
  DatagramInfo info;
  EXPECT_EQ(read_string(*ep, &info), "ping");
  EXPECT_EQ(info.from, sa("10.0.0.2", 4000));
  EXPECT_EQ(info.destination, ip("10.0.0.1"));
  EXPECT_EQ(info.nic, nic_);
  EXPECT_EQ(udp_.counters().received, 1u);
  EXPECT_EQ(udp_.counters().delivered, 1u);
}

TEST_F(UdpInputTest, BadChecksumDropped) {
  auto ep = open();
  ASSERT_TRUE(ep->bind(sa("0.0.0.0", 7)));
  PacketBuffer pkt =
      build_datagram(sa("10.0.0.2", 4000), sa("10.0.0.1", 7), as_bytes("x"), Checksum::kCorrupt);
  EXPECT_EQ(inject(pkt, ip("10.0.0.2"), ip("10.0.0.1")), TransportDelivery::kMalformed);
  EXPECT_EQ(udp_.counters().drop_bad_checksum, 1u);
  EXPECT_EQ(ep->queued_datagrams(), 0u);
}

TEST_F(UdpInputTest, BadChecksumToClosedPortGetsNoUnreachable) {
  PacketBuffer pkt =
      build_datagram(sa("10.0.0.2", 4000), sa("10.0.0.1", 9), as_bytes("x"), Checksum::kCorrupt);
  EXPECT_EQ(inject(pkt, ip("10.0.0.2"), ip("10.0.0.1")), TransportDelivery::kMalformed);
  EXPECT_EQ(udp_.counters().drop_no_port, 0u);
}

TEST_F(UdpInputTest, OffloadVerifiedChecksumIsTrusted) {
  auto ep = open();
  ASSERT_TRUE(ep->bind(sa("0.0.0.0", 7)));
  PacketBuffer pkt =
      build_datagram(sa("10.0.0.2", 4000), sa("10.0.0.1", 7), as_bytes("x"), Checksum::kCorrupt);
  pkt.meta().checksum_verified = true;
  EXPECT_EQ(inject(pkt, ip("10.0.0.2"), ip("10.0.0.1")), TransportDelivery::kDelivered);
  EXPECT_EQ(ep->queued_datagrams(), 1u);
}

TEST_F(UdpInputTest, ZeroChecksumAcceptedOverIpv4) {
  auto ep = open();
  ASSERT_TRUE(ep->bind(sa("0.0.0.0", 7)));
  PacketBuffer pkt =
      build_datagram(sa("10.0.0.2", 4000), sa("10.0.0.1", 7), as_bytes("nosum"), Checksum::kZero);
  EXPECT_EQ(inject(pkt, ip("10.0.0.2"), ip("10.0.0.1")), TransportDelivery::kDelivered);
  EXPECT_EQ(read_string(*ep), "nosum");
  EXPECT_EQ(udp_.counters().zero_checksum_accepted, 1u);
}

TEST_F(UdpInputTest, ZeroChecksumRejectedOverIpv6) {
  auto ep = open(AddressFamily::kIpv6);
  ASSERT_TRUE(ep->bind(sa("::", 7)));
  PacketBuffer pkt =
      build_datagram(sa("fd00::2", 4000), sa("fd00::1", 7), as_bytes("nosum"), Checksum::kZero);
  EXPECT_EQ(inject(pkt, ip("fd00::2"), ip("fd00::1")), TransportDelivery::kMalformed);
  EXPECT_EQ(udp_.counters().drop_zero_checksum_ipv6, 1u);
  EXPECT_EQ(ep->queued_datagrams(), 0u);
  // With a checksum it is delivered.
  EXPECT_EQ(inject(sa("fd00::2", 4000), sa("fd00::1", 7), as_bytes("sum")),
            TransportDelivery::kDelivered);
  EXPECT_EQ(read_string(*ep), "sum");
}

TEST_F(UdpInputTest, ShortHeaderDropped) {
  PacketBuffer pkt = PacketBuffer::from_bytes(as_bytes("1234567"));
  EXPECT_EQ(inject(pkt, ip("10.0.0.2"), ip("10.0.0.1")), TransportDelivery::kMalformed);
  EXPECT_EQ(udp_.counters().drop_short_header, 1u);
  PacketBuffer empty;
  EXPECT_EQ(inject(empty, ip("10.0.0.2"), ip("10.0.0.1")), TransportDelivery::kMalformed);
  EXPECT_EQ(udp_.counters().drop_short_header, 2u);
}

TEST_F(UdpInputTest, LengthFieldBeyondPacketDropped) {
  auto ep = open();
  ASSERT_TRUE(ep->bind(sa("0.0.0.0", 7)));
  // The IP payload is 8 + 5 bytes but the header claims 14: the datagram was cut short.
  PacketBuffer pkt = build_datagram(sa("10.0.0.2", 4000), sa("10.0.0.1", 7), as_bytes("hello"),
                                    Checksum::kZero, 14);
  EXPECT_EQ(inject(pkt, ip("10.0.0.2"), ip("10.0.0.1")), TransportDelivery::kMalformed);
  EXPECT_EQ(udp_.counters().drop_bad_length, 1u);
  EXPECT_EQ(ep->queued_datagrams(), 0u);
}

TEST_F(UdpInputTest, LengthFieldBelowHeaderDropped) {
  auto ep = open();
  ASSERT_TRUE(ep->bind(sa("0.0.0.0", 7)));
  PacketBuffer pkt = build_datagram(sa("10.0.0.2", 4000), sa("10.0.0.1", 7), as_bytes("hello"),
                                    Checksum::kZero, 7);
  EXPECT_EQ(inject(pkt, ip("10.0.0.2"), ip("10.0.0.1")), TransportDelivery::kMalformed);
  EXPECT_EQ(udp_.counters().drop_bad_length, 1u);
}

TEST_F(UdpInputTest, PaddingBeyondLengthFieldTrimmed) {
  auto ep = open();
  ASSERT_TRUE(ep->bind(sa("0.0.0.0", 7)));
  // The checksum covers only the datagram; the 20 padding bytes are outside it.
  PacketBuffer pkt = build_datagram(sa("10.0.0.2", 4000), sa("10.0.0.1", 7), as_bytes("abc"),
                                    Checksum::kCompute, std::nullopt, 20);
  ASSERT_EQ(pkt.size(), 8u + 3 + 20);
  EXPECT_EQ(inject(pkt, ip("10.0.0.2"), ip("10.0.0.1")), TransportDelivery::kDelivered);
  DatagramInfo info;
  EXPECT_EQ(read_string(*ep, &info), "abc");
  EXPECT_EQ(info.full_size, 3u);
}

TEST_F(UdpInputTest, ClosedPortReturnsPacketUntouched) {
  PacketBuffer pkt = build_datagram(sa("10.0.0.2", 4000), sa("10.0.0.1", 9), as_bytes("abc"),
                                    Checksum::kCompute, std::nullopt, 4);
  auto before = pkt.to_vector();
  EXPECT_EQ(inject(pkt, ip("10.0.0.2"), ip("10.0.0.1")), TransportDelivery::kNoEndpoint);
  EXPECT_EQ(pkt.to_vector(), before);
  EXPECT_EQ(udp_.counters().drop_no_port, 1u);
}

TEST_F(UdpInputTest, SpecificAddressBeatsWildcard) {
  auto any = open();
  any->set_reuse_address(true);
  ASSERT_TRUE(any->bind(sa("0.0.0.0", 5353)));
  auto specific = open();
  specific->set_reuse_address(true);
  ASSERT_TRUE(specific->bind(sa("10.0.0.3", 5353)));
  inject(sa("10.0.0.2", 1), sa("10.0.0.3", 5353), as_bytes("to-3"));
  inject(sa("10.0.0.2", 1), sa("10.0.0.1", 5353), as_bytes("to-1"));
  EXPECT_EQ(read_string(*specific), "to-3");
  EXPECT_EQ(read_string(*any), "to-1");
  EXPECT_EQ(specific->queued_datagrams(), 0u);
  EXPECT_EQ(any->queued_datagrams(), 0u);
}

TEST_F(UdpInputTest, BroadcastDeliveredToEveryBoundSocket) {
  auto a = open();
  auto b = open();
  auto unicast_only = open();
  auto other_port = open();
  for (auto* ep : {a.get(), b.get(), unicast_only.get()}) ep->set_reuse_address(true);
  ASSERT_TRUE(a->bind(sa("0.0.0.0", 67)));
  ASSERT_TRUE(b->bind(sa("0.0.0.0", 67)));
  ASSERT_TRUE(unicast_only->bind(sa("10.0.0.1", 67)));  // Linux: no broadcasts here
  ASSERT_TRUE(other_port->bind(sa("0.0.0.0", 68)));
  EXPECT_EQ(inject(sa("10.0.0.2", 68), sa("255.255.255.255", 67), as_bytes("discover"), true),
            TransportDelivery::kDelivered);
  DatagramInfo info;
  EXPECT_EQ(read_string(*a, &info), "discover");
  EXPECT_EQ(info.destination, ip("255.255.255.255"));
  EXPECT_EQ(read_string(*b), "discover");
  EXPECT_EQ(unicast_only->queued_datagrams(), 0u);
  EXPECT_EQ(other_port->queued_datagrams(), 0u);
  EXPECT_EQ(udp_.counters().delivered, 2u);

  // A socket bound to the subnet broadcast address gets subnet broadcasts.
  auto directed = open();
  directed->set_reuse_address(true);
  ASSERT_TRUE(directed->bind(sa("10.0.0.255", 67)));
  inject(sa("10.0.0.2", 68), sa("10.0.0.255", 67), as_bytes("subnet"), true);
  EXPECT_EQ(read_string(*directed), "subnet");
  EXPECT_EQ(read_string(*a), "subnet");
  EXPECT_EQ(read_string(*b), "subnet");
}

TEST_F(UdpInputTest, BroadcastToNobodyIsNotAnError) {
  EXPECT_EQ(inject(sa("10.0.0.2", 68), sa("255.255.255.255", 67), as_bytes("x"), true),
            TransportDelivery::kDelivered);
  EXPECT_EQ(udp_.counters().drop_no_port_broadcast, 1u);
  EXPECT_EQ(udp_.counters().drop_no_port, 0u);
}

TEST_F(UdpInputTest, BroadcastSurvivesCallbackClosingAnotherSocket) {
  auto a = open();
  auto b = open();
  a->set_reuse_address(true);
  b->set_reuse_address(true);
  ASSERT_TRUE(a->bind(sa("0.0.0.0", 67)));
  ASSERT_TRUE(b->bind(sa("0.0.0.0", 67)));
  // Whichever is delivered first destroys the other.
  Waiter wa(kEventReadable, [&](EventMask) { b.reset(); });
  Waiter wb(kEventReadable, [&](EventMask) { a.reset(); });
  a->waiters().add(wa);
  b->waiters().add(wb);
  inject(sa("10.0.0.2", 68), sa("255.255.255.255", 67), as_bytes("x"), true);
  EXPECT_EQ(udp_.counters().delivered, 1u);
  EXPECT_TRUE((a == nullptr) != (b == nullptr));
}

TEST_F(UdpInputTest, ReusePortGroupSpreadsByPeer) {
  std::vector<std::unique_ptr<Endpoint>> group;
  for (int i = 0; i < 4; ++i) {
    group.push_back(open());
    group.back()->set_reuse_port(true);
    ASSERT_TRUE(group.back()->bind(sa("0.0.0.0", 8000)));
  }
  for (uint16_t port = 1000; port < 1064; ++port) {
    // Twice from each peer: both copies must land on the same socket.
    inject(sa("10.0.0.2", port), sa("10.0.0.1", 8000), as_bytes("a"));
    inject(sa("10.0.0.2", port), sa("10.0.0.1", 8000), as_bytes("b"));
  }
  size_t total = 0;
  size_t used = 0;
  for (auto& ep : group) {
    total += ep->queued_datagrams();
    if (ep->queued_datagrams() > 0) ++used;
    while (auto first = ep->receive_packet()) {
      auto second = ep->receive_packet();
      ASSERT_TRUE(second);
      EXPECT_EQ(first->from, second->from);
    }
  }
  EXPECT_EQ(total, 128u);
  EXPECT_GT(used, 1u);
}

TEST_F(UdpInputTest, ConnectedSocketOnlyFromPeerAndBeforeBound) {
  auto bound = open();
  bound->set_reuse_address(true);
  ASSERT_TRUE(bound->bind(sa("0.0.0.0", 9000)));
  auto connected = open();
  connected->set_reuse_address(true);
  ASSERT_TRUE(connected->bind(sa("0.0.0.0", 9000)));
  ASSERT_TRUE(connected->connect(sa("10.0.0.2", 53)));
  inject(sa("10.0.0.2", 53), sa("10.0.0.1", 9000), as_bytes("from-peer"));
  inject(sa("10.0.0.2", 54), sa("10.0.0.1", 9000), as_bytes("other-port"));
  inject(sa("10.0.0.9", 53), sa("10.0.0.1", 9000), as_bytes("other-host"));
  EXPECT_EQ(read_string(*connected), "from-peer");
  EXPECT_EQ(connected->queued_datagrams(), 0u);
  EXPECT_EQ(read_string(*bound), "other-port");
  EXPECT_EQ(read_string(*bound), "other-host");
}

TransportControl control_for(ControlType type, const SocketAddress& local,
                             const SocketAddress& remote, std::vector<std::byte>& storage) {
  storage.assign(8, std::byte{0});
  write_header(storage, local.port, remote.port, 20, 0x1234);
  TransportControl c;
  c.type = type;
  c.local_address = local.address;
  c.remote_address = remote.address;
  c.transport_header = storage;
  return c;
}

TEST_F(UdpInputTest, PortUnreachableReachesConnectedSocket) {
  auto ep = open();
  ASSERT_TRUE(ep->connect(sa("10.0.0.2", 53)));
  ASSERT_TRUE(ep->send(as_bytes("query")));
  int woken = 0;
  Waiter w(kEventError, [&](EventMask events) {
    EXPECT_NE(events & kEventError, 0u);
    ++woken;
  });
  ep->waiters().add(w);
  std::vector<std::byte> storage;
  udp_.handle_control(
      control_for(ControlType::kPortUnreachable, ep->local_address(), sa("10.0.0.2", 53), storage));
  EXPECT_EQ(udp_.counters().control_delivered, 1u);
  EXPECT_EQ(woken, 1);
  EXPECT_EQ(ep->readiness() & kEventError, kEventError);
  // Reported once, on the next operation.
  std::vector<std::byte> buf(16);
  EXPECT_EQ(ep->receive_from(buf).error(), Error::kConnectionRefused);
  EXPECT_EQ(ep->readiness() & kEventError, 0u);
  EXPECT_EQ(ep->receive_from(buf).error(), Error::kWouldBlock);

  udp_.handle_control(
      control_for(ControlType::kPortUnreachable, ep->local_address(), sa("10.0.0.2", 53), storage));
  EXPECT_EQ(ep->send(as_bytes("again")).error(), Error::kConnectionRefused);
  EXPECT_TRUE(ep->send(as_bytes("again")));

  udp_.handle_control(
      control_for(ControlType::kPortUnreachable, ep->local_address(), sa("10.0.0.2", 53), storage));
  EXPECT_EQ(ep->take_error(), Error::kConnectionRefused);
  EXPECT_EQ(ep->take_error(), std::nullopt);
}

TEST_F(UdpInputTest, IcmpErrorsIgnoredForUnconnectedAndOtherPeers) {
  auto unconnected = open();
  ASSERT_TRUE(unconnected->bind(sa("0.0.0.0", 5000)));
  std::vector<std::byte> storage;
  udp_.handle_control(control_for(ControlType::kPortUnreachable, sa("10.0.0.1", 5000),
                                  sa("10.0.0.2", 53), storage));
  EXPECT_EQ(unconnected->readiness() & kEventError, 0u);
  EXPECT_EQ(udp_.counters().control_no_endpoint, 1u);

  auto connected = open();
  ASSERT_TRUE(connected->connect(sa("10.0.0.2", 53)));
  udp_.handle_control(control_for(ControlType::kPortUnreachable, connected->local_address(),
                                  sa("10.0.0.2", 54), storage));
  EXPECT_EQ(connected->readiness() & kEventError, 0u);
  // Soft errors are not reported (Linux without IP_RECVERR).
  udp_.handle_control(control_for(ControlType::kTimeExceeded, connected->local_address(),
                                  sa("10.0.0.2", 53), storage));
  EXPECT_EQ(connected->readiness() & kEventError, 0u);
  EXPECT_EQ(udp_.counters().control_ignored, 1u);
  // A quote too short to hold our header.
  TransportControl c = control_for(ControlType::kPortUnreachable, connected->local_address(),
                                   sa("10.0.0.2", 53), storage);
  c.transport_header = c.transport_header.first(4);
  udp_.handle_control(c);
  EXPECT_EQ(udp_.counters().control_malformed, 1u);
  EXPECT_EQ(connected->readiness() & kEventError, 0u);
}

TEST_F(UdpInputTest, OtherErrorMappings) {
  auto ep = open();
  ASSERT_TRUE(ep->connect(sa("10.0.0.2", 53)));
  std::vector<std::byte> storage;
  udp_.handle_control(control_for(ControlType::kProtocolUnreachable, ep->local_address(),
                                  sa("10.0.0.2", 53), storage));
  EXPECT_EQ(ep->take_error(), Error::kNoProtocolOption);
  udp_.handle_control(control_for(ControlType::kAdministrativelyProhibited, ep->local_address(),
                                  sa("10.0.0.2", 53), storage));
  EXPECT_EQ(ep->take_error(), Error::kHostUnreachable);
  // Host unreachable is soft over IPv4 (Linux) but hard over IPv6.
  udp_.handle_control(
      control_for(ControlType::kHostUnreachable, ep->local_address(), sa("10.0.0.2", 53), storage));
  EXPECT_EQ(ep->take_error(), std::nullopt);
  auto ep6 = open(AddressFamily::kIpv6);
  ASSERT_TRUE(ep6->connect(sa("fd00::2", 53)));
  udp_.handle_control(
      control_for(ControlType::kHostUnreachable, ep6->local_address(), sa("fd00::2", 53), storage));
  EXPECT_EQ(ep6->take_error(), Error::kHostUnreachable);
}

}  // namespace
}  // namespace weir::udp
