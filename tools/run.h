// `weir run [OPTIONS] -- PROGRAM [ARGS]`: runs PROGRAM in fresh namespaces with its sockets
// served by a weir stack (sandbox/), the stack's uplink a tap device or nothing but loopback.
#pragma once

#include <CLI/CLI.hpp>

namespace weir::tools {

void add_run_command(CLI::App& app);

}  // namespace weir::tools
