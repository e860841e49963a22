// The stack-wide socket memory between two real stacks: 200 connections push data at a
// server that does not read, into a stack whose budget (1 MiB hard limit) is a third of what
// their windows allow together. The server stack stays within its hard limit plus each
// connection's small in-order floor, goes under pressure, and when the application finally
// reads, every stream arrives intact (what the stack dropped is retransmitted), pressure is
// left, and once everything is closed both accounts are back to 0. The other way round,
// writers whose peers do not read: what their send queues pin is charged too, and the writing
// stack's budget holds them the same way.
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

// Send memory: 32 clients each write 256 KiB to servers that do not read (16 KiB windows), into
// a client stack whose hard limit (1 MiB) is an eighth of what their send buffers allow
// together. The writers are refused, not lost: a refused connection is not writable (a poll
// loop does not spin on it), the account stays within the hard limit plus each connection's
// small floor, and when the servers read, every stream arrives whole and both accounts go back
// to 0.
TEST(SocketMemoryWriters, WritersToPeersThatDoNotReadStayWithinTheBudget) {
  constexpr size_t kWriters = 32;
  constexpr size_t kStream = 256 * 1024;
  TwoStacksOptions o;
  o.ipv6 = false;
  TwoStacks net(o);
  tcp::install(*net.a().stack);
  tcp::TcpOptions server;
  server.receive_buffer = 16 * 1024;
  server.receive_autotune = false;
  tcp::install(*net.b().stack, server);
  SocketMemory& memory = net.a().stack->socket_memory();
  memory.set_limits(kLimits);
  auto listener = Endpoint::create(*net.b().stack, AddressFamily::kIpv4);
  ASSERT_TRUE(listener->bind(SocketAddress{net.b().address, 80}).ok());
  ASSERT_TRUE(listener->listen(static_cast<int>(kWriters)).ok());
  std::vector<Flow> flows;
  for (size_t i = 0; i < kWriters; ++i) {
    Flow f;
    f.client = Endpoint::create(*net.a().stack, AddressFamily::kIpv4);
    (void)f.client->connect(SocketAddress{net.b().address, 80});
    net.pump();
    auto accepted = listener->accept();
    ASSERT_TRUE(accepted.ok()) << i;
    f.server = std::move(*accepted);
    flows.push_back(std::move(f));
  }
  auto write_more = [&](size_t i) {
    Flow& f = flows[i];
    if (f.written == kStream) return;
    std::vector<std::byte> buf(kStream - f.written);
    for (size_t k = 0; k < buf.size(); ++k) buf[k] = pattern(i, f.written + k);
    auto r = f.client->write(buf);
    if (r) {
      f.written += *r;
    } else {
      ASSERT_EQ(r.error(), Error::kWouldBlock);
      // Refused for memory or a full buffer, it says so: no writable event to spin on.
      EXPECT_EQ(f.client->readiness() & kEventWritable, 0u) << i;
    }
  };
  auto charged = [&] {
    size_t sum = 0;
    for (const Flow& f : flows) {
      const tcp::Connection* c = f.client->connection();
      sum += c->send_queue_charged() + c->receive_queue().charged();
    }
    return sum;
  };

  // Phase 1: everyone writes, no one reads.
  size_t peak = 0;
  for (int step = 0; step < 200; ++step) {
    for (size_t i = 0; i < kWriters; ++i) write_more(i);
    net.advance(std::chrono::milliseconds(5));
    peak = std::max(peak, memory.used());
    net.clear_sent();
  }
  EXPECT_EQ(memory.used(), charged());
  EXPECT_GE(memory.counters().pressure_entered, 1u);
  Stack& a = *net.a().stack;
  const uint64_t refused =
      counter(a, "tcp", "write_refused_pressure") + counter(a, "tcp", "write_refused_hard_limit");
  EXPECT_GT(refused, 0u);
  // Past the limits a connection takes memory only below its 4 KiB floor, plus the rest of a
  // 2 KiB chunk.
  EXPECT_LE(peak, kLimits.max + kWriters * (4096 + 2048));
  size_t written = 0;
  for (const Flow& f : flows) written += f.written;
  EXPECT_LT(written, kWriters * kStream / 2);
  std::printf(
      "%zu writers x %zu bytes to peers that do not read: peak %zu (max %zu), written %zu, "
      "writes refused under pressure %llu, at the hard limit %llu\n",
      kWriters, kStream, peak, kLimits.max, written,
      static_cast<unsigned long long>(counter(a, "tcp", "write_refused_pressure")),
      static_cast<unsigned long long>(counter(a, "tcp", "write_refused_hard_limit")));

  // Phase 2: the servers read; every writer gets going again and every stream arrives whole.
  std::vector<std::byte> buf(64 * 1024);
  auto all_read = [&] {
    bool done = true;
    for (size_t i = 0; i < kWriters; ++i) {
      Flow& f = flows[i];
      write_more(i);
      while (true) {
        auto r = f.server->read(buf);
        if (!r || *r == 0) break;
        f.got.insert(f.got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*r));
      }
      if (f.got.size() < kStream) done = false;
    }
    net.clear_sent();
    return done;
  };
  ASSERT_TRUE(net.run_until(all_read, std::chrono::seconds(600), std::chrono::milliseconds(10)));
  for (size_t i = 0; i < kWriters; ++i) {
    ASSERT_EQ(flows[i].got.size(), kStream);
    for (size_t k = 0; k < kStream; ++k) ASSERT_EQ(flows[i].got[k], pattern(i, k)) << i << " " << k;
  }
  // The last ACKs reach the writers.
  net.advance(std::chrono::seconds(1), std::chrono::milliseconds(10));
  EXPECT_EQ(memory.used(), 0u);
  EXPECT_FALSE(memory.under_pressure());
  EXPECT_EQ(counter(a, "tcp", "retransmitted_segments"), 0u);
  for (Flow& f : flows) {
    f.client->close();
    f.server->close();
  }
  flows.clear();
  listener.reset();
  net.advance(std::chrono::minutes(3), std::chrono::milliseconds(100));
  EXPECT_EQ(memory.used(), 0u);
  EXPECT_EQ(memory.sockets(), 0u);
}

// Under pressure (here from memory the rest of the stack holds), one write gets what keeps
// the connection within its fair share of the hard limit, not its whole send buffer; the next
// is refused (not writable) until the peer's ACKs free memory, and then it goes on.
TEST(SocketMemoryWriters, UnderPressureAWriteGetsTheConnectionsFairShare) {
  TwoStacksOptions o;
  o.ipv6 = false;
  TwoStacks net(o);
  tcp::install(*net.a().stack);
  tcp::install(*net.b().stack);
  SocketMemory& memory = net.a().stack->socket_memory();
  memory.set_limits({.min = 256 << 10, .pressure = 512 << 10, .max = 4 << 20});
  auto listener = Endpoint::create(*net.b().stack, AddressFamily::kIpv4);
  ASSERT_TRUE(listener->bind(SocketAddress{net.b().address, 80}).ok());
  ASSERT_TRUE(listener->listen(4).ok());
  auto client = Endpoint::create(*net.a().stack, AddressFamily::kIpv4);
  ASSERT_TRUE(client->set_option(tcp::SocketOption::kSendBuffer, 2 << 20).ok());
  (void)client->connect(SocketAddress{net.b().address, 80});
  net.pump();
  auto server = listener->accept();
  ASSERT_TRUE(server.ok());
  // Another 7 connections' worth of memory elsewhere in the stack: pressure, and a fair share
  // of 4 MiB / 8 sockets.
  for (int i = 0; i < 7; ++i) memory.add_socket();
  memory.charge(600 << 10);
  ASSERT_TRUE(memory.under_pressure());
  const size_t fair_share = memory.fair_share();
  EXPECT_EQ(fair_share, 512u << 10);

  std::vector<std::byte> stream(2 << 20);
  for (size_t k = 0; k < stream.size(); ++k) stream[k] = pattern(0, k);
  auto first = client->write(stream);
  ASSERT_TRUE(first.ok());
  EXPECT_LE(*first, fair_share);
  EXPECT_GE(*first, fair_share - 64 * 1024);
  EXPECT_LE(client->connection()->send_queue_charged(), fair_share + 2048);
  auto second = client->write(ByteView(stream).subspan(*first));
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.error(), Error::kWouldBlock);
  EXPECT_EQ(client->readiness() & kEventWritable, 0u);
  EXPECT_GE(counter(*net.a().stack, "tcp", "write_refused_pressure"), 1u);

  // The server reads; ACKs free memory and the writer finishes within its share throughout.
  size_t written = *first;
  std::vector<std::byte> got;
  std::vector<std::byte> buf(64 * 1024);
  size_t most_charged = 0;
  ASSERT_TRUE(net.run_until(
      [&] {
        if (written < stream.size()) {
          if (auto r = client->write(ByteView(stream).subspan(written)); r) written += *r;
        }
        most_charged = std::max(most_charged, client->connection()->send_queue_charged());
        while (auto r = (*server)->read(buf)) {
          if (*r == 0) break;
          got.insert(got.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*r));
        }
        return got.size() == stream.size();
      },
      std::chrono::seconds(60)));
  EXPECT_TRUE(got == stream);
  EXPECT_LE(most_charged, fair_share + 2048);
  memory.release(600 << 10);
  for (int i = 0; i < 7; ++i) memory.remove_socket();
  net.advance(std::chrono::seconds(1));
  EXPECT_EQ(memory.used(), 0u);
}

}  // namespace
}  // namespace weir::testing
