// Per-thread recycling of one kind of object, for state that exists only while a connection
// is busy (a receive queue's contents): taken when data arrives, given back when it drains, so
// an idle connection holds none of it and request/response traffic does not allocate.
//
// Up to kKeep objects wait per thread; beyond that they are freed. Objects come back as their
// owner left them: T::reset() must bring one back to its empty state (it may keep capacity).
// Sanitizer builds never recycle, so AddressSanitizer still sees every use after give().
#pragma once

#include <cstddef>
#include <memory>
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

template <typename T, size_t kKeep = 64>
class ObjectCache {
 public:
  static std::unique_ptr<T> take() {
#if WEIR_OBJECT_CACHE
    if (Cache* cache = thread_cache(); cache != nullptr && !cache->free.empty()) {
      std::unique_ptr<T> object = std::move(cache->free.back());
      cache->free.pop_back();
      return object;
    }
#endif
    return std::make_unique<T>();
  }

  static void give(std::unique_ptr<T> object) {
    if (object == nullptr) return;
#if WEIR_OBJECT_CACHE
    if (Cache* cache = thread_cache(); cache != nullptr && cache->free.size() < kKeep) {
      object->reset();
      cache->free.push_back(std::move(object));
    }
#endif
    // Otherwise object is freed here.
  }

 private:
#if WEIR_OBJECT_CACHE
  struct Cache {
    Cache() {
      free.reserve(kKeep);
      state() = kAlive;
    }
    ~Cache() { state() = kGone; }
    std::vector<std::unique_ptr<T>> free;
  };
  enum State : int { kUnborn, kAlive, kGone };
  // Trivially destructible, so it can still be read while the thread's other thread_locals
  // (and objects given back from their destructors) are being destroyed.
  static int& state() {
    thread_local int s = kUnborn;
    return s;
  }
  static Cache* thread_cache() {
    if (state() == kGone) return nullptr;
    thread_local Cache cache;
    return &cache;
  }
#endif
};

}  // namespace weir
