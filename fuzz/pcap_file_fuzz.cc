// Fuzzes the capture-file reader (link/pcap_file.h) that `weir replay` feeds from untrusted
// files: arbitrary bytes as a pcap or pcapng file, read from memory record by record to the
// end or to the first error. A record can hold no more bytes than the input, and an error must
// come with a message.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "link/pcap_file.h"

// NOLINTNEXTLINE(readability-identifier-naming): the name libFuzzer calls
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string message;
  auto reader = weir::link::PcapReader::open_memory(std::as_bytes(std::span(data, size)), &message);
  if (!reader) {
    if (message.empty()) __builtin_trap();
    return 0;
  }
  (void)(*reader)->link_type();
  // A file has at most size / 16 records (a pcap record header is 16 bytes); the bound also
  // stops a reader that would loop without consuming input.
  for (size_t i = 0; i <= size / 16 + 1; ++i) {
    auto record = (*reader)->next(&message);
    if (!record) {
      if (message.empty()) __builtin_trap();
      return 0;
    }
    if (!*record) return 0;
    const auto& r = **record;
    // Every captured byte came from the input.
    if (r.bytes.size() > size) __builtin_trap();
    // Touch every byte so the sanitizers see a record pointing outside the input.
    size_t sum = 0;
    for (std::byte b : r.bytes) sum += std::to_integer<size_t>(b);
    (void)sum;
  }
  return 0;
}
