// Fuzzes the IPv4 header view, the options walk and the whole receive path.
//
// Input: one control byte, then an IPv4 packet. Control bit 0 asks the harness to fix the
// header checksum first (so the fuzzer gets past it), bit 1 splits the packet into two slices
// at a position given by the last byte, bit 2 makes UDP report "no endpoint" (ICMP errors),
// bits 4-7 pick a destination rewrite (ours, broadcast, multicast, someone else's) so each
// acceptance rule is reached. The same packet is then delivered again after 31 s, so a
// fragment meets both a live and a timed-out reassembly.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz/ipv4_fuzz_harness.h"
#include "ipv4/wire.h"
#include "stack/checksum.h"

namespace {

using namespace weir;
using namespace weir::ipv4;

void check_view(ByteView bytes) {
  HeaderCheck check = check_header(bytes);
  auto h = Header::parse(bytes);
  if (h.ok() != (check == HeaderCheck::kOk)) __builtin_trap();
  if (!h) return;
  if (h->header_length() < kMinHeaderLength || h->header_length() > bytes.size()) __builtin_trap();
  if (h->total_length() < h->header_length() || h->total_length() > bytes.size()) __builtin_trap();
  (void)h->checksum_valid();
  (void)h->source();
  (void)h->destination();
  (void)h->fragment_offset();
  size_t seen = 0;
  auto status = walk_options(h->options(), [&](const Option& o) {
    seen += 1 + o.data.size();
    for (std::byte b : o.data) seen += std::to_integer<uint8_t>(b) & 1;
  });
  (void)status;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t control = data[0];
  const ByteView input = std::as_bytes(std::span(data, size));
  std::vector<std::byte> packet = to_byte_vector(input.subspan(1));
  check_view(packet);

  if (packet.size() >= kMinHeaderLength) {
    static constexpr std::array<Ipv4Address, 6> kDestinations = {
        Ipv4Address(10, 0, 0, 1),  Ipv4Address(255, 255, 255, 255), Ipv4Address(10, 0, 0, 255),
        Ipv4Address(224, 0, 0, 1), Ipv4Address(239, 1, 1, 1),       Ipv4Address(10, 0, 0, 7)};
    const size_t pick = control >> 4;
    if (pick < kDestinations.size()) store_be32(packet, 16, kDestinations[pick].value());
    if ((control & 1) != 0) {
      const size_t header_length = size_t{std::to_integer<uint8_t>(packet[0]) & 0x0fu} * 4;
      if (header_length >= kMinHeaderLength && header_length <= packet.size()) {
        store_be16(packet, 10, 0);
        store_be16(packet, 10, internet_checksum(ByteView(packet).first(header_length)));
      }
    }
  }

  fuzz::Harness h((control & 4) != 0 ? TransportDelivery::kNoEndpoint
                                     : TransportDelivery::kDelivered);
  const size_t cut = size > 1 ? data[size - 1] : 0;
  for (int round = 0; round < 2; ++round) {
    PacketBuffer pkt =
        (control & 2) != 0 ? fuzz::split_packet(packet, cut) : PacketBuffer::from_bytes(packet);
    pkt.meta().network_protocol = kEtherTypeIpv4;
    pkt.meta().nic = h.nic_id;
    h.ip->handle_packet(h.nic(), std::move(pkt));
    h.drain();
    h.advance(std::chrono::seconds(31));
    h.drain();
  }
  if (h.ip->reassembler().datagram_count() != 0) __builtin_trap();  // all timed out
  return 0;
}
