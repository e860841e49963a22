// fuzz_netlink_route: NETLINK_ROUTE request datagrams, as an untrusted sandboxed program sends
// them, answered from a NetState with a loopback and an Ethernet interface (IPv4 and IPv6
// addresses, routes of both families, a local route).
//
// Input: the request datagram itself (the seeds are what ip, ss and glibc send). Its length
// picks the options: odd lengths use strict checking, and every other length pair packs dumps
// into small (512-byte) datagrams. Every answer must be whole netlink messages carrying the
// socket's port id, within the datagram limit unless it is a single message.
#include <cstddef>
#include <cstdint>
#include <span>

#include "sandbox/native.h"
#include "sandbox/net_state.h"
#include "sandbox/netlink_route.h"
#include "sandbox/netlink_wire.h"

namespace {

using namespace weir;
using namespace weir::sandbox;

NetState make_state() {
  NetState s;
  InterfaceState lo;
  lo.index = 1;
  lo.name = "lo";
  lo.mtu = 65536;
  lo.loopback = true;
  lo.addresses = {IpPrefix::parse("127.0.0.1/8").value(), IpPrefix::parse("::1/128").value()};
  InterfaceState eth;
  eth.index = 2;
  eth.name = "eth0";
  eth.mac = MacAddress({2, 0, 0, 0, 0, 2});
  eth.mtu = 1500;
  eth.addresses = {IpPrefix::parse("10.0.0.2/24").value(), IpPrefix::parse("fd00::2/64").value(),
                   IpPrefix::parse("fe80::ff:fe00:2/64").value(),
                   IpPrefix::parse("192.0.2.1/31").value()};
  s.interfaces = {lo, eth};
  RouteState def4;
  def4.destination = IpPrefix::parse("0.0.0.0/0").value();
  def4.gateway = IpAddress::parse("10.0.0.1").value();
  def4.interface_index = 2;
  RouteState net4;
  net4.destination = IpPrefix::parse("10.0.0.0/24").value();
  net4.interface_index = 2;
  net4.preferred_source = IpAddress::parse("10.0.0.2").value();
  RouteState def6;
  def6.destination = IpPrefix::parse("::/0").value();
  def6.gateway = IpAddress::parse("fd00::1").value();
  def6.interface_index = 2;
  RouteState net6;
  net6.destination = IpPrefix::parse("fd00::/64").value();
  net6.interface_index = 2;
  RouteState local;
  local.destination = IpPrefix::parse("10.0.0.2/32").value();
  local.interface_index = 2;
  local.local = true;
  s.routes = {def4, net4, def6, net6, local};
  return s;
}

void check(const std::vector<std::vector<std::byte>>& datagrams, uint32_t portid, size_t limit) {
  for (const auto& d : datagrams) {
    netlink::MessageReader reader(d);
    size_t count = 0;
    while (auto m = reader.next()) {
      ++count;
      if (m->header.pid != portid) __builtin_trap();
    }
    if (count == 0 || reader.stopped_early()) __builtin_trap();
    if (count > 1 && d.size() > limit) __builtin_trap();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const NetState state = make_state();
  const ByteView input = std::as_bytes(std::span(data, size));
  RouteRequestOptions options;
  options.strict_check = (size & 1) != 0;
  options.max_datagram = (size & 2) != 0 ? 512 : netlink::kGoodSize;
  constexpr uint32_t kPortid = 4242;
  check(answer_route_request(input, state, kPortid, options), kPortid, options.max_datagram);
  return 0;
}
