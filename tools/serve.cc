// `weir serve`. Theory of operation: one thread, one Stack, one Loop. The tap (optionally
// wrapped by the pcap sniffer) is the stack's only NIC; each Service owns its stack endpoints
// and reacts to their readiness. Readiness callbacks fire inside the stack's receive path, so
// services never send from them directly: they post their work to the loop, which runs it
// after the current batch, keeping the stack free of re-entrant sends. SIGINT/SIGTERM are
// blocked and read from a signalfd the loop watches, so a signal stops the loop between
// batches and the normal teardown (pcap flush, counters) always runs.
#include "tools/serve.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <signal.h>
#include <string>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>
#include <utility>
#include <vector>

#include "ipv4/ipv4.h"
#include "link/sniffer.h"
#include "link/tap.h"
#include "stack/clock.h"
#include "stack/loop.h"
#include "stack/stack.h"
#include "stack/waiter.h"
#include "udp/endpoint.h"
#include "udp/udp.h"

namespace weir::tools {
namespace {

// Linux's IFNAMSIZ is 16 including the terminating NUL.
constexpr size_t kMaxInterfaceName = 15;
constexpr uint32_t kMinMtu = 68;  // RFC 791: every IPv4 link carries 68 bytes unfragmented
constexpr uint32_t kMaxMtu = 65535;
constexpr uint16_t kEchoPort = 7;  // RFC 862

// Owns a file descriptor; closes it once.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

void fail(const std::string& message) { std::fprintf(stderr, "weir serve: %s\n", message.c_str()); }

std::string describe_error(Error e) { return std::string(error_name(e)); }

// RFC 862 echo over UDP: every datagram goes back to where it came from.
class UdpEchoService final : public Service {
 public:
  explicit UdpEchoService(uint16_t port) : port_(port) {}

  std::string describe() const override { return "udp echo :" + std::to_string(port_); }

  Status start(Stack& stack, Loop& loop) override {
    auto endpoint = udp::Endpoint::create(stack, AddressFamily::kIpv4);
    if (!endpoint) return endpoint.error();
    endpoint_ = std::move(endpoint).value();
    WEIR_TRY(endpoint_->bind(SocketAddress{IpAddress::any(AddressFamily::kIpv4), port_}));
    loop_ = &loop;
    waiter_ = std::make_unique<Waiter>(kEventReadable, [this](EventMask) { schedule(); });
    endpoint_->waiters().add(*waiter_);
    return ok_status();
  }

  std::string summary() const override {
    return describe() + ": " + std::to_string(echoed_) + " datagrams echoed, " +
           std::to_string(errors_) + " send errors";
  }

 private:
  void schedule() {
    if (scheduled_) return;
    scheduled_ = true;
    loop_->post([this] { drain(); });
  }

  void drain() {
    scheduled_ = false;
    for (;;) {
      auto datagram = endpoint_->receive_packet();
      if (!datagram) break;
      auto sent = endpoint_->send_packet(std::move(datagram->payload), datagram->from);
      if (sent) {
        ++echoed_;
      } else {
        ++errors_;
      }
    }
  }

  uint16_t port_;
  Loop* loop_ = nullptr;  // borrowed: the loop outlives the service's activity
  std::unique_ptr<udp::Endpoint> endpoint_;
  std::unique_ptr<Waiter> waiter_;  // declared after endpoint_: unlinks before it goes
  bool scheduled_ = false;
  uint64_t echoed_ = 0;
  uint64_t errors_ = 0;
};

MacAddress random_mac() {
  std::random_device rd;
  std::array<uint8_t, 6> octets{};
  for (auto& o : octets) o = static_cast<uint8_t>(rd());
  // Locally administered, unicast: never collides with a vendor's address.
  octets[0] = static_cast<uint8_t>((octets[0] & 0xfc) | 0x02);
  return MacAddress(octets);
}

// Blocks SIGINT and SIGTERM for the process and returns a signalfd that reads them.
Result<UniqueFd> open_signal_fd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return error_from_errno(errno);
  // A shell starts background jobs with SIGINT ignored, and an ignored signal never reaches a
  // signalfd; with the signals blocked, the default disposition cannot kill us, so restore it
  // and `kill -INT` stops a backgrounded weir cleanly too.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGINT, &dfl, nullptr);
  sigaction(SIGTERM, &dfl, nullptr);
  int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return error_from_errno(errno);
  return UniqueFd(fd);
}

void print_counters(const Stack& stack) {
  std::printf("weir: counters (non-zero):\n");
  stack.counters().for_each([](std::string_view group, std::string_view name, uint64_t value) {
    if (value == 0) return;
    std::printf("  %.*s.%.*s %llu\n", static_cast<int>(group.size()), group.data(),
                static_cast<int>(name.size()), name.data(), static_cast<unsigned long long>(value));
  });
}

// CLI11 validators: each returns an empty string when the text is acceptable.
std::string check_prefix(std::string& text) {
  auto prefix = IpPrefix::parse(text);
  if (!prefix) return "'" + text + "' is not an address with a prefix length, e.g. 10.0.0.2/24";
  if (!prefix->address.is_v4()) return "only IPv4 addresses are supported for now";
  if (prefix->length == 0 || prefix->length > 30) return "prefix length must be 1..30";
  return {};
}

std::string check_address(std::string& text) {
  auto address = IpAddress::parse(text);
  if (!address) return "'" + text + "' is not an IP address, e.g. 10.0.0.1";
  if (!address->is_v4()) return "only IPv4 gateways are supported for now";
  return {};
}

std::string check_mac(std::string& text) {
  auto mac = MacAddress::parse(text);
  if (!mac) return "'" + text + "' is not a MAC address, e.g. 02:00:00:00:00:01";
  if (mac->is_multicast() || mac->is_zero()) return "the MAC address must be unicast and non-zero";
  return {};
}

std::string check_interface_name(std::string& text) {
  if (text.empty() || text.size() > kMaxInterfaceName)
    return "an interface name has 1.." + std::to_string(kMaxInterfaceName) + " characters";
  for (char c : text) {
    if (c == '/' || c == ':' || c <= ' ' || c > '~')
      return "'" + text + "' is not a valid interface name";
  }
  if (text == "." || text == "..") return "'" + text + "' is not a valid interface name";
  return {};
}

// What run_serve keeps of the link after handing it to the stack (which owns it).
struct LinkParts {
  std::unique_ptr<LinkEndpoint> endpoint;    // the tap, or the sniffer around it
  link::TapEndpoint* tap = nullptr;          // borrowed, owned through endpoint
  link::SnifferEndpoint* sniffer = nullptr;  // borrowed, owned through endpoint; may be null
};

// The tap, wrapped by the sniffer when a pcap is asked for.
Result<LinkParts> open_link(const ServeOptions& options, const Clock& clock, MacAddress mac) {
  link::TapOptions tap_options;
  tap_options.name = options.tap;
  tap_options.mtu = options.mtu;
  tap_options.mac = mac;
  tap_options.create_if_missing = true;
  // A tap weir created has its kernel side down; one made with `ip tuntap add` is usually up
  // already, and setting it up again is harmless.
  tap_options.bring_up = true;
  if (options.netns) {
    tap_options.netns = options.netns->find('/') == std::string::npos
                            ? "/var/run/netns/" + *options.netns
                            : *options.netns;
  }
  std::string message;
  auto tap = link::TapEndpoint::open(tap_options, &message);
  if (!tap) {
    fail(message.empty() ? "cannot open tap " + options.tap + ": " + describe_error(tap.error())
                         : message);
    return tap.error();
  }
  LinkParts parts;
  parts.tap = tap->get();
  parts.endpoint = std::move(tap).value();
  if (options.pcap) {
    auto sniffer =
        link::SnifferEndpoint::create(std::move(parts.endpoint), *options.pcap, clock, &message);
    if (!sniffer) {
      fail(message.empty()
               ? "cannot write " + *options.pcap + ": " + describe_error(sniffer.error())
               : message);
      return sniffer.error();
    }
    parts.sniffer = sniffer->get();
    parts.endpoint = std::move(sniffer).value();
  }
  return parts;
}

}  // namespace

int run_serve(const ServeOptions& options) {
  // Before anything else: a Ctrl-C from here on is read by the loop, not fatal.
  auto signal_fd = open_signal_fd();
  if (!signal_fd) {
    fail("cannot set up signal handling: " + describe_error(signal_fd.error()));
    return 1;
  }

  SteadyClock clock;
  Stack stack(clock);
  ipv4::install(stack);
  udp::install(stack);

  MacAddress mac = options.mac.value_or(random_mac());
  auto link = open_link(options, clock, mac);
  if (!link) return 1;
  stack.counters().add_struct("link", link->tap->counters());
  if (link->sniffer != nullptr) stack.counters().add_struct("pcap", link->sniffer->counters());
  auto nic = stack.add_nic(std::move(link->endpoint), options.tap);
  if (!nic) {
    fail("cannot add the NIC: " + describe_error(nic.error()));
    return 1;
  }
  stack.counters().add_struct("nic", stack.nic(*nic)->counters());
  if (auto s = stack.add_address(*nic, options.address); !s) {
    fail("cannot add address " + options.address.to_string() + ": " + describe_error(s.error()));
    return 1;
  }
  if (options.gateway) {
    stack.add_route(
        Route{IpPrefix{IpAddress::any(AddressFamily::kIpv4), 0}, options.gateway, *nic});
  }

  Loop loop(stack);
  if (auto s = loop.watch(stack.nic(*nic)->endpoint()); !s) {
    fail("cannot watch the tap: " + describe_error(s.error()));
    return 1;
  }
  int stop_signal = 0;
  auto watched = loop.watch_fd(signal_fd->get(), EPOLLIN, [&](uint32_t) {
    signalfd_siginfo info{};
    while (::read(signal_fd->get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      stop_signal = static_cast<int>(info.ssi_signo);
    }
    if (stop_signal != 0) loop.stop();
  });
  if (!watched) {
    fail("cannot watch the signal fd: " + describe_error(watched.error()));
    return 1;
  }

  std::vector<std::unique_ptr<Service>> services;
  services.push_back(std::make_unique<UdpEchoService>(kEchoPort));
  std::string offered;
  for (auto& service : services) {
    if (auto s = service->start(stack, loop); !s) {
      fail("cannot start " + service->describe() + ": " + describe_error(s.error()));
      return 1;
    }
    offered += ", " + service->describe();
  }

  std::printf("weir: serving on tap %s %s (%s), mtu %u%s\n", options.tap.c_str(),
              options.address.to_string().c_str(), mac.to_string().c_str(), stack.nic(*nic)->mtu(),
              offered.c_str());
  std::fflush(stdout);

  loop.run();

  std::printf("weir: %s, stopping\n", stop_signal == SIGTERM ? "SIGTERM" : "SIGINT");
  int status = 0;
  if (link->sniffer != nullptr) {
    if (auto s = link->sniffer->flush(); !s) {
      fail("writing " + *options.pcap + " failed: " + describe_error(s.error()));
      status = 1;
    } else {
      std::printf("weir: pcap written to %s\n", options.pcap->c_str());
    }
  }
  for (auto& service : services) std::printf("weir: %s\n", service->summary().c_str());
  print_counters(stack);
  std::fflush(stdout);
  // Services hold stack endpoints, so they go before the stack; the NIC (and the sniffer, which
  // closes its file) goes with the stack at the end of this scope.
  services.clear();
  loop.unwatch_fd(signal_fd->get());
  return status;
}

void add_serve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "serve", "Run the stack on a tap device and serve echo and friends until SIGINT/SIGTERM");
  cmd->footer(
      "Creates the tap when it does not exist, attaches to it when it does (e.g. one made with\n"
      "'ip tuntap add mode tap NAME'). Serves UDP echo on port 7 (RFC 862). Prints one line\n"
      "starting 'weir: serving on' when ready; on SIGINT/SIGTERM flushes the pcap, prints the\n"
      "counters and exits 0.\n\n"
      "Example: weir serve --tap weir0 --ip 10.0.0.2/24 --gateway 10.0.0.1 --pcap weir.pcap\n");
  // The parsed strings live in this shared state, which the callback owns.
  struct Raw {
    std::string tap, ip, gateway, mac, pcap, netns;
    uint32_t mtu = 0;
  };
  auto raw = std::make_shared<Raw>();
  cmd->add_option("--tap", raw->tap, "Tap device name (created if missing)")
      ->required()
      ->check(CLI::Validator(check_interface_name, "NAME"));
  cmd->add_option("--ip", raw->ip, "The stack's address and prefix, e.g. 10.0.0.2/24")
      ->required()
      ->check(CLI::Validator(check_prefix, "ADDR/PREFIX"));
  cmd->add_option("--gateway", raw->gateway, "Default route via this address")
      ->check(CLI::Validator(check_address, "ADDR"));
  cmd->add_option("--mac", raw->mac,
                  "The stack's MAC address (default: random, locally administered)")
      ->check(CLI::Validator(check_mac, "MAC"));
  cmd->add_option("--pcap", raw->pcap,
                  "Write every frame the stack sends and receives to FILE (pcap)");
  cmd->add_option("--mtu", raw->mtu, "Link MTU in bytes, also set on the tap (default: the tap's)")
      ->check(CLI::Range(kMinMtu, kMaxMtu));
  cmd->add_option("--netns", raw->netns,
                  "Open the tap inside this network namespace (a name from 'ip netns' or a path);\n"
                  "weir itself stays where it is");

  cmd->callback([raw] {
    ServeOptions options;
    options.tap = raw->tap;
    options.address = IpPrefix::parse(raw->ip).value();
    if (raw->mtu != 0) options.mtu = raw->mtu;
    if (!raw->netns.empty()) options.netns = raw->netns;
    if (!raw->gateway.empty()) {
      options.gateway = IpAddress::parse(raw->gateway).value();
      if (!options.address.contains(*options.gateway)) {
        throw CLI::ValidationError("--gateway", raw->gateway + " is not inside " + raw->ip);
      }
      if (*options.gateway == options.address.address) {
        throw CLI::ValidationError("--gateway", "the gateway cannot be the stack's own address");
      }
    }
    if (!raw->mac.empty()) options.mac = MacAddress::parse(raw->mac).value();
    if (!raw->pcap.empty()) options.pcap = raw->pcap;
    int status = run_serve(options);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace weir::tools
