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
// captured as DLT_RAW, Ethernet-like ones as DLT_EN10MB; anything else is refused. Records are
// timestamped from the Clock with nanosecond precision, so a ManualClock gives reproducible
// captures. The file is flushed by flush() and on destruction.
#pragma once

#include <pcap/pcap.h>

#include <memory>
#include <string>
#include <vector>

#include "stack/clock.h"
#include "stack/counters.h"
#include "stack/link_endpoint.h"
#include "stack/result.h"

namespace weir::link {

#define WEIR_SNIFFER_COUNTERS(X) X(tx_captured) X(rx_captured) X(rx_drop_not_attached)
WEIR_DEFINE_COUNTERS(SnifferCounters, WEIR_SNIFFER_COUNTERS)

class SnifferEndpoint final : public LinkEndpoint {
 public:
  // Opens (truncates) the pcap file at path. On failure, *message (if given) says why.
  static Result<std::unique_ptr<SnifferEndpoint>> create(std::unique_ptr<LinkEndpoint> inner,
                                                         const std::string& path,
                                                         const Clock& clock,
                                                         std::string* message = nullptr);

  struct PcapCloser {
    void operator()(pcap_t* p) const { pcap_close(p); }
  };
  struct DumperCloser {
    void operator()(pcap_dumper_t* d) const { pcap_dump_close(d); }
  };
  using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;
  using DumperHandle = std::unique_ptr<pcap_dumper_t, DumperCloser>;

  class Key {
    friend class SnifferEndpoint;
    Key() = default;
  };
  SnifferEndpoint(Key, std::unique_ptr<LinkEndpoint> inner, const Clock& clock, bool ethernet,
                  PcapHandle pcap, DumperHandle dumper);
  ~SnifferEndpoint() override;
  SnifferEndpoint(const SnifferEndpoint&) = delete;
  SnifferEndpoint& operator=(const SnifferEndpoint&) = delete;

  uint32_t mtu() const override { return inner_->mtu(); }
  // Checksums are finished above the sniffer (by the Nic, in software), never left to the inner
  // endpoint: a capture shows the sums that reach the wire, as tools that check them expect.
  LinkCapabilities capabilities() const override {
    LinkCapabilities caps = inner_->capabilities();
    caps.tx_checksum_offload = false;
    return caps;
  }
  uint16_t max_header_length() const override { return inner_->max_header_length(); }
  MacAddress link_address() const override { return inner_->link_address(); }
  void attach(NetworkDispatcher* dispatcher) override { dispatcher_ = dispatcher; }
  bool attached() const override { return dispatcher_ != nullptr; }
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override;
  int readable_fd() const override { return inner_->readable_fd(); }
  size_t process_receive(size_t budget) override { return inner_->process_receive(budget); }

  // Writes buffered records to the file. kIo if the write failed.
  Status flush();
  const SnifferCounters& counters() const { return counters_; }
  LinkEndpoint& inner() { return *inner_; }

 private:
  class InnerDispatcher final : public NetworkDispatcher {
   public:
    explicit InnerDispatcher(SnifferEndpoint& owner) : owner_(owner) {}
    void deliver_network_packet(PacketBuffer pkt) override { owner_.receive(std::move(pkt)); }

   private:
    SnifferEndpoint& owner_;
  };

  void receive(PacketBuffer pkt);
  void record(const PacketBuffer& pkt, MacAddress source);

  std::unique_ptr<LinkEndpoint> inner_;
  const Clock& clock_;
  bool ethernet_;
  PcapHandle pcap_;
  DumperHandle dumper_;
  InnerDispatcher inner_dispatcher_{*this};
  NetworkDispatcher* dispatcher_ = nullptr;
  std::vector<u_char> scratch_;  // one record, reused; libpcap's byte type
  SnifferCounters counters_;
};

}  // namespace weir::link
