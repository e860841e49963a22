// The data path end to end, on the harness of `weir bench` (tools/bench_net.h: two stacks over
// an in-memory raw-IP channel, one thread), with the one figure `weir bench` cannot show:
// heap allocations per segment in the steady state (tests/bench/alloc_counter.h counts every
// operator new of this thread). The hot path's goal is none; the counters say how far it is.
//
//   weir_micro_bench --benchmark_filter=DataPath
#include <benchmark/benchmark.h>

#include <memory>
#include <vector>

#include "tcp/counters.h"
#include "tcp/endpoint.h"
#include "tests/bench/alloc_counter.h"
#include "tools/bench_net.h"
#include "udp/endpoint.h"
#include "udp/udp.h"

namespace weir {
namespace {

using tools::bench::BenchNet;
using tools::bench::BenchOptions;

struct Connected {
  explicit Connected(uint32_t mtu) : net(options(mtu)) {
    listener = std::move(*tools::bench::listen_on_b(net, 16));
    auto pair = std::move(*tools::bench::connect_pair(net, *listener));
    client = std::move(pair.client);
    server = std::move(pair.server);
  }
  static BenchOptions options(uint32_t mtu) {
    BenchOptions o;
    o.mtu = mtu;
    return o;
  }
  BenchNet net;
  std::unique_ptr<tcp::Endpoint> listener;
  std::unique_ptr<tcp::Endpoint> client;
  std::unique_ptr<tcp::Endpoint> server;
};

// A writes 64 KiB, the stacks run until the link is quiet, B reads everything: the bulk
// workload in steps. Warm-up first, so buffers, windows and caches are at their steady size.
void BM_DataPathBulk(benchmark::State& state) {
  Connected c(static_cast<uint32_t>(state.range(0)));
  std::vector<std::byte> chunk(64 * 1024, std::byte{0x5a});
  std::vector<std::byte> sink(256 * 1024);
  auto round = [&] {
    size_t written = 0;
    while (written < chunk.size()) {
      auto n = c.client->write(ByteView(chunk).subspan(written));
      if (!n) break;
      written += *n;
    }
    c.net.pump();
    while (c.server->read(sink)) {
    }
    c.net.pump();
    return written;
  };
  for (int i = 0; i < 256; ++i) round();

  const uint64_t segs0 = c.net.tcp_a().segments_sent + c.net.tcp_b().segments_sent;
  const uint64_t data_segs0 = c.net.tcp_a().segments_sent;
  const uint64_t allocs0 = bench::thread_allocations();
  uint64_t bytes = 0;
  for (auto _ : state) bytes += round();
  const uint64_t allocs = bench::thread_allocations() - allocs0;
  const uint64_t segs = c.net.tcp_a().segments_sent + c.net.tcp_b().segments_sent - segs0;
  const uint64_t data_segs = c.net.tcp_a().segments_sent - data_segs0;
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["allocs_per_segment"] =
      segs ? static_cast<double>(allocs) / static_cast<double>(segs) : 0;
  state.counters["allocs_per_data_segment"] =
      data_segs ? static_cast<double>(allocs) / static_cast<double>(data_segs) : 0;
  state.counters["segments_per_round"] =
      static_cast<double>(segs) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_DataPathBulk)->Arg(1500)->Arg(65535);

// Warms up with 1,000 round trips (caches and windows at their steady size), then times them
// and counts what they allocate.
template <typename RoundTrip>
void run_round_trips(benchmark::State& state, RoundTrip&& round_trip) {
  for (int i = 0; i < 1000; ++i) round_trip();
  const uint64_t allocs0 = bench::thread_allocations();
  for (auto _ : state) round_trip();
  state.counters["allocs_per_round_trip"] =
      static_cast<double>(bench::thread_allocations() - allocs0) /
      static_cast<double>(state.iterations());
}

// One byte each way with Nagle off: the rr workload's round trip.
void BM_DataPathRoundTrip(benchmark::State& state) {
  Connected c(1500);
  c.client->set_no_delay(true);
  c.server->set_no_delay(true);
  std::byte byte{0x42};
  std::byte got{};
  auto round_trip = [&] {
    (void)c.client->write(ByteView(&byte, 1));
    c.net.pump();
    (void)c.server->read(MutableByteView(&got, 1));
    (void)c.server->write(ByteView(&got, 1));
    c.net.pump();
    (void)c.client->read(MutableByteView(&got, 1));
  };
  run_round_trips(state, round_trip);
}
BENCHMARK(BM_DataPathRoundTrip);

// A 32-byte datagram each way between two UDP sockets on the same harness: a DNS-style query
// and answer. The client sends with send_to (every IPv4 send checks whether the destination is
// a broadcast address of some subnet of ours).
void BM_DataPathUdpRoundTrip(benchmark::State& state) {
  BenchNet net(Connected::options(1500));
  udp::install(net.a());
  udp::install(net.b());
  auto server = std::move(*udp::Endpoint::create(net.b(), AddressFamily::kIpv4));
  const SocketAddress server_address = net.server_address();
  (void)server->bind(server_address);
  auto client = std::move(*udp::Endpoint::create(net.a(), AddressFamily::kIpv4));
  std::vector<std::byte> query(32, std::byte{0x11});
  std::vector<std::byte> buf(512);
  bool answered = true;
  auto round_trip = [&] {
    (void)client->send_to(query, server_address);
    net.pump();
    auto got = server->receive_from(buf);
    if (got) (void)server->send_to(ByteView(buf).first(got->size), got->from);
    net.pump();
    answered = answered && got && client->receive_from(buf);
  };
  run_round_trips(state, round_trip);
  if (!answered) state.SkipWithError("a datagram went unanswered");
}
BENCHMARK(BM_DataPathUdpRoundTrip);

}  // namespace
}  // namespace weir
