// bulk: A connects to B:5001 and writes 64 KiB chunks for `secs`
// seconds, checking the clock every 16 MiB, then half-closes; B reads 256 KiB at a time until
// EOF. Elapsed time runs from the connect (as in scripts/peers/lwipbench.c) until B has read
// EOF; CPU is the whole process (both stacks and the link).
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "tools/bench_net.h"

namespace weir::tools::bench {

namespace {
constexpr size_t kChunk = 64 * 1024;
constexpr size_t kReadSize = 256 * 1024;
constexpr uint64_t kClockCheckBytes = 16 * 1024 * 1024;
}  // namespace

int run_bulk(const BenchOptions& options) {
  constexpr const char* kTest = "bulk";
  BenchNet net(options);
  auto listener = listen_on_b(net, 16);
  if (!listener) return report_failure(options, kTest, "listen failed");
  auto client = tcp::Endpoint::create(net.a(), AddressFamily::kIpv4);
  if (!client) return report_failure(options, kTest, "TCP is not installed");

  std::vector<std::byte> chunk(kChunk);
  for (size_t i = 0; i < chunk.size(); ++i) chunk[i] = std::byte(i & 0xff);
  std::vector<std::byte> read_buffer(kReadSize);

  std::unique_ptr<tcp::Endpoint> server;
  uint64_t sent = 0;
  uint64_t received = 0;
  uint64_t next_clock_check = kClockCheckBytes;
  size_t chunk_offset = 0;
  bool write_closed = false;
  bool eof = false;
  std::string failure;

  const double cpu0 = cpu_seconds();
  const double t0 = monotonic_seconds();
  const double deadline = t0 + options.secs;
  if (Status s = client->connect(net.server_address()); !s && s.error() != Error::kInProgress) {
    return report_failure(options, kTest, "connect: " + std::string(error_name(s.error())));
  }

  auto step = [&] {
    if (!server) {
      auto accepted = (*listener)->accept();
      if (accepted) server = std::move(*accepted);
    }
    while (!write_closed) {
      if (sent >= next_clock_check) {
        next_clock_check += kClockCheckBytes;
        if (monotonic_seconds() > deadline) {
          if (Status s = client->shutdown(tcp::ShutdownHow::kWrite); !s) {
            failure = "shutdown: " + std::string(error_name(s.error()));
            return true;
          }
          write_closed = true;
          break;
        }
      }
      auto n = client->write(ByteView(chunk).subspan(chunk_offset));
      if (!n) {
        if (n.error() == Error::kWouldBlock || n.error() == Error::kNotConnected) break;
        failure = "write: " + std::string(error_name(n.error()));
        return true;
      }
      if (*n == 0) break;
      sent += *n;
      chunk_offset = (chunk_offset + *n) % kChunk;
    }
    while (server) {
      auto n = server->read(read_buffer);
      if (!n) {
        if (n.error() == Error::kWouldBlock) break;
        failure = "read: " + std::string(error_name(n.error()));
        return true;
      }
      if (*n == 0) {
        eof = true;
        return true;
      }
      received += *n;
    }
    return false;
  };
  Status run = net.run_until(step, std::chrono::seconds(static_cast<int64_t>(options.secs) + 60));
  const double elapsed = monotonic_seconds() - t0;
  const double cpu = cpu_seconds() - cpu0;
  if (!failure.empty()) return report_failure(options, kTest, failure);
  if (!run) return report_failure(options, kTest, "stalled before EOF");
  if (!eof || received != sent) {
    return report_failure(options, kTest,
                          "byte count mismatch: sent " + std::to_string(sent) + ", received " +
                              std::to_string(received));
  }

  char fields[512];
  std::snprintf(fields, sizeof fields,
                "bytes=%" PRIu64 " secs=%.3f gbps=%.3f cpu_s=%.3f cpu_util=%.2f segs_sent=%" PRIu64
                " retrans=%" PRIu64 " rto=%" PRIu64 " link_drops=%" PRIu64 " timer_waits=%" PRIu64,
                received, elapsed, static_cast<double>(received) * 8 / elapsed / 1e9, cpu,
                cpu / elapsed, net.tcp_a().segments_sent, net.tcp_a().retransmitted_segments,
                net.tcp_a().rto_timeouts, net.link_drops(), net.timer_waits());
  return report(options, kTest, fields);
}

}  // namespace weir::tools::bench
