#include "sandbox/proc_net.h"

#include <gtest/gtest.h>
#include <netinet/in.h>

#include <algorithm>
#include <sstream>
#include <string>
#include <vector>

#include "tests/sandbox/net_state_fixture.h"

namespace weir::sandbox {
namespace {

using testing::reference_state;

// Linux pads the lines of /proc/net/tcp to 149 characters and those of udp and route to 127.
std::string padded(std::string line, size_t width) {
  if (line.size() < width) line.append(width - line.size(), ' ');
  return line + "\n";
}

std::string file(std::string_view name, const NetState& s) {
  auto f = proc_net_file(name, s);
  EXPECT_TRUE(f.has_value()) << name;
  return f.value_or("");
}

// The expected contents below are what Linux 6.18 printed in the fixture's namespace, with
// the kernel pointer column zeroed (as a reader without CAP_SYSLOG sees it).
TEST(ProcNet, TcpIsLinuxs) {
  std::string expected =
      padded(
          "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
          "timeout inode",
          149) +
      padded(
          "   0: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0  "
          "      0 25591 1 0000000000000000 100 0 0 10 0",
          149) +
      padded(
          "   1: 0200000A:9C40 0100000A:0050 01 00000000:00000000 00:00000000 00000000     0  "
          "      0 25593 1 0000000000000000 20 0 0 11 -1",
          149);
  EXPECT_EQ(file("tcp", reference_state()), expected);
}

TEST(ProcNet, Tcp6IsLinuxs) {
  std::string expected =
      "  sl  local_address                         remote_address                        st "
      "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 00000000000000000000000000000000:20FB 00000000000000000000000000000000:0000 0A "
      "00000000:00000000 00:00000000 00000000     0        0 25592 1 0000000000000000 100 0 0 10 "
      "0\n"
      "   1: 000000FD000000000000000002000000:9C41 000000FD000000000000000001000000:0050 01 "
      "00000000:00000000 00:00000000 00000000     0        0 25595 1 0000000000000000 20 0 0 10 "
      "-1\n";
  EXPECT_EQ(file("tcp6", reference_state()), expected);
}

// Linux's "sl" for UDP is a hash bucket salted per namespace (6725 and 8606 there); weir
// prints the local port.
TEST(ProcNet, UdpIsLinuxsButTheBucket) {
  std::string expected =
      padded(
          "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
          "timeout inode ref pointer drops",
          127) +
      padded(
          " 5353: 00000000:14E9 00000000:0000 07 00000000:00000000 00:00000000 00000000     0  "
          "      0 25596 2 0000000000000000 0",
          127) +
      padded(
          "40002: 0200000A:9C42 0100000A:0035 01 00000000:00000000 00:00000000 00000000     0  "
          "      0 25597 2 0000000000000000 0",
          127);
  EXPECT_EQ(file("udp", reference_state()), expected);
  std::string expected6 =
      "  sl  local_address                         remote_address                        st "
      "tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
      " 5355: 00000000000000000000000000000000:14EB 00000000000000000000000000000000:0000 07 "
      "00000000:00000000 00:00000000 00000000     0        0 25598 2 0000000000000000 0\n";
  EXPECT_EQ(file("udp6", reference_state()), expected6);
}

TEST(ProcNet, QueuesTimersAndMappedAddresses) {
  auto s = reference_state();
  s.sockets[1].send_queue = 0x1234;  // unacknowledged: the retransmission timer runs
  s.sockets[1].receive_queue = 7;
  s.sockets[1].retransmits = 3;
  s.sockets[1].uid = 1000;
  s.sockets[0].receive_queue = 2;  // accept queue
  // An IPv4 connection accepted on a dual-stack listener.
  SocketState mapped = s.sockets[3];
  mapped.local = testing::sa("10.0.0.2", 8443);
  mapped.remote = testing::sa("10.0.0.1", 50000);
  mapped.inode = 777;
  s.sockets.push_back(mapped);
  std::istringstream tcp(file("tcp", s));
  std::string header, listener, established;
  std::getline(tcp, header);
  std::getline(tcp, listener);
  std::getline(tcp, established);
  EXPECT_NE(listener.find(" 0A 00000000:00000002 00:00000000 "), std::string::npos) << listener;
  EXPECT_NE(established.find(" 01 00001234:00000007 01:00000014 00000003  1000 "),
            std::string::npos)
      << established;
  std::string tcp6 = file("tcp6", s);
  EXPECT_NE(tcp6.find("   2: 0000000000000000FFFF00000200000A:20FB "
                      "0000000000000000FFFF00000100000A:C350 01 "),
            std::string::npos)
      << tcp6;
}

TEST(ProcNet, TimeWaitLine) {
  auto s = reference_state();
  s.sockets[1].linux_state = 6;
  std::istringstream tcp(file("tcp", s));
  std::string line;
  std::getline(tcp, line);
  std::getline(tcp, line);
  std::getline(tcp, line);
  EXPECT_EQ(line, padded("   1: 0200000A:9C40 0100000A:0050 06 00000000:00000000 03:00000000 "
                         "00000000     0        0 0 1 0000000000000000",
                         149)
                      .substr(0, 149));
}

TEST(ProcNet, DevIsLinuxs) {
  auto s = reference_state();
  s.interfaces[1].rx_bytes = 1760;
  s.interfaces[1].rx_packets = 22;
  s.interfaces[1].tx_bytes = 2100;
  s.interfaces[1].tx_packets = 27;
  std::string expected =
      "Inter-|   Receive                                                |  Transmit\n"
      " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs "
      "drop fifo colls carrier compressed\n"
      "    lo:       0       0    0    0    0     0          0         0        0       0    0 "
      "   0    0     0       0          0\n"
      "  eth0:    1760      22    0    0    0     0          0         0     2100      27    0 "
      "   0    0     0       0          0\n";
  EXPECT_EQ(file("dev", s), expected);
}

TEST(ProcNet, RouteIsLinuxs) {
  std::string expected =
      padded("Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT",
             127) +
      padded("eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0", 127) +
      padded("eth0\t0000000A\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0", 127);
  EXPECT_EQ(file("route", reference_state()), expected);
  // A host route, and local routes left out (they live in Linux's local table).
  auto s = reference_state();
  RouteState host;
  host.destination = testing::prefix("192.0.2.7/32");
  host.gateway = testing::ip("10.0.0.1");
  host.interface_index = 2;
  host.metric = 5;
  RouteState local = host;
  local.local = true;
  local.gateway.reset();
  s.routes.push_back(host);
  s.routes.push_back(local);
  EXPECT_NE(file("route", s)
                .find(padded("eth0\t070200C0\t0100000A\t0007\t0\t0\t5\tFFFFFFFF\t0\t0\t0", 127)),
            std::string::npos);
  RouteState lo;  // through lo: Linux's local table, not in /proc/net/route
  lo.destination = testing::prefix("127.0.0.0/8");
  lo.interface_index = 1;
  s.routes.push_back(lo);
  std::string route = file("route", s);
  EXPECT_EQ(std::count(route.begin(), route.end(), '\n'), 4);
}

TEST(ProcNet, IfInet6IsLinuxs) {
  std::string expected =
      "00000000000000000000000000000001 01 80 10 80       lo\n"
      "fd000000000000000000000000000002 02 40 00 80     eth0\n"
      "fe80000000000000000000fffe000002 02 40 20 80     eth0\n";
  EXPECT_EQ(file("if_inet6", reference_state()), expected);
}

// Linux's reference counts (third number after the next hop) vary; weir prints 1. Linux also
// lists a multicast route and lo's reject route, which are not in the snapshot.
TEST(ProcNet, Ipv6RouteIsLinuxs) {
  auto s = reference_state();
  for (auto [address, index] :
       {std::pair{"::1/128", 1}, {"fd00::2/128", 2}, {"fe80::ff:fe00:2/128", 2}}) {
    RouteState local;
    local.destination = testing::prefix(address);
    local.interface_index = index;
    local.local = true;
    s.routes.push_back(local);
  }
  std::string z = "00000000000000000000000000000000";
  std::string expected =
      "fd000000000000000000000000000000 40 " + z + " 00 " + z +
      " 00000100 00000001 00000000 00000001     eth0\n"
      "fe800000000000000000000000000000 40 " +
      z + " 00 " + z + " 00000100 00000001 00000000 00000001     eth0\n" + z + " 00 " + z +
      " 00 fd000000000000000000000000000001 00000400 00000001 00000000 00000003     eth0\n"
      "00000000000000000000000000000001 80 " +
      z + " 00 " + z +
      " 00000000 00000001 00000000 80200001       lo\n"
      "fd000000000000000000000000000002 80 " +
      z + " 00 " + z +
      " 00000000 00000001 00000000 80200001     eth0\n"
      "fe80000000000000000000fffe000002 80 " +
      z + " 00 " + z + " 00000000 00000001 00000000 80200001     eth0\n";
  EXPECT_EQ(file("ipv6_route", s), expected);
}

TEST(ProcNet, SnmpHasLinuxsLayoutAndTheCounters) {
  auto s = reference_state();
  s.counters["Tcp:ActiveOpens"] = 2;
  s.counters["Udp:NoPorts"] = 9;
  s.counters["Ip:InReceives"] = 1234567890123ull;
  std::string snmp = file("snmp", s);
  std::istringstream in(snmp);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  ASSERT_EQ(lines.size(), 10u);
  EXPECT_EQ(
      lines[0],
      "Ip: Forwarding DefaultTTL InReceives InHdrErrors InAddrErrors ForwDatagrams "
      "InUnknownProtos InDiscards InDelivers OutRequests OutDiscards OutNoRoutes ReasmTimeout "
      "ReasmReqds ReasmOKs ReasmFails FragOKs FragFails FragCreates OutTransmits");
  EXPECT_EQ(lines[1], "Ip: 2 64 1234567890123 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0");
  EXPECT_EQ(lines[4],
            "Tcp: RtoAlgorithm RtoMin RtoMax MaxConn ActiveOpens PassiveOpens AttemptFails "
            "EstabResets CurrEstab InSegs OutSegs RetransSegs InErrs OutRsts InCsumErrors");
  EXPECT_EQ(lines[5], "Tcp: 1 200 120000 -1 2 0 0 0 2 0 0 0 0 0 0");  // 2 established
  EXPECT_EQ(lines[7], "Udp: 0 9 0 0 0 0 0 0 0");
  EXPECT_EQ(lines[8].substr(0, 20), "UdpLite: InDatagrams");
  std::string netstat = file("netstat", s);
  EXPECT_EQ(netstat.substr(0, 46), "TcpExt: SyncookiesSent SyncookiesRecv Syncooki");
  EXPECT_NE(netstat.find("\nIpExt: InNoRoutes "), std::string::npos);
}

TEST(ProcNet, SmallFilesAndUnknownNames) {
  auto s = reference_state();
  EXPECT_EQ(file("sockstat", s),
            "sockets: used 7\nTCP: inuse 2 orphan 0 tw 0 alloc 4 mem 0\nUDP: inuse 2 mem 0\n"
            "UDPLITE: inuse 0\nRAW: inuse 0\nFRAG: inuse 0 memory 0\n");
  EXPECT_EQ(
      file("sockstat6", s),
      "TCP6: inuse 2\nUDP6: inuse 1\nUDPLITE6: inuse 0\nRAW6: inuse 0\nFRAG6: inuse 0 memory 0\n");
  EXPECT_EQ(file("arp", s),
            "IP address       HW type     Flags       HW address            Mask     Device\n");
  EXPECT_EQ(file("raw", s).substr(0, 16), "  sl  local_addr");
  std::string udplite6 = file("udplite6", s);
  EXPECT_EQ(std::count(udplite6.begin(), udplite6.end(), '\n'), 1);
  EXPECT_FALSE(proc_net_file("unix", s));
  EXPECT_FALSE(proc_net_file("", s));
  EXPECT_FALSE(proc_net_file("tcp/../udp", s));
  // An empty state still prints the headers.
  NetState empty;
  std::string tcp = file("tcp", empty);
  EXPECT_EQ(std::count(tcp.begin(), tcp.end(), '\n'), 1);
  EXPECT_EQ(file("if_inet6", empty), "");
}

}  // namespace
}  // namespace weir::sandbox
