// The micro-benchmark binary's operator new: malloc plus a per-thread count. A replacement,
// not a wrapper around the library's, because the standard lets a program replace the global
// allocation functions and this is the only portable way to see every allocation the stack
// makes (containers, std::function, make_unique) without instrumenting it.
#include "tests/bench/alloc_counter.h"

#include <cstdlib>
#include <new>

namespace weir::bench {
namespace {
thread_local uint64_t t_allocations = 0;

void* counted_allocate(std::size_t size) {
  ++t_allocations;
  if (size == 0) size = 1;
  if (void* p = std::malloc(size)) return p;
  throw std::bad_alloc();
}

void* counted_allocate_aligned(std::size_t size, std::align_val_t alignment) {
  ++t_allocations;
  const auto align = static_cast<std::size_t>(alignment);
  // aligned_alloc wants a size that is a multiple of the alignment.
  const std::size_t rounded = (size + align - 1) / align * align;
  if (void* p = std::aligned_alloc(align, rounded == 0 ? align : rounded)) return p;
  throw std::bad_alloc();
}
}  // namespace

uint64_t thread_allocations() { return t_allocations; }

}  // namespace weir::bench

void* operator new(std::size_t size) { return weir::bench::counted_allocate(size); }
void* operator new[](std::size_t size) { return weir::bench::counted_allocate(size); }
void* operator new(std::size_t size, std::align_val_t a) {
  return weir::bench::counted_allocate_aligned(size, a);
}
void* operator new[](std::size_t size, std::align_val_t a) {
  return weir::bench::counted_allocate_aligned(size, a);
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
