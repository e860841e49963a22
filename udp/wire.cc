#include "udp/wire.h"

#include "stack/checksum.h"
#include "stack/protocol.h"

namespace weir::udp {

Result<Header> Header::parse(ByteView bytes) {
  if (bytes.size() < kHeaderLength) return Error::kBadMessage;
  return Header(bytes.first(kHeaderLength));
}

Result<size_t> datagram_length(const Header& header, size_t ip_payload_length) {
  const size_t claimed = header.length();
  if (claimed < kHeaderLength || claimed > ip_payload_length) return Error::kBadMessage;
  return claimed;
}

namespace {

uint16_t sum_with_pseudo_header(const PacketBuffer& datagram, const IpAddress& source,
                                const IpAddress& destination) {
  ChecksumAccumulator acc;
  acc.add_u16(
      pseudo_header_sum(source, destination, kProtocolUdp, static_cast<uint32_t>(datagram.size())));
  acc.add(datagram);
  return acc.fold();
}

}  // namespace

uint16_t compute_checksum(const PacketBuffer& datagram, const IpAddress& source,
                          const IpAddress& destination) {
  const auto value = static_cast<uint16_t>(~sum_with_pseudo_header(datagram, source, destination));
  return value == 0 ? 0xffff : value;
}

bool checksum_valid(const PacketBuffer& datagram, const IpAddress& source,
                    const IpAddress& destination) {
  return sum_with_pseudo_header(datagram, source, destination) == 0xffff;
}

void write_header(MutableByteView out, uint16_t source_port, uint16_t destination_port,
                  uint16_t length, uint16_t checksum) {
  store_be16(out, 0, source_port);
  store_be16(out, 2, destination_port);
  store_be16(out, 4, length);
  store_be16(out, 6, checksum);
}

}  // namespace weir::udp
