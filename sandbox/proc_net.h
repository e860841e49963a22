// /proc/net files computed from a NetState, byte for byte in the format Linux prints them
// (netstat, ss's fallback, lsof, monitoring agents and scripts parse these by column).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "sandbox/net_state.h"

namespace weir::sandbox {

// The content of /proc/net/<name>: "tcp", "tcp6", "udp", "udp6", "raw", "raw6", "udplite",
// "udplite6", "dev", "route", "if_inet6", "ipv6_route", "arp", "snmp", "netstat", "sockstat",
// "sockstat6". nullopt for any other name (those the stack has nothing to say about, such as
// "unix", are the program's own namespace's business).
//
// Approximations: UDP's "sl" column is the local port (Linux prints a hash bucket salted per
// network namespace); the kernel pointer column prints as zeros (what Linux shows a reader
// without CAP_SYSLOG under kptr_restrict); timers show only a retransmission timer while data
// is unacknowledged; arp lists no entries (the neighbour cache is not in the snapshot); snmp and
// netstat counters come from NetState::counters, 0 where absent.
std::optional<std::string> proc_net_file(std::string_view name, const NetState& state);
// Whether proc_net_file(name, ...) reads NetState::counters (the others leave them unread).
bool proc_net_file_reads_counters(std::string_view name);

}  // namespace weir::sandbox
