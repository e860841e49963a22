// Stateful fuzzer: one TCP connection (active or passive open) driven by a script decoded from
// the input: segments with fuzzed flags, sequence/ack offsets relative to the connection's own
// state, windows, options and payloads; timer advances; and user calls (write, read, close,
// shutdown, abort, option changes). Checks that nothing crashes or trips the sanitizers, that
// the connection's invariants hold after every step, and that every segment it sends parses.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "fuzz/reused_stack.h"
#include "stack/checksum.h"
#include "stack/gso.h"
#include "stack/stack.h"
#include "tcp/connection.h"
#include "tcp/endpoint.h"
#include "tcp/listener.h"
#include "tcp/tcp.h"
#include "tcp/wire.h"

using namespace weir;
using namespace weir::tcp;

namespace {

class Input {
 public:
  Input(const uint8_t* d, size_t n) : d_(d), n_(n) {}
  bool empty() const { return pos_ >= n_; }
  uint8_t u8() { return pos_ < n_ ? d_[pos_++] : 0; }
  uint16_t u16() { return static_cast<uint16_t>((u8() << 8) | u8()); }
  uint32_t u32() { return (uint32_t{u16()} << 16) | u16(); }
  ByteView bytes(size_t n) {
    n = std::min(n, n_ - std::min(pos_, n_));
    ByteView v = std::as_bytes(std::span<const uint8_t>(d_ + pos_, n));
    pos_ += n;
    return v;
  }

 private:
  const uint8_t* d_;
  size_t n_;
  size_t pos_ = 0;
};

// Checks every segment TCP emits. A GSO packet is cut first, as the NIC would cut it for this
// fuzzer's link (which cannot segment), and each piece is checked.
class SinkIp final : public IpProtocol {
 public:
  explicit SinkIp(const Stack& stack) : stack_(stack) {}
  uint16_t ethertype() const override { return kEtherTypeIpv4; }
  bool update_segment_header(MutableByteView, size_t, uint32_t) const override { return true; }
  void handle_packet(Nic&, PacketBuffer&&) override {}
  AddressFamily family() const override { return AddressFamily::kIpv4; }
  size_t header_length() const override { return 20; }
  Status write_packet(const RouteInfo& route, const IpWriteParams&, PacketBuffer&& pkt) override {
    if (pkt.meta().gso_type == GsoType::kNone) return check(route, pkt);
    pkt.push_front(20);
    pkt.meta().network_protocol = kEtherTypeIpv4;
    std::vector<PacketBuffer> segments;
    if (!segment_in_software(stack_, pkt, segments)) std::abort();  // TCP's GSO must be cuttable
    for (PacketBuffer& segment : segments) {
      finish_offloaded_checksum(segment);
      segment.pull_front(20);
      (void)check(route, segment);
    }
    return ok_status();
  }
  SeqNum last_seq;
  SeqNum last_ack;
  uint32_t last_tsval = 0;
  size_t count = 0;

 private:
  Status check(const RouteInfo& route, const PacketBuffer& pkt) {
    std::vector<std::byte> bytes = pkt.to_vector();
    auto seg = Segment::parse(bytes);
    if (!seg) std::abort();  // we must only emit well-formed segments
    if (!checksum_valid(pkt, route.local_address, route.remote_address)) std::abort();
    (void)seg->options();
    last_seq = seg->seq();
    last_ack = seg->ack();
    if (seg->options().timestamps) last_tsval = seg->options().timestamps->value;
    ++count;
    return ok_status();
  }

  const Stack& stack_;
};

class NullLink final : public LinkEndpoint {
 public:
  uint32_t mtu() const override { return 1500; }
  LinkCapabilities capabilities() const override { return {}; }
  uint16_t max_header_length() const override { return 0; }
  MacAddress link_address() const override { return MacAddress(); }
  void attach(NetworkDispatcher*) override {}
  bool attached() const override { return true; }
  Result<size_t> write_packets(std::span<PacketBuffer> p) override { return p.size(); }
};

void check_invariants(const Connection& c) {
  if (c.snd_una() > c.snd_nxt()) std::abort();
  if (c.state() == State::kClosed && c.in_demux()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in(data, size);
  // First: destroyed last, it resets the process's stack once everything on it is gone
  // (fuzz/reused_stack.h).
  fuzzing::ReusedStack reused;
  ManualClock& clock = reused.clock();
  Stack& stack = reused.stack();
  auto& ip = stack.add_network_protocol(std::make_unique<SinkIp>(stack));
  TcpOptions topts;
  uint8_t mode = in.u8();
  topts.sack = (mode & 2) == 0;
  topts.timestamps = (mode & 4) == 0;
  topts.window_scaling = (mode & 8) == 0;
  topts.syn_backlog = 2;
  topts.congestion_control =
      (mode & 16) ? tcp::CongestionAlgorithm::kNewReno : tcp::CongestionAlgorithm::kCubic;
  auto& tcp = install(stack, topts);
  NicId nic = stack.add_nic(std::make_unique<NullLink>(), "eth0").value();
  IpAddress local = Ipv4Address(10, 0, 0, 1);
  IpAddress remote = Ipv4Address(10, 0, 0, 2);
  (void)stack.add_address(nic, IpPrefix{local, 24});

  std::unique_ptr<Endpoint> listener;
  std::unique_ptr<Endpoint> ep;
  uint16_t local_port = 80;
  SeqNum peer_seq(in.u32());
  if (mode & 1) {
    listener = Endpoint::create(stack, AddressFamily::kIpv4);
    (void)listener->bind(SocketAddress{local, 80});
    (void)listener->listen(4);
  } else {
    ep = Endpoint::create(stack, AddressFamily::kIpv4);
    (void)ep->connect(SocketAddress{remote, 5555});
    local_port = ep->local_address()->port;
  }

  std::vector<std::byte> buf(4096);
  int steps = 0;
  while (!in.empty() && steps++ < 2000) {
    uint8_t op = in.u8();
    switch (op % 12) {
      case 0:
      case 1:
      case 2:
      case 3: {  // a segment from the peer
        SegmentHeader h;
        h.source_port = (op & 0x80) ? in.u16() : 5555;
        h.destination_port = local_port;
        h.flags = in.u8();
        uint8_t how = in.u8();
        Connection* c = ep ? ep->connection() : nullptr;
        SeqNum rcv = c ? c->rcv_nxt() : peer_seq;
        SeqNum una = c ? c->snd_una() : ip.last_seq + 1;
        SeqNum nxt = c ? c->snd_nxt() : ip.last_seq + 1;
        int32_t sd = static_cast<int16_t>(in.u16());
        int32_t ad = static_cast<int16_t>(in.u16());
        h.seq = (how & 1) ? SeqNum(in.u32()) : rcv + static_cast<uint32_t>(sd);
        h.ack = (how & 2) ? SeqNum(in.u32()) : ((how & 4) ? una : nxt) + static_cast<uint32_t>(ad);
        if ((how & 6) == 6) h.ack = ip.last_seq + 1;
        h.window = in.u16();
        uint8_t optmask = in.u8();
        if (optmask & 1) h.options.mss = in.u16();
        if (optmask & 2) h.options.window_scale = in.u8();
        if (optmask & 4) h.options.sack_permitted = true;
        if (optmask & 8)
          h.options.timestamps = Timestamps{in.u32(), (optmask & 0x40) ? ip.last_tsval : in.u32()};
        if (optmask & 16) {
          uint8_t n = in.u8() % 4;
          for (uint8_t i = 0; i < n; ++i) {
            SeqNum b = una + static_cast<uint32_t>(static_cast<int16_t>(in.u16()));
            h.options.add_sack({b, b + in.u16()});
          }
        }
        size_t plen = (optmask & 32) ? in.u16() % 3000 : in.u8() % 64;
        ByteView payload = in.bytes(plen);
        PacketBuffer pkt = build_segment(h, PacketBuffer::from_bytes(payload), remote, local);
        if (op & 0x40) {
          // Raw garbage for the options area and header fields too.
          auto mut = pkt.mutable_front(std::min<size_t>(pkt.size(), 20));
          if (mut) store_u8(*mut, 12, in.u8());
        }
        NetworkPacketInfo info;
        info.nic = nic;
        info.source = remote;
        info.destination = local;
        pkt.meta().checksum_verified = (op & 0x20) != 0;
        (void)tcp.handle_packet(info, pkt);
        if ((h.flags & kSyn) && !ep) peer_seq = h.seq + 1;
        break;
      }
      case 4: {  // time passes
        uint32_t ms = in.u16();
        if (op & 0x80) ms *= 16;
        clock.advance(std::chrono::milliseconds(ms));
        stack.run_timers();
        break;
      }
      case 5:
        if (ep) {
          // The bytes never vary, so they are made once per process, not per write. The tail of
          // the block: a read past the data is still a read past a heap block for ASan.
          static const std::vector<std::byte> kFill(20000, std::byte{0x5a});
          const size_t n = in.u16() % kFill.size();
          (void)ep->write(ByteView(kFill).last(n));
        }
        break;
      case 6:
        if (ep) (void)ep->read(std::span(buf).first(in.u16() % buf.size()));
        break;
      case 7:
        if (ep) ep->close();
        break;
      case 8:
        if (ep) (void)ep->shutdown(static_cast<ShutdownHow>(in.u8() % 3));
        break;
      case 9:
        if (ep && (op & 0x80))
          ep->abort();
        else
          ep.reset();
        break;
      case 10:
        if (ep) {
          (void)ep->set_option(static_cast<SocketOption>(in.u8() % 12), in.u16());
        }
        break;
      case 11:
        if (listener) {
          auto r = listener->accept();
          if (r.ok()) ep = std::move(*r);
          local_port = 80;
        }
        break;
    }
    if (ep && ep->connection()) check_invariants(*ep->connection());
  }
  ep.reset();
  listener.reset();
  clock.advance(std::chrono::seconds(200));
  stack.run_timers();
  return 0;
}
