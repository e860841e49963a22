// NETLINK_SOCK_DIAG answered from a NetState: the inet_diag dumps `ss` reads to list sockets.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "sandbox/net_state.h"
#include "sandbox/netlink_wire.h"
#include "stack/bytes.h"

namespace weir::sandbox {

struct SockDiagOptions {
  // The largest datagram a dump is packed into (see netlink::kGoodSize).
  size_t max_datagram = netlink::kGoodSize;
};

// The datagrams a NETLINK_SOCK_DIAG socket receives after the program sent `request`.
//
// SOCK_DIAG_BY_FAMILY with an inet_diag_req_v2 for AF_INET / AF_INET6 and IPPROTO_TCP /
// IPPROTO_UDP lists the stack's sockets of that family and protocol whose state is in
// idiag_states, with the attributes idiag_ext asks for (INET_DIAG_MEMINFO, INET_DIAG_INFO as
// struct tcp_info, INET_DIAG_CONG "cubic", INET_DIAG_TOS / TCLASS, INET_DIAG_SKMEMINFO);
// without NLM_F_DUMP it answers the one socket whose addresses and ports match (ENOENT when
// none does). The older TCPDIAG_GETSOCK with an inet_diag_req is answered the same way.
// Families and protocols whose sockets the sandbox never serves (AF_UNIX, AF_PACKET,
// AF_NETLINK, raw, SCTP, ...) get an empty dump; SOCK_DESTROY gets EPERM.
//
// A bytecode filter (INET_DIAG_REQ_BYTECODE) is checked for framing but not run: every socket
// that passes the family, protocol and state filters is listed, and ss runs its own filter on
// what it receives as well.
std::vector<std::vector<std::byte>> answer_sock_diag_request(ByteView request,
                                                             const NetState& state, uint32_t portid,
                                                             const SockDiagOptions& options = {});

}  // namespace weir::sandbox
