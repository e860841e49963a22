// Timer wheel costs: arm + cancel (a TCP retransmission timer reset on every ACK), a run that
// fires a timer per tick, and next_deadline() as the loop asks it before every wait.
#include <benchmark/benchmark.h>

#include <memory>
#include <random>
#include <vector>

#include "stack/timer.h"

namespace weir {
namespace {

void BM_TimerArmCancel(benchmark::State& state) {
  ManualClock clock;
  TimerWheel wheel(clock);
  Timer t([] {});
  int64_t i = 0;
  for (auto _ : state) {
    wheel.arm_after(t, std::chrono::milliseconds(200 + (i++ & 1023)));
    t.cancel();
  }
}
BENCHMARK(BM_TimerArmCancel);

void BM_TimerRearm(benchmark::State& state) {
  ManualClock clock;
  TimerWheel wheel(clock);
  Timer t([] {});
  int64_t i = 0;
  for (auto _ : state) wheel.arm_after(t, std::chrono::milliseconds(200 + (i++ & 1023)));
}
BENCHMARK(BM_TimerRearm);

// 10k timers spread over 10 s, then the clock advances 1 ms at a time until all fired.
void BM_TimerFireSpread(benchmark::State& state) {
  const int n = 10000;
  std::vector<std::unique_ptr<Timer>> timers;
  int fired = 0;
  for (int i = 0; i < n; ++i) timers.push_back(std::make_unique<Timer>([&fired] { ++fired; }));
  std::mt19937 gen(1);
  for (auto _ : state) {
    ManualClock clock;
    TimerWheel wheel(clock);
    fired = 0;
    for (auto& t : timers) wheel.arm_after(*t, std::chrono::microseconds(gen() % 10'000'000));
    while (fired < n) {
      clock.advance(std::chrono::milliseconds(1));
      wheel.run();
    }
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * n);
}
BENCHMARK(BM_TimerFireSpread)->Unit(benchmark::kMillisecond);

void BM_TimerNextDeadline(benchmark::State& state) {
  ManualClock clock;
  TimerWheel wheel(clock);
  std::vector<std::unique_ptr<Timer>> timers;
  std::mt19937 gen(2);
  for (int i = 0; i < state.range(0); ++i) {
    timers.push_back(std::make_unique<Timer>([] {}));
    wheel.arm_after(*timers.back(), std::chrono::milliseconds(1 + gen() % 600'000));
  }
  for (auto _ : state) benchmark::DoNotOptimize(wheel.next_deadline());
}
BENCHMARK(BM_TimerNextDeadline)->Arg(1)->Arg(1000);

// An idle stretch: one timer an hour away, the clock jumps there in one step.
void BM_TimerLongJump(benchmark::State& state) {
  ManualClock clock;
  TimerWheel wheel(clock);
  Timer t([] {});
  for (auto _ : state) {
    wheel.arm_after(t, std::chrono::hours(1));
    clock.advance(std::chrono::hours(1));
    benchmark::DoNotOptimize(wheel.run());
  }
}
BENCHMARK(BM_TimerLongJump);

}  // namespace
}  // namespace weir
