// Helpers shared by every test executable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

namespace weir::testing {

// {0x45, 0x00, ...} as bytes.
std::vector<std::byte> bytes_of(std::initializer_list<int> values);

// Every file in directory (a fuzz target's seed corpus), in file-name order.
std::vector<std::vector<std::byte>> read_files_sorted(const std::string& directory);

}  // namespace weir::testing
