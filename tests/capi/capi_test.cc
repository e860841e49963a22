// The C API (<weir/weir.h>): every call, through the API alone. Two stacks joined by packet
// queue NICs (the embedder moves the packets) exchange TCP and UDP driven by weir_stack_poll;
// bad arguments are -EINVAL and never crash; closed and foreign handles are -EBADF.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <weir/weir.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <functional>
#include <string>
#include <thread>
#include <vector>

extern "C" int weir_capi_c_client(void);

namespace {

using ::testing::HasSubstr;

std::string format(const weir_sockaddr& a, bool with_port = true) {
  char buf[WEIR_ADDRSTRLEN];
  if (weir_addr_format(&a, with_port ? 1 : 0, buf, sizeof buf) < 0) return "?";
  return buf;
}

weir_sockaddr addr(const char* text) {
  weir_sockaddr a{};
  EXPECT_EQ(weir_addr_parse(text, &a), 0) << text;
  return a;
}

bool fd_readable(int fd) {
  pollfd p{fd, POLLIN, 0};
  return poll(&p, 1, 0) == 1 && (p.revents & POLLIN) != 0;
}

struct StackDeleter {
  void operator()(weir_stack* s) const { weir_stack_free(s); }
};
using StackPtr = std::unique_ptr<weir_stack, StackDeleter>;

StackPtr make_stack(uint64_t seed, bool ipv6 = true) {
  weir_stack_options o;
  weir_stack_options_init(&o);
  o.repeatable = 1;
  o.seed = seed;
  o.ipv6 = ipv6 ? 1 : 0;
  weir_stack* s = nullptr;
  EXPECT_EQ(weir_stack_new(&o, &s), 0);
  return StackPtr(s);
}

// Two stacks on one Ethernet segment made of packet queues: 10.98.0.1 (a) and 10.98.0.2 (b),
// fd98::1 and fd98::2. pump() is the wire.
class TwoStacks : public ::testing::Test {
 protected:
  void SetUp() override { build(WEIR_FRAMING_ETHERNET); }

  void build(int framing) {
    a_ = make_stack(1);
    b_ = make_stack(2);
    a = a_.get();
    b = b_.get();
    ASSERT_EQ(weir_stack_add_packet_queue(a, "q0", framing, 1500, &na), 0);
    ASSERT_EQ(weir_stack_add_packet_queue(b, "q0", framing, 1500, &nb), 0);
    ASSERT_EQ(weir_stack_add_address(a, na, "10.98.0.1/24"), 0);
    ASSERT_EQ(weir_stack_add_address(b, nb, "10.98.0.2/24"), 0);
    ASSERT_EQ(weir_stack_add_address(a, na, "fd98::1/64"), 0);
    ASSERT_EQ(weir_stack_add_address(b, nb, "fd98::2/64"), 0);
  }

  // Moves what each side sent to the other and polls both; returns the packets moved.
  int pump() {
    int moved = move(a, na, b, nb) + move(b, nb, a, na);
    EXPECT_GE(weir_stack_poll(a, 0, nullptr), 0);
    EXPECT_GE(weir_stack_poll(b, 0, nullptr), 0);
    return moved;
  }
  static int move(weir_stack* from, weir_nic f, weir_stack* to, weir_nic t) {
    std::vector<unsigned char> packet(65536);
    int moved = 0;
    for (;;) {
      const ssize_t n = weir_packet_queue_take(from, f, packet.data(), packet.size());
      if (n < 0) {
        EXPECT_EQ(n, -EAGAIN);
        return moved;
      }
      EXPECT_EQ(weir_packet_queue_inject(to, t, packet.data(), static_cast<size_t>(n)), 0);
      ++moved;
    }
  }
  bool pump_until(const std::function<bool()>& done, int rounds = 200) {
    for (int i = 0; i < rounds; ++i) {
      if (done()) return true;
      pump();
    }
    return done();
  }

  // A listener on b at port, a client on a connected to it, and the accepted server socket.
  void connect_pair(const char* family_addr, uint16_t port, weir_socket* client,
                    weir_socket* server, weir_socket* listener) {
    const bool v6 = std::strchr(family_addr, ':') != nullptr;
    const int family = v6 ? WEIR_AF_INET6 : WEIR_AF_INET;
    ASSERT_EQ(weir_tcp_socket(b, family, listener), 0);
    weir_sockaddr any{};
    any.family = static_cast<uint16_t>(family);
    any.port = port;
    ASSERT_EQ(weir_socket_bind(b, *listener, &any), 0);
    ASSERT_EQ(weir_tcp_listen(b, *listener, 16), 0);
    ASSERT_EQ(weir_tcp_socket(a, family, client), 0);
    weir_sockaddr to = addr(family_addr);
    to.port = port;
    ASSERT_EQ(weir_socket_connect(a, *client, &to), -EINPROGRESS);
    ASSERT_TRUE(pump_until([&] { return weir_socket_events(a, *client) & WEIR_EV_WRITABLE; }));
    ASSERT_TRUE(pump_until([&] { return weir_socket_events(b, *listener) & WEIR_EV_READABLE; }));
    ASSERT_EQ(weir_tcp_accept(b, *listener, server, nullptr), 0);
  }

  StackPtr a_, b_;
  weir_stack* a = nullptr;
  weir_stack* b = nullptr;
  weir_nic na = 0, nb = 0;
};

// ---- basics ----------------------------------------------------------------------------------

TEST(CapiBasics, VersionClockAndTimeouts) {
  EXPECT_STREQ(weir_version(), "0.1.0");
  const uint64_t t0 = weir_now_ns();
  const uint64_t t1 = weir_now_ns();
  EXPECT_GT(t0, 0u);
  EXPECT_GE(t1, t0);
  EXPECT_EQ(weir_timeout_ms(UINT64_MAX), -1);
  EXPECT_EQ(weir_timeout_ms(0), 0);
  EXPECT_EQ(weir_timeout_ms(t0), 0);
  const int ms = weir_timeout_ms(weir_now_ns() + 1'500'000);
  EXPECT_GE(ms, 1);
  EXPECT_LE(ms, 2);
  EXPECT_EQ(weir_timeout_ms(UINT64_MAX - 1), INT32_MAX);
}

TEST(CapiBasics, AddressesParseAndFormat) {
  weir_sockaddr a{};
  ASSERT_EQ(weir_addr_parse("10.0.0.1:80", &a), 0);
  EXPECT_EQ(a.family, WEIR_AF_INET);
  EXPECT_EQ(a.port, 80);
  EXPECT_EQ(a.addr[0], 10);
  EXPECT_EQ(a.addr[3], 1);
  EXPECT_EQ(format(a), "10.0.0.1:80");
  EXPECT_EQ(format(a, false), "10.0.0.1");
  ASSERT_EQ(weir_addr_parse("10.0.0.1", &a), 0);
  EXPECT_EQ(a.port, 0);
  ASSERT_EQ(weir_addr_parse("[fd00::1]:443", &a), 0);
  EXPECT_EQ(a.family, WEIR_AF_INET6);
  EXPECT_EQ(a.port, 443);
  EXPECT_EQ(a.addr[0], 0xfd);
  EXPECT_EQ(a.addr[15], 1);
  EXPECT_EQ(format(a), "[fd00::1]:443");
  EXPECT_EQ(format(a, false), "fd00::1");
  ASSERT_EQ(weir_addr_parse("fd00::2", &a), 0);
  EXPECT_EQ(a.port, 0);
  ASSERT_EQ(weir_addr_parse("[::1]", &a), 0);
  EXPECT_EQ(format(a), "[::1]:0");

  for (const char* bad :
       {"", "10.0.0", "10.0.0.1:", "10.0.0.1:65536", "10.0.0.1:-1", "[10.0.0.1]:1", "[fd00::1",
        "[fd00::1]x", "[fd00::1]:", "fd00::1:80:", "host:80", "1.2.3.4:8a", "::g"}) {
    EXPECT_EQ(weir_addr_parse(bad, &a), -EINVAL) << bad;
  }
  EXPECT_EQ(weir_addr_parse(nullptr, &a), -EINVAL);
  EXPECT_EQ(weir_addr_parse("10.0.0.1", nullptr), -EINVAL);

  ASSERT_EQ(weir_addr_parse("10.0.0.1:80", &a), 0);
  char small[4] = "xyz";
  EXPECT_EQ(weir_addr_format(&a, 1, small, sizeof small), -ENOSPC);
  EXPECT_STREQ(small, "");
  char exact[12];
  EXPECT_EQ(weir_addr_format(&a, 1, exact, sizeof exact), 11);
  EXPECT_EQ(weir_addr_format(&a, 1, exact, 11), -ENOSPC);
  EXPECT_EQ(weir_addr_format(nullptr, 1, exact, sizeof exact), -EINVAL);
  EXPECT_EQ(weir_addr_format(&a, 1, nullptr, 5), -EINVAL);
  weir_sockaddr bad_family = a;
  bad_family.family = 3;
  EXPECT_EQ(weir_addr_format(&bad_family, 1, exact, sizeof exact), -EINVAL);
}

TEST(CapiStack, OptionsAreVersionedAndChecked) {
  weir_stack* s = nullptr;
  ASSERT_EQ(weir_stack_new(nullptr, &s), 0);
  ASSERT_NE(s, nullptr);
  weir_stack_free(s);
  weir_stack_free(nullptr);
  EXPECT_EQ(weir_stack_new(nullptr, nullptr), -EINVAL);

  weir_stack_options o;
  weir_stack_options_init(&o);
  weir_stack_options_init(nullptr);
  EXPECT_EQ(o.size, sizeof(weir_stack_options));
  EXPECT_EQ(o.ipv6, 1);
  o.size = 4;
  EXPECT_EQ(weir_stack_new(&o, &s), -EINVAL);

  // A newer caller's larger struct: accepted when the part this library does not know is zero.
  struct Newer {
    weir_stack_options known;
    uint64_t future;
  } newer{};
  weir_stack_options_init(&newer.known);
  newer.known.size = sizeof newer;
  ASSERT_EQ(weir_stack_new(&newer.known, &s), 0);
  weir_stack_free(s);
  newer.future = 1;
  EXPECT_EQ(weir_stack_new(&newer.known, &s), -EINVAL);

  weir_stack_options_init(&o);
  o.repeatable = 1;  // without a seed to repeat
  EXPECT_EQ(weir_stack_new(&o, &s), -EINVAL);
  o.repeatable = 0;
  o.ephemeral_port_first = 5000;
  o.ephemeral_port_last = 4000;
  EXPECT_EQ(weir_stack_new(&o, &s), -EINVAL);
  o.ephemeral_port_first = 40000;
  o.ephemeral_port_last = 40010;
  o.tcp_receive_buffer = 1 << 20;
  o.tcp_send_buffer = 1 << 20;
  ASSERT_EQ(weir_stack_new(&o, &s), 0);
  weir_socket sock;
  ASSERT_EQ(weir_udp_socket(s, WEIR_AF_INET, &sock), 0);
  weir_sockaddr any{};
  any.family = WEIR_AF_INET;
  ASSERT_EQ(weir_socket_bind(s, sock, &any), 0);
  weir_sockaddr local{};
  ASSERT_EQ(weir_socket_local_address(s, sock, &local), 0);
  EXPECT_GE(local.port, 40000);
  EXPECT_LE(local.port, 40010);
  weir_socket t;
  ASSERT_EQ(weir_tcp_socket(s, WEIR_AF_INET, &t), 0);
  int value = 0;
  ASSERT_EQ(weir_socket_get_option(s, t, WEIR_OPT_RCVBUF, &value), 0);
  EXPECT_EQ(value, 1 << 20);
  weir_stack_free(s);
}

TEST(CapiStack, WithoutIpv6) {
  StackPtr s = make_stack(3, false);
  weir_socket sock;
  EXPECT_EQ(weir_tcp_socket(s.get(), WEIR_AF_INET6, &sock), -EAFNOSUPPORT);
  EXPECT_EQ(weir_udp_socket(s.get(), WEIR_AF_INET6, &sock), -EAFNOSUPPORT);
  weir_nic nic;
  ASSERT_EQ(weir_stack_add_packet_queue(s.get(), "q", WEIR_FRAMING_RAW_IP, 0, &nic), 0);
  EXPECT_EQ(weir_stack_add_address(s.get(), nic, "fd00::1/64"), -EAFNOSUPPORT);
  EXPECT_THAT(weir_stack_last_error(s.get()), HasSubstr("IPv6"));
  EXPECT_EQ(weir_stack_add_route(s.get(), "::/0", "fd00::1", nic), -EAFNOSUPPORT);
  EXPECT_EQ(weir_tcp_socket(s.get(), WEIR_AF_INET, &sock), 0);
}

// Every call with a NULL stack or NULL required pointer: -EINVAL, no crash.
TEST(CapiStack, NullArgumentsAreEinval) {
  weir_socket sock = 0;
  weir_nic nic = 0;
  weir_sockaddr sa{};
  int value = 0;
  uint32_t mtu = 0;
  uint8_t mac[6];
  uint64_t u = 0;
  char buf[8];
  int fds[4];
  weir_stack* n = nullptr;
  EXPECT_STREQ(weir_stack_last_error(nullptr), "");
  EXPECT_EQ(weir_stack_add_tap(n, "t", nullptr, &nic), -EINVAL);
  EXPECT_EQ(weir_stack_add_packet_queue(n, "q", 0, 0, &nic), -EINVAL);
  EXPECT_EQ(weir_packet_queue_inject(n, 1, buf, 1), -EINVAL);
  EXPECT_EQ(weir_packet_queue_take(n, 1, buf, sizeof buf), -EINVAL);
  EXPECT_EQ(weir_packet_queue_next_size(n, 1), -EINVAL);
  EXPECT_EQ(weir_packet_queue_fd(n, 1), -EINVAL);
  EXPECT_EQ(weir_packet_queue_set_callback(n, 1, nullptr, nullptr), -EINVAL);
  EXPECT_EQ(weir_nic_set_up(n, 1, 1), -EINVAL);
  EXPECT_EQ(weir_nic_mtu(n, 1, &mtu), -EINVAL);
  EXPECT_EQ(weir_nic_mac(n, 1, mac), -EINVAL);
  EXPECT_EQ(weir_stack_add_address(n, 1, "10.0.0.1/24"), -EINVAL);
  EXPECT_EQ(weir_stack_add_address_bin(n, 1, &sa, 24), -EINVAL);
  EXPECT_EQ(weir_stack_add_route(n, "0.0.0.0/0", nullptr, 1), -EINVAL);
  EXPECT_EQ(weir_stack_set_gateway(n, 1, "10.0.0.1"), -EINVAL);
  EXPECT_EQ(weir_stack_poll(n, 0, &u), -EINVAL);
  EXPECT_EQ(weir_stack_wait_fds(n, fds, 4), -EINVAL);
  EXPECT_EQ(weir_loop_run(n), -EINVAL);
  EXPECT_EQ(weir_loop_stop(n), -EINVAL);
  EXPECT_EQ(weir_loop_post(
                n, [](weir_stack*, void*) {}, nullptr),
            -EINVAL);
  EXPECT_EQ(weir_stack_loop_fd(n), -EINVAL);
  EXPECT_EQ(weir_loop_run_once(n, 0, &u), -EINVAL);
  EXPECT_EQ(weir_tcp_socket(n, WEIR_AF_INET, &sock), -EINVAL);
  EXPECT_EQ(weir_udp_socket(n, WEIR_AF_INET, &sock), -EINVAL);
  EXPECT_EQ(weir_socket_close(n, 1), -EINVAL);
  EXPECT_EQ(weir_socket_bind(n, 1, &sa), -EINVAL);
  EXPECT_EQ(weir_socket_connect(n, 1, &sa), -EINVAL);
  EXPECT_EQ(weir_socket_shutdown(n, 1, WEIR_SHUT_RDWR), -EINVAL);
  EXPECT_EQ(weir_socket_events(n, 1), -EINVAL);
  EXPECT_EQ(weir_socket_take_error(n, 1, &value), -EINVAL);
  EXPECT_EQ(weir_socket_local_address(n, 1, &sa), -EINVAL);
  EXPECT_EQ(weir_socket_remote_address(n, 1, &sa), -EINVAL);
  EXPECT_EQ(weir_socket_set_option(n, 1, WEIR_OPT_NODELAY, 1), -EINVAL);
  EXPECT_EQ(weir_socket_get_option(n, 1, WEIR_OPT_NODELAY, &value), -EINVAL);
  EXPECT_EQ(weir_socket_set_callback(n, 1, nullptr, nullptr), -EINVAL);
  EXPECT_EQ(weir_tcp_listen(n, 1, 1), -EINVAL);
  EXPECT_EQ(weir_tcp_accept(n, 1, &sock, &sa), -EINVAL);
  EXPECT_EQ(weir_tcp_read(n, 1, buf, sizeof buf), -EINVAL);
  EXPECT_EQ(weir_tcp_write(n, 1, buf, sizeof buf), -EINVAL);
  EXPECT_EQ(weir_tcp_abort(n, 1), -EINVAL);
  EXPECT_EQ(weir_udp_sendto(n, 1, buf, 1, &sa), -EINVAL);
  EXPECT_EQ(weir_udp_recvfrom(n, 1, buf, sizeof buf, &sa, 0), -EINVAL);
  EXPECT_EQ(weir_nic_set_accept_any(n, 1, 1), -EINVAL);
  EXPECT_EQ(weir_forwarder_set(n, WEIR_PROTO_TCP, nullptr, nullptr), -EINVAL);
  EXPECT_EQ(weir_forwarder_accept(n, WEIR_PROTO_TCP, 1, &sock), -EINVAL);
  EXPECT_EQ(weir_forwarder_refuse(n, WEIR_PROTO_TCP, 1), -EINVAL);
  EXPECT_EQ(weir_stack_counter(n, "tcp.resets_sent", &u), -EINVAL);
  EXPECT_EQ(weir_stack_counters_foreach(
                n, [](const char*, const char*, uint64_t, void*) {}, nullptr),
            -EINVAL);
  EXPECT_EQ(weir_stack_counters_dump(n, buf, sizeof buf), -EINVAL);

  // A stack, but NULL pointers or nonsense in the other arguments.
  StackPtr s = make_stack(4);
  weir_stack* st = s.get();
  EXPECT_EQ(weir_stack_add_tap(st, nullptr, nullptr, &nic), -EINVAL);
  EXPECT_EQ(weir_stack_add_tap(st, "", nullptr, &nic), -EINVAL);
  EXPECT_EQ(weir_stack_add_tap(st, "a-name-longer-than-15", nullptr, &nic), -EINVAL);
  EXPECT_THAT(weir_stack_last_error(st), HasSubstr("15"));
  EXPECT_EQ(weir_stack_add_tap(st, "t0", nullptr, nullptr), -EINVAL);
  EXPECT_EQ(weir_stack_add_packet_queue(st, nullptr, 0, 0, &nic), -EINVAL);
  EXPECT_EQ(weir_stack_add_packet_queue(st, "", 0, 0, &nic), -EINVAL);
  EXPECT_EQ(weir_stack_add_packet_queue(st, "q", 0, 0, nullptr), -EINVAL);
  EXPECT_EQ(weir_stack_add_packet_queue(st, "q", 7, 0, &nic), -EINVAL);
  EXPECT_EQ(weir_stack_add_packet_queue(st, "q", 0, 67, &nic), -EINVAL);
  EXPECT_EQ(weir_stack_add_packet_queue(st, "q", 0, 65536, &nic), -EINVAL);
  EXPECT_EQ(weir_tcp_socket(st, WEIR_AF_INET, nullptr), -EINVAL);
  EXPECT_EQ(weir_tcp_socket(st, 0, &sock), -EINVAL);
  EXPECT_EQ(weir_udp_socket(st, 99, &sock), -EINVAL);
  EXPECT_EQ(weir_stack_wait_fds(st, nullptr, 4), -EINVAL);
  EXPECT_EQ(weir_loop_post(st, nullptr, nullptr), -EINVAL);
  EXPECT_EQ(weir_loop_run_once(st, -2, nullptr), -EINVAL);
  EXPECT_EQ(weir_stack_counter(st, nullptr, &u), -EINVAL);
  EXPECT_EQ(weir_stack_counter(st, "tcp.resets_sent", nullptr), -EINVAL);
  EXPECT_EQ(weir_stack_counters_foreach(st, nullptr, nullptr), -EINVAL);
  EXPECT_EQ(weir_stack_counters_dump(st, nullptr, 5), -EINVAL);
  EXPECT_EQ(weir_forwarder_set(st, 1, nullptr, nullptr), -EINVAL);
  EXPECT_EQ(weir_forwarder_accept(st, WEIR_PROTO_UDP, 1, nullptr), -EINVAL);
  EXPECT_EQ(weir_forwarder_accept(st, 99, 1, &sock), -EINVAL);
  EXPECT_EQ(weir_forwarder_refuse(st, 99, 1), -EINVAL);

  ASSERT_EQ(weir_udp_socket(st, WEIR_AF_INET, &sock), 0);
  EXPECT_EQ(weir_socket_bind(st, sock, nullptr), -EINVAL);
  EXPECT_EQ(weir_socket_connect(st, sock, nullptr), -EINVAL);
  weir_sockaddr bad{};
  bad.family = 1;
  EXPECT_EQ(weir_socket_bind(st, sock, &bad), -EINVAL);
  EXPECT_EQ(weir_socket_connect(st, sock, &bad), -EINVAL);
  EXPECT_EQ(weir_udp_sendto(st, sock, buf, 1, &bad), -EINVAL);
  EXPECT_EQ(weir_udp_sendto(st, sock, nullptr, 1, nullptr), -EINVAL);
  EXPECT_EQ(weir_udp_recvfrom(st, sock, nullptr, 4, nullptr, 0), -EINVAL);
  EXPECT_EQ(weir_udp_recvfrom(st, sock, buf, sizeof buf, nullptr, 0x1000), -EINVAL);
  EXPECT_EQ(weir_socket_shutdown(st, sock, 3), -EINVAL);
  EXPECT_EQ(weir_socket_shutdown(st, sock, -1), -EINVAL);
  EXPECT_EQ(weir_socket_take_error(st, sock, nullptr), -EINVAL);
  EXPECT_EQ(weir_socket_local_address(st, sock, nullptr), -EINVAL);
  EXPECT_EQ(weir_socket_remote_address(st, sock, nullptr), -EINVAL);
  EXPECT_EQ(weir_socket_get_option(st, sock, WEIR_OPT_RCVBUF, nullptr), -EINVAL);
  weir_socket t;
  ASSERT_EQ(weir_tcp_socket(st, WEIR_AF_INET, &t), 0);
  EXPECT_EQ(weir_tcp_accept(st, t, nullptr, nullptr), -EINVAL);
  EXPECT_EQ(weir_tcp_accept(st, t, &sock, nullptr), -EINVAL);  // not listening
  EXPECT_EQ(weir_tcp_read(st, t, nullptr, 4), -EINVAL);
  EXPECT_EQ(weir_tcp_write(st, t, nullptr, 4), -EINVAL);
  EXPECT_EQ(weir_tcp_read(st, t, nullptr, 0), 0);
  EXPECT_EQ(weir_tcp_write(st, t, nullptr, 0), 0);
}

TEST(CapiStack, NicsAddressesRoutes) {
  StackPtr s = make_stack(5);
  weir_stack* st = s.get();
  weir_nic raw = 0, eth = 0, dup = 0;
  ASSERT_EQ(weir_stack_add_packet_queue(st, "tun0", WEIR_FRAMING_RAW_IP, 0, &raw), 0);
  ASSERT_EQ(weir_stack_add_packet_queue(st, "eth0", WEIR_FRAMING_ETHERNET, 9000, &eth), 0);
  EXPECT_NE(raw, eth);
  EXPECT_EQ(weir_stack_add_packet_queue(st, "eth0", WEIR_FRAMING_ETHERNET, 0, &dup), -EADDRINUSE);
  EXPECT_THAT(weir_stack_last_error(st), HasSubstr("eth0"));
  uint32_t mtu = 0;
  ASSERT_EQ(weir_nic_mtu(st, raw, &mtu), 0);
  EXPECT_EQ(mtu, 1500u);
  ASSERT_EQ(weir_nic_mtu(st, eth, &mtu), 0);
  EXPECT_EQ(mtu, 9000u);
  uint8_t mac[6];
  ASSERT_EQ(weir_nic_mac(st, raw, mac), 0);
  EXPECT_EQ(std::vector<uint8_t>(mac, mac + 6), std::vector<uint8_t>(6, 0));
  ASSERT_EQ(weir_nic_mac(st, eth, mac), 0);
  EXPECT_EQ(mac[0] & 0x03, 0x02);  // unicast, locally administered
  EXPECT_EQ(weir_nic_mtu(st, 99, &mtu), -ENODEV);
  EXPECT_EQ(weir_nic_mac(st, 99, mac), -ENODEV);
  EXPECT_EQ(weir_nic_mtu(st, raw, nullptr), -EINVAL);
  EXPECT_EQ(weir_nic_mac(st, raw, nullptr), -EINVAL);
  EXPECT_EQ(weir_nic_set_up(st, eth, 0), 0);
  EXPECT_EQ(weir_nic_set_up(st, eth, 1), 0);
  EXPECT_EQ(weir_nic_set_up(st, 99, 1), -ENODEV);

  EXPECT_EQ(weir_stack_add_address(st, eth, "10.99.0.2/24"), 0);
  EXPECT_EQ(weir_stack_add_address(st, eth, "10.99.0.2/24"), -EADDRINUSE);
  EXPECT_EQ(weir_stack_add_address(st, 99, "10.99.0.3/24"), -ENODEV);
  for (const char* bad : {"10.99.0.2", "10.99.0.2/33", "fd00::1/129", "x/24", "", "10.99.0.2/"}) {
    EXPECT_EQ(weir_stack_add_address(st, eth, bad), -EINVAL) << bad;
  }
  EXPECT_EQ(weir_stack_add_address(st, eth, "0.0.0.0/0"), -EINVAL);
  EXPECT_EQ(weir_stack_add_address(st, eth, "224.0.0.1/4"), -EINVAL);
  EXPECT_EQ(weir_stack_add_address(st, eth, nullptr), -EINVAL);
  weir_sockaddr sa = addr("fd99::2");
  EXPECT_EQ(weir_stack_add_address_bin(st, eth, &sa, 64), 0);
  EXPECT_EQ(weir_stack_add_address_bin(st, eth, &sa, 129), -EINVAL);
  sa = addr("10.99.1.2");
  EXPECT_EQ(weir_stack_add_address_bin(st, raw, &sa, 33), -EINVAL);
  EXPECT_EQ(weir_stack_add_address_bin(st, raw, &sa, 24), 0);
  EXPECT_EQ(weir_stack_add_address_bin(st, raw, nullptr, 24), -EINVAL);
  sa.family = 0;
  EXPECT_EQ(weir_stack_add_address_bin(st, raw, &sa, 24), -EINVAL);

  EXPECT_EQ(weir_stack_set_gateway(st, eth, "10.99.0.1"), 0);
  EXPECT_EQ(weir_stack_set_gateway(st, eth, "fd99::1"), 0);
  EXPECT_EQ(weir_stack_set_gateway(st, eth, "nope"), -EINVAL);
  EXPECT_EQ(weir_stack_set_gateway(st, eth, "0.0.0.0"), -EINVAL);
  EXPECT_EQ(weir_stack_set_gateway(st, eth, nullptr), -EINVAL);
  EXPECT_EQ(weir_stack_set_gateway(st, 99, "10.99.0.1"), -ENODEV);
  EXPECT_EQ(weir_stack_add_route(st, "10.50.0.0/16", "10.99.0.1", eth), 0);
  EXPECT_EQ(weir_stack_add_route(st, "10.51.0.0/16", nullptr, raw), 0);
  EXPECT_EQ(weir_stack_add_route(st, "10.52.0.0/16", "fd99::1", eth), -EINVAL);
  EXPECT_EQ(weir_stack_add_route(st, "10.52.0.0", nullptr, eth), -EINVAL);
  EXPECT_EQ(weir_stack_add_route(st, "10.52.0.0/16", "x", eth), -EINVAL);
  EXPECT_EQ(weir_stack_add_route(st, nullptr, nullptr, eth), -EINVAL);
  EXPECT_EQ(weir_stack_add_route(st, "10.52.0.0/16", nullptr, 99), -ENODEV);
}

TEST(CapiStack, TapErrorsSayWhy) {
  StackPtr s = make_stack(6);
  weir_nic nic = 0;
  // A namespace that does not exist: fails with or without root, and says so.
  const int r = weir_stack_add_tap(s.get(), "wcapi0", "/nonexistent/netns", &nic);
  EXPECT_LT(r, 0);
  EXPECT_STRNE(weir_stack_last_error(s.get()), "");
}

TEST(CapiStack, CountersByNameForeachAndDump) {
  StackPtr s = make_stack(7);
  weir_stack* st = s.get();
  weir_nic nic;
  ASSERT_EQ(weir_stack_add_packet_queue(st, "eth0", WEIR_FRAMING_ETHERNET, 0, &nic), 0);
  uint64_t v = 99;
  ASSERT_EQ(weir_stack_counter(st, "tcp.resets_sent", &v), 0);
  EXPECT_EQ(v, 0u);
  ASSERT_EQ(weir_stack_counter(st, "nic.eth0.rx_packets", &v), 0);
  EXPECT_EQ(weir_stack_counter(st, "tcp.no_such_counter", &v), -ENOENT);
  EXPECT_EQ(weir_stack_counter(st, "nodot", &v), -ENOENT);
  EXPECT_EQ(weir_stack_counter(st, "", &v), -ENOENT);

  int count = 0;
  ASSERT_EQ(weir_stack_counters_foreach(
                st,
                [](const char* g, const char* n, uint64_t, void* user) {
                  EXPECT_NE(g[0], '\0');
                  EXPECT_NE(n[0], '\0');
                  ++*static_cast<int*>(user);
                },
                &count),
            0);
  EXPECT_GT(count, 20);

  const ssize_t need = weir_stack_counters_dump(st, nullptr, 0);
  ASSERT_GT(need, 0);
  std::string text(static_cast<size_t>(need) + 1, 'x');
  EXPECT_EQ(weir_stack_counters_dump(st, text.data(), text.size()), need);
  EXPECT_THAT(text, HasSubstr("tcp.resets_sent 0\n"));
  EXPECT_THAT(text, HasSubstr("nic.eth0.rx_packets 0\n"));
  char small[8];
  EXPECT_EQ(weir_stack_counters_dump(st, small, sizeof small), need);
  EXPECT_EQ(std::strlen(small), 7u);
}

// ---- packet queues ---------------------------------------------------------------------------

TEST_F(TwoStacks, PacketQueueInjectTakeAndNotification) {
  // Adding addresses sent announcements (gratuitous ARP, NDP): out of the way first.
  move(a, na, b, nb);
  EXPECT_EQ(weir_packet_queue_inject(a, na, "x", 1), -EBADMSG);
  std::vector<unsigned char> huge(1600, 0);
  EXPECT_EQ(weir_packet_queue_inject(a, na, huge.data(), huge.size()), -EMSGSIZE);
  EXPECT_EQ(weir_packet_queue_inject(a, na, nullptr, 10), -EINVAL);
  EXPECT_EQ(weir_packet_queue_inject(a, na, huge.data(), 0), -EINVAL);
  EXPECT_EQ(weir_packet_queue_inject(a, 99, huge.data(), 60), -ENODEV);
  EXPECT_EQ(weir_packet_queue_take(a, 99, huge.data(), huge.size()), -ENODEV);
  EXPECT_EQ(weir_packet_queue_next_size(a, 99), -ENODEV);
  EXPECT_EQ(weir_packet_queue_fd(a, 99), -ENODEV);
  EXPECT_EQ(weir_packet_queue_set_callback(a, 99, nullptr, nullptr), -ENODEV);
  EXPECT_EQ(weir_packet_queue_take(a, na, nullptr, 10), -EINVAL);
  EXPECT_EQ(weir_packet_queue_take(a, na, huge.data(), huge.size()), -EAGAIN);
  EXPECT_EQ(weir_packet_queue_next_size(a, na), 0);

  const int fd = weir_packet_queue_fd(a, na);
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(fd_readable(fd));
  int calls = 0;
  ASSERT_EQ(
      weir_packet_queue_set_callback(
          a, na, [](weir_stack*, weir_nic, void* user) { ++*static_cast<int*>(user); }, &calls),
      0);

  // A UDP datagram to b makes a send ARP first: one frame waits.
  weir_socket u;
  ASSERT_EQ(weir_udp_socket(a, WEIR_AF_INET, &u), 0);
  weir_sockaddr to = addr("10.98.0.2:9");
  ASSERT_EQ(weir_udp_sendto(a, u, "hi", 2, &to), 2);
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(fd_readable(fd));
  const ssize_t size = weir_packet_queue_next_size(a, na);
  ASSERT_GT(size, 14);
  unsigned char small[10];
  EXPECT_EQ(weir_packet_queue_take(a, na, small, sizeof small), -EMSGSIZE);
  EXPECT_EQ(weir_packet_queue_next_size(a, na), size);
  std::vector<unsigned char> frame(static_cast<size_t>(size));
  EXPECT_EQ(weir_packet_queue_take(a, na, frame.data(), frame.size()), size);
  EXPECT_EQ(frame[12], 0x08);  // EtherType ARP
  EXPECT_EQ(frame[13], 0x06);
  EXPECT_FALSE(fd_readable(fd));

  // A callback that takes the packets at once, as a tun writer would.
  struct Taken {
    weir_nic nic;
    std::vector<ssize_t> sizes;
  } taken{na, {}};
  ASSERT_EQ(weir_packet_queue_set_callback(
                a, na,
                [](weir_stack* s, weir_nic nic, void* user) {
                  auto* t = static_cast<Taken*>(user);
                  EXPECT_EQ(nic, t->nic);
                  unsigned char packet[2048];
                  ssize_t n;
                  while ((n = weir_packet_queue_take(s, nic, packet, sizeof packet)) > 0) {
                    t->sizes.push_back(n);
                  }
                },
                &taken),
            0);
  weir_sockaddr other = addr("10.98.0.3:9");  // another neighbour: another ARP request
  ASSERT_EQ(weir_udp_sendto(a, u, "again", 5, &other), 5);
  EXPECT_EQ(taken.sizes.size(), 1u);
  EXPECT_EQ(weir_packet_queue_take(a, na, frame.data(), frame.size()), -EAGAIN);
  ASSERT_EQ(weir_packet_queue_set_callback(a, na, nullptr, nullptr), 0);
}

TEST_F(TwoStacks, WaitFdsAndDeadlines) {
  const ssize_t count = weir_stack_wait_fds(a, nullptr, 0);
  // The packet queue's inbound eventfd and the callback eventfd.
  ASSERT_EQ(count, 2);
  int fds[1] = {-1};
  EXPECT_EQ(weir_stack_wait_fds(a, fds, 1), 2);
  EXPECT_GE(fds[0], 0);
  int all[4] = {-1, -1, -1, -1};
  EXPECT_EQ(weir_stack_wait_fds(a, all, 4), 2);
  EXPECT_EQ(all[2], -1);
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(fd_readable(all[i]));

  uint64_t deadline = 0;
  const uint64_t now = weir_now_ns();
  ASSERT_GE(weir_stack_poll(a, now, &deadline), 0);
  EXPECT_GE(deadline, now);
  // A connect arms the SYN timer; the deadline is within it.
  weir_socket c;
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &c), 0);
  weir_sockaddr to = addr("10.98.0.2:80");
  ASSERT_EQ(weir_socket_connect(a, c, &to), -EINPROGRESS);
  ASSERT_GE(weir_stack_poll(a, 0, &deadline), 0);
  EXPECT_NE(deadline, UINT64_MAX);
  EXPECT_LE(deadline, weir_now_ns() + 3'000'000'000ull);
  EXPECT_GE(weir_timeout_ms(deadline), 0);

  // An injected packet makes the inbound fd readable until polled.
  unsigned char arp[60] = {};
  std::memset(arp, 0xff, 6);
  arp[12] = 0x08;
  arp[13] = 0x06;
  ASSERT_EQ(weir_packet_queue_inject(a, na, arp, sizeof arp), 0);
  bool any = false;
  for (int i = 0; i < 2; ++i) any = any || fd_readable(all[i]);
  EXPECT_TRUE(any);
  ASSERT_GE(weir_stack_poll(a, 0, nullptr), 1);
  for (int i = 0; i < 2; ++i) EXPECT_FALSE(fd_readable(all[i]));
}

// ---- TCP -------------------------------------------------------------------------------------

TEST_F(TwoStacks, TcpExchangeBothWaysAndEof) {
  weir_socket client, server, listener;
  connect_pair("10.98.0.2", 8080, &client, &server, &listener);
  weir_sockaddr sa{};
  ASSERT_EQ(weir_socket_local_address(a, client, &sa), 0);
  EXPECT_EQ(format(sa, false), "10.98.0.1");
  ASSERT_EQ(weir_socket_remote_address(a, client, &sa), 0);
  EXPECT_EQ(format(sa), "10.98.0.2:8080");
  ASSERT_EQ(weir_socket_local_address(b, server, &sa), 0);
  EXPECT_EQ(format(sa), "10.98.0.2:8080");
  ASSERT_EQ(weir_socket_remote_address(b, server, &sa), 0);
  EXPECT_EQ(format(sa, false), "10.98.0.1");
  ASSERT_EQ(weir_socket_local_address(b, listener, &sa), 0);
  EXPECT_EQ(format(sa), "0.0.0.0:8080");
  EXPECT_EQ(weir_socket_remote_address(b, listener, &sa), -ENOTCONN);
  EXPECT_EQ(weir_tcp_accept(b, listener, &client, nullptr), -EAGAIN);

  // 300 KB from a to b, with partial writes as the window fills; 100 KB back.
  std::vector<unsigned char> up(300'000), down(100'000);
  for (size_t i = 0; i < up.size(); ++i) up[i] = static_cast<unsigned char>(i * 7 + (i >> 9));
  for (size_t i = 0; i < down.size(); ++i) down[i] = static_cast<unsigned char>(i * 13 + 1);
  std::vector<unsigned char> got_up, got_down;
  size_t sent_up = 0, sent_down = 0;
  std::vector<unsigned char> buf(16384);
  ASSERT_TRUE(pump_until(
      [&] {
        while (sent_up < up.size()) {
          ssize_t n = weir_tcp_write(a, client, up.data() + sent_up, up.size() - sent_up);
          if (n == -EAGAIN) break;
          EXPECT_GT(n, 0);
          if (n <= 0) return true;
          sent_up += static_cast<size_t>(n);
        }
        while (sent_down < down.size()) {
          ssize_t n = weir_tcp_write(b, server, down.data() + sent_down, down.size() - sent_down);
          if (n == -EAGAIN) break;
          if (n <= 0) return true;
          sent_down += static_cast<size_t>(n);
        }
        ssize_t n;
        while ((n = weir_tcp_read(b, server, buf.data(), buf.size())) > 0) {
          got_up.insert(got_up.end(), buf.begin(), buf.begin() + n);
        }
        EXPECT_EQ(n, -EAGAIN);
        while ((n = weir_tcp_read(a, client, buf.data(), buf.size())) > 0) {
          got_down.insert(got_down.end(), buf.begin(), buf.begin() + n);
        }
        return got_up.size() == up.size() && got_down.size() == down.size();
      },
      5000));
  EXPECT_EQ(got_up, up);
  EXPECT_EQ(got_down, down);

  // Half close: b reads EOF, can still send; then a closes too.
  ASSERT_EQ(weir_socket_shutdown(a, client, WEIR_SHUT_WR), 0);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(b, server) & WEIR_EV_RDHUP; }));
  EXPECT_TRUE(weir_socket_events(b, server) & WEIR_EV_READABLE);
  EXPECT_EQ(weir_tcp_read(b, server, buf.data(), buf.size()), 0);
  EXPECT_EQ(weir_tcp_write(a, client, "x", 1), -EPIPE);
  EXPECT_EQ(weir_tcp_write(b, server, "late", 4), 4);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(a, client) & WEIR_EV_READABLE; }));
  EXPECT_EQ(weir_tcp_read(a, client, buf.data(), buf.size()), 4);
  EXPECT_EQ(weir_socket_close(b, server), 0);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(a, client) & WEIR_EV_HUP; }));
  EXPECT_EQ(weir_tcp_read(a, client, buf.data(), buf.size()), 0);
  EXPECT_EQ(weir_socket_close(a, client), 0);
  EXPECT_EQ(weir_socket_close(b, listener), 0);
}

TEST_F(TwoStacks, TcpOverIpv6) {
  weir_socket client, server, listener;
  connect_pair("fd98::2", 443, &client, &server, &listener);
  weir_sockaddr sa{};
  ASSERT_EQ(weir_socket_remote_address(b, server, &sa), 0);
  EXPECT_EQ(format(sa, false), "fd98::1");
  ASSERT_EQ(weir_tcp_write(a, client, "six", 3), 3);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(b, server) & WEIR_EV_READABLE; }));
  char buf[8];
  EXPECT_EQ(weir_tcp_read(b, server, buf, sizeof buf), 3);
}

TEST_F(TwoStacks, TcpConnectRefusedIsAPendingError) {
  weir_socket c;
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &c), 0);
  weir_sockaddr to = addr("10.98.0.2:9999");
  ASSERT_EQ(weir_socket_connect(a, c, &to), -EINPROGRESS);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(a, c) & WEIR_EV_ERROR; }));
  int err = 0;
  ASSERT_EQ(weir_socket_take_error(a, c, &err), 0);
  EXPECT_EQ(err, ECONNREFUSED);
  ASSERT_EQ(weir_socket_take_error(a, c, &err), 0);
  EXPECT_EQ(err, 0);
  EXPECT_EQ(weir_socket_close(a, c), 0);

  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &c), 0);
  weir_sockaddr nowhere = addr("192.0.2.1:80");
  EXPECT_EQ(weir_socket_connect(a, c, &nowhere), -ENETUNREACH);
}

TEST_F(TwoStacks, CloseListenerResetsPendingConnections) {
  weir_socket listener, c1, c2;
  ASSERT_EQ(weir_tcp_socket(b, WEIR_AF_INET, &listener), 0);
  weir_sockaddr any = addr("0.0.0.0:5000");
  ASSERT_EQ(weir_socket_bind(b, listener, &any), 0);
  ASSERT_EQ(weir_tcp_listen(b, listener, 0), 0);  // backlog 0: at least one
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &c1), 0);
  weir_sockaddr to = addr("10.98.0.2:5000");
  ASSERT_EQ(weir_socket_connect(a, c1, &to), -EINPROGRESS);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(a, c1) & WEIR_EV_WRITABLE; }));
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(b, listener) & WEIR_EV_READABLE; }));
  // The pending one is accepted; a second connection waits, and the listener closes.
  weir_socket s1;
  weir_sockaddr peer{};
  ASSERT_EQ(weir_tcp_accept(b, listener, &s1, &peer), 0);
  EXPECT_EQ(format(peer, false), "10.98.0.1");
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &c2), 0);
  ASSERT_EQ(weir_socket_connect(a, c2, &to), -EINPROGRESS);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(b, listener) & WEIR_EV_READABLE; }));
  ASSERT_EQ(weir_socket_close(b, listener), 0);
  EXPECT_EQ(weir_tcp_accept(b, listener, &s1, nullptr), -EBADF);
  ASSERT_TRUE(
      pump_until([&] { return weir_socket_events(a, c2) & (WEIR_EV_ERROR | WEIR_EV_HUP); }));
  char buf[4];
  EXPECT_EQ(weir_tcp_read(a, c2, buf, sizeof buf), -ECONNRESET);
  // The accepted connection is not affected.
  ASSERT_EQ(weir_tcp_write(a, c1, "ok", 2), 2);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(b, s1) & WEIR_EV_READABLE; }));
  EXPECT_EQ(weir_tcp_read(b, s1, buf, sizeof buf), 2);
}

TEST_F(TwoStacks, AbortSendsReset) {
  weir_socket client, server, listener;
  connect_pair("10.98.0.2", 81, &client, &server, &listener);
  uint64_t resets_before = 0;
  ASSERT_EQ(weir_stack_counter(a, "tcp.resets_sent", &resets_before), 0);
  ASSERT_EQ(weir_tcp_abort(a, client), 0);
  EXPECT_EQ(weir_socket_events(a, client), -EBADF);
  uint64_t resets = 0;
  ASSERT_EQ(weir_stack_counter(a, "tcp.resets_sent", &resets), 0);
  EXPECT_EQ(resets, resets_before + 1);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(b, server) & WEIR_EV_ERROR; }));
  int err = 0;
  ASSERT_EQ(weir_socket_take_error(b, server, &err), 0);
  EXPECT_EQ(err, ECONNRESET);
}

TEST_F(TwoStacks, LingerZeroCloseResets) {
  weir_socket client, server, listener;
  connect_pair("10.98.0.2", 82, &client, &server, &listener);
  ASSERT_EQ(weir_socket_set_option(a, client, WEIR_OPT_LINGER, 0), 0);
  ASSERT_EQ(weir_socket_close(a, client), 0);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(b, server) & WEIR_EV_ERROR; }));
}

TEST_F(TwoStacks, TcpOptions) {
  weir_socket t;
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET6, &t), 0);
  struct Case {
    int option, value;
  };
  for (Case c :
       {Case{WEIR_OPT_NODELAY, 1}, Case{WEIR_OPT_KEEPALIVE, 1}, Case{WEIR_OPT_KEEPIDLE, 30},
        Case{WEIR_OPT_KEEPINTVL, 5}, Case{WEIR_OPT_KEEPCNT, 4}, Case{WEIR_OPT_REUSEADDR, 1},
        Case{WEIR_OPT_REUSEPORT, 1}, Case{WEIR_OPT_CORK, 1}, Case{WEIR_OPT_V6ONLY, 1},
        Case{WEIR_OPT_LINGER, 7}, Case{WEIR_OPT_SNDBUF, 65536}, Case{WEIR_OPT_USER_TIMEOUT, 30000},
        Case{WEIR_OPT_NOTSENT_LOWAT, 16384}, Case{WEIR_OPT_SYNCNT, 3}, Case{WEIR_OPT_LINGER2, 5},
        Case{WEIR_OPT_LINGER2, -1}}) {
    ASSERT_EQ(weir_socket_set_option(a, t, c.option, c.value), 0) << c.option;
    int v = -5;
    ASSERT_EQ(weir_socket_get_option(a, t, c.option, &v), 0) << c.option;
    EXPECT_EQ(v, c.value) << c.option;
  }
  ASSERT_EQ(weir_socket_set_option(a, t, WEIR_OPT_LINGER, -1), 0);
  int v = 0;
  ASSERT_EQ(weir_socket_get_option(a, t, WEIR_OPT_LINGER, &v), 0);
  EXPECT_EQ(v, -1);
  ASSERT_EQ(weir_socket_set_option(a, t, WEIR_OPT_RCVBUF, 1 << 20), 0);
  ASSERT_EQ(weir_socket_get_option(a, t, WEIR_OPT_RCVBUF, &v), 0);
  EXPECT_GE(v, 1 << 20);
  ASSERT_EQ(weir_socket_set_option(a, t, WEIR_OPT_MAXSEG, 1000), 0);
  ASSERT_EQ(weir_socket_get_option(a, t, WEIR_OPT_MAXSEG, &v), 0);
  EXPECT_EQ(v, 1000);

  EXPECT_EQ(weir_socket_set_option(a, t, WEIR_OPT_NODELAY, 2), -EINVAL);
  EXPECT_EQ(weir_socket_set_option(a, t, WEIR_OPT_RCVBUF, -1), -EINVAL);
  EXPECT_EQ(weir_socket_set_option(a, t, WEIR_OPT_LINGER, -2), -EINVAL);
  EXPECT_EQ(weir_socket_set_option(a, t, WEIR_OPT_KEEPIDLE, 0), -EINVAL);
  EXPECT_EQ(weir_socket_set_option(a, t, WEIR_OPT_BROADCAST, 1), -ENOPROTOOPT);
  EXPECT_EQ(weir_socket_get_option(a, t, WEIR_OPT_BROADCAST, &v), -ENOPROTOOPT);
  EXPECT_EQ(weir_socket_set_option(a, t, 999, 1), -ENOPROTOOPT);
  EXPECT_EQ(weir_socket_get_option(a, t, 0, &v), -ENOPROTOOPT);
  // v6only on an IPv4 socket: no such option there, as Linux says.
  weir_socket t4;
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &t4), 0);
  EXPECT_EQ(weir_socket_set_option(a, t4, WEIR_OPT_V6ONLY, 1), -ENOPROTOOPT);
}

// ---- UDP -------------------------------------------------------------------------------------

TEST_F(TwoStacks, UdpSendtoRecvfromConnectPeekTrunc) {
  weir_socket ua, ub;
  ASSERT_EQ(weir_udp_socket(a, WEIR_AF_INET, &ua), 0);
  ASSERT_EQ(weir_udp_socket(b, WEIR_AF_INET, &ub), 0);
  weir_sockaddr bind_b = addr("10.98.0.2:5353");
  ASSERT_EQ(weir_socket_bind(b, ub, &bind_b), 0);
  EXPECT_EQ(weir_socket_bind(b, ub, &bind_b), -EINVAL);  // already bound
  char buf[64];
  weir_sockaddr from{};
  EXPECT_EQ(weir_udp_recvfrom(b, ub, buf, sizeof buf, &from, 0), -EAGAIN);
  EXPECT_EQ(weir_udp_sendto(a, ua, "x", 1, nullptr), -EDESTADDRREQ);
  ASSERT_EQ(weir_udp_sendto(a, ua, "hello world", 11, &bind_b), 11);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(b, ub) & WEIR_EV_READABLE; }));
  EXPECT_EQ(weir_udp_recvfrom(b, ub, buf, 5, &from, WEIR_MSG_PEEK | WEIR_MSG_TRUNC), 11);
  EXPECT_EQ(weir_udp_recvfrom(b, ub, buf, 5, &from, WEIR_MSG_PEEK), 5);
  EXPECT_EQ(std::string(buf, 5), "hello");
  EXPECT_EQ(weir_udp_recvfrom(b, ub, buf, sizeof buf, &from, 0), 11);
  EXPECT_EQ(std::string(buf, 11), "hello world");
  weir_sockaddr local_a{};
  ASSERT_EQ(weir_socket_local_address(a, ua, &local_a), 0);
  EXPECT_EQ(format(from), "10.98.0.1:" + std::to_string(local_a.port));
  EXPECT_NE(local_a.port, 0);
  EXPECT_EQ(weir_socket_remote_address(a, ua, &from), -ENOTCONN);

  // b answers through a connected socket; zero-length datagrams are datagrams too.
  ASSERT_EQ(weir_socket_connect(b, ub, &from), 0);
  ASSERT_EQ(weir_socket_remote_address(b, ub, &local_a), 0);
  EXPECT_EQ(format(local_a), format(from));
  ASSERT_EQ(weir_udp_sendto(b, ub, nullptr, 0, nullptr), 0);
  ASSERT_EQ(weir_udp_sendto(b, ub, "pong", 4, nullptr), 4);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(a, ua) & WEIR_EV_READABLE; }));
  EXPECT_EQ(weir_udp_recvfrom(a, ua, buf, sizeof buf, nullptr, 0), 0);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(a, ua) & WEIR_EV_READABLE; }));
  EXPECT_EQ(weir_udp_recvfrom(a, ua, buf, sizeof buf, &from, 0), 4);
  EXPECT_EQ(format(from), "10.98.0.2:5353");

  // Options.
  int v = 0;
  ASSERT_EQ(weir_socket_set_option(a, ua, WEIR_OPT_BROADCAST, 1), 0);
  ASSERT_EQ(weir_socket_get_option(a, ua, WEIR_OPT_BROADCAST, &v), 0);
  EXPECT_EQ(v, 1);
  ASSERT_EQ(weir_socket_set_option(a, ua, WEIR_OPT_RCVBUF, 4096), 0);
  ASSERT_EQ(weir_socket_get_option(a, ua, WEIR_OPT_RCVBUF, &v), 0);
  EXPECT_EQ(v, 4096);
  for (int o : {WEIR_OPT_SNDBUF, WEIR_OPT_REUSEADDR, WEIR_OPT_REUSEPORT, WEIR_OPT_V6ONLY}) {
    EXPECT_EQ(weir_socket_get_option(a, ua, o, &v), 0) << o;
  }
  EXPECT_EQ(weir_socket_set_option(a, ua, WEIR_OPT_NODELAY, 1), -ENOPROTOOPT);
  EXPECT_EQ(weir_socket_get_option(a, ua, WEIR_OPT_KEEPALIVE, &v), -ENOPROTOOPT);
  ASSERT_EQ(weir_socket_set_option(a, ua, WEIR_OPT_REUSEADDR, 1), 0);
  ASSERT_EQ(weir_socket_set_option(a, ua, WEIR_OPT_REUSEPORT, 0), 0);
  ASSERT_EQ(weir_socket_set_option(a, ua, WEIR_OPT_SNDBUF, 8192), 0);
  EXPECT_EQ(weir_socket_set_option(a, ua, WEIR_OPT_V6ONLY, 1), -ENOPROTOOPT);  // IPv4 socket

  // Shutdown of an unconnected socket: -ENOTCONN, but reads end.
  EXPECT_EQ(weir_socket_shutdown(a, ua, WEIR_SHUT_RD), -ENOTCONN);
  EXPECT_EQ(weir_udp_recvfrom(a, ua, buf, sizeof buf, nullptr, 0), 0);
  EXPECT_EQ(weir_socket_shutdown(b, ub, WEIR_SHUT_WR), 0);
  EXPECT_EQ(weir_udp_sendto(b, ub, "x", 1, nullptr), -EPIPE);
}

TEST_F(TwoStacks, WrongSocketTypeIsEopnotsupp) {
  weir_socket t, u, out;
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &t), 0);
  ASSERT_EQ(weir_udp_socket(a, WEIR_AF_INET, &u), 0);
  char buf[4];
  weir_sockaddr to = addr("10.98.0.2:1");
  EXPECT_EQ(weir_tcp_listen(a, u, 1), -EOPNOTSUPP);
  EXPECT_EQ(weir_tcp_accept(a, u, &out, nullptr), -EOPNOTSUPP);
  EXPECT_EQ(weir_tcp_read(a, u, buf, sizeof buf), -EOPNOTSUPP);
  EXPECT_EQ(weir_tcp_write(a, u, buf, sizeof buf), -EOPNOTSUPP);
  EXPECT_EQ(weir_tcp_abort(a, u), -EOPNOTSUPP);
  EXPECT_EQ(weir_udp_sendto(a, t, buf, sizeof buf, &to), -EOPNOTSUPP);
  EXPECT_EQ(weir_udp_recvfrom(a, t, buf, sizeof buf, nullptr, 0), -EOPNOTSUPP);
  EXPECT_EQ(weir_tcp_read(a, t, buf, sizeof buf), -ENOTCONN);
  EXPECT_EQ(weir_socket_shutdown(a, t, WEIR_SHUT_RDWR), -ENOTCONN);
  EXPECT_EQ(weir_socket_events(a, t), 0);
}

TEST_F(TwoStacks, MismatchedFamiliesAndStatesAreErrorsNotCrashes) {
  weir_socket t4, t6, u4, u6;
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &t4), 0);
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET6, &t6), 0);
  ASSERT_EQ(weir_udp_socket(a, WEIR_AF_INET, &u4), 0);
  ASSERT_EQ(weir_udp_socket(a, WEIR_AF_INET6, &u6), 0);
  weir_sockaddr v6 = addr("[fd98::2]:80"), v4 = addr("10.98.0.2:80");
  EXPECT_LT(weir_socket_bind(a, t4, &v6), 0);
  EXPECT_LT(weir_socket_connect(a, t4, &v6), 0);
  EXPECT_LT(weir_socket_bind(a, u4, &v6), 0);
  EXPECT_LT(weir_udp_sendto(a, u4, "x", 1, &v6), 0);
  EXPECT_LT(weir_socket_bind(a, t6, &v4), 0);
  EXPECT_LT(weir_udp_sendto(a, u6, "x", 1, &v4), 0);
  // An IPv6 socket reaches IPv4 peers by mapped addresses.
  weir_sockaddr mapped = addr("[::ffff:10.98.0.2]:80");
  EXPECT_EQ(weir_udp_sendto(a, u6, "x", 1, &mapped), 1);
  // States: listen after connect, connect after listen, accept on a connecting socket.
  ASSERT_EQ(weir_socket_connect(a, t4, &v4), -EINPROGRESS);
  EXPECT_EQ(weir_socket_connect(a, t4, &v4), -EALREADY);
  EXPECT_LT(weir_tcp_listen(a, t4, 4), 0);
  weir_socket out;
  EXPECT_EQ(weir_tcp_accept(a, t4, &out, nullptr), -EINVAL);
  weir_socket l;
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &l), 0);
  ASSERT_EQ(weir_tcp_listen(a, l, 4), 0);  // an ephemeral port
  weir_sockaddr local{};
  ASSERT_EQ(weir_socket_local_address(a, l, &local), 0);
  EXPECT_NE(local.port, 0);
  EXPECT_LT(weir_socket_connect(a, l, &v4), 0);
  char buf[4];
  EXPECT_LT(weir_tcp_read(a, l, buf, sizeof buf), 0);
  EXPECT_LT(weir_tcp_write(a, l, buf, sizeof buf), 0);
  // A port taken by another socket.
  weir_socket l2;
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &l2), 0);
  EXPECT_EQ(weir_socket_bind(a, l2, &local), -EADDRINUSE);
  weir_sockaddr not_ours = addr("10.98.0.77:1");
  EXPECT_EQ(weir_socket_bind(a, l2, &not_ours), -EADDRNOTAVAIL);
}

// ---- handles ---------------------------------------------------------------------------------

TEST_F(TwoStacks, UseAfterCloseAndForeignHandlesAreEbadf) {
  weir_socket t, u;
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &t), 0);
  ASSERT_EQ(weir_udp_socket(a, WEIR_AF_INET, &u), 0);
  EXPECT_NE(t, WEIR_INVALID_SOCKET);
  EXPECT_NE(t, u);
  // Another stack's handle.
  EXPECT_EQ(weir_socket_events(b, t), -EBADF);
  EXPECT_EQ(weir_socket_close(b, t), -EBADF);
  ASSERT_EQ(weir_socket_close(a, t), 0);
  ASSERT_EQ(weir_socket_close(a, u), 0);

  char buf[4];
  weir_sockaddr sa = addr("10.98.0.2:1");
  int v = 0;
  weir_socket out;
  for (weir_socket h : {t, u, WEIR_INVALID_SOCKET, weir_socket{12345}, ~weir_socket{0}}) {
    EXPECT_EQ(weir_socket_close(a, h), -EBADF);
    EXPECT_EQ(weir_socket_bind(a, h, &sa), -EBADF);
    EXPECT_EQ(weir_socket_connect(a, h, &sa), -EBADF);
    EXPECT_EQ(weir_socket_shutdown(a, h, WEIR_SHUT_RDWR), -EBADF);
    EXPECT_EQ(weir_socket_events(a, h), -EBADF);
    EXPECT_EQ(weir_socket_take_error(a, h, &v), -EBADF);
    EXPECT_EQ(weir_socket_local_address(a, h, &sa), -EBADF);
    EXPECT_EQ(weir_socket_remote_address(a, h, &sa), -EBADF);
    EXPECT_EQ(weir_socket_set_option(a, h, WEIR_OPT_RCVBUF, 1), -EBADF);
    EXPECT_EQ(weir_socket_get_option(a, h, WEIR_OPT_RCVBUF, &v), -EBADF);
    EXPECT_EQ(weir_socket_set_callback(a, h, nullptr, nullptr), -EBADF);
    EXPECT_EQ(weir_tcp_listen(a, h, 1), -EBADF);
    EXPECT_EQ(weir_tcp_accept(a, h, &out, nullptr), -EBADF);
    EXPECT_EQ(weir_tcp_read(a, h, buf, sizeof buf), -EBADF);
    EXPECT_EQ(weir_tcp_write(a, h, buf, sizeof buf), -EBADF);
    EXPECT_EQ(weir_tcp_abort(a, h), -EBADF);
    EXPECT_EQ(weir_udp_sendto(a, h, buf, 1, &sa), -EBADF);
    EXPECT_EQ(weir_udp_recvfrom(a, h, buf, sizeof buf, nullptr, 0), -EBADF);
  }

  // The slots are reused, with new handles: the old ones stay dead.
  weir_socket t2, u2;
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &t2), 0);
  ASSERT_EQ(weir_udp_socket(a, WEIR_AF_INET, &u2), 0);
  EXPECT_NE(t2, t);
  EXPECT_NE(t2, u);
  EXPECT_NE(u2, t);
  EXPECT_NE(u2, u);
  EXPECT_EQ(weir_socket_events(a, t), -EBADF);
  EXPECT_EQ(weir_socket_events(a, u), -EBADF);
  EXPECT_GE(weir_socket_events(a, t2), 0);
  EXPECT_GE(weir_socket_events(a, u2), 0);

  // Many sockets: all distinct, all closable once.
  std::vector<weir_socket> many(1000);
  for (auto& h : many) ASSERT_EQ(weir_udp_socket(a, WEIR_AF_INET, &h), 0);
  std::sort(many.begin(), many.end());
  EXPECT_EQ(std::unique(many.begin(), many.end()), many.end());
  for (auto h : many) ASSERT_EQ(weir_socket_close(a, h), 0);
  for (auto h : many) ASSERT_EQ(weir_socket_close(a, h), -EBADF);
}

TEST(CapiStack, FreeingAStackWithOpenSocketsResetsConnections) {
  StackPtr s = make_stack(8);
  weir_socket t, u;
  ASSERT_EQ(weir_tcp_socket(s.get(), WEIR_AF_INET, &t), 0);
  ASSERT_EQ(weir_udp_socket(s.get(), WEIR_AF_INET, &u), 0);
  ASSERT_EQ(weir_socket_set_callback(
                s.get(), t, [](weir_stack*, weir_socket, int, void*) {}, nullptr),
            0);
  s.reset();  // ASan checks nothing leaks or dangles
}

// ---- callbacks -------------------------------------------------------------------------------

struct CallbackLog {
  weir_stack* stack = nullptr;
  std::vector<std::pair<weir_socket, int>> calls;
  std::vector<weir_socket> accepted;
  int poll_result = 0;
  bool close_on_call = false;
};

TEST_F(TwoStacks, CallbacksRunAfterPollAndMayAcceptAndClose) {
  weir_socket listener;
  ASSERT_EQ(weir_tcp_socket(b, WEIR_AF_INET, &listener), 0);
  weir_sockaddr any = addr("0.0.0.0:7");
  ASSERT_EQ(weir_socket_bind(b, listener, &any), 0);
  ASSERT_EQ(weir_tcp_listen(b, listener, 8), 0);
  CallbackLog log;
  log.stack = b;
  // On the listener: accept every pending connection; on accepted sockets: read, echo, and
  // close at EOF; from inside, poll is refused.
  ASSERT_EQ(weir_socket_set_callback(
                b, listener,
                [](weir_stack* s, weir_socket sock, int events, void* user) {
                  auto* l = static_cast<CallbackLog*>(user);
                  EXPECT_EQ(s, l->stack);
                  l->calls.push_back({sock, events});
                  l->poll_result = static_cast<int>(weir_stack_poll(s, 0, nullptr));
                  EXPECT_EQ(weir_loop_run_once(s, 0, nullptr), -EBUSY);
                  EXPECT_EQ(weir_loop_run(s), -EBUSY);
                  weir_socket child;
                  while (weir_tcp_accept(s, sock, &child, nullptr) == 0) {
                    l->accepted.push_back(child);
                    EXPECT_EQ(weir_socket_set_callback(
                                  s, child,
                                  [](weir_stack* s2, weir_socket c, int, void*) {
                                    char buf[256];
                                    ssize_t n;
                                    while ((n = weir_tcp_read(s2, c, buf, sizeof buf)) > 0) {
                                      EXPECT_EQ(weir_tcp_write(s2, c, buf, static_cast<size_t>(n)),
                                                n);
                                    }
                                    if (n == 0) {
                                      EXPECT_EQ(weir_socket_close(s2, c), 0);
                                    }
                                  },
                                  nullptr),
                              0);
                  }
                },
                &log),
            0);

  weir_socket c1, c2;
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &c1), 0);
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &c2), 0);
  weir_sockaddr to = addr("10.98.0.2:7");
  ASSERT_EQ(weir_socket_connect(a, c1, &to), -EINPROGRESS);
  ASSERT_EQ(weir_socket_connect(a, c2, &to), -EINPROGRESS);
  ASSERT_TRUE(pump_until([&] { return log.accepted.size() == 2; }));
  EXPECT_EQ(log.poll_result, -EBUSY);
  ASSERT_FALSE(log.calls.empty());
  EXPECT_EQ(log.calls[0].first, listener);
  EXPECT_TRUE(log.calls[0].second & WEIR_EV_READABLE);

  ASSERT_EQ(weir_tcp_write(a, c1, "one", 3), 3);
  ASSERT_EQ(weir_tcp_write(a, c2, "two!", 4), 4);
  char buf[8];
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(a, c2) & WEIR_EV_READABLE; }));
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(a, c1) & WEIR_EV_READABLE; }));
  EXPECT_EQ(weir_tcp_read(a, c1, buf, sizeof buf), 3);
  EXPECT_EQ(weir_tcp_read(a, c2, buf, sizeof buf), 4);
  // EOF makes the echo callback close its socket; the handle is dead afterwards.
  ASSERT_EQ(weir_socket_shutdown(a, c1, WEIR_SHUT_WR), 0);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(b, log.accepted[0]) == -EBADF; }));
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(a, c1) & WEIR_EV_RDHUP; }));

  // Removing the callback stops the calls.
  const size_t before = log.calls.size();
  ASSERT_EQ(weir_socket_set_callback(b, listener, nullptr, nullptr), 0);
  weir_socket c3;
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &c3), 0);
  ASSERT_EQ(weir_socket_connect(a, c3, &to), -EINPROGRESS);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(b, listener) & WEIR_EV_READABLE; }));
  EXPECT_EQ(log.calls.size(), before);
}

TEST_F(TwoStacks, CallbackMayCloseOtherSocketsQueuedInTheSameRound) {
  // Two UDP sockets on b get a datagram each in one poll; whichever callback runs first closes
  // both; the other must never run with a dead handle.
  weir_socket u1, u2, ua;
  ASSERT_EQ(weir_udp_socket(b, WEIR_AF_INET, &u1), 0);
  ASSERT_EQ(weir_udp_socket(b, WEIR_AF_INET, &u2), 0);
  weir_sockaddr p1 = addr("10.98.0.2:1001"), p2 = addr("10.98.0.2:1002");
  ASSERT_EQ(weir_socket_bind(b, u1, &p1), 0);
  ASSERT_EQ(weir_socket_bind(b, u2, &p2), 0);
  struct State {
    weir_socket u1, u2;
    int calls = 0;
  } state{u1, u2};
  auto cb = [](weir_stack* s, weir_socket, int, void* user) {
    auto* st = static_cast<State*>(user);
    ++st->calls;
    EXPECT_EQ(weir_socket_close(s, st->u1), 0);
    EXPECT_EQ(weir_socket_close(s, st->u2), 0);
  };
  ASSERT_EQ(weir_socket_set_callback(b, u1, cb, &state), 0);
  ASSERT_EQ(weir_socket_set_callback(b, u2, cb, &state), 0);
  ASSERT_EQ(weir_udp_socket(a, WEIR_AF_INET, &ua), 0);
  ASSERT_EQ(weir_udp_sendto(a, ua, "1", 1, &p1), 1);
  ASSERT_EQ(weir_udp_sendto(a, ua, "2", 1, &p2), 1);
  ASSERT_TRUE(pump_until([&] { return state.calls > 0; }));
  for (int i = 0; i < 5; ++i) pump();
  EXPECT_EQ(state.calls, 1);
}

TEST_F(TwoStacks, ChangesFromOwnCallsWakeTheWaitFd) {
  // A connect that fails at once (b's port is closed, but the failure comes back only with a
  // packet) versus one whose readiness changes inside the caller's call: shutdown of a UDP
  // socket notifies at once, outside any poll.
  weir_socket u;
  ASSERT_EQ(weir_udp_socket(a, WEIR_AF_INET, &u), 0);
  int calls = 0;
  ASSERT_EQ(
      weir_socket_set_callback(
          a, u, [](weir_stack*, weir_socket, int, void* n) { ++*static_cast<int*>(n); }, &calls),
      0);
  int fds[4];
  const ssize_t count = weir_stack_wait_fds(a, fds, 4);
  ASSERT_EQ(count, 2);
  auto any_readable = [&] {
    for (ssize_t i = 0; i < count; ++i) {
      if (fd_readable(fds[i])) return true;
    }
    return false;
  };
  EXPECT_FALSE(any_readable());
  EXPECT_EQ(weir_socket_shutdown(a, u, WEIR_SHUT_RDWR), -ENOTCONN);
  EXPECT_EQ(calls, 0);  // not from inside the caller's own call
  EXPECT_TRUE(any_readable());
  uint64_t deadline = 0;
  EXPECT_GE(weir_stack_poll(a, 0, &deadline), 1);
  EXPECT_EQ(calls, 1);
  EXPECT_FALSE(any_readable());
}

// ---- raw IP ----------------------------------------------------------------------------------

class RawIpStacks : public TwoStacks {
 protected:
  void SetUp() override { build(WEIR_FRAMING_RAW_IP); }
};

TEST_F(RawIpStacks, TcpAndUdpWithoutArp) {
  weir_socket client, server, listener;
  connect_pair("10.98.0.2", 22, &client, &server, &listener);
  ASSERT_EQ(weir_tcp_write(b, server, "SSH-2.0", 7), 7);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(a, client) & WEIR_EV_READABLE; }));
  char buf[16];
  EXPECT_EQ(weir_tcp_read(a, client, buf, sizeof buf), 7);

  // A raw IP packet taken from a is an IPv4 packet (version nibble 4).
  weir_socket u;
  ASSERT_EQ(weir_udp_socket(a, WEIR_AF_INET, &u), 0);
  weir_sockaddr to = addr("10.98.0.2:9");
  ASSERT_EQ(weir_udp_sendto(a, u, "z", 1, &to), 1);
  unsigned char packet[2048];
  ssize_t n;
  // Behind whatever TCP still had to say.
  while ((n = weir_packet_queue_take(a, na, packet, sizeof packet)) > 0 && packet[9] != 17) {
  }
  ASSERT_EQ(n, 20 + 8 + 1);
  EXPECT_EQ(packet[0] >> 4, 4);
  EXPECT_EQ(packet[9], 17);
  unsigned char bad[20] = {0x50};
  EXPECT_EQ(weir_packet_queue_inject(b, nb, bad, sizeof bad), -EBADMSG);
}

// ---- loop mode -------------------------------------------------------------------------------

TEST_F(TwoStacks, LoopRunsOnItsThreadAndTakesPostedWork) {
  // b runs weir's loop on a thread, echoing UDP from a callback; the test thread drives a and
  // moves packets (packet queue inject and take are safe from another thread).
  weir_socket ub;
  ASSERT_EQ(weir_udp_socket(b, WEIR_AF_INET, &ub), 0);
  weir_sockaddr pb = addr("10.98.0.2:7");
  ASSERT_EQ(weir_socket_bind(b, ub, &pb), 0);
  ASSERT_EQ(weir_socket_set_callback(
                b, ub,
                [](weir_stack* s, weir_socket sock, int, void*) {
                  char buf[256];
                  weir_sockaddr from;
                  ssize_t n;
                  while ((n = weir_udp_recvfrom(s, sock, buf, sizeof buf, &from, 0)) >= 0) {
                    EXPECT_EQ(weir_udp_sendto(s, sock, buf, static_cast<size_t>(n), &from), n);
                  }
                },
                nullptr),
            0);
  EXPECT_GE(weir_stack_loop_fd(b), 0);
  std::thread loop([this] { EXPECT_EQ(weir_loop_run(b), 0); });

  weir_socket ua;
  ASSERT_EQ(weir_udp_socket(a, WEIR_AF_INET, &ua), 0);
  ASSERT_EQ(weir_udp_sendto(a, ua, "echo me", 7, &pb), 7);
  char buf[16];
  ssize_t got = -EAGAIN;
  const uint64_t give_up = weir_now_ns() + 5'000'000'000ull;
  while (got == -EAGAIN && weir_now_ns() < give_up) {
    move(a, na, b, nb);
    move(b, nb, a, na);
    weir_stack_poll(a, 0, nullptr);
    got = weir_udp_recvfrom(a, ua, buf, sizeof buf, nullptr, 0);
    if (got == -EAGAIN) std::this_thread::yield();  // the loop thread answers
  }
  EXPECT_EQ(got, 7);

  // Posted work runs on the loop thread; stop from there ends the run.
  struct Posted {
    std::thread::id thread;
    std::atomic<bool> ran{false};
  } posted;
  ASSERT_EQ(weir_loop_post(
                b,
                [](weir_stack* s, void* user) {
                  auto* p = static_cast<Posted*>(user);
                  p->thread = std::this_thread::get_id();
                  EXPECT_EQ(weir_stack_poll(s, 0, nullptr), -EBUSY);
                  p->ran = true;
                  EXPECT_EQ(weir_loop_stop(s), 0);
                },
                &posted),
            0);
  loop.join();
  EXPECT_TRUE(posted.ran);
  EXPECT_NE(posted.thread, std::this_thread::get_id());

  // Stop from another thread, and a stop before the run ends it at once.
  ASSERT_EQ(weir_loop_stop(b), 0);
  EXPECT_EQ(weir_loop_run(b), 0);
  // The stop comes while the run is under way: a posted task says when it is.
  std::atomic<bool> running{false};
  ASSERT_EQ(weir_loop_post(
                b, [](weir_stack*, void* user) { static_cast<std::atomic<bool>*>(user)->store(true); },
                &running),
            0);
  std::thread again([this] { EXPECT_EQ(weir_loop_run(b), 0); });
  while (!running) std::this_thread::yield();
  EXPECT_EQ(weir_loop_stop(b), 0);
  again.join();
}

TEST_F(TwoStacks, NestedLoopRunOnce) {
  const int fd = weir_stack_loop_fd(a);
  ASSERT_GE(fd, 0);
  EXPECT_FALSE(fd_readable(fd));
  int ran = 0;
  ASSERT_EQ(weir_loop_post(
                a, [](weir_stack*, void* n) { ++*static_cast<int*>(n); }, &ran),
            0);
  EXPECT_TRUE(fd_readable(fd));
  uint64_t deadline = 0;
  EXPECT_GE(weir_loop_run_once(a, 0, &deadline), 1);
  EXPECT_EQ(ran, 1);
  EXPECT_EQ(deadline, UINT64_MAX);
  // Packets injected for a are received by a loop iteration too.
  weir_socket ua, ub;
  ASSERT_EQ(weir_udp_socket(a, WEIR_AF_INET, &ua), 0);
  weir_sockaddr pa = addr("10.98.0.1:99");
  ASSERT_EQ(weir_socket_bind(a, ua, &pa), 0);
  ASSERT_EQ(weir_udp_socket(b, WEIR_AF_INET, &ub), 0);
  ASSERT_EQ(weir_udp_sendto(b, ub, "n", 1, &pa), 1);
  char buf[4];
  for (int i = 0; i < 50 && weir_udp_recvfrom(a, ua, buf, sizeof buf, nullptr, WEIR_MSG_PEEK) < 0;
       ++i) {
    move(a, na, b, nb);
    move(b, nb, a, na);
    weir_loop_run_once(a, 1, nullptr);
    weir_loop_run_once(b, 1, nullptr);
  }
  EXPECT_EQ(weir_udp_recvfrom(a, ua, buf, sizeof buf, nullptr, 0), 1);
}

// ---- forwarder -------------------------------------------------------------------------------

// a routes everything through b (its gateway); b accepts any destination and terminates the
// flows.
class Forwarding : public TwoStacks {
 protected:
  void SetUp() override {
    TwoStacks::SetUp();
    ASSERT_EQ(weir_stack_set_gateway(a, na, "10.98.0.2"), 0);
    ASSERT_EQ(weir_nic_set_accept_any(b, nb, 1), 0);
  }
  struct Flows {
    std::vector<weir_flow> flows;
    std::vector<weir_socket> sockets;
    enum { kAccept, kRefuse, kDefer } mode = kAccept;
  };
};

TEST_F(Forwarding, TcpFlowsToAnyAddressAcceptRefuseDefer) {
  EXPECT_EQ(weir_nic_set_accept_any(b, 99, 1), -ENODEV);
  weir_socket out;
  EXPECT_EQ(weir_forwarder_accept(b, WEIR_PROTO_TCP, 1, &out), -ENOPROTOOPT);
  EXPECT_EQ(weir_forwarder_refuse(b, WEIR_PROTO_TCP, 1), -ENOPROTOOPT);
  Flows f;
  ASSERT_EQ(weir_forwarder_set(
                b, WEIR_PROTO_TCP,
                [](weir_stack* s, const weir_flow* flow, void* user) {
                  auto* fl = static_cast<Flows*>(user);
                  fl->flows.push_back(*flow);
                  if (fl->mode == Flows::kAccept) {
                    weir_socket sock;
                    EXPECT_EQ(weir_forwarder_accept(s, WEIR_PROTO_TCP, flow->id, &sock), 0);
                    fl->sockets.push_back(sock);
                  } else if (fl->mode == Flows::kRefuse) {
                    EXPECT_EQ(weir_forwarder_refuse(s, WEIR_PROTO_TCP, flow->id), 0);
                  }
                },
                &f),
            0);

  weir_socket c;
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &c), 0);
  weir_sockaddr far = addr("203.0.113.9:80");
  ASSERT_EQ(weir_socket_connect(a, c, &far), -EINPROGRESS);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(a, c) & WEIR_EV_WRITABLE; }));
  ASSERT_EQ(f.flows.size(), 1u);
  EXPECT_EQ(f.flows[0].protocol, WEIR_PROTO_TCP);
  EXPECT_EQ(f.flows[0].nic, nb);
  EXPECT_EQ(format(f.flows[0].local), "203.0.113.9:80");
  EXPECT_EQ(format(f.flows[0].remote, false), "10.98.0.1");
  ASSERT_EQ(f.sockets.size(), 1u);
  weir_sockaddr sa{};
  ASSERT_EQ(weir_socket_local_address(b, f.sockets[0], &sa), 0);
  EXPECT_EQ(format(sa), "203.0.113.9:80");
  ASSERT_EQ(weir_tcp_write(a, c, "GET /", 5), 5);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(b, f.sockets[0]) & WEIR_EV_READABLE; }));
  char buf[8];
  EXPECT_EQ(weir_tcp_read(b, f.sockets[0], buf, sizeof buf), 5);
  EXPECT_EQ(weir_forwarder_accept(b, WEIR_PROTO_TCP, f.flows[0].id, &out), -ENOENT);

  // Refused: the client sees a refusal.
  f.mode = Flows::kRefuse;
  weir_socket c2;
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &c2), 0);
  weir_sockaddr far2 = addr("203.0.113.10:443");
  ASSERT_EQ(weir_socket_connect(a, c2, &far2), -EINPROGRESS);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(a, c2) & WEIR_EV_ERROR; }));
  int err = 0;
  ASSERT_EQ(weir_socket_take_error(a, c2, &err), 0);
  EXPECT_EQ(err, ECONNREFUSED);

  // Deferred: nothing happens until the embedder decides.
  f.mode = Flows::kDefer;
  weir_socket c3;
  ASSERT_EQ(weir_tcp_socket(a, WEIR_AF_INET, &c3), 0);
  weir_sockaddr far3 = addr("198.51.100.1:22");
  ASSERT_EQ(weir_socket_connect(a, c3, &far3), -EINPROGRESS);
  ASSERT_TRUE(pump_until([&] { return f.flows.size() == 3; }));
  for (int i = 0; i < 10; ++i) pump();
  EXPECT_EQ(weir_socket_events(a, c3) & WEIR_EV_WRITABLE, 0);
  weir_socket late;
  ASSERT_EQ(weir_forwarder_accept(b, WEIR_PROTO_TCP, f.flows[2].id, &late), 0);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(a, c3) & WEIR_EV_WRITABLE; }));

  // Removing the forwarder: later SYNs to foreign addresses are reset by b.
  ASSERT_EQ(weir_forwarder_set(b, WEIR_PROTO_TCP, nullptr, nullptr), 0);
  EXPECT_EQ(weir_forwarder_accept(b, WEIR_PROTO_TCP, 99, &out), -ENOPROTOOPT);
}

TEST_F(Forwarding, UdpFlowsAreDecidedInTheHandler) {
  Flows f;
  ASSERT_EQ(weir_forwarder_set(
                b, WEIR_PROTO_UDP,
                [](weir_stack* s, const weir_flow* flow, void* user) {
                  auto* fl = static_cast<Flows*>(user);
                  fl->flows.push_back(*flow);
                  if (fl->mode == Flows::kAccept) {
                    weir_socket sock;
                    EXPECT_EQ(weir_forwarder_accept(s, WEIR_PROTO_UDP, flow->id, &sock), 0);
                    fl->sockets.push_back(sock);
                  } else if (fl->mode == Flows::kRefuse) {
                    EXPECT_EQ(weir_forwarder_refuse(s, WEIR_PROTO_UDP, flow->id), 0);
                  }
                },
                &f),
            0);
  weir_socket u;
  ASSERT_EQ(weir_udp_socket(a, WEIR_AF_INET, &u), 0);
  weir_sockaddr dns = addr("192.0.2.53:53");
  ASSERT_EQ(weir_udp_sendto(a, u, "query", 5, &dns), 5);
  ASSERT_TRUE(pump_until([&] { return !f.sockets.empty(); }));
  ASSERT_EQ(f.flows.size(), 1u);
  EXPECT_EQ(f.flows[0].protocol, WEIR_PROTO_UDP);
  EXPECT_EQ(f.flows[0].payload_size, 5u);
  EXPECT_EQ(format(f.flows[0].local), "192.0.2.53:53");
  char buf[16];
  EXPECT_EQ(weir_udp_recvfrom(b, f.sockets[0], buf, sizeof buf, nullptr, 0), 5);
  ASSERT_EQ(weir_udp_sendto(b, f.sockets[0], "answer", 6, nullptr), 6);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(a, u) & WEIR_EV_READABLE; }));
  weir_sockaddr from{};
  EXPECT_EQ(weir_udp_recvfrom(a, u, buf, sizeof buf, &from, 0), 6);
  EXPECT_EQ(format(from), "192.0.2.53:53");
  // Later datagrams of the flow go to its socket, not the handler.
  ASSERT_EQ(weir_udp_sendto(a, u, "again", 5, &dns), 5);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(b, f.sockets[0]) & WEIR_EV_READABLE; }));
  EXPECT_EQ(f.flows.size(), 1u);
  // Deciding outside the handler is too late.
  weir_socket out;
  EXPECT_EQ(weir_forwarder_accept(b, WEIR_PROTO_UDP, f.flows[0].id, &out), -ENOENT);

  // Refused: a connected client gets the port unreachable as its pending error.
  f.mode = Flows::kRefuse;
  weir_socket u2;
  ASSERT_EQ(weir_udp_socket(a, WEIR_AF_INET, &u2), 0);
  weir_sockaddr other = addr("192.0.2.54:53");
  ASSERT_EQ(weir_socket_connect(a, u2, &other), 0);
  ASSERT_EQ(weir_udp_sendto(a, u2, "q", 1, nullptr), 1);
  ASSERT_TRUE(pump_until([&] { return weir_socket_events(a, u2) & WEIR_EV_ERROR; }));
  int err = 0;
  ASSERT_EQ(weir_socket_take_error(a, u2, &err), 0);
  EXPECT_EQ(err, ECONNREFUSED);
  ASSERT_EQ(weir_forwarder_set(b, WEIR_PROTO_UDP, nullptr, nullptr), 0);
}

TEST(CapiStackDeathTest, FreeFromACallbackAbortsWithAMessage) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        weir_stack* s = nullptr;
        weir_stack_new(nullptr, &s);
        weir_socket u;
        weir_udp_socket(s, WEIR_AF_INET, &u);
        weir_socket_set_callback(
            s, u, [](weir_stack* st, weir_socket, int, void*) { weir_stack_free(st); }, nullptr);
        weir_socket_shutdown(s, u, WEIR_SHUT_RDWR);  // readiness changes: the callback is due
        weir_stack_poll(s, 0, nullptr);
      },
      "weir_stack_free: called from a callback");
}

TEST(CapiStack, AutoconfOption) {
  weir_stack_options o;
  weir_stack_options_init(&o);
  o.ipv6_autoconf = 1;
  weir_stack* s = nullptr;
  ASSERT_EQ(weir_stack_new(&o, &s), 0);
  weir_nic nic;
  ASSERT_EQ(weir_stack_add_packet_queue(s, "eth0", WEIR_FRAMING_ETHERNET, 0, &nic), 0);
  // Autoconfiguration registered its counters; a stack without it has none.
  std::string text(static_cast<size_t>(weir_stack_counters_dump(s, nullptr, 0)) + 1, '\0');
  weir_stack_counters_dump(s, text.data(), text.size());
  EXPECT_THAT(text, HasSubstr("\nslaac."));
  weir_stack_free(s);
  StackPtr plain = make_stack(9);
  text.assign(static_cast<size_t>(weir_stack_counters_dump(plain.get(), nullptr, 0)) + 1, '\0');
  weir_stack_counters_dump(plain.get(), text.data(), text.size());
  EXPECT_THAT(text, ::testing::Not(HasSubstr("\nslaac.")));
}

// ---- the C99 client --------------------------------------------------------------------------

TEST(CapiC, PlainCClientTalksTcpAndUdp) { EXPECT_EQ(weir_capi_c_client(), 0); }

}  // namespace
