// `weir bench link`: each link endpoint alone, with no IP or TCP on top, against the Linux
// kernel in a network namespace of the bench's own (tools/bench_link_kernel.h), or for DPDK
// against a second port.
//
// One RESULT line per (endpoint, size, direction). Sizes are tools/bench_link_frames.h's: a
// 64-byte frame, an MTU-1500 frame (1514 bytes) and, where the endpoint has segmentation
// offload, a 64 KiB TCP segment. gbps counts Ethernet frame bytes (header included; no FCS,
// preamble or virtio-net header; a 64 KiB frame counts once at its own size). cpu_s is the
// bench thread's CPU over the measured seconds and cpu_ns_per_frame that per frame counted: on
// a shared machine frames/s drop while the thread waits for a core, the CPU per frame hardly.
//
//   tx  The bench thread hands the endpoint batches of 64 copies of one packet through
//       write_packets() for --secs. Per frame it allocates a header chunk, copies the headers
//       in and shares the payload, as the stack's TCP does, so the line is the endpoint plus one
//       small allocation per frame. The frames go to the kernel side's MAC and to 10.212.0.1,
//       which the namespace routes to a blackhole: Linux takes each through its receive path
//       up to the route lookup and drops it without an answer. frames= is what the kernel
//       counted received on its interface, not what weir thinks it sent (sent=; refused= is
//       what write_packets() did not take, from a full ring say, which still cost CPU). cpu_s
//       includes Linux's receive work: a tap's write runs it in the writer's context, and so
//       does the AF_PACKET TX ring's send().
//   rx  A source on the kernel side sends to weir's MAC while the bench thread runs
//       process_receive(64), poll()ing when nothing is there, into a NetworkDispatcher that
//       only counts (frames=). For 64 and 1500 the source is an AF_PACKET socket on the kernel's
//       interface sending prebuilt UDP frames with sendmmsg() and PACKET_QDISC_BYPASS: on a tap
//       that is Linux's transmit toward the reader, on a veth the peer's receive. offered= is
//       what the kernel took from it; offered well above frames= means the endpoint was the
//       bottleneck, about equal means the source was. For 64k the source is a Linux TCP socket
//       streaming to weir's address with TSO, because that is what makes Linux hand a link
//       64 KiB frames (GSO frames injected through AF_PACKET are marked untrusted and cut to
//       MTU size before a tap or veth, neither of which takes untrusted GSO). A stub receiver
//       (TcpSinkStub) acknowledges each receive batch so the sender never waits for the window;
//       frame_bytes= is then the average frame size Linux chose. peer_cpu_s is the source
//       thread's CPU: Linux's work of getting a frame to the endpoint (for a veth up to and
//       including the copy into the packet socket's ring), or the other DPDK port's thread.
//       For 64k, cpu_s also holds some of Linux's: the kernel takes in each ACK, and often
//       sends the next segments, inside the bench thread's write of that ACK.
//
// Endpoints:
//   tap          link/tap without offloads: one read() or writev() per frame, no 64k.
//   tap-offload  link/tap with offloads (virtio-net header, checksums left to the receiver,
//                64 KiB TCP segments both ways).
//   packet       link/packet (AF_PACKET TPACKET_V3 rings) on one end of a veth pair, the kernel
//                on the other; it has no TX segmentation offload, so no 64k tx.
//   tap-ceiling  no weir code: the trivial loop on a tap opened as tap-offload opens it
//                (IFF_VNET_HDR, TUNSETOFFLOAD): write() of one prebuilt frame, read() into one
//                buffer and discard (for 64k rx, plus the stub's ACKs): the tap's own cost
//                with nothing on top, printed beside the tap lines to show how near they are.
//   dpdk         link/dpdk (only when built with DPDK): two net_ring ports back to back in
//                this process, weir's endpoint on one and a second DpdkEndpoint on a thread of
//                its own on the other, as the TX sink and the RX source; no kernel, no root.
//                Both ends poll (net_ring has no interrupts), so cpu_s is a busy core.
#include "tools/bench_link.h"

#include <fcntl.h>
#include <net/if.h>
// After net/if.h: the glibc and kernel interface-flag declarations clash the other way round.
#include <linux/if_tun.h>
#include <poll.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#ifdef WEIR_HAVE_DPDK
#include "link/dpdk.h"
#endif
#include "link/packet.h"
#include "link/tap.h"
#include "link/vnet_header.h"
#include "stack/link_endpoint.h"
#include "stack/packet_buffer.h"
#include "tools/bench_link_frames.h"
#include "tools/bench_link_kernel.h"
#include "tools/bench_net.h"

namespace weir::tools::bench {

namespace {

constexpr size_t kBatch = 64;  // frames per write_packets() and per process_receive()
constexpr timespec kFullLinkPause{0, 20'000};  // after a batch the link did not all take
constexpr uint16_t kStubPort = 5001;
constexpr const char* kKernelMac = "02:62:00:00:00:01";
constexpr const char* kWeirMac = "02:62:00:00:00:02";
constexpr Ipv4Address kKernelIp(10, 211, 0, 1);
constexpr Ipv4Address kWeirIp(10, 211, 0, 2);
constexpr Ipv4Address kBlackholeIp(10, 212, 0, 1);  // routed to a blackhole: the TX sink
constexpr const char* kWeirSide = "wbl0";           // the tap, or weir's end of the veth pair
constexpr const char* kKernelSide = "wbl1";         // the kernel's end of the veth pair

enum class Direction : uint8_t { kTx, kRx };
const char* direction_name(Direction d) { return d == Direction::kTx ? "tx" : "rx"; }

MacAddress kernel_mac() { return MacAddress::parse(kKernelMac).value(); }
MacAddress weir_mac() { return MacAddress::parse(kWeirMac).value(); }

// weir → kernel (tx cases) and kernel → weir (rx cases, and the stub's replies the other way).
Addressing to_kernel() { return {weir_mac(), kernel_mac(), kWeirIp, kBlackholeIp}; }
Addressing to_weir() { return {kernel_mac(), weir_mac(), kKernelIp, kWeirIp}; }

// What a case drives: one of weir's endpoints, or the ceiling's bare tap loop.
class Subject {
 public:
  virtual ~Subject() = default;
  virtual int readable_fd() const = 0;
  // Makes `packet` (to the kernel) what send_batch() sends.
  virtual void prepare(const TestPacket& packet) = 0;
  // Hands the link `count` copies; returns how many it took.
  virtual size_t send_batch(size_t count) = 0;
  // Reads up to `budget` frames into the counters below (and the stub, when set).
  virtual size_t receive(size_t budget) = 0;
  // Sends one IPv4 packet (the stub's reply) to the kernel's MAC.
  virtual void send_reply(ByteView ip_packet) = 0;

  void set_stub(TcpSinkStub* stub) { stub_ = stub; }
  void reset_counts() { rx_frames_ = rx_bytes_ = 0; }
  uint64_t rx_frames() const { return rx_frames_; }
  uint64_t rx_bytes() const { return rx_bytes_; }

 protected:
  // Counts one received frame whose IPv4 packet starts with `front` (at most the headers).
  void count(size_t frame_bytes, ByteView front) {
    ++rx_frames_;
    rx_bytes_ += frame_bytes;
    if (stub_ != nullptr) stub_->observe(front);
  }

 private:
  TcpSinkStub* stub_ = nullptr;
  uint64_t rx_frames_ = 0;
  uint64_t rx_bytes_ = 0;
};

// Enough of a packet for the stub to read its IPv4 and TCP headers, options included.
constexpr size_t kHeaderPeek = 120;

// A weir LinkEndpoint with a dispatcher that counts what it delivers; it sends to `destination`.
class EndpointSubject final : public Subject, private NetworkDispatcher {
 public:
  explicit EndpointSubject(std::unique_ptr<LinkEndpoint> endpoint,
                           MacAddress destination = kernel_mac())
      : endpoint_(std::move(endpoint)), destination_(destination) {
    endpoint_->attach(this);
  }
  ~EndpointSubject() override { endpoint_->attach(nullptr); }

  int readable_fd() const override { return endpoint_->readable_fd(); }

  void prepare(const TestPacket& packet) override {
    headers_ = packet.headers;
    payload_ =
        packet.payload.empty() ? PacketBuffer() : PacketBuffer::from_bytes(packet.payload, 0);
    meta_ = PacketMeta{};
    meta_.network_protocol = kEtherTypeIpv4;
    meta_.link_destination = destination_;
    meta_.needs_checksum = packet.needs_checksum;
    meta_.csum_start = packet.csum_start;
    meta_.csum_offset = packet.csum_offset;
    meta_.gso_type = packet.gso_type;
    meta_.gso_size = packet.gso_size;
  }

  size_t send_batch(size_t count) override {
    batch_.clear();
    for (size_t i = 0; i < count; ++i) {
      PacketBuffer pkt = PacketBuffer::allocate(headers_.size());
      copy_bytes(pkt.mutable_front(headers_.size()).value(), 0, headers_);
      if (!payload_.empty()) pkt.append(payload_.clone());
      pkt.meta() = meta_;
      batch_.push_back(std::move(pkt));
    }
    auto sent = endpoint_->write_packets(batch_);
    return sent ? *sent : 0;
  }

  size_t receive(size_t budget) override { return endpoint_->process_receive(budget); }

  void send_reply(ByteView ip_packet) override {
    PacketBuffer pkt = PacketBuffer::from_bytes(ip_packet);
    pkt.meta().network_protocol = kEtherTypeIpv4;
    pkt.meta().link_destination = destination_;
    (void)endpoint_->write_packets(std::span(&pkt, 1));
  }

 private:
  void deliver_network_packet(PacketBuffer&& pkt) override {
    const size_t size = pkt.size();
    auto front = pkt.front(std::min(size, kHeaderPeek));
    count(size + kEthernetHeaderBytes, front ? *front : ByteView());
  }

  std::unique_ptr<LinkEndpoint> endpoint_;
  MacAddress destination_;
  std::vector<std::byte> headers_;
  PacketBuffer payload_;
  PacketMeta meta_;
  std::vector<PacketBuffer> batch_;
};

// The ceiling: a tap fd with a virtio-net header, and nothing else.
class RawTapSubject final : public Subject {
 public:
  explicit RawTapSubject(UniqueFd fd) : fd_(std::move(fd)), buffer_(kBufferBytes) {}

  int readable_fd() const override { return fd_.get(); }

  void prepare(const TestPacket& packet) override {
    frame_ = build_frame(packet, to_kernel(), /*vnet_header=*/true);
  }

  size_t send_batch(size_t count) override {
    size_t sent = 0;
    for (size_t i = 0; i < count; ++i) {
      if (::write(fd_.get(), frame_.data(), frame_.size()) == static_cast<ssize_t>(frame_.size())) {
        ++sent;
      }
    }
    return sent;
  }

  size_t receive(size_t budget) override {
    size_t n = 0;
    for (; n < budget; ++n) {
      const ssize_t got = ::read(fd_.get(), buffer_.data(), buffer_.size());
      if (got <= static_cast<ssize_t>(link::kVnetHeaderLength + kEthernetHeaderBytes)) break;
      const auto length = static_cast<size_t>(got);
      const ByteView ip = ByteView(buffer_).subspan(
          link::kVnetHeaderLength + kEthernetHeaderBytes,
          std::min(length - link::kVnetHeaderLength - kEthernetHeaderBytes, kHeaderPeek));
      count(length - link::kVnetHeaderLength, ip);
    }
    return n;
  }

  void send_reply(ByteView ip_packet) override {
    TestPacket reply;
    reply.headers.assign(ip_packet.begin(), ip_packet.end());
    const std::vector<std::byte> frame = build_frame(reply, to_kernel(), /*vnet_header=*/true);
    // A lost ACK is made good by the next one, as on any link.
    if (::write(fd_.get(), frame.data(), frame.size()) < 0) return;
  }

 private:
  // A virtio-net header and the largest frame a tap with TSO hands over, with room to spare.
  static constexpr size_t kBufferBytes = 70000;
  UniqueFd fd_;
  std::vector<std::byte> buffer_;
  std::vector<std::byte> frame_;
};

// The other end of the link in a case.
class Peer {
 public:
  virtual ~Peer() = default;
  // tx cases: starts counting what arrives (Linux counts on its own).
  virtual Status start_sink(std::string* message) {
    (void)message;
    return ok_status();
  }
  // Frames received so far (tx cases).
  virtual Result<uint64_t> received_frames() const = 0;
  // rx cases: starts sending copies of `packet` (addressed to_weir()) as fast as it can.
  virtual Status start_frames(const TestPacket& packet, std::string* message) = 0;
  // rx 64k: starts a Linux TCP sender toward weir's address; only Linux has one.
  virtual Status start_tcp(std::string* message) {
    if (message) *message = "no TCP sender on this peer";
    return Error::kNotSupported;
  }
  struct Stopped {
    std::optional<uint64_t> offered;  // frames the source's link took
    double cpu_seconds = 0;           // the peer thread's CPU
    std::string failure;
  };
  // Stops whatever was started.
  virtual Stopped stop() = 0;
};

// Linux on the other end: its interface counters are the TX sink; an AF_PACKET blaster or a
// TCP socket in the namespace is the RX source.
class KernelPeer final : public Peer {
 public:
  explicit KernelPeer(std::string interface) : interface_(std::move(interface)) {}

  Result<uint64_t> received_frames() const override {
    auto c = interface_counters(interface_);
    if (!c) return c.error();
    return c->rx_packets;
  }

  Status start_frames(const TestPacket& packet, std::string* message) override {
    auto blaster = PacketBlaster::open(interface_, build_frame(packet, to_weir(), false), message);
    if (!blaster) return blaster.error();
    blaster_ = std::move(*blaster);
    blaster_->start();
    return ok_status();
  }

  Status start_tcp(std::string* message) override {
    tcp_ = std::make_unique<TcpStreamer>();
    return tcp_->start(kWeirIp, kStubPort, message);
  }

  Stopped stop() override {
    Stopped s;
    if (blaster_) {
      blaster_->stop();
      s.offered = blaster_->frames();
      s.cpu_seconds = blaster_->cpu_seconds();
      blaster_.reset();
    }
    if (tcp_) {
      tcp_->stop();
      s.cpu_seconds = tcp_->cpu_seconds();
      s.failure = tcp_->failure();
      tcp_.reset();
    }
    return s;
  }

 private:
  std::string interface_;
  std::unique_ptr<PacketBlaster> blaster_;
  std::unique_ptr<TcpStreamer> tcp_;
};

// Another weir endpoint on the other end (a DPDK ring port), driven by a thread of its own
// exactly as the subject is driven: write_packets() batches as the RX source,
// process_receive() into a counting dispatcher as the TX sink.
class EndpointPeer final : public Peer {
 public:
  explicit EndpointPeer(std::unique_ptr<Subject> side) : side_(std::move(side)) {}
  ~EndpointPeer() override { (void)stop(); }

  Status start_sink(std::string* message) override {
    (void)message;
    start([this] {
      if (side_->receive(kBatch) > 0) {
        received_.store(side_->rx_frames(), std::memory_order_relaxed);
      }
    });
    return ok_status();
  }

  Result<uint64_t> received_frames() const override {
    return received_.load(std::memory_order_relaxed);
  }

  Status start_frames(const TestPacket& packet, std::string* message) override {
    (void)message;
    side_->prepare(packet);
    offered_ = 0;
    start([this] {
      const size_t accepted = side_->send_batch(kBatch);
      offered_ += accepted;
      if (accepted < kBatch) ::nanosleep(&kFullLinkPause, nullptr);  // as the subject does
    });
    return ok_status();
  }

  Stopped stop() override {
    Stopped s;
    if (!thread_.joinable()) return s;
    stop_.store(true);
    thread_.join();
    s.cpu_seconds = cpu_seconds_;
    if (offered_ > 0) s.offered = offered_;
    return s;
  }

 private:
  void start(std::function<void()> step) {
    side_->reset_counts();
    received_.store(0);
    stop_.store(false);
    thread_ = std::thread([this, step = std::move(step)] {
      (void)::prctl(PR_SET_TIMERSLACK, 1000UL);  // timer slack is per thread
      const double cpu0 = thread_cpu_seconds();
      while (!stop_.load(std::memory_order_relaxed)) step();
      cpu_seconds_ = thread_cpu_seconds() - cpu0;
    });
  }

  std::unique_ptr<Subject> side_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> received_{0};
  uint64_t offered_ = 0;    // written by the thread, read after join
  double cpu_seconds_ = 0;  // likewise
  std::thread thread_;
};

// One endpoint, opened and wired to the kernel, for all of its cases.
struct Bench {
  std::unique_ptr<Subject> subject;
  std::unique_ptr<Peer> peer;
  bool offloads = false;  // frames carry offload requests (checksum left to the receiver)
};

struct EndpointSpec {
  const char* name;
  bool needs_root;  // namespaces, taps, AF_PACKET
  bool needs_tun;
  bool tx_64k;
  bool rx_64k;
  Result<Bench> (*open)(std::string* message);
};

// The namespace every endpoint starts from: fresh, IPv6 off (no router solicitations or MLD
// reports among the counted frames), forwarding on so that frames to the blackhole are dropped
// silently (with forwarding off Linux answers them with ICMP host unreachable).
Status prepare_namespace(std::string* message) {
  WEIR_TRY(enter_private_netns(message));
  for (const char* path : {"/proc/sys/net/ipv6/conf/all/disable_ipv6",
                           "/proc/sys/net/ipv6/conf/default/disable_ipv6"}) {
    (void)write_sysctl(path, "1", nullptr);  // a kernel without IPv6 has nothing to turn off
  }
  return write_sysctl("/proc/sys/net/ipv4/ip_forward", "1", message);
}

// The kernel side of `interface`: its MAC and address, up, the blackhole that sinks weir's
// frames, and weir's MAC as a permanent neighbour (no ARP before the TCP source can send).
Status configure_kernel_side(const std::string& interface, std::string* message) {
  WEIR_TRY(run_ip({"link", "set", interface, "address", kKernelMac}, message));
  WEIR_TRY(run_ip({"addr", "add", kKernelIp.to_string() + "/24", "dev", interface}, message));
  WEIR_TRY(run_ip({"link", "set", interface, "up"}, message));
  WEIR_TRY(run_ip({"route", "add", "blackhole", "10.212.0.0/24"}, message));
  return run_ip({"neigh", "add", kWeirIp.to_string(), "lladdr", kWeirMac, "dev", interface, "nud",
                 "permanent"},
                message);
}

Result<Bench> open_tap(bool offloads, std::string* message) {
  WEIR_TRY(prepare_namespace(message));
  link::TapOptions options;
  options.name = kWeirSide;
  options.mtu = 1500;
  options.mac = weir_mac();
  options.offloads = offloads;
  auto tap = link::TapEndpoint::open(options, message);
  if (!tap) return tap.error();
  if (offloads && !(*tap)->offloads()) {
    if (message) *message = "tap: the kernel refused TUNSETOFFLOAD";
    return Error::kNotSupported;
  }
  WEIR_TRY(configure_kernel_side(kWeirSide, message));
  Bench bench;
  bench.subject = std::make_unique<EndpointSubject>(std::move(*tap));
  bench.peer = std::make_unique<KernelPeer>(kWeirSide);
  bench.offloads = offloads;
  return bench;
}

Result<Bench> open_tap_plain(std::string* message) { return open_tap(false, message); }
Result<Bench> open_tap_offload(std::string* message) { return open_tap(true, message); }

Result<Bench> open_packet(std::string* message) {
  WEIR_TRY(prepare_namespace(message));
  WEIR_TRY(
      run_ip({"link", "add", kWeirSide, "type", "veth", "peer", "name", kKernelSide}, message));
  WEIR_TRY(configure_kernel_side(kKernelSide, message));
  auto endpoint = link::PacketSocketEndpoint::open(
      {.interface = kWeirSide, .mac = weir_mac(), .bring_up = true}, message);
  if (!endpoint) return endpoint.error();
  Bench bench;
  bench.subject = std::make_unique<EndpointSubject>(std::move(*endpoint));
  bench.peer = std::make_unique<KernelPeer>(kKernelSide);
  return bench;
}

Result<Bench> open_tap_ceiling(std::string* message) {
  WEIR_TRY(prepare_namespace(message));
  auto fail = [message](const std::string& what) -> Error {
    const int err = errno;
    if (message) *message = "tap-ceiling: " + what + ": " + std::strerror(err);
    return error_from_errno(err);
  };
  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (!fd) return fail("cannot open /dev/net/tun");
  ifreq ifr{};
  std::memcpy(ifr.ifr_name, kWeirSide, std::strlen(kWeirSide));
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) return fail("TUNSETIFF");
  int header = static_cast<int>(link::kVnetHeaderLength);
  if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &header) != 0) return fail("TUNSETVNETHDRSZ");
  const unsigned long features = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
  if (::ioctl(fd.get(), TUNSETOFFLOAD, features) != 0) {
    return fail("TUNSETOFFLOAD");
  }
  WEIR_TRY(run_ip({"link", "set", kWeirSide, "mtu", "1500"}, message));
  WEIR_TRY(configure_kernel_side(kWeirSide, message));
  Bench bench;
  bench.subject = std::make_unique<RawTapSubject>(std::move(fd));
  bench.peer = std::make_unique<KernelPeer>(kWeirSide);
  bench.offloads = true;
  return bench;
}

#ifdef WEIR_HAVE_DPDK
// Two DPDK net_ring ports back to back (link/dpdk.h's ring pair): weir's endpoint on one, and on
// the other a second DpdkEndpoint driven by a thread of its own (EndpointPeer); no kernel and
// no root. The EAL starts once per process and pins the thread that starts it to CPU 0 (-l 0 in
// kDefaultEalArgs); the bench gives the thread back its CPUs so the peer thread, which inherits
// them, can run beside it, and runs this endpoint last.
Result<Bench> open_dpdk(std::string* message) {
  cpu_set_t cpus;
  const bool had_cpus = ::sched_getaffinity(0, sizeof cpus, &cpus) == 0;
  link::DpdkOptions a;
  // Without the telemetry thread, which would print onto the RESULT lines and take CPU.
  a.eal_args = std::string(link::kDefaultEalArgs) + " --no-telemetry";
  a.mac = weir_mac();
  link::DpdkOptions b;
  b.mac = kernel_mac();
  auto pair = link::open_dpdk_ring_pair(a, b, message);
  if (had_cpus) (void)::sched_setaffinity(0, sizeof cpus, &cpus);
  if (!pair) return pair.error();
  if (pair->a->mtu() < 1500 || pair->b->mtu() < 1500) {
    if (message) *message = "dpdk: the ring ports' MTU is below 1500";
    return Error::kNotSupported;
  }
  Bench bench;
  bench.subject = std::make_unique<EndpointSubject>(std::move(pair->a), kernel_mac());
  bench.peer = std::make_unique<EndpointPeer>(
      std::make_unique<EndpointSubject>(std::move(pair->b), weir_mac()));
  return bench;
}
#endif

const std::vector<EndpointSpec>& endpoint_specs() {
  static const std::vector<EndpointSpec> specs = {
      {"tap", true, true, false, false, open_tap_plain},
      {"tap-offload", true, true, true, true, open_tap_offload},
      {"packet", true, false, false, true, open_packet},
      {"tap-ceiling", true, true, true, true, open_tap_ceiling},
#ifdef WEIR_HAVE_DPDK
      {"dpdk", false, false, false, false, open_dpdk},  // last: see open_dpdk
#endif
  };
  return specs;
}

struct Case {
  FrameSize size;
  Direction direction;
};

struct Measurement {
  uint64_t frames = 0;
  uint64_t bytes = 0;
  double secs = 0;
  double cpu_seconds = 0;
  double peer_cpu_seconds = 0;
  std::optional<uint64_t> sent;     // tx: frames the endpoint accepted
  uint64_t refused = 0;             // tx: frames it did not (a full queue or ring)
  std::optional<uint64_t> offered;  // rx: frames the blaster handed the kernel
};

std::string prefix(const EndpointSpec& spec, const Case& c) {
  return std::string("RESULT peer=") +
         (std::strcmp(spec.name, "tap-ceiling") == 0 ? "none" : "weir") +
         " test=link endpoint=" + spec.name + " size=" + frame_size_name(c.size) +
         " dir=" + direction_name(c.direction);
}

void print_line(std::string line, const std::string& label) {
  if (!label.empty()) line += " label=" + label;
  std::printf("%s\n", line.c_str());
  std::fflush(stdout);
}

void print_result(const EndpointSpec& spec, const Case& c, const Measurement& m,
                  const std::string& label) {
  const double fps = static_cast<double>(m.frames) / m.secs;
  char fields[512];
  // cpu_ns_per_frame is the figure that survives a busy machine: frames/s fall when the
  // thread waits for a core, the CPU each frame took does not (much).
  std::snprintf(fields, sizeof fields,
                " frame_bytes=%" PRIu64 " frames=%" PRIu64
                " secs=%.3f mfps=%.3f gbps=%.3f cpu_s=%.3f cpu_ns_per_frame=%.0f peer_cpu_s=%.3f",
                m.bytes / m.frames, m.frames, m.secs, fps / 1e6,
                static_cast<double>(m.bytes) * 8 / m.secs / 1e9, m.cpu_seconds,
                m.cpu_seconds * 1e9 / static_cast<double>(m.frames), m.peer_cpu_seconds);
  std::string line = prefix(spec, c) + fields;
  if (m.sent) line += " sent=" + std::to_string(*m.sent) + " refused=" + std::to_string(m.refused);
  if (m.offered) line += " offered=" + std::to_string(*m.offered);
  print_line(line, label);
}

void print_failure(const EndpointSpec& spec, const Case& c, const std::string& why,
                   const std::string& label) {
  std::string reason = why;
  std::replace(reason.begin(), reason.end(), ' ', '_');
  print_line(prefix(spec, c) + " error=" + reason, label);
  std::fprintf(stderr, "weir bench link: %s %s %s: %s\n", spec.name, frame_size_name(c.size),
               direction_name(c.direction), why.c_str());
}

// Reads and throws away whatever the link holds (the last case's frames in flight).
void drain(Subject& subject) {
  const double until = monotonic_seconds() + 0.05;
  while (monotonic_seconds() < until) {
    if (subject.receive(kBatch) == 0) {
      if (subject.readable_fd() < 0) break;  // a polled link: empty now is empty
      pollfd p{subject.readable_fd(), POLLIN, 0};
      if (::poll(&p, 1, 5) <= 0) break;
    }
  }
  subject.reset_counts();
}

Result<Measurement> measure_tx(Bench& bench, FrameSize size, double secs, std::string* message) {
  Subject& subject = *bench.subject;
  const TestPacket packet = build_test_packet(size, to_kernel(), bench.offloads);
  subject.prepare(packet);
  WEIR_TRY(bench.peer->start_sink(message));
  auto before = bench.peer->received_frames();
  if (!before) {
    if (message) *message = "cannot read the kernel's interface counters";
    return before.error();
  }
  Measurement m;
  uint64_t sent = 0;
  const double cpu0 = thread_cpu_seconds();
  const double t0 = monotonic_seconds();
  const double end = t0 + secs;
  double now = t0;
  uint64_t attempts = 0;
  while (now < end) {
    const size_t accepted = subject.send_batch(kBatch);
    sent += accepted;
    attempts += kBatch;
    // A link that refused part of a batch is full (a DPDK ring the peer has not drained yet):
    // wait a moment, as a stack waits for its next event, rather than spend the core (and the
    // peer's, on the mbuf pool they share) building frames the link cannot take.
    if (accepted < kBatch) ::nanosleep(&kFullLinkPause, nullptr);
    now = monotonic_seconds();
  }
  m.secs = now - t0;
  m.cpu_seconds = thread_cpu_seconds() - cpu0;
  // The AF_PACKET ring may still hold frames the kernel has not sent, a DPDK ring frames the
  // peer has not read.
  ::usleep(20'000);
  auto after = bench.peer->received_frames();
  m.peer_cpu_seconds = bench.peer->stop().cpu_seconds;
  if (!after) {
    if (message) *message = "cannot read the kernel's interface counters";
    return after.error();
  }
  m.frames = *after - *before;
  m.bytes = m.frames * (kEthernetHeaderBytes + packet.ip_size());
  m.sent = sent;
  m.refused = attempts - sent;
  return m;
}

Result<Measurement> measure_rx(Bench& bench, FrameSize size, double secs, std::string* message) {
  Subject& subject = *bench.subject;
  drain(subject);
  std::optional<TcpSinkStub> stub;
  if (size == FrameSize::k64k) {
    stub.emplace(kWeirIp, kStubPort);
    subject.set_stub(&*stub);
    WEIR_TRY(bench.peer->start_tcp(message));
  } else {
    const TestPacket packet = build_test_packet(size, to_weir(), bench.offloads);
    WEIR_TRY(bench.peer->start_frames(packet, message));
  }
  // Runs the receive loop until `until`; replies go out once per batch.
  auto run = [&](double until, bool until_first_frame) {
    double now = monotonic_seconds();
    while (now < until) {
      const size_t n = subject.receive(kBatch);
      if (stub) {
        if (auto reply = stub->take_reply()) subject.send_reply(*reply);
      }
      if (n == 0 && subject.readable_fd() >= 0) {
        pollfd p{subject.readable_fd(), POLLIN, 0};
        ::poll(&p, 1, 1);
      }  // a link without an fd is polled: busy, as DPDK's poll mode is
      if (until_first_frame && subject.rx_frames() > 0 && (!stub || stub->connected())) break;
      now = monotonic_seconds();
    }
    return now;
  };
  // Warm up: the first frame (a TCP handshake may wait out one lost SYN), then a little more
  // so queues and the TCP sender's window reach their steady state before counting starts.
  run(monotonic_seconds() + 3.0, true);
  const bool arrived = subject.rx_frames() > 0;
  if (arrived) run(monotonic_seconds() + std::min(0.2, secs / 4), false);
  subject.reset_counts();
  Measurement m;
  const double cpu0 = thread_cpu_seconds();
  const double t0 = monotonic_seconds();
  if (arrived) m.secs = run(t0 + secs, false) - t0;
  m.cpu_seconds = thread_cpu_seconds() - cpu0;
  m.frames = subject.rx_frames();
  m.bytes = subject.rx_bytes();
  Peer::Stopped stopped = bench.peer->stop();
  subject.set_stub(nullptr);
  drain(subject);
  m.peer_cpu_seconds = stopped.cpu_seconds;
  m.offered = stopped.offered;
  if (!arrived) {
    if (message) {
      *message = stopped.failure.empty() ? "no frame arrived within 3 s" : stopped.failure;
    }
    return Error::kTimedOut;
  }
  return m;
}

std::vector<Case> cases_of(const EndpointSpec& spec, const LinkBenchOptions& options) {
  auto selected = [](const std::vector<std::string>& filter, const std::string& value) {
    return filter.empty() || std::find(filter.begin(), filter.end(), value) != filter.end();
  };
  std::vector<Case> cases;
  for (FrameSize size : {FrameSize::k64, FrameSize::k1500, FrameSize::k64k}) {
    if (!selected(options.sizes, frame_size_name(size))) continue;
    for (Direction d : {Direction::kTx, Direction::kRx}) {
      if (!selected(options.directions, direction_name(d))) continue;
      if (size == FrameSize::k64k && !(d == Direction::kTx ? spec.tx_64k : spec.rx_64k)) continue;
      cases.push_back({size, d});
    }
  }
  return cases;
}

}  // namespace

CLI::App* add_link_subcommand(CLI::App* bench, LinkBenchOptions& options) {
  std::vector<std::string> names;
  for (const auto& spec : endpoint_specs()) names.push_back(spec.name);
  auto* link = bench->add_subcommand(
      "link",
      "Frames/s and Gbit/s through each link endpoint alone (no IP or TCP on top) against the\n"
      "Linux kernel, in a network namespace of its own: 64-byte frames, MTU-1500 frames and\n"
      "64 KiB offloaded segments, each way. Endpoints: tap (no offloads), tap-offload,\n"
      "packet (AF_PACKET on a veth), tap-ceiling (a bare read()/write() loop on a tap: the\n"
      "tap's own limit, no weir code)"
#ifdef WEIR_HAVE_DPDK
      ",\ndpdk (two net_ring ports, no kernel). One RESULT line per case. Needs root (dpdk\n"
      "does not)."
#else
      ".\nOne RESULT line per case. Needs root."
#endif
  );
  link->fallthrough();
  link->add_option("--secs", options.secs, "Measured seconds per case")
      ->check(CLI::Range(0.05, 600.0))
      ->capture_default_str();
  link->add_option("--endpoint", options.endpoints, "Only these endpoints (repeatable)")
      ->check(CLI::IsMember(names));
  link->add_option("--size", options.sizes, "Only these frame sizes (repeatable)")
      ->check(CLI::IsMember({"64", "1500", "64k"}));
  link->add_option("--dir", options.directions, "Only this direction (tx: weir sends)")
      ->check(CLI::IsMember({"tx", "rx"}));
  return link;
}

int run_link(const LinkBenchOptions& options) {
  struct Planned {
    const EndpointSpec* spec;
    std::vector<Case> cases;
  };
  std::vector<Planned> plan;
  for (const auto& spec : endpoint_specs()) {
    if (!options.endpoints.empty() && std::find(options.endpoints.begin(), options.endpoints.end(),
                                                spec.name) == options.endpoints.end()) {
      continue;
    }
    auto cases = cases_of(spec, options);
    if (!cases.empty()) plan.push_back({&spec, std::move(cases)});
  }
  if (plan.empty()) {
    throw CLI::ValidationError("--endpoint/--size/--dir",
                               "select no case (64k tx needs an endpoint with segmentation "
                               "offload: tap-offload or tap-ceiling)");
  }

  // The pause after a refused batch is 20 µs, not the default 50 µs of timer slack more.
  (void)::prctl(PR_SET_TIMERSLACK, 1000UL);
  const bool root = ::geteuid() == 0;
  const bool tun = ::access("/dev/net/tun", R_OK | W_OK) == 0;
  int status = 0;
  for (const Planned& p : plan) {
    const EndpointSpec& spec = *p.spec;
    std::string skip;
    if (!root && spec.needs_root) {
      skip = "needs root (network namespaces, taps, AF_PACKET); run as root";
    }
    if (skip.empty() && spec.needs_tun && !tun) {
      skip = "/dev/net/tun is missing or not usable; load the tun module";
    }
    if (!skip.empty()) {
      for (const Case& c : p.cases) {
        std::fprintf(stderr, "weir bench link: skipped %s %s %s: %s\n", spec.name,
                     frame_size_name(c.size), direction_name(c.direction), skip.c_str());
      }
      continue;
    }
    std::string message;
    auto bench = spec.open(&message);
    if (!bench) {
      for (const Case& c : p.cases) print_failure(spec, c, message, options.label);
      status = 1;
      continue;
    }
    for (const Case& c : p.cases) {
      message.clear();
      auto m = c.direction == Direction::kTx ? measure_tx(*bench, c.size, options.secs, &message)
                                             : measure_rx(*bench, c.size, options.secs, &message);
      if (!m) {
        print_failure(spec, c, message.empty() ? std::string(error_name(m.error())) : message,
                      options.label);
        status = 1;
        continue;
      }
      if (m->frames == 0) {
        print_failure(spec, c, "no frame got through", options.label);
        status = 1;
        continue;
      }
      print_result(spec, c, *m, options.label);
    }
  }
  return status;
}

}  // namespace weir::tools::bench
