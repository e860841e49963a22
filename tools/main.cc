// The `weir` command. Each subcommand registers itself on the App (options + a callback that
// does the work); main only parses and turns every way out into an exit status:
//   0  success, or --help
//   1  the subcommand failed at run time (it printed why)
//   2  bad command line: one line on stderr, because scripts grep for it and people read it
#include <CLI/CLI.hpp>
#include <malloc.h>

#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include "tools/bench.h"
#include "tools/replay.h"
#include "tools/run.h"
#include "tools/serve.h"
#include "tools/stats.h"

namespace weir::tools {
namespace {

constexpr int kExitUsage = 2;

std::string first_line(std::string text) {
  if (auto nl = text.find('\n'); nl != std::string::npos) text.resize(nl);
  return text;
}

// The deepest subcommand the user named, for pointing them at the right --help.
std::string command_path(const CLI::App& app) {
  std::string path = app.get_name();
  const CLI::App* current = &app;
  for (;;) {
    auto selected = current->get_subcommands();
    if (selected.empty()) break;
    current = selected.front();
    path += " " + current->get_name();
  }
  return path;
}

int run(int argc, char** argv) {
  CLI::App app{
      "weir: a user-space TCP/IP stack.\n"
      "Runs the stack on a link (a tap device today) and serves, measures or inspects it.",
      "weir"};
  // Not require_subcommand(): CLI11 would then report a missing command before an unknown
  // word or option, hiding what was actually wrong.
  app.require_subcommand(0, 1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  add_run_command(app);
  add_serve_command(app);
  add_replay_command(app);
  add_bench_command(app);
  add_stats_command(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {
    // A subcommand's callback failed after printing its own message; it chose the status.
    return e.get_exit_code() == 0 ? 1 : e.get_exit_code();
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "weir: %s (see '%s --help')\n", first_line(e.what()).c_str(),
                 command_path(app).c_str());
    return kExitUsage;
  }
  if (app.get_subcommands().empty()) {
    std::string names;
    for (const auto* sub : app.get_subcommands({}))
      names += (names.empty() ? "" : ", ") + sub->get_name();
    std::fprintf(stderr, "weir: a command is required (%s; see 'weir --help')\n", names.c_str());
    return kExitUsage;
  }
  return 0;
}

}  // namespace
}  // namespace weir::tools

int main(int argc, char** argv) {
  // Received frames live in chunks of up to 64 KiB (a tap with offloads) that TCP holds until
  // the reader drains them, a window's worth at a time, and frees in arrival order. glibc's
  // default trims the heap whenever 128-256 KiB at its top are free and serves large blocks by
  // mmap: every window then costs fresh pages and a page fault per 4 KiB on the next read(),
  // which cut weir serve's Linux->weir TCP at MTU 1500 from 15-18 Gbit/s to 1.3-1.5 on this
  // kind of machine. Keep up to 32 MiB of freed heap (over TCP's largest window of 6 MiB, with
  // room for several connections) and keep chunk-sized blocks on the heap.
  mallopt(M_TRIM_THRESHOLD, 32 << 20);
  mallopt(M_MMAP_THRESHOLD, 1 << 20);
  try {
    return weir::tools::run(argc, argv);
  } catch (const std::exception& e) {
    // Nothing should get here; if it does, still one line and a status, never a core dump.
    std::fprintf(stderr, "weir: internal error: %s\n", weir::tools::first_line(e.what()).c_str());
    return 1;
  }
}
