// `weir bench`: the peers' workloads (../shared/peers/README.md: bulk, rr, crr, idle) on weir,
// two stacks in one process over the in-memory channel link, printing the peers harness's
// `RESULT peer=weir ...` lines so lib/summarize.py tabulates weir next to gVisor, lwIP and
// Linux.
#pragma once

#include <CLI/CLI.hpp>

namespace weir::tools {

// Registers `bench` (all workloads) and its subcommands `bulk`, `rr`, `crr`, `idle`.
void add_bench_command(CLI::App& app);

}  // namespace weir::tools
