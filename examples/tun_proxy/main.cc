// tun_proxy: every TCP connection and UDP flow that enters a tun device is terminated in weir
// and re-originated from this host's own sockets to the destination the client asked for:
// the tun2socks pattern, on weir's flow forwarder.
//
//   tun_proxy TUN ADDRESS/PREFIX          e.g. tun_proxy wtun0 10.98.0.2/24
//
//   client --> tun --> [read() -> PacketQueueEndpoint -> weir -> tcp/udp::Forwarder]
//                                                                      |
//   server <-------------- host socket (connect to the original destination) <-+
//
// One thread, one poll() loop over the tun fd, the host sockets and a signalfd, driving the
// stack with Stack::poll() (mode (a) of docs/embedding.md). A TCP flow is accepted only once
// the host connection succeeded, so a closed port on the far side reaches the client as a
// RST. Data is relayed with a bounded buffer per direction: whichever side is slow stops the
// other (weir's window closes, or the host socket's does). Not done here, as a real proxy
// would: idle UDP flows are never expired, and the tun's packet info and offloads stay off.
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <list>
#include <memory>
#include <vector>
#include <weir/weir.hpp>

using namespace weir;

namespace {

// A non-blocking host socket connected (or connecting) to `to`; -1 on failure.
UniqueFd host_socket(int type, const SocketAddress& to) {
  sockaddr_storage ss{};
  socklen_t len;
  if (to.address.is_v4()) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(to.port);
    std::memcpy(&sin.sin_addr, to.address.bytes().data(), 4);
    std::memcpy(&ss, &sin, len = sizeof sin);
  } else {
    sockaddr_in6 sin6{};
    sin6.sin6_family = AF_INET6;
    sin6.sin6_port = htons(to.port);
    std::memcpy(&sin6.sin6_addr, to.address.bytes().data(), 16);
    std::memcpy(&ss, &sin6, len = sizeof sin6);
  }
  UniqueFd fd(socket(ss.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!fd) return fd;
  sockaddr* sa = static_cast<sockaddr*>(static_cast<void*>(&ss));
  if (connect(fd.get(), sa, len) < 0 && errno != EINPROGRESS) fd.reset();
  return fd;
}

// -1 while a non-blocking connect() is in progress, else its outcome (0 or an errno).
int connect_result(int fd) {
  if (fd < 0) return ECONNREFUSED;
  pollfd p{fd, POLLOUT, 0};
  if (poll(&p, 1, 0) == 0) return -1;
  int error = 0;
  socklen_t len = sizeof error;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
  return error;
}

struct TcpFlow {
  uint64_t request = 0;  // the forwarder's request while the host connects
  UniqueFd host;
  std::unique_ptr<tcp::Endpoint> ep;  // the client's side, once accepted
  std::vector<std::byte> to_host, to_client;
  bool client_eof = false, host_eof = false;
  bool host_shut = false, client_shut = false;
};

struct UdpFlow {
  std::unique_ptr<udp::Endpoint> ep;  // bound to the original destination, connected to the client
  UniqueFd host;
};

enum class Pumped { kOpen, kDone, kFailed };

// Moves what is ready each way without blocking. Each direction holds at most one buffer.
Pumped pump(TcpFlow& f, uint64_t& up, uint64_t& down) {
  std::array<std::byte, 65536> buf;
  for (;;) {  // client -> server
    if (!f.to_host.empty()) {
      ssize_t n = send(f.host.get(), f.to_host.data(), f.to_host.size(), MSG_NOSIGNAL);
      if (n < 0) {
        if (errno == EAGAIN) break;
        return Pumped::kFailed;
      }
      f.to_host.erase(f.to_host.begin(), f.to_host.begin() + n);
      up += static_cast<uint64_t>(n);
    } else if (f.client_eof) {
      if (!f.host_shut) f.host_shut = shutdown(f.host.get(), SHUT_WR) == 0;
      break;
    } else if (auto n = f.ep->read(buf); n) {
      f.client_eof = *n == 0;
      f.to_host.assign(buf.begin(), buf.begin() + static_cast<ptrdiff_t>(*n));
    } else if (n.error() == Error::kWouldBlock) {
      break;
    } else {
      return Pumped::kFailed;
    }
  }
  for (;;) {  // server -> client
    if (!f.to_client.empty()) {
      auto n = f.ep->write(f.to_client);
      if (!n) {
        if (n.error() == Error::kWouldBlock) break;
        return Pumped::kFailed;
      }
      f.to_client.erase(f.to_client.begin(), f.to_client.begin() + static_cast<ptrdiff_t>(*n));
      down += *n;
    } else if (f.host_eof) {
      if (!f.client_shut) f.client_shut = f.ep->shutdown(tcp::ShutdownHow::kWrite).ok();
      break;
    } else if (ssize_t n = recv(f.host.get(), buf.data(), buf.size(), 0); n >= 0) {
      f.host_eof = n == 0;
      f.to_client.assign(buf.begin(), buf.begin() + n);
    } else if (errno == EAGAIN) {
      break;
    } else {
      return Pumped::kFailed;
    }
  }
  return f.host_shut && f.client_shut ? Pumped::kDone : Pumped::kOpen;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s TUN ADDRESS/PREFIX\n", argv[0]);
    return 2;
  }
  auto prefix = IpPrefix::parse(argv[2]);
  if (!prefix) return std::fprintf(stderr, "tun_proxy: bad address %s\n", argv[2]), 2;

  // The tun device: bare IP packets (IFF_NO_PI), read and written by this loop.
  UniqueFd tun(open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  ifreq ifr{};
  ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
  std::snprintf(ifr.ifr_name, IFNAMSIZ, "%s", argv[1]);
  if (!tun || ioctl(tun.get(), TUNSETIFF, &ifr) < 0) {
    std::fprintf(stderr, "tun_proxy: cannot open tun %s: %s\n", argv[1], std::strerror(errno));
    return 1;
  }

  SteadyClock clock;
  Stack stack(clock);
  install_protocols(stack);
  link::PacketQueueOptions options;
  options.framing = link::Framing::kRawIp;  // a tun carries IP packets, no link header
  options.mtu = 1500;
  auto endpoint = link::PacketQueueEndpoint::create(options).value();
  link::PacketQueueEndpoint& link = *endpoint;  // the stack owns it from here on
  const NicId nic = stack.add_nic(std::move(endpoint), argv[1]).value();
  if (!stack.add_address(nic, *prefix)) return 1;
  stack.nic(nic)->set_accept_any_destination(true);  // take flows for every address

  std::list<TcpFlow> tcp_flows;
  std::list<UdpFlow> udp_flows;
  uint64_t tcp_count = 0, udp_count = 0, refused = 0, up = 0, down = 0, datagrams = 0;

  // A new TCP flow: connect to where the client wanted to go, and decide when that finishes.
  auto on_tcp_flow = [&](const tcp::ForwardRequest& r) {
    TcpFlow& flow = tcp_flows.emplace_back();
    flow.request = r.id;
    flow.host = host_socket(SOCK_STREAM, r.local);
  };
  auto tcp_fwd = tcp::Forwarder::create(stack, on_tcp_flow).value();
  // A new UDP flow: accepted at once; its first datagram waits on the endpoint.
  std::unique_ptr<udp::Forwarder> udp_fwd;
  auto on_udp_flow = [&](const udp::ForwardRequest& r) {
    UniqueFd host = host_socket(SOCK_DGRAM, r.local);
    auto ep = udp_fwd->accept(r.id);
    if (!host || !ep) return;  // dropped: the client's retry makes a new request
    udp_flows.push_back({std::move(*ep), std::move(host)});
    ++udp_count;
  };
  udp_fwd = udp::Forwarder::create(stack, on_udp_flow).value();

  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigprocmask(SIG_BLOCK, &stop, nullptr);
  UniqueFd signals(signalfd(-1, &stop, SFD_CLOEXEC));

  std::printf("tun_proxy: forwarding every TCP and UDP flow from %s\n", argv[1]);
  std::fflush(stdout);
  std::vector<pollfd> fds;
  std::vector<std::byte> dgram(65536);
  int timeout = 0;
  for (;;) {
    // Wait for the tun, the host sockets, the stack's own fds (none here: the packet queue is
    // fed by us) or its next timer.
    fds.clear();
    fds.push_back({tun.get(), POLLIN, 0});
    fds.push_back({signals.get(), POLLIN, 0});
    for (int fd : stack.wait_set().readable_fds) fds.push_back({fd, POLLIN, 0});
    for (auto& f : tcp_flows) {
      short events = f.ep ? 0 : POLLOUT;  // connecting
      if (f.ep && f.to_client.empty() && !f.host_eof) events |= POLLIN;
      if (f.ep && !f.to_host.empty()) events |= POLLOUT;
      fds.push_back({f.host.get(), events, 0});
    }
    for (auto& u : udp_flows) fds.push_back({u.host.get(), POLLIN, 0});
    if (poll(fds.data(), fds.size(), timeout) < 0 && errno != EINTR) return 1;
    if (fds[1].revents & POLLIN) break;

    // Inbound: each read is one IP packet, read straight into a packet buffer (no copy).
    for (int i = 0; i < 256; ++i) {
      PacketBuffer pkt = PacketBuffer::allocate(options.mtu);
      MutableByteView room = pkt.mutable_front(options.mtu).value();
      ssize_t n = read(tun.get(), room.data(), room.size());
      if (n <= 0) break;
      pkt.truncate(static_cast<size_t>(n));
      (void)link.inject(std::move(pkt));  // a refused packet is counted in link.counters()
    }
    Stack::PollResult r = stack.poll();  // delivers them, fires timers, runs the forwarders

    // Host connections that finished: accept the client's SYN, or refuse it (RST).
    for (auto it = tcp_flows.begin(); it != tcp_flows.end();) {
      const int error = it->ep ? 0 : connect_result(it->host.get());
      if (it->ep || error < 0) {  // relaying, or still connecting
        ++it;
      } else if (auto ep = error == 0 ? tcp_fwd->accept(it->request) : Error::kConnectionRefused) {
        it->ep = std::move(*ep);
        ++tcp_count;
        ++it;
      } else {
        (void)tcp_fwd->refuse(it->request);
        ++refused;
        it = tcp_flows.erase(it);
      }
    }
    // Relay. Every flow is tried each time round: simple, and fine for an example's handful.
    for (auto it = tcp_flows.begin(); it != tcp_flows.end();) {
      Pumped p = it->ep ? pump(*it, up, down) : Pumped::kOpen;
      if (p == Pumped::kFailed) it->ep->abort();  // RST to the client, as the host saw
      it = p == Pumped::kOpen ? std::next(it) : tcp_flows.erase(it);  // close() is graceful
    }
    for (auto& u : udp_flows) {
      while (auto d = u.ep->receive_from(dgram)) {
        (void)send(u.host.get(), dgram.data(), d->size, 0);
        ++datagrams;
      }
      for (ssize_t n; (n = recv(u.host.get(), dgram.data(), dgram.size(), 0)) >= 0;) {
        (void)u.ep->send(ByteView(dgram).first(static_cast<size_t>(n)));
        ++datagrams;
      }
    }

    // Outbound: everything the stack sent in this round, one write per packet.
    link.drain([&](PacketBuffer pkt) {
      std::array<iovec, 8> iov;
      size_t count = 0;
      pkt.for_each_view([&](ByteView v) {
        if (count < iov.size()) iov[count++] = {const_cast<std::byte*>(v.data()), v.size()};
      });
      (void)writev(tun.get(), iov.data(), static_cast<int>(count));  // a full tun drops, as a NIC
    });

    timeout = -1;
    if (r.more) {
      timeout = 0;
    } else if (r.next_deadline) {
      auto wait = std::chrono::ceil<std::chrono::milliseconds>(*r.next_deadline - stack.now());
      timeout = static_cast<int>(std::max<int64_t>(0, wait.count()));
    }
  }
  std::printf(
      "tun_proxy: %llu TCP flows (%llu bytes up, %llu down), %llu refused, "
      "%llu UDP flows (%llu datagrams)\n",
      static_cast<unsigned long long>(tcp_count), static_cast<unsigned long long>(up),
      static_cast<unsigned long long>(down), static_cast<unsigned long long>(refused),
      static_cast<unsigned long long>(udp_count), static_cast<unsigned long long>(datagrams));
  return 0;
}
