// `weir bench`: command-line registration and the run-everything driver. The workloads live
// in tools/bench_{bulk,rr,crr,idle}.cc on the harness of tools/bench_net.cc. When `weir bench`
// runs them all, each run gets a fresh child process, as each peer program of
// scripts/bench_peers.sh is a fresh process per workload: CPU time and RSS then cover one
// workload only. `weir bench link`
// (tools/bench_link.cc) measures the link endpoints against Linux instead; it needs root, so
// the run-everything driver leaves it out.
#include "tools/bench.h"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tools/bench_link.h"
#include "tools/bench_net.h"

namespace weir::tools {

namespace {

using bench::BenchOptions;

struct BenchCli {
  BenchOptions options;
  int reps = 1;
};

// Runs fn in a child process and returns its exit status; inline when fork() fails.
int run_isolated(const std::function<int()>& fn) {
  std::fflush(stdout);
  std::fflush(stderr);
  const pid_t pid = fork();
  if (pid < 0) return fn();
  if (pid == 0) {
    const int status = fn();
    std::fflush(stdout);
    std::fflush(stderr);
    _exit(status);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return 1;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  std::fprintf(stderr, "weir bench: workload process died (signal %d)\n",
               WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  return 1;
}

int run_all(const BenchCli& cli) {
  struct Run {
    uint32_t mtu;
    int (*fn)(const BenchOptions&);
  };
  const std::vector<Run> runs = {
      {1500, bench::run_bulk}, {65535, bench::run_bulk}, {1500, bench::run_rr},
      {1500, bench::run_crr},  {1500, bench::run_idle},
  };
  int worst = 0;
  for (int rep = 0; rep < cli.reps; ++rep) {
    for (const Run& run : runs) {
      BenchOptions options = cli.options;
      options.mtu = run.mtu;
      const int status = run_isolated([&] { return run.fn(options); });
      if (status != 0) worst = status;
    }
  }
  return worst;
}

void finish(int status) {
  if (status != 0) throw CLI::RuntimeError(status);
}

}  // namespace

void add_bench_command(CLI::App& app) {
  // The parsed values live in this shared state, which the callbacks own.
  auto cli = std::make_shared<BenchCli>();
  auto* cmd = app.add_subcommand(
      "bench",
      "Run the standard workloads (bulk, rr, crr, idle) on two weir stacks in one process\n"
      "over the in-memory channel link; print one RESULT line per workload.\n"
      "Without a workload, runs them all: bulk at MTU 1500 and 65535, rr, crr, idle.");
  cmd->add_option("--cc", cli->options.cc, "Congestion control for both stacks")
      ->check(CLI::IsMember({"cubic", "newreno", "reno"}))
      ->capture_default_str();
  cmd->add_option("--queue", cli->options.queue_limit,
                  "Frames the channel queues per direction before dropping")
      ->check(CLI::Range(size_t{1}, size_t{1} << 20))
      ->capture_default_str();
  cmd->add_option("--label", cli->options.label, "Free-form label echoed in the RESULT lines");
  cmd->add_flag("--counters", cli->options.print_counters,
                "Print both stacks' non-zero counters on stderr after each workload");
  cmd->add_option("--reps", cli->reps, "Repetitions of each workload (all-workloads run only)")
      ->check(CLI::Range(1, 100))
      ->capture_default_str();
  cmd->require_subcommand(0, 1);

  auto* bulk = cmd->add_subcommand("bulk", "A writes 64 KiB chunks for --secs, B reads to EOF");
  bulk->fallthrough();
  bulk->add_option("--mtu", cli->options.mtu, "Link MTU")
      ->check(CLI::Range(576, 65535))
      ->capture_default_str();
  bulk->add_option("--secs", cli->options.secs, "Seconds A keeps writing")
      ->check(CLI::Range(0.1, 600.0))
      ->capture_default_str();
  bulk->callback([cli] { finish(bench::run_bulk(cli->options)); });

  auto* rr = cmd->add_subcommand("rr", "1-byte request/response round trips, Nagle off");
  rr->fallthrough();
  rr->add_option("-n", cli->options.n, "Timed round trips (default 100000)")
      ->check(CLI::Range(1, 100000000));
  rr->callback([cli] { finish(bench::run_rr(cli->options)); });

  auto* crr = cmd->add_subcommand("crr", "Sequential connect, 1-byte request/response, close");
  crr->fallthrough();
  crr->add_option("-n", cli->options.n, "Timed connections (default 10000)")
      ->check(CLI::Range(1, 1000000));
  crr->callback([cli] { finish(bench::run_crr(cli->options)); });

  auto* idle = cmd->add_subcommand("idle", "Memory per idle established connection pair");
  idle->fallthrough();
  idle->add_option("--conns", cli->options.conns, "Connection pairs to hold open")
      ->check(CLI::Range(1, 25000))
      ->capture_default_str();
  idle->add_option("--exchange", cli->options.exchange,
                   "Bytes each way per pair (a request, then its response) before idling: "
                   "what a drained connection keeps")
      ->check(CLI::Range(size_t{0}, size_t{1} << 20))
      ->capture_default_str();
  idle->callback([cli] { finish(bench::run_idle(cli->options)); });

  auto link_options = std::make_shared<bench::LinkBenchOptions>();
  auto* link = bench::add_link_subcommand(cmd, *link_options);
  link->callback([cli, link_options] {
    link_options->label = cli->options.label;
    finish(bench::run_link(*link_options));
  });

  cmd->callback([cli, cmd] {
    if (!cmd->get_subcommands().empty()) return;  // a workload's own callback ran it
    finish(run_all(*cli));
  });
}

}  // namespace weir::tools
