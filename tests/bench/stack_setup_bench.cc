// What building and tearing down a whole stack costs: a fuzzer that builds one per input pays
// it on every input, and so does an embedder that runs a stack per tenant or per test.
//
//   weir_micro_bench --benchmark_filter=Stack
#include <benchmark/benchmark.h>

#include <memory>

#include "ipv4/ipv4.h"
#include "ipv6/ipv6.h"
#include "link/channel.h"
#include "stack/clock.h"
#include "stack/stack.h"
#include "tcp/tcp.h"
#include "tests/bench/alloc_counter.h"
#include "udp/udp.h"

namespace weir {
namespace {

// A bare stack: the core alone.
void BM_StackBare(benchmark::State& state) {
  ManualClock clock;
  for (auto _ : state) {
    Stack stack(clock, repeatable_stack_options(1));
    benchmark::DoNotOptimize(stack);
  }
}
BENCHMARK(BM_StackBare);

// Every protocol installed and one NIC with an IPv4 and an IPv6 address, as the whole-stack
// fuzzers build it (fuzz/stack_under_test.h, without its sockets).
void BM_StackWithProtocols(benchmark::State& state) {
  ManualClock clock;
  const Ipv6Address global = Ipv6Address::parse("fd00::1").value();
  const uint64_t allocations_before = bench::thread_allocations();
  for (auto _ : state) {
    Stack stack(clock, repeatable_stack_options(1));
    auto pair = link::ChannelEndpoint::make_test_pair({});
    const NicId nic = stack.add_nic(std::move(pair.endpoint), "eth0").value();
    ipv4::install(stack);
    ipv6::install(stack);
    udp::install(stack);
    tcp::install(stack);
    (void)stack.add_address(nic, IpPrefix{IpAddress(Ipv4Address(10, 0, 0, 1)), 24});
    (void)stack.add_address(nic, IpPrefix{IpAddress(global), 64});
    benchmark::DoNotOptimize(stack);
  }
  state.counters["allocs_per_stack"] =
      benchmark::Counter(static_cast<double>(bench::thread_allocations() - allocations_before) /
                         static_cast<double>(state.iterations()));
}
BENCHMARK(BM_StackWithProtocols);

}  // namespace
}  // namespace weir
