// SnifferEndpoint: wraps any endpoint and writes every frame that crosses it, both
// directions, to a pcap file through libpcap.
//
// Theory of operation. The sniffer sits between the stack and the inner endpoint: it is the
// stack's endpoint and the inner endpoint's dispatcher. Packets on either side of it are
// network-layer packets (the inner endpoint pushes and pulls the link header), so the sniffer
// rebuilds the link header for the record:
//  - transmit: dst meta().link_destination, src inner.link_address(), type
//    meta().network_protocol, written with the same write_ethernet_header() every Ethernet
//    endpoint in link/ uses to frame the packet, so the record is byte for byte what the inner
//    endpoint puts on the wire. A frame is recorded when the stack hands it down, before the
//    inner endpoint may refuse it (queue full): the capture shows what the stack sent.
//  - receive: dst meta().link_destination, src meta().link_source, type
//    meta().network_protocol, which the Ethernet receive path fills from the header it pulled
//    (see link/ethernet.h); tagged frames never get this far, so the rebuilt header is the
//    original. Frames the inner endpoint dropped (other host, runts) are not recorded.
// Endpoints without a link header (max_header_length() 0: raw IP channel, loopback) are
// captured as DLT_RAW, Ethernet-like ones as DLT_EN10MB; anything else is refused. The file is
// flushed by flush() and on destruction.
//
// Timestamps. Readers of a capture (tshark, Wireshark) show record times as dates, so by
// default records carry wall-clock time; protocol timers keep the monotonic stack clock. The
// wall-clock time of a record is CLOCK_REALTIME read once when the sniffer is created plus the
// stack clock's time elapsed since then, not CLOCK_REALTIME read per record: every interval in
// the capture is then exactly the interval the stack's timers saw (an RTO shows as the RTO,
// even if NTP steps the system clock meanwhile), and recording costs no extra clock read.
// With PcapTimestamps::kStackClock records carry the stack clock's own reading instead, so a
// stack on a ManualClock (tests, `weir replay`) writes byte-for-byte reproducible captures.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "link/pcap_file.h"
#include "link/wrapping_endpoint.h"
#include "stack/clock.h"
#include "stack/counters.h"
#include "stack/link_endpoint.h"
#include "stack/result.h"

namespace weir::link {

#define WEIR_SNIFFER_COUNTERS(X) X(tx_captured) X(rx_captured) X(rx_drop_not_attached)
WEIR_DEFINE_COUNTERS(SnifferCounters, WEIR_SNIFFER_COUNTERS)

// Where a record's timestamp comes from (see the header comment).
enum class PcapTimestamps : uint8_t {
  kWallClock,   // wall-clock time, advancing with the stack clock
  kStackClock,  // the stack clock's reading as is: reproducible on a ManualClock
};

class SnifferEndpoint final : public WrappingEndpoint {
 public:
  // Opens (truncates) the pcap file at path; records carry wall-clock time. On failure,
  // *message (if given) says why.
  static Result<std::unique_ptr<SnifferEndpoint>> create(std::unique_ptr<LinkEndpoint> inner,
                                                         const std::string& path,
                                                         const Clock& clock,
                                                         std::string* message = nullptr);
  // The same with the timestamp source chosen.
  static Result<std::unique_ptr<SnifferEndpoint>> create(std::unique_ptr<LinkEndpoint> inner,
                                                         const std::string& path,
                                                         const Clock& clock,
                                                         PcapTimestamps timestamps,
                                                         std::string* message = nullptr);

  class Key {
    friend class SnifferEndpoint;
    Key() = default;
  };
  // wall_offset: added to the stack clock's reading to make a record's timestamp.
  SnifferEndpoint(Key, std::unique_ptr<LinkEndpoint> inner, const Clock& clock, bool ethernet,
                  Duration wall_offset, std::unique_ptr<PcapWriter> writer);
  ~SnifferEndpoint() override;
  SnifferEndpoint(const SnifferEndpoint&) = delete;
  SnifferEndpoint& operator=(const SnifferEndpoint&) = delete;

  // Checksums are finished above the sniffer (by the Nic, in software), never left to the inner
  // endpoint: a capture shows the sums that reach the wire, as tools that check them expect.
  LinkCapabilities capabilities() const override {
    LinkCapabilities caps = inner().capabilities();
    caps.tx_checksum_offload = false;
    return caps;
  }
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override;

  // Writes buffered records to the file. kIo if the write failed.
  Status flush();
  const SnifferCounters& counters() const { return counters_; }

 private:
  void on_inner_receive(PacketBuffer pkt) override;
  void record(const PacketBuffer& pkt, MacAddress source);

  const Clock& clock_;
  bool ethernet_;
  Duration wall_offset_;  // zero for kStackClock
  std::unique_ptr<PcapWriter> writer_;
  std::vector<std::byte> scratch_;  // one record, reused
  SnifferCounters counters_;
};

}  // namespace weir::link
