// Command-line pieces every weir command shares: CLI11 validators (each returns an empty
// string when the text is acceptable, else the one-line reason) and the --fault option.
#pragma once

#include <CLI/CLI.hpp>

#include <cstddef>
#include <optional>
#include <string>

#include "link/fault.h"

namespace weir::tools {

inline constexpr size_t kMaxInterfaceName = 15;  // IFNAMSIZ - 1

std::string check_interface_name(std::string& text);
std::string check_mac(std::string& text);     // unicast, non-zero
std::string check_prefix6(std::string& text);  // a unicast IPv6 interface address/prefix

// --fault SPEC (link::parse_fault_spec); `what` names the link it impairs in the help text.
CLI::Option* add_fault_option(CLI::App* cmd, std::optional<link::FaultOptions>& target,
                              const std::string& what);

}  // namespace weir::tools
