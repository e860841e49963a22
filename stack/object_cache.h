// Per-thread recycling, for state that exists only while a connection is busy: taken when
// data arrives or is written, given back when it drains, so an idle connection holds none of
// it and request/response traffic does not allocate.
//   - ObjectCache<T>: whole objects (a receive queue's contents). T::reset() brings one back
//     to its empty state (it may keep capacity).
//   - VectorCache<T>: the storage of std::vector<T>s (a connection's record vectors).
// Up to kKeep items wait per thread; beyond that they are freed. Sanitizer builds never
// recycle, so AddressSanitizer still sees every use after a give.
#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define WEIR_OBJECT_CACHE 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define WEIR_OBJECT_CACHE 0
#endif
#endif
#ifndef WEIR_OBJECT_CACHE
#define WEIR_OBJECT_CACHE 1
#endif

namespace weir {

namespace cache_detail {

// The calling thread's free list of Items; nullptr while the thread is tearing it down (an
// item given back from another thread_local's destructor is then simply freed).
//
// The hot path reads one constant-initialized, trivially destructible thread_local pointer:
// no guard variable, no call. The list itself (which frees what it keeps when the thread
// ends) is made by the out-of-line slow path on the thread's first use.
template <typename Item, size_t kKeep>
struct ThreadFreeList {
#if WEIR_OBJECT_CACHE
  enum State : int { kUnborn, kAlive, kGone };
  // Trivially destructible, so both can still be read after `list` below is destroyed.
  static inline thread_local std::vector<Item>* current = nullptr;
  static inline thread_local int state = kUnborn;

  [[gnu::noinline]] static std::vector<Item>* make() {
    if (state == kGone) return nullptr;
    struct List {
      List() {
        items.reserve(kKeep);
        state = kAlive;
        current = &items;
      }
      ~List() {
        // First, so that what the items' destructors give back is freed, not kept.
        current = nullptr;
        state = kGone;
      }
      std::vector<Item> items;
    };
    thread_local List list;
    return &list.items;
  }
#endif

  static std::vector<Item>* get() {
#if WEIR_OBJECT_CACHE
    if (std::vector<Item>* list = current; list != nullptr) [[likely]]
      return list;
    return make();
#else
    return nullptr;
#endif
  }
};

template <typename Item, size_t kKeep>
std::vector<Item>* thread_free_list() {
  return ThreadFreeList<Item, kKeep>::get();
}

}  // namespace cache_detail

template <typename T, size_t kKeep = 64>
class ObjectCache {
 public:
  static std::unique_ptr<T> take() {
    if (auto* free = cache_detail::thread_free_list<std::unique_ptr<T>, kKeep>();
        free != nullptr && !free->empty()) {
      std::unique_ptr<T> object = std::move(free->back());
      free->pop_back();
      return object;
    }
    return std::make_unique<T>();
  }

  // Takes object (left null): kept for the next take(), or freed. By reference, so the caller's
  // pointer is not moved through a temporary that must then be destroyed.
  static void give(std::unique_ptr<T>&& object) {
    if (object == nullptr) return;
    if (auto* free = cache_detail::thread_free_list<std::unique_ptr<T>, kKeep>();
        free != nullptr && free->size() < kKeep) {
      object->reset();
      free->push_back(std::move(object));
      return;
    }
    object.reset();
  }
};

template <typename T, size_t kKeep = 64>
class VectorCache {
 public:
  // Storage for at least min_capacity entries, or an empty vector when none waits.
  static std::vector<T> take(size_t min_capacity) {
    if (auto* free = cache_detail::thread_free_list<std::vector<T>, kKeep>();
        free != nullptr && !free->empty() && free->back().capacity() >= min_capacity) {
      std::vector<T> v = std::move(free->back());
      free->pop_back();
      return v;
    }
    return {};
  }

  // Takes v's storage: v is left empty, without storage.
  static void give(std::vector<T>& v) {
    v.clear();
    if (auto* free = cache_detail::thread_free_list<std::vector<T>, kKeep>();
        free != nullptr && v.capacity() > 0 && free->size() < kKeep) {
      // A moved-from vector is empty and, with std::allocator, holds no storage: no temporary.
      free->push_back(std::move(v));
      return;
    }
    std::vector<T>().swap(v);
  }
};

}  // namespace weir
