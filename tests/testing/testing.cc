#include "tests/testing/testing.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>

namespace weir::testing {

std::vector<std::byte> bytes_of(std::initializer_list<int> values) {
  std::vector<std::byte> out;
  out.reserve(values.size());
  for (int v : values) out.push_back(std::byte(static_cast<uint8_t>(v)));
  return out;
}

std::vector<std::vector<std::byte>> read_files_sorted(const std::string& directory) {
  std::vector<std::filesystem::path> paths;
  for (const auto& entry : std::filesystem::directory_iterator(directory)) {
    paths.push_back(entry.path());
  }
  std::sort(paths.begin(), paths.end());
  std::vector<std::vector<std::byte>> out;
  for (const auto& path : paths) {
    std::ifstream file(path, std::ios::binary);
    std::vector<char> chars((std::istreambuf_iterator<char>(file)), {});
    std::vector<std::byte> content(chars.size());
    std::transform(chars.begin(), chars.end(), content.begin(),
                   [](char c) { return static_cast<std::byte>(c); });
    out.push_back(std::move(content));
  }
  return out;
}

}  // namespace weir::testing
