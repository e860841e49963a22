// Fuzzes the ARP view and the ARP/neighbor-cache state machine.
//
// Input: a sequence of records, each one control byte then up to 28 bytes of ARP packet.
// Control bits 0-1 choose what happens first: nothing, advance the clock by (control >> 2)
// * 100 ms, or send an IP packet to 10.0.0.(control >> 2) (which resolves, queues or sends).
// Then the packet bytes go to ARP. Bit 7 makes the sender IP and MAC come from a small set,
// and the target IP ours, so requests and replies actually touch entries.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <span>

#include "fuzz/exact_bytes.h"
#include "fuzz/ipv4_fuzz_harness.h"
#include "fuzz/setup_coverage.h"
#include "ipv4/wire.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weir;
  using namespace weir::ipv4;
  const ByteView input = std::as_bytes(std::span(data, size));
  Ipv4Options options;
  options.arp.max_entries = 8;
  options.arp.max_pending = 3;
  fuzz::Harness h(TransportDelivery::kDelivered, options);
  // Built before the input is parsed, so the counters zeroed after it hold none of the input's.
  fuzzing::forget_setup_coverage();  // the same for every input (fuzz/setup_coverage.h)

  if (auto p = ArpPacket::parse(input)) {
    (void)p->sender_mac();
    (void)p->sender_ip();
    (void)p->target_mac();
    (void)p->target_ip();
    if (!p->is_request() && !p->is_reply()) __builtin_trap();
  }
  static fuzzing::ExactBytes<32> record;  // a packet of kArpPacketLength (28) bytes at most
  static_assert(kArpPacketLength <= 32);
  size_t pos = 0;
  while (pos < input.size()) {
    const uint8_t control = load_u8(input, pos++);
    const size_t n = std::min(kArpPacketLength, input.size() - pos);
    const MutableByteView packet = record.assign(input.subspan(pos, n));
    pos += n;
    switch (control & 3) {
      case 1:
        h.advance(std::chrono::milliseconds(100) * (control >> 2));
        break;
      case 2: {
        auto route = h.stack->find_route(IpAddress(Ipv4Address(10, 0, 0, control >> 2)));
        if (route) {
          (void)h.ip->write_packet(*route, IpWriteParams{.protocol = 17},
                                   PacketBuffer::from_bytes(packet));
        }
        break;
      }
      default:
        break;
    }
    if ((control & 0x80) != 0 && packet.size() == kArpPacketLength) {
      const uint8_t who = static_cast<uint8_t>((control >> 2) & 7);
      store_be16(packet, 0, kArpHardwareEthernet);
      store_be16(packet, 2, 0x0800);
      store_u8(packet, 4, 6);
      store_u8(packet, 5, 4);
      copy_bytes(packet, 8, MacAddress({2, 0, 0, 0, 1, who}).bytes());
      store_be32(packet, 14, Ipv4Address(10, 0, 0, static_cast<uint8_t>(2 + who)).value());
      store_be32(packet, 24, Ipv4Address(10, 0, 0, 1).value());
    }
    PacketBuffer pkt = PacketBuffer::from_bytes(packet);
    pkt.meta().network_protocol = kEtherTypeArp;
    h.ip->arp().handle_packet(h.nic(), std::move(pkt));
    h.drain();
    if (h.ip->arp().cache().size() > options.arp.max_entries) __builtin_trap();
  }
  // Everything resolves or fails eventually; nothing may stay queued forever.
  // 200 one-second steps (fuzz::Harness::advance_in_steps skips the steps that fire nothing).
  h.advance_in_steps(std::chrono::seconds(1), 200);
  h.drain();
  if (h.ip->arp().cache().size() != 0) __builtin_trap();
  return 0;
}
