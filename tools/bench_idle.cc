// idle: 10 warm-up connections, then `conns` (default 10,000)
// established connection pairs A<->B held open with no data. Reported: process RSS growth per
// pair (/proc/self/statm), and heap growth per pair (mallinfo2) as scripts/peers/lwipbench.c does.
#include <malloc.h>

#include <cstdio>
#include <string>
#include <vector>

#include "tools/bench_net.h"

namespace weir::tools::bench {

namespace {
constexpr int kWarmup = 10;
}  // namespace

int run_idle(const BenchOptions& options) {
  constexpr const char* kTest = "idle";
  const int n = options.conns;
  BenchNet net(options);
  auto listener = listen_on_b(net, 1024);
  if (!listener) return report_failure(options, kTest, "listen failed");
  std::vector<Pair> pairs;
  pairs.reserve(static_cast<size_t>(n + kWarmup));
  for (int i = 0; i < kWarmup; ++i) {
    auto pair = connect_pair(net, **listener);
    if (!pair) return report_failure(options, kTest, "warm-up connect failed");
    pairs.push_back(std::move(*pair));
  }

  malloc_trim(0);
  const struct mallinfo2 heap0 = mallinfo2();
  const int64_t rss0 = rss_bytes();
  const double t0 = monotonic_seconds();
  for (int i = 0; i < n; ++i) {
    auto pair = connect_pair(net, **listener);
    if (!pair) {
      return report_failure(
          options, kTest,
          "connect " + std::to_string(i) + ": " + std::string(error_name(pair.error())));
    }
    pairs.push_back(std::move(*pair));
  }
  net.pump();
  const double elapsed = monotonic_seconds() - t0;
  const struct mallinfo2 heap1 = mallinfo2();
  const int64_t rss1 = rss_bytes();

  char fields[512];
  std::snprintf(fields, sizeof fields,
                "conns=%d open_secs=%.3f rss_before_mb=%.1f rss_after_mb=%.1f "
                "rss_per_pair_bytes=%.0f malloc_per_pair_bytes=%.0f",
                n, elapsed, static_cast<double>(rss0) / 1048576.0,
                static_cast<double>(rss1) / 1048576.0, static_cast<double>(rss1 - rss0) / n,
                (static_cast<double>(heap1.uordblks) - static_cast<double>(heap0.uordblks)) / n);
  return report(options, kTest, fields);
}

}  // namespace weir::tools::bench
