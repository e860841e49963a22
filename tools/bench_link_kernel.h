// The Linux side of `weir bench link`: the private network namespace every case runs in, the
// `ip` commands that build its links, the kernel's own interface counters (the TX sink's
// count), and the two traffic sources that run on threads of their own (an AF_PACKET blaster
// and a Linux TCP sender).
//
// Isolation. enter_private_netns() unshares a fresh, unnamed network namespace for the calling
// thread; every thread and `ip` command it starts afterwards inherits it. Nothing the bench
// makes is visible from, or can send to, the namespace the command was started in, and when
// the bench exits the kernel deletes the namespace with every device in it (the taps go when
// their fds close), whatever way the process ends: there is nothing to clean up on error.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "stack/address.h"
#include "stack/result.h"
#include "stack/unique_fd.h"

namespace weir::tools::bench {

// Moves this thread into a new, empty network namespace (the one before stays as it was).
// *message says why not: typically no CAP_SYS_ADMIN.
Status enter_private_netns(std::string* message);

// Runs `ip ARGS...` in this thread's namespace; on failure *message holds the command and what
// it printed.
Status run_ip(const std::vector<std::string>& args, std::string* message);

// Writes value to a /proc/sys file of this thread's namespace.
Status write_sysctl(const std::string& path, const std::string& value, std::string* message);

struct InterfaceCounters {
  uint64_t rx_packets = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_packets = 0;
  uint64_t tx_dropped = 0;
};
// The kernel's counters of `name` in this thread's namespace (/proc/thread-self/net/dev, not
// /sys/class/net, which shows the namespace sysfs was mounted in).
Result<InterfaceCounters> interface_counters(const std::string& name);

// CPU time (user + system) of the calling thread.
double thread_cpu_seconds();

// Sends copies of one Ethernet frame out of a kernel interface as fast as the kernel takes
// them, from a thread: an AF_PACKET socket bound to the interface (it receives nothing),
// PACKET_QDISC_BYPASS so frames go straight to the driver, sendmmsg() of 64 frames per call.
// On a tap, the driver queues each frame for the tap's reader; on a veth, it is the peer's
// receive. A full queue refuses frames (ENOBUFS) and the blaster tries again at once.
class PacketBlaster {
 public:
  static Result<std::unique_ptr<PacketBlaster>> open(const std::string& interface,
                                                     std::vector<std::byte> frame,
                                                     std::string* message);
  PacketBlaster(UniqueFd fd, std::vector<std::byte> frame)
      : fd_(std::move(fd)), frame_(std::move(frame)) {}
  ~PacketBlaster() { stop(); }
  PacketBlaster(const PacketBlaster&) = delete;
  PacketBlaster& operator=(const PacketBlaster&) = delete;

  void start();
  void stop();
  uint64_t frames() const { return frames_.load(std::memory_order_relaxed); }
  double cpu_seconds() const { return cpu_seconds_; }  // valid after stop()

 private:
  void run();

  UniqueFd fd_;
  std::vector<std::byte> frame_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> frames_{0};
  double cpu_seconds_ = 0;
  std::thread thread_;
};

// A Linux TCP sender, from a thread: connects to destination:port and writes 1 MiB at a time
// until stopped, then resets the connection (SO_LINGER 0) so nothing lingers. With TSO on the
// route's device (a tap with offloads, a veth) Linux hands the device segments of up to 64 KiB.
class TcpStreamer {
 public:
  TcpStreamer() = default;
  ~TcpStreamer() { stop(); }
  TcpStreamer(const TcpStreamer&) = delete;
  TcpStreamer& operator=(const TcpStreamer&) = delete;

  Status start(Ipv4Address destination, uint16_t port, std::string* message);
  // Joins the thread; the error it met (empty: none, or stopped) is failure().
  void stop();
  uint64_t bytes() const { return bytes_.load(std::memory_order_relaxed); }
  double cpu_seconds() const { return cpu_seconds_; }  // valid after stop()
  const std::string& failure() const { return failure_; }

 private:
  void run(Ipv4Address destination, uint16_t port);

  UniqueFd fd_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> bytes_{0};
  double cpu_seconds_ = 0;
  std::string failure_;  // written by the thread, read after join
  std::thread thread_;
};

}  // namespace weir::tools::bench
