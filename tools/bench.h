// `weir bench`: the standard workloads (bulk, rr, crr, idle: each file says what it does) on weir,
// two stacks in one process over the in-memory channel link, printing one
// `RESULT peer=weir ...` line per workload (key=value fields). The peer programs of
// scripts/bench_peers.sh (lwIP, gVisor's netstack, Linux) print the same lines for the same
// workloads, and scripts/peers/summarize.py puts them all in one table.
#pragma once

#include <CLI/CLI.hpp>

namespace weir::tools {

// Registers `bench` (all workloads) and its subcommands `bulk`, `rr`, `crr`, `idle`, and
// `link` (tools/bench_link.h: the link endpoints alone, against Linux).
void add_bench_command(CLI::App& app);

}  // namespace weir::tools
