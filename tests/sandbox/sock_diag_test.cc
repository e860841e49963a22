#include "sandbox/sock_diag.h"

#include <gtest/gtest.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

#include "tests/sandbox/net_state_fixture.h"
#include "tests/sandbox/netlink_decode.h"

namespace weir::sandbox {
namespace {

using testing::decode_all;
using testing::error_code;
using testing::from_hex;
using testing::host;
using testing::Msg;
using testing::reference_state;
using testing::to_hex;

constexpr uint32_t kPortid = 10746;
constexpr uint32_t kSeq = 123456;

int diag_fixed_size(uint16_t type) { return (type == SOCK_DIAG_BY_FAMILY || type == 18) ? 72 : -1; }

std::vector<Msg> ask(ByteView request, const NetState& s, SockDiagOptions o = {}) {
  return decode_all(answer_sock_diag_request(request, s, kPortid, o), diag_fixed_size);
}

std::vector<Msg> kernel(std::string_view hex) {
  auto b = from_hex(hex);
  return testing::decode_datagram(b, diag_fixed_size);
}

// Requests `ss` (iproute2 6.1) sends: family, protocol, idiag_ext, states.
std::vector<std::byte> ss_request(uint8_t family, uint8_t protocol, uint8_t ext, uint32_t states) {
  auto b = from_hex("480000001400010340e2010000000000");
  b.resize(72);
  b[16] = std::byte{family};
  b[17] = std::byte{protocol};
  b[18] = std::byte{ext};
  std::memcpy(b.data() + 20, &states, 4);
  return b;
}

constexpr uint32_t kAllStates = 0xfff;
constexpr uint32_t kListening = 1u << 10;
constexpr uint8_t kExtInfoVegasCong = 0x0e;  // ss -i

// The cookie is Linux's own socket identifier (weir reports the inode) and the attributes
// Linux adds for a CAP_NET_ADMIN reader (INET_DIAG_MARK) or from cgroups (INET_DIAG_CGROUP_ID)
// are not weir's: they are left out of the comparison.
std::vector<Msg> comparable(std::vector<Msg> ms) {
  for (auto& m : ms) {
    if (m.type != SOCK_DIAG_BY_FAMILY) continue;
    std::fill(m.fixed.begin() + 44, m.fixed.begin() + 52, std::byte{0});
    m.drop(INET_DIAG_MARK);
    m.drop(INET_DIAG_CGROUP_ID);
  }
  return ms;
}

void expect_same(const std::vector<Msg>& ours, const std::vector<Msg>& theirs) {
  auto a = comparable(ours), b = comparable(theirs);
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "message " << i;
}

// Linux's answers to `ss -tan` and `ss -uan` in the fixture's namespace.
TEST(SockDiag, SsTanIsLinuxs) {
  const std::string kTcp4 =
      "7c0000001400020040e20100fa290000020a00001f90000000000000000000000000000000000000000000000000"
      "0000000000000000000000000000040000000000000000000000000000008000000000000000f763000005000800"
      "0000000008000f00000000000c001500010000000000000006001600520000007c0000001400020040e20100fa29"
      "0000020100009c4000500a0000020000000000000000000000000a00000100000000000000000000000000000000"
      "050000000000000000000000000000000000000000000000f9630000050008000000000008000f00000000000c00"
      "150001000000000000000600160052000000140000000300020040e20100fa29000000000000";
  const std::string kTcp6 =
      "840000001400020040e20100fa2900000a0a000020fb000000000000000000000000000000000000000000000000"
      "0000000000000000000000000000060000000000000000000000000000001000000000000000f863000005000800"
      "0000000005000b000100000008000f00000000000c001500010000000000000006001600120000007c0000001400"
      "020040e20100fa2900000a0100009c410050fd000000000000000000000000000002fd0000000000000000000000"
      "0000000100000000070000000000000000000000000000000000000000000000fb63000005000800000000000800"
      "0f00000000000c00150001000000000000000600160012000000140000000300020040e20100fa2900000000000"
      "0";
  auto s = reference_state();
  expect_same(ask(ss_request(AF_INET, IPPROTO_TCP, 0, kAllStates), s), kernel(kTcp4));
  expect_same(ask(ss_request(AF_INET6, IPPROTO_TCP, 0, kAllStates), s), kernel(kTcp6));
}

TEST(SockDiag, SsUanIsLinuxs) {
  const std::string kUdp4 =
      "7c0000001400020040e20100fa2900000207000014e9000000000000000000000000000000000000000000000000"
      "0000000000000000000000000000010000000000000000000000000000000000000000000000fc63000005000800"
      "0000000008000f00000000000c001500010000000000000006001600500000007c0000001400020040e20100fa29"
      "0000020100009c4200350a0000020000000000000000000000000a00000100000000000000000000000000000000"
      "020000000000000000000000000000000000000000000000fd630000050008000000000008000f00000000000c00"
      "150001000000000000000600160050000000140000000300020040e20100fa29000000000000";
  const std::string kUdp6 =
      "840000001400020040e20100fa2900000a07000014eb000000000000000000000000000000000000000000000000"
      "0000000000000000000000000000030000000000000000000000000000000000000000000000fe63000005000800"
      "0000000005000b000000000008000f00000000000c00150001000000000000000600160010000000140000000300"
      "020040e20100fa29000000000000";
  auto s = reference_state();
  expect_same(ask(ss_request(AF_INET, IPPROTO_UDP, 0, kAllStates), s), kernel(kUdp4));
  expect_same(ask(ss_request(AF_INET6, IPPROTO_UDP, 0, kAllStates), s), kernel(kUdp6));
}

TEST(SockDiag, FieldsOfAListenerAndAConnection) {
  auto s = reference_state();
  auto ms = ask(ss_request(AF_INET, IPPROTO_TCP, 0, kAllStates), s);
  ASSERT_EQ(ms.size(), 3u);
  const Msg& l = ms[0];
  EXPECT_EQ(l.type, SOCK_DIAG_BY_FAMILY);
  EXPECT_EQ(l.flags, NLM_F_MULTI);
  EXPECT_EQ(l.seq, kSeq);
  EXPECT_EQ(l.pid, kPortid);
  EXPECT_EQ(host<uint8_t>(l.fixed, 0), AF_INET);
  EXPECT_EQ(host<uint8_t>(l.fixed, 1), 10);                        // TCP_LISTEN
  EXPECT_EQ(to_hex(ByteView(l.fixed).subspan(4, 4)), "1f900000");  // sport 8080, dport 0
  EXPECT_EQ(host<uint32_t>(l.fixed, 60), 128u);                    // backlog as idiag_wqueue
  EXPECT_EQ(host<uint32_t>(l.fixed, 68), 25591u);                  // inode
  EXPECT_EQ(host<uint32_t>(l.fixed, 44), 25591u);                  // cookie (low half)
  const Msg& e = ms[1];
  EXPECT_EQ(host<uint8_t>(e.fixed, 1), 1);  // TCP_ESTABLISHED
  EXPECT_EQ(to_hex(ByteView(e.fixed).subspan(4, 12)), "9c4000500a00000200000000");
  EXPECT_EQ(to_hex(ByteView(e.fixed).subspan(24, 4)), "0a000001");
  EXPECT_EQ(ms[2].type, NLMSG_DONE);
}

TEST(SockDiag, DualStackSocketsShowIpv4PeersMapped) {
  auto s = reference_state();
  SocketState mapped = s.sockets[3];  // an IPv6 connection, now with an IPv4 peer
  mapped.local = testing::sa("10.0.0.2", 8443);
  mapped.remote = testing::sa("10.0.0.1", 50000);
  s.sockets = {mapped};
  auto ms = ask(ss_request(AF_INET6, IPPROTO_TCP, 0, kAllStates), s);
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(to_hex(ByteView(ms[0].fixed).subspan(4, 36)),
            "20fbc350"
            "00000000000000000000ffff0a000002"
            "00000000000000000000ffff0a000001");
  EXPECT_EQ(ask(ss_request(AF_INET, IPPROTO_TCP, 0, kAllStates), s).size(), 1u);
}

TEST(SockDiag, StateFilter) {
  auto s = reference_state();
  auto ms = ask(ss_request(AF_INET, IPPROTO_TCP, 0, kListening), s);  // ss -tl
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(host<uint8_t>(ms[0].fixed, 1), 10);
  ms = ask(ss_request(AF_INET, IPPROTO_UDP, 0, 1u << 7), s);  // unconnected UDP only
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(to_hex(ByteView(ms[0].fixed).subspan(4, 2)), "14e9");
  ms = ask(ss_request(AF_INET, IPPROTO_TCP, 0, 0), s);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0].type, NLMSG_DONE);
}

TEST(SockDiag, ExtensionsInfoCongAndMemory) {
  auto s = reference_state();
  s.sockets[1].receive_queue = 5;
  s.sockets[1].send_queue = 7;
  s.sockets[1].retransmits = 2;
  uint8_t ext = kExtInfoVegasCong | (1 << (INET_DIAG_MEMINFO - 1)) |
                (1 << (INET_DIAG_SKMEMINFO - 1)) | (1 << (INET_DIAG_TOS - 1));
  auto ms = ask(ss_request(AF_INET, IPPROTO_TCP, ext, kAllStates), s);
  ASSERT_EQ(ms.size(), 3u);
  const Msg& e = ms[1];
  EXPECT_EQ(e.attr_types(),
            (std::vector<uint16_t>{INET_DIAG_SHUTDOWN, INET_DIAG_TOS, INET_DIAG_SOCKOPT,
                                   INET_DIAG_MEMINFO, INET_DIAG_SKMEMINFO, INET_DIAG_INFO,
                                   INET_DIAG_CONG}));
  EXPECT_EQ(e.str(INET_DIAG_CONG), "cubic");
  EXPECT_EQ(e.hex(INET_DIAG_MEMINFO), "05000000070000000000000000000000");
  // Unacknowledged data: the retransmission timer runs.
  EXPECT_EQ(host<uint8_t>(e.fixed, 2), 1);
  EXPECT_EQ(host<uint8_t>(e.fixed, 3), 2);
  EXPECT_EQ(host<uint32_t>(e.fixed, 52), 200u);
  const auto* info = e.attr(INET_DIAG_INFO);
  ASSERT_NE(info, nullptr);
  ASSERT_EQ(info->payload.size(), sizeof(struct tcp_info));
  EXPECT_EQ(host<uint8_t>(info->payload, offsetof(struct tcp_info, tcpi_state)), 1);
  EXPECT_EQ(host<uint32_t>(info->payload, offsetof(struct tcp_info, tcpi_rto)), 200000u);
  EXPECT_EQ(host<uint32_t>(info->payload, offsetof(struct tcp_info, tcpi_snd_mss)), 1448u);
  EXPECT_EQ(host<uint32_t>(info->payload, offsetof(struct tcp_info, tcpi_rtt)), 90u);
  EXPECT_EQ(host<uint32_t>(info->payload, offsetof(struct tcp_info, tcpi_rttvar)), 45u);
  EXPECT_EQ(host<uint32_t>(info->payload, offsetof(struct tcp_info, tcpi_snd_cwnd)), 11u);
  EXPECT_EQ(host<uint32_t>(info->payload, offsetof(struct tcp_info, tcpi_snd_ssthresh)),
            0x7fffffffu);
  // A listener's accept queue and backlog, as Linux reports them in tcp_info.
  const auto* linfo = ms[0].attr(INET_DIAG_INFO);
  ASSERT_NE(linfo, nullptr);
  EXPECT_EQ(host<uint32_t>(linfo->payload, offsetof(struct tcp_info, tcpi_sacked)), 128u);
  // The whole TCP_INFO is used when the emulator has it.
  tcp::TcpInfo full;
  full.tcpi_state = 1;
  full.tcpi_total_retrans = 33;
  s.sockets[1].tcp_info = full;
  ms = ask(ss_request(AF_INET, IPPROTO_TCP, ext, kAllStates), s);
  EXPECT_EQ(host<uint32_t>(ms[1].attr(INET_DIAG_INFO)->payload,
                           offsetof(struct tcp_info, tcpi_total_retrans)),
            33u);
  // UDP has no tcp_info nor congestion control; IPv6 sockets answer TOS as TCLASS.
  ms = ask(ss_request(AF_INET6, IPPROTO_UDP, ext, kAllStates), s);
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0].attr_types(),
            (std::vector<uint16_t>{INET_DIAG_SHUTDOWN, INET_DIAG_TCLASS, INET_DIAG_SKV6ONLY,
                                   INET_DIAG_SOCKOPT, INET_DIAG_MEMINFO, INET_DIAG_SKMEMINFO}));
}

std::vector<std::byte> exact_request(uint8_t family, uint8_t protocol, std::string_view id_hex) {
  auto b = ss_request(family, protocol, 0, kAllStates);
  b[6] = std::byte{NLM_F_REQUEST};
  b[7] = std::byte{0};
  auto id = from_hex(id_hex);
  std::copy(id.begin(), id.end(), b.begin() + 24);
  return b;
}

TEST(SockDiag, OneSocketByItsAddresses) {
  auto s = reference_state();
  // 10.0.0.2:40000 -> 10.0.0.1:80, no cookie.
  std::string id =
      "9c400050"
      "0a000002000000000000000000000000"
      "0a000001000000000000000000000000"
      "00000000"
      "ffffffffffffffff";
  auto datagrams = answer_sock_diag_request(exact_request(AF_INET, IPPROTO_TCP, id), s, kPortid);
  ASSERT_EQ(datagrams.size(), 1u);
  auto ms = decode_all(datagrams, diag_fixed_size);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0].flags, 0);
  EXPECT_EQ(host<uint32_t>(ms[0].fixed, 68), 25593u);
  // The listener: any local address, no peer.
  std::string lid =
      "1f900000"
      "0a000002000000000000000000000000" +
      std::string(32, '0') +
      "00000000"
      "ffffffffffffffff";
  ms = ask(exact_request(AF_INET, IPPROTO_TCP, lid), s);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(host<uint32_t>(ms[0].fixed, 68), 25591u);
  // The right cookie, then a wrong one; then nothing at that port.
  std::string cid = id.substr(0, id.size() - 16) +
                    "f9630000"
                    "00000000";
  EXPECT_EQ(ask(exact_request(AF_INET, IPPROTO_TCP, cid), s).size(), 1u);
  std::string wrong = id.substr(0, id.size() - 16) +
                      "01000000"
                      "00000000";
  EXPECT_EQ(error_code(ask(exact_request(AF_INET, IPPROTO_TCP, wrong), s)[0]), -ENOENT);
  std::string none = "00010050" + id.substr(8);
  auto e = ask(exact_request(AF_INET, IPPROTO_TCP, none), s);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0].type, NLMSG_ERROR);
  EXPECT_EQ(error_code(e[0]), -ENOENT);
}

TEST(SockDiag, OldTcpDiagRequest) {
  // TCPDIAG_GETSOCK with a struct inet_diag_req (60 bytes): family, src_len, dst_len, ext, id,
  // states, dbs.
  auto b = from_hex("4c0000001200010301000000000000000200000e");
  b.resize(76);
  uint32_t states = kAllStates;
  std::memcpy(b.data() + 16 + 52, &states, 4);
  auto ms = decode_all(answer_sock_diag_request(b, reference_state(), kPortid), diag_fixed_size);
  ASSERT_EQ(ms.size(), 3u);
  EXPECT_EQ(ms[0].type, 18);  // answered in the request's type
  EXPECT_NE(ms[0].attr(INET_DIAG_INFO), nullptr);
  EXPECT_EQ(ms[2].type, NLMSG_DONE);
}

TEST(SockDiag, OtherFamiliesAndProtocols) {
  auto s = reference_state();
  // ss -x (AF_UNIX), ss -0 (AF_PACKET), ss -w (raw): empty dumps.
  for (auto [family, protocol] : {std::pair<int, int>{AF_UNIX, 0},
                                  {AF_PACKET, 0},
                                  {AF_NETLINK, 0},
                                  {AF_INET, IPPROTO_RAW},
                                  {AF_INET6, IPPROTO_SCTP}}) {
    auto ms = ask(
        ss_request(static_cast<uint8_t>(family), static_cast<uint8_t>(protocol), 0, kAllStates), s);
    ASSERT_EQ(ms.size(), 1u) << family << "/" << protocol;
    EXPECT_EQ(ms[0].type, NLMSG_DONE);
  }
  EXPECT_EQ(error_code(ask(ss_request(AF_INET, 99, 0, kAllStates), s)[0]), -ENOENT);
  // `ss -M`: MPTCP in INET_DIAG_REQ_PROTOCOL, the low byte (TCP) in the field. No MPTCP here.
  auto mptcp = ss_request(AF_INET, IPPROTO_MPTCP & 0xff, 0, kAllStates);
  mptcp[0] = std::byte{80};
  for (int v :
       {8, 0, int{INET_DIAG_REQ_PROTOCOL}, 0, IPPROTO_MPTCP & 0xff, IPPROTO_MPTCP >> 8, 0, 0}) {
    mptcp.push_back(std::byte(v));
  }
  auto ms = ask(mptcp, s);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(ms[0].type, NLMSG_DONE);
  EXPECT_EQ(error_code(ask(ss_request(AF_APPLETALK, 0, 0, kAllStates), s)[0]), -ENOENT);
  EXPECT_EQ(error_code(ask(ss_request(200, 0, 0, kAllStates), s)[0]), -EINVAL);
  // `ss -K` asks to destroy sockets.
  auto destroy = ss_request(AF_INET, IPPROTO_TCP, 0, kAllStates);
  destroy[4] = std::byte{SOCK_DESTROY};
  EXPECT_EQ(error_code(ask(destroy, s)[0]), -EPERM);
  auto unknown = ss_request(AF_INET, IPPROTO_TCP, 0, kAllStates);
  unknown[4] = std::byte{40};
  EXPECT_EQ(error_code(ask(unknown, s)[0]), -EINVAL);
}

TEST(SockDiag, MalformedRequests) {
  auto s = reference_state();
  auto short_req = ss_request(AF_INET, IPPROTO_TCP, 0, kAllStates);
  short_req.resize(40);
  short_req[0] = std::byte{40};  // nlmsg_len 40: an inet_diag_req_v2 cut short
  auto ms = ask(short_req, s);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(error_code(ms[0]), -EINVAL);
  // A bytecode attribute whose length runs past the message.
  auto bc = ss_request(AF_INET, IPPROTO_TCP, 0, kAllStates);
  bc[0] = std::byte{80};
  for (auto v : {0x20, 0x00, 0x01, 0x00, 0, 0, 0, 0}) bc.push_back(std::byte(v));
  ms = ask(bc, s);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(error_code(ms[0]), -EINVAL);
  // A well-formed (if meaningless) bytecode is ignored.
  bc[72] = std::byte{8};
  ms = ask(bc, s);
  EXPECT_EQ(ms.size(), 3u);
  // Nothing readable.
  auto junk = from_hex("ffffffff14000103");
  ms = ask(junk, s);
  ASSERT_EQ(ms.size(), 1u);
  EXPECT_EQ(error_code(ms[0]), -EINVAL);
  auto empty = from_hex(
      "1000000014000103"
      "0100000000000000");
  EXPECT_EQ(error_code(ask(empty, s)[0]), -EINVAL);
}

TEST(SockDiag, LargeDumpsAreSplit) {
  NetState s;
  for (uint16_t p = 1; p <= 300; ++p) {
    SocketState k;
    k.protocol = IPPROTO_TCP;
    k.local = testing::sa("10.0.0.2", p);
    k.remote = testing::sa("10.0.0.1", 80);
    k.linux_state = 1;
    k.inode = 1000 + p;
    s.sockets.push_back(k);
  }
  auto datagrams = answer_sock_diag_request(
      ss_request(AF_INET, IPPROTO_TCP, kExtInfoVegasCong, kAllStates), s, kPortid);
  EXPECT_GT(datagrams.size(), 10u);
  for (const auto& d : datagrams) EXPECT_LE(d.size(), netlink::kGoodSize);
  auto ms = decode_all(datagrams, diag_fixed_size);
  ASSERT_EQ(ms.size(), 301u);
  for (size_t i = 0; i < 300; ++i) EXPECT_EQ(host<uint32_t>(ms[i].fixed, 68), 1001u + i);
  EXPECT_EQ(ms[300].type, NLMSG_DONE);
}

}  // namespace
}  // namespace weir::sandbox
