#include "stack/demux.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>
#include <vector>

namespace weir {
namespace {

class FakeEndpoint : public TransportEndpoint {
 public:
  FakeEndpoint() : TransportEndpoint(kProtocolUdp) {}
  void handle_packet(const NetworkPacketInfo&, PacketBuffer) override { ++received; }
  int received = 0;
};

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

TransportEndpointId bound(const char* local, uint16_t port) {
  return {ip(local), IpAddress(), port, 0};
}
TransportEndpointId conn(const char* local, uint16_t lport, const char* remote, uint16_t rport) {
  return {ip(local), ip(remote), lport, rport};
}

TEST(TransportDemux, ExactMatchBeatsSpecificBeatsWildcard) {
  TransportDemux demux(42);
  FakeEndpoint wildcard, specific, connected;
  ASSERT_TRUE(demux.add(wildcard, bound("0.0.0.0", 7)));
  ASSERT_TRUE(demux.add(specific, bound("10.0.0.1", 7)));
  ASSERT_TRUE(demux.add(connected, conn("10.0.0.1", 7, "10.0.0.2", 5000)));

  EXPECT_EQ(demux.find(kProtocolUdp, conn("10.0.0.1", 7, "10.0.0.2", 5000)), &connected);
  EXPECT_EQ(demux.find(kProtocolUdp, conn("10.0.0.1", 7, "10.0.0.3", 5000)), &specific);
  EXPECT_EQ(demux.find(kProtocolUdp, conn("10.0.0.9", 7, "10.0.0.3", 5000)), &wildcard);
  EXPECT_EQ(demux.find(kProtocolUdp, conn("10.0.0.1", 8, "10.0.0.3", 5000)), nullptr);
  EXPECT_EQ(demux.find(kProtocolTcp, conn("10.0.0.1", 7, "10.0.0.2", 5000)), nullptr);
}

TEST(TransportDemux, FamiliesDoNotMix) {
  TransportDemux demux(1);
  FakeEndpoint v6;
  ASSERT_TRUE(demux.add(v6, bound("::", 53)));
  EXPECT_EQ(demux.find(kProtocolUdp, conn("10.0.0.1", 53, "10.0.0.2", 1)), nullptr);
  EXPECT_EQ(demux.find(kProtocolUdp, conn("fd00::1", 53, "fd00::2", 1)), &v6);
}

TEST(TransportDemux, DuplicateFiveTupleRefused) {
  TransportDemux demux(1);
  FakeEndpoint a, b;
  ASSERT_TRUE(demux.add(a, conn("10.0.0.1", 80, "10.0.0.2", 4000)));
  auto st = demux.add(b, conn("10.0.0.1", 80, "10.0.0.2", 4000));
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error(), Error::kAddressInUse);
  EXPECT_TRUE(demux.connected_exists(kProtocolUdp, conn("10.0.0.1", 80, "10.0.0.2", 4000)));
}

TEST(TransportDemux, RemoveAndDestroyUnlink) {
  TransportDemux demux(1);
  FakeEndpoint a;
  ASSERT_TRUE(demux.add(a, conn("10.0.0.1", 80, "10.0.0.2", 4000)));
  demux.remove(a);
  EXPECT_FALSE(a.in_demux());
  EXPECT_EQ(demux.find(kProtocolUdp, conn("10.0.0.1", 80, "10.0.0.2", 4000)), nullptr);
  {
    FakeEndpoint scoped;
    ASSERT_TRUE(demux.add(scoped, bound("0.0.0.0", 99)));
  }
  // The auto-unlink hook removed the destroyed endpoint.
  EXPECT_EQ(demux.find(kProtocolUdp, conn("10.0.0.1", 99, "10.0.0.2", 1)), nullptr);
}

TEST(TransportDemux, ReaddMovesBetweenTables) {
  TransportDemux demux(1);
  FakeEndpoint a;
  ASSERT_TRUE(demux.add(a, bound("0.0.0.0", 5000)));
  ASSERT_TRUE(demux.add(a, conn("10.0.0.1", 5000, "10.0.0.2", 53)));
  EXPECT_EQ(demux.find(kProtocolUdp, conn("10.0.0.1", 5000, "10.0.0.3", 53)), nullptr);
  EXPECT_EQ(demux.find(kProtocolUdp, conn("10.0.0.1", 5000, "10.0.0.2", 53)), &a);
  EXPECT_EQ(demux.connected_count(), 1u);
}

TEST(TransportDemux, GrowsToManyConnections) {
  TransportDemux demux(7);
  std::vector<std::unique_ptr<FakeEndpoint>> eps;
  for (uint16_t i = 0; i < 5000; ++i) {
    eps.push_back(std::make_unique<FakeEndpoint>());
    ASSERT_TRUE(demux.add(*eps.back(), conn("10.0.0.1", 80, "10.0.0.2", static_cast<uint16_t>(1000 + i))));
  }
  EXPECT_EQ(demux.connected_count(), 5000u);
  for (uint16_t i = 0; i < 5000; ++i) {
    ASSERT_EQ(demux.find(kProtocolUdp, conn("10.0.0.1", 80, "10.0.0.2", static_cast<uint16_t>(1000 + i))),
              eps[i].get());
  }
  for (auto& e : eps) demux.remove(*e);
  EXPECT_EQ(demux.connected_count(), 0u);
}

TEST(TransportDemux, ForEachBoundHonoursDestination) {
  TransportDemux demux(1);
  FakeEndpoint any, mine, other;
  ASSERT_TRUE(demux.add(any, bound("0.0.0.0", 67)));
  ASSERT_TRUE(demux.add(mine, bound("10.0.0.255", 67)));
  ASSERT_TRUE(demux.add(other, bound("10.0.0.1", 67)));
  std::vector<TransportEndpoint*> seen;
  demux.for_each_bound(kProtocolUdp, 67, ip("10.0.0.255"),
                       [&](TransportEndpoint& ep) { seen.push_back(&ep); });
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_NE(std::find(seen.begin(), seen.end(), &any), seen.end());
  EXPECT_NE(std::find(seen.begin(), seen.end(), &mine), seen.end());
}

TEST(PortTable, ConflictsFollowLinuxRules) {
  PortTable ports;
  auto a = ports.reserve(kProtocolTcp, 80, ip("0.0.0.0"), {});
  ASSERT_TRUE(a);
  EXPECT_EQ(ports.reserve(kProtocolTcp, 80, ip("10.0.0.1"), {}).error(), Error::kAddressInUse);
  EXPECT_TRUE(ports.reserve(kProtocolUdp, 80, ip("10.0.0.1"), {}));  // other protocol
  EXPECT_TRUE(ports.reserve(kProtocolTcp, 80, ip("::"), {}));        // other family
  ports.release(*a);
  EXPECT_TRUE(ports.reserve(kProtocolTcp, 80, ip("10.0.0.1"), {}));
  EXPECT_TRUE(ports.reserve(kProtocolTcp, 80, ip("10.0.0.2"), {}));  // distinct addresses

  PortBindingOptions reuseport{.reuse_address = false, .reuse_port = true};
  ASSERT_TRUE(ports.reserve(kProtocolTcp, 8080, ip("0.0.0.0"), reuseport));
  EXPECT_TRUE(ports.reserve(kProtocolTcp, 8080, ip("0.0.0.0"), reuseport));
  EXPECT_FALSE(ports.reserve(kProtocolTcp, 8080, ip("0.0.0.0"), {}));

  PortBindingOptions reuseaddr{.reuse_address = true, .reuse_port = false};
  ASSERT_TRUE(ports.reserve(kProtocolUdp, 5353, ip("0.0.0.0"), reuseaddr));
  EXPECT_TRUE(ports.reserve(kProtocolUdp, 5353, ip("0.0.0.0"), reuseaddr));
  EXPECT_FALSE(ports.reserve(kProtocolTcp, 0, ip("0.0.0.0"), {}));
}

TEST(PortTable, EphemeralPortsAreDistinctAndInRange) {
  PortTable ports;
  Rng rng(3);
  std::set<uint16_t> seen;
  for (int i = 0; i < 1000; ++i) {
    auto r = ports.reserve_ephemeral(kProtocolTcp, IpAddress(), {}, rng);
    ASSERT_TRUE(r);
    EXPECT_GE(r->first, PortTable::kEphemeralFirst);
    EXPECT_LE(r->first, PortTable::kEphemeralLast);
    EXPECT_TRUE(seen.insert(r->first).second);
  }
}

TEST(PortTable, EphemeralPortsWalkTheRangeBeforeRepeating) {
  // Released ports are not handed out again until the walk has gone round the range, so a
  // peer's TIME-WAIT state for an old 4-tuple is long gone by the time a port comes back.
  PortTable ports;
  Rng rng(5);
  SocketAddress server{*IpAddress::parse("10.0.0.2"), 80};
  std::set<uint16_t> seen;
  size_t n = PortTable::kEphemeralLast - PortTable::kEphemeralFirst + 1;
  for (size_t i = 0; i < n; ++i) {
    auto r = ports.reserve_ephemeral(kProtocolTcp, IpAddress(), {}, rng, server);
    ASSERT_TRUE(r);
    EXPECT_TRUE(seen.insert(r->first).second) << "port " << r->first << " repeated at " << i;
    ports.release(r->second);
  }
}

TEST(PortTable, EphemeralOffsetsDifferPerDestination) {
  PortTable a_ports, b_ports;
  Rng rng_a(9), rng_b(9);
  SocketAddress one{*IpAddress::parse("10.0.0.2"), 80};
  SocketAddress two{*IpAddress::parse("10.0.0.3"), 80};
  auto a = a_ports.reserve_ephemeral(kProtocolTcp, IpAddress(), {}, rng_a, one);
  auto b = b_ports.reserve_ephemeral(kProtocolTcp, IpAddress(), {}, rng_b, two);
  ASSERT_TRUE(a && b);
  EXPECT_NE(a->first, b->first);
}

TEST(PortTable, EphemeralExhaustion) {
  PortTable ports;
  Rng rng(3);
  size_t n = PortTable::kEphemeralLast - PortTable::kEphemeralFirst + 1;
  for (size_t i = 0; i < n; ++i) ASSERT_TRUE(ports.reserve_ephemeral(kProtocolUdp, IpAddress(), {}, rng));
  auto r = ports.reserve_ephemeral(kProtocolUdp, IpAddress(), {}, rng);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kAddressNotAvailable);
}

}  // namespace
}  // namespace weir
