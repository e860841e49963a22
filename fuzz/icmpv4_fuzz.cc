// Fuzzes ICMPv4 receive: the header view, echo replies, and ICMP errors whose quoted datagram
// is validated before it reaches a transport's handle_control.
//
// Input: one control byte, then an ICMP message. The harness wraps the message in a valid
// IPv4 header from 10.0.0.2 to 10.0.0.1 (or to broadcast when control bit 1 is set). Bit 0
// fixes the ICMP checksum so the fuzzer gets past it; bit 2 rewrites the quoted header's
// source to our address and fixes its version/IHL, so quoted errors reach the transports.
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "fuzz/ipv4_fuzz_harness.h"
#include "ipv4/wire.h"
#include "stack/checksum.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weir;
  using namespace weir::ipv4;
  if (size < 1) return 0;
  const uint8_t control = data[0];
  const ByteView input = std::as_bytes(std::span(data, size));
  std::vector<std::byte> message = to_byte_vector(input.subspan(1));

  if ((control & 4) != 0 && message.size() >= kIcmpHeaderLength + kMinHeaderLength) {
    MutableByteView quoted = MutableByteView(message).subspan(kIcmpHeaderLength);
    store_u8(quoted, 0, static_cast<uint8_t>(0x40 | (load_u8(quoted, 0) & 0x0f) | 0x05));
    store_be32(quoted, 12, Ipv4Address(10, 0, 0, 1).value());
  }
  if ((control & 1) != 0 && message.size() >= kIcmpHeaderLength) {
    store_be16(message, 2, 0);
    store_be16(message, 2, internet_checksum(message));
  }

  if (auto h = IcmpHeader::parse(message)) {
    (void)h->type();
    (void)h->code();
    (void)h->rest_of_header();
    (void)h->checksum_valid();
    if (h->body().size() + kIcmpHeaderLength != message.size()) __builtin_trap();
  } else if (message.size() >= kIcmpHeaderLength) {
    __builtin_trap();
  }

  fuzz::Harness h;
  // Let the stack know the peer, so replies go out instead of waiting for ARP.
  h.ip->arp().cache().confirm(h.nic(), IpAddress(Ipv4Address(10, 0, 0, 2)),
                              MacAddress({2, 0, 0, 0, 0, 2}));
  if (message.size() + kMinHeaderLength > kMaxDatagramLength) return 0;
  PacketBuffer pkt = PacketBuffer::from_bytes(message);
  HeaderFields fields;
  fields.total_length = static_cast<uint16_t>(message.size() + kMinHeaderLength);
  fields.protocol = kProtocolIcmp;
  fields.source = Ipv4Address(10, 0, 0, 2);
  fields.destination = (control & 2) != 0 ? Ipv4Address::broadcast() : Ipv4Address(10, 0, 0, 1);
  emit_header(pkt.push_front(kMinHeaderLength), fields);
  pkt.meta().network_protocol = kEtherTypeIpv4;
  h.ip->handle_packet(h.nic(), std::move(pkt));
  h.drain();
  return 0;
}
