// The NetState the sandbox inspection tests answer from. It mirrors a Linux network namespace
// the reference answers in these tests were recorded from (kernel 6.18, iproute2 6.1):
//
//   ip link add eth0 netns ref type veth peer name peer0 netns peer
//   ip -n ref link set eth0 address 02:00:00:00:00:02 up; ip -n ref link set lo up
//   ip -n ref addr add 10.0.0.2/24 brd + dev eth0; ip -n ref addr add fd00::2/64 dev eth0
//   ip -n ref route add default via 10.0.0.1; ip -n ref -6 route add default via fd00::1
//
// with, inside, a TCP listener on 0.0.0.0:8080 (backlog 128), one on [::]:8443 (IPV6_V6ONLY,
// backlog 16), connections 10.0.0.2:40000 -> 10.0.0.1:80 and [fd00::2]:40001 -> [fd00::1]:80,
// UDP sockets on 0.0.0.0:5353, 10.0.0.2:40002 connected to 10.0.0.1:53 and [::]:5355.
#pragma once

#include <netinet/in.h>

#include <string>
#include <string_view>
#include <vector>

#include "sandbox/net_state.h"
#include "stack/address.h"

namespace weir::sandbox::testing {

inline IpAddress ip(std::string_view text) { return IpAddress::parse(text).value(); }
inline IpPrefix prefix(std::string_view text) { return IpPrefix::parse(text).value(); }
inline SocketAddress sa(std::string_view address, uint16_t port) { return {ip(address), port}; }

inline NetState reference_state() {
  NetState s;
  InterfaceState lo;
  lo.index = 1;
  lo.name = "lo";
  lo.mtu = 65536;
  lo.loopback = true;
  lo.addresses = {prefix("127.0.0.1/8"), prefix("::1/128")};
  InterfaceState eth;
  eth.index = 2;
  eth.name = "eth0";
  eth.mac = MacAddress({0x02, 0, 0, 0, 0, 0x02});
  eth.mtu = 1500;
  eth.addresses = {prefix("10.0.0.2/24"), prefix("fd00::2/64"), prefix("fe80::ff:fe00:2/64")};
  eth.rx_packets = 20;
  eth.tx_packets = 22;
  eth.rx_bytes = 1620;
  eth.tx_bytes = 1694;
  s.interfaces = {lo, eth};

  RouteState def4;
  def4.destination = prefix("0.0.0.0/0");
  def4.gateway = ip("10.0.0.1");
  def4.interface_index = 2;
  RouteState net4;
  net4.destination = prefix("10.0.0.0/24");
  net4.interface_index = 2;
  net4.preferred_source = ip("10.0.0.2");
  RouteState net6;
  net6.destination = prefix("fd00::/64");
  net6.interface_index = 2;
  net6.metric = 256;
  RouteState ll6;
  ll6.destination = prefix("fe80::/64");
  ll6.interface_index = 2;
  ll6.metric = 256;
  RouteState def6;
  def6.destination = prefix("::/0");
  def6.gateway = ip("fd00::1");
  def6.interface_index = 2;
  def6.metric = 1024;
  s.routes = {def4, net4, net6, ll6, def6};

  auto sock = [](uint8_t proto, SocketAddress local, SocketAddress remote, uint8_t state,
                 uint64_t inode) {
    SocketState k;
    k.protocol = proto;
    k.family = local.address.family();
    k.local = local;
    k.remote = remote;
    k.linux_state = state;
    k.inode = inode;
    return k;
  };
  SocketState l4 = sock(IPPROTO_TCP, sa("0.0.0.0", 8080), sa("0.0.0.0", 0), 10, 25591);
  l4.send_queue = 128;
  l4.rto_ms = 1000;
  l4.congestion_window = 10;
  SocketState e4 = sock(IPPROTO_TCP, sa("10.0.0.2", 40000), sa("10.0.0.1", 80), 1, 25593);
  e4.rto_ms = 200;
  e4.congestion_window = 11;
  e4.send_mss = 1448;
  e4.rtt_us = 90;
  e4.rttvar_us = 45;
  SocketState l6 = sock(IPPROTO_TCP, sa("::", 8443), sa("::", 0), 10, 25592);
  l6.send_queue = 16;
  l6.rto_ms = 1000;
  l6.congestion_window = 10;
  l6.v6only = true;
  SocketState e6 = sock(IPPROTO_TCP, sa("fd00::2", 40001), sa("fd00::1", 80), 1, 25595);
  e6.rto_ms = 200;
  e6.congestion_window = 10;
  SocketState u4 = sock(IPPROTO_UDP, sa("0.0.0.0", 5353), sa("0.0.0.0", 0), 7, 25596);
  SocketState c4 = sock(IPPROTO_UDP, sa("10.0.0.2", 40002), sa("10.0.0.1", 53), 1, 25597);
  SocketState u6 = sock(IPPROTO_UDP, sa("::", 5355), sa("::", 0), 7, 25598);
  s.sockets = {l4, e4, l6, e6, u4, c4, u6};
  s.hostname = "weir";
  return s;
}

}  // namespace weir::sandbox::testing
