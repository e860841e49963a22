// Fuzzes ICMPv6 (echo, errors handed to transports, Packet Too Big into the path MTU cache)
// and the NS/NA handling of NDP on a whole IPv6 layer.
//
// Input: one control byte, then an ICMPv6 message (type byte first). The harness wraps it in
// an IPv6 header: bits 0-1 pick the source (fd00::2, fe80::2, ::, fd00::1 = our own), bits
// 2-3 the destination (fd00::1, ff02::1, our solicited-node group, fe80::1), bit 4 sets hop
// limit 64 instead of NDP's 255, bit 5 leaves the checksum as given instead of fixing it, bit
// 6 prepends a hop-by-hop header with Router Alert. After delivery the clock moves through the
// neighbor cache's timers.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz/ipv6_fuzz_harness.h"
#include "ipv6/wire.h"
#include "stack/checksum.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weir;
  using namespace weir::ipv6;
  if (size < 1) return 0;
  const uint8_t control = data[0];
  std::vector<std::byte> message = to_byte_vector(std::as_bytes(std::span(data, size)).subspan(1));
  if (message.size() > 1400) message.resize(1400);

  static const std::array<Ipv6Address, 4> kSources = {fuzz::addr("fd00::2"), fuzz::addr("fe80::2"),
                                                      Ipv6Address(), fuzz::addr("fd00::1")};
  static const std::array<Ipv6Address, 4> kDestinations = {
      fuzz::addr("fd00::1"), fuzz::addr("ff02::1"), fuzz::addr("ff02::1:ff00:1"),
      fuzz::addr("fe80::1")};
  const Ipv6Address source = kSources[control & 3];
  const Ipv6Address destination = kDestinations[(control >> 2) & 3];
  if ((control & 0x20) == 0 && message.size() >= 4) {
    store_be16(message, 2, 0);
    ChecksumAccumulator sum;
    sum.add_u16(pseudo_header_sum(IpAddress(source), IpAddress(destination), kProtocolIcmpv6,
                                  static_cast<uint32_t>(message.size())));
    sum.add(ByteView(message));
    store_be16(message, 2, sum.finish());
  }

  std::vector<std::byte> packet(kHeaderLength);
  HeaderFields fields;
  fields.source = source;
  fields.destination = destination;
  fields.hop_limit = (control & 0x10) != 0 ? 64 : 255;
  fields.next_header = kNextIcmpv6;
  if ((control & 0x40) != 0) {
    fields.next_header = kNextHopByHop;
    const std::array<uint8_t, 8> hbh = {kNextIcmpv6, 0, 5, 2, 0, 0, 1, 0};
    for (uint8_t b : hbh) packet.push_back(std::byte{b});
  }
  packet.insert(packet.end(), message.begin(), message.end());
  fields.payload_length = static_cast<uint16_t>(packet.size() - kHeaderLength);
  emit_header(packet, fields);

  fuzz::Harness h;
  h.deliver(PacketBuffer::from_bytes(packet));
  h.drain();
  for (int i = 0; i < 4; ++i) {
    h.advance(std::chrono::seconds(3));
    h.drain();
  }
  // A learned path MTU is never below the IPv6 minimum.
  for (const char* d : {"fd00::2", "fd00::9", "2001:db8::1"}) {
    auto mtu = h.ip->learned_path_mtu(fuzz::addr(d));
    if (mtu && *mtu < kMinMtu) __builtin_trap();
  }
  return 0;
}
