// The harness behind `weir bench`: two stacks in one process, joined by an in-memory channel,
// driven by one thread, and the workloads that run on it.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "link/channel.h"
#include "stack/address.h"
#include "stack/clock.h"
#include "stack/result.h"
#include "stack/stack.h"
#include "tcp/counters.h"
#include "tcp/endpoint.h"

namespace weir::tools::bench {

inline constexpr uint16_t kPort = 5001;  // as the in-process peers' (scripts/peers/)

struct BenchOptions {
  uint32_t mtu = 1500;
  double secs = 5.0;    // bulk: how long A writes
  int n = 0;            // rr round trips / crr connections; 0: the workload's default
  int conns = 10000;    // idle pairs
  size_t exchange = 0;  // idle: bytes each way per pair (a request and its response) first
  std::string cc = "cubic";
  size_t queue_limit = 1024;  // frames per channel direction, as gVisor's channel link
  std::string label;
  bool print_counters = false;  // both stacks' non-zero counters on stderr at the end
};

// Two stacks (10.0.0.1 = A, client; 10.0.0.2 = B, server) with IPv4 and TCP, joined by a raw-IP
// channel (no Ethernet header, no ARP, like the gVisor and lwIP setups). One thread drives
// both: pump() moves frames both ways and fires due timers until nothing is left to do.
class BenchNet {
 public:
  explicit BenchNet(const BenchOptions& options);
  ~BenchNet();
  BenchNet(const BenchNet&) = delete;
  BenchNet& operator=(const BenchNet&) = delete;

  Stack& a() { return *a_; }
  Stack& b() { return *b_; }
  TimePoint now() const { return clock_.now(); }
  SocketAddress server_address() const { return {addr_b_, kPort}; }

  // Delivers frames both ways and fires due timers until nothing moves; returns how many
  // frames and timers that was.
  size_t pump();
  // Runs the application's step and the stacks in turn until step() returns true. When
  // neither the step nor the link has anything to do, the next event is a timer: sleep
  // until it is due. Fails with kTimedOut after `limit` without step() finishing.
  // A template, so each workload's step is called directly: a std::function cost a call
  // through its handler on every step and its construction per round trip.
  template <typename Step>
  Status run_until(Step&& step, Duration limit = std::chrono::seconds(60)) {
    return run_until_from(clock_.now(), step, limit);
  }
  // The same, its first iteration at `now`, a reading the caller just took (rr times each
  // round trip with the reading that also starts it, as one loop iteration reads the clock
  // once).
  template <typename Step>
  Status run_until_from(TimePoint now, Step&& step, Duration limit = std::chrono::seconds(60)) {
    const TimePoint give_up = now + limit;
    for (;;) {
      if (step_at(step, now)) return ok_status();
      if (pump_at(now) != 0) {
        now = clock_.now();
        continue;
      }
      if (step_at(step, now)) return ok_status();
      now = clock_.now();
      if (pump_at(now) != 0) {
        now = clock_.now();
        continue;
      }
      if (Status quiet = wait_for_timer(now, give_up); !quiet) return quiet;
    }
  }

  const tcp::TcpCounters& tcp_a() const;
  const tcp::TcpCounters& tcp_b() const;
  uint64_t link_drops() const;
  // How often run_until() found nothing to do and slept until a timer: a workload that
  // progresses only by timers (delayed ACKs, RTOs) shows it here.
  uint64_t timer_waits() const { return timer_waits_; }

 private:
  size_t pump_at(TimePoint now);
  template <typename Step>
  bool step_at(Step& step, TimePoint now) {
    // The application's calls run in one batch per stack at the iteration's reading, as a
    // handler does inside weir's Loop; the work they defer (ACKs) runs when the batch ends.
    Stack::Batch batch_a(*a_, now);
    Stack::Batch batch_b(*b_, now);
    return step();
  }
  // Quiet: neither the step nor the link had anything to do, so the next thing to happen is a
  // timer. Sleeps toward it (at most a millisecond) and reads the clock into now; kTimedOut
  // once give_up has passed or when nothing can ever happen again.
  Status wait_for_timer(TimePoint& now, TimePoint give_up);

  SteadyClock clock_;
  std::unique_ptr<Stack> a_;
  std::unique_ptr<Stack> b_;
  link::ChannelEndpoint* link_a_ = nullptr;  // owned by a_'s NIC
  link::ChannelEndpoint* link_b_ = nullptr;
  IpAddress addr_b_;
  uint64_t timer_waits_ = 0;
  bool print_counters_ = false;
};

// Process CPU time (user + system) and resident set size.
double cpu_seconds();
int64_t rss_bytes();
double monotonic_seconds();

// "RESULT peer=weir link=channel mtu=M threads=1 cc=C test=T".
std::string result_prefix(const BenchOptions& options, const char* test);
// Prints prefix + fields (+ label) and returns exit status 0.
int report(const BenchOptions& options, const char* test, const std::string& fields);
// Prints the prefix with error=REASON (tables built from RESULT lines skip it), says why on stderr,
// returns 1.
int report_failure(const BenchOptions& options, const char* test, const std::string& why);

// A listening endpoint on B at kPort.
Result<std::unique_ptr<tcp::Endpoint>> listen_on_b(BenchNet& net, int backlog);
// Connects a fresh endpoint of A to the listener and accepts it on B; both established.
struct Pair {
  std::unique_ptr<tcp::Endpoint> client;
  std::unique_ptr<tcp::Endpoint> server;
};
Result<Pair> connect_pair(BenchNet& net, tcp::Endpoint& listener);

// The workloads; each prints one RESULT line and returns an exit status.
int run_bulk(const BenchOptions& options);
int run_rr(const BenchOptions& options);
int run_crr(const BenchOptions& options);
int run_idle(const BenchOptions& options);

}  // namespace weir::tools::bench
