#include "link/sniffer.h"

#include <chrono>

#include "link/ethernet.h"

namespace weir::link {

namespace {

// CLOCK_REALTIME, as a duration since the Unix epoch.
Duration wall_clock_now() {
  return std::chrono::duration_cast<Duration>(std::chrono::system_clock::now().time_since_epoch());
}

}  // namespace

Result<std::unique_ptr<SnifferEndpoint>> SnifferEndpoint::create(
    std::unique_ptr<LinkEndpoint> inner, const std::string& path, const Clock& clock,
    std::string* message) {
  return create(std::move(inner), path, clock, PcapTimestamps::kWallClock, message);
}

Result<std::unique_ptr<SnifferEndpoint>> SnifferEndpoint::create(
    std::unique_ptr<LinkEndpoint> inner, const std::string& path, const Clock& clock,
    PcapTimestamps timestamps, std::string* message) {
  const uint16_t header = inner->max_header_length();
  const bool ethernet = header == kEthernetHeaderLength;
  if (!ethernet && header != 0) {
    if (message) {
      *message = "sniffer: cannot capture a link with a " + std::to_string(header) +
                 "-byte header; only Ethernet (14) and headerless (raw IP) links are supported";
    }
    return Error::kNotSupported;
  }
  std::string why;
  auto writer = PcapWriter::create(path, ethernet ? DLT_EN10MB : DLT_RAW, &why);
  if (!writer) {
    if (message) *message = "sniffer: " + why;
    return writer.error();
  }
  // Read both clocks back to back: the offset maps every later stack-clock reading onto
  // wall-clock time (see the header comment for why not one realtime read per record).
  Duration offset{};
  if (timestamps == PcapTimestamps::kWallClock) {
    offset = wall_clock_now() - clock.now().time_since_epoch();
  }
  return std::make_unique<SnifferEndpoint>(Key(), std::move(inner), clock, ethernet, offset,
                                           std::move(writer).value());
}

SnifferEndpoint::SnifferEndpoint(Key, std::unique_ptr<LinkEndpoint> inner, const Clock& clock,
                                 bool ethernet, Duration wall_offset,
                                 std::unique_ptr<PcapWriter> writer)
    : WrappingEndpoint(std::move(inner)),
      clock_(clock),
      ethernet_(ethernet),
      wall_offset_(wall_offset),
      writer_(std::move(writer)) {}

SnifferEndpoint::~SnifferEndpoint() { (void)flush(); }

Result<size_t> SnifferEndpoint::write_packets(std::span<PacketBuffer> packets) {
  const MacAddress self = inner().link_address();
  for (const PacketBuffer& pkt : packets) {
    record(pkt, self);
    ++counters_.tx_captured;
  }
  return inner().write_packets(packets);
}

void SnifferEndpoint::on_inner_receive(PacketBuffer pkt) {
  record(pkt, pkt.meta().link_source);
  ++counters_.rx_captured;
  if (!deliver_up(std::move(pkt))) ++counters_.rx_drop_not_attached;
}

void SnifferEndpoint::record(const PacketBuffer& pkt, MacAddress source) {
  const size_t header = ethernet_ ? kEthernetHeaderLength : 0;
  scratch_.resize(header + pkt.size());
  const MutableByteView record(scratch_);
  if (ethernet_) {
    write_ethernet_header(record, pkt.meta().link_destination, source, pkt.meta().network_protocol);
  }
  pkt.copy_out(0, record.subspan(header));

  writer_->write(clock_.now().time_since_epoch() + wall_offset_, record);
}

Status SnifferEndpoint::flush() { return writer_->flush(); }

}  // namespace weir::link
