// weir.h: stacks, NICs, addresses and routes, driving, counters.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstring>
#include <new>
#include <span>
#include <string_view>

#include "capi/internal.h"
#include "ipv4/ipv4.h"
#include "ipv6/autoconf.h"
#include "ipv6/ipv6.h"
#include "link/tap.h"
#include "tcp/tcp.h"
#include "udp/udp.h"

using weir::Error;
using weir::capi::fail;

namespace {

// Tags tell stacks apart inside handles; 0 is skipped so no handle is ever 0. A process that
// makes more than 65535 stacks reuses tags, which only weakens foreign-handle detection
// between stacks 65535 apart.
std::atomic<uint16_t> g_next_tag{1};

uint16_t next_tag() {
  for (;;) {
    const uint16_t tag = g_next_tag.fetch_add(1, std::memory_order_relaxed);
    if (tag != 0) return tag;
  }
}

// The weir_stack_options a caller of the first version of the API has (every field to
// tcp_send_buffer): a smaller size cannot be a weir_stack_options.
constexpr size_t kOptionsV1Size = sizeof(weir_stack_options);

uint64_t to_ns(weir::TimePoint t) {
  const auto n = t.time_since_epoch().count();
  return n < 0 ? 0 : static_cast<uint64_t>(n);
}

int add_nic(weir_stack* s, std::unique_ptr<weir::LinkEndpoint> endpoint, const char* name,
            weir_nic* out) {
  if (s->stack->nic_by_name(name) != nullptr) {
    return s->set_error(Error::kAddressInUse, std::string("the stack already has a NIC named ") +
                                                  name + ": pick another name");
  }
  auto id = s->stack->add_nic(std::move(endpoint), name);
  if (!id) return s->set_error(id.error(), "the NIC could not be added");
  s->watch(*id);
  *out = *id;
  return 0;
}

weir::capi::QueueNic* find_queue(weir_stack* s, weir_nic nic) {
  std::lock_guard lock(s->queues_mutex);
  auto it = s->queues.find(nic);
  return it == s->queues.end() ? nullptr : it->second.get();
}

bool valid_name(const char* name) {
  return name != nullptr && name[0] != '\0' && std::strlen(name) <= 15;
}

}  // namespace

// ---- weir_stack members ----------------------------------------------------------------------

void weir_stack::watch(weir::NicId id) {
  weir::Nic* nic = stack->nic(id);
  if (nic == nullptr || loop == nullptr) return;
  weir::LinkEndpoint& endpoint = nic->endpoint();
  if (endpoint.readable_fd() >= 0 || endpoint.needs_polling()) {
    // Failure leaves the NIC to weir_stack_poll() only; the loop's own errors surface in run.
    (void)loop->watch(endpoint);
  }
}

void weir_stack::clear_callback_signal() {
  if (!callback_fd_signalled) return;
  uint64_t count;
  [[maybe_unused]] ssize_t n = read(callback_fd.get(), &count, sizeof count);
  callback_fd_signalled = false;
}

void weir_stack::queue_callback(weir_socket handle) {
  weir::capi::SocketSlot* slot = find(handle);
  if (slot == nullptr || slot->callback == nullptr || slot->queued) return;
  slot->queued = true;
  pending.push_back(handle);
  if (!driving) signal_pending();
}

void weir_stack::signal_pending() {
  if (callback_fd_signalled || !callback_fd) return;
  const uint64_t one = 1;
  [[maybe_unused]] ssize_t n = write(callback_fd.get(), &one, sizeof one);
  callback_fd_signalled = true;
}

size_t weir_stack::dispatch_callbacks() {
  size_t ran = 0;
  // A callback's own calls may queue more; a few rounds let chains settle, and what is left
  // keeps the eventfd readable so the caller's loop comes back at once.
  for (int round = 0; round < 4 && (!pending.empty() || !pending_flows.empty()); ++round) {
    // New TCP flows first: their handlers may set callbacks on the sockets they accept.
    std::vector<weir_flow> flows;
    flows.swap(pending_flows);
    for (const weir_flow& flow : flows) {
      // Read each time: a handler may remove the forwarder, which drops the flows.
      if (tcp_forwarder == nullptr || tcp_forward_fn == nullptr) break;
      tcp_forward_fn(this, &flow, tcp_forward_user);
      ++ran;
    }
    std::vector<weir_socket> batch;
    batch.swap(pending);
    for (weir_socket handle : batch) {
      weir::capi::SocketSlot* slot = find(handle);
      if (slot == nullptr) continue;  // closed since it was queued
      slot->queued = false;
      if (slot->callback == nullptr) continue;
      // Copied out: the callback may close this socket, which clears the slot.
      const weir_socket_callback fn = slot->callback;
      void* const user = slot->user;
      const int events = static_cast<int>(slot->events());
      fn(this, handle, events, user);
      ++ran;
    }
  }
  clear_callback_signal();
  if (!pending.empty() || !pending_flows.empty()) signal_pending();
  return ran;
}

// ---- basics ----------------------------------------------------------------------------------

extern "C" {

const char* weir_version(void) {
  return WEIR_VERSION;  // project(weir VERSION ...) in CMakeLists.txt
}

uint64_t weir_now_ns(void) { return to_ns(weir::SteadyClock().now()); }

int weir_timeout_ms(uint64_t deadline_ns) {
  if (deadline_ns == UINT64_MAX) return -1;
  const uint64_t now = weir_now_ns();
  if (deadline_ns <= now) return 0;
  const uint64_t ms = (deadline_ns - now + 999'999) / 1'000'000;
  return ms > INT32_MAX ? INT32_MAX : static_cast<int>(ms);
}

// ---- stacks ----------------------------------------------------------------------------------

void weir_stack_options_init(weir_stack_options* options) {
  if (options == nullptr) return;
  *options = weir_stack_options{};
  options->size = sizeof(weir_stack_options);
  options->ipv6 = 1;
}

int weir_stack_new(const weir_stack_options* options, weir_stack** out) {
  if (out == nullptr) return fail(Error::kInvalidArgument);
  weir_stack_options o;
  weir_stack_options_init(&o);
  if (options != nullptr) {
    if (options->size < kOptionsV1Size) return fail(Error::kInvalidArgument);
    // A newer caller's struct: fine if it asks for nothing this library does not know.
    if (options->size > sizeof(weir_stack_options)) {
      const auto* bytes = static_cast<const unsigned char*>(static_cast<const void*>(options));
      for (size_t i = sizeof(weir_stack_options); i < options->size; ++i) {
        if (bytes[i] != 0) return fail(Error::kInvalidArgument);
      }
    }
    std::memcpy(&o, options, sizeof o);
  }

  weir::StackOptions so;
  if (o.repeatable != 0 && o.seed == 0) return fail(Error::kInvalidArgument);
  if (o.repeatable != 0) {
    so = weir::repeatable_stack_options(o.seed);
  } else {
    so.seed = o.seed;
  }
  if (o.ephemeral_port_first != 0 || o.ephemeral_port_last != 0) {
    so.ephemeral_ports = weir::PortRange{o.ephemeral_port_first, o.ephemeral_port_last};
  }

  auto s = std::make_unique<weir_stack>();
  auto stack = weir::Stack::create(s->clock, so);
  if (!stack) return fail(stack.error());
  s->stack = std::move(*stack);
  s->tag = next_tag();

  weir::ipv4::install(*s->stack);
  if (o.ipv6 != 0) {
    weir::ipv6::install(*s->stack);
    if (o.ipv6_autoconf != 0) weir::ipv6::enable_autoconf(*s->stack);
    s->has_ipv6 = true;
  }
  weir::udp::install(*s->stack);
  weir::tcp::TcpOptions tcp_options;
  if (o.tcp_receive_buffer != 0) {
    tcp_options.receive_buffer = o.tcp_receive_buffer;
    tcp_options.receive_buffer_max = std::max(tcp_options.receive_buffer_max, o.tcp_receive_buffer);
  }
  if (o.tcp_send_buffer != 0) {
    tcp_options.send_buffer = o.tcp_send_buffer;
    tcp_options.send_buffer_max = std::max(tcp_options.send_buffer_max, o.tcp_send_buffer);
  }
  weir::tcp::install(*s->stack, tcp_options);

  s->callback_fd = weir::UniqueFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!s->callback_fd) return fail(weir::error_from_errno(errno));
  s->loop = std::make_unique<weir::Loop>(*s->stack);
  if (s->loop->fd() < 0) return fail(Error::kIo);
  weir_stack* raw = s.get();
  if (!s->loop->watch_fd(s->callback_fd.get(), EPOLLIN,
                         [raw](uint32_t) { raw->clear_callback_signal(); })) {
    return fail(Error::kIo);
  }
  *out = s.release();
  return 0;
}

void weir_stack_free(weir_stack* stack) {
  if (stack == nullptr) return;
  if (stack->driving || stack->loop_running) {
    std::fputs(
        "weir_stack_free: called from a callback, a posted function or while the loop "
        "runs; the stack would be freed under its own feet\n",
        stderr);
    std::abort();
  }
  std::unique_ptr<weir_stack> owned(stack);
  // Peers learn at once that the connections are gone: nobody will drive their FIN exchange.
  for (auto& slot : owned->slots) {
    slot->waiter.reset();
    if (slot->tcp) slot->tcp->abort();
    slot->tcp.reset();
    slot->udp.reset();
  }
  owned->slots.clear();
  owned->tcp_forwarder.reset();
  owned->udp_forwarder.reset();
  owned->loop.reset();
  owned->stack.reset();
}

const char* weir_stack_last_error(const weir_stack* stack) {
  return stack == nullptr ? "" : stack->last_error.c_str();
}

// ---- NICs ------------------------------------------------------------------------------------

int weir_stack_add_tap(weir_stack* stack, const char* name, const char* netns, weir_nic* nic) {
  if (stack == nullptr || nic == nullptr) return fail(Error::kInvalidArgument);
  if (!valid_name(name)) {
    return stack->set_error(Error::kInvalidArgument,
                            "a tap name is 1 to 15 bytes (Linux's IFNAMSIZ)");
  }
  if (stack->stack->nic_by_name(name) != nullptr) {
    return stack->set_error(
        Error::kAddressInUse,
        std::string("the stack already has a NIC named ") + name + ": pick another name");
  }
  weir::link::TapOptions options;
  options.name = name;
  options.bring_up = true;
  if (netns != nullptr && netns[0] != '\0') {
    const std::string_view ns(netns);
    options.netns = ns.find('/') == std::string_view::npos ? "/var/run/netns/" + std::string(ns)
                                                           : std::string(ns);
  }
  std::string message;
  auto tap = weir::link::TapEndpoint::open(options, &message);
  if (!tap) return stack->set_error(tap.error(), message);
  return add_nic(stack, std::move(*tap), name, nic);
}

int weir_stack_add_packet_queue(weir_stack* stack, const char* name, int framing, uint32_t mtu,
                                weir_nic* nic) {
  if (stack == nullptr || nic == nullptr || name == nullptr || name[0] == '\0') {
    return fail(Error::kInvalidArgument);
  }
  if (framing != WEIR_FRAMING_RAW_IP && framing != WEIR_FRAMING_ETHERNET) {
    return stack->set_error(Error::kInvalidArgument,
                            "framing is WEIR_FRAMING_RAW_IP or WEIR_FRAMING_ETHERNET");
  }
  if (mtu == 0) mtu = 1500;
  if (mtu < 68 || mtu > 65535) {
    return stack->set_error(Error::kInvalidArgument, "a packet queue's MTU is 68 to 65535");
  }
  weir::link::PacketQueueOptions options;
  options.framing =
      framing == WEIR_FRAMING_RAW_IP ? weir::link::Framing::kRawIp : weir::link::Framing::kEthernet;
  options.mtu = mtu;
  // Unicast and locally administered; random so that two stacks on one wire differ.
  std::array<uint8_t, 6> mac{};
  stack->stack->rng().fill(std::as_writable_bytes(std::span(mac)));
  mac[0] = static_cast<uint8_t>((mac[0] & 0xfc) | 0x02);
  options.mac = weir::MacAddress(mac);
  options.output_fd = true;
  // Injection from another thread, and an fd that wakes the loop when packets come in.
  options.thread_safe = true;
  auto endpoint = weir::link::PacketQueueEndpoint::create(options);
  if (!endpoint) return stack->set_error(endpoint.error(), "the packet queue could not be made");
  weir::link::PacketQueueEndpoint& ref = **endpoint;
  const int r = add_nic(stack, std::move(*endpoint), name, nic);
  if (r != 0) return r;
  auto q = std::make_unique<weir::capi::QueueNic>(ref);
  weir::capi::QueueNic* qp = q.get();
  const weir_nic id = *nic;
  weir_stack* raw = stack;
  ref.set_output_ready([raw, qp, id] {
    if (qp->callback != nullptr) qp->callback(raw, id, qp->user);
  });
  std::lock_guard lock(stack->queues_mutex);
  stack->queues.emplace(id, std::move(q));
  return 0;
}

int weir_packet_queue_inject(weir_stack* stack, weir_nic nic, const void* data, size_t len) {
  if (stack == nullptr || data == nullptr || len == 0) return fail(Error::kInvalidArgument);
  weir::capi::QueueNic* q = find_queue(stack, nic);
  if (q == nullptr) return fail(Error::kNoDevice);
  auto s = q->endpoint.inject(weir::ByteView(static_cast<const std::byte*>(data), len));
  return s ? 0 : fail(s.error());
}

ssize_t weir_packet_queue_take(weir_stack* stack, weir_nic nic, void* buf, size_t len) {
  if (stack == nullptr || (buf == nullptr && len != 0)) return fail(Error::kInvalidArgument);
  weir::capi::QueueNic* q = find_queue(stack, nic);
  if (q == nullptr) return fail(Error::kNoDevice);
  std::lock_guard lock(q->take_mutex);
  if (!q->held) {
    q->held = q->endpoint.take_outbound();
    if (!q->held) return fail(Error::kWouldBlock);
  }
  const size_t size = q->held->size();
  if (size > len) return fail(Error::kMessageTooLong);
  q->held->copy_out(0, weir::MutableByteView(static_cast<std::byte*>(buf), size));
  q->held.reset();
  return static_cast<ssize_t>(size);
}

ssize_t weir_packet_queue_next_size(weir_stack* stack, weir_nic nic) {
  if (stack == nullptr) return fail(Error::kInvalidArgument);
  weir::capi::QueueNic* q = find_queue(stack, nic);
  if (q == nullptr) return fail(Error::kNoDevice);
  std::lock_guard lock(q->take_mutex);
  if (!q->held) q->held = q->endpoint.take_outbound();
  return q->held ? static_cast<ssize_t>(q->held->size()) : 0;
}

int weir_packet_queue_fd(weir_stack* stack, weir_nic nic) {
  if (stack == nullptr) return fail(Error::kInvalidArgument);
  weir::capi::QueueNic* q = find_queue(stack, nic);
  if (q == nullptr) return fail(Error::kNoDevice);
  return q->endpoint.output_fd();
}

int weir_packet_queue_set_callback(weir_stack* stack, weir_nic nic, weir_packet_queue_callback fn,
                                   void* user) {
  if (stack == nullptr) return fail(Error::kInvalidArgument);
  weir::capi::QueueNic* q = find_queue(stack, nic);
  if (q == nullptr) return fail(Error::kNoDevice);
  q->callback = fn;
  q->user = fn != nullptr ? user : nullptr;
  return 0;
}

int weir_nic_set_up(weir_stack* stack, weir_nic nic, int up) {
  if (stack == nullptr) return fail(Error::kInvalidArgument);
  weir::Nic* n = stack->stack->nic(nic);
  if (n == nullptr) return fail(Error::kNoDevice);
  n->set_enabled(up != 0);
  return 0;
}

int weir_nic_mtu(weir_stack* stack, weir_nic nic, uint32_t* mtu) {
  if (stack == nullptr || mtu == nullptr) return fail(Error::kInvalidArgument);
  weir::Nic* n = stack->stack->nic(nic);
  if (n == nullptr) return fail(Error::kNoDevice);
  *mtu = n->mtu();
  return 0;
}

int weir_nic_mac(weir_stack* stack, weir_nic nic, uint8_t mac[6]) {
  if (stack == nullptr || mac == nullptr) return fail(Error::kInvalidArgument);
  weir::Nic* n = stack->stack->nic(nic);
  if (n == nullptr) return fail(Error::kNoDevice);
  const weir::MacAddress address =
      n->endpoint().capabilities().resolution_required ? n->link_address() : weir::MacAddress();
  std::memcpy(mac, address.octets().data(), 6);
  return 0;
}

// ---- addresses and routes --------------------------------------------------------------------

namespace {

int add_prefix(weir_stack* stack, weir_nic nic, const weir::IpPrefix& prefix) {
  if (stack->stack->nic(nic) == nullptr) return fail(Error::kNoDevice);
  if (prefix.address.is_v6() && !stack->has_ipv6) {
    return stack->set_error(Error::kAddressFamilyNotSupported,
                            "this stack was made without IPv6 (weir_stack_options.ipv6)");
  }
  if (prefix.address.is_unspecified() || prefix.address.is_multicast()) {
    return stack->set_error(Error::kInvalidArgument,
                            "an interface address is neither unspecified nor multicast");
  }
  auto s = stack->stack->add_address(nic, prefix);
  if (!s) {
    return stack->set_error(s.error(), "cannot add " + prefix.to_string() + ": " +
                                           std::string(weir::error_name(s.error())));
  }
  return 0;
}

int add_route(weir_stack* stack, weir_nic nic, const weir::IpPrefix& destination,
              const std::optional<weir::IpAddress>& gateway) {
  if (stack->stack->nic(nic) == nullptr) return fail(Error::kNoDevice);
  if (gateway && gateway->family() != destination.address.family()) {
    return stack->set_error(Error::kInvalidArgument,
                            "the gateway and the destination are of different families");
  }
  if (destination.address.is_v6() && !stack->has_ipv6) {
    return stack->set_error(Error::kAddressFamilyNotSupported,
                            "this stack was made without IPv6 (weir_stack_options.ipv6)");
  }
  weir::Route route;
  route.destination = destination.network();
  route.gateway = gateway;
  route.nic = nic;
  stack->stack->add_route(route);
  return 0;
}

}  // namespace

int weir_stack_add_address(weir_stack* stack, weir_nic nic, const char* prefix) {
  if (stack == nullptr || prefix == nullptr) return fail(Error::kInvalidArgument);
  auto p = weir::IpPrefix::parse(prefix);
  if (!p) {
    return stack->set_error(
        Error::kInvalidArgument,
        std::string("'") + prefix +
            "' is not an address with a prefix length (10.0.0.2/24, fd00::2/64)");
  }
  return add_prefix(stack, nic, *p);
}

int weir_stack_add_address_bin(weir_stack* stack, weir_nic nic, const weir_sockaddr* addr,
                               unsigned prefix_len) {
  if (stack == nullptr || addr == nullptr) return fail(Error::kInvalidArgument);
  weir::SocketAddress sa;
  if (!weir::capi::from_c(*addr, &sa)) return fail(Error::kInvalidArgument);
  if (prefix_len > (sa.address.is_v4() ? 32u : 128u)) return fail(Error::kInvalidArgument);
  return add_prefix(stack, nic, weir::IpPrefix{sa.address, static_cast<uint8_t>(prefix_len)});
}

int weir_stack_add_route(weir_stack* stack, const char* destination, const char* gateway,
                         weir_nic nic) {
  if (stack == nullptr || destination == nullptr) return fail(Error::kInvalidArgument);
  auto d = weir::IpPrefix::parse(destination);
  if (!d) {
    return stack->set_error(
        Error::kInvalidArgument,
        std::string("'") + destination + "' is not a prefix (0.0.0.0/0, 10.1.0.0/16, fd00:1::/48)");
  }
  std::optional<weir::IpAddress> gw;
  if (gateway != nullptr) {
    auto g = weir::IpAddress::parse(gateway);
    if (!g) {
      return stack->set_error(Error::kInvalidArgument,
                              std::string("'") + gateway + "' is not an IP address");
    }
    gw = *g;
  }
  return add_route(stack, nic, *d, gw);
}

int weir_stack_set_gateway(weir_stack* stack, weir_nic nic, const char* gateway) {
  if (stack == nullptr || gateway == nullptr) return fail(Error::kInvalidArgument);
  auto g = weir::IpAddress::parse(gateway);
  if (!g) {
    return stack->set_error(Error::kInvalidArgument,
                            std::string("'") + gateway + "' is not an IP address");
  }
  if (g->is_unspecified() || g->is_multicast()) {
    return stack->set_error(Error::kInvalidArgument, "a gateway is a unicast address");
  }
  return add_route(stack, nic, weir::IpPrefix{weir::IpAddress::any(g->family()), 0}, *g);
}

// ---- driving ---------------------------------------------------------------------------------

ssize_t weir_stack_poll(weir_stack* stack, uint64_t now_ns, uint64_t* next_deadline_ns) {
  if (stack == nullptr) return fail(Error::kInvalidArgument);
  if (stack->driving || stack->loop_running) return weir::capi::kBusy;
  stack->driving = true;
  std::optional<weir::TimePoint> now;
  if (now_ns != 0) now = weir::TimePoint{weir::Duration{static_cast<int64_t>(now_ns)}};
  const weir::Stack::PollResult r = stack->stack->poll(now);
  size_t work = r.work;
  stack->clear_callback_signal();
  work += stack->dispatch_callbacks();
  stack->driving = false;
  if (next_deadline_ns != nullptr) {
    uint64_t deadline = r.next_deadline ? to_ns(*r.next_deadline) : UINT64_MAX;
    // Callbacks may have armed timers (a connect) or left work queued.
    if (auto d = stack->stack->timers().next_deadline()) deadline = std::min(deadline, to_ns(*d));
    const uint64_t t = now_ns != 0 ? now_ns : weir_now_ns();
    if (r.more || !stack->pending.empty() || !stack->pending_flows.empty()) deadline = t;
    if (stack->stack->wait_set().needs_polling) {
      deadline = std::min<uint64_t>(deadline, t + 1'000'000);
    }
    *next_deadline_ns = deadline;
  }
  return static_cast<ssize_t>(work);
}

ssize_t weir_stack_wait_fds(weir_stack* stack, int* fds, size_t cap) {
  if (stack == nullptr || (fds == nullptr && cap != 0)) return fail(Error::kInvalidArgument);
  std::vector<int> all = stack->stack->wait_set().readable_fds;
  all.push_back(stack->callback_fd.get());
  for (size_t i = 0; i < all.size() && i < cap; ++i) fds[i] = all[i];
  return static_cast<ssize_t>(all.size());
}

int weir_loop_run(weir_stack* stack) {
  if (stack == nullptr) return fail(Error::kInvalidArgument);
  if (stack->driving || stack->loop_running) return weir::capi::kBusy;
  stack->loop_running = true;
  while (!stack->stop_requested.exchange(false, std::memory_order_acq_rel)) {
    stack->driving = true;
    stack->loop->run_once(std::nullopt);
    stack->dispatch_callbacks();
    stack->driving = false;
  }
  stack->loop_running = false;
  return 0;
}

int weir_loop_stop(weir_stack* stack) {
  if (stack == nullptr) return fail(Error::kInvalidArgument);
  stack->stop_requested.store(true, std::memory_order_release);
  // An empty task wakes the loop from epoll_wait; Loop::stop() would stop it for good.
  stack->loop->post([] {});
  return 0;
}

int weir_loop_post(weir_stack* stack, weir_task_fn fn, void* user) {
  if (stack == nullptr || fn == nullptr) return fail(Error::kInvalidArgument);
  try {
    stack->loop->post([stack, fn, user] { fn(stack, user); });
  } catch (const std::bad_alloc&) {
    return fail(Error::kOutOfMemory);
  }
  return 0;
}

int weir_stack_loop_fd(weir_stack* stack) {
  if (stack == nullptr) return fail(Error::kInvalidArgument);
  return stack->loop->fd();
}

ssize_t weir_loop_run_once(weir_stack* stack, int timeout_ms, uint64_t* next_deadline_ns) {
  if (stack == nullptr || timeout_ms < -1) return fail(Error::kInvalidArgument);
  if (stack->driving || stack->loop_running) return weir::capi::kBusy;
  stack->driving = true;
  std::optional<weir::Duration> max_wait;
  if (timeout_ms >= 0) max_wait = std::chrono::milliseconds(timeout_ms);
  size_t work = stack->loop->run_once(max_wait);
  work += stack->dispatch_callbacks();
  stack->driving = false;
  if (next_deadline_ns != nullptr) {
    auto d = stack->stack->timers().next_deadline();
    const bool waiting = !stack->pending.empty() || !stack->pending_flows.empty();
    *next_deadline_ns = waiting ? weir_now_ns() : d ? to_ns(*d) : UINT64_MAX;
  }
  return static_cast<ssize_t>(work);
}

// ---- counters --------------------------------------------------------------------------------

int weir_stack_counter(const weir_stack* stack, const char* name, uint64_t* value) {
  if (stack == nullptr || name == nullptr || value == nullptr) return fail(Error::kInvalidArgument);
  const std::string_view full(name);
  bool found = false;
  uint64_t result = 0;
  // Group names hold dots ("nic.eth0"), counter names never do: split at the last one.
  const size_t dot = full.rfind('.');
  if (dot == std::string_view::npos) return fail(Error::kNotFound);
  const std::string_view group = full.substr(0, dot);
  const std::string_view counter = full.substr(dot + 1);
  stack->stack->counters().for_each([&](std::string_view g, std::string_view c, uint64_t v) {
    if (!found && g == group && c == counter) {
      found = true;
      result = v;
    }
  });
  if (!found) return fail(Error::kNotFound);
  *value = result;
  return 0;
}

int weir_stack_counters_foreach(const weir_stack* stack, weir_counter_fn fn, void* user) {
  if (stack == nullptr || fn == nullptr) return fail(Error::kInvalidArgument);
  std::string g_buf, c_buf;
  stack->stack->counters().for_each([&](std::string_view g, std::string_view c, uint64_t v) {
    g_buf.assign(g);
    c_buf.assign(c);
    fn(g_buf.c_str(), c_buf.c_str(), v, user);
  });
  return 0;
}

ssize_t weir_stack_counters_dump(const weir_stack* stack, char* buf, size_t len) {
  if (stack == nullptr || (buf == nullptr && len != 0)) return fail(Error::kInvalidArgument);
  std::string text;
  stack->stack->counters().for_each([&](std::string_view g, std::string_view c, uint64_t v) {
    text.append(g).append(".").append(c).append(" ").append(std::to_string(v)).append("\n");
  });
  if (len > 0) {
    const size_t n = std::min(text.size(), len - 1);
    std::memcpy(buf, text.data(), n);
    buf[n] = '\0';
  }
  return static_cast<ssize_t>(text.size());
}

}  // extern "C"
