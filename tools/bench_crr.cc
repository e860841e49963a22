// crr: 100 warm-up, then n (default 10,000) sequential
// connections: A connects and writes 1 byte; B accepts, reads it, writes 1 byte and closes
// first; A reads the byte, reads EOF and closes. The server's side ends in TIME-WAIT, as in
// the peers' runs (scripts/bench_peers.sh).
#include <cinttypes>
#include <cstdio>
#include <string>

#include "tools/bench_net.h"

namespace weir::tools::bench {

namespace {
constexpr int kWarmup = 100;
constexpr int kDefaultConnections = 10000;
}  // namespace

int run_crr(const BenchOptions& options) {
  constexpr const char* kTest = "crr";
  const int n = options.n > 0 ? options.n : kDefaultConnections;
  BenchNet net(options);
  auto listener = listen_on_b(net, 1024);
  if (!listener) return report_failure(options, kTest, "listen failed");
  std::string failure;

  auto one_connection = [&]() -> bool {
    auto client = tcp::Endpoint::create(net.a(), AddressFamily::kIpv4);
    client->set_no_delay(true);
    if (Status s = client->connect(net.server_address()); !s && s.error() != Error::kInProgress) {
      failure = "connect: " + std::string(error_name(s.error()));
      return false;
    }
    std::unique_ptr<tcp::Endpoint> server;
    bool server_done = false;
    bool request_sent = false;
    int reply_bytes = 0;
    bool done = false;
    std::byte buffer[16];
    const std::byte request[1] = {std::byte{'x'}};
    const std::byte reply[1] = {std::byte{'y'}};

    Status run = net.run_until([&] {
      if (!server && !server_done) {
        auto accepted = (*listener)->accept();
        if (accepted) {
          server = std::move(*accepted);
          server->set_no_delay(true);
        }
      }
      if (server) {
        auto r = server->read(buffer);
        if (r && *r > 0) {
          auto w = server->write(reply);
          if (!w || *w != 1) {
            failure = "server write failed";
            return true;
          }
          server->close();  // the server closes first; its FIN follows the byte
          server.reset();
          server_done = true;
        } else if (!r && r.error() != Error::kWouldBlock) {
          failure = "server read: " + std::string(error_name(r.error()));
          return true;
        }
      }
      const EventMask ready = client->readiness();
      if (ready & kEventError) {
        failure = "client: " +
                  std::string(error_name(client->take_error().value_or(Error::kConnectionAborted)));
        return true;
      }
      if (!request_sent) {
        if ((ready & kEventWritable) == 0) return false;
        auto w = client->write(request);
        if (!w || *w != 1) {
          failure = "client write failed";
          return true;
        }
        request_sent = true;
      }
      for (;;) {
        auto r = client->read(buffer);
        if (!r) {
          if (r.error() == Error::kWouldBlock) return false;
          failure = "client read: " + std::string(error_name(r.error()));
          return true;
        }
        if (*r == 0) {
          if (reply_bytes != 1) {
            failure = "EOF before the reply byte";
            return true;
          }
          client->close();
          done = true;
          return true;
        }
        reply_bytes += static_cast<int>(*r);
      }
    });
    if (!run && failure.empty()) failure = "connection stalled";
    // Let the client's FIN and the server's last ACK cross before the next connection.
    net.pump();
    return done && failure.empty();
  };

  for (int i = 0; i < kWarmup; ++i) {
    if (!one_connection()) return report_failure(options, kTest, failure);
  }
  const double cpu0 = cpu_seconds();
  const double t0 = monotonic_seconds();
  double first_tenth = 0;
  for (int i = 0; i < n; ++i) {
    if (!one_connection()) {
      return report_failure(options, kTest, failure + " (connection " + std::to_string(i) + ")");
    }
    if (i + 1 == n / 10) first_tenth = monotonic_seconds() - t0;
  }
  const double elapsed = monotonic_seconds() - t0;
  const double cpu = cpu_seconds() - cpu0;
  char fields[512];
  std::snprintf(fields, sizeof fields,
                "n=%d secs=%.3f conn_per_s=%.0f us_per_conn=%.2f cpu_s=%.3f "
                "first10pct_conn_per_s=%.0f timer_waits=%" PRIu64 " syn_retrans=%" PRIu64
                " tw_reused=%" PRIu64 " tw_paws_drops=%" PRIu64 " resets=%" PRIu64,
                n, elapsed, n / elapsed, elapsed * 1e6 / n, cpu,
                first_tenth > 0 ? (n / 10) / first_tenth : 0.0, net.timer_waits(),
                net.tcp_a().syn_retransmits, net.tcp_b().time_wait_reused, net.tcp_b().drop_paws,
                net.tcp_a().resets_sent + net.tcp_b().resets_sent);
  return report(options, kTest, fields);
}

}  // namespace weir::tools::bench
