// NETLINK_ROUTE answered from a NetState: what `ip link`, `ip addr`, `ip route`, glibc's
// getifaddrs() and getaddrinfo(AI_ADDRCONFIG) ask, in the bytes Linux would send back.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "sandbox/net_state.h"
#include "sandbox/netlink_wire.h"
#include "stack/address.h"
#include "stack/bytes.h"

namespace weir::sandbox {

struct RouteRequestOptions {
  // The largest datagram a dump is packed into (see netlink::kGoodSize). An emulator that has
  // seen the program recvmsg with a larger buffer may pass up to netlink::kMaxDatagram.
  size_t max_datagram = netlink::kGoodSize;
  // NETLINK_GET_STRICT_CHK on the program's socket: dumps honour the filters in the request
  // header (ifa_index, rtm_table / RTA_TABLE, RTA_OIF) and say so with NLM_F_DUMP_FILTERED.
  bool strict_check = false;
};

// The datagrams a NETLINK_ROUTE socket receives after the program sent `request` (one
// datagram, possibly holding several messages, each answered in turn). `portid` is the
// socket's netlink port id: every answer carries it in nlmsg_pid, as the kernel's do.
//
// Served: RTM_GETLINK (dump, or one link by ifi_index / IFLA_IFNAME), RTM_GETADDR (dump, by
// family), RTM_GETROUTE (dump, by family; or a lookup, `ip route get`), RTM_GETRULE (dump: the
// default rules), RTM_GETNEIGH (an empty dump). Changes (RTM_NEW*, RTM_DEL*, RTM_SET*) get
// EPERM: the program may not reconfigure the stack. Other requests get EOPNOTSUPP.
//
// Malformed input never goes unanswered when nothing in the datagram could be read: a datagram
// whose first header is cut short or whose nlmsg_len is absurd gets one NLMSG_ERROR (EINVAL,
// sequence 0), where Linux would answer nothing and leave the program waiting. Bytes after a
// readable message that do not form another one are ignored, as Linux ignores them (iproute2
// sends its requests in zero-filled buffers larger than the message).
std::vector<std::vector<std::byte>> answer_route_request(ByteView request, const NetState& state,
                                                         uint32_t portid,
                                                         const RouteRequestOptions& options = {});

// The route a packet to `destination` takes: the local table first (our own addresses), then
// the longest prefix of the main table, the lowest metric among equals. oif, when non-zero,
// restricts the choice to routes through that interface. nullopt when nothing matches.
struct RouteLookup {
  RouteState route;
  bool local = false;  // delivered to ourselves (through the loopback interface)
  IpAddress source;    // the source address Linux would pick (RTA_PREFSRC)
};
std::optional<RouteLookup> lookup_route(const NetState& state, const IpAddress& destination,
                                        int oif = 0);

// NetState's routes as Linux holds them: a route through a loopback interface (the stack's
// 127.0.0.0/8 on lo) belongs to the local table, and local and prefix IPv4 routes without a
// preferred source name the interface address they cover.
std::vector<RouteState> linux_routes(const NetState& state);

// The metric Linux shows for a route: its own, or for an IPv6 route without one the kernel's
// default (1024 for a route through a gateway, 256 for an interface's prefix route).
uint32_t linux_route_metric(const NetState& state, const RouteState& route);

}  // namespace weir::sandbox
