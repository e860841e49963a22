// Theory of operation: a program inside the sandbox has an empty network namespace of its own,
// so every rtnetlink question it asks about interfaces, addresses and routes is answered here
// from a NetState snapshot of the stack. Each message of the request datagram is answered in
// turn, as the kernel's netlink_rcv_skb does: requests without NLM_F_REQUEST and control
// messages get only the ack they ask for; dumps get NLM_F_MULTI messages packed into datagrams
// and an NLMSG_DONE; single answers are one datagram; errors are NLMSG_ERROR with -errno and
// the request echoed. The attribute sets and their values follow what Linux 6.x sends for a
// loopback and an Ethernet device (recorded from a real kernel in tests/sandbox), so iproute2
// and glibc read them as they read the kernel's.
//
// Approximations: non-strict dumps ignore the filters in the request header (as Linux does)
// but, unlike Linux, a truncated attribute in a dump request is an error; strict mode checks
// only the filters it applies (ifa_index, rtm_table / RTA_TABLE, RTA_OIF), not that every other
// header field is zero. Several dumps in one datagram are all answered in full (Linux would
// refuse the second with EBUSY while the first is unfinished).
#include "sandbox/netlink_route.h"

#include <linux/fib_rules.h>
#include <linux/if.h>
#include <linux/if_addr.h>
#include <linux/if_arp.h>
#include <linux/if_link.h>
#include <linux/neighbour.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <string_view>
#include <utility>

#include "sandbox/native.h"

namespace weir::sandbox {
namespace {

using netlink::AnswerWriter;
using netlink::AttributeTable;
using netlink::Message;
using netlink::MessageBuilder;

// Fixed family headers, sizes as in <linux/rtnetlink.h> on every Linux ABI.
constexpr size_t kIfinfomsgSize = 16;
constexpr size_t kIfaddrmsgSize = 8;
constexpr size_t kRtmsgSize = 12;
constexpr size_t kFibRuleHdrSize = 12;
constexpr size_t kLinkStats64Size = 25 * 8;  // struct rtnl_link_stats64 up to rx_otherhost_dropped
constexpr size_t kLinkStatsSize = 24 * 4;    // struct rtnl_link_stats up to rx_nohandler
constexpr size_t kLinkIfmapSize = 32;        // struct rtnl_link_ifmap, padded to 8
constexpr size_t kRtaCacheinfoSize = 32;     // struct rta_cacheinfo
constexpr size_t kIfaCacheinfoSize = 16;     // struct ifa_cacheinfo

constexpr uint32_t kTxQueueLength = 1000;  // Linux's default txqueuelen, lo's included
constexpr uint32_t kInfinityLifetime = 0xffffffffu;
constexpr uint32_t kDefaultRoutePriorityV6 = 1024;  // IP6_RT_PRIO_USER
constexpr uint32_t kPrefixRoutePriorityV6 = 256;    // IP6_RT_PRIO_ADDRCONF
constexpr uint32_t kRtcfLocal = 0x80000000u;        // RTCF_LOCAL in a route lookup's rtm_flags

// The answer to one message: nothing more to send, or an errno for an NLMSG_ERROR.
using Outcome = Status;

// ---- NetState helpers ----

const InterfaceState* find_interface(const NetState& s, int index) {
  for (const auto& i : s.interfaces)
    if (i.index == index) return &i;
  return nullptr;
}

const InterfaceState* find_interface(const NetState& s, std::string_view name) {
  for (const auto& i : s.interfaces)
    if (i.name == name) return &i;
  return nullptr;
}

std::vector<const InterfaceState*> interfaces_by_index(const NetState& s) {
  std::vector<const InterfaceState*> out;
  for (const auto& i : s.interfaces) out.push_back(&i);
  std::stable_sort(out.begin(), out.end(),
                   [](const auto* a, const auto* b) { return a->index < b->index; });
  return out;
}

int loopback_index(const NetState& s) {
  for (const auto& i : s.interfaces)
    if (i.loopback) return i.index;
  return 1;
}

uint8_t family_of(const IpAddress& a) { return a.is_v4() ? AF_INET : AF_INET6; }

// 1.2.3.4/24 -> 255.255.255.0, in host order.
uint32_t v4_mask(uint8_t length) {
  return length == 0 ? 0 : ~uint32_t{0} << (32 - std::min<uint8_t>(length, 32));
}

std::optional<Ipv4Address> v4_broadcast(const InterfaceState& iface, const IpPrefix& p) {
  // Linux has no broadcast on lo's 127.0.0.1/8 nor on /31 and /32 (RFC 3021) addresses.
  if (iface.loopback || !p.address.is_v4() || p.length >= 31) return std::nullopt;
  return Ipv4Address(p.address.v4().value() | ~v4_mask(p.length));
}

uint8_t address_scope(const IpAddress& a) {
  if (a.is_v4()) return a.v4().is_loopback() ? RT_SCOPE_HOST : RT_SCOPE_UNIVERSE;
  if (a.v6().is_loopback()) return RT_SCOPE_HOST;
  if (a.v6().is_link_local()) return RT_SCOPE_LINK;
  return RT_SCOPE_UNIVERSE;
}

uint32_t link_flags(const InterfaceState& i) {
  uint32_t f = 0;
  if (i.up) f |= IFF_UP;
  if (i.loopback) {
    f |= IFF_LOOPBACK;
  } else {
    f |= IFF_BROADCAST | IFF_MULTICAST;
  }
  if (i.up && i.running) f |= IFF_RUNNING | IFF_LOWER_UP;
  return f;
}

uint8_t operstate(const InterfaceState& i) {
  if (!i.up || !i.running) return IF_OPER_DOWN;
  // Linux's loopback driver never reports an operational state.
  return i.loopback ? IF_OPER_UNKNOWN : IF_OPER_UP;
}

// ---- requests ----

// The family byte every rtnetlink request starts with (rtgenmsg, or the first field of the
// family header), and the attributes after a family header of `header_size` bytes when the
// payload holds one.
struct Parsed {
  uint8_t family = AF_UNSPEC;
  bool full_header = false;
  AttributeTable attributes;
};

Result<Parsed> parse_request(const Message& m, size_t header_size, uint16_t max_attribute) {
  if (m.payload.empty()) return Error::kInvalidArgument;
  Parsed p;
  p.family = load_u8(m.payload, 0);
  p.full_header = m.payload.size() >= header_size;
  ByteView attrs = p.full_header
                       ? m.payload.subspan(std::min(netlink::align(header_size), m.payload.size()))
                       : ByteView{};
  auto table = AttributeTable::parse(attrs, max_attribute);
  if (!table) return table.error();
  p.attributes = std::move(*table);
  return p;
}

// ---- links ----

void put_link_stats(MessageBuilder& b, const InterfaceState& i) {
  // Field order of rtnl_link_stats64 / rtnl_link_stats: rx_packets, tx_packets, rx_bytes,
  // tx_bytes, rx_errors, tx_errors, rx_dropped, tx_dropped, then counters we do not keep.
  const std::array<uint64_t, 8> head = {i.rx_packets, i.tx_packets, i.rx_bytes,   i.tx_bytes,
                                        i.rx_errors,  i.tx_errors,  i.rx_dropped, i.tx_dropped};
  std::array<std::byte, kLinkStats64Size> s64{};
  std::array<std::byte, kLinkStatsSize> s32{};
  for (size_t k = 0; k < head.size(); ++k) {
    store_host<uint64_t>(s64, k * 8, head[k]);
    store_host<uint32_t>(s32, k * 4, static_cast<uint32_t>(head[k]));
  }
  b.put(IFLA_STATS64, s64);
  b.put(IFLA_STATS, s32);
}

std::vector<std::byte> link_message(const InterfaceState& i, uint16_t flags, uint32_t seq,
                                    uint32_t portid, uint32_t ext_mask) {
  MessageBuilder b(RTM_NEWLINK, flags, seq, portid);
  auto h = b.reserve(kIfinfomsgSize);
  store_u8(h, 0, AF_UNSPEC);
  store_host<uint16_t>(h, 2, i.loopback ? ARPHRD_LOOPBACK : ARPHRD_ETHER);
  store_host<int32_t>(h, 4, i.index);
  store_host<uint32_t>(h, 8, link_flags(i));
  store_host<uint32_t>(h, 12, 0);  // ifi_change: 0 in dumps and answers to RTM_GETLINK
  b.put_string(IFLA_IFNAME, i.name);
  b.put_u32(IFLA_TXQLEN, kTxQueueLength);
  b.put_u8(IFLA_OPERSTATE, operstate(i));
  b.put_u8(IFLA_LINKMODE, 0);
  b.put_u32(IFLA_MTU, i.mtu);
  b.put_u32(IFLA_MIN_MTU, i.loopback ? 0 : 68);
  b.put_u32(IFLA_MAX_MTU, i.loopback ? 0 : 65535);
  b.put_u32(IFLA_GROUP, 0);
  b.put_u32(IFLA_PROMISCUITY, 0);
  b.put_u32(IFLA_NUM_TX_QUEUES, 1);
  b.put_u32(IFLA_GSO_MAX_SEGS, 65535);
  b.put_u32(IFLA_GSO_MAX_SIZE, 65536);
  b.put_u32(IFLA_NUM_RX_QUEUES, 1);
  b.put_u8(IFLA_CARRIER, i.running ? 1 : 0);
  b.put_u32(IFLA_CARRIER_CHANGES, 0);
  b.put_u8(IFLA_PROTO_DOWN, 0);
  b.put(IFLA_ADDRESS, i.mac.bytes());
  b.put(IFLA_BROADCAST, i.loopback ? MacAddress().bytes() : MacAddress::broadcast().bytes());
  if ((ext_mask & RTEXT_FILTER_SKIP_STATS) == 0) put_link_stats(b, i);
  // No queueing discipline sits between a program and the stack.
  b.put_string(IFLA_QDISC, "noqueue");
  std::array<std::byte, kLinkIfmapSize> map{};
  b.put(IFLA_MAP, map);
  return std::move(b).finish();
}

uint32_t ext_mask_of(const Parsed& p) {
  if (auto v = p.attributes.get(IFLA_EXT_MASK)) return netlink::attribute_u32(*v).value_or(0);
  return 0;
}

Outcome get_link(const Message& m, const NetState& s, uint32_t portid, bool strict,
                 AnswerWriter& out) {
  auto p = parse_request(m, kIfinfomsgSize, IFLA_MAX);
  if (!p) return p.error();
  uint32_t ext_mask = ext_mask_of(*p);
  if (m.header.is_dump()) {
    if (strict && p->full_header && load_host<int32_t>(m.payload, 4) != 0) {
      return Error::kInvalidArgument;  // "Filter by device index not supported for link dumps"
    }
    // An AF_BRIDGE dump (`bridge link`) lists bridge ports: there are none.
    if (p->family != AF_BRIDGE) {
      for (const auto* i : interfaces_by_index(s)) {
        out.dump_part(link_message(*i, netlink::kFlagMulti, m.header.seq, portid, ext_mask));
      }
    }
    out.end_dump(netlink::done_message(m.header.seq, portid));
    return ok_status();
  }
  if (!p->full_header) return Error::kInvalidArgument;
  int index = load_host<int32_t>(m.payload, 4);
  const InterfaceState* iface = nullptr;
  if (index > 0) {
    iface = find_interface(s, index);
  } else if (auto name = p->attributes.get(IFLA_IFNAME)) {
    iface = find_interface(s, netlink::attribute_string(*name));
  } else if (auto alt = p->attributes.get(IFLA_ALT_IFNAME)) {
    iface = find_interface(s, netlink::attribute_string(*alt));
  } else {
    return Error::kInvalidArgument;
  }
  if (iface == nullptr) return Error::kNoDevice;
  out.single(link_message(*iface, 0, m.header.seq, portid, ext_mask));
  return ok_status();
}

// ---- addresses ----

std::vector<std::byte> address_message(const InterfaceState& i, const IpPrefix& p, uint16_t flags,
                                       uint32_t seq, uint32_t portid) {
  MessageBuilder b(RTM_NEWADDR, flags, seq, portid);
  auto h = b.reserve(kIfaddrmsgSize);
  store_u8(h, 0, family_of(p.address));
  store_u8(h, 1, p.length);
  store_u8(h, 2, IFA_F_PERMANENT);
  store_u8(h, 3, address_scope(p.address));
  store_host<uint32_t>(h, 4, static_cast<uint32_t>(i.index));
  std::array<std::byte, kIfaCacheinfoSize> cache{};
  store_host<uint32_t>(cache, 0, kInfinityLifetime);  // ifa_prefered
  store_host<uint32_t>(cache, 4, kInfinityLifetime);  // ifa_valid
  if (p.address.is_v4()) {
    // Without a peer, IFA_ADDRESS and IFA_LOCAL are both the local address.
    b.put(IFA_ADDRESS, p.address.bytes());
    b.put(IFA_LOCAL, p.address.bytes());
    if (auto brd = v4_broadcast(i, p)) b.put(IFA_BROADCAST, brd->to_bytes());
    b.put_string(IFA_LABEL, i.name);
    b.put_u32(IFA_FLAGS, IFA_F_PERMANENT);
    b.put(IFA_CACHEINFO, cache);
  } else {
    b.put(IFA_ADDRESS, p.address.bytes());
    b.put(IFA_CACHEINFO, cache);
    b.put_u32(IFA_FLAGS, IFA_F_PERMANENT);
  }
  return std::move(b).finish();
}

Outcome get_addresses(const Message& m, const NetState& s, uint32_t portid, bool strict,
                      AnswerWriter& out) {
  if (!m.header.is_dump()) return Error::kNotSupported;  // inet has no RTM_GETADDR doit
  auto p = parse_request(m, kIfaddrmsgSize, IFA_MAX);
  if (!p) return p.error();
  uint32_t index_filter = 0;
  if (strict && p->full_header) index_filter = load_host<uint32_t>(m.payload, 4);
  uint16_t flags = netlink::kFlagMulti | (index_filter != 0 ? netlink::kFlagDumpFiltered : 0);
  // AF_UNSPEC and families without an address table dump every family, IPv4 first.
  for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
    if ((p->family == AF_INET || p->family == AF_INET6) && p->family != family) continue;
    for (const auto* i : interfaces_by_index(s)) {
      if (index_filter != 0 && static_cast<uint32_t>(i->index) != index_filter) continue;
      for (const auto& a : i->addresses) {
        if (family_of(a.address) != family) continue;
        out.dump_part(address_message(*i, a, flags, m.header.seq, portid));
      }
    }
  }
  out.end_dump(netlink::done_message(m.header.seq, portid, flags));
  return ok_status();
}

// ---- routes ----

bool is_prefix_route(const NetState& s, const RouteState& r) {
  if (r.gateway || r.local) return false;
  const InterfaceState* i = find_interface(s, r.interface_index);
  if (i == nullptr) return false;
  for (const auto& a : i->addresses)
    if (a.network() == r.destination.network()) return true;
  return false;
}

uint32_t route_priority(const NetState& s, const RouteState& r) { return linux_route_metric(s, r); }

}  // namespace

std::vector<RouteState> linux_routes(const NetState& state) {
  std::vector<RouteState> out = state.routes;
  for (auto& r : out) {
    if (r.local && r.destination.length == (r.destination.address.is_v4() ? 32 : 128)) {
      // A route to one of our addresses is the owning interface's, with that source, as in
      // Linux's "local 10.0.0.2 dev eth0 table local proto kernel scope host src 10.0.0.2".
      for (const auto& owner : state.interfaces) {
        for (const auto& a : owner.addresses) {
          if (a.address != r.destination.address) continue;
          r.interface_index = owner.index;
          if (a.address.is_v4() && !r.preferred_source) r.preferred_source = a.address;
        }
      }
    }
    const InterfaceState* i = find_interface(state, r.interface_index);
    if (i == nullptr) continue;
    if (i->loopback && !r.gateway) r.local = true;
    if (r.preferred_source || r.gateway || !r.destination.address.is_v4()) continue;
    // Linux gives its local routes, and the prefix routes it makes for an address, that
    // address as source ("10.0.0.0/24 dev eth0 proto kernel scope link src 10.0.0.2").
    for (const auto& a : i->addresses) {
      if (!a.address.is_v4() || !r.destination.contains(a.address)) continue;
      if (r.local || a.network() == r.destination.network()) r.preferred_source = a.address;
      break;
    }
  }
  return out;
}

uint32_t linux_route_metric(const NetState& s, const RouteState& r) {
  if (r.metric != 0 || r.destination.address.is_v4() || r.local) return r.metric;
  return r.gateway ? kDefaultRoutePriorityV6
                   : (is_prefix_route(s, r) ? kPrefixRoutePriorityV6 : kDefaultRoutePriorityV6);
}

namespace {

uint8_t route_table(const RouteState& r) { return r.local ? RT_TABLE_LOCAL : RT_TABLE_MAIN; }

void put_route_header(MutableByteView h, uint8_t family, uint8_t dst_len, uint8_t src_len,
                      uint8_t table, uint8_t protocol, uint8_t scope, uint8_t type,
                      uint32_t flags) {
  store_u8(h, 0, family);
  store_u8(h, 1, dst_len);
  store_u8(h, 2, src_len);
  store_u8(h, 3, 0);  // rtm_tos
  store_u8(h, 4, table);
  store_u8(h, 5, protocol);
  store_u8(h, 6, scope);
  store_u8(h, 7, type);
  store_host<uint32_t>(h, 8, flags);
}

std::vector<std::byte> route_message(const NetState& s, const RouteState& r, uint16_t flags,
                                     uint32_t seq, uint32_t portid) {
  bool v4 = r.destination.address.is_v4();
  uint8_t protocol = (r.local || is_prefix_route(s, r)) ? RTPROT_KERNEL : RTPROT_BOOT;
  uint8_t scope = RT_SCOPE_UNIVERSE;  // IPv6 routes have no scope
  if (v4) scope = r.local ? RT_SCOPE_HOST : (r.gateway ? RT_SCOPE_UNIVERSE : RT_SCOPE_LINK);
  MessageBuilder b(RTM_NEWROUTE, flags, seq, portid);
  put_route_header(b.reserve(kRtmsgSize), family_of(r.destination.address), r.destination.length, 0,
                   route_table(r), protocol, scope, r.local ? RTN_LOCAL : RTN_UNICAST, 0);
  b.put_u32(RTA_TABLE, route_table(r));
  if (r.destination.length > 0) b.put(RTA_DST, r.destination.network().address.bytes());
  uint32_t priority = route_priority(s, r);
  if (v4) {
    if (priority != 0) b.put_u32(RTA_PRIORITY, priority);
    if (r.preferred_source) b.put(RTA_PREFSRC, r.preferred_source->bytes());
  } else {
    if (r.preferred_source) b.put(RTA_PREFSRC, r.preferred_source->bytes());
    b.put_u32(RTA_PRIORITY, priority);
  }
  if (r.gateway) b.put(RTA_GATEWAY, r.gateway->bytes());
  b.put_u32(RTA_OIF, static_cast<uint32_t>(r.interface_index));
  if (!v4) {
    std::array<std::byte, kRtaCacheinfoSize> cache{};
    b.put(RTA_CACHEINFO, cache);
    b.put_u8(RTA_PREF, 0);  // ICMPV6_ROUTER_PREF_MEDIUM
  }
  return std::move(b).finish();
}

// Linux walks the IPv4 FIB trie in key order (longer prefixes first under one key) and the
// IPv6 tree more specific first; this order reads the same for the usual few routes.
std::vector<const RouteState*> routes_in_order(const NetState& s, uint8_t family) {
  std::vector<const RouteState*> out;
  for (const auto& r : s.routes)
    if (family_of(r.destination.address) == family) out.push_back(&r);
  std::stable_sort(out.begin(), out.end(), [family](const RouteState* a, const RouteState* b) {
    if (a->local != b->local) return !a->local;  // the main table before the local one
    auto na = a->destination.network(), nb = b->destination.network();
    if (family == AF_INET) {
      if (na.address != nb.address) return na.address < nb.address;
      return na.length > nb.length;
    }
    if (na.length != nb.length) return na.length > nb.length;
    return na.address < nb.address;
  });
  return out;
}

Outcome dump_routes(const Message& m, const NetState& s, uint32_t portid, bool strict,
                    const Parsed& p, AnswerWriter& out) {
  uint32_t table_filter = 0;
  uint32_t oif_filter = 0;
  uint32_t rtm_flags = 0;
  if (p.full_header) rtm_flags = load_host<uint32_t>(m.payload, 8);
  if (strict && p.full_header) {
    table_filter = load_u8(m.payload, 4);
    if (auto t = p.attributes.get(RTA_TABLE)) {
      auto v = netlink::attribute_u32(*t);
      if (!v) return v.error();
      table_filter = *v;
    }
    if (auto o = p.attributes.get(RTA_OIF)) {
      auto v = netlink::attribute_u32(*o);
      if (!v) return v.error();
      oif_filter = *v;
    }
  }
  bool filtered = table_filter != 0 || oif_filter != 0;
  uint16_t flags = netlink::kFlagMulti | (filtered ? netlink::kFlagDumpFiltered : 0);
  // There is no route cache: a dump of cloned routes (`ip route show cache`) is empty.
  if ((rtm_flags & RTM_F_CLONED) == 0) {
    for (uint8_t family : {uint8_t{AF_INET}, uint8_t{AF_INET6}}) {
      if ((p.family == AF_INET || p.family == AF_INET6) && p.family != family) continue;
      for (const auto* r : routes_in_order(s, family)) {
        if (table_filter != 0 && route_table(*r) != table_filter) continue;
        if (oif_filter != 0 && static_cast<uint32_t>(r->interface_index) != oif_filter) continue;
        out.dump_part(route_message(s, *r, flags, m.header.seq, portid));
      }
    }
  }
  out.end_dump(netlink::done_message(m.header.seq, portid, flags));
  return ok_status();
}

Result<IpAddress> address_attribute(ByteView payload, uint8_t family) {
  size_t need = family == AF_INET ? 4 : 16;
  if (payload.size() < need) return Error::kInvalidArgument;
  if (family == AF_INET) return IpAddress(Ipv4Address::from_bytes(payload));
  return IpAddress(Ipv6Address::from_bytes(payload));
}

// `ip route get`: the route a packet to RTA_DST would take, as one RTM_NEWROUTE.
Outcome get_route(const Message& m, const NetState& s, uint32_t portid, const Parsed& p,
                  AnswerWriter& out) {
  if (p.family != AF_INET && p.family != AF_INET6) return Error::kNotSupported;
  if (!p.full_header) return Error::kInvalidArgument;
  IpAddress dst = IpAddress::any(p.family == AF_INET ? AddressFamily::kIpv4 : AddressFamily::kIpv6);
  std::optional<IpAddress> src;
  int oif = 0;
  if (auto a = p.attributes.get(RTA_DST)) {
    auto v = address_attribute(*a, p.family);
    if (!v) return v.error();
    dst = *v;
  }
  if (auto a = p.attributes.get(RTA_SRC)) {
    auto v = address_attribute(*a, p.family);
    if (!v) return v.error();
    src = *v;
  }
  if (auto a = p.attributes.get(RTA_OIF)) {
    auto v = netlink::attribute_u32(*a);
    if (!v) return v.error();
    oif = static_cast<int>(*v);
    if (oif != 0 && find_interface(s, oif) == nullptr) return Error::kNoDevice;
  }
  auto found = lookup_route(s, dst, oif);
  if (!found) return Error::kNetworkUnreachable;
  const RouteState& r = found->route;
  bool v4 = p.family == AF_INET;
  int out_index = found->local ? loopback_index(s) : r.interface_index;
  MessageBuilder b(RTM_NEWROUTE, 0, m.header.seq, portid);
  uint8_t table = found->local ? RT_TABLE_LOCAL : RT_TABLE_MAIN;
  uint8_t type = found->local ? RTN_LOCAL : RTN_UNICAST;
  if (v4) {
    // Linux merges the IPv4 local table into main while no policy rule is added, so even a
    // local answer names the main table; RTCF_LOCAL in the flags makes ip print "<local>".
    table = RT_TABLE_MAIN;
    put_route_header(b.reserve(kRtmsgSize), AF_INET, 32, src ? 32 : 0, table, RTPROT_UNSPEC,
                     RT_SCOPE_UNIVERSE, type, RTM_F_CLONED | (found->local ? kRtcfLocal : 0));
    b.put_u32(RTA_TABLE, table);
    b.put(RTA_DST, dst.bytes());
    if (src) b.put(RTA_SRC, src->bytes());
    b.put_u32(RTA_OIF, static_cast<uint32_t>(out_index));
    b.put(RTA_PREFSRC, found->source.bytes());
    if (r.gateway && !found->local) b.put(RTA_GATEWAY, r.gateway->bytes());
    b.put_u32(RTA_UID, 0);
    std::array<std::byte, kRtaCacheinfoSize> cache{};
    b.put(RTA_CACHEINFO, cache);
  } else {
    uint8_t protocol = (found->local || is_prefix_route(s, r)) ? RTPROT_KERNEL : RTPROT_BOOT;
    put_route_header(b.reserve(kRtmsgSize), AF_INET6, 128, 128, table, protocol, RT_SCOPE_UNIVERSE,
                     type, 0);
    b.put_u32(RTA_TABLE, table);
    b.put(RTA_DST, dst.bytes());
    b.put(RTA_SRC, src ? src->bytes() : IpAddress::any(AddressFamily::kIpv6).bytes());
    b.put(RTA_PREFSRC, found->source.bytes());
    b.put_u32(RTA_PRIORITY, found->local ? 0 : route_priority(s, r));
    if (r.gateway && !found->local) b.put(RTA_GATEWAY, r.gateway->bytes());
    b.put_u32(RTA_OIF, static_cast<uint32_t>(out_index));
    std::array<std::byte, kRtaCacheinfoSize> cache{};
    b.put(RTA_CACHEINFO, cache);
    b.put_u8(RTA_PREF, 0);
  }
  out.single(std::move(b).finish());
  return ok_status();
}

Outcome get_routes(const Message& m, const NetState& s, uint32_t portid, bool strict,
                   AnswerWriter& out) {
  auto p = parse_request(m, kRtmsgSize, RTA_MAX);
  if (!p) return p.error();
  if (m.header.is_dump()) return dump_routes(m, s, portid, strict, *p, out);
  return get_route(m, s, portid, *p, out);
}

// ---- rules ----

std::vector<std::byte> rule_message(uint8_t family, uint8_t table, uint32_t priority,
                                    uint16_t flags, uint32_t seq, uint32_t portid) {
  MessageBuilder b(RTM_NEWRULE, flags, seq, portid);
  auto h = b.reserve(kFibRuleHdrSize);
  store_u8(h, 0, family);
  store_u8(h, 4, table);
  store_u8(h, 7, FR_ACT_TO_TBL);
  b.put_u32(FRA_TABLE, table);
  b.put_u32(FRA_SUPPRESS_PREFIXLEN, 0xffffffffu);
  b.put_u8(FRA_PROTOCOL, RTPROT_KERNEL);
  if (priority != 0) b.put_u32(FRA_PRIORITY, priority);
  return std::move(b).finish();
}

// The rules every Linux network namespace starts with: local, main (and default for IPv4).
Outcome get_rules(const Message& m, uint32_t portid, AnswerWriter& out) {
  if (!m.header.is_dump()) return Error::kNotSupported;
  if (m.payload.empty()) return Error::kInvalidArgument;
  uint8_t family = load_u8(m.payload, 0);
  uint16_t f = netlink::kFlagMulti;
  uint32_t seq = m.header.seq;
  if (family == AF_UNSPEC || family == AF_INET) {
    out.dump_part(rule_message(AF_INET, RT_TABLE_LOCAL, 0, f, seq, portid));
    out.dump_part(rule_message(AF_INET, RT_TABLE_MAIN, 32766, f, seq, portid));
    out.dump_part(rule_message(AF_INET, RT_TABLE_DEFAULT, 32767, f, seq, portid));
  }
  if (family == AF_UNSPEC || family == AF_INET6) {
    out.dump_part(rule_message(AF_INET6, RT_TABLE_LOCAL, 0, f, seq, portid));
    out.dump_part(rule_message(AF_INET6, RT_TABLE_MAIN, 32766, f, seq, portid));
  }
  out.end_dump(netlink::done_message(seq, portid));
  return ok_status();
}

// ---- dispatch ----

enum class Kind { kNew, kDel, kGet, kSet };
Kind kind_of(uint16_t type) { return static_cast<Kind>((type - RTM_BASE) & 3); }

Outcome answer_one(const Message& m, const NetState& s, uint32_t portid, bool strict,
                   AnswerWriter& out) {
  uint16_t type = m.header.type;
  if (type > RTM_MAX) return Error::kNotSupported;
  if (kind_of(type) != Kind::kGet) return Error::kOperationNotPermitted;
  switch (type) {
    case RTM_GETLINK:
      return get_link(m, s, portid, strict, out);
    case RTM_GETADDR:
      return get_addresses(m, s, portid, strict, out);
    case RTM_GETROUTE:
      return get_routes(m, s, portid, strict, out);
    case RTM_GETRULE:
      return get_rules(m, portid, out);
    case RTM_GETNEIGH:
      // The stack's neighbour cache is not part of the snapshot: the table reads as empty.
      if (!m.header.is_dump()) return Error::kNotFound;
      if (m.payload.empty()) return Error::kInvalidArgument;
      out.end_dump(netlink::done_message(m.header.seq, portid));
      return ok_status();
    default:
      return Error::kNotSupported;
  }
}

// The source address Linux picks for a route without a preferred source: an address of the
// outgoing interface on the subnet of the next hop (IPv4) or of the destination (IPv6), else
// the first one whose scope reaches the destination.
IpAddress select_source(const NetState& s, const RouteState& r, const IpAddress& destination) {
  const InterfaceState* iface = find_interface(s, r.interface_index);
  if (iface == nullptr) return IpAddress::any(destination.family());
  IpAddress match = destination.is_v4() ? r.gateway.value_or(destination) : destination;
  std::optional<IpAddress> fallback;
  for (const auto& a : iface->addresses) {
    if (a.address.family() != destination.family()) continue;
    if (a.contains(match)) return a.address;
    if (fallback) continue;
    bool narrow = address_scope(a.address) > address_scope(destination);
    if (!narrow) fallback = a.address;
  }
  if (fallback) return *fallback;
  for (const auto& a : iface->addresses)
    if (a.address.family() == destination.family()) return a.address;
  return IpAddress::any(destination.family());
}

}  // namespace

std::optional<RouteLookup> lookup_route(const NetState& state, const IpAddress& destination,
                                        int oif) {
  // Our own addresses first: the local table wins over any main-table route.
  for (const auto& i : state.interfaces) {
    for (const auto& a : i.addresses) {
      bool own = a.address == destination;
      // lo's 127.0.0.1/8 answers for the whole 127/8, as Linux's local route does.
      if (i.loopback && a.address.is_v4() && destination.is_v4() && a.contains(destination)) {
        own = true;
      }
      if (!own) continue;
      RouteLookup r;
      r.local = true;
      r.route.destination =
          IpPrefix{destination, static_cast<uint8_t>(destination.is_v4() ? 32 : 128)};
      r.route.interface_index = i.index;
      r.route.local = true;
      r.source = a.address;  // 127.1.2.3 is answered from 127.0.0.1
      return r;
    }
  }
  const RouteState* best = nullptr;
  const std::vector<RouteState> routes = linux_routes(state);
  for (const auto& r : routes) {
    if (r.local || r.destination.address.family() != destination.family()) continue;
    if (oif != 0 && r.interface_index != oif) continue;
    if (!r.destination.contains(destination)) continue;
    if (best == nullptr || r.destination.length > best->destination.length ||
        (r.destination.length == best->destination.length && r.metric < best->metric)) {
      best = &r;
    }
  }
  if (best == nullptr) return std::nullopt;
  RouteLookup out;
  out.route = *best;
  if (best->preferred_source) {
    out.source = *best->preferred_source;
    return out;
  }
  out.source = select_source(state, *best, destination);
  return out;
}

std::vector<std::vector<std::byte>> answer_route_request(ByteView request, const NetState& state,
                                                         uint32_t portid,
                                                         const RouteRequestOptions& options) {
  // Route answers need the interfaces and the routes, not the sockets.
  NetState view;
  view.interfaces = state.interfaces;
  view.routes = linux_routes(state);
  return netlink::answer_messages(request, portid, options.max_datagram,
                                  [&](const Message& m, AnswerWriter& out) {
                                    return answer_one(m, view, portid, options.strict_check, out);
                                  });
}

}  // namespace weir::sandbox
