// A program's NETLINK_ROUTE or NETLINK_SOCK_DIAG socket, answered from the stack's state.
//
// Theory of operation. The stand-in is a SOCK_SEQPACKET pair: one request datagram in, one or
// more answer datagrams out, boundaries kept. A request arrives either natively (send() on the
// program's end, read here from the host end) or through a trapped sendto/sendmsg, whose bytes
// are copied out of the program. Either way the answer (computed by netlink_route.h or
// sock_diag.h from a fresh NetState) is written to the host end in order, so the program
// reads it natively with recv(); recvmsg and recvfrom with an address are trapped only to
// report the kernel (port 0) as the sender, as tools check. Nothing is ever multicast to the
// socket: the stack's configuration does not change under a sandboxed program.
#pragma once

#include <deque>
#include <functional>
#include <vector>

#include "sandbox/socket.h"

namespace weir::sandbox {

class NetlinkSocket final : public EmulatedSocket {
 public:
  // Computes the answer datagrams to one request datagram for port `portid`.
  using Responder = std::function<std::vector<std::vector<std::byte>>(ByteView, uint32_t portid)>;

  NetlinkSocket(Emulator& emulator, int type, int protocol, ino_t inode, UniqueFd host,
                Responder responder);
  ~NetlinkSocket() override;

  void pump() override;
  bool finished() const override { return done_; }

 protected:
  void handle_call(Call& call) override;
  bool resume(const ParkedCall& parked) override;

 private:
  void answer(ByteView request);
  void flush_answers();
  bool receive(Call& call, bool parked);
  void send(Call& call);
  uint32_t port();

  Responder responder_;
  std::deque<std::vector<std::byte>> answers_;  // not yet taken by the host end
  uint32_t port_ = 0;                           // bound port id (0 until bound or used)
  uint32_t groups_ = 0;
  int receive_buffer_ = 212992;
  int send_buffer_ = 212992;
  bool ext_ack_ = false;
  bool strict_check_ = false;
  bool done_ = false;
};

}  // namespace weir::sandbox
