// EmulatedSocket: one stand-in (see emulator.h), the base of the TCP, UDP and netlink kinds.
// It owns the host end of the pair, watches it on the loop (edge-triggered: the socket keeps
// its own idea of what is readable and writable and works until EAGAIN), holds the calls
// parked on it, and answers the socket-level (SOL_SOCKET) options every kind shares.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <utility>

#include "sandbox/emulator.h"
#include "sandbox/net_state.h"
#include "stack/bytes.h"
#include "stack/timer.h"
#include "stack/unique_fd.h"

namespace weir::sandbox {

enum class SocketKind : uint8_t { kTcp, kUdp, kNetlink };

// Room for one read from a socket, left uninitialized: only the bytes the read wrote are used,
// and value-initializing 64 KiB (as a vector does) for every read cost more than the read.
class ReadBuffer {
 public:
  explicit ReadBuffer(size_t size)
      : storage_(size == 0 ? nullptr : std::make_unique_for_overwrite<std::byte[]>(size)),
        size_(size) {}
  MutableByteView bytes() { return {storage_.get(), size_}; }

 private:
  std::unique_ptr<std::byte[]> storage_;
  size_t size_;
};

// An option the stack does not act on: a program may set it and reads back what it set (as
// Linux would report it), and the kind may consult it (IP_PKTINFO, SO_TIMESTAMP, ...).
struct KeptOption {
  int level;
  int name;
  int initial = 0;
  bool boolean = false;  // read back as 0 or 1
};

// A call waiting for the socket's state to change. resume() tries again: it answers and
// returns true, or returns false to keep waiting.
struct ParkedCall {
  SyscallRequest req;
  std::optional<TimePoint> deadline;
  int timeout_error = 0;  // what the call returns at its deadline (EAGAIN, EINPROGRESS)
};

class EmulatedSocket {
 public:
  EmulatedSocket(Emulator& emulator, SocketKind kind, int domain, int type, int protocol,
                 ino_t inode, UniqueFd host);
  virtual ~EmulatedSocket();
  EmulatedSocket(const EmulatedSocket&) = delete;
  EmulatedSocket& operator=(const EmulatedSocket&) = delete;

  SocketKind kind() const { return kind_; }
  int domain() const { return domain_; }
  int type() const { return type_; }
  int protocol() const { return protocol_; }
  ino_t inode() const { return inode_; }
  int host_fd() const { return host_.get(); }

  // Starts watching the host end. Called once the socket sits in the emulator's table.
  Status watch();

  // A call that names this socket's fd. The base answers what all kinds share and hands the
  // rest to handle_call().
  void handle(Call& call);
  // Moves data and state after events; answers parked calls that can go on.
  virtual void pump() = 0;
  // Nothing left to do: the program closed its end and the stack side is done (or handed
  // over to the protocol).
  virtual bool finished() const = 0;
  // Whether data is still on its way out (see Emulator::drained).
  virtual bool draining() const { return false; }
  // The host end is closed (a reset was delivered) but the program may still hold its end:
  // the socket answers calls from what it knows until the emulator finds the file gone.
  virtual bool zombie() const { return false; }
  // The socket as ss/netstat show it; nullopt for kinds they do not list.
  virtual std::optional<SocketState> state() const { return std::nullopt; }
  // Parked calls time out or are retired through these.
  void expire_parked(TimePoint now);
  void retire_calls_of(pid_t tid);
  bool has_parked() const { return !parked_.empty(); }

 protected:
  // Kind-specific calls (connect, bind, options, ...).
  virtual void handle_call(Call& call) = 0;
  // Retries one parked call; true when it was answered.
  virtual bool resume(const ParkedCall& parked) = 0;

  // Parks call until resume() answers it or the deadline passes.
  void park(const Call& call, std::optional<Duration> timeout, int timeout_error);
  // Retries every parked call in order.
  void resume_parked();

  // SOL_SOCKET options every kind shares, and the kind's kept options (`kept`): answered (true)
  // or not this function's (false).
  bool handle_common_getsockopt(Call& call, int level, int name, std::span<const KeptOption> kept);
  bool handle_common_setsockopt(Call& call, int level, int name, std::span<const KeptOption> kept);
  // The value of a kept option (its initial value until the program sets it).
  int kept_value(int level, int name, std::span<const KeptOption> kept) const;
  // Answers getsockopt with an int (or a shorter prefix of one, as Linux does).
  void reply_int_option(Call& call, int value);
  void reply_option_bytes(Call& call, ByteView value);
  // Reads an int option value (optlen >= 4; a shorter one is EINVAL).
  Result<int> read_int_option(Call& call);
  // setsockopt with an int: reads it, applies it, answers 0 or the error.
  void set_int_option(Call& call, const std::function<Status(int)>& apply);

  // Reads the program's sockaddr argument (pointer arg, length arg).
  Result<std::vector<std::byte>> read_sockaddr(Call& call, uint64_t addr, uint64_t len);
  // Writes a sockaddr to (addr, *addrlen) as Linux does: truncated to the program's buffer,
  // the full length written back.
  Status write_sockaddr(Call& call, uint64_t addr, uint64_t addrlen_ptr, ByteView sockaddr);

  // Timeouts set by the program (SO_RCVTIMEO / SO_SNDTIMEO); nullopt: none.
  std::optional<Duration> receive_timeout() const { return receive_timeout_; }
  std::optional<Duration> send_timeout() const { return send_timeout_; }

  Emulator& emulator_;
  // The supervisor's end of the stand-in pair: made here, never duplicated or passed on, so
  // closing it takes it out of the loop's epoll set (Loop::unwatch_fd_closing).
  UniqueFd host_;
  bool host_readable_ = false;
  bool host_writable_ = false;
  bool host_hangup_ = false;  // the program's end is closed (or shut both ways)
  bool host_read_closed_ = false;  // the program's end stopped writing (EPOLLRDHUP)
  int rcvlowat_ = 1;
  uint32_t bound_interface_ = 0;
  std::map<std::pair<int, int>, int> kept_;  // kept options the program set: (level, name)
 private:
  void on_host_event(uint32_t events);
  void arm_park_timer();

  SocketKind kind_;
  int domain_;
  int type_;
  int protocol_;
  ino_t inode_;
  std::deque<ParkedCall> parked_;
  Timer park_timer_;
  std::optional<Duration> receive_timeout_;
  std::optional<Duration> send_timeout_;
  bool watched_ = false;
};

// Reads a struct timeval option value into a Duration (zero: no timeout).
Result<std::optional<Duration>> decode_timeval(ByteView bytes);
std::vector<std::byte> encode_timeval(std::optional<Duration> d);

}  // namespace weir::sandbox
