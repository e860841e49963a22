// --publish HOSTPORT:PORT[/udp]: a port of the supervisor's own loopback forwarded into the
// sandbox, as pasta's -t/-u do. (A listener inside is reachable at the stack's address on its
// own port without this; publishing is for clients on the supervisor's host.)
//
// Theory of operation. TCP: a kernel listener on 127.0.0.1:HOSTPORT; each connection it
// accepts gets a stack connection to PORT inside (127.0.0.1 first, then the stack's other
// addresses, so a server bound to either is reached), and a StreamBridge moves bytes between
// the two with back-pressure both ways. FIN crosses as FIN; a reset or failed connect on one
// side becomes a reset (SO_LINGER 0) on the other. UDP: a kernel socket on 127.0.0.1:HOSTPORT;
// each client address gets its own stack UDP socket connected to PORT inside, so replies find
// their way back; a flow idle for a minute is forgotten.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/stream_bridge.h"
#include "stack/loop.h"
#include "stack/stack.h"
#include "stack/timer.h"
#include "stack/unique_fd.h"
#include "stack/waiter.h"
#include "udp/endpoint.h"

namespace weir::sandbox {

struct PublishRule {
  uint16_t host_port = 0;
  uint16_t port = 0;
  bool udp = false;
  // "8080:80", "8080:80/tcp", "5353:53/udp"; nullopt when malformed.
  static std::optional<PublishRule> parse(const std::string& text);
  std::string to_string() const;
};

class Publisher {
  struct Key {};  // only open() constructs publishers

 public:
  Publisher(Key, Stack& stack, Loop& loop, const PublishRule& rule, UniqueFd socket);
  // Binds 127.0.0.1:host_port. On failure *message says why.
  static Result<std::unique_ptr<Publisher>> open(Stack& stack, Loop& loop, const PublishRule& rule,
                                                 std::string* message);
  ~Publisher();
  Publisher(const Publisher&) = delete;
  Publisher& operator=(const Publisher&) = delete;

  size_t active_flows() const { return tcp_flows_.size() + udp_flows_.size(); }

 private:
  struct TcpFlow;
  struct UdpFlow;

  void accept_tcp();
  void start_connect(TcpFlow& flow);
  void pump_tcp(uint64_t id);
  void close_tcp(uint64_t id, bool reset);
  void receive_udp();
  void pump_udp(UdpFlow& flow);
  void expire_udp();
  void schedule(uint64_t id);
  void run_scheduled();
  std::vector<IpAddress> targets() const;

  Stack& stack_;
  Loop& loop_;
  PublishRule rule_;
  UniqueFd socket_;  // the kernel listener (TCP) or datagram socket (UDP)
  uint64_t next_id_ = 1;
  std::map<uint64_t, std::unique_ptr<TcpFlow>> tcp_flows_;
  std::map<std::string, std::unique_ptr<UdpFlow>> udp_flows_;  // keyed by the client's address
  std::vector<uint64_t> scheduled_;
  bool run_posted_ = false;
  Timer udp_expiry_;
};

}  // namespace weir::sandbox
