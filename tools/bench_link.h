// `weir bench link`: frames per second and Gbit/s through each link endpoint on its own, with
// no IP or TCP on top: the endpoint's write_packets() and process_receive() against the Linux
// kernel on the other side, in a network namespace the bench makes (tools/bench_link.cc says
// what each case measures).
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

namespace weir::tools::bench {

struct LinkBenchOptions {
  double secs = 2.0;                    // measured seconds per case
  std::vector<std::string> endpoints;   // empty: every endpoint built in
  std::vector<std::string> sizes;       // "64", "1500", "64k"; empty: all
  std::vector<std::string> directions;  // "tx", "rx"; empty: both
  std::string label;
};

// Registers `link` under the `bench` command with its options bound to `options`, which must
// outlive the App; the caller sets the callback.
CLI::App* add_link_subcommand(CLI::App* bench, LinkBenchOptions& options);

// Runs the selected cases, one RESULT line each; returns the exit status (0 also when cases
// were skipped for want of root or /dev/net/tun, 1 when a case failed).
int run_link(const LinkBenchOptions& options);

}  // namespace weir::tools::bench
