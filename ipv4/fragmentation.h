// IPv4 fragmentation on send (RFC 791 3.2, "An Example Fragmentation Procedure").
//
// Every fragment but the last carries the largest multiple of 8 payload bytes that fits the
// MTU after a 20-byte header; the last carries the rest. Fragments share the original
// payload's chunks (PacketBuffer::slice) and get a fresh header each; nothing is copied
// except headers. We never send options, so no option copying rules apply.
#pragma once

#include <cstdint>
#include <vector>

#include "ipv4/wire.h"
#include "stack/packet_buffer.h"
#include "stack/result.h"

namespace weir::ipv4 {

// Splits payload (the bytes after the IP header) into complete IPv4 packets no larger than
// mtu. base gives the header fields all fragments share; its total_length and
// flags_and_offset are ignored except for DF, which must be clear. Fails with kMessageTooLong
// when mtu cannot hold a header and 8 bytes, or the datagram exceeds 65535 bytes.
Result<std::vector<PacketBuffer>> fragment(const PacketBuffer& payload, const HeaderFields& base,
                                           uint32_t mtu);

}  // namespace weir::ipv4
