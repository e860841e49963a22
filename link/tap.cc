#include "link/tap.h"

#include <fcntl.h>
#include <net/if.h>
// After net/if.h: the glibc and kernel interface-flag declarations clash the other way round.
#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <linux/if_tun.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "link/ethernet.h"
#include "link/netns.h"
#include "link/vnet_header.h"
#include "stack/rng.h"
#include "stack/unique_fd.h"

namespace weir::link {

namespace {

void fill_ifreq_name(ifreq& ifr, const std::string& name) {
  std::memcpy(ifr.ifr_name, name.data(), std::min(name.size(), size_t{IFNAMSIZ - 1}));
}

std::string errno_text(int err) { return std::strerror(err); }

MacAddress random_local_mac() {
  Rng rng = Rng::from_entropy();
  std::array<uint8_t, 6> octets{};
  rng.fill(std::as_writable_bytes(std::span(octets)));
  octets[0] = static_cast<uint8_t>((octets[0] & 0xfe) | 0x02);  // unicast, locally administered
  return MacAddress(octets);
}

}  // namespace

Result<std::unique_ptr<TapEndpoint>> TapEndpoint::open(const TapOptions& options,
                                                       std::string* message) {
  auto fail = [message](Error e, std::string text) -> Error {
    if (message) *message = std::move(text);
    return e;
  };
  if (options.name.empty() || options.name.size() >= IFNAMSIZ) {
    return fail(Error::kInvalidArgument, "tap: interface name '" + options.name +
                                             "' must be 1 to " + std::to_string(IFNAMSIZ - 1) +
                                             " characters");
  }
  if (options.mac && (options.mac->is_multicast() || options.mac->is_zero())) {
    return fail(Error::kInvalidArgument,
                "tap: MAC " + options.mac->to_string() + " is not a unicast address");
  }

  NetnsScope netns;
  if (!options.netns.empty()) WEIR_TRY(netns.enter(options.netns, "tap", message));

  if (!options.create_if_missing && ::if_nametoindex(options.name.c_str()) == 0) {
    return fail(Error::kNoDevice, "tap: no interface named '" + options.name +
                                      "'; create it first (ip tuntap add dev " + options.name +
                                      " mode tap) or allow creating it");
  }

  UniqueFd fd(::open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC));
  if (fd.get() < 0) {
    const int err = errno;
    if (err == ENOENT || err == ENODEV || err == ENXIO) {
      return fail(Error::kNoDevice, "tap: /dev/net/tun is missing (" + errno_text(err) +
                                        "); load the tun module or expose the device "
                                        "(mknod /dev/net/tun c 10 200)");
    }
    if (err == EACCES || err == EPERM) {
      return fail(error_from_errno(err), "tap: not permitted to open /dev/net/tun (" +
                                             errno_text(err) +
                                             "); run as root or with CAP_NET_ADMIN");
    }
    return fail(error_from_errno(err), "tap: cannot open /dev/net/tun: " + errno_text(err));
  }

  ifreq ifr{};
  fill_ifreq_name(ifr, options.name);
  ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
  if (options.offloads) ifr.ifr_flags |= IFF_VNET_HDR;
  if (options.multi_queue) ifr.ifr_flags |= IFF_MULTI_QUEUE;
  if (::ioctl(fd.get(), TUNSETIFF, &ifr) != 0) {
    const int err = errno;
    std::string why = "tap: cannot attach to '" + options.name + "': " + errno_text(err);
    if (err == EPERM) why += "; creating or attaching a tap needs CAP_NET_ADMIN";
    if (err == EBUSY) {
      why += options.multi_queue ? "; the device has its most queues already"
                                 : "; another process holds the device";
    }
    if (err == EINVAL) {
      why += "; is it a tun (not tap) device, a non-tun interface, or opened by others with "
             "different multi-queue or offload settings?";
    }
    return fail(error_from_errno(err), why);
  }
  const std::string name(ifr.ifr_name, strnlen(ifr.ifr_name, IFNAMSIZ));

  bool vnet_header = false;
  bool offloads = false;
  if (options.offloads) {
    int header_size = static_cast<int>(kVnetHeaderLength);
    if (::ioctl(fd.get(), TUNSETVNETHDRSZ, &header_size) != 0) {
      const int err = errno;
      return fail(error_from_errno(err), "tap: cannot set the virtio-net header size of '" +
                                             name + "': " + errno_text(err));
    }
    vnet_header = true;
    const unsigned long features = TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6;
    offloads = ::ioctl(fd.get(), TUNSETOFFLOAD, features) == 0;
  }
  if (!offloads) {
    // A persistent tap keeps the offloads its last reader set; a reader that cannot take
    // 64 KiB frames must switch them off. A kernel without TUNSETOFFLOAD has none to switch.
    (void)::ioctl(fd.get(), TUNSETOFFLOAD, 0UL);
  }

  // Interface ioctls go through any socket of the namespace the device lives in.
  UniqueFd sock(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (sock.get() < 0) {
    const int err = errno;
    return fail(error_from_errno(err),
                "tap: cannot make a socket for interface ioctls: " + errno_text(err));
  }
  ifreq req{};
  fill_ifreq_name(req, name);
  if (options.mtu) {
    req.ifr_mtu = static_cast<int>(*options.mtu);
    if (::ioctl(sock.get(), SIOCSIFMTU, &req) != 0) {
      const int err = errno;
      return fail(error_from_errno(err), "tap: cannot set the MTU of '" + name + "' to " +
                                             std::to_string(*options.mtu) + ": " + errno_text(err));
    }
  }
  if (::ioctl(sock.get(), SIOCGIFMTU, &req) != 0) {
    const int err = errno;
    return fail(error_from_errno(err),
                "tap: cannot read the MTU of '" + name + "': " + errno_text(err));
  }
  const auto mtu = static_cast<uint32_t>(req.ifr_mtu);
  if (::ioctl(sock.get(), SIOCGIFTXQLEN, &req) != 0) {
    const int err = errno;
    return fail(error_from_errno(err),
                "tap: cannot read the queue length of '" + name + "': " + errno_text(err));
  }
  auto queue_frames = static_cast<uint32_t>(req.ifr_qlen);
  const uint32_t wanted =
      options.queue_bytes / (std::max<uint32_t>(mtu, 68) + kEthernetHeaderLength) + 1;
  if (wanted > queue_frames) {
    req.ifr_qlen = static_cast<int>(wanted);
    if (::ioctl(sock.get(), SIOCSIFTXQLEN, &req) != 0) {
      const int err = errno;
      return fail(error_from_errno(err), "tap: cannot set the queue length of '" + name +
                                             "' to " + std::to_string(wanted) +
                                             " frames: " + errno_text(err));
    }
    queue_frames = wanted;
  }
  if (options.bring_up) {
    if (::ioctl(sock.get(), SIOCGIFFLAGS, &req) != 0 ||
        (req.ifr_flags |= IFF_UP, ::ioctl(sock.get(), SIOCSIFFLAGS, &req) != 0)) {
      const int err = errno;
      return fail(error_from_errno(err), "tap: cannot set '" + name + "' up: " + errno_text(err));
    }
  }

  const MacAddress mac = options.mac ? *options.mac : random_local_mac();
  return std::make_unique<TapEndpoint>(Key(), fd.release(), name, mtu, mac, vnet_header,
                                       offloads, queue_frames);
}

TapEndpoint::TapEndpoint(Key, int fd, std::string name, uint32_t mtu, MacAddress mac,
                         bool vnet_header, bool offloads, uint32_t queue_frames)
    : fd_(fd),
      name_(std::move(name)),
      mtu_(mtu),
      mac_(mac),
      vnet_header_(vnet_header),
      offloads_(offloads),
      queue_frames_(queue_frames) {}

LinkCapabilities TapEndpoint::capabilities() const {
  LinkCapabilities caps;
  caps.tx_checksum_offload = offloads_;
  caps.rx_checksum_offload = offloads_;
  caps.gso = offloads_;
  return caps;
}

TapEndpoint::~TapEndpoint() { ::close(fd_); }

uint16_t TapEndpoint::max_header_length() const { return kEthernetHeaderLength; }

Result<size_t> TapEndpoint::write_packets(std::span<PacketBuffer> packets) {
  constexpr size_t kMaxIov = 64;
  size_t sent = 0;
  Error last_error = Error::kIo;
  for (PacketBuffer& pkt : packets) {
    const bool gso = pkt.meta().gso_type != GsoType::kNone;
    if (pkt.size() > mtu_ && !(gso && offloads_)) {
      ++counters_.tx_drop_too_big;
      last_error = Error::kMessageTooLong;
      continue;
    }
    push_ethernet_header(pkt, mac_);
    std::array<iovec, kMaxIov + 1> iov{};
    size_t count = 0;
    std::array<std::byte, kVnetHeaderLength> vnet{};
    if (vnet_header_) {
      if (offloads_) write_vnet_header(vnet, vnet_header_for(pkt, kEthernetHeaderLength));
      iov[count++] = iovec{vnet.data(), vnet.size()};
    }
    const size_t expected = count == 0 ? pkt.size() : pkt.size() + kVnetHeaderLength;
    std::vector<std::byte> flat;
    if (pkt.view_count() <= kMaxIov) {
      pkt.for_each_view([&](ByteView v) {
        // writev only reads through iov_base; the cast drops const for the C API's sake.
        iov[count++] = iovec{const_cast<std::byte*>(v.data()), v.size()};
      });
    } else {
      flat = pkt.to_vector();
      iov[count++] = iovec{flat.data(), flat.size()};
    }
    ssize_t n;
    do {
      n = ::writev(fd_, iov.data(), static_cast<int>(count));
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        ++counters_.tx_drop_would_block;
        last_error = Error::kNoBufferSpace;
      } else {
        ++counters_.tx_errors;
        last_error = error_from_errno(errno);
      }
      continue;
    }
    if (static_cast<size_t>(n) != expected) {
      ++counters_.tx_drop_short_write;
      last_error = Error::kIo;
      continue;
    }
    if (gso) ++counters_.tx_gso_frames;
    ++counters_.tx_frames;
    counters_.tx_bytes += pkt.size();
    ++sent;
  }
  if (sent == 0 && !packets.empty()) return last_error;
  return sent;
}

size_t TapEndpoint::process_receive(size_t budget) {
  // Room for the largest frame the device may hand us, with a VLAN tag, plus one byte so a
  // frame that filled the buffer exactly can be told apart from one that did not fit. With
  // offloads that is a whole unsegmented TCP segment: an IP datagram of up to 64 KiB.
  const size_t link_room = kEthernetHeaderLength + kVlanTagLength + 1;
  const size_t header = vnet_header_ ? kVnetHeaderLength : 0;
  const size_t capacity =
      header + link_room + (offloads_ ? size_t{65535} : size_t{std::max<uint32_t>(mtu_, 1500)});
  size_t handled = 0;
  while (handled < budget) {
    if (!rx_chunk_ || rx_chunk_->shared() || rx_chunk_->capacity() < capacity) {
      rx_chunk_ = Chunk::allocate(capacity);
    }
    MutableByteView buffer = rx_chunk_->bytes().first(capacity);
    const ssize_t n = ::read(fd_, buffer.data(), buffer.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) ++counters_.rx_errors;
      break;
    }
    if (n == 0) break;
    ++handled;
    const auto length = static_cast<size_t>(n);
    if (length >= capacity) {
      ++counters_.rx_drop_truncated;
      continue;
    }
    if (length < header) {
      ++counters_.rx_drop_bad_vnet_header;
      continue;
    }
    const size_t frame_length = length - header;
    VnetHeader vnet;
    if (vnet_header_) {
      vnet = parse_vnet_header(buffer.first(kVnetHeaderLength));
      if (check_received_vnet_header(vnet, frame_length, kEthernetHeaderLength) !=
          VnetRefusal::kNone) {
        ++counters_.rx_drop_bad_vnet_header;
        continue;
      }
      if (vnet.gso_type != kVnetGsoNone) ++counters_.rx_gso_frames;
    }
    // A small frame in the 64 KiB buffer would pin all of it for as long as the stack queues
    // it: copy it into a chunk of its own size and keep the buffer for the next read.
    PacketBuffer frame =
        offloads_ && frame_length < capacity / 8
            ? PacketBuffer::from_bytes(buffer.subspan(header, frame_length), 0)
            : PacketBuffer::from_chunk(rx_chunk_, header, frame_length);
    if (vnet_header_) apply_received_vnet_header(vnet, frame.meta());
    deliver_ethernet_frame(std::move(frame), {.self = mac_, .promiscuous = promiscuous_},
                           dispatcher_, counters_);
  }
  return handled;
}

}  // namespace weir::link
