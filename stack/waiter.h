// Readiness events for sockets: the non-blocking model. An endpoint reports a readiness mask
// and notifies its WaiterQueue when the mask may have changed; the blocking facade, the loop's
// users and the sandbox all wait through a Waiter.
#pragma once

#include <boost/intrusive/list.hpp>
#include <cstdint>
#include <functional>

namespace weir {

using EventMask = uint32_t;
inline constexpr EventMask kEventReadable = 1u << 0;    // data, a pending connection, or EOF
inline constexpr EventMask kEventWritable = 1u << 1;    // send buffer space
inline constexpr EventMask kEventError = 1u << 2;       // a pending error (SO_ERROR)
inline constexpr EventMask kEventHangup = 1u << 3;      // both directions closed
inline constexpr EventMask kEventReadHangup = 1u << 4;  // the peer closed its sending side

class Waiter : public boost::intrusive::list_base_hook<
                   boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  Waiter(EventMask interest, std::function<void(EventMask)> callback)
      : interest_(interest), callback_(std::move(callback)) {}
  Waiter(const Waiter&) = delete;
  Waiter& operator=(const Waiter&) = delete;

  EventMask interest() const { return interest_; }
  void set_interest(EventMask m) { interest_ = m; }
  bool waiting() const { return is_linked(); }
  void detach() { unlink(); }

 private:
  friend class WaiterQueue;
  EventMask interest_;
  std::function<void(EventMask)> callback_;
};

class WaiterQueue {
 public:
  void add(Waiter& w) {
    w.unlink();
    waiters_.push_back(w);
  }
  // Calls every waiter interested in any of events. A callback may detach itself (the walk
  // has already stepped past it), but not other waiters of the same queue.
  void notify(EventMask events) {
    if (waiters_.empty()) return;
    for (auto it = waiters_.begin(); it != waiters_.end();) {
      Waiter& w = *it++;
      if ((w.interest_ & events) != 0) w.callback_(events);
    }
  }
  bool empty() const { return waiters_.empty(); }

 private:
  boost::intrusive::list<Waiter, boost::intrusive::constant_time_size<false>> waiters_;
};

}  // namespace weir
