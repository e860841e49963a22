// Fuzzes the Ethernet II parser and the receive path every Ethernet endpoint uses: arbitrary
// bytes as a frame, parsed directly and delivered through deliver_ethernet_frame() (once
// contiguous, once split across two slices so the header may straddle them).
#include <cstddef>
#include <cstdint>
#include <span>

#include "link/ethernet.h"
#include "stack/packet_buffer.h"

namespace {

class Sink final : public weir::NetworkDispatcher {
 public:
  void deliver_network_packet(weir::PacketBuffer&& pkt) override {
    // Touch every byte so the sanitizers see any out-of-range slice.
    bytes += pkt.to_vector().size();
  }
  size_t bytes = 0;
};

}  // namespace

// NOLINTNEXTLINE(readability-identifier-naming): the name libFuzzer calls
extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const weir::ByteView frame = std::as_bytes(std::span(data, size));
  if (auto view = weir::link::EthernetView::parse(frame)) {
    (void)view->destination();
    (void)view->source();
    (void)view->ethertype();
    (void)view->vlan_tci();
    (void)view->is_ethernet_ii();
    if (view->header().size() + view->payload().size() != size) __builtin_trap();
  }

  Sink sink;
  weir::link::LinkCounters counters;
  const weir::MacAddress self({0x02, 0, 0, 0, 0, 0x01});
  const bool promiscuous = size > 0 && (data[0] & 0x80) != 0;
  weir::link::deliver_ethernet_frame(weir::PacketBuffer::from_bytes(frame),
                                     {.self = self, .promiscuous = promiscuous}, &sink, counters);

  const size_t cut = size == 0 ? 0 : data[size - 1] % (size + 1);
  weir::PacketBuffer split = weir::PacketBuffer::from_bytes(frame.first(cut));
  split.append(frame.subspan(cut));
  weir::link::deliver_ethernet_frame(std::move(split), {.self = self}, &sink, counters);
  return 0;
}
