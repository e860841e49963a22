// idle: 10 warm-up connections, then `conns` (default 10,000)
// established connection pairs A<->B held open with no data. Reported: process RSS growth per
// pair (/proc/self/statm), and heap growth per pair (mallinfo2) as scripts/peers/lwipbench.c does.
// With `exchange`, each pair first carries a request and its response of that many bytes and is
// then idle: what a drained connection keeps.
#include <malloc.h>

#include <cstdio>
#include <string>
#include <vector>

#include "tools/bench_net.h"

namespace weir::tools::bench {

namespace {
constexpr int kWarmup = 10;

// Sends `bytes` from `from` and reads them all at `to`. The buffers are made once, so that the
// heap measured holds only what the stacks keep.
Status carry(BenchNet& net, tcp::Endpoint& from, tcp::Endpoint& to, size_t bytes) {
  static const std::vector<std::byte> data(size_t{1} << 20, std::byte{'x'});
  static std::vector<std::byte> buf(16384);
  size_t written = 0;
  size_t read = 0;
  return net.run_until([&] {
    if (written < bytes) {
      auto n = from.write(ByteView(data).subspan(written, bytes - written));
      if (n) written += *n;
    }
    for (;;) {
      auto n = to.read(buf);
      if (!n || *n == 0) break;
      read += *n;
    }
    return read >= bytes;
  });
}

Status exchange(BenchNet& net, Pair& pair, size_t bytes) {
  if (Status st = carry(net, *pair.client, *pair.server, bytes); !st) return st;
  return carry(net, *pair.server, *pair.client, bytes);
}

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
    if (options.exchange > 0 && !exchange(net, *pair, options.exchange)) {
      return report_failure(options, kTest, "warm-up exchange failed");
    }
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
    if (options.exchange > 0) {
      if (Status st = exchange(net, *pair, options.exchange); !st) {
        return report_failure(
            options, kTest,
            "exchange " + std::to_string(i) + ": " + std::string(error_name(st.error())));
      }
    }
    pairs.push_back(std::move(*pair));
  }
  net.pump();
  const double elapsed = monotonic_seconds() - t0;
  const struct mallinfo2 heap1 = mallinfo2();
  const int64_t rss1 = rss_bytes();

  char fields[512];
  std::snprintf(fields, sizeof fields,
                "conns=%d exchange=%zu open_secs=%.3f rss_before_mb=%.1f rss_after_mb=%.1f "
                "rss_per_pair_bytes=%.0f malloc_per_pair_bytes=%.0f",
                n, options.exchange, elapsed, static_cast<double>(rss0) / 1048576.0,
                static_cast<double>(rss1) / 1048576.0, static_cast<double>(rss1 - rss0) / n,
                (static_cast<double>(heap1.uordblks) - static_cast<double>(heap0.uordblks)) / n);
  return report(options, kTest, fields);
}

}  // namespace weir::tools::bench
