// A program's UDP socket, served by a udp::Endpoint. See emulator.h for the stand-in model.
//
// Theory of operation. The stand-in is a SOCK_SEQPACKET pair, so datagram boundaries hold on
// the native path: send()/write() on a connected socket and recv()/read() run on the program's
// end without the supervisor in the way. Every datagram the stack receives is written to the
// host end (so the program's end polls readable), and its source and destination are queued
// here in the same order. A call that asks for the source (recvfrom with an address, recvmsg)
// is trapped: it peeks the program's next datagram, matches it with the queue by length and a
// hash (a datagram the program read natively left its entry behind: such entries are
// skipped), copies it, writes the address, and only then consumes it. While a receive is
// parked, new datagrams go straight to it instead. sendto/sendmsg with an address are trapped
// and sent by the stack, after every datagram still in the pair, so a program's datagrams
// leave in the order it sent them.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <vector>

#include "sandbox/msghdr.h"
#include "sandbox/socket.h"
#include "stack/waiter.h"
#include "udp/endpoint.h"

namespace weir::sandbox {

class UdpSocket final : public EmulatedSocket {
 public:
  UdpSocket(Emulator& emulator, int domain, int type, ino_t inode, UniqueFd host,
            std::unique_ptr<udp::Endpoint> endpoint);
  ~UdpSocket() override;

  void pump() override;
  bool finished() const override { return done_; }
  std::optional<SocketState> state() const override;

 protected:
  void handle_call(Call& call) override;
  bool resume(const ParkedCall& parked) override;

 private:
  struct Metadata {
    SocketAddress from;
    IpAddress destination;
    NicId nic = 0;
    size_t size = 0;
    uint64_t hash = 0;
  };
  // One datagram handed to a receive call.
  struct Received {
    std::vector<std::byte> data;  // at most what the caller asked for
    size_t full_size = 0;
    Metadata meta;
  };

  void connect(Call& call);
  void bind(Call& call);
  void name(Call& call, bool peer);
  void getsockopt(Call& call);
  void setsockopt(Call& call);
  void shutdown(Call& call);
  void ioctl(Call& call);
  // recvfrom / recvmsg / recvmmsg; true when answered (false: parked by a resume).
  bool receive(Call& call, bool parked);
  void send(Call& call);

  // Takes (or peeks) the next datagram for the program, from its end or the stack.
  Result<std::optional<Received>> take(Call& call, size_t max, bool peek);
  // After a successful answer: removes the peeked datagram from the program's end.
  void consume_peeked(Call& call);
  Status send_datagram(ByteView payload, const std::optional<SocketAddress>& to);
  // The endpoint's pending ICMP error, moved here before the supervisor's own receive_packet()
  // or send_to() would take it (they return it first, once); SO_ERROR and the trapped calls
  // take it from here.
  void keep_error();
  std::optional<Error> take_icmp_error();
  void drain_host();
  void push_to_host();
  std::vector<ControlMessage> control_for(const Metadata& meta) const;
  static uint64_t hash_of(ByteView data);
  bool kept_flag(int level, int name) const;

  std::unique_ptr<udp::Endpoint> endpoint_;
  Waiter waiter_;
  std::deque<Metadata> in_pair_;       // datagrams written to the host end, in order
  std::optional<udp::Datagram> held_;  // taken from the stack, the host end was full
  bool peeked_from_pair_ = false;      // the last take() peeked the program's end
  bool done_ = false;
  std::optional<Error> icmp_error_;
  bool v6only_ = false;
  int receive_buffer_set_ = 0;
  int send_buffer_set_ = 0;
};

}  // namespace weir::sandbox
