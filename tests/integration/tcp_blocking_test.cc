// The blocking facade: client and server threads over loopback, the stack on a Loop thread.
#include <gtest/gtest.h>

#include <thread>

#include "ipv4/ipv4.h"
#include "link/loopback.h"
#include "stack/loop.h"
#include "tcp/blocking.h"
#include "tcp/tcp.h"

namespace weir::tcp {
namespace {

// One stack on loopback (127.0.0.1/8), driven by a Loop on a thread of its own; the tests'
// threads use it through the blocking facade.
class TcpBlocking : public ::testing::Test {
 protected:
  void SetUp() override {
    ipv4::install(stack);
    install(stack);
    auto lo = link::LoopbackEndpoint::create();
    ASSERT_TRUE(lo.ok());
    NicId nic = stack.add_nic(std::move(*lo), "lo").value();
    ASSERT_TRUE(stack.add_address(nic, IpPrefix{Ipv4Address(127, 0, 0, 1), 8}).ok());
    ASSERT_TRUE(loop.watch(stack.nic(nic)->endpoint()).ok());
    loop_thread = std::thread([&] { loop.run(); });
  }
  void TearDown() override {
    loop.stop();
    if (loop_thread.joinable()) loop_thread.join();
  }

  SteadyClock clock;
  Stack stack{clock, repeatable_stack_options(3)};
  Loop loop{stack};
  std::thread loop_thread;
};

TEST_F(TcpBlocking, EchoOverLoopback) {

  const SocketAddress server_addr{Ipv4Address(127, 0, 0, 1), 7007};
  std::vector<std::byte> payload(1 << 20);
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = std::byte(static_cast<uint8_t>(i * 13));

  {
    auto listener = BlockingSocket::create(loop, stack, AddressFamily::kIpv4);
    ASSERT_TRUE(listener.ok());
    ASSERT_TRUE((*listener)->bind(server_addr).ok());
    ASSERT_TRUE((*listener)->listen(4).ok());

    std::thread server([&] {
      auto conn = (*listener)->accept();
      ASSERT_TRUE(conn.ok());
      std::vector<std::byte> buf(16384);
      for (;;) {
        auto n = (*conn)->read(buf);
        ASSERT_TRUE(n.ok());
        if (*n == 0) break;
        ASSERT_EQ(*(*conn)->write(ByteView(buf).first(*n)), *n);
      }
      ASSERT_TRUE((*conn)->shutdown(ShutdownHow::kWrite).ok());
    });

    auto client = BlockingSocket::create(loop, stack, AddressFamily::kIpv4);
    ASSERT_TRUE(client.ok());
    ASSERT_TRUE((*client)->connect(server_addr).ok());
    std::vector<std::byte> echoed;
    std::thread reader([&] {
      std::vector<std::byte> buf(16384);
      for (;;) {
        auto n = (*client)->read(buf);
        ASSERT_TRUE(n.ok());
        if (*n == 0) break;
        echoed.insert(echoed.end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(*n));
      }
    });
    ASSERT_EQ(*(*client)->write(payload), payload.size());
    ASSERT_TRUE((*client)->shutdown(ShutdownHow::kWrite).ok());
    reader.join();
    server.join();
    EXPECT_EQ(echoed, payload);
    // Refused: nobody listens on this port.
    auto other = BlockingSocket::create(loop, stack, AddressFamily::kIpv4);
    auto st = (*other)->connect(SocketAddress{Ipv4Address(127, 0, 0, 1), 7008});
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.error(), Error::kConnectionRefused);
  }
}

// close() from another thread ends a blocked accept() and a blocked read() with the error the
// closed endpoint gives (no longer listening, no longer connected): nothing waits forever.
TEST_F(TcpBlocking, CloseWakesBlockedAcceptAndRead) {
  {
    const SocketAddress server_addr{Ipv4Address(127, 0, 0, 1), 7010};
    auto listener = BlockingSocket::create(loop, stack, AddressFamily::kIpv4);
    ASSERT_TRUE(listener.ok());
    ASSERT_TRUE((*listener)->bind(server_addr).ok());
    ASSERT_TRUE((*listener)->listen(4).ok());
    // Waits (on the loop thread's state, not on time) until the socket has a waiter armed.
    auto until_armed = [](BlockingSocket& s) {
      while (s.with_endpoint<bool>([](Endpoint& e) { return e.waiters().empty(); })) {
        std::this_thread::yield();
      }
    };

    Result<std::unique_ptr<BlockingSocket>> accepted = Error::kWouldBlock;
    std::thread acceptor([&] { accepted = (*listener)->accept(); });
    until_armed(**listener);
    (*listener)->close();
    acceptor.join();
    ASSERT_FALSE(accepted.ok());
    EXPECT_EQ(accepted.error(), Error::kInvalidArgument);

    auto server = BlockingSocket::create(loop, stack, AddressFamily::kIpv4);
    ASSERT_TRUE((*server)->bind({Ipv4Address(127, 0, 0, 1), 7011}).ok());
    ASSERT_TRUE((*server)->listen(4).ok());
    auto client = BlockingSocket::create(loop, stack, AddressFamily::kIpv4);
    ASSERT_TRUE((*client)->connect({Ipv4Address(127, 0, 0, 1), 7011}).ok());
    Result<size_t> got = Error::kWouldBlock;
    std::thread reader([&] {
      std::vector<std::byte> buf(64);
      got = (*client)->read(buf);
    });
    until_armed(**client);
    (*client)->close();
    reader.join();
    ASSERT_FALSE(got.ok());
    EXPECT_EQ(got.error(), Error::kNotConnected);
  }
}

}  // namespace
}  // namespace weir::tcp
