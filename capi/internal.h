// The C API's state behind an opaque weir_stack*: the C++ Stack with the protocols installed,
// the socket handle table, the loop, and the packet queue NICs. Shared by capi/*.cc only.
//
// Handles. A weir_socket is (stack tag << 48) | (generation << 24) | slot index. The tag comes
// from a process-wide counter, so a handle of another stack never matches; the generation is
// bumped when a slot is freed, so a closed handle never matches the slot's next socket. A slot
// whose generation has run out is retired rather than reused, so no handle ever comes back.
//
// Callbacks. Endpoints notify their WaiterQueue from deep inside packet processing, where
// calling user code that may close sockets would pull the ground from under the protocol. So
// a notification only queues the handle; dispatch_callbacks() runs the user's callbacks at the
// end of poll()/a loop iteration, when nothing of the stack is on the call stack.
#pragma once

#include <weir/weir.h>

#include <atomic>
#include <cerrno>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "link/packet_queue.h"
#include "stack/clock.h"
#include "stack/loop.h"
#include "stack/result.h"
#include "stack/stack.h"
#include "stack/unique_fd.h"
#include "stack/waiter.h"
#include "tcp/endpoint.h"
#include "tcp/forwarder.h"
#include "udp/endpoint.h"
#include "udp/forwarder.h"

namespace weir::capi {

inline int fail(Error e) { return -to_errno(e); }
// Errors with no weir::Error of their own.
inline constexpr int kBusy = -EBUSY;
inline constexpr int kNoSpace = -ENOSPC;

// weir_sockaddr <-> SocketAddress. from_c is false for an unknown family.
bool from_c(const weir_sockaddr& in, SocketAddress* out);
weir_sockaddr to_c(const SocketAddress& in);

struct SocketSlot {
  uint32_t generation = 1;
  bool retired = false;
  std::unique_ptr<tcp::Endpoint> tcp;
  std::unique_ptr<udp::Endpoint> udp;
  std::unique_ptr<Waiter> waiter;  // present while a callback is set
  weir_socket_callback callback = nullptr;
  void* user = nullptr;
  bool queued = false;  // in State::pending_

  bool open() const { return tcp || udp; }
  EventMask events() const;
  WaiterQueue& waiters() { return tcp ? tcp->waiters() : udp->waiters(); }
};

// A packet queue NIC as the C API sees it. `held` is a packet take() could not copy into a
// too-small buffer: it stays first in line.
struct QueueNic {
  explicit QueueNic(link::PacketQueueEndpoint& e) : endpoint(e) {}
  link::PacketQueueEndpoint& endpoint;
  std::mutex take_mutex;
  std::optional<PacketBuffer> held;
  weir_packet_queue_callback callback = nullptr;
  void* user = nullptr;
};

}  // namespace weir::capi

struct weir_stack {
  // Declared first: the Stack reads it until the very end of its destruction.
  weir::SteadyClock clock;
  std::unique_ptr<weir::Stack> stack;
  std::unique_ptr<weir::Loop> loop;
  uint16_t tag = 0;
  bool has_ipv6 = false;
  std::string last_error;

  // ---- sockets ----
  std::vector<std::unique_ptr<weir::capi::SocketSlot>> slots;
  std::vector<uint32_t> free_slots;
  std::vector<weir_socket> pending;  // handles whose callbacks should run
  weir::UniqueFd callback_fd;        // eventfd: readable while `pending` waits outside a drive
  bool callback_fd_signalled = false;
  // Inside poll(), a loop iteration or a callback: the calls that drive the stack are -EBUSY.
  bool driving = false;
  bool loop_running = false;
  std::atomic<bool> stop_requested{false};

  // ---- flow forwarders ----
  std::unique_ptr<weir::tcp::Forwarder> tcp_forwarder;
  weir_forward_fn tcp_forward_fn = nullptr;
  void* tcp_forward_user = nullptr;
  std::vector<weir_flow> pending_flows;  // TCP flows whose handler has not run yet
  std::unique_ptr<weir::udp::Forwarder> udp_forwarder;
  weir_forward_fn udp_forward_fn = nullptr;
  void* udp_forward_user = nullptr;

  // ---- packet queue NICs (looked up from other threads: guarded) ----
  std::mutex queues_mutex;
  std::map<weir::NicId, std::unique_ptr<weir::capi::QueueNic>> queues;

  weir::capi::SocketSlot* find(weir_socket handle);
  weir::Result<weir_socket> allocate(std::unique_ptr<weir::tcp::Endpoint> tcp,
                                     std::unique_ptr<weir::udp::Endpoint> udp);
  void release(weir_socket handle);
  void queue_callback(weir_socket handle);
  // Wakes a caller's loop (the eventfd of weir_stack_wait_fds) when callbacks were queued
  // outside poll()/a loop iteration.
  void signal_pending();
  // Runs the queued callbacks; returns how many ran.
  size_t dispatch_callbacks();
  void clear_callback_signal();
  // Registers a NIC's endpoint with the loop (fd-driven ones; packet queues are thread-safe
  // and have an eventfd too).
  void watch(weir::NicId nic);
  int set_error(weir::Error e, std::string message) {
    last_error = std::move(message);
    return weir::capi::fail(e);
  }
};
