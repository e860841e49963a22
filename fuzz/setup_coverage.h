// Leaving a harness's fixed setup out of the coverage libFuzzer collects for an input.
//
// A target that builds a whole world per input (fuzz/stack_under_test.h: protocols, NIC,
// addresses, routes, sockets, connects) runs the same setup code the same number of times for
// every input. libFuzzer turns each edge an input touched into a feature and looks each up in
// tables of several MiB (Fuzzer::RunOne's CollectFeatures), so the setup's edges were paid
// twice: running them, and collecting them again after every input although they never
// differ. On fuzz_stack_frame an empty input touched 1,280 edges, 731 once the setup's are
// left out (the final timers and the teardown, which depend on the input); a seed touches
// 1,400-1,800. The setup's counts also sat under the input's own in the hit-count buckets of
// code both run.
//
// forget_setup_coverage() (fuzz/setup_coverage.cc) zeroes the edge counters once the setup is
// done, so what libFuzzer collects is what the input's own bytes made the stack do, and the
// teardown after it. Nothing the input runs changes: the same code runs under the same checks,
// and a crash reproduces in a fresh process as before. What changes is what libFuzzer reports
// as covered: code only the setup reaches no longer counts (the "cov:" figure on its status
// lines is lower).
#pragma once

namespace weir::fuzzing {

// Zeroes the edge counters libFuzzer reads after the input; a no-op in a program built
// without them.
void forget_setup_coverage();

}  // namespace weir::fuzzing
