#include "stack/demux.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <set>
#include <vector>

#include "stack/clock.h"
#include "stack/stack.h"

namespace weir {
namespace {

class FakeEndpoint : public TransportEndpoint {
 public:
  explicit FakeEndpoint(uint8_t protocol = kProtocolUdp) : TransportEndpoint(protocol) {}
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
    ASSERT_TRUE(
        demux.add(*eps.back(), conn("10.0.0.1", 80, "10.0.0.2", static_cast<uint16_t>(1000 + i))));
  }
  EXPECT_EQ(demux.connected_count(), 5000u);
  for (uint16_t i = 0; i < 5000; ++i) {
    ASSERT_EQ(
        demux.find(kProtocolUdp, conn("10.0.0.1", 80, "10.0.0.2", static_cast<uint16_t>(1000 + i))),
        eps[i].get());
  }
  for (auto& e : eps) demux.remove(*e);
  EXPECT_EQ(demux.connected_count(), 0u);
}

// Many entries of both families and protocols share the connected table's buckets (a
// thousand in 1024 chains collide many times over); taking some out by remove() and some by
// destruction, from the heads, middles and tails of chains, leaves every other one findable.
TEST(TransportDemux, ConnectedChainsSurviveRemovalAndDestruction) {
  TransportDemux demux(99);
  struct Entry {
    std::unique_ptr<FakeEndpoint> ep;
    uint8_t protocol;
    TransportEndpointId id;
  };
  std::vector<Entry> entries;
  for (uint16_t i = 0; i < 1000; ++i) {
    const uint8_t protocol = i % 2 == 0 ? kProtocolTcp : kProtocolUdp;
    const bool v6 = i % 3 == 0;
    const auto remote = static_cast<uint16_t>(2000 + i);
    TransportEndpointId id =
        v6 ? conn("fd00::1", 443, "fd00::2", remote) : conn("10.0.0.1", 443, "10.0.0.2", remote);
    entries.push_back({std::make_unique<FakeEndpoint>(protocol), protocol, id});
    ASSERT_TRUE(demux.add(*entries.back().ep, id)) << i;
  }
  EXPECT_EQ(demux.connected_count(), 1000u);
  for (size_t i = 0; i < entries.size(); i += 5) demux.remove(*entries[i].ep);
  for (size_t i = 2; i < entries.size(); i += 5) entries[i].ep.reset();
  for (size_t i = 0; i < entries.size(); ++i) {
    const Entry& e = entries[i];
    const bool gone = i % 5 == 0 || i % 5 == 2;
    EXPECT_EQ(demux.find(e.protocol, e.id), gone ? nullptr : e.ep.get()) << i;
    EXPECT_EQ(demux.connected_exists(e.protocol, e.id), !gone) << i;
  }
  // A key that differs from an entry's in any one field misses.
  const Entry& kept = entries[1];
  ASSERT_NE(kept.ep, nullptr);
  TransportEndpointId other = kept.id;
  other.remote_port = 9;
  EXPECT_EQ(demux.find(kept.protocol, other), nullptr);
  other = kept.id;
  other.local_port = 444;
  EXPECT_EQ(demux.find(kept.protocol, other), nullptr);
  other = kept.id;
  other.remote_address = ip("10.0.0.3");
  EXPECT_EQ(demux.find(kept.protocol, other), nullptr);
  other = kept.id;
  other.local_address = ip("10.0.0.9");
  EXPECT_EQ(demux.find(kept.protocol, other), nullptr);
  EXPECT_EQ(demux.find(kProtocolTcp, kept.id), nullptr);  // entry 1 is UDP
  // What is left can be entered again under a new key, and found there only.
  FakeEndpoint& moved = *entries[1].ep;
  ASSERT_TRUE(demux.add(moved, conn("10.0.0.1", 443, "10.0.0.7", 7)));
  EXPECT_EQ(demux.find(kProtocolUdp, kept.id), nullptr);
  EXPECT_EQ(demux.find(kProtocolUdp, conn("10.0.0.1", 443, "10.0.0.7", 7)), &moved);
}

// More bound ports than the bound table has buckets, so buckets hold several keys: each port
// finds its own endpoints only, the specific address before the wildcard that shares its port.
TEST(TransportDemux, BoundLookupsWalkOnlyTheirKey) {
  TransportDemux demux(3);
  std::vector<std::unique_ptr<FakeEndpoint>> wildcards;
  std::vector<std::unique_ptr<FakeEndpoint>> specifics;
  for (uint16_t port = 1000; port < 1600; ++port) {
    wildcards.push_back(std::make_unique<FakeEndpoint>(kProtocolUdp));
    ASSERT_TRUE(demux.add(*wildcards.back(), bound("0.0.0.0", port)));
    specifics.push_back(std::make_unique<FakeEndpoint>(kProtocolUdp));
    ASSERT_TRUE(demux.add(*specifics.back(), bound("10.0.0.1", port)));
  }
  for (uint16_t port = 1000; port < 1600; ++port) {
    const size_t i = port - 1000;
    ASSERT_EQ(demux.find(kProtocolUdp, conn("10.0.0.1", port, "10.0.0.2", 9)), specifics[i].get());
    ASSERT_EQ(demux.find(kProtocolUdp, conn("10.0.0.5", port, "10.0.0.2", 9)), wildcards[i].get());
    ASSERT_EQ(demux.find(kProtocolTcp, conn("10.0.0.1", port, "10.0.0.2", 9)), nullptr);
    std::vector<TransportEndpoint*> seen;
    demux.for_each_bound(kProtocolUdp, port, ip("10.0.0.1"),
                         [&](TransportEndpoint& ep) { seen.push_back(&ep); });
    ASSERT_EQ(seen.size(), 2u);
  }
  EXPECT_EQ(demux.find(kProtocolUdp, conn("10.0.0.1", 999, "10.0.0.2", 9)), nullptr);
  EXPECT_EQ(demux.find(kProtocolUdp, conn("10.0.0.1", 1600, "10.0.0.2", 9)), nullptr);
}

// Endpoints may outlive the demux: it lets go of them when destroyed, and they of nothing.
TEST(TransportDemux, EndpointsOutliveTheDemux) {
  FakeEndpoint a, b, c;
  {
    TransportDemux demux(5);
    ASSERT_TRUE(demux.add(a, conn("10.0.0.1", 80, "10.0.0.2", 4000)));
    ASSERT_TRUE(demux.add(b, conn("10.0.0.1", 80, "10.0.0.2", 4001)));
    ASSERT_TRUE(demux.add(c, bound("0.0.0.0", 80)));
    EXPECT_TRUE(a.in_demux());
    EXPECT_TRUE(c.in_demux());
  }
  EXPECT_FALSE(a.in_demux());
  EXPECT_FALSE(b.in_demux());
  EXPECT_FALSE(c.in_demux());
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

TEST(PortTable, ReleasingOneHolderOfASharedPortKeepsTheOthers) {
  PortTable ports;
  PortBindingOptions reuseport{.reuse_address = false, .reuse_port = true};
  auto a = ports.reserve(kProtocolUdp, 9000, ip("0.0.0.0"), reuseport);
  auto b = ports.reserve(kProtocolUdp, 9000, ip("0.0.0.0"), reuseport);
  auto c = ports.reserve(kProtocolTcp, 9000, ip("0.0.0.0"), {});
  ASSERT_TRUE(a && b && c);
  EXPECT_NE(*a, *b);
  ports.release(*a);
  ports.release(*a);  // a second release of the same handle changes nothing
  EXPECT_TRUE(ports.in_use(kProtocolUdp, 9000));
  EXPECT_FALSE(ports.reserve(kProtocolUdp, 9000, ip("0.0.0.0"), {}));  // b still holds it
  ports.release(*b);
  EXPECT_FALSE(ports.in_use(kProtocolUdp, 9000));
  EXPECT_TRUE(ports.in_use(kProtocolTcp, 9000));  // the other protocol's holder is untouched
  EXPECT_EQ(ports.check_listen(*a).error(), Error::kInvalidArgument);  // released: unknown
  EXPECT_TRUE(ports.check_listen(*c).ok());
  ports.release(*c);
  EXPECT_FALSE(ports.in_use(kProtocolTcp, 9000));
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
  for (size_t i = 0; i < n; ++i)
    ASSERT_TRUE(ports.reserve_ephemeral(kProtocolUdp, IpAddress(), {}, rng));
  auto r = ports.reserve_ephemeral(kProtocolUdp, IpAddress(), {}, rng);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kAddressNotAvailable);
}

// A connect() port, as tcp::Endpoint takes it: the port from the table, the 4-tuple into the
// demux (where TIME-WAIT keeps it too).
class Connections {
 public:
  explicit Connections(PortRange range) : ports(range) {}

  Result<uint16_t> connect(const char* local, const SocketAddress& remote,
                           PortBindingOptions options = {}) {
    auto r = ports.reserve_for_connect(kProtocolTcp, ip(local), remote, options, rng, demux);
    if (!r) return r.error();
    auto ep = std::make_unique<FakeEndpoint>(kProtocolTcp);
    Status added = demux.add(*ep, {ip(local), remote.address, r->first, remote.port});
    if (!added) return added.error();
    held.push_back({std::move(ep), r->second});
    return r->first;
  }
  void close_all() {
    for (auto& h : held) ports.release(h.handle);
    held.clear();
  }

  struct Held {
    std::unique_ptr<FakeEndpoint> endpoint;
    PortTable::Handle handle;
  };
  PortTable ports;
  TransportDemux demux{5};
  Rng rng{17};
  std::vector<Held> held;
};

SocketAddress peer(const char* address, uint16_t port) { return {ip(address), port}; }

TEST(PortTable, ConnectPortsAreSharedBetweenDestinations) {
  // Four ports: four connections to each destination, whatever the others hold.
  Connections c(PortRange{40000, 40003});
  std::set<uint16_t> first;
  for (int i = 0; i < 4; ++i) {
    auto port = c.connect("10.0.0.1", peer("10.0.0.2", 80));
    ASSERT_TRUE(port);
    EXPECT_GE(*port, 40000);
    EXPECT_LE(*port, 40003);
    EXPECT_TRUE(first.insert(*port).second);
  }
  auto full = c.connect("10.0.0.1", peer("10.0.0.2", 80));
  ASSERT_FALSE(full);
  EXPECT_EQ(full.error(), Error::kAddressNotAvailable);
  // Another port of the same peer, another peer, another local address: each a fresh set of
  // 4-tuples over the same four ports.
  for (const auto& [local, remote] :
       {std::pair{"10.0.0.1", peer("10.0.0.2", 81)}, std::pair{"10.0.0.1", peer("10.0.0.3", 80)},
        std::pair{"10.0.0.9", peer("10.0.0.2", 80)}, std::pair{"fd00::1", peer("fd00::2", 80)}}) {
    std::set<uint16_t> ports;
    for (int i = 0; i < 4; ++i) {
      auto port = c.connect(local, remote);
      ASSERT_TRUE(port) << local << " -> " << remote.port;
      ports.insert(*port);
    }
    EXPECT_EQ(ports, first);
    EXPECT_FALSE(c.connect(local, remote));
  }
  EXPECT_EQ(c.held.size(), 20u);
}

TEST(PortTable, AHeldFourTupleStarvesOnlyItsDestination) {
  // One port. Its connection to one destination (say in TIME-WAIT, whose 4-tuple stays in the
  // demux) leaves it free for every other destination; only the same 4-tuple is refused.
  Connections c(PortRange{40000, 40000});
  ASSERT_TRUE(c.connect("10.0.0.1", peer("10.0.0.2", 80)));
  EXPECT_EQ(c.connect("10.0.0.1", peer("10.0.0.2", 80)).error(), Error::kAddressNotAvailable);
  EXPECT_EQ(c.connect("10.0.0.1", peer("10.0.0.2", 81)).value_or(0), 40000);
  // The demux entry, not the reservation, is what held the 4-tuple.
  c.held.front().endpoint.reset();
  EXPECT_EQ(c.connect("10.0.0.1", peer("10.0.0.2", 80)).value_or(0), 40000);
}

TEST(PortTable, ConnectNeverTakesABoundPort) {
  Connections c(PortRange{40000, 40001});
  // bind() to a port of the range: connect() leaves it alone, for every destination.
  ASSERT_TRUE(c.ports.reserve(kProtocolTcp, 40000, ip("10.0.0.7"), {}));
  EXPECT_EQ(c.connect("10.0.0.1", peer("10.0.0.2", 80)).value_or(0), 40001);
  EXPECT_EQ(c.connect("10.0.0.1", peer("10.0.0.2", 80)).error(), Error::kAddressNotAvailable);
  EXPECT_EQ(c.connect("10.0.0.1", peer("10.0.0.3", 80)).value_or(0), 40001);
  // bind() to port 0 wants a port nobody holds, connections included: none is left.
  auto bound = c.ports.reserve_ephemeral(kProtocolTcp, IpAddress(), {}, c.rng);
  ASSERT_FALSE(bound);
  EXPECT_EQ(bound.error(), Error::kAddressNotAvailable);
  c.close_all();
  auto again = c.ports.reserve_ephemeral(kProtocolTcp, IpAddress(), {}, c.rng);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->first, 40001);
  // A UDP bind is another protocol's port.
  EXPECT_TRUE(c.ports.reserve_ephemeral(kProtocolUdp, IpAddress(), {}, c.rng));
}

TEST(PortTable, BindJoinsConnectionsOnlyWithReuseAddressOnBoth) {
  const PortBindingOptions plain{};
  const PortBindingOptions reuseaddr{.reuse_address = true, .reuse_port = false};
  const PortBindingOptions reuseport{.reuse_address = false, .reuse_port = true};
  Connections c(PortRange{40000, 40000});
  ASSERT_TRUE(c.connect("10.0.0.1", peer("10.0.0.2", 80), reuseaddr));
  // An overlapping bind without SO_REUSEADDR conflicts; one on another address does not.
  EXPECT_EQ(c.ports.reserve(kProtocolTcp, 40000, ip("0.0.0.0"), plain).error(),
            Error::kAddressInUse);
  EXPECT_EQ(c.ports.reserve(kProtocolTcp, 40000, ip("10.0.0.1"), plain).error(),
            Error::kAddressInUse);
  auto elsewhere = c.ports.reserve(kProtocolTcp, 40000, ip("10.0.0.9"), plain);
  ASSERT_TRUE(elsewhere);
  c.ports.release(*elsewhere);
  // With SO_REUSEADDR on both the bind joins, but may not listen there.
  auto joined = c.ports.reserve(kProtocolTcp, 40000, ip("0.0.0.0"), reuseaddr);
  ASSERT_TRUE(joined);
  EXPECT_EQ(c.ports.check_listen(*joined).error(), Error::kAddressInUse);
  // Two binds still never share through SO_REUSEADDR.
  EXPECT_EQ(c.ports.reserve(kProtocolTcp, 40000, ip("0.0.0.0"), reuseaddr).error(),
            Error::kAddressInUse);
  c.ports.release(*joined);
  // A bound port is the binder's: connections stop being given it.
  auto mine = c.ports.reserve(kProtocolTcp, 40000, ip("0.0.0.0"), reuseaddr);
  ASSERT_TRUE(mine);
  EXPECT_EQ(c.connect("10.0.0.1", peer("10.0.0.2", 81), reuseaddr).error(),
            Error::kAddressNotAvailable);
  c.ports.release(*mine);

  // A connection without SO_REUSEADDR keeps binds out even when the binder sets it.
  Connections strict(PortRange{40000, 40000});
  ASSERT_TRUE(strict.connect("10.0.0.1", peer("10.0.0.2", 80), plain));
  EXPECT_EQ(strict.ports.reserve(kProtocolTcp, 40000, ip("0.0.0.0"), reuseaddr).error(),
            Error::kAddressInUse);

  // SO_REUSEPORT on both: the bind joins and may listen.
  Connections shared(PortRange{40000, 40000});
  ASSERT_TRUE(shared.connect("10.0.0.1", peer("10.0.0.2", 80), reuseport));
  auto listener = shared.ports.reserve(kProtocolTcp, 40000, ip("0.0.0.0"), reuseport);
  ASSERT_TRUE(listener);
  EXPECT_TRUE(shared.ports.check_listen(*listener));
}

TEST(PortTable, ConnectPortsWalkTheRangeBeforeRepeating) {
  // As for bind: a released port comes back to the same destination only after the walk has
  // gone round the range, so the peer's TIME-WAIT for the old 4-tuple is long gone.
  Connections c(PortRange{});
  const size_t n = c.ports.ephemeral_range().size();
  std::set<uint16_t> seen;
  for (size_t i = 0; i < n; ++i) {
    auto port = c.connect("10.0.0.1", peer("10.0.0.2", 80));
    ASSERT_TRUE(port);
    EXPECT_TRUE(seen.insert(*port).second) << "port " << *port << " repeated at " << i;
    c.close_all();
  }
}

TEST(PortTable, EphemeralRangeIsAnOption) {
  EXPECT_EQ(PortRange{}, (PortRange{32768, 60999}));
  EXPECT_FALSE(PortRange{}.problem());
  EXPECT_FALSE((PortRange{1, 1}.problem()));
  EXPECT_FALSE((PortRange{1, 65535}.problem()));
  auto zero = PortRange{0, 100}.problem();
  ASSERT_TRUE(zero);
  EXPECT_NE(zero->find("0-100"), std::string::npos) << *zero;
  auto empty = PortRange{5000, 4999}.problem();
  ASSERT_TRUE(empty);
  EXPECT_NE(empty->find("5000-4999 is empty"), std::string::npos) << *empty;

  PortTable ports(PortRange{50000, 50002});
  Rng rng(1);
  std::set<uint16_t> seen;
  for (int i = 0; i < 3; ++i)
    seen.insert(ports.reserve_ephemeral(kProtocolUdp, IpAddress(), {}, rng)->first);
  EXPECT_EQ(seen, (std::set<uint16_t>{50000, 50001, 50002}));
  EXPECT_FALSE(ports.reserve_ephemeral(kProtocolUdp, IpAddress(), {}, rng));

  // Changing the range leaves held ports alone and applies to the next pick.
  EXPECT_EQ(ports.set_ephemeral_range(PortRange{2000, 1000}).error(), Error::kInvalidArgument);
  EXPECT_EQ(ports.ephemeral_range(), (PortRange{50000, 50002}));
  ASSERT_TRUE(ports.set_ephemeral_range(PortRange{1024, 1024}));
  EXPECT_EQ(ports.reserve_ephemeral(kProtocolUdp, IpAddress(), {}, rng)->first, 1024);
  EXPECT_TRUE(ports.in_use(kProtocolUdp, 50001));
}

TEST(PortTable, StackTakesItsRangeFromItsOptions) {
  ManualClock clock;
  StackOptions options;
  options.seed = 1;
  options.ephemeral_ports = {20000, 20009};
  Stack stack(clock, options);
  EXPECT_EQ(stack.ports().ephemeral_range(), (PortRange{20000, 20009}));
  options.ephemeral_ports = {20009, 20000};
  EXPECT_DEATH({ Stack invalid(clock, options); },
               "StackOptions::ephemeral_ports: ephemeral port range 20009-20000 is empty");
}

}  // namespace
}  // namespace weir
