// Counters out of a running `weir serve`: serve listens on a Unix socket (--stats-socket PATH)
// and answers every connection with a report (its services' summaries and every counter,
// `group.name value` one per line); `weir stats PATH` prints it, non-zero counters only unless
// --all.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <memory>
#include <string>

#include "stack/result.h"

namespace weir {
class Loop;
class Stack;
}  // namespace weir

namespace weir::tools {

// Every counter of the stack as "group.name value" lines; zeros left out unless include_zero.
std::string format_counters(const Stack& stack, bool include_zero, std::string_view indent = "");

// A listening Unix socket on the loop. Each client gets report() and the connection is closed;
// the report is written without blocking, so a client that does not read gets it truncated
// rather than stalling the stack. The socket file is removed on destruction.
class StatsServer {
 public:
  // On failure, *message says why.
  static Result<std::unique_ptr<StatsServer>> open(const std::string& path, Loop& loop,
                                                   std::function<std::string()> report,
                                                   std::string* message);
  ~StatsServer();
  StatsServer(const StatsServer&) = delete;
  StatsServer& operator=(const StatsServer&) = delete;

  class Key {
    friend class StatsServer;
    Key() = default;
  };
  StatsServer(Key, int fd, std::string path, Loop& loop, std::function<std::string()> report);

 private:
  void accept_all();

  int fd_;
  std::string path_;
  Loop& loop_;
  std::function<std::string()> report_;
};

// Registers the `stats` subcommand.
void add_stats_command(CLI::App& app);

}  // namespace weir::tools
