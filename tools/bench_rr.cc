// rr: one established connection with Nagle off; 1000 warm-up
// round trips, then n (default 100,000) timed ones of: A writes 1 byte, B reads it and writes
// it back, A reads it. Each round trip is timed with the monotonic clock.
#include <algorithm>
#include <cinttypes>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include "tools/bench_net.h"

namespace weir::tools::bench {

namespace {
constexpr int kWarmup = 1000;
constexpr int kDefaultRoundTrips = 100000;
}  // namespace

int run_rr(const BenchOptions& options) {
  constexpr const char* kTest = "rr";
  const int n = options.n > 0 ? options.n : kDefaultRoundTrips;
  BenchNet net(options);
  auto listener = listen_on_b(net, 16);
  if (!listener) return report_failure(options, kTest, "listen failed");
  auto pair = connect_pair(net, **listener);
  if (!pair)
    return report_failure(options, kTest, "connect: " + std::string(error_name(pair.error())));
  tcp::Endpoint& client = *pair->client;
  tcp::Endpoint& server = *pair->server;
  client.set_no_delay(true);
  server.set_no_delay(true);

  const std::byte request[1] = {std::byte{'x'}};
  std::byte buffer[64];
  std::string failure;

  // `start`: the clock reading the round trip begins at (the end of the one before).
  auto round_trip = [&](TimePoint start) -> bool {
    bool done = false;
    bool sent = false;
    Status run = net.run_until_from(start, [&] {
      // The request is written in the loop's first step, as an application's write happens
      // inside a loop iteration and at its clock reading (a write outside any batch reads the
      // clock itself).
      if (!sent) {
        sent = true;
        auto w = client.write(request);
        if (!w || *w != 1) {
          failure = "client write failed";
          return true;
        }
      }
      auto r = server.read(buffer);
      if (r && *r > 0) {
        auto echoed = server.write(ByteView(buffer, *r));
        if (!echoed || *echoed != *r) {
          failure = "server write failed";
          return true;
        }
      } else if (r && *r == 0) {
        failure = "unexpected EOF at the server";
        return true;
      }
      auto c = client.read(buffer);
      if (c && *c > 0) {
        done = true;
        return true;
      }
      if (c && *c == 0) {
        failure = "unexpected EOF at the client";
        return true;
      }
      return false;
    });
    if (!run && failure.empty()) failure = "round trip stalled";
    return done && failure.empty();
  };

  for (int i = 0; i < kWarmup; ++i) {
    if (!round_trip(net.now())) return report_failure(options, kTest, failure);
  }
  std::vector<double> latency(static_cast<size_t>(n));
  const double cpu0 = cpu_seconds();
  // One clock reading between round trips ends one and starts the next, and is also the loop's
  // first reading (a reading costs 23 ns on this kind of VM; lwIP's harness takes two per
  // round trip and reads none for its stack).
  const TimePoint t0 = net.now();
  TimePoint start = t0;
  for (int i = 0; i < n; ++i) {
    if (!round_trip(start)) return report_failure(options, kTest, failure);
    const TimePoint end = net.now();
    latency[static_cast<size_t>(i)] = to_seconds(end - start);
    start = end;
  }
  const double elapsed = to_seconds(start - t0);
  const double cpu = cpu_seconds() - cpu0;
  const double mean = std::accumulate(latency.begin(), latency.end(), 0.0) / n;
  std::sort(latency.begin(), latency.end());
  char fields[512];
  std::snprintf(fields, sizeof fields,
                "n=%d secs=%.3f rtt_mean_us=%.2f rtt_p50_us=%.2f rtt_p99_us=%.2f rt_per_s=%.0f "
                "cpu_s=%.3f timer_waits=%" PRIu64,
                n, elapsed, mean * 1e6, latency[latency.size() / 2] * 1e6,
                latency[latency.size() * 99 / 100] * 1e6, n / elapsed, cpu, net.timer_waits());
  return report(options, kTest, fields);
}

}  // namespace weir::tools::bench
