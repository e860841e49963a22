#include "link/packet.h"

#include <arpa/inet.h>
#include <net/if.h>
// After net/if.h: the glibc and kernel interface-flag declarations clash the other way round.
#include <linux/if_arp.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <cstddef>
#include <cstring>

#include "link/ethernet.h"
#include "link/netns.h"
#include "stack/rng.h"

namespace weir::link {

// The rings: one shared mapping of the socket's RX ring followed by its TX ring. Unmapped when
// the endpoint goes, before the socket is closed.
class PacketSocketEndpoint::Mapping {
 public:
  Mapping(void* address, size_t size) : address_(address), size_(size) {}
  ~Mapping() { ::munmap(address_, size_); }
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  // static_cast from void* names the mapping's bytes; nothing is cast to a struct.
  MutableByteView bytes() { return {static_cast<std::byte*>(address_), size_}; }

 private:
  void* address_;
  size_t size_;
};

namespace {

constexpr size_t kBlockHeaderLength = sizeof(tpacket_block_desc);
// The sockaddr_ll the kernel writes behind each frame header, at the aligned end of it.
constexpr size_t kFrameAddressOffset = TPACKET_ALIGN(sizeof(tpacket3_hdr));
constexpr size_t kFrameMetaLength = kFrameAddressOffset + sizeof(sockaddr_ll);  // TPACKET3_HDRLEN
// Where a TX slot's frame starts (without PACKET_TX_HAS_OFF): the kernel's tp_hdrlen minus the
// sockaddr_ll, i.e. right after the aligned tpacket3_hdr.
constexpr size_t kTxDataOffset = kFrameAddressOffset;

constexpr size_t kBlockStatus = offsetof(tpacket_block_desc, hdr.bh1.block_status);
constexpr size_t kBlockNumPackets = offsetof(tpacket_block_desc, hdr.bh1.num_pkts);
constexpr size_t kBlockFirstOffset = offsetof(tpacket_block_desc, hdr.bh1.offset_to_first_pkt);
constexpr size_t kBlockLength = offsetof(tpacket_block_desc, hdr.bh1.blk_len);
constexpr size_t kFrameNextOffset = offsetof(tpacket3_hdr, tp_next_offset);
constexpr size_t kFrameSnaplen = offsetof(tpacket3_hdr, tp_snaplen);
constexpr size_t kFrameLen = offsetof(tpacket3_hdr, tp_len);
constexpr size_t kFrameStatus = offsetof(tpacket3_hdr, tp_status);
constexpr size_t kFrameMac = offsetof(tpacket3_hdr, tp_mac);
constexpr size_t kFramePktType = kFrameAddressOffset + offsetof(sockaddr_ll, sll_pkttype);

// Native-endian loads and stores of kernel struct fields in shared memory: memcpy from a span
// whose subspan() has already proven the bytes exist (and _GLIBCXX_ASSERTIONS checks it).
uint32_t load_u32(ByteView b, size_t offset) {
  uint32_t v;
  std::memcpy(&v, b.subspan(offset, sizeof v).data(), sizeof v);
  return v;
}
uint16_t load_u16(ByteView b, size_t offset) {
  uint16_t v;
  std::memcpy(&v, b.subspan(offset, sizeof v).data(), sizeof v);
  return v;
}
void store_u32(MutableByteView b, size_t offset, uint32_t v) {
  std::memcpy(b.subspan(offset, sizeof v).data(), &v, sizeof v);
}

// Status words hand a block or slot between the kernel and us. The kernel fills a block, then
// issues a write barrier and sets the status; we read the status, then fence before reading
// what it guards. Handing back, we fence so our reads and writes of the block are done before
// the kernel can see the new status. The fences are also compiler barriers, so the status is
// re-read from memory every time.
uint32_t load_status(ByteView b, size_t offset) {
  const uint32_t v = load_u32(b, offset);
  std::atomic_thread_fence(std::memory_order_acquire);
  return v;
}
void store_status(MutableByteView b, size_t offset, uint32_t v) {
  std::atomic_thread_fence(std::memory_order_release);
  store_u32(b, offset, v);
  std::atomic_thread_fence(std::memory_order_seq_cst);
}

std::string errno_text(int err) { return std::strerror(err); }

MacAddress random_local_mac() {
  Rng rng = Rng::from_entropy();
  std::array<uint8_t, 6> octets{};
  rng.fill(std::as_writable_bytes(std::span(octets)));
  octets[0] = static_cast<uint8_t>((octets[0] & 0xfe) | 0x02);  // unicast, locally administered
  return MacAddress(octets);
}

// Socket addresses for the kernel API, without casting between sockaddr types.
union LinkAddress {
  sockaddr generic;
  sockaddr_ll ll;
};

bool is_page_multiple(uint64_t n) {
  const auto page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  return n != 0 && n % page == 0;
}

std::string check_options(const PacketSocketOptions& o) {
  if (o.interface.empty() || o.interface.size() >= IFNAMSIZ) {
    return "packet: interface name '" + o.interface + "' must be 1 to " +
           std::to_string(IFNAMSIZ - 1) + " characters";
  }
  if (o.mac && (o.mac->is_multicast() || o.mac->is_zero())) {
    return "packet: MAC " + o.mac->to_string() + " is not a unicast address";
  }
  if (!is_page_multiple(o.rx_block_size) || o.rx_block_size < 8192 ||
      o.rx_block_size > (1u << 26)) {
    return "packet: receive block size " + std::to_string(o.rx_block_size) +
           " must be a multiple of the page size between 8 KiB and 64 MiB";
  }
  if (o.rx_block_count < 2 || o.rx_block_count > 4096) {
    return "packet: receive block count " + std::to_string(o.rx_block_count) +
           " must be 2 to 4096 (one block is the kernel's while we read another)";
  }
  if (uint64_t{o.rx_block_size} * o.rx_block_count > (1ull << 30)) {
    return "packet: a receive ring of " + std::to_string(o.rx_block_count) + " blocks of " +
           std::to_string(o.rx_block_size) + " bytes is over 1 GiB";
  }
  if (o.rx_block_timeout_ms < 1 || o.rx_block_timeout_ms > 1000) {
    return "packet: receive block timeout " + std::to_string(o.rx_block_timeout_ms) +
           " ms must be 1 to 1000 ms";
  }
  if (o.tx_frame_count < 16 || o.tx_frame_count > 65536) {
    return "packet: transmit ring of " + std::to_string(o.tx_frame_count) +
           " frames must have 16 to 65536";
  }
  return {};
}

}  // namespace

uint32_t ring_block_status(ByteView block) { return load_u32(block, kBlockStatus); }

Result<RingBlockHeader> parse_ring_block(ByteView block) {
  if (block.size() < kBlockHeaderLength) return Error::kBadMessage;
  RingBlockHeader h;
  h.status = load_u32(block, kBlockStatus);
  h.frame_count = load_u32(block, kBlockNumPackets);
  h.first_frame_offset = load_u32(block, kBlockFirstOffset);
  h.used_length = load_u32(block, kBlockLength);
  if (h.used_length > block.size()) return Error::kBadMessage;
  if (h.frame_count != 0) {
    // The first frame lies behind the block header and leaves room for its own header.
    if (h.first_frame_offset < kBlockHeaderLength ||
        uint64_t{h.first_frame_offset} + kFrameMetaLength > h.used_length) {
      return Error::kBadMessage;
    }
  }
  return h;
}

Result<RingFrame> parse_ring_frame(ByteView block, size_t used_length, size_t offset) {
  if (used_length > block.size() || offset > used_length ||
      used_length - offset < kFrameMetaLength) {
    return Error::kBadMessage;
  }
  const ByteView frame = block.subspan(offset, used_length - offset);
  RingFrame f;
  f.next_offset = load_u32(frame, kFrameNextOffset);
  f.status = load_u32(frame, kFrameStatus);
  f.wire_length = load_u32(frame, kFrameLen);
  f.packet_type = std::to_integer<uint8_t>(frame[kFramePktType]);
  const uint32_t snaplen = load_u32(frame, kFrameSnaplen);
  const uint16_t mac = load_u16(frame, kFrameMac);
  // The frame's bytes start behind its own header and address, and end inside the block.
  if (mac < kFrameMetaLength || uint64_t{mac} + snaplen > frame.size()) return Error::kBadMessage;
  // A next frame must start behind this one's bytes (so the walk always moves forward and
  // frames never overlap) and inside the used part of the block.
  if (f.next_offset != 0 &&
      (f.next_offset < uint64_t{mac} + snaplen || f.next_offset >= frame.size())) {
    return Error::kBadMessage;
  }
  f.bytes = frame.subspan(mac, snaplen);
  return f;
}

Result<std::unique_ptr<PacketSocketEndpoint>> PacketSocketEndpoint::open(
    const PacketSocketOptions& options, std::string* message) {
  auto fail = [message](Error e, std::string text) -> Error {
    if (message) *message = std::move(text);
    return e;
  };
  if (std::string problem = check_options(options); !problem.empty()) {
    return fail(Error::kInvalidArgument, std::move(problem));
  }
  const std::string& name = options.interface;

  NetnsScope netns;
  if (!options.netns.empty()) WEIR_TRY(netns.enter(options.netns, "packet", message));

  const unsigned ifindex = ::if_nametoindex(name.c_str());
  if (ifindex == 0) {
    return fail(Error::kNoDevice,
                "packet: no interface named '" + name + "'" +
                    (options.netns.empty() ? "" : " in network namespace " + options.netns) +
                    "; create it first (e.g. ip link add " + name + " type veth peer name PEER)");
  }

  // Protocol 0: nothing is received until bind() below, after the ring exists.
  UniqueFd fd(::socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == EPERM || err == EACCES) {
      return fail(error_from_errno(err), "packet: not permitted to open an AF_PACKET socket (" +
                                             errno_text(err) +
                                             "); run as root or with CAP_NET_RAW");
    }
    if (err == EAFNOSUPPORT) {
      return fail(Error::kNotSupported,
                  "packet: this kernel has no AF_PACKET sockets (CONFIG_PACKET)");
    }
    return fail(error_from_errno(err),
                "packet: cannot open an AF_PACKET socket: " + errno_text(err));
  }
  auto set_option = [&](int option, const void* value, socklen_t length,
                        const char* what) -> Status {
    if (::setsockopt(fd.get(), SOL_PACKET, option, value, length) == 0) return ok_status();
    const int err = errno;
    return fail(error_from_errno(err),
                std::string("packet: cannot ") + what + " on '" + name + "': " + errno_text(err));
  };

  ifreq req{};
  std::memcpy(req.ifr_name, name.data(), name.size());
  if (::ioctl(fd.get(), SIOCGIFHWADDR, &req) != 0) {
    const int err = errno;
    return fail(error_from_errno(err),
                "packet: cannot read the link type of '" + name + "': " + errno_text(err));
  }
  if (req.ifr_hwaddr.sa_family != ARPHRD_ETHER) {
    return fail(Error::kNotSupported, "packet: '" + name + "' is not an Ethernet interface " +
                                          "(link type " + std::to_string(req.ifr_hwaddr.sa_family) +
                                          "); weir frames Ethernet II only");
  }
  if (::ioctl(fd.get(), SIOCGIFMTU, &req) != 0) {
    const int err = errno;
    return fail(error_from_errno(err),
                "packet: cannot read the MTU of '" + name + "': " + errno_text(err));
  }
  const auto mtu = static_cast<uint32_t>(req.ifr_mtu);
  if (options.bring_up) {
    if (::ioctl(fd.get(), SIOCGIFFLAGS, &req) != 0 ||
        ((req.ifr_flags & IFF_UP) == 0 &&
         (req.ifr_flags |= IFF_UP, ::ioctl(fd.get(), SIOCSIFFLAGS, &req) != 0))) {
      const int err = errno;
      return fail(error_from_errno(err), "packet: cannot set '" + name +
                                             "' up: " + errno_text(err) + " (needs CAP_NET_ADMIN)");
    }
  }

  const int version = TPACKET_V3;
  WEIR_TRY(set_option(PACKET_VERSION, &version, sizeof version,
                      "switch to TPACKET_V3 (kernel 3.2 or later)"));
  const int one = 1;
  WEIR_TRY(set_option(PACKET_LOSS, &one, sizeof one, "set PACKET_LOSS"));
  // Best effort: kernels before 4.20 lack it, and outgoing frames are dropped on receive anyway.
  (void)::setsockopt(fd.get(), SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  WEIR_TRY(set_option(PACKET_QDISC_BYPASS, &one, sizeof one, "set PACKET_QDISC_BYPASS"));

  Geometry g;
  g.rx_block_size = options.rx_block_size;
  g.rx_block_count = options.rx_block_count;
  // A slot holds the aligned frame header and a whole frame of the MTU; a power of two keeps
  // slots from straddling pages, and a block of at least 64 KiB keeps the block count small.
  g.tx_frame_size = std::bit_ceil(kTxDataOffset + kEthernetHeaderLength + size_t{mtu});
  const auto page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  g.tx_block_size = std::max({g.tx_frame_size, size_t{1} << 16, page});
  g.tx_frames_per_block = g.tx_block_size / g.tx_frame_size;
  const size_t tx_blocks =
      (options.tx_frame_count + g.tx_frames_per_block - 1) / g.tx_frames_per_block;
  g.tx_frame_count = tx_blocks * g.tx_frames_per_block;

  tpacket_req3 rx{};
  rx.tp_block_size = static_cast<unsigned>(g.rx_block_size);
  rx.tp_block_nr = static_cast<unsigned>(g.rx_block_count);
  // V3 frames are variable-sized; tp_frame_size only has to divide the block for the kernel's
  // bookkeeping.
  rx.tp_frame_size = TPACKET_ALIGNMENT << 7;
  rx.tp_frame_nr = static_cast<unsigned>(g.rx_block_size / rx.tp_frame_size * g.rx_block_count);
  rx.tp_retire_blk_tov = options.rx_block_timeout_ms;
  WEIR_TRY(set_option(PACKET_RX_RING, &rx, sizeof rx,
                      ("set up a receive ring of " + std::to_string(g.rx_block_count) + " x " +
                       std::to_string(g.rx_block_size) + " bytes")
                          .c_str()));
  tpacket_req3 tx{};
  tx.tp_block_size = static_cast<unsigned>(g.tx_block_size);
  tx.tp_block_nr = static_cast<unsigned>(tx_blocks);
  tx.tp_frame_size = static_cast<unsigned>(g.tx_frame_size);
  tx.tp_frame_nr = static_cast<unsigned>(g.tx_frame_count);
  WEIR_TRY(set_option(PACKET_TX_RING, &tx, sizeof tx,
                      ("set up a transmit ring of " + std::to_string(g.tx_frame_count) + " x " +
                       std::to_string(g.tx_frame_size) + " bytes")
                          .c_str()));

  const size_t map_size = g.rx_block_size * g.rx_block_count + g.tx_block_size * tx_blocks;
  void* address =
      ::mmap(nullptr, map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd.get(), 0);
  if (address == MAP_FAILED) {
    const int err = errno;
    return fail(error_from_errno(err), "packet: cannot map the rings of '" + name + "' (" +
                                           std::to_string(map_size) +
                                           " bytes): " + errno_text(err));
  }
  auto mapping = std::make_unique<Mapping>(address, map_size);

  LinkAddress bind_address{};
  bind_address.ll.sll_family = AF_PACKET;
  bind_address.ll.sll_protocol = htons(ETH_P_ALL);
  bind_address.ll.sll_ifindex = static_cast<int>(ifindex);
  if (::bind(fd.get(), &bind_address.generic, sizeof bind_address.ll) != 0) {
    const int err = errno;
    return fail(error_from_errno(err), "packet: cannot bind to '" + name + "': " + errno_text(err));
  }
  packet_mreq membership{};
  membership.mr_ifindex = static_cast<int>(ifindex);
  membership.mr_type = PACKET_MR_PROMISC;
  WEIR_TRY(set_option(PACKET_ADD_MEMBERSHIP, &membership, sizeof membership,
                      "put the interface in promiscuous mode (weir has its own MAC)"));
  if (options.fanout_group) {
    const int fanout = int{*options.fanout_group} | (PACKET_FANOUT_HASH << 16);
    if (::setsockopt(fd.get(), SOL_PACKET, PACKET_FANOUT, &fanout, sizeof fanout) != 0) {
      const int err = errno;
      return fail(error_from_errno(err),
                  "packet: cannot join fanout group " + std::to_string(*options.fanout_group) +
                      " on '" + name + "': " + errno_text(err) +
                      (err == EINVAL ? " (a group of that id exists with another mode, or on "
                                       "another interface)"
                                     : ""));
    }
  }

  const MacAddress mac = options.mac ? *options.mac : random_local_mac();
  return std::make_unique<PacketSocketEndpoint>(Key(), std::move(fd), std::move(mapping), g, name,
                                                mtu, mac);
}

PacketSocketEndpoint::PacketSocketEndpoint(Key, UniqueFd fd, std::unique_ptr<Mapping> mapping,
                                           Geometry geometry, std::string name, uint32_t mtu,
                                           MacAddress mac)
    : fd_(std::move(fd)),
      mapping_(std::move(mapping)),
      geometry_(geometry),
      name_(std::move(name)),
      mtu_(mtu),
      mac_(mac) {}

// Members go in reverse order: the rings are unmapped, then the socket is closed.
PacketSocketEndpoint::~PacketSocketEndpoint() = default;

LinkCapabilities PacketSocketEndpoint::capabilities() const {
  LinkCapabilities caps;
  caps.rx_checksum_offload = true;  // frames the local kernel left unsummed (see packet.h)
  return caps;
}

uint16_t PacketSocketEndpoint::max_header_length() const { return kEthernetHeaderLength; }

MutableByteView PacketSocketEndpoint::rx_block(size_t index) {
  return mapping_->bytes().subspan(index * geometry_.rx_block_size, geometry_.rx_block_size);
}

MutableByteView PacketSocketEndpoint::tx_slot(size_t index) {
  const size_t base = geometry_.rx_block_size * geometry_.rx_block_count;
  const size_t block = index / geometry_.tx_frames_per_block;
  const size_t within = index % geometry_.tx_frames_per_block;
  return mapping_->bytes().subspan(
      base + block * geometry_.tx_block_size + within * geometry_.tx_frame_size,
      geometry_.tx_frame_size);
}

void PacketSocketEndpoint::release_rx_block() {
  store_status(rx_block(rx_block_), kBlockStatus, TP_STATUS_KERNEL);
  rx_block_ = (rx_block_ + 1) % geometry_.rx_block_count;
  rx_frame_offset_ = 0;
  rx_frames_left_ = 0;
}

size_t PacketSocketEndpoint::process_receive(size_t budget) {
  size_t handled = 0;
  while (handled < budget) {
    const ByteView block = rx_block(rx_block_);
    if ((load_status(block, kBlockStatus) & TP_STATUS_USER) == 0) break;  // still the kernel's
    auto header = parse_ring_block(block);
    if (!header) {
      ++counters_.rx_drop_bad_ring_header;
      release_rx_block();
      continue;
    }
    size_t offset = rx_frame_offset_;
    size_t left = rx_frames_left_;
    if (offset == 0) {
      offset = header->first_frame_offset;
      left = header->frame_count;
    }
    while (left > 0 && handled < budget) {
      auto frame = parse_ring_frame(block, header->used_length, offset);
      // A frame that is not last must say where the next one is; one that lies about it, or
      // about itself, ends the walk of this block.
      if (!frame || (left > 1 && frame->next_offset == 0)) {
        ++counters_.rx_drop_bad_ring_header;
        left = 0;
        break;
      }
      ++handled;
      --left;
      offset += frame->next_offset;
      if (frame->packet_type == PACKET_OUTGOING) {
        ++counters_.rx_drop_outgoing;
        continue;
      }
      if (frame->bytes.size() < frame->wire_length) {
        ++counters_.rx_drop_truncated;
        continue;
      }
      // The kernel took the VLAN tag off into the header: the frame is from a VLAN, and weir
      // has no VLAN sub-interfaces (tagged frames are dropped on every weir link).
      if (frame->status & TP_STATUS_VLAN_VALID) {
        ++counters_.rx_drop_vlan;
        continue;
      }
      // Frames for other hosts arrive too (promiscuous mode): skip them before the copy.
      if (frame->bytes.size() >= 6) {
        const MacAddress destination = MacAddress::from_bytes(frame->bytes.first(6));
        if (classify_destination(destination, mac_) == LinkPacketType::kOtherHost) {
          ++counters_.rx_drop_other_host;
          continue;
        }
      }
      // The copy: the frame must not outlive its block (see the ownership rule in packet.h).
      PacketBuffer pkt = PacketBuffer::from_bytes(frame->bytes, 0);
      if (frame->status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID)) {
        pkt.meta().checksum_verified = true;
      }
      if (frame->bytes.size() > size_t{mtu_} + kEthernetHeaderLength) ++counters_.rx_gso_frames;
      deliver_ethernet_frame(std::move(pkt), {.self = mac_}, dispatcher_, counters_);
    }
    if (left == 0) {
      release_rx_block();
    } else {
      rx_frame_offset_ = offset;
      rx_frames_left_ = left;
    }
  }
  return handled;
}

Result<size_t> PacketSocketEndpoint::write_packets(std::span<PacketBuffer> packets) {
  size_t sent = 0;
  bool kicked = false;
  Error last_error = Error::kIo;
  auto kick = [this] {
    // Makes the kernel send every slot marked SEND_REQUEST; with MSG_DONTWAIT it does not wait
    // for the driver to release them. EAGAIN/ENOBUFS leave slots requested for the next kick.
    while (::send(fd_.get(), nullptr, 0, MSG_DONTWAIT) < 0 && errno == EINTR) {
    }
  };
  bool queued = false;
  for (PacketBuffer& pkt : packets) {
    if (pkt.size() > mtu_) {
      ++counters_.tx_drop_too_big;
      last_error = Error::kMessageTooLong;
      continue;
    }
    MutableByteView slot = tx_slot(tx_slot_);
    uint32_t status = load_status(slot, kFrameStatus);
    if (status != TP_STATUS_AVAILABLE && status != TP_STATUS_WRONG_FORMAT && !kicked) {
      // The ring is full of frames the kernel has not taken yet: push them out, look again.
      kick();
      kicked = true;
      queued = false;
      status = load_status(slot, kFrameStatus);
    }
    if (status != TP_STATUS_AVAILABLE && status != TP_STATUS_WRONG_FORMAT) {
      ++counters_.tx_drop_would_block;
      last_error = Error::kNoBufferSpace;
      continue;
    }
    push_ethernet_header(pkt, mac_);
    const size_t length = pkt.size();
    pkt.copy_out(0, slot.subspan(kTxDataOffset, length));
    store_u32(slot, kFrameNextOffset, 0);
    store_u32(slot, kFrameLen, static_cast<uint32_t>(length));
    store_status(slot, kFrameStatus, TP_STATUS_SEND_REQUEST);
    tx_slot_ = (tx_slot_ + 1) % geometry_.tx_frame_count;
    queued = true;
    ++counters_.tx_frames;
    counters_.tx_bytes += length;
    ++sent;
  }
  if (queued) kick();
  if (sent == 0 && !packets.empty()) return last_error;
  return sent;
}

}  // namespace weir::link
