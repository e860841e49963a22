// Internet checksum throughput: the library's 8-bytes-per-step sum against the textbook
// 16-bit loop, at a minimum frame, an Ethernet MTU, a jumbo frame and a maximal IP datagram.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include "stack/checksum.h"

namespace weir {
namespace {

std::vector<std::byte> random_payload(size_t n) {
  std::mt19937 gen(1);
  std::vector<std::byte> v(n);
  for (auto& b : v) b = std::byte(static_cast<uint8_t>(gen()));
  return v;
}

// What RFC 1071 section 4.1 writes in C: one big-endian word per step.
uint16_t naive_checksum(ByteView data) {
  uint32_t sum = 0;
  size_t i = 0;
  for (; i + 1 < data.size(); i += 2) {
    sum += (std::to_integer<uint32_t>(data[i]) << 8) | std::to_integer<uint32_t>(data[i + 1]);
  }
  if (i < data.size()) sum += std::to_integer<uint32_t>(data[i]) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return static_cast<uint16_t>(~sum);
}

void BM_Checksum(benchmark::State& state) {
  auto data = random_payload(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(data.data());
    benchmark::DoNotOptimize(internet_checksum(data));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Checksum)->Arg(20)->Arg(21)->Arg(40)->Arg(64)->Arg(1500)->Arg(9000)->Arg(65535);

void BM_ChecksumNaive(benchmark::State& state) {
  auto data = random_payload(static_cast<size_t>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(data.data());
    benchmark::DoNotOptimize(naive_checksum(data));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_ChecksumNaive)->Arg(64)->Arg(1500)->Arg(9000)->Arg(65535);

// An odd start inside the buffer: the accumulator's unaligned path.
void BM_ChecksumOddOffset(benchmark::State& state) {
  auto data = random_payload(static_cast<size_t>(state.range(0)) + 1);
  ByteView view = ByteView(data).subspan(1);
  for (auto _ : state) {
    benchmark::DoNotOptimize(data.data());
    benchmark::DoNotOptimize(internet_checksum(view));
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_ChecksumOddOffset)->Arg(1500);

void BM_ChecksumUpdate16(benchmark::State& state) {
  uint16_t c = 0x1234;
  uint16_t w = 0;
  for (auto _ : state) {
    c = checksum_update16(c, w, static_cast<uint16_t>(w + 1));
    ++w;
    benchmark::DoNotOptimize(c);
  }
}
BENCHMARK(BM_ChecksumUpdate16);

}  // namespace
}  // namespace weir
