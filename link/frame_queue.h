// FrameQueue: a bounded FIFO of packets between a writer and the endpoint that delivers them,
// used by the channel and loopback endpoints.
//
// Theory of operation. Packets are moved in and out (no byte copies). A push onto a full queue
// fails and the caller counts the drop. Two independent options: `locked` guards the ring
// with a mutex so a writer on another thread may push; `signalled` keeps an eventfd that is
// readable while the queue is non-empty, for a Loop to wait on. In a locked queue the fd's
// counter is only a hint: pop_batch() clears it and re-arms it if packets remain, so a
// consumer that stops at its budget is woken again. In an unlocked one a single thread pushes,
// pops and reads the fd, so the queue knows whether the counter is set and touches the fd only
// when the queue turns non-empty or empty; and a consumer that pops in a loop may hold the
// signal (hold_signal), so that what it pushes while it pops costs no system call either.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

#include "stack/packet_buffer.h"
#include "stack/result.h"

namespace weir::link {

// Locks only when the queue is shared between threads; the single-thread path takes no lock.
class MaybeLock {
 public:
  MaybeLock(std::mutex& m, bool on) : mutex_(on ? &m : nullptr) {
    if (mutex_) mutex_->lock();
  }
  ~MaybeLock() {
    if (mutex_) mutex_->unlock();
  }
  MaybeLock(const MaybeLock&) = delete;
  MaybeLock& operator=(const MaybeLock&) = delete;

 private:
  std::mutex* mutex_;
};

class FrameQueue {
 public:
  struct Options {
    size_t limit = 1024;
    bool locked = false;
    bool signalled = false;
  };

  // Fails only if an eventfd was asked for and could not be made.
  static Result<std::unique_ptr<FrameQueue>> create(const Options& options);

  // Only create() can make the key, so every queue is built through it.
  class Key {
    friend class FrameQueue;
    Key() = default;
  };
  FrameQueue(Key, const Options& options)
      : options_(options), unshared_(!options.locked && !options.signalled) {}
  ~FrameQueue();
  FrameQueue(const FrameQueue&) = delete;
  FrameQueue& operator=(const FrameQueue&) = delete;

  // False when the queue is full; pkt is then left untouched.
  bool push(PacketBuffer& pkt) {
    // An unshared queue with room in its ring takes the packet inline: no lock, no signal.
    // The ring never grows past the limit, so room in it is room under the limit.
    if (unshared_ && count_ < capacity_) {
      ring_[tail_slot()] = std::move(pkt);
      ++count_;
      return true;
    }
    return push_locked(pkt);
  }
  // Moves up to max packets, oldest first, onto the end of out. Returns how many.
  size_t pop_batch(size_t max, std::vector<PacketBuffer>& out);
  // Moves the oldest packet into out (assigned over whatever it held); false when the queue is
  // empty. Only for an unshared() queue: one thread, no signal, so a packet at a time costs no
  // lock or system call, and no batch vector to move it through.
  bool pop(PacketBuffer& out) {
    if (count_ == 0) return false;
    out = std::move(ring_[head_]);
    head_ = head_ + 1 == capacity_ ? 0 : head_ + 1;
    --count_;
    return true;
  }
  size_t size() const;
  // Packets push() would still take: the limit less what is queued.
  size_t room() const {
    // Asked before every TCP send: an unshared queue answers without the call size() makes.
    const size_t queued = unshared_ ? count_ : size();
    return queued < options_.limit ? options_.limit - queued : 0;
  }
  // Neither locked nor signalled: one thread pushes and pops.
  bool unshared() const { return unshared_; }
  // Nothing to pop and no signal to drain: a poller may skip pop_batch altogether. Only an
  // unsignalled queue answers without a lock or a system call; others always say no.
  bool idle() const { return unshared() && count_ == 0; }
  void clear();
  // Unlocked queues only: until release_signal(), a push onto an empty queue leaves the fd as
  // it is, because the caller is popping and will take the packet itself (the loopback pushes
  // its own replies while it delivers). release_signal() leaves the fd readable exactly when
  // packets remain.
  void hold_signal() { holding_ = true; }
  void release_signal();
  size_t limit() const { return options_.limit; }
  // The eventfd, or -1 when not signalled.
  int fd() const { return event_fd_; }

 private:
  // push() for a shared queue, or one whose ring must grow first.
  bool push_locked(PacketBuffer& pkt);
  // The free slot after the last packet (the ring has room). head_ and count_ are each below
  // the ring's size: one conditional subtract wraps it, where % was a division per packet.
  size_t tail_slot() const {
    const size_t slot = head_ + count_;
    return slot >= capacity_ ? slot - capacity_ : slot;
  }
  void signal();
  void drain_signal();
  // The ring: count_ packets from head_, wrapping. It grows by doubling up to the limit and
  // never shrinks, so a queue in steady use allocates nothing per packet (a deque allocated a
  // block every few packets as it crept along).
  void grow();

  Options options_;
  // Neither locked nor signalled (create() makes the fd of a signalled queue or fails).
  bool unshared_;
  int event_fd_ = -1;
  // Unlocked queues: whether the eventfd's counter is non-zero, and whether signals are held.
  bool signalled_ = false;
  bool holding_ = false;
  mutable std::mutex mutex_;
  // capacity_ slots. An array and its size rather than a vector: the size is a member to
  // compare with, not a division of the span by the slot size, and every index used is below
  // it by construction (head_ and tail_slot() wrap at it).
  std::unique_ptr<PacketBuffer[]> ring_;
  size_t capacity_ = 0;
  size_t head_ = 0;
  size_t count_ = 0;
};

}  // namespace weir::link
