// The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
#pragma once

#include <cstdint>

#include "stack/address.h"
#include "stack/bytes.h"

namespace weir {

class PacketBuffer;

// Sums 16-bit big-endian words in one's complement, 8 bytes per step. Handles views of odd
// length and odd alignment, so a packet can be summed slice by slice.
class ChecksumAccumulator {
 public:
  void add(ByteView data);
  void add_u16(uint16_t v);
  void add_u32(uint32_t v);
  void add(const PacketBuffer& pkt, size_t offset = 0);
  // The folded 16-bit one's complement sum (not inverted).
  uint16_t fold() const;
  // The value to put in a checksum field: ~fold().
  uint16_t finish() const { return static_cast<uint16_t>(~fold()); }

 private:
  uint64_t sum_ = 0;
  bool odd_ = false;  // an odd number of bytes has been added so far
};

// ~(one's complement sum of data).
uint16_t internet_checksum(ByteView data);

// The pseudo-header sum for TCP/UDP/ICMPv6 over IPv4 (RFC 793/768) or IPv6 (RFC 8200 8.1).
uint16_t pseudo_header_sum(const IpAddress& src, const IpAddress& dst, uint8_t protocol,
                           uint32_t length);

// Finishes a checksum a transport left for offload (meta().needs_checksum; csum_start counts
// from the start of the network header), in software, and clears the request. pkt is a whole
// network packet, or (network_header_length > 0) the transport packet that header will go in
// front of. A request that points outside the packet is dropped, not followed.
void finish_offloaded_checksum(PacketBuffer& pkt, size_t network_header_length = 0);

// RFC 1624 eqn. 3: the new checksum field after one 16-bit word changes from old to new.
uint16_t checksum_update16(uint16_t checksum, uint16_t old_word, uint16_t new_word);
uint16_t checksum_update32(uint16_t checksum, uint32_t old_word, uint32_t new_word);

}  // namespace weir
