// What fuzz_sandbox_emulator does with one input (the script is described in
// fuzz/sandbox_emulator_fuzz.cc), apart from the target so tests can run inputs the same way.
//
// The world of an input: the emulator, on a stack with IPv4, IPv6, UDP and TCP whose only NIC is
// a loopback (127.0.0.1/8, ::1), driven by a Loop and a manual clock; the program's side is the
// fake tracee of the emulator tests. The stack, the loop and the loopback endpoint (watched by
// the loop) are kept for the whole process (EmulatorCore) and reset after every input: a loop
// and a loopback built per input were 8 of the about 68 system calls of a seed-sized input
// (epoll fd, two eventfds, their registrations and closes), and system calls were 43% of the
// target's time. Everything else (protocols, NIC, emulator, tracee, sockets) is built per input
// as before.
//
// An input must behave exactly as in a new process, or a crash found here would not reproduce
// when libFuzzer runs the one input alone: the resets happen when the input's world is
// destroyed, after everything on the stack is gone, and leave what the constructors left
// (Loop::reset, LoopbackEndpoint::reset, Stack::reset); tests/sandbox/emulator_reset_test.cc runs
// inputs after others and compares them with runs on a new core.
#pragma once

#include <fcntl.h>
#include <linux/netlink.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "fuzz/reused_stack.h"
#include "ipv4/ipv4.h"
#include "ipv6/ipv6.h"
#include "link/loopback.h"
#include "sandbox/emulator.h"
#include "sandbox/sockaddr.h"
#include "stack/bytes.h"
#include "stack/link_endpoint.h"
#include "stack/loop.h"
#include "stack/stack.h"
#include "tcp/tcp.h"
#include "tests/sandbox/fake_tracee.h"
#include "udp/udp.h"

namespace weir::fuzzing {

// What a stack's NIC owns when the endpoint itself is kept elsewhere: every call goes to the
// kept one, so the NIC sees exactly the endpoint it would own.
class BorrowedEndpoint final : public LinkEndpoint {
 public:
  explicit BorrowedEndpoint(LinkEndpoint& endpoint) : endpoint_(endpoint) {}

  uint32_t mtu() const override { return endpoint_.mtu(); }
  LinkCapabilities capabilities() const override { return endpoint_.capabilities(); }
  uint16_t max_header_length() const override { return endpoint_.max_header_length(); }
  MacAddress link_address() const override { return endpoint_.link_address(); }
  void attach(NetworkDispatcher* dispatcher) override { endpoint_.attach(dispatcher); }
  bool attached() const override { return endpoint_.attached(); }
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override {
    return endpoint_.write_packets(packets);
  }
  int readable_fd() const override { return endpoint_.readable_fd(); }
  bool needs_polling() const override { return endpoint_.needs_polling(); }
  size_t process_receive(size_t budget) override { return endpoint_.process_receive(budget); }

 private:
  LinkEndpoint& endpoint_;
};

// What the emulator target keeps for the process: the stack (with its clock), the loop on it and
// the loopback endpoint, the loop watching the loopback, each as this constructor leaves it
// between inputs. The watch is kept too: adding the loopback's fd to the epoll set and taking
// it out again were two system calls per input.
struct EmulatorCore {
  StackCore stack_core;
  Loop loop{stack_core.stack};
  std::unique_ptr<link::LoopbackEndpoint> loopback = link::LoopbackEndpoint::create().value();

  EmulatorCore() { (void)loop.watch(*loopback); }
  ~EmulatorCore() { loop.unwatch(*loopback); }
  EmulatorCore(const EmulatorCore&) = delete;
  EmulatorCore& operator=(const EmulatorCore&) = delete;

  // The target's, built on first use.
  static EmulatorCore& process() {
    static EmulatorCore core;
    return core;
  }
};

// One input's world on a core. One at a time per core.
class EmulatorWorld {
 public:
  static constexpr size_t kMemory = 16384;
  static constexpr Duration kTurn = std::chrono::milliseconds(7);

  explicit EmulatorWorld(EmulatorCore& core = EmulatorCore::process())
      : resets_(core), reused_(core.stack_core), loop(core.loop), loopback(*core.loopback) {
    ipv4::install(stack);
    ipv6::install(stack);
    udp::install(stack);
    tcp::install(stack);
    auto nic = stack.add_nic(std::make_unique<BorrowedEndpoint>(loopback), "lo");
    // Parsed once per process, not per input.
    static const IpPrefix v4 = IpPrefix::parse("127.0.0.1/8").value();
    static const IpPrefix v6 = IpPrefix::parse("::1/128").value();
    (void)stack.add_address(*nic, v4);
    (void)stack.add_address(*nic, v6);
    emulator = std::make_unique<sandbox::Emulator>(stack, loop, tracee);
  }
  ~EmulatorWorld() {
    emulator.reset();
    for (int fd : fds) ::close(fd);
  }
  EmulatorWorld(const EmulatorWorld&) = delete;
  EmulatorWorld& operator=(const EmulatorWorld&) = delete;

  void turn(int n) {
    for (int i = 0; i < n; ++i) {
      clock.advance(kTurn);
      handled.push_back(loop.run_once(Duration::zero()));
    }
  }
  // turn(n) at the end of an input, which stops early once nothing is left to happen: a loop
  // iteration that handled nothing (no fd event, timer or posted task) ran no code that could
  // make an fd ready, and the program's side writes nothing more, so later iterations find no
  // event either; when also no timer falls due before the last turn, those iterations would
  // only poll and move the clock. On the seeds and 150 fuzzed inputs the loop went idle for good
  // within 2 turns (checked: no later iteration of the 20 handled anything).
  void settle(int n) {
    for (int i = 1; i <= n; ++i) {
      clock.advance(kTurn);
      const size_t now_handled = loop.run_once(Duration::zero());
      handled.push_back(now_handled);
      if (now_handled > 0 || i == n) continue;
      const auto deadline = stack.timers().next_deadline();
      if (!deadline || *deadline > clock.now() + kTurn * (n - i)) {
        clock.advance(kTurn * (n - i));  // the destructors see the same clock
        return;
      }
    }
  }
  uint64_t call(int nr, std::array<uint64_t, 6> args) {
    sandbox::SyscallRequest req;
    req.id = next_id++;
    req.tid = 100 + static_cast<pid_t>(req.id % 3);
    req.nr = nr;
    req.args = args;
    emulator->handle(req);
    calls.push_back(req.id);
    if (auto a = tracee.answer(req.id); a && a->fd >= 0) {
      int fd = tracee.take_fd(req.id);
      if (nr == SYS_socket || nr == SYS_accept4) {
        fds.push_back(fd);
      } else {
        ::close(fd);  // an opened /proc file: the program reads it natively, or not at all
      }
    }
    return req.id;
  }

 private:
  // First: destroyed last, after the stack's reset (reused_) has taken the NIC off the
  // loopback, it puts the loop and the loopback back as new.
  struct Resets {
    EmulatorCore& core;
    ~Resets() {
      core.loop.reset(core.loopback.get());
      core.loopback->reset();
    }
  } resets_;
  // Destroyed after everything below that references the stack (fuzz/reused_stack.h).
  ReusedStack reused_;

 public:
  ManualClock& clock = reused_.clock();
  Stack& stack = reused_.stack();
  Loop& loop;
  link::LoopbackEndpoint& loopback;
  sandbox::testing::FakeTracee tracee{kMemory};
  std::unique_ptr<sandbox::Emulator> emulator;
  std::vector<int> fds;  // installed stand-ins, by creation order
  std::vector<uint64_t> calls;
  std::vector<size_t> handled;  // what each turn of the loop handled
  uint64_t next_id = 1;
};

inline void run_sandbox_emulator_input(EmulatorWorld& w, ByteView input) {
  using sandbox::testing::FakeTracee;
  constexpr size_t kMemory = EmulatorWorld::kMemory;
  constexpr size_t kMaxOps = 64;
  ByteReader in(input);
  // The first part of the input is the program's memory image (pointers aim into it).
  const size_t image = std::min<size_t>(in.remaining(), 2048);
  copy_bytes(w.tracee.memory(), 0, in.bytes(image));
  const uint64_t base = FakeTracee::kBase;

  auto fd_arg = [&](uint8_t pick) -> uint64_t {
    if (w.fds.empty() || pick == 0xff) return pick;  // a bad fd now and then
    return static_cast<uint64_t>(w.fds[pick % w.fds.size()]);
  };
  auto ptr_arg = [&](uint16_t off) -> uint64_t {
    // Mostly inside the image; past its end (unmapped for the fake) when the high bit is set.
    return (off & 0x8000) ? base + kMemory + (off & 0x7fff) : base + (off % kMemory);
  };
  // A well-formed address at a fixed place, rewritten per call: the cases worth reaching.
  // Parsed once per process, not per operation.
  static const Ipv6Address loopback6 = Ipv6Address::parse("::1").value();
  static const Ipv6Address mapped6 = Ipv6Address::parse("::ffff:127.0.0.1").value();
  auto addr_arg = [&](uint8_t kind) -> std::pair<uint64_t, uint64_t> {
    const uint16_t ports[] = {80, 81, 0, 9};
    SocketAddress a;
    int family = (kind & 1) ? AF_INET6 : AF_INET;
    switch ((kind >> 1) & 3) {
      case 0:
        a.address = family == AF_INET ? IpAddress(Ipv4Address(127, 0, 0, 1)) : IpAddress(loopback6);
        break;
      case 1:
        a.address = family == AF_INET ? IpAddress(Ipv4Address(10, 1, 2, 3)) : IpAddress(mapped6);
        break;
      default: a.address = IpAddress::any(family == AF_INET ? AddressFamily::kIpv4 : AddressFamily::kIpv6);
    }
    a.port = ports[(kind >> 3) & 3];
    auto bytes = sandbox::encode_inet(family, a);
    uint64_t at = base + kMemory - 256;
    copy_bytes(w.tracee.memory(), kMemory - 256, bytes);
    uint64_t len = (kind & 0x80) ? (kind & 0x1f) : bytes.size();  // sometimes a bad length
    return {at, len};
  };

  for (size_t op = 0; op < kMaxOps && in.remaining() >= 4; ++op) {
    const uint8_t kind = in.u8();
    const uint8_t a = in.u8();
    const uint8_t b = in.u8();
    const uint8_t c = in.u8();
    const uint16_t off = static_cast<uint16_t>((b << 8) | c);
    switch (kind % 18) {
      case 0: {
        const int domains[] = {AF_INET, AF_INET6, AF_NETLINK, AF_PACKET};
        const int types[] = {SOCK_STREAM, SOCK_DGRAM, SOCK_RAW, SOCK_SEQPACKET};
        int type = types[b % 4] | ((c & 1) ? SOCK_NONBLOCK : 0) | ((c & 2) ? SOCK_CLOEXEC : 0);
        int protocol = (c & 4) ? (c >> 3) : 0;
        if (domains[a % 4] == AF_NETLINK && (c & 8)) protocol = NETLINK_SOCK_DIAG;
        w.call(SYS_socket, {uint64_t(domains[a % 4]), uint64_t(type), uint64_t(protocol), 0, 0, 0});
        break;
      }
      case 1:
      case 2: {
        auto [at, len] = addr_arg(b);
        w.call(kind % 18 == 1 ? SYS_bind : SYS_connect, {fd_arg(a), at, len, 0, 0, 0});
        break;
      }
      case 3:
        w.call(SYS_listen, {fd_arg(a), uint64_t(b), 0, 0, 0, 0});
        break;
      case 4:
        w.call(SYS_accept4, {fd_arg(a), ptr_arg(off), ptr_arg(off + 64), uint64_t(c & 0x3) << 11, 0, 0});
        break;
      case 5: {
        const int levels[] = {SOL_SOCKET, IPPROTO_TCP, IPPROTO_IP, IPPROTO_IPV6, SOL_NETLINK};
        w.call(SYS_getsockopt, {fd_arg(a), uint64_t(levels[b % 5]), uint64_t(c % 80), ptr_arg(off),
                                ptr_arg(off + 200), 0});
        break;
      }
      case 6: {
        const int levels[] = {SOL_SOCKET, IPPROTO_TCP, IPPROTO_IP, IPPROTO_IPV6, SOL_NETLINK};
        w.call(SYS_setsockopt, {fd_arg(a), uint64_t(levels[b % 5]), uint64_t(c % 80), ptr_arg(off),
                                uint64_t(c % 24), 0});
        break;
      }
      case 7: {
        auto [at, len] = addr_arg(c);
        w.call(SYS_sendto, {fd_arg(a), ptr_arg(off), uint64_t(b) * 8, 0, at, len});
        break;
      }
      case 8:
        w.call(SYS_recvfrom, {fd_arg(a), ptr_arg(off), uint64_t(b) * 8, uint64_t(c & 0x62),
                              ptr_arg(off + 100), ptr_arg(off + 300)});
        break;
      case 9:
        w.call(SYS_sendmsg, {fd_arg(a), ptr_arg(off), uint64_t(c & 0x40), 0, 0, 0});
        break;
      case 10:
        w.call(SYS_recvmsg, {fd_arg(a), ptr_arg(off), uint64_t(c & 0x62), 0, 0, 0});
        break;
      case 11: {
        const uint64_t requests[] = {0x541B, 0x5411, 0x8905, 0x8912, 0x8913, 0x8915, 0x8921,
                                     0x8927, 0x8933, 0x894B, 0x8914};
        w.call(SYS_ioctl, {fd_arg(a), requests[b % 11], ptr_arg(off), 0, 0, 0});
        break;
      }
      case 12:
        w.call(SYS_shutdown, {fd_arg(a), uint64_t(b % 4), 0, 0, 0, 0});
        break;
      case 13:
        w.call(b & 1 ? SYS_getpeername : SYS_getsockname, {fd_arg(a), ptr_arg(off), ptr_arg(off + 64), 0, 0, 0});
        break;
      case 14: {
        // The program writes on a stand-in natively.
        if (!w.fds.empty()) {
          std::array<std::byte, 64> bytes{};
          (void)::send(w.fds[a % w.fds.size()], bytes.data(), b % 64, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        break;
      }
      case 15:
        // A signal: the oldest call still parked is no longer waiting.
        for (uint64_t id : w.calls) {
          if (!w.tracee.answer(id)) {
            w.tracee.interrupt(id);
            break;
          }
        }
        break;
      case 16: {
        const char* paths[] = {"/proc/net/tcp", "/proc/self/net/udp6", "/proc/net/dev", "/etc/hosts",
                               "/proc/net/snmp"};
        const char* p = paths[a % 5];
        uint64_t at = base + kMemory - 512;
        copy_bytes(w.tracee.memory(), kMemory - 512, as_bytes(std::string_view(p, std::strlen(p) + 1)));
        w.call(SYS_openat, {uint64_t(AT_FDCWD), (c & 1) ? ptr_arg(off) : at, uint64_t(b & 3), 0, 0, 0});
        break;
      }
      default:
        w.turn(1 + a % 8);
        break;
    }
  }
  w.settle(20);
}

}  // namespace weir::fuzzing
