// Software segmentation (GSO). A transport may build one packet of many segments (PacketMeta
// gso_type and gso_size, the checksum left to the link) whatever link it leaves by: a link
// that segments takes it whole (a tap with TSO), and for every other link the NIC cuts it here,
// just before the link, into packets of gso_size payload each. The protocol code above never
// asks which kind of link it has, and one trip through it pays for many segments.
//
// stack/ knows no wire format, so the layers that do supply the per-segment rewrites through
// their protocol interfaces (stack/protocol.h): the network protocol of the packet's EtherType
// rewrites its header's length fields (and IPv4's identification), the transport named by the
// GSO type gives its header's length and rewrites sequence numbers and flags. What is common
// to every transport stays here: header copies, payload slices that share the original's
// memory, and the pseudo-header length in the partial checksum (RFC 1071: the sum is linear,
// so changing the length is one subtraction and one addition).
#pragma once

#include <vector>

#include "stack/packet_buffer.h"

namespace weir {

class Stack;

// Appends the segments of pkt (network header first, gso_type set, needs_checksum set with
// csum_start at the transport header) to out, each with needs_checksum still set and no
// gso_type. Returns false, leaving out as it was, when pkt cannot be cut: no layer claims its
// GSO type, or its headers are malformed.
bool segment_in_software(const Stack& stack, const PacketBuffer& pkt,
                         std::vector<PacketBuffer>& out);

// The transport protocol number a GSO type carries.
uint8_t gso_transport_protocol(GsoType type);

}  // namespace weir
