// Fuzzes the IPv6 header view, the extension header chain and its options, and the whole
// receive path (reassembly, ICMPv6 errors, delivery).
//
// Input: one control byte, then an IPv6 packet. Bit 0 rewrites the payload length to match
// what follows (so the fuzzer gets past it), bit 1 splits the packet into two slices at a
// position given by the last byte, bit 2 makes UDP report "no endpoint" (port unreachable),
// bits 4-7 pick a destination rewrite (ours, our link-local, all-nodes, our solicited-node
// group, someone else's, a group we did not join) so each acceptance rule is reached. The
// packet is delivered twice with 61 s between, so a fragment meets both a live and a timed-out
// reassembly.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz/ipv6_fuzz_harness.h"
#include "ipv6/wire.h"

namespace {

using namespace weir;
using namespace weir::ipv6;

// The chain walk's promises: every header lies inside the packet, offsets only grow, and the
// walk ends within the bound.
void check_chain(ByteView bytes) {
  const HeaderCheck check = check_header(bytes);
  auto h = Header::parse(bytes);
  if (h.ok() != (check == HeaderCheck::kOk)) __builtin_trap();
  if (!h) return;
  const size_t total = kHeaderLength + h->payload_length();
  ExtHeaderIter it(bytes.first(total), total);
  size_t last = 0;
  for (;;) {
    const ExtHeaderIter::Step step = it.next();
    if (step != ExtHeaderIter::Step::kHeader) {
      if (step == ExtHeaderIter::Step::kNeedMore) __builtin_trap();  // we gave it everything
      if (step == ExtHeaderIter::Step::kUpperLayer && it.offset() > total) __builtin_trap();
      break;
    }
    const ExtensionHeader& e = it.header();
    if (e.offset < kHeaderLength || e.offset <= last || e.offset + e.bytes.size() > total) {
      __builtin_trap();
    }
    last = e.offset;
    if (it.count() > kMaxExtensionHeaders) __builtin_trap();
    if (e.type == kNextHopByHop || e.type == kNextDestinationOptions) {
      size_t seen = 0;
      (void)walk_ext_options(e.bytes, [&](const ExtOption& o) {
        if (o.offset + 2 + o.data.size() > e.bytes.size()) __builtin_trap();
        seen += o.data.size();
        return true;
      });
    } else if (e.type == kNextFragment) {
      (void)parse_fragment_header(e.bytes);
    } else if (e.type == kNextRouting) {
      (void)parse_routing_header(e.bytes);
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t control = data[0];
  const ByteView input = std::as_bytes(std::span(data, size));
  std::vector<std::byte> packet = to_byte_vector(input.subspan(1));

  if (packet.size() >= kHeaderLength) {
    static const std::array<Ipv6Address, 6> kDestinations = {
        fuzz::addr("fd00::1"),        fuzz::addr("fe80::1"), fuzz::addr("ff02::1"),
        fuzz::addr("ff02::1:ff00:1"), fuzz::addr("fd00::7"), fuzz::addr("ff05::1:3")};
    const size_t pick = control >> 4;
    if (pick < kDestinations.size()) copy_bytes(packet, 24, kDestinations[pick].bytes());
    if ((control & 1) != 0) {
      store_be16(packet, 4,
                 static_cast<uint16_t>(
                     std::min<size_t>(packet.size() - kHeaderLength, kMaxPayloadLength)));
    }
  }
  check_chain(packet);

  fuzz::Harness h((control & 4) != 0 ? TransportDelivery::kNoEndpoint
                                     : TransportDelivery::kDelivered);
  const size_t cut = size > 1 ? data[size - 1] : 0;
  for (int round = 0; round < 2; ++round) {
    h.deliver((control & 2) != 0 ? fuzz::split_packet(packet, cut)
                                 : PacketBuffer::from_bytes(packet));
    h.drain();
    h.advance(std::chrono::seconds(61));
    h.drain();
  }
  if (h.ip->reassembler().datagram_count() != 0) __builtin_trap();  // all timed out
  if (h.stack->fragment_memory().used() != 0) __builtin_trap();
  return 0;
}
