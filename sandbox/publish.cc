#include "sandbox/publish.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "stack/nic.h"
#include "tcp/endpoint.h"

namespace weir::sandbox {

namespace {

constexpr auto kUdpIdle = std::chrono::seconds(60);
constexpr size_t kMaxUdpFlows = 1024;
constexpr size_t kMaxDatagram = 65536;

std::optional<uint16_t> parse_port(const std::string& text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned long v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<unsigned long>(c - '0');
  }
  if (v == 0 || v > 65535) return std::nullopt;
  return static_cast<uint16_t>(v);
}

std::string client_key(const sockaddr_in& a) {
  char buf[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &a.sin_addr, buf, sizeof buf);
  return std::string(buf) + ":" + std::to_string(ntohs(a.sin_port));
}

}  // namespace

std::optional<PublishRule> PublishRule::parse(const std::string& text) {
  PublishRule rule;
  std::string spec = text;
  if (auto slash = spec.find('/'); slash != std::string::npos) {
    std::string proto = spec.substr(slash + 1);
    if (proto == "udp") {
      rule.udp = true;
    } else if (proto != "tcp") {
      return std::nullopt;
    }
    spec.resize(slash);
  }
  auto colon = spec.find(':');
  if (colon == std::string::npos) return std::nullopt;
  auto host = parse_port(spec.substr(0, colon));
  auto inside = parse_port(spec.substr(colon + 1));
  if (!host || !inside) return std::nullopt;
  rule.host_port = *host;
  rule.port = *inside;
  return rule;
}

std::string PublishRule::to_string() const {
  return std::to_string(host_port) + ":" + std::to_string(port) + (udp ? "/udp" : "/tcp");
}

struct Publisher::TcpFlow {
  uint64_t id = 0;
  UniqueFd fd;  // the kernel side
  std::unique_ptr<tcp::Endpoint> endpoint;
  std::optional<StreamBridge> bridge;
  std::unique_ptr<Waiter> waiter;
  size_t target = 0;  // which of targets() this attempt connects to
  bool connected = false;
};

struct Publisher::UdpFlow {
  sockaddr_in client{};
  std::string key;
  std::unique_ptr<udp::Endpoint> endpoint;
  std::unique_ptr<Waiter> waiter;
  TimePoint last_used{};
};

Result<std::unique_ptr<Publisher>> Publisher::open(Stack& stack, Loop& loop,
                                                   const PublishRule& rule, std::string* message) {
  UniqueFd fd(::socket(AF_INET, (rule.udp ? SOCK_DGRAM : SOCK_STREAM) | SOCK_NONBLOCK | SOCK_CLOEXEC,
                       0));
  if (!fd) {
    *message = std::string("cannot create a socket for --publish: ") + std::strerror(errno);
    return error_from_errno(errno);
  }
  const int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(rule.host_port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // A sockaddr for the kernel's own API: the address of a local struct.
  if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0 ||
      (!rule.udp && ::listen(fd.get(), 128) != 0)) {
    *message = "cannot publish 127.0.0.1:" + std::to_string(rule.host_port) + ": " +
               std::strerror(errno);
    return error_from_errno(errno);
  }
  auto p = std::make_unique<Publisher>(Key{}, stack, loop, rule, std::move(fd));
  Publisher* raw = p.get();
  auto watched = loop.watch_fd(raw->socket_.get(), EPOLLIN, [raw](uint32_t) {
    if (raw->rule_.udp) {
      raw->receive_udp();
    } else {
      raw->accept_tcp();
    }
  });
  if (!watched) {
    *message = "cannot watch the --publish socket";
    return watched.error();
  }
  return p;
}

Publisher::Publisher(Key, Stack& stack, Loop& loop, const PublishRule& rule, UniqueFd socket)
    : stack_(stack),
      loop_(loop),
      rule_(rule),
      socket_(std::move(socket)),
      udp_expiry_([this] { expire_udp(); }) {
  if (rule_.udp) stack_.timers().arm_after(udp_expiry_, kUdpIdle);
}

Publisher::~Publisher() {
  loop_.unwatch_fd(socket_.get());
  for (auto& [id, flow] : tcp_flows_) {
    if (flow->fd) loop_.unwatch_fd(flow->fd.get());
    if (flow->endpoint) flow->endpoint->abort();
  }
}

std::vector<IpAddress> Publisher::targets() const {
  // Loopback first (a server bound to 127.0.0.1 or to the wildcard), then the stack's own
  // addresses (a server bound to one of them).
  std::vector<IpAddress> out{Ipv4Address(127, 0, 0, 1)};
  for (NicId id : stack_.nic_ids()) {
    const Nic* nic = stack_.nic(id);
    if (nic == nullptr) continue;
    for (const auto& p : nic->addresses()) {
      if (p.address.is_v4() && !(p.address == out.front())) out.push_back(p.address);
    }
  }
  return out;
}

void Publisher::accept_tcp() {
  for (;;) {
    int raw = ::accept4(socket_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (raw < 0) return;
    auto flow = std::make_unique<TcpFlow>();
    flow->id = next_id_++;
    flow->fd = UniqueFd(raw);
    const uint64_t id = flow->id;
    TcpFlow& f = *flow;
    tcp_flows_[id] = std::move(flow);
    auto watched = loop_.watch_fd(f.fd.get(), EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET,
                                  [this, id](uint32_t events) {
                                    auto it = tcp_flows_.find(id);
                                    if (it == tcp_flows_.end()) return;
                                    if ((events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP)) &&
                                        it->second->bridge) {
                                      it->second->bridge->fd_readable();
                                    }
                                    pump_tcp(id);
                                  });
    if (!watched) {
      close_tcp(id, true);
      continue;
    }
    start_connect(f);
  }
}

void Publisher::start_connect(TcpFlow& flow) {
  auto targets_now = targets();
  const uint64_t id = flow.id;
  while (flow.target < targets_now.size()) {
    flow.endpoint = tcp::Endpoint::create(stack_, AddressFamily::kIpv4);
    flow.waiter = std::make_unique<Waiter>(~EventMask{0}, [this, id](EventMask) { schedule(id); });
    flow.endpoint->waiters().add(*flow.waiter);
    Status s = flow.endpoint->connect(SocketAddress{targets_now[flow.target], rule_.port});
    if (s || s.error() == Error::kInProgress) return;
    flow.waiter->detach();
    flow.endpoint.reset();
    ++flow.target;
  }
  close_tcp(id, true);
}

void Publisher::schedule(uint64_t id) {
  scheduled_.push_back(id);
  if (!run_posted_) {
    run_posted_ = true;
    loop_.post([this] { run_scheduled(); });
  }
}

void Publisher::run_scheduled() {
  run_posted_ = false;
  std::vector<uint64_t> ids;
  ids.swap(scheduled_);
  for (uint64_t id : ids) pump_tcp(id);
}

void Publisher::pump_tcp(uint64_t id) {
  auto it = tcp_flows_.find(id);
  if (it == tcp_flows_.end()) return;
  TcpFlow& f = *it->second;
  if (!f.connected) {
    const EventMask ready = f.endpoint->readiness();
    if (ready & kEventError) {
      // Refused here: the next address, or a reset for the client when none is left.
      (void)f.endpoint->take_error();
      f.waiter->detach();
      f.endpoint->abort();
      f.endpoint.reset();
      ++f.target;
      start_connect(f);
      return;
    }
    if ((ready & (kEventWritable | kEventReadable)) == 0) return;
    f.connected = true;
    f.bridge.emplace(f.fd.get(), *f.endpoint);
  }
  auto error = f.bridge->pump();
  if (error) {
    close_tcp(id, true);
    return;
  }
  if (f.bridge->fd_eof() && f.bridge->peer_eof() && f.bridge->fd_write_shut() &&
      f.bridge->held_for_stack() == 0) {
    close_tcp(id, false);
  }
}

void Publisher::close_tcp(uint64_t id, bool reset) {
  auto it = tcp_flows_.find(id);
  if (it == tcp_flows_.end()) return;
  TcpFlow& f = *it->second;
  if (f.fd) {
    loop_.unwatch_fd(f.fd.get());
    if (reset) {
      linger l{1, 0};  // close with RST: the client learns the far side failed
      ::setsockopt(f.fd.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l);
    }
  }
  if (f.waiter) f.waiter->detach();
  if (f.endpoint) {
    if (reset) {
      f.endpoint->abort();
    } else {
      f.endpoint->close();
    }
  }
  tcp_flows_.erase(it);
}

void Publisher::receive_udp() {
  std::vector<std::byte> buf(kMaxDatagram);
  for (;;) {
    sockaddr_in from{};
    socklen_t from_len = sizeof from;
    ssize_t n = ::recvfrom(socket_.get(), buf.data(), buf.size(), MSG_DONTWAIT,
                           reinterpret_cast<sockaddr*>(&from), &from_len);  // the kernel's API
    if (n < 0) return;
    std::string key = client_key(from);
    auto it = udp_flows_.find(key);
    if (it == udp_flows_.end()) {
      if (udp_flows_.size() >= kMaxUdpFlows) continue;  // bounded: a flood makes no flows
      auto flow = std::make_unique<UdpFlow>();
      flow->client = from;
      flow->key = key;
      auto endpoint = udp::Endpoint::create(stack_, AddressFamily::kIpv4);
      if (!endpoint) continue;
      flow->endpoint = std::move(*endpoint);
      if (!flow->endpoint->connect(SocketAddress{targets().front(), rule_.port})) continue;
      UdpFlow* raw = flow.get();
      flow->waiter = std::make_unique<Waiter>(kEventReadable, [this, key](EventMask) {
        loop_.post([this, key] {
          auto found = udp_flows_.find(key);
          if (found != udp_flows_.end()) pump_udp(*found->second);
        });
      });
      raw->endpoint->waiters().add(*raw->waiter);
      it = udp_flows_.emplace(key, std::move(flow)).first;
    }
    it->second->last_used = stack_.now();
    (void)it->second->endpoint->send(ByteView(buf).first(static_cast<size_t>(n)));
  }
}

void Publisher::pump_udp(UdpFlow& flow) {
  for (;;) {
    auto d = flow.endpoint->receive_packet();
    if (!d) return;
    auto bytes = d->payload.to_vector();
    ::sendto(socket_.get(), bytes.data(), bytes.size(), MSG_DONTWAIT,
             reinterpret_cast<const sockaddr*>(&flow.client), sizeof flow.client);  // kernel API
    flow.last_used = stack_.now();
  }
}

void Publisher::expire_udp() {
  const TimePoint now = stack_.now();
  std::erase_if(udp_flows_, [&](const auto& entry) { return now - entry.second->last_used >= kUdpIdle; });
  stack_.timers().arm_after(udp_expiry_, kUdpIdle);
}

}  // namespace weir::sandbox
