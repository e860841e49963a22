// What the TCP demux finds: a connection or a listener. The protocol parses and checksums a
// segment once, then hands the view and the payload (sharing the packet's bytes) over.
#pragma once

#include "stack/demux.h"
#include "stack/protocol.h"
#include "tcp/wire.h"

namespace weir::tcp {

enum class SegmentOutcome : uint8_t {
  kDone,
  kRedeliver,  // the receiver left the demux (TIME_WAIT reuse): look the segment up again
};

class SegmentReceiver : public TransportEndpoint {
 public:
  SegmentReceiver() : TransportEndpoint(kProtocolTcp) {}
  virtual SegmentOutcome on_segment(const NetworkPacketInfo& info, const Segment& seg,
                                    PacketBuffer&& payload) = 0;
  // An ICMP error about a segment this receiver sent.
  virtual void on_control(const TransportControl& control) { (void)control; }
  // For callers that hold only the packet: parses (checksum already verified) and delivers.
  void handle_packet(const NetworkPacketInfo& info, PacketBuffer pkt) override;
};

}  // namespace weir::tcp
