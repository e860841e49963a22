// `weir run`. Theory of operation: one supervisor thread runs one Stack on one Loop. The stack
// has a loopback NIC ("lo", 127.0.0.1/8) and, with --net tap:NAME or packet:IFACE, an uplink
// ("eth0") on that tap or interface. The program is started by sandbox/launcher.h inside fresh
// namespaces under the program filter; each of its socket calls arrives as a seccomp
// notification on the loop and is answered by the emulator (sandbox/emulator.h). Once
// everything is open, the supervisor confines itself to its allowlist (sandbox/policy.h). The
// sandbox's init ending (its pidfd polls readable) means the program ended: the supervisor lets
// the data the program left in flight drain, for a bounded time, and exits with the program's
// status.
//
// Signals: SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1/2, SIGWINCH and SIGCONT sent to the
// supervisor are passed to the sandbox's init, which passes them to the program. A terminal's
// own signals (Ctrl-C) already reach the program, which shares the terminal's foreground
// group; the supervisor then only waits for the program to end.
#include "tools/run.h"

#include <fcntl.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "ipv4/ipv4.h"
#include "ipv6/autoconf.h"
#include "ipv6/ipv6.h"
#include "link/fault.h"
#include "link/loopback.h"
#include "link/packet.h"
#include "link/sniffer.h"
#include "link/tap.h"
#include "sandbox/emulator.h"
#include "sandbox/kernel.h"
#include "sandbox/launcher.h"
#include "sandbox/policy.h"
#include "sandbox/publish.h"
#include "sandbox/tracee.h"
#include "stack/clock.h"
#include "stack/loop.h"
#include "stack/nic.h"
#include "stack/stack.h"
#include "tcp/tcp.h"
#include "tools/cli_checks.h"
#include "tools/stats.h"
#include "udp/udp.h"

namespace weir::tools {
namespace {

constexpr uint32_t kMinMtu = 68;
constexpr uint32_t kMaxMtu = 65535;
// How long the supervisor lets data the program left behind drain after it ended.
constexpr auto kDrainLimit = std::chrono::seconds(10);
constexpr auto kDrainPoll = std::chrono::milliseconds(10);

struct RunOptions {
  std::string net = "none";  // "none" or "tap:NAME"
  std::string tap;     // --net tap:NAME
  std::string packet;  // --net packet:IFACE
  std::optional<std::string> netns;
  std::optional<IpPrefix> address;
  std::optional<IpAddress> gateway;
  bool ipv6 = true;
  std::vector<IpPrefix> addresses6;
  std::optional<IpAddress> gateway6;
  std::vector<IpAddress> dns;
  std::vector<sandbox::PublishRule> publish;
  std::optional<std::string> pcap;
  std::optional<uint32_t> mtu;
  bool offloads = true;
  std::optional<link::FaultOptions> fault;
  std::optional<MacAddress> mac;
  std::string hostname = "weir";
  bool stats = false;
  bool lockdown = true;
  std::vector<std::string> argv;
};

void say(const std::string& message) { std::fprintf(stderr, "weir run: %s\n", message.c_str()); }

MacAddress random_mac() {
  std::random_device rd;
  std::array<uint8_t, 6> octets{};
  for (auto& o : octets) o = static_cast<uint8_t>(rd());
  octets[0] = static_cast<uint8_t>((octets[0] & 0xfc) | 0x02);  // local, unicast
  return MacAddress(octets);
}

// The files bind-mounted over /etc/resolv.conf and /etc/hosts inside; removed once mounted.
class SandboxFiles {
 public:
  ~SandboxFiles() { remove(); }
  Status create(const RunOptions& options, std::string* message) {
    char templ[] = "/tmp/weir-run-XXXXXX";
    if (::mkdtemp(templ) == nullptr) {
      *message = std::string("cannot create a temporary directory: ") + std::strerror(errno);
      return Error::kIo;
    }
    dir_ = templ;
    if (!options.dns.empty()) {
      std::string text = "# written by weir run\n";
      for (const auto& a : options.dns) text += "nameserver " + a.to_string() + "\n";
      resolv_conf_ = dir_ + "/resolv.conf";
      WEIR_TRY(write(resolv_conf_, text, message));
    }
    std::string hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
    if (options.address || !options.addresses6.empty()) {
      if (options.address) hosts += options.address->address.to_string() + "\t" + options.hostname + "\n";
      for (const auto& p : options.addresses6) hosts += p.address.to_string() + "\t" + options.hostname + "\n";
    } else {
      hosts += "127.0.1.1\t" + options.hostname + "\n";
    }
    hosts_ = dir_ + "/hosts";
    return write(hosts_, hosts, message);
  }
  const std::string& resolv_conf() const { return resolv_conf_; }
  const std::string& hosts() const { return hosts_; }
  void remove() {
    if (!resolv_conf_.empty()) ::unlink(resolv_conf_.c_str());
    if (!hosts_.empty()) ::unlink(hosts_.c_str());
    if (!dir_.empty()) ::rmdir(dir_.c_str());
    resolv_conf_.clear();
    hosts_.clear();
    dir_.clear();
  }

 private:
  static Status write(const std::string& path, const std::string& text, std::string* message) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      *message = "cannot write " + path + ": " + std::strerror(errno);
      return Error::kIo;
    }
    return ok_status();
  }
  std::string dir_, resolv_conf_, hosts_;
};

Result<UniqueFd> open_signal_fd() {
  sigset_t set;
  sigemptyset(&set);
  for (int sig : sandbox::forwarded_signals()) sigaddset(&set, sig);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return error_from_errno(errno);
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, nullptr);
  int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return error_from_errno(errno);
  return UniqueFd(fd);
}

void print_counters(const Stack& stack, const sandbox::SandboxCounters& sandbox_counters) {
  std::fprintf(stderr, "weir run: counters (non-zero):\n%s", format_counters(stack, false, "  ").c_str());
  sandbox_counters.for_each([](std::string_view name, uint64_t value) {
    if (value != 0) {
      std::fprintf(stderr, "  sandbox.%.*s %llu\n", static_cast<int>(name.size()), name.data(),
                   static_cast<unsigned long long>(value));
    }
  });
}

int run_sandbox(const RunOptions& options) {
  // Chunks of a TCP stream come and go by the hundred thousand; from mmap they would be
  // unmapped each time, and every unmap is a TLB shootdown across CPUs. From the heap they
  // are reused.
  ::mallopt(M_MMAP_THRESHOLD, 64 << 20);
  ::mallopt(M_TRIM_THRESHOLD, 256 << 20);
  auto signal_fd = open_signal_fd();
  if (!signal_fd) {
    say("cannot set up signal handling: " + std::string(error_name(signal_fd.error())));
    return 1;
  }

  // The stack, its links and its addresses first: a mistake there must not start anything.
  SteadyClock clock;
  Stack stack(clock);
  ipv4::install(stack);
  if (options.ipv6) ipv6::install(stack);
  udp::install(stack);
  tcp::install(stack);

  auto lo = link::LoopbackEndpoint::create();
  if (!lo) {
    say("cannot create the loopback link: " + std::string(error_name(lo.error())));
    return 1;
  }
  link::LoopbackEndpoint* lo_endpoint = lo->get();
  auto lo_nic = stack.add_nic(std::move(lo).value(), "lo");
  if (!lo_nic || !stack.add_address(*lo_nic, IpPrefix::parse("127.0.0.1/8").value()) ||
      (options.ipv6 && !stack.add_address(*lo_nic, IpPrefix::parse("::1/128").value()))) {
    say("cannot set up the loopback NIC");
    return 1;
  }

  std::optional<NicId> uplink;
  LinkEndpoint* uplink_endpoint = nullptr;
  link::SnifferEndpoint* sniffer = nullptr;
  if (!options.tap.empty() || !options.packet.empty()) {
    const std::optional<std::string> netns_path =
        options.netns ? std::optional<std::string>(options.netns->find('/') == std::string::npos
                                                       ? "/var/run/netns/" + *options.netns
                                                       : *options.netns)
                      : std::nullopt;
    const MacAddress mac = options.mac.value_or(random_mac());
    std::string message;
    std::unique_ptr<LinkEndpoint> endpoint;
    if (!options.tap.empty()) {
      link::TapOptions tap_options;
      tap_options.name = options.tap;
      tap_options.mtu = options.mtu;
      tap_options.mac = mac;
      tap_options.offloads = options.offloads;
      tap_options.bring_up = true;
      if (netns_path) tap_options.netns = *netns_path;
      auto tap = link::TapEndpoint::open(tap_options, &message);
      if (!tap) {
        say(message.empty() ? "cannot open tap " + options.tap + ": " +
                                  std::string(error_name(tap.error()))
                            : message);
        return 1;
      }
      stack.counters().add_struct("link", (*tap)->counters());
      endpoint = std::move(tap).value();
    } else {
      link::PacketSocketOptions packet_options;
      packet_options.interface = options.packet;
      packet_options.mac = mac;
      packet_options.bring_up = true;
      if (netns_path) packet_options.netns = *netns_path;
      auto packet = link::PacketSocketEndpoint::open(packet_options, &message);
      if (!packet) {
        say(message.empty() ? "cannot open " + options.packet + ": " +
                                  std::string(error_name(packet.error()))
                            : message);
        return 1;
      }
      stack.counters().add_struct("link", (*packet)->counters());
      endpoint = std::move(packet).value();
    }
    if (options.fault) {
      auto fault =
          std::make_unique<link::FaultEndpoint>(std::move(endpoint), stack.timers(), *options.fault);
      stack.counters().add_struct("fault", fault->counters());
      endpoint = std::move(fault);
    }
    if (options.pcap) {
      auto s = link::SnifferEndpoint::create(std::move(endpoint), *options.pcap, clock, &message);
      if (!s) {
        say(message);
        return 1;
      }
      sniffer = s->get();
      endpoint = std::move(s).value();
    }
    uplink_endpoint = endpoint.get();
    auto nic = stack.add_nic(std::move(endpoint), "eth0");
    if (!nic) {
      say("cannot add the uplink NIC: " + std::string(error_name(nic.error())));
      return 1;
    }
    uplink = *nic;
    std::vector<IpPrefix> addresses;
    if (options.address) addresses.push_back(*options.address);
    if (options.ipv6) addresses.insert(addresses.end(), options.addresses6.begin(), options.addresses6.end());
    for (const IpPrefix& p : addresses) {
      if (auto s = stack.add_address(*nic, p); !s) {
        say("cannot add address " + p.to_string() + ": " + std::string(error_name(s.error())));
        return 1;
      }
      // The stack reaches its own address through loopback, as Linux does.
      stack.add_route(Route{IpPrefix{p.address, uint8_t(p.address.is_v4() ? 32 : 128)}, std::nullopt,
                            *lo_nic, p.address});
    }
    if (options.gateway) {
      stack.add_route(Route{IpPrefix{IpAddress::any(AddressFamily::kIpv4), 0}, options.gateway, *nic});
    }
    if (options.ipv6 && options.gateway6) {
      stack.add_route(Route{IpPrefix{IpAddress::any(AddressFamily::kIpv6), 0}, options.gateway6, *nic});
    }
  }
  if (options.ipv6 && uplink) {
    // A link-local address, router solicitation, SLAAC and a default route from router
    // advertisements on the uplink (ipv6/autoconf.h), after the given addresses are on it.
    ipv6::enable_autoconf(stack);
  }

  std::string message;
  SandboxFiles files;
  if (!files.create(options, &message)) {
    say(message);
    return 1;
  }
  sandbox::LaunchOptions launch_options;
  launch_options.argv = options.argv;
  launch_options.hostname = options.hostname;
  launch_options.resolv_conf_path = files.resolv_conf();
  launch_options.hosts_path = files.hosts();
  auto launched = sandbox::launch(launch_options, &message);
  if (!launched) {
    say(message);
    return 1;
  }
  // Mounted inside; the names are no longer needed.
  files.remove();

  Loop loop(stack);
  sandbox::SeccompTracee tracee(launched->notify);
  tracee.set_sandbox_init(launched->init_pid);
  sandbox::EmulatorOptions emulator_options;
  emulator_options.hostname = options.hostname;
  sandbox::Emulator emulator(stack, loop, tracee, emulator_options);

  auto fatal = [&](const std::string& text) {
    say(text);
    ::kill(launched->init_pid, SIGKILL);
    sandbox::wait_for_exit(*launched);
    return 1;
  };

  if (!loop.watch(*lo_endpoint)) return fatal("cannot watch the loopback link");
  if (uplink_endpoint != nullptr && !loop.watch(*uplink_endpoint)) {
    return fatal("cannot watch the tap");
  }
  const int notify_fd = launched->notify.get();
  auto watched = loop.watch_fd(notify_fd, EPOLLIN, [&](uint32_t events) {
    if (events & EPOLLIN) {
      seccomp_notif notif;
      if (launched->notify.receive(notif)) {
        sandbox::SyscallRequest req;
        req.id = notif.id;
        req.tid = static_cast<pid_t>(notif.pid);
        req.nr = notif.data.nr;
        for (size_t i = 0; i < req.args.size(); ++i) req.args[i] = notif.data.args[i];
        emulator.handle(req);
      }
    } else if (events & (EPOLLHUP | EPOLLERR)) {
      loop.unwatch_fd(notify_fd);  // every filtered process is gone
    }
  });
  if (!watched) return fatal("cannot watch the seccomp listener");

  std::optional<int> exit_code;
  TimePoint ended_at{};
  Timer drain_timer([&] {
    if (emulator.drained() && !tcp::find(stack)->has_unsent_data()) {
      loop.stop();
    } else if (stack.now() - ended_at >= kDrainLimit) {
      loop.stop();
    } else {
      stack.timers().arm_after(drain_timer, kDrainPoll);
    }
  });
  const int init_fd = launched->init_pidfd.get();
  if (!loop.watch_fd(init_fd, EPOLLIN, [&](uint32_t) {
        loop.unwatch_fd(init_fd);
        exit_code = sandbox::wait_for_exit(*launched);
        ended_at = stack.now();
        stack.timers().arm_after(drain_timer, kDrainPoll);
      })) {
    return fatal("cannot watch the sandbox's init");
  }
  const int sig_fd = signal_fd->get();
  if (!loop.watch_fd(sig_fd, EPOLLIN, [&](uint32_t) {
        signalfd_siginfo info{};
        while (::read(sig_fd, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
          // The terminal's own signals reached the program already (same foreground group).
          if (info.ssi_code == SI_KERNEL) continue;
          if (!exit_code) ::kill(launched->init_pid, static_cast<int>(info.ssi_signo));
        }
      })) {
    return fatal("cannot watch signals");
  }

  std::vector<std::unique_ptr<sandbox::Publisher>> publishers;
  for (const auto& rule : options.publish) {
    std::string why;
    auto p = sandbox::Publisher::open(stack, loop, rule, &why);
    if (!p) return fatal(why);
    publishers.push_back(std::move(p).value());
  }

  if (options.lockdown) {
    if (auto s = sandbox::lock_down_supervisor(); !s) {
      return fatal("cannot confine the supervisor: " + std::string(error_name(s.error())));
    }
  }

  loop.run();

  if (!exit_code) {
    // The loop ended for another reason; the sandbox must not outlive us.
    ::kill(launched->init_pid, SIGKILL);
    exit_code = sandbox::wait_for_exit(*launched);
  }
  publishers.clear();
  if (sniffer != nullptr) (void)sniffer->flush();
  if (options.stats) print_counters(stack, emulator.counters());
  return *exit_code;
}

// ---- the command line -----------------------------------------------------------------------

std::string check_prefix(std::string& text) {
  auto prefix = IpPrefix::parse(text);
  if (!prefix) return "'" + text + "' is not an address with a prefix length, e.g. 10.0.0.2/24";
  if (!prefix->address.is_v4()) return "--ip takes an IPv4 address (IPv6: --ip6)";
  if (prefix->length == 0 || prefix->length > 30) return "prefix length must be 1..30";
  return {};
}

std::string check_address(std::string& text) {
  if (!IpAddress::parse(text)) return "'" + text + "' is not an IP address, e.g. 10.0.0.1";
  return {};
}

std::string check_net(std::string& text) {
  if (text == "none") return {};
  for (std::string_view kind : {"tap:", "packet:"}) {
    if (text.rfind(kind, 0) != 0) continue;
    std::string name = text.substr(kind.size());
    return check_interface_name(name);
  }
  if (text.rfind("dpdk:", 0) == 0) {
    return "'dpdk' uplinks are not available yet (use tap:NAME, packet:IFACE or none)";
  }
  return "'" + text + "' is not an uplink: use tap:NAME, packet:IFACE or none";
}

std::string check_publish(std::string& text) {
  if (!sandbox::PublishRule::parse(text)) {
    return "'" + text + "' is not HOSTPORT:PORT[/tcp|/udp], e.g. 8080:80";
  }
  return {};
}

}  // namespace

void add_run_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "run", "Run a program whose network is served by a weir stack, in fresh namespaces");
  cmd->footer(
      "The program runs in new user, pid, mount, uts, ipc and network namespaces. Its own\n"
      "network namespace stays empty: every TCP, UDP and netlink-route socket it opens is served\n"
      "by weir's stack, and nothing reaches a network except through it.\n\n"
      "Examples:\n"
      "  weir run -- python3 -c 'import socket; print(socket.gethostname())'\n"
      "  weir run --net tap:weir0 --ip 10.0.0.2/24 --gateway 10.0.0.1 -- curl http://10.0.0.1/\n"
      "  weir run --net tap:weir0 --ip 10.0.0.2/24 --publish 8080:8000 -- python3 -m http.server\n"
      "  weir run --print-policy\n");
  auto raw = std::make_shared<RunOptions>();
  auto raw_ip = std::make_shared<std::string>();
  auto raw_gateway = std::make_shared<std::string>();
  auto raw_ip6 = std::make_shared<std::vector<std::string>>();
  auto raw_gateway6 = std::make_shared<std::string>();
  auto no_ip6 = std::make_shared<bool>(false);
  auto raw_mac = std::make_shared<std::string>();
  auto raw_dns = std::make_shared<std::vector<std::string>>();
  auto raw_publish = std::make_shared<std::vector<std::string>>();
  auto raw_pcap = std::make_shared<std::string>();
  auto raw_netns = std::make_shared<std::string>();
  auto raw_mtu = std::make_shared<uint32_t>(0);
  auto print_policy = std::make_shared<bool>(false);
  auto no_lockdown = std::make_shared<bool>(false);

  cmd->add_option("--net", raw->net,
                  "The stack's uplink: tap:NAME (created if missing), packet:IFACE (an existing\n"
                  "interface such as a veth end, through AF_PACKET with the stack's own MAC) or none")
      ->check(CLI::Validator(check_net, "tap:NAME|packet:IFACE|none"));
  cmd->add_option("--ip", *raw_ip, "The stack's address on the uplink, e.g. 10.0.0.2/24")
      ->check(CLI::Validator(check_prefix, "ADDR/PREFIX"));
  cmd->add_option("--gateway", *raw_gateway, "Default route via this address")
      ->check(CLI::Validator(check_address, "ADDR"));
  cmd->add_option("--ip6", *raw_ip6, "An IPv6 address of the stack on the uplink (repeatable)")
      ->allow_extra_args(false)
      ->check(CLI::Validator(check_prefix6, "ADDR/PREFIX"));
  cmd->add_option("--gateway6", *raw_gateway6, "Default IPv6 route via this address")
      ->check(CLI::Validator(check_address, "ADDR"));
  cmd->add_flag("--no-ip6", *no_ip6, "No IPv6 in the sandbox (AF_INET6 sockets fail with EAFNOSUPPORT)");
  cmd->add_option("--dns", *raw_dns, "Name server for the program's /etc/resolv.conf (repeatable)")
      ->allow_extra_args(false)
      ->check(CLI::Validator(check_address, "ADDR"));
  cmd->add_option("--publish", *raw_publish,
                  "HOSTPORT:PORT[/udp]: accept on 127.0.0.1:HOSTPORT here and forward to PORT inside")
      ->allow_extra_args(false)
      ->check(CLI::Validator(check_publish, "HOSTPORT:PORT[/udp]"));
  cmd->add_option("--pcap", *raw_pcap, "Write every frame on the uplink to FILE (pcap)");
  cmd->add_option("--mtu", *raw_mtu, "Uplink MTU in bytes, also set on the tap")
      ->check(CLI::Range(kMinMtu, kMaxMtu));
  add_fault_option(cmd, raw->fault, "the uplink");
  cmd->add_flag("--no-offload", [raw](int64_t) { raw->offloads = false; },
                "Plain frames on the tap: no checksum or segmentation offload with the kernel");
  cmd->add_option("--mac", *raw_mac, "The stack's MAC address on the uplink (default: random)")
      ->check(CLI::Validator(check_mac, "MAC"));
  cmd->add_option("--netns", *raw_netns,
                  "Open the tap inside this network namespace (a name from 'ip netns' or a path)");
  cmd->add_option("--hostname", raw->hostname, "The program's hostname (default: weir)");
  cmd->add_flag("--stats", raw->stats, "Print the stack's and the sandbox's counters at exit");
  cmd->add_flag("--print-policy", *print_policy,
                "Print the program's seccomp filter and the supervisor's allowlist, then exit");
  cmd->add_flag("--no-lockdown", *no_lockdown,
                "Do not confine the supervisor to its allowlist (for debugging weir itself)");
  cmd->add_option("program", raw->argv, "PROGRAM [ARGS...] (after --)");

  cmd->callback([=] {
    if (*print_policy) {
      auto text = sandbox::describe_policies();
      if (!text) {
        say("cannot build the policies: " + std::string(error_name(text.error())));
        throw CLI::RuntimeError(1);
      }
      std::fputs(text->c_str(), stdout);
      return;
    }
    RunOptions options = *raw;
    if (options.argv.empty()) throw CLI::ValidationError("program", "no program given (weir run [OPTIONS] -- PROGRAM [ARGS])");
    options.ipv6 = !*no_ip6;
    if (*no_ip6 && (!raw_ip6->empty() || !raw_gateway6->empty())) {
      throw CLI::ValidationError("--no-ip6", "cannot be combined with --ip6 or --gateway6");
    }
    if (options.net.rfind("tap:", 0) == 0) options.tap = options.net.substr(4);
    if (options.net.rfind("packet:", 0) == 0) options.packet = options.net.substr(7);
    const bool uplink = !options.tap.empty() || !options.packet.empty();
    if (uplink) {
      if (raw_ip->empty() && raw_ip6->empty()) {
        throw CLI::ValidationError("--ip", "--net " + options.net + " needs --ip ADDR/PREFIX and/or --ip6 ADDR/PREFIX");
      }
    } else if (!raw_ip->empty() || !raw_gateway->empty() || !raw_ip6->empty() || !raw_gateway6->empty()) {
      throw CLI::ValidationError("--ip", "--ip, --ip6 and the gateways need an uplink (--net tap:NAME or packet:IFACE)");
    }
    if (options.fault && !uplink) {
      throw CLI::ValidationError("--fault", "impairs the uplink: it needs --net tap:NAME or packet:IFACE");
    }
    if (!options.packet.empty() && (*raw_mtu != 0 || !options.offloads)) {
      throw CLI::ValidationError("--net", "packet:IFACE takes the interface's MTU and has no offloads to turn off (--mtu, --no-offload are for taps)");
    }
    for (const auto& text : *raw_ip6) options.addresses6.push_back(IpPrefix::parse(text).value());
    if (!raw_gateway6->empty()) {
      options.gateway6 = IpAddress::parse(*raw_gateway6).value();
      if (!options.gateway6->is_v6()) throw CLI::ValidationError("--gateway6", "not an IPv6 address");
    }
    if (!raw_ip->empty()) options.address = IpPrefix::parse(*raw_ip).value();
    if (!raw_gateway->empty()) {
      if (!options.address) throw CLI::ValidationError("--gateway", "--gateway needs --ip");
      options.gateway = IpAddress::parse(*raw_gateway).value();
      if (!options.address->contains(*options.gateway)) {
        throw CLI::ValidationError("--gateway", *raw_gateway + " is not inside " + *raw_ip);
      }
      if (*options.gateway == options.address->address) {
        throw CLI::ValidationError("--gateway", "the gateway cannot be the stack's own address");
      }
    }
    for (const auto& d : *raw_dns) options.dns.push_back(IpAddress::parse(d).value());
    for (const auto& p : *raw_publish) options.publish.push_back(*sandbox::PublishRule::parse(p));
    if (!raw_mac->empty()) options.mac = MacAddress::parse(*raw_mac).value();
    if (!raw_pcap->empty()) {
      if (!uplink) throw CLI::ValidationError("--pcap", "--pcap needs an uplink (--net tap:NAME or packet:IFACE)");
      options.pcap = *raw_pcap;
    }
    if (!raw_netns->empty()) options.netns = *raw_netns;
    if (*raw_mtu != 0) options.mtu = *raw_mtu;
    options.lockdown = !*no_lockdown;
    int status = run_sandbox(options);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace weir::tools
