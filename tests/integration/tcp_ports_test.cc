// Ephemeral ports as Linux shares them, between two real stacks: a connect() port is reused
// for every destination whose 4-tuple differs, so the ephemeral range limits connections per
// destination, not in total, and TIME-WAIT towards one destination never starves another.
#include <gtest/gtest.h>

#include <memory>
#include <set>
#include <string_view>
#include <vector>

#include "tests/testing/tcp_network.h"

namespace weir::testing {
namespace {

using tcp::Endpoint;

// What connect() says, by name: GoogleTest would print an Error as raw bytes.
const std::string_view kStarted = error_name(Error::kInProgress);
const std::string_view kNoPort = error_name(Error::kAddressNotAvailable);

std::string_view outcome(const Status& st) { return st.ok() ? "ok" : error_name(st.error()); }

uint64_t tcp_counter(Stack& s, std::string_view name) {
  uint64_t v = 0;
  s.counters().for_each([&](std::string_view g, std::string_view n, uint64_t value) {
    if (g == "tcp" && n == name) v = value;
  });
  return v;
}

// Listeners on b, and connections from a to them.
class Ports {
 public:
  explicit Ports(TcpNetwork& net) : net_(net) {}

  void listen(uint16_t port) {
    auto l = Endpoint::create(*net_.b().stack, AddressFamily::kIpv4);
    ASSERT_TRUE(l->bind({net_.b().address, port}));
    ASSERT_TRUE(l->listen(4096));
    listeners_.push_back(std::move(l));
  }

  // Starts a connection from a to b's port: the name of the error connect() gave, kStarted
  // on success.
  std::string_view connect(uint16_t port) {
    auto c = Endpoint::create(*net_.a().stack, AddressFamily::kIpv4);
    Status st = c->connect({net_.b().address, port});
    if (st.ok()) return "connected at once";  // a non-blocking connect never is
    if (st.error() == Error::kInProgress) clients.push_back(std::move(c));
    return error_name(st.error());
  }

  // Delivers everything, accepts every pending connection on b, and says whether every client
  // is established (no retransmission timeout is allowed to help: the clock stands still).
  bool settle() {
    net_.pump();
    for (auto& l : listeners_) {
      for (;;) {
        auto s = l->accept();
        if (!s) break;
        servers.push_back(std::move(*s));
      }
    }
    for (auto& c : clients) {
      if ((c->readiness() & kEventWritable) == 0) return false;
    }
    return servers.size() == clients.size();
  }

  // Closes the oldest n clients first (so their side keeps TIME-WAIT) and then their servers.
  void close_oldest(size_t n) {
    for (size_t i = 0; i < n; ++i) clients[i]->close();
    net_.pump();
    for (size_t i = 0; i < n; ++i) servers[i]->close();
    net_.pump();
    clients.erase(clients.begin(), clients.begin() + static_cast<ptrdiff_t>(n));
    servers.erase(servers.begin(), servers.begin() + static_cast<ptrdiff_t>(n));
  }

  std::vector<std::unique_ptr<Endpoint>> clients;
  std::vector<std::unique_ptr<Endpoint>> servers;

 private:
  TcpNetwork& net_;
  std::vector<std::unique_ptr<Endpoint>> listeners_;
};

// The report behind this test: a program connecting to four ports of one peer got
// EADDRNOTAVAIL at the 28,233rd connection (one port per connection, from a range of 28,232),
// and once it had closed them all no new connection to a fifth port got a port for the next
// 60 seconds (TIME-WAIT held every port). Here a opens 100,000 connections to four ports of b,
// a thousand at a time, each batch closed by a once established: a's TIME-WAIT then holds
// every 4-tuple as firmly as an open connection (the clock stands still), and a full Connection
// each, so this stays within a few hundred megabytes.
TEST(TcpPorts, HundredThousandConnectionsToFourPortsOfOnePeer) {
  TcpNetwork net;
  Ports ports(net);
  constexpr uint16_t kFirstPort = 5001;
  constexpr size_t kDestinations = 4;
  constexpr size_t kConnections = 100000;
  // A batch stays well inside the channel's queue (4096 frames each way).
  constexpr size_t kBatch = 1000;
  for (size_t d = 0; d <= kDestinations; ++d) ports.listen(static_cast<uint16_t>(kFirstPort + d));

  Stack& a = *net.a().stack;
  std::set<uint16_t> local_ports;
  std::set<std::pair<uint16_t, uint16_t>> tuples;
  for (size_t opened = 0; opened < kConnections; opened += kBatch) {
    for (size_t i = opened; i < opened + kBatch; ++i) {
      auto port = static_cast<uint16_t>(kFirstPort + i % kDestinations);
      ASSERT_EQ(ports.connect(port), kStarted) << "connection " << i;
    }
    // The first batch's SYNs all wait for ARP to resolve b, none for a retransmission.
    ASSERT_TRUE(ports.settle()) << "after " << opened + kBatch;
    for (auto& c : ports.clients) {
      uint16_t local = c->local_address()->port;
      local_ports.insert(local);
      tuples.insert({local, c->remote_address()->port});
    }
    ports.close_oldest(kBatch);
  }
  EXPECT_EQ(tuples.size(), kConnections);  // every 4-tuple differs
  EXPECT_LE(local_ports.size(), a.ports().ephemeral_range().size());
  EXPECT_EQ(net.a().tcp->connection_count(), kConnections);  // all in TIME-WAIT
  EXPECT_EQ(net.b().tcp->connection_count(), 0u);
  EXPECT_EQ(tcp_counter(a, "retransmitted_segments"), 0u);

  // A fifth port of the same peer still gets a port for each of 1,000 new connections.
  for (size_t i = 0; i < kBatch; ++i) {
    ASSERT_EQ(ports.connect(static_cast<uint16_t>(kFirstPort + kDestinations)), kStarted)
        << "connection " << i << " to the fifth port";
  }
  EXPECT_TRUE(ports.settle());
  EXPECT_EQ(tcp_counter(a, "retransmitted_segments"), 0u);
}

// A range of eight ports: eight connections per destination, whatever the others hold.
TEST(TcpPorts, TinyRangeRunsOutPerDestination) {
  TcpNetwork net;
  Stack& a = *net.a().stack;
  ASSERT_TRUE(a.ports().set_ephemeral_range(PortRange{40000, 40007}));
  Ports ports(net);
  for (uint16_t p : {5001, 5002, 5003}) ports.listen(p);

  auto fill = [&](uint16_t port) {
    std::set<uint16_t> used;
    for (int i = 0; i < 8; ++i) EXPECT_EQ(ports.connect(port), kStarted);
    EXPECT_EQ(ports.connect(port), kNoPort);
    EXPECT_TRUE(ports.settle());
    for (size_t i = ports.clients.size() - 8; i < ports.clients.size(); ++i) {
      used.insert(ports.clients[i]->local_address()->port);
    }
    return used;
  };
  const std::set<uint16_t> all{40000, 40001, 40002, 40003, 40004, 40005, 40006, 40007};
  EXPECT_EQ(fill(5001), all);
  EXPECT_EQ(fill(5002), all);

  // Closed by a, the connections to 5001 keep their 4-tuples in TIME-WAIT: 5001 stays out of
  // reach, 5003 gets all eight ports.
  ports.close_oldest(8);
  EXPECT_EQ(ports.connect(5001), kNoPort);
  EXPECT_EQ(fill(5003), all);

  // TIME-WAIT over, 5001 is reachable again.
  net.advance(net.a().tcp->options().time_wait + std::chrono::milliseconds(1));
  EXPECT_EQ(ports.connect(5001), kStarted);
  EXPECT_TRUE(ports.settle());
}

// bind() next to connect()-ed sockets, as Linux (inet_csk_bind_conflict): a bound port is the
// binder's, and a bind may join connections' port only when every socket sets SO_REUSEADDR,
// and then not listen there.
TEST(TcpPorts, BindBesideConnectionsFollowsLinux) {
  TcpNetwork net;
  Stack& a = *net.a().stack;
  ASSERT_TRUE(a.ports().set_ephemeral_range(PortRange{40000, 40000}));
  Ports ports(net);
  for (uint16_t p : {5001, 5002}) ports.listen(p);
  auto client = Endpoint::create(a, AddressFamily::kIpv4);
  client->set_reuse_address(true);
  ASSERT_EQ(outcome(client->connect({net.b().address, 5001})), kStarted);
  ports.clients.push_back(std::move(client));
  ASSERT_TRUE(ports.settle());
  ASSERT_EQ(ports.clients[0]->local_address()->port, 40000);

  auto plain = Endpoint::create(a, AddressFamily::kIpv4);
  EXPECT_EQ(outcome(plain->bind({net.a().address, 40000})), error_name(Error::kAddressInUse));
  // Port 0 asks for a port nobody holds: the only one is the connection's.
  EXPECT_EQ(outcome(plain->bind({IpAddress::any(AddressFamily::kIpv4), 0})), kNoPort);

  auto joining = Endpoint::create(a, AddressFamily::kIpv4);
  joining->set_reuse_address(true);
  ASSERT_EQ(outcome(joining->bind({IpAddress::any(AddressFamily::kIpv4), 40000})), "ok");
  EXPECT_EQ(outcome(joining->listen(8)), error_name(Error::kAddressInUse));
  // While bound there, the port is no longer handed to connect(), whatever the destination.
  EXPECT_EQ(ports.connect(5002), kNoPort);
  joining->close();
  EXPECT_EQ(ports.connect(5002), kStarted);
  EXPECT_TRUE(ports.settle());
  EXPECT_EQ(ports.clients[1]->local_address()->port, 40000);
}

}  // namespace
}  // namespace weir::testing
