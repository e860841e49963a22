#include "link/sniffer.h"

#include <chrono>

#include "link/ethernet.h"

namespace weir::link {

namespace {

// Large enough for a GSO super-frame, which is what the inner endpoint would write.
constexpr int kSnapLength = 262144;

}  // namespace

Result<std::unique_ptr<SnifferEndpoint>> SnifferEndpoint::create(
    std::unique_ptr<LinkEndpoint> inner, const std::string& path, const Clock& clock,
    std::string* message) {
  const uint16_t header = inner->max_header_length();
  const bool ethernet = header == kEthernetHeaderLength;
  if (!ethernet && header != 0) {
    if (message) {
      *message = "sniffer: cannot capture a link with a " + std::to_string(header) +
                 "-byte header; only Ethernet (14) and headerless (raw IP) links are supported";
    }
    return Error::kNotSupported;
  }
  PcapHandle pcap(pcap_open_dead_with_tstamp_precision(ethernet ? DLT_EN10MB : DLT_RAW, kSnapLength,
                                                       PCAP_TSTAMP_PRECISION_NANO));
  if (!pcap) {
    if (message) *message = "sniffer: libpcap could not allocate a capture handle";
    return Error::kOutOfMemory;
  }
  DumperHandle dumper(pcap_dump_open(pcap.get(), path.c_str()));
  if (!dumper) {
    if (message) {
      *message = "sniffer: cannot write pcap file '" + path + "': " + pcap_geterr(pcap.get()) +
                 "; check that the directory exists and is writable";
    }
    return Error::kIo;
  }
  return std::make_unique<SnifferEndpoint>(Key(), std::move(inner), clock, ethernet,
                                           std::move(pcap), std::move(dumper));
}

SnifferEndpoint::SnifferEndpoint(Key, std::unique_ptr<LinkEndpoint> inner, const Clock& clock,
                                 bool ethernet, PcapHandle pcap, DumperHandle dumper)
    : inner_(std::move(inner)),
      clock_(clock),
      ethernet_(ethernet),
      pcap_(std::move(pcap)),
      dumper_(std::move(dumper)) {
  inner_->attach(&inner_dispatcher_);
}

SnifferEndpoint::~SnifferEndpoint() {
  inner_->attach(nullptr);
  (void)flush();
}

Result<size_t> SnifferEndpoint::write_packets(std::span<PacketBuffer> packets) {
  const MacAddress self = inner_->link_address();
  for (const PacketBuffer& pkt : packets) {
    record(pkt, self);
    ++counters_.tx_captured;
  }
  return inner_->write_packets(packets);
}

void SnifferEndpoint::receive(PacketBuffer pkt) {
  record(pkt, pkt.meta().link_source);
  ++counters_.rx_captured;
  if (dispatcher_ == nullptr) {
    ++counters_.rx_drop_not_attached;
    return;
  }
  dispatcher_->deliver_network_packet(std::move(pkt));
}

void SnifferEndpoint::record(const PacketBuffer& pkt, MacAddress source) {
  const size_t header = ethernet_ ? kEthernetHeaderLength : 0;
  scratch_.resize(header + pkt.size());
  const MutableByteView record = std::as_writable_bytes(std::span(scratch_));
  if (ethernet_) {
    write_ethernet_header(record, pkt.meta().link_destination, source, pkt.meta().network_protocol);
  }
  pkt.copy_out(0, record.subspan(header));

  const auto since_epoch = clock_.now().time_since_epoch();
  const auto secs = std::chrono::duration_cast<std::chrono::seconds>(since_epoch);
  pcap_pkthdr hdr{};
  hdr.ts.tv_sec = static_cast<time_t>(secs.count());
  // With nanosecond precision libpcap reads tv_usec as nanoseconds.
  hdr.ts.tv_usec = static_cast<suseconds_t>((since_epoch - secs).count());
  hdr.len = static_cast<bpf_u_int32>(scratch_.size());
  hdr.caplen = static_cast<bpf_u_int32>(std::min<size_t>(scratch_.size(), kSnapLength));
  // pcap_dump() has a pcap_handler's signature, whose first argument is an opaque u_char*
  // that must be the dumper. A library handle, not packet bytes.
  pcap_dump(reinterpret_cast<u_char*>(dumper_.get()),  // NOLINT(*-reinterpret-cast)
            &hdr, scratch_.data());
}

Status SnifferEndpoint::flush() {
  if (!dumper_) return ok_status();
  if (pcap_dump_flush(dumper_.get()) != 0) return Error::kIo;
  return ok_status();
}

}  // namespace weir::link
