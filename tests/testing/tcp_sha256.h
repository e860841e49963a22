// SHA-256 (FIPS 180-4), streaming, for checking that bulk TCP transfers arrive intact.
#pragma once

#include <array>
#include <cstdint>
#include <string>

#include "stack/bytes.h"

namespace weir::testing {

class Sha256 {
 public:
  Sha256();
  void update(ByteView data);
  std::array<uint8_t, 32> finish();
  std::string hex();  // finish() as lowercase hex

 private:
  void block(const uint8_t* p);
  std::array<uint32_t, 8> h_;
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

}  // namespace weir::testing
