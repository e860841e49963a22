// The UDP header (RFC 768) as a bounds-checked view, plus the checksum rules.
//
// A Header is parsed from at least 8 bytes and reads its fields from them; it does not own the
// bytes, so it must not outlive the buffer it was parsed from (read the fields right away when
// the buffer may be linearized or rewritten).
#pragma once

#include <cstddef>
#include <cstdint>

#include "stack/address.h"
#include "stack/bytes.h"
#include "stack/packet_buffer.h"
#include "stack/result.h"

namespace weir::udp {

inline constexpr size_t kHeaderLength = 8;
// The largest payload the 16-bit length fields allow: IPv4 total length minus a minimal IPv4
// header and ours; IPv6's payload length excludes its own header.
inline constexpr size_t kMaxPayloadIpv4 = 65535 - 20 - kHeaderLength;  // 65507
inline constexpr size_t kMaxPayloadIpv6 = 65535 - kHeaderLength;       // 65527

inline size_t max_payload(AddressFamily family) {
  return family == AddressFamily::kIpv4 ? kMaxPayloadIpv4 : kMaxPayloadIpv6;
}

class Header {
 public:
  // kBadMessage when fewer than kHeaderLength bytes are given; extra bytes are ignored.
  static Result<Header> parse(ByteView bytes);

  uint16_t source_port() const { return load_be16(bytes_, 0); }
  uint16_t destination_port() const { return load_be16(bytes_, 2); }
  uint16_t length() const { return load_be16(bytes_, 4); }
  uint16_t checksum() const { return load_be16(bytes_, 6); }
  ByteView bytes() const { return bytes_; }

 private:
  explicit Header(ByteView bytes) : bytes_(bytes) {}
  ByteView bytes_;
};

// The datagram length the header claims, checked against the bytes the network layer delivered
// (ip_payload_length). A length field below 8 or beyond the delivered bytes is kBadMessage;
// delivered bytes past the claimed length are link or IP padding, and the caller trims them.
Result<size_t> datagram_length(const Header& header, size_t ip_payload_length);

// The value for the checksum field of a datagram (header with a zero checksum field, then the
// payload; exactly the datagram, no padding). A sum that comes out as 0 is sent as 0xffff,
// because 0 on the wire means "no checksum" (RFC 768).
uint16_t compute_checksum(const PacketBuffer& datagram, const IpAddress& source,
                          const IpAddress& destination);

// Verifies the checksum of a received datagram (exactly the datagram's bytes, with its
// checksum field as received). The field must be non-zero: whether zero is acceptable is a
// per-family policy the caller decides.
bool checksum_valid(const PacketBuffer& datagram, const IpAddress& source,
                    const IpAddress& destination);

// Writes a header into out (at least 8 bytes).
void write_header(MutableByteView out, uint16_t source_port, uint16_t destination_port,
                  uint16_t length, uint16_t checksum);

}  // namespace weir::udp
