// Counters, like `netstat -s`: every layer keeps a struct of named uint64_t counters, and every
// drop path increments a counter that names its reason. A counter struct is declared with an
// X-list so the names exist once, for typed access (`counters.drop_bad_checksum++`), for
// printing (`weir stats`) and for tests.
//
//   #define WEIR_UDP_COUNTERS(X) X(received) X(drop_bad_checksum)
//   WEIR_DEFINE_COUNTERS(UdpCounters, WEIR_UDP_COUNTERS)
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace weir {

#define WEIR_COUNTER_FIELD_(name) uint64_t name = 0;
#define WEIR_COUNTER_VISIT_(name) f(std::string_view(#name), name);
#define WEIR_DEFINE_COUNTERS(Type, LIST)          \
  struct Type {                                   \
    LIST(WEIR_COUNTER_FIELD_)                     \
    template <typename F>                         \
    void for_each(F&& f) const {                  \
      LIST(WEIR_COUNTER_VISIT_)                   \
    }                                             \
  };

// Where a stack's counter groups are listed for printing. Groups register a visitor; the
// registry never owns or copies the counters.
class CounterRegistry {
 public:
  using Visit = std::function<void(std::string_view name, uint64_t value)>;
  using Group = std::function<void(const Visit&)>;

  // Room for the groups of a stack with every protocol installed (about 14) at once, instead
  // of five reallocations as they register: a stack is built per fuzz input, and embedders
  // may build many.
  CounterRegistry() { groups_.reserve(kExpectedGroups); }

  void add(std::string name, Group group) {
    groups_.push_back({std::move(name), std::move(group), nullptr, nullptr});
  }
  // Forgets every group (Stack::reset, once their owners are gone), keeping the room.
  void clear() { groups_.clear(); }

  // A struct of WEIR_DEFINE_COUNTERS: kept as its address and a plain function that visits it
  // rather than a std::function, so registering and clearing a stack's groups (once per input
  // in the fuzz targets) runs no code of each group's own.
  template <typename Counters>
  void add_struct(std::string name, const Counters& counters) {
    groups_.push_back({std::move(name), Group(), &counters, [](const void* c, const Visit& v) {
                         static_cast<const Counters*>(c)->for_each(v);
                       }});
  }

  // Calls visit(counter, value) for every counter of the groups named `group`, in registration
  // order. Reading a few groups this way skips every other group's counters: a reader of a
  // handful of counters (the sandbox's /proc/net/snmp and interface ioctls) would otherwise
  // pay a visit per counter of the whole stack.
  void for_each_of(std::string_view group, const Visit& visit) const {
    for (const auto& g : groups_) {
      if (g.name == group) g.visit_all(visit);
    }
  }

  // Calls visit(group, counter, value) for every counter of every group, in registration order.
  void for_each(const std::function<void(std::string_view, std::string_view, uint64_t)>& visit) const {
    for (const auto& g : groups_) {
      g.visit_all([&](std::string_view name, uint64_t value) { visit(g.name, name, value); });
    }
  }

 private:
  struct Entry {
    std::string name;
    Group visit;  // add()'s, or empty for add_struct()'s
    const void* counters;
    void (*visit_struct)(const void* counters, const Visit& visit);

    void visit_all(const Visit& v) const {
      if (visit_struct != nullptr) {
        visit_struct(counters, v);
      } else {
        visit(v);
      }
    }
  };
  static constexpr size_t kExpectedGroups = 16;
  std::vector<Entry> groups_;
};

}  // namespace weir
