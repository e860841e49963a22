// Helpers shared by every test executable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace weir::testing {

// {0x45, 0x00, ...} as bytes.
std::vector<std::byte> bytes_of(std::initializer_list<int> values);

}  // namespace weir::testing
