// TCP_INFO as Linux lays out struct tcp_info (<linux/tcp.h>), for getsockopt(TCP_INFO) and
// inet_diag's INET_DIAG_INFO. A program asking with a shorter buffer gets the prefix, as on
// Linux.
#pragma once

#include <cstddef>
#include <vector>

#include "tcp/tcp_info.h"

namespace weir::sandbox {

std::vector<std::byte> encode_tcp_info(const tcp::TcpInfo& info);

}  // namespace weir::sandbox
