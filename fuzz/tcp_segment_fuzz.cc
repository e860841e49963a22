// Fuzzes the TCP segment view and option parser: parsing never reads out of bounds, and
// whatever options parse back out of write_options round-trip.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "tcp/wire.h"

using namespace weir;
using namespace weir::tcp;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  ByteView bytes = std::as_bytes(std::span<const uint8_t>(data, size));
  auto seg = Segment::parse(bytes);
  Options opts = parse_options(bytes);
  if (seg) {
    (void)seg->source_port();
    (void)seg->destination_port();
    (void)seg->seq();
    (void)seg->ack();
    (void)seg->flags();
    (void)seg->window();
    (void)seg->urgent_pointer();
    if (seg->header_length() < kMinHeaderLength || seg->header_length() > size) std::abort();
    if (seg->payload().size() != size - seg->header_length()) std::abort();
    opts = seg->options();
  }
  // Round trip: emit what was parsed and parse it again.
  size_t len = options_length(opts);
  if (len % 4 != 0 || len > kMaxOptionsLength) std::abort();
  std::vector<std::byte> out(len);
  write_options(out, opts);
  Options again = parse_options(out);
  if (again.malformed) std::abort();
  if (again.mss != opts.mss || again.window_scale != opts.window_scale ||
      again.sack_permitted != opts.sack_permitted || again.timestamps != opts.timestamps) {
    std::abort();
  }
  if (again.sack_block_count > opts.sack_block_count) std::abort();
  for (size_t i = 0; i < again.sack_block_count; ++i) {
    if (!(again.sack_blocks[i] == opts.sack_blocks[i])) std::abort();
  }
  // A full header with these options.
  SegmentHeader h;
  h.options = opts;
  std::vector<std::byte> header(header_length(h));
  write_header(header, h);
  auto reparsed = Segment::parse(header);
  if (!reparsed || reparsed->header_length() != header.size()) std::abort();
  return 0;
}
