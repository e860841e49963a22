#include "tests/testing/testing.h"

namespace weir::testing {

std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  out.reserve(values.size());
  for (int v : values) out.push_back(std::byte(static_cast<uint8_t>(v)));
  return out;
}

}  // namespace weir::testing
