// The socket emulator driven the way a sandboxed program drives it: system-call requests in,
// answers out, and the stand-in fds used natively. The stack runs on its loopback link and a
// manual clock; the loop is turned by hand.
#include "sandbox/emulator.h"

#include <asm/ioctls.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "ipv4/ipv4.h"
#include "link/loopback.h"
#include "sandbox/sockaddr.h"
#include "stack/bytes.h"
#include "stack/loop.h"
#include "stack/nic.h"
#include "tcp/tcp.h"
#include "tests/sandbox/fake_tracee.h"
#include "udp/endpoint.h"
#include "udp/udp.h"

namespace weir::sandbox {
namespace {

using testing::Answer;
using testing::FakeTracee;

class EmulatorTest : public ::testing::Test {
 protected:
  EmulatorTest() : stack_(clock_, repeatable_stack_options(7)) {
    ipv4::install(stack_);
    udp::install(stack_);
    tcp::install(stack_);
    auto lo = link::LoopbackEndpoint::create();
    lo_ = lo->get();
    auto nic = stack_.add_nic(std::move(lo).value(), "lo");
    EXPECT_TRUE(stack_.add_address(*nic, IpPrefix::parse("127.0.0.1/8").value()));
    loop_ = std::make_unique<Loop>(stack_);
    EXPECT_TRUE(loop_->watch(*lo_));
    emulator_ = std::make_unique<Emulator>(stack_, *loop_, tracee_);
  }
  ~EmulatorTest() override {
    for (int fd : fds_) ::close(fd);
    emulator_.reset();
  }

  // Makes the call and returns its id (answered or parked).
  uint64_t call(int nr, std::initializer_list<uint64_t> args) {
    SyscallRequest req;
    req.id = next_id_++;
    req.tid = 1000 + static_cast<pid_t>(req.id % 7);
    req.nr = nr;
    size_t i = 0;
    for (uint64_t a : args) req.args[i++] = a;
    emulator_->handle(req);
    return req.id;
  }
  // Turns the loop (advancing the manual clock a little each time) until call id is answered.
  Answer wait(uint64_t id, int rounds = 200) {
    for (int i = 0; i < rounds; ++i) {
      if (auto a = tracee_.answer(id)) return *a;
      turn();
    }
    ADD_FAILURE() << "call " << id << " never answered";
    return Answer{false, -1, -1, -1};
  }
  void turn(int n = 1) {
    for (int i = 0; i < n; ++i) {
      clock_.advance(std::chrono::milliseconds(1));
      loop_->run_once(Duration::zero());
    }
  }
  bool answered(uint64_t id) const { return tracee_.answer(id).has_value(); }

  int socket(int domain, int type, int protocol = 0) {
    auto id = call(SYS_socket, {uint64_t(domain), uint64_t(type), uint64_t(protocol)});
    Answer a = wait(id);
    EXPECT_EQ(a.error, 0) << std::strerror(a.error);
    int fd = tracee_.take_fd(id);
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  uint64_t sockaddr_in_at(const char* ip, uint16_t port) {
    auto bytes = encode_inet(AF_INET, SocketAddress{IpAddress::parse(ip).value(), port});
    return tracee_.put(bytes);
  }
  Answer bind(int fd, const char* ip, uint16_t port) {
    return wait(call(SYS_bind, {uint64_t(fd), sockaddr_in_at(ip, port), kSockaddrInSize}));
  }
  Answer listen(int fd, int backlog = 16) {
    return wait(call(SYS_listen, {uint64_t(fd), uint64_t(backlog)}));
  }
  uint64_t connect(int fd, const char* ip, uint16_t port) {
    return call(SYS_connect, {uint64_t(fd), sockaddr_in_at(ip, port), kSockaddrInSize});
  }
  // accept4 with room for the address; returns the call id.
  uint64_t accept(int fd, uint64_t* addr_out = nullptr, int flags = 0) {
    uint64_t addr = tracee_.alloc(kSockaddrInSize);
    uint32_t len = kSockaddrInSize;
    uint64_t len_at = tracee_.put_value(len);
    if (addr_out) *addr_out = addr;
    return call(SYS_accept4, {uint64_t(fd), addr, len_at, uint64_t(flags)});
  }
  int take(uint64_t id) {
    int fd = tracee_.take_fd(id);
    if (fd >= 0) fds_.push_back(fd);
    return fd;
  }
  int getsockopt_int(int fd, int level, int name) {
    uint64_t val = tracee_.alloc(4);
    uint32_t len = 4;
    uint64_t len_at = tracee_.put_value(len);
    Answer a = wait(call(SYS_getsockopt, {uint64_t(fd), uint64_t(level), uint64_t(name), val, len_at}));
    EXPECT_EQ(a.error, 0);
    return tracee_.get_value<int>(val);
  }
  Answer setsockopt_int(int fd, int level, int name, int value) {
    uint64_t val = tracee_.put_value(value);
    return wait(call(SYS_setsockopt, {uint64_t(fd), uint64_t(level), uint64_t(name), val, 4}));
  }
  SocketAddress name_of(int fd, bool peer) {
    uint64_t addr = tracee_.alloc(kSockaddrInSize);
    uint32_t len = kSockaddrInSize;
    uint64_t len_at = tracee_.put_value(len);
    Answer a = wait(call(peer ? SYS_getpeername : SYS_getsockname, {uint64_t(fd), addr, len_at}));
    EXPECT_EQ(a.error, 0);
    auto decoded = decode_sockaddr(tracee_.get(addr, kSockaddrInSize));
    return decoded ? decoded->inet : SocketAddress{};
  }
  // Reads what arrives on a stand-in natively, turning the loop meanwhile.
  std::string read_native(int fd, size_t want) {
    std::string got;
    for (int i = 0; i < 500 && got.size() < want; ++i) {
      char buf[65536];
      ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        got.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0) break;
      turn();
    }
    return got;
  }
  // A connected pair of program sockets over the stack: {client, server side}.
  std::pair<int, int> connected_pair(uint16_t port) {
    int listener = socket(AF_INET, SOCK_STREAM);
    EXPECT_EQ(bind(listener, "127.0.0.1", port).error, 0);
    EXPECT_EQ(listen(listener).error, 0);
    int client = socket(AF_INET, SOCK_STREAM);
    Answer c = wait(connect(client, "127.0.0.1", port));
    EXPECT_EQ(c.error, 0);
    auto id = accept(listener);
    Answer a = wait(id);
    EXPECT_EQ(a.error, 0);
    return {client, take(id)};
  }

  ManualClock clock_;
  Stack stack_;
  link::LoopbackEndpoint* lo_ = nullptr;
  std::unique_ptr<Loop> loop_;
  FakeTracee tracee_;
  std::unique_ptr<Emulator> emulator_;
  uint64_t next_id_ = 1;
  std::vector<int> fds_;
};

TEST(ProcNetName, RecognisesEverySpellingOfTheNetworkFiles) {
  EXPECT_EQ(proc_net_name("/proc/net/tcp"), "tcp");
  EXPECT_EQ(proc_net_name("/proc/self/net/udp6"), "udp6");
  EXPECT_EQ(proc_net_name("/proc/thread-self/net/dev"), "dev");
  EXPECT_EQ(proc_net_name("/proc/42/net/tcp6"), "tcp6");
  EXPECT_EQ(proc_net_name("/proc/42/task/43/net/route"), "route");
  EXPECT_EQ(proc_net_name("//proc/./net//tcp"), "tcp");
  EXPECT_EQ(proc_net_name("/proc/net"), std::nullopt);
  EXPECT_EQ(proc_net_name("/proc/self/status"), std::nullopt);
  EXPECT_EQ(proc_net_name("/proc/net/stat/rt_cache"), std::nullopt);
  EXPECT_EQ(proc_net_name("/etc/passwd"), std::nullopt);
  EXPECT_EQ(proc_net_name("proc/net/tcp"), std::nullopt);
  EXPECT_EQ(proc_net_name(""), std::nullopt);
}

// The counters /proc/net/snmp and netstat show are the stack's, under Linux's names, and only
// the ones that have a Linux name.
TEST_F(EmulatorTest, SnapshotCarriesTheStackCountersUnderLinuxNames) {
  auto sender = udp::Endpoint::create(stack_, AddressFamily::kIpv4).value();
  ASSERT_TRUE(
      sender->send_to(as_bytes("x"), SocketAddress{IpAddress(Ipv4Address(127, 0, 0, 1)), 9}));
  turn(3);
  uint64_t ip_out = 0;
  uint64_t ip_in = 0;
  stack_.counters().for_each([&](std::string_view group, std::string_view name, uint64_t v) {
    if (group == "ipv4" && name == "tx_packets") ip_out += v;
    if (group == "ipv4" && name == "rx_packets") ip_in += v;
  });
  ASSERT_GT(ip_out, 0u);
  const NetState state = emulator_->snapshot();
  EXPECT_EQ(state.counters.at("Udp:OutDatagrams"), 1u);
  EXPECT_EQ(state.counters.at("Udp:NoPorts"), 1u);
  EXPECT_EQ(state.counters.at("Udp:InDatagrams"), 0u);
  EXPECT_EQ(state.counters.at("Ip:OutRequests"), ip_out);
  EXPECT_EQ(state.counters.at("Ip:InReceives"), ip_in);
  EXPECT_EQ(state.counters.at("Tcp:ActiveOpens"), 0u);
  EXPECT_EQ(state.counters.count("Udp:sent"), 0u);
  // Ip: 10, Tcp: 14, Udp: 5 (every mapped counter exists in the stack, so each is listed).
  EXPECT_EQ(state.counters.size(), 29u);
}

TEST_F(EmulatorTest, SocketInstallsAStandIn) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
  ASSERT_GE(fd, 0);
  int domain = 0;
  socklen_t len = sizeof domain;
  // The program holds an AF_UNIX socket; its flags are the ones it asked for.
  ASSERT_EQ(::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len), 0);
  EXPECT_EQ(domain, AF_UNIX);
  EXPECT_TRUE(::fcntl(fd, F_GETFL) & O_NONBLOCK);
  // ... but the emulator answers as the TCP socket it stands for.
  EXPECT_EQ(getsockopt_int(fd, SOL_SOCKET, SO_DOMAIN), AF_INET);
  EXPECT_EQ(getsockopt_int(fd, SOL_SOCKET, SO_TYPE), SOCK_STREAM);
  EXPECT_EQ(getsockopt_int(fd, SOL_SOCKET, SO_PROTOCOL), IPPROTO_TCP);
  EXPECT_EQ(emulator_->counters().sockets_created, 1u);
}

// A stand-in blocks, or not, as the program asked in socket() and accept4(): the program's own
// reads and writes on it run natively and must block exactly when the real socket would.
TEST_F(EmulatorTest, StandInsBlockAsAskedFor) {
  const auto nonblocking = [](int fd) { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; };
  int listener = socket(AF_INET, SOCK_STREAM);
  EXPECT_FALSE(nonblocking(listener));
  EXPECT_FALSE(nonblocking(socket(AF_INET, SOCK_DGRAM)));
  EXPECT_TRUE(nonblocking(socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK)));
  ASSERT_EQ(bind(listener, "127.0.0.1", 8081).error, 0);
  ASSERT_EQ(listen(listener).error, 0);
  for (int flags : {0, int{SOCK_NONBLOCK}}) {
    int client = socket(AF_INET, SOCK_STREAM);
    ASSERT_EQ(wait(connect(client, "127.0.0.1", 8081)).error, 0);
    auto id = accept(listener, nullptr, flags);
    ASSERT_EQ(wait(id).error, 0);
    EXPECT_EQ(nonblocking(take(id)), flags != 0);
  }
}

TEST_F(EmulatorTest, RefusesWhatTheStackDoesNotServe) {
  struct Case {
    int domain, type, protocol, error;
  };
  for (Case c : {Case{AF_PACKET, SOCK_RAW, 0, EPERM}, Case{AF_INET, SOCK_RAW, IPPROTO_TCP, EPERM},
                 Case{AF_INET, SOCK_DGRAM, IPPROTO_ICMP, EACCES},
                 Case{AF_INET, SOCK_STREAM, 132 /* SCTP */, EPROTONOSUPPORT},
                 Case{AF_NETLINK, SOCK_RAW, 16 /* NETLINK_GENERIC */, EPROTONOSUPPORT},
                 Case{AF_BLUETOOTH, SOCK_STREAM, 0, EAFNOSUPPORT},
                 Case{AF_INET, SOCK_STREAM | 0x100000, 0, EINVAL}}) {
    Answer a = wait(call(SYS_socket, {uint64_t(c.domain), uint64_t(c.type), uint64_t(c.protocol)}));
    EXPECT_EQ(a.error, c.error) << c.domain << "/" << c.type << "/" << c.protocol;
  }
}

TEST_F(EmulatorTest, CallsOnForeignFdsGoToTheKernel) {
  int pipefd[2];
  ASSERT_EQ(::pipe(pipefd), 0);
  fds_.push_back(pipefd[0]);
  fds_.push_back(pipefd[1]);
  Answer a = wait(call(SYS_getsockname, {uint64_t(pipefd[0]), tracee_.alloc(16), tracee_.alloc(4)}));
  EXPECT_TRUE(a.continued);
  Answer b = wait(call(SYS_connect, {9999, tracee_.alloc(16), 16}));  // no such fd: EBADF
  EXPECT_TRUE(b.continued);
}

TEST_F(EmulatorTest, TcpConnectAcceptAndDataBothWays) {
  int listener = socket(AF_INET, SOCK_STREAM);
  ASSERT_EQ(bind(listener, "127.0.0.1", 8080).error, 0);
  ASSERT_EQ(listen(listener).error, 0);
  int client = socket(AF_INET, SOCK_STREAM);
  Answer connected = wait(connect(client, "127.0.0.1", 8080));  // blocking: parked, then 0
  ASSERT_EQ(connected.error, 0);

  uint64_t peer_addr = 0;
  auto id = accept(listener, &peer_addr, SOCK_CLOEXEC);
  Answer accepted = wait(id);
  ASSERT_EQ(accepted.error, 0);
  int server = take(id);
  EXPECT_TRUE(::fcntl(server, F_GETFD) & FD_CLOEXEC);
  auto peer = decode_sockaddr(tracee_.get(peer_addr, kSockaddrInSize));
  ASSERT_TRUE(peer);
  EXPECT_EQ(peer->inet, name_of(client, false));
  EXPECT_EQ(name_of(client, true), (SocketAddress{IpAddress::parse("127.0.0.1").value(), 8080}));

  ASSERT_EQ(::send(client, "hello", 5, 0), 5);
  EXPECT_EQ(read_native(server, 5), "hello");
  ASSERT_EQ(::send(server, "world!", 6, 0), 6);
  EXPECT_EQ(read_native(client, 6), "world!");

  // close() is seen without a trapped close: the other side reads EOF.
  ::close(client);
  fds_.erase(std::find(fds_.begin(), fds_.end(), client));
  EXPECT_EQ(read_native(server, 1), "");
  char c;
  EXPECT_EQ(::recv(server, &c, 1, MSG_DONTWAIT), 0);
}

TEST_F(EmulatorTest, BulkTransferKeepsEveryByteInOrder) {
  auto [client, server] = connected_pair(9000);
  ASSERT_GE(server, 0);
  std::string sent;
  for (int i = 0; i < 3 << 20; ++i) sent.push_back(static_cast<char>((i * 7 + i / 251) & 0xff));
  size_t off = 0;
  std::string got;
  ::fcntl(client, F_SETFL, O_NONBLOCK);
  for (int round = 0; round < 20000 && got.size() < sent.size(); ++round) {
    if (off < sent.size()) {
      ssize_t n = ::send(client, sent.data() + off, sent.size() - off, MSG_DONTWAIT);
      if (n > 0) off += static_cast<size_t>(n);
      if (off == sent.size()) ::shutdown(client, SHUT_WR);
    }
    char buf[65536];
    ssize_t n = ::recv(server, buf, sizeof buf, MSG_DONTWAIT);
    if (n > 0) got.append(buf, static_cast<size_t>(n));
    turn();
  }
  EXPECT_EQ(got.size(), sent.size());
  EXPECT_TRUE(got == sent);
}

TEST_F(EmulatorTest, NonBlockingConnectParksSoErrorUntilTheHandshakeEnds) {
  int listener = socket(AF_INET, SOCK_STREAM);
  ASSERT_EQ(bind(listener, "127.0.0.1", 7000).error, 0);
  ASSERT_EQ(listen(listener).error, 0);
  int client = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
  EXPECT_EQ(wait(connect(client, "127.0.0.1", 7000)).error, EINPROGRESS);
  EXPECT_EQ(wait(connect(client, "127.0.0.1", 7000)).error, EALREADY);
  EXPECT_EQ(getsockopt_int(client, SOL_SOCKET, SO_ERROR), 0);  // parked, then answered
  EXPECT_EQ(wait(connect(client, "127.0.0.1", 7000)).error, EISCONN);
}

TEST_F(EmulatorTest, ConnectToAClosedPortIsRefused) {
  int blocking = socket(AF_INET, SOCK_STREAM);
  EXPECT_EQ(wait(connect(blocking, "127.0.0.1", 7001)).error, ECONNREFUSED);
  int nonblocking = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
  EXPECT_EQ(wait(connect(nonblocking, "127.0.0.1", 7001)).error, EINPROGRESS);
  EXPECT_EQ(getsockopt_int(nonblocking, SOL_SOCKET, SO_ERROR), ECONNREFUSED);
  EXPECT_EQ(getsockopt_int(nonblocking, SOL_SOCKET, SO_ERROR), 0);  // read once, as on Linux
}

TEST_F(EmulatorTest, ListenerIsReadableThroughTokensAndAcceptTakesThemBack) {
  int listener = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK);
  ASSERT_EQ(bind(listener, "127.0.0.1", 7002).error, 0);
  ASSERT_EQ(listen(listener).error, 0);
  EXPECT_EQ(wait(accept(listener)).error, EAGAIN);
  int c1 = socket(AF_INET, SOCK_STREAM);
  int c2 = socket(AF_INET, SOCK_STREAM);
  ASSERT_EQ(wait(connect(c1, "127.0.0.1", 7002)).error, 0);
  ASSERT_EQ(wait(connect(c2, "127.0.0.1", 7002)).error, 0);
  turn(5);
  pollfd p{listener, POLLIN, 0};
  ASSERT_EQ(::poll(&p, 1, 0), 1);  // natively readable
  EXPECT_EQ(wait(accept(listener)).error, 0);
  ASSERT_EQ(::poll(&p, 1, 0), 1);
  EXPECT_EQ(wait(accept(listener)).error, 0);
  EXPECT_EQ(::poll(&p, 1, 0), 0);  // both tokens taken back
  EXPECT_EQ(wait(accept(listener)).error, EAGAIN);
}

TEST_F(EmulatorTest, InterruptedAcceptLeavesTheConnectionForTheNextOne) {
  int listener = socket(AF_INET, SOCK_STREAM);
  ASSERT_EQ(bind(listener, "127.0.0.1", 7003).error, 0);
  ASSERT_EQ(listen(listener).error, 0);
  auto blocked = accept(listener);
  turn(3);
  EXPECT_FALSE(answered(blocked));  // parked
  tracee_.interrupt(blocked);       // a signal without SA_RESTART: the kernel answered EINTR
  int client = socket(AF_INET, SOCK_STREAM);
  ASSERT_EQ(wait(connect(client, "127.0.0.1", 7003)).error, 0);
  turn(5);
  EXPECT_FALSE(answered(blocked));
  auto again = accept(listener);
  EXPECT_EQ(wait(again).error, 0);  // the connection was not lost with the interrupted call
  EXPECT_GE(take(again), 0);
}

TEST_F(EmulatorTest, ReceiveTimeoutEndsABlockedAccept) {
  int listener = socket(AF_INET, SOCK_STREAM);
  ASSERT_EQ(bind(listener, "127.0.0.1", 7004).error, 0);
  ASSERT_EQ(listen(listener).error, 0);
  // struct timeval {1 s, 0}
  std::array<int64_t, 2> tv{1, 0};
  uint64_t tv_at = tracee_.put_value(tv);
  ASSERT_EQ(wait(call(SYS_setsockopt, {uint64_t(listener), SOL_SOCKET, SO_RCVTIMEO_OLD, tv_at, 16})).error,
            0);
  auto id = accept(listener);
  turn(500);
  EXPECT_FALSE(answered(id));
  Answer a = wait(id, 2000);
  EXPECT_EQ(a.error, EAGAIN);
}

TEST_F(EmulatorTest, PeerResetReachesTheProgramAsEconnreset) {
  auto [client, server] = connected_pair(7005);
  ASSERT_GE(server, 0);
  // The client aborts (SO_LINGER 0, close): RST.
  std::array<int32_t, 2> linger{1, 0};
  ASSERT_EQ(wait(call(SYS_setsockopt, {uint64_t(client), SOL_SOCKET, SO_LINGER,
                                       tracee_.put_value(linger), 8}))
                .error,
            0);
  ::close(client);
  fds_.erase(std::find(fds_.begin(), fds_.end(), client));
  turn(20);
  char c;
  errno = 0;
  ssize_t n = ::recv(server, &c, 1, MSG_DONTWAIT);
  EXPECT_EQ(n, -1);
  EXPECT_EQ(errno, ECONNRESET);
  EXPECT_EQ(getsockopt_int(server, SOL_SOCKET, SO_ERROR), ECONNRESET);
}

TEST_F(EmulatorTest, OptionsReadBackAsLinuxReportsThem) {
  int fd = socket(AF_INET, SOCK_STREAM);
  EXPECT_EQ(setsockopt_int(fd, IPPROTO_TCP, TCP_NODELAY, 1).error, 0);
  EXPECT_EQ(getsockopt_int(fd, IPPROTO_TCP, TCP_NODELAY), 1);
  EXPECT_EQ(setsockopt_int(fd, SOL_SOCKET, SO_RCVBUF, 65536).error, 0);
  EXPECT_EQ(getsockopt_int(fd, SOL_SOCKET, SO_RCVBUF), 131072);  // Linux doubles it
  EXPECT_EQ(setsockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE, 1).error, 0);
  EXPECT_EQ(getsockopt_int(fd, SOL_SOCKET, SO_KEEPALIVE), 1);
  EXPECT_EQ(setsockopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE, 30).error, 0);
  EXPECT_EQ(getsockopt_int(fd, IPPROTO_TCP, TCP_KEEPIDLE), 30);
  EXPECT_EQ(setsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR, 1).error, 0);
  EXPECT_EQ(getsockopt_int(fd, SOL_SOCKET, SO_REUSEADDR), 1);
  // Acted on by the stack (the connection ends when data stays unacknowledged that long).
  EXPECT_EQ(setsockopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, 30000).error, 0);
  EXPECT_EQ(getsockopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 30000);
  EXPECT_EQ(setsockopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, -1).error, EINVAL);
  EXPECT_EQ(getsockopt_int(fd, IPPROTO_TCP, TCP_USER_TIMEOUT), 30000);
  EXPECT_EQ(getsockopt_int(fd, IPPROTO_TCP, TCP_SYNCNT), 6);
  EXPECT_EQ(setsockopt_int(fd, IPPROTO_TCP, TCP_SYNCNT, 3).error, 0);
  EXPECT_EQ(getsockopt_int(fd, IPPROTO_TCP, TCP_SYNCNT), 3);
  EXPECT_EQ(setsockopt_int(fd, IPPROTO_TCP, TCP_SYNCNT, 200).error, EINVAL);
  EXPECT_EQ(getsockopt_int(fd, IPPROTO_TCP, TCP_LINGER2), 60);
  EXPECT_EQ(setsockopt_int(fd, IPPROTO_TCP, TCP_LINGER2, -1).error, 0);
  EXPECT_EQ(getsockopt_int(fd, IPPROTO_TCP, TCP_LINGER2), -1);
  EXPECT_EQ(setsockopt_int(fd, SOL_SOCKET, 9999, 1).error, ENOPROTOOPT);
  EXPECT_EQ(getsockopt_int(fd, SOL_SOCKET, SO_ACCEPTCONN), 0);
}

TEST_F(EmulatorTest, TcpInfoOfAConnectedSocket) {
  auto [client, server] = connected_pair(7006);
  uint64_t info = tracee_.alloc(sizeof(struct tcp_info));
  uint32_t len = sizeof(struct tcp_info);
  uint64_t len_at = tracee_.put_value(len);
  ASSERT_EQ(wait(call(SYS_getsockopt, {uint64_t(client), IPPROTO_TCP, TCP_INFO, info, len_at})).error, 0);
  auto bytes = tracee_.get(info, 1);
  EXPECT_EQ(std::to_integer<int>(bytes[0]), 1);  // TCP_ESTABLISHED
  // A short buffer gets the prefix, and the length written back says so.
  uint32_t short_len = 8;
  uint64_t short_at = tracee_.put_value(short_len);
  ASSERT_EQ(wait(call(SYS_getsockopt, {uint64_t(server), IPPROTO_TCP, TCP_INFO, info, short_at})).error, 0);
  EXPECT_EQ(tracee_.get_value<uint32_t>(short_at), 8u);
}

TEST_F(EmulatorTest, BadPointersGetEfault) {
  int fd = socket(AF_INET, SOCK_STREAM);
  Answer a = wait(call(SYS_connect, {uint64_t(fd), 0x10, kSockaddrInSize}));
  EXPECT_EQ(a.error, EFAULT);
  Answer b = wait(call(SYS_bind, {uint64_t(fd), tracee_.alloc(16), 4}));  // too short
  EXPECT_EQ(b.error, EINVAL);
}

TEST_F(EmulatorTest, ProgramMemoryIsReadOncePerCall) {
  int listener = socket(AF_INET, SOCK_STREAM);
  ASSERT_EQ(bind(listener, "127.0.0.1", 7007).error, 0);
  ASSERT_EQ(listen(listener).error, 0);
  int client = socket(AF_INET, SOCK_STREAM);
  uint64_t addr = sockaddr_in_at("127.0.0.1", 7007);
  auto id = call(SYS_connect, {uint64_t(client), addr, kSockaddrInSize});
  EXPECT_EQ(wait(id).error, 0);
  EXPECT_EQ(tracee_.reads_of(id, addr), 1u);
}

TEST_F(EmulatorTest, UdpReceiveReportsEachSendersAddress) {
  int server = socket(AF_INET, SOCK_DGRAM);
  ASSERT_EQ(bind(server, "127.0.0.1", 5300).error, 0);
  int a = socket(AF_INET, SOCK_DGRAM);
  int b = socket(AF_INET, SOCK_DGRAM);
  uint64_t to = sockaddr_in_at("127.0.0.1", 5300);
  uint64_t msg_a = tracee_.put(as_bytes("from-a"));
  uint64_t msg_b = tracee_.put(as_bytes("from-b, longer"));
  ASSERT_EQ(wait(call(SYS_sendto, {uint64_t(a), msg_a, 6, 0, to, kSockaddrInSize})).value, 6);
  ASSERT_EQ(wait(call(SYS_sendto, {uint64_t(b), msg_b, 14, 0, to, kSockaddrInSize})).value, 14);
  turn(5);
  // Unconnected senders are bound to the wildcard (getsockname says 0.0.0.0, as on Linux);
  // their datagrams come from the address the route chose.
  const IpAddress loopback = IpAddress::parse("127.0.0.1").value();
  SocketAddress a_name{loopback, name_of(a, false).port};
  SocketAddress b_name{loopback, name_of(b, false).port};
  EXPECT_TRUE(name_of(a, false).address.is_unspecified());

  auto recvfrom = [&](int flags, size_t room) {
    uint64_t buf = tracee_.alloc(room);
    uint64_t from = tracee_.alloc(kSockaddrInSize);
    uint32_t len = kSockaddrInSize;
    uint64_t len_at = tracee_.put_value(len);
    Answer r = wait(call(SYS_recvfrom, {uint64_t(server), buf, room, uint64_t(flags), from, len_at}));
    auto addr = decode_sockaddr(tracee_.get(from, kSockaddrInSize));
    std::string data;
    for (std::byte x : tracee_.get(buf, std::min<size_t>(room, r.value > 0 ? r.value : 0))) {
      data.push_back(static_cast<char>(x));
    }
    return std::make_tuple(r, addr ? addr->inet : SocketAddress{}, data);
  };
  auto [peeked, peek_from, peek_data] = recvfrom(MSG_PEEK, 64);
  EXPECT_EQ(peeked.value, 6);
  EXPECT_EQ(peek_from, a_name);
  auto [first, first_from, first_data] = recvfrom(0, 64);
  EXPECT_EQ(first_data, "from-a");
  EXPECT_EQ(first_from, a_name);
  // Truncated to 4 bytes; MSG_TRUNC reports the real length.
  auto [second, second_from, second_data] = recvfrom(MSG_TRUNC, 4);
  EXPECT_EQ(second.value, 14);
  EXPECT_EQ(second_data, "from");
  EXPECT_EQ(second_from, b_name);
  auto [none, none_from, none_data] = recvfrom(MSG_DONTWAIT, 64);
  EXPECT_EQ(none.error, EAGAIN);
}

TEST_F(EmulatorTest, ConnectedUdpRunsNatively) {
  int server = socket(AF_INET, SOCK_DGRAM);
  ASSERT_EQ(bind(server, "127.0.0.1", 5301).error, 0);
  int client = socket(AF_INET, SOCK_DGRAM);
  ASSERT_EQ(wait(connect(client, "127.0.0.1", 5301)).error, 0);
  ASSERT_EQ(::send(client, "q1", 2, 0), 2);  // a plain send: never trapped
  ASSERT_EQ(::send(client, "q22", 3, 0), 3);
  std::string got = read_native(server, 5);
  EXPECT_EQ(got, "q1q22");
  // Each datagram on its own: two reads happened (boundaries kept), checked by the sizes.
}

TEST_F(EmulatorTest, FionreadAndOutqOnAConnectedSocket) {
  auto [client, server] = connected_pair(7008);
  ASSERT_EQ(::send(client, "12345", 5, 0), 5);
  for (int i = 0; i < 50; ++i) {
    int avail = 0;
    if (::ioctl(server, FIONREAD, &avail) == 0 && avail == 5) break;
    turn();
  }
  uint64_t out = tracee_.alloc(4);
  ASSERT_EQ(wait(call(SYS_ioctl, {uint64_t(server), FIONREAD, out})).error, 0);
  EXPECT_EQ(tracee_.get_value<int>(out), 5);
  ASSERT_EQ(wait(call(SYS_ioctl, {uint64_t(client), TIOCOUTQ, out})).error, 0);
  EXPECT_GE(tracee_.get_value<int>(out), 0);
}

}  // namespace
}  // namespace weir::sandbox
