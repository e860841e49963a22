// PacketBuffer operations on the per-packet path: building a transmit packet back to front,
// cloning for a retransmission queue, parsing a header off the front.
#include <benchmark/benchmark.h>

#include <vector>

#include "stack/packet_buffer.h"

namespace weir {
namespace {

// A TCP segment on its way down: payload copied in, then TCP, IPv4 and Ethernet headers pushed
// into the headroom.
void BM_TxHeaderBuild(benchmark::State& state) {
  std::vector<std::byte> payload(static_cast<size_t>(state.range(0)), std::byte{0x61});
  for (auto _ : state) {
    auto p = PacketBuffer::from_bytes(payload);
    benchmark::DoNotOptimize(p.push_front(20).data());
    benchmark::DoNotOptimize(p.push_front(20).data());
    benchmark::DoNotOptimize(p.push_front(14).data());
    benchmark::DoNotOptimize(p.size());
  }
}
BENCHMARK(BM_TxHeaderBuild)->Arg(0)->Arg(64)->Arg(1460);

// The same with a clone held, as a retransmission queue does: every push must copy-on-write.
void BM_TxHeaderBuildShared(benchmark::State& state) {
  std::vector<std::byte> payload(1460, std::byte{0x61});
  auto queued = PacketBuffer::from_bytes(payload);
  for (auto _ : state) {
    auto p = queued.clone();
    benchmark::DoNotOptimize(p.push_front(20).data());
    benchmark::DoNotOptimize(p.push_front(20).data());
    benchmark::DoNotOptimize(p.push_front(14).data());
  }
}
BENCHMARK(BM_TxHeaderBuildShared);

void BM_Clone(benchmark::State& state) {
  auto p = PacketBuffer::from_bytes(std::vector<std::byte>(1460));
  for (auto _ : state) {
    auto c = p.clone();
    benchmark::DoNotOptimize(c.size());
  }
}
BENCHMARK(BM_Clone);

void BM_CloneTwoSlices(benchmark::State& state) {
  auto p = PacketBuffer::from_bytes(std::vector<std::byte>(1460));
  p.append(PacketBuffer::from_bytes(std::vector<std::byte>(1460)));
  for (auto _ : state) {
    auto c = p.clone();
    benchmark::DoNotOptimize(c.size());
  }
}
BENCHMARK(BM_CloneTwoSlices);

// Receive parsing: front() of the headers then pull_front, as each layer does. The frame is
// a clone of one received packet (clone cost included: see BM_Clone).
void BM_RxParse(benchmark::State& state) {
  auto frame = PacketBuffer::from_bytes(std::vector<std::byte>(1514), 0);
  for (auto _ : state) {
    auto p = frame.clone();
    benchmark::DoNotOptimize(p.front(14)->data());
    p.pull_front(14);
    benchmark::DoNotOptimize(p.front(20)->data());
    p.pull_front(20);
    benchmark::DoNotOptimize(p.front(20)->data());
    p.pull_front(20);
  }
}
BENCHMARK(BM_RxParse);

void BM_FromBytes1500(benchmark::State& state) {
  std::vector<std::byte> frame(1500);
  for (auto _ : state) {
    auto p = PacketBuffer::from_bytes(frame);
    benchmark::DoNotOptimize(p.size());
  }
}
BENCHMARK(BM_FromBytes1500);

void BM_FrontLinearize(benchmark::State& state) {
  auto a = PacketBuffer::from_bytes(std::vector<std::byte>(10));
  a.append(PacketBuffer::from_bytes(std::vector<std::byte>(100)));
  for (auto _ : state) {
    auto p = a.clone();
    benchmark::DoNotOptimize(p.front(40)->data());
  }
}
BENCHMARK(BM_FrontLinearize);

}  // namespace
}  // namespace weir
