// Theory of operation: an ioctl on a socket that names an interface (struct ifreq) is answered
// from the stack's interfaces as Linux's dev_ioctl / devinet_ioctl answer it: the name is
// NUL-terminated at 16 bytes, an "eth0:1" alias names the device before the colon for device
// ioctls and a full address label for the IPv4 address ioctls, and only the bytes Linux writes
// are written (the rest of the union keeps what the program passed). The program has no
// CAP_NET_ADMIN over the stack, so every setter is refused as Linux refuses it.
#include "sandbox/ifreq.h"

#include <linux/if_arp.h>
#include <linux/sockios.h>
#include <sys/socket.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "sandbox/native.h"

namespace weir::sandbox {
namespace {

constexpr size_t kNameSize = 16;  // IFNAMSIZ
constexpr size_t kUnion = 16;     // offset of the union in struct ifreq
constexpr size_t kSockaddrInSize = 16;
constexpr size_t kIfmapWritten = 21;  // struct ifmap without its tail padding
constexpr uint32_t kTxQueueLength = 1000;
constexpr unsigned long kSiocGifPflags = 0x8935;
constexpr unsigned long kSiocEthtool = 0x8946;
constexpr unsigned long kSiocGmiiPhy = 0x8947;
constexpr unsigned long kSiocGmiiReg = 0x8948;
constexpr unsigned long kSiocSmiiReg = 0x8949;

// IFF_* as dev_get_flags reports them; SIOCGIFFLAGS returns the low 16 bits.
constexpr uint32_t kIffUp = 0x1, kIffBroadcast = 0x2, kIffLoopback = 0x8, kIffRunning = 0x40,
                   kIffMulticast = 0x1000;

bool is_setter(unsigned long request) {
  switch (request) {
    case SIOCSIFLINK:
    case SIOCSIFFLAGS:
    case SIOCSIFADDR:
    case SIOCSIFDSTADDR:
    case SIOCSIFBRDADDR:
    case SIOCSIFNETMASK:
    case SIOCSIFMETRIC:
    case SIOCSIFMEM:
    case SIOCSIFMTU:
    case SIOCSIFNAME:
    case SIOCSIFHWADDR:
    case SIOCADDMULTI:
    case SIOCDELMULTI:
    case SIOCSIFPFLAGS:
    case SIOCDIFADDR:
    case SIOCSIFHWBROADCAST:
    case SIOCSIFBR:
    case SIOCSIFTXQLEN:
    case SIOCSIFMAP:
    case SIOCADDRT:
    case SIOCDELRT:
    case SIOCSARP:
    case SIOCDARP:
    case SIOCSRARP:
    case SIOCDRARP:
      return true;
    default:
      return false;
  }
}

// ifr_name as the kernel reads it: at most 15 characters, NUL-terminated.
std::string name_of(ByteView ifreq) {
  std::string name;
  for (size_t i = 0; i < kNameSize - 1; ++i) {
    auto c = std::to_integer<char>(ifreq[i]);
    if (c == '\0') break;
    name += c;
  }
  return name;
}

const InterfaceState* find_by_name(const NetState& s, std::string_view name) {
  for (const auto& i : s.interfaces)
    if (i.name == name) return &i;
  return nullptr;
}

uint32_t flags_of(const InterfaceState& i) {
  uint32_t f = 0;
  if (i.up) f |= kIffUp;
  f |= i.loopback ? kIffLoopback : (kIffBroadcast | kIffMulticast);
  if (i.up && i.running) f |= kIffRunning;
  return f;
}

void put_sockaddr_in(MutableByteView out, size_t offset, Ipv4Address a) {
  auto sin = out.subspan(offset, kSockaddrInSize);
  std::fill(sin.begin(), sin.end(), std::byte{0});
  store_host<uint16_t>(sin, 0, AF_INET);
  copy_bytes(sin, 4, a.to_bytes());
}

uint32_t mask_of(uint8_t length) {
  return length == 0 ? 0 : ~uint32_t{0} << (32 - std::min<uint8_t>(length, 32));
}

// The IPv4 address SIOCGIF*ADDR report: the interface's first one, or the one the program
// named in ifr_addr when it passed an AF_INET address (Linux's "tryaddrmatch").
const IpPrefix* pick_v4(const InterfaceState& i, ByteView in) {
  const IpPrefix* first = nullptr;
  bool match = load_host<uint16_t>(in, kUnion) == AF_INET;
  Ipv4Address wanted = Ipv4Address::from_bytes(in.subspan(kUnion + 4, 4));
  for (const auto& a : i.addresses) {
    if (!a.address.is_v4()) continue;
    if (first == nullptr) first = &a;
    if (match && a.address.v4() == wanted) return &a;
  }
  return first;
}

Result<std::vector<std::byte>> address_ioctl(unsigned long request, const std::string& label,
                                             ByteView in, const NetState& s) {
  std::string device = label.substr(0, label.find(':'));
  const InterfaceState* i = find_by_name(s, device);
  if (i == nullptr) return Error::kNoDevice;
  // Each address's label is its interface's name: "eth0:1" names no address here.
  if (label != device) return Error::kAddressNotAvailable;
  const IpPrefix* a = pick_v4(*i, in);
  if (a == nullptr) return Error::kAddressNotAvailable;
  std::vector<std::byte> out(in.begin(), in.begin() + kIfreqRecordSize);
  Ipv4Address local = a->address.v4();
  Ipv4Address value = local;
  if (request == SIOCGIFNETMASK) value = Ipv4Address(mask_of(a->length));
  if (request == SIOCGIFBRDADDR) {
    // Linux has no broadcast on lo's 127.0.0.1/8 nor on /31 and /32 addresses.
    value = (i->loopback || a->length >= 31) ? Ipv4Address()
                                             : Ipv4Address(local.value() | ~mask_of(a->length));
  }
  put_sockaddr_in(out, kUnion, value);
  return out;
}

}  // namespace

Result<std::vector<std::byte>> answer_ifreq(unsigned long request, ByteView ifreq_in,
                                            const NetState& state) {
  if (ifreq_in.size() < kIfreqRecordSize) return Error::kBadAddress;
  if (is_setter(request)) return Error::kOperationNotPermitted;
  ByteView in = ifreq_in.first(kIfreqRecordSize);
  std::vector<std::byte> out(in.begin(), in.end());
  MutableByteView o(out);
  o[kNameSize - 1] = std::byte{0};

  if (request == SIOCGIFNAME) {
    int index = load_host<int32_t>(in, kUnion);
    for (const auto& i : state.interfaces) {
      if (i.index != index) continue;
      copy_bytes(o, 0, as_bytes(i.name.substr(0, kNameSize - 1)));
      o[std::min(i.name.size(), kNameSize - 1)] = std::byte{0};
      return out;
    }
    return Error::kNoDevice;
  }
  std::string label = name_of(in);
  if (request == SIOCGIFADDR || request == SIOCGIFDSTADDR || request == SIOCGIFBRDADDR ||
      request == SIOCGIFNETMASK) {
    auto r = address_ioctl(request, label, in, state);
    if (r) store_u8(MutableByteView(*r), kNameSize - 1, 0);
    return r;
  }
  if (request == kSiocGifPflags) return Error::kInvalidArgument;
  // The device ioctls name the device before any ":alias".
  const InterfaceState* i = find_by_name(state, label.substr(0, label.find(':')));
  switch (request) {
    case SIOCGIFFLAGS:
    case SIOCGIFMETRIC:
    case SIOCGIFMTU:
    case SIOCGIFHWADDR:
    case SIOCGIFINDEX:
    case SIOCGIFTXQLEN:
    case SIOCGIFMAP:
    case kSiocEthtool:
    case kSiocGmiiPhy:
    case kSiocGmiiReg:
    case kSiocSmiiReg:
      break;
    default:
      return Error::kNotATerminal;
  }
  if (i == nullptr) return Error::kNoDevice;
  switch (request) {
    case SIOCGIFFLAGS:
      store_host<uint16_t>(o, kUnion, static_cast<uint16_t>(flags_of(*i)));
      return out;
    case SIOCGIFMETRIC:
      store_host<int32_t>(o, kUnion, 0);
      return out;
    case SIOCGIFMTU:
      store_host<int32_t>(o, kUnion, static_cast<int32_t>(i->mtu));
      return out;
    case SIOCGIFHWADDR:
      store_host<uint16_t>(o, kUnion, i->loopback ? ARPHRD_LOOPBACK : ARPHRD_ETHER);
      copy_bytes(o, kUnion + 2, i->mac.bytes());
      return out;
    case SIOCGIFINDEX:
      store_host<int32_t>(o, kUnion, i->index);
      return out;
    case SIOCGIFTXQLEN:
      store_host<int32_t>(o, kUnion, static_cast<int32_t>(kTxQueueLength));
      return out;
    case SIOCGIFMAP: {
      auto map = o.subspan(kUnion, kIfmapWritten);
      std::fill(map.begin(), map.end(), std::byte{0});
      return out;
    }
    default:
      return Error::kNotSupported;  // ethtool and MII: no driver to ask
  }
}

std::vector<std::byte> ifconf_records(const NetState& state) {
  std::vector<const InterfaceState*> ifaces;
  for (const auto& i : state.interfaces) ifaces.push_back(&i);
  std::stable_sort(ifaces.begin(), ifaces.end(),
                   [](const auto* a, const auto* b) { return a->index < b->index; });
  std::vector<std::byte> out;
  for (const auto* i : ifaces) {
    for (const auto& a : i->addresses) {
      if (!a.address.is_v4()) continue;
      size_t at = out.size();
      out.resize(at + kIfreqRecordSize);
      MutableByteView rec = MutableByteView(out).subspan(at, kIfreqRecordSize);
      copy_bytes(rec, 0, as_bytes(std::string_view(i->name).substr(0, kNameSize - 1)));
      put_sockaddr_in(rec, kUnion, a.address.v4());
    }
  }
  return out;
}

}  // namespace weir::sandbox
