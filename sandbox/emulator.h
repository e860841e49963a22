// The socket emulator: answers a sandboxed program's intercepted socket calls from weir's stack.
//
// Theory of operation.
//
// Stand-ins. For every AF_INET/AF_INET6 socket (and every NETLINK_ROUTE / NETLINK_SOCK_DIAG
// socket) the program creates, the emulator makes an AF_UNIX socket pair, installs one end in
// the program (SECCOMP_IOCTL_NOTIF_ADDFD, atomically with the answer) and keeps the other, the
// "host end". Stream sockets get a SOCK_STREAM pair, datagram and netlink sockets a
// SOCK_SEQPACKET pair (message boundaries, and a peer's close shows as a hang-up, which
// SOCK_DGRAM pairs do not give). The program's read/write/send/recv/poll/epoll/close/dup run
// on its end natively; the emulator moves bytes between the host end and the stack socket,
// and only as fast as each side takes them, so a slow reader in the sandbox closes the TCP
// window outside and a slow peer outside blocks the program's writes.
//
// Identity. A stand-in is known by the inode of the program's end, never by fd number: dup,
// fork, exec and SCM_RIGHTS all keep the same file. A call that names an fd fetches that file
// (pidfd_getfd) and looks up its inode; an fd that is not a stand-in is not ours and the call
// continues to the kernel (AF_UNIX sockets, pipes, anything else). The emulator holds no
// reference to a program's end, so when the program's last reference goes the host end
// hangs up, and that is how close() is seen without trapping close.
//
// Answers may come later and out of order. A call that would block on Linux (connect on a
// blocking socket, accept with nothing queued, recvfrom on an empty queue, SO_ERROR while a
// connect is in flight) is parked: its notification stays unanswered while the supervisor goes
// on serving everything else, and it is answered when the socket's state changes or its
// SO_RCVTIMEO/SO_SNDTIMEO deadline passes. A signal that interrupts a parked call makes the
// answer fail; whatever the answer carried (an accepted connection) is put back. A thread
// makes one call at a time, so a new notification from a thread also retires any call of
// that thread still parked.
//
// Re-entrancy. Stack readiness callbacks fire inside the stack's own processing; they only
// mark a socket dirty. Dirty sockets are pumped after the current batch (a posted task), where
// calling into the stack is safe. Sockets are destroyed only there.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "sandbox/net_state.h"
#include "sandbox/tracee.h"
#include "stack/clock.h"
#include "stack/counters.h"
#include "stack/loop.h"
#include "stack/stack.h"
#include "stack/timer.h"
#include "stack/unique_fd.h"

namespace weir::sandbox {

class EmulatedSocket;

// The file name under /proc/.../net/ that an absolute `path` names, if it names one of the
// per-namespace network files: /proc/net/X, /proc/self/net/X, /proc/thread-self/net/X,
// /proc/N/net/X, /proc/N/task/M/net/X ("//" and "/./" allowed).
std::optional<std::string> proc_net_name(std::string_view path);

// clang-format off
#define WEIR_SANDBOX_COUNTERS(X)                                                                \
  X(notifications) X(continued) X(emulated) X(parked) X(parked_answered) X(parked_timed_out)    \
  X(parked_interrupted) X(answer_lost) X(sockets_created) X(sockets_closed)                     \
  X(refused_family) X(refused_type) X(refused_protocol) X(proc_net_opened) X(bad_address)       \
  X(program_gone) X(tcp_resets_delivered) X(tcp_eof_instead_of_reset) X(udp_send_dropped)       \
  X(udp_datagrams_unmatched) X(netlink_requests) X(zombies_reaped)
// clang-format on
WEIR_DEFINE_COUNTERS(SandboxCounters, WEIR_SANDBOX_COUNTERS)

struct EmulatorOptions {
  // SO_SNDBUF of each end of a stand-in pair: what the program can write before the supervisor
  // reads, and what the supervisor can queue for the program. Forced past net.core.wmem_max
  // when the supervisor may (CAP_NET_ADMIN).
  int pair_buffer = 1 << 20;
  // The name the sandbox's hostname resolves to in NetState.
  std::string hostname = "weir";
  // Interface names and indexes programs see (NIC id -> name); unnamed NICs keep the stack's.
  std::unordered_map<NicId, std::string> interface_names;
};

// An intercepted call that names one of our sockets, with the program's file in hand.
struct Call {
  SyscallRequest req;
  UniqueFd file;  // our duplicate of the program's fd (invalid for socket())
  // Whether the program's file is non-blocking (O_NONBLOCK), read from the file the first time
  // it is asked: most calls (options, names, bind, listen, ioctl) never ask, and each read was a
  // system call.
  bool nonblocking() const;

 private:
  mutable std::optional<bool> nonblocking_;
};

class Emulator {
 public:
  Emulator(Stack& stack, Loop& loop, Tracee& tracee, EmulatorOptions options = {});
  ~Emulator();
  Emulator(const Emulator&) = delete;
  Emulator& operator=(const Emulator&) = delete;

  // One intercepted call: answers it now, or parks it.
  void handle(const SyscallRequest& req);

  // What programs see of the network.
  // Without counters (empty NetState::counters) when the caller shows none: walking the
  // stack's counter groups by name was most of what a snapshot cost, and only /proc/net/snmp
  // and /proc/net/netstat read them (proc_net_file_reads_counters).
  NetState snapshot(bool with_counters = true) const;
  // True when no socket has data still on its way out (after the program ended, the
  // supervisor waits for this before tearing the stack down).
  bool drained() const;
  size_t socket_count() const { return sockets_.size(); }

  SandboxCounters& counters() { return counters_; }
  const SandboxCounters& counters() const { return counters_; }
  Stack& stack() { return stack_; }
  Loop& loop() { return loop_; }
  Tracee& tracee() { return tracee_; }
  const EmulatorOptions& options() const { return options_; }

  // ---- for the sockets ----
  // Marks s for a pump after the current batch.
  void mark_dirty(EmulatedSocket& s);
  // Answers; failures mean the call is gone (counted) and are returned for rollback.
  Status reply(const Call& call, int64_t value);
  Status reply_error(const Call& call, int error);
  Status reply_error(const Call& call, Error error) { return reply_error(call, to_errno(error)); }
  // Copies memory in/out for the call; kBadAddress becomes EFAULT for the caller.
  Status read(const Call& call, uint64_t addr, MutableByteView out);
  Status write(const Call& call, uint64_t addr, ByteView data);
  // A new stand-in pair: {program end, host end}, both CLOEXEC, the program end blocking or not
  // as the program asked (SOCK_NONBLOCK) and the host end the same. Whoever reads or writes a
  // host end passes MSG_DONTWAIT: the supervisor must never block on one.
  Result<std::pair<UniqueFd, UniqueFd>> make_pair(int type, bool program_nonblocking);
  // Registers a socket whose program end has inode `inode`; it is watched from now on.
  EmulatedSocket& adopt(std::unique_ptr<EmulatedSocket> socket);
  // Installs program_end in the program as the answer to call. Returns the fd number.
  Result<int> install(const Call& call, UniqueFd program_end, bool cloexec);
  // Finds the program's file for a socket outside any call (to deliver a reset): first the
  // last fd it was seen at, then a scan of the sandbox's processes. May fail.
  Result<UniqueFd> find_program_file(ino_t inode);
  // Records where a socket was last seen, for find_program_file.
  void seen_at(ino_t inode, pid_t tid, int fd);
  // A socket now has a parked call (so a new call from the same thread must retire it).
  void note_parked(ino_t inode) { with_parked_.push_back(inode); }
  // A fresh netlink port id.
  uint32_t next_netlink_port() { return next_netlink_port_++; }

 private:
  friend class EmulatedSocket;
  struct Location {
    pid_t tid;
    int fd;
  };

  void dispatch(const SyscallRequest& req);
  void handle_socket(const SyscallRequest& req);
  void handle_open(const SyscallRequest& req, int dirfd_arg, int path_arg, int flags_arg,
                   bool openat2);
  void handle_fd_call(const SyscallRequest& req, int fd);
  void handle_interface_ioctl(Call& call);
  void retire_calls_of(pid_t tid);
  void flush_dirty();
  void sweep_parked();
  void destroy_finished();
  void collect_zombies();

  Stack& stack_;
  Loop& loop_;
  Tracee& tracee_;
  EmulatorOptions options_;
  SandboxCounters counters_;
  std::unordered_map<ino_t, std::unique_ptr<EmulatedSocket>> sockets_;
  std::unordered_map<ino_t, Location> locations_;
  std::vector<ino_t> dirty_;
  std::vector<ino_t> with_parked_;  // sockets that had parked calls (maybe stale, deduplicated lazily)
  bool flush_posted_ = false;
  bool force_pair_buffer_ = true;  // SO_SNDBUFFORCE until it is refused once
  uint32_t next_netlink_port_ = 0x7f000000;
  Timer sweep_timer_;
};

}  // namespace weir::sandbox
