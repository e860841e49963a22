// The stack-wide socket memory between two real stacks: 200 connections push data at a
// server that does not read, into a stack whose budget (1 MiB hard limit) is a third of what
// their windows allow together. The server stack stays within its hard limit plus each
// connection's small in-order floor, goes under pressure, and when the application finally
// reads, every stream arrives intact (what the stack dropped is retransmitted), pressure is
// left, and once everything is closed both accounts are back to 0.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <vector>

#include "tcp/connection.h"
#include "tcp/endpoint.h"
#include "tcp/tcp.h"
#include "tests/testing/two_stacks.h"

namespace weir::testing {
namespace {

using tcp::Endpoint;

constexpr size_t kConnections = 200;
constexpr size_t kBytes = 16 * 1024;
constexpr SocketMemoryLimits kLimits{.min = 256 << 10, .pressure = 512 << 10, .max = 1 << 20};

std::byte pattern(size_t conn, size_t offset) {
  return std::byte(static_cast<uint8_t>(offset * 31 + conn * 7 + 1));
}

uint64_t counter(Stack& stack, std::string_view group, std::string_view name) {
  uint64_t v = 0;
  stack.counters().for_each([&](std::string_view g, std::string_view c, uint64_t value) {
    if (g == group && c == name) v = value;
  });
  return v;
}

struct Flow {
  std::unique_ptr<Endpoint> client;
  std::unique_ptr<Endpoint> server;
  size_t written = 0;
  std::vector<std::byte> got;
};

class SocketMemoryIntegration : public ::testing::Test {
 protected:
  SocketMemoryIntegration() : net(options()) {
    tcp::install(*net.a().stack);
    tcp::TcpOptions server;
    server.receive_autotune = false;
    tcp::install(*net.b().stack, server);
    net.b().stack->socket_memory().set_limits(kLimits);
  }
  static TwoStacksOptions options() {
    TwoStacksOptions o;
    o.ipv6 = false;
    return o;
  }
  SocketMemory& server_memory() { return net.b().stack->socket_memory(); }

  void write_some(Flow& f, size_t conn) {
    std::vector<std::byte> buf(kBytes - f.written);
    for (size_t i = 0; i < buf.size(); ++i) buf[i] = pattern(conn, f.written + i);
    if (buf.empty()) return;
    auto r = f.client->write(buf);
    if (r) f.written += *r;
  }

  TwoStacks net;  // first: sockets go before the stacks
  std::vector<Flow> flows;
};

TEST_F(SocketMemoryIntegration, ManyConnectionsStayWithinTheBudget) {
  auto listener = Endpoint::create(*net.b().stack, AddressFamily::kIpv4);
  ASSERT_TRUE(listener->bind(SocketAddress{net.b().address, 80}).ok());
  ASSERT_TRUE(listener->listen(static_cast<int>(kConnections)).ok());
  for (size_t i = 0; i < kConnections; ++i) {
    Flow f;
    f.client = Endpoint::create(*net.a().stack, AddressFamily::kIpv4);
    (void)f.client->connect(SocketAddress{net.b().address, 80});
    flows.push_back(std::move(f));
    net.pump();
    auto accepted = listener->accept();
    ASSERT_TRUE(accepted.ok()) << i;
    flows.back().server = std::move(*accepted);
  }
  net.clear_sent();
  // Phase 1: everyone writes, no one reads.
  size_t peak = 0;
  for (int step = 0; step < 3000; ++step) {
    for (size_t i = 0; i < kConnections; ++i) write_some(flows[i], i);
    net.advance(std::chrono::milliseconds(1));
    peak = std::max(peak, server_memory().used());
    if (step % 100 == 0) net.clear_sent();
  }
  Stack& b = *net.b().stack;
  EXPECT_GE(server_memory().counters().pressure_entered, 1u);
  // In order, a connection past the hard limit takes data only below its 4 KiB floor: one
  // more 2 KiB chunk at most.
  EXPECT_LE(peak, kLimits.max + kConnections * (4096 + 2048));
  EXPECT_GT(counter(b, "tcp", "window_clamped_pressure"), 0u);
  std::printf(
      "%zu connections x %zu bytes unread: server peak %zu (min %zu pressure %zu max %zu), "
      "hard-limit drops %llu, floor accepts %llu, windows clamped %llu\n",
      kConnections, kBytes, peak, kLimits.min, kLimits.pressure, kLimits.max,
      static_cast<unsigned long long>(counter(b, "tcp", "drop_memory_hard_limit")),
      static_cast<unsigned long long>(counter(b, "tcp", "memory_floor_accepted")),
      static_cast<unsigned long long>(counter(b, "tcp", "window_clamped_pressure")));

  // Phase 2: the server reads; every stream arrives byte for byte.
  std::vector<std::byte> buf(64 * 1024);
  auto all_read = [&] {
    bool done = true;
    for (size_t i = 0; i < kConnections; ++i) {
      Flow& f = flows[i];
      write_some(f, i);
      while (true) {
        auto r = f.server->read(buf);
        if (!r || *r == 0) break;
        f.got.insert(f.got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*r));
      }
      if (f.got.size() < kBytes) done = false;
    }
    net.clear_sent();
    return done;
  };
  ASSERT_TRUE(net.run_until(all_read, std::chrono::seconds(120), std::chrono::milliseconds(10)));
  for (size_t i = 0; i < kConnections; ++i) {
    ASSERT_EQ(flows[i].got.size(), kBytes);
    for (size_t k = 0; k < kBytes; ++k) ASSERT_EQ(flows[i].got[k], pattern(i, k)) << i << " " << k;
  }
  EXPECT_EQ(server_memory().used(), 0u);
  EXPECT_FALSE(server_memory().under_pressure());
  EXPECT_GE(server_memory().counters().pressure_left, 1u);

  // Phase 3: everything closes; both accounts are back to 0 and no socket is left.
  for (Flow& f : flows) {
    f.client->close();
    f.server->close();
  }
  listener->close();
  net.advance(std::chrono::minutes(3), std::chrono::milliseconds(100));
  flows.clear();
  listener.reset();
  net.advance(std::chrono::minutes(3), std::chrono::milliseconds(100));
  EXPECT_EQ(server_memory().used(), 0u);
  EXPECT_EQ(net.a().stack->socket_memory().used(), 0u);
  EXPECT_EQ(server_memory().sockets(), 0u);
  EXPECT_EQ(net.a().stack->socket_memory().sockets(), 0u);
}

}  // namespace
}  // namespace weir::testing
