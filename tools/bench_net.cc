// The two-stack harness of `weir bench`. Theory of operation: like an lwIP raw-API program
// (scripts/peers/lwipbench.c), one thread alternates between the application (a workload's step
// function, which reads and writes non-blocking endpoints) and the stacks (the channel pump
// and both timer wheels), so the figures are protocol processing with no thread hand-offs.
// Time is the real monotonic clock: the stacks' timers (delayed ACK, RTO) run as they would
// on a host, and when nothing is in flight the thread sleeps until the next timer is due.
#include "tools/bench_net.h"

#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <optional>

#include "ipv4/ipv4.h"
#include "tcp/tcp.h"

namespace weir::tools::bench {

namespace {

std::unique_ptr<Stack> make_stack(const Clock& clock, uint64_t seed, const BenchOptions& options,
                                  std::unique_ptr<link::ChannelEndpoint> endpoint,
                                  const IpPrefix& address) {
  auto stack = std::make_unique<Stack>(clock, StackOptions{.seed = seed});
  ipv4::install(*stack);
  tcp::TcpOptions tcp_options;
  // The command line accepted only the names parse_congestion_algorithm knows.
  if (auto algorithm = tcp::parse_congestion_algorithm(options.cc)) {
    tcp_options.congestion_control = *algorithm;
  }
  tcp::install(*stack, tcp_options);
  const NicId nic = stack->add_nic(std::move(endpoint), "ch0").value();
  (void)stack->add_address(nic, address);
  return stack;
}

}  // namespace

BenchNet::BenchNet(const BenchOptions& options) : print_counters_(options.print_counters) {
  link::ChannelOptions channel;
  channel.mtu = options.mtu;
  channel.queue_limit = options.queue_limit;
  channel.framing = link::Framing::kRawIp;
  auto pair = link::ChannelEndpoint::make_pair(channel);
  link_a_ = pair.a.get();
  link_b_ = pair.b.get();
  const Ipv4Address a(10, 0, 0, 1);
  const Ipv4Address b(10, 0, 0, 2);
  addr_b_ = IpAddress(b);
  a_ = make_stack(clock_, 1, options, std::move(pair.a), IpPrefix{IpAddress(a), 24});
  b_ = make_stack(clock_, 2, options, std::move(pair.b), IpPrefix{IpAddress(b), 24});
  pump();
}

BenchNet::~BenchNet() {
  if (!print_counters_) return;
  for (auto [name, stack] : {std::pair<const char*, Stack*>{"A", a_.get()}, {"B", b_.get()}}) {
    stack->counters().for_each([&](std::string_view group, std::string_view counter, uint64_t v) {
      if (v != 0) {
        std::fprintf(stderr, "%s %.*s.%.*s %" PRIu64 "\n", name, static_cast<int>(group.size()),
                     group.data(), static_cast<int>(counter.size()), counter.data(), v);
      }
    });
  }
}

size_t BenchNet::pump() { return pump_at(clock_.now()); }

size_t BenchNet::pump_at(TimePoint now) {
  size_t total = 0;
  for (;;) {
    size_t timers = 0;
    {
      // Both stacks work at the caller's one clock reading, as weir's Loop does per iteration:
      // a clock read costs as much as a few hundred instructions of protocol work.
      Stack::Batch batch_a(*a_, now);
      Stack::Batch batch_b(*b_, now);
      const size_t frames = link::ChannelEndpoint::pump(*link_a_, *link_b_);
      timers = a_->run_timers() + b_->run_timers();
      if (frames + timers == 0) return total;
      total += frames + timers;
    }
    // pump() stopped with both inbound queues empty: only the timers that ran and the work
    // deferred to the batches' end can have queued frames since. Without either, a pass more
    // would find nothing (it cost about 100 instructions per segment in rr).
    if (timers == 0 && link_a_->inbound_idle() && link_b_->inbound_idle()) return total;
  }
}

Status BenchNet::wait_for_timer(TimePoint& now, TimePoint give_up) {
  ++timer_waits_;
  if (now >= give_up) return Error::kTimedOut;
  std::optional<TimePoint> next = a_->timers().next_deadline();
  if (auto nb = b_->timers().next_deadline(); nb && (!next || *nb < *next)) next = nb;
  if (!next) return Error::kTimedOut;  // nothing can ever happen again
  // next_deadline() may be early; sleep at most a millisecond at a time.
  const Duration wait =
      std::clamp<Duration>(*next - now, Duration::zero(), std::chrono::milliseconds(1));
  if (wait > Duration::zero()) {
    timespec ts{0, static_cast<long>(wait.count())};
    nanosleep(&ts, nullptr);
  }
  now = clock_.now();
  return ok_status();
}

const tcp::TcpCounters& BenchNet::tcp_a() const { return tcp::find(*a_)->counters(); }
const tcp::TcpCounters& BenchNet::tcp_b() const { return tcp::find(*b_)->counters(); }

uint64_t BenchNet::link_drops() const {
  return link_a_->counters().tx_drop_queue_full + link_b_->counters().tx_drop_queue_full;
}

double cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

int64_t rss_bytes() {
  // statm: size resident shared text lib data dt, in pages.
  std::ifstream statm("/proc/self/statm");
  int64_t size = 0;
  int64_t resident = -1;
  if (!(statm >> size >> resident)) return -1;
  return resident * sysconf(_SC_PAGESIZE);
}

double monotonic_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

std::string result_prefix(const BenchOptions& options, const char* test) {
  std::string s = "RESULT peer=weir link=channel mtu=" + std::to_string(options.mtu) +
                  " threads=1 cc=" + options.cc + " test=" + test;
  return s;
}

int report(const BenchOptions& options, const char* test, const std::string& fields) {
  std::string line = result_prefix(options, test) + " " + fields;
  if (!options.label.empty()) line += " label=" + options.label;
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  return 0;
}

int report_failure(const BenchOptions& options, const char* test, const std::string& why) {
  std::string reason = why;
  std::replace(reason.begin(), reason.end(), ' ', '_');
  std::string line = result_prefix(options, test) + " error=" + reason;
  if (!options.label.empty()) line += " label=" + options.label;
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "weir bench %s: %s\n", test, why.c_str());
  return 1;
}

Result<std::unique_ptr<tcp::Endpoint>> listen_on_b(BenchNet& net, int backlog) {
  auto listener = tcp::Endpoint::create(net.b(), AddressFamily::kIpv4);
  if (!listener) return Error::kProtocolNotSupported;
  WEIR_TRY(listener->bind({IpAddress(Ipv4Address::any()), kPort}));
  WEIR_TRY(listener->listen(backlog));
  return listener;
}

Result<Pair> connect_pair(BenchNet& net, tcp::Endpoint& listener) {
  Pair pair;
  pair.client = tcp::Endpoint::create(net.a(), AddressFamily::kIpv4);
  if (!pair.client) return Error::kProtocolNotSupported;
  if (Status s = pair.client->connect(net.server_address());
      !s && s.error() != Error::kInProgress) {
    return s.error();
  }
  std::optional<Error> failed;
  Status run = net.run_until([&] {
    if (!pair.server) {
      auto accepted = listener.accept();
      if (accepted) {
        pair.server = std::move(*accepted);
      } else if (accepted.error() != Error::kWouldBlock) {
        failed = accepted.error();
        return true;
      }
    }
    const EventMask ready = pair.client->readiness();
    if (ready & kEventError) {
      failed = pair.client->take_error().value_or(Error::kConnectionAborted);
      return true;
    }
    return pair.server != nullptr && (ready & kEventWritable) != 0;
  });
  if (!run) return run.error();
  if (failed) return *failed;
  return pair;
}

}  // namespace weir::tools::bench
