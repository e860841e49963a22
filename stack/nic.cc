#include "stack/nic.h"

#include <algorithm>

#include "stack/checksum.h"
#include "stack/gso.h"
#include "stack/stack.h"

namespace weir {

Nic::Nic(Stack& stack, NicId id, std::string name, std::unique_ptr<LinkEndpoint> endpoint)
    : stack_(stack),
      id_(id),
      name_(std::move(name)),
      endpoint_(std::move(endpoint)),
      link_mtu_(endpoint_->mtu()),
      link_capabilities_(endpoint_->capabilities()) {
  endpoint_->attach(this);
}

void Nic::refresh_link() {
  link_mtu_ = endpoint_->mtu();
  link_capabilities_ = endpoint_->capabilities();
}

Nic::~Nic() { endpoint_->attach(nullptr); }

Status Nic::add_address(const IpPrefix& prefix) {
  unsigned max_len = prefix.address.is_v4() ? 32 : 128;
  if (prefix.length > max_len || prefix.address.is_unspecified() || prefix.address.is_multicast()) {
    return Error::kInvalidArgument;
  }
  if (has_address(prefix.address)) return Error::kAddressInUse;
  addresses_.push_back(prefix);
  return {};
}

Status Nic::remove_address(const IpAddress& address) {
  auto it = std::find_if(addresses_.begin(), addresses_.end(),
                         [&](const IpPrefix& p) { return p.address == address; });
  if (it == addresses_.end()) return Error::kAddressNotAvailable;
  addresses_.erase(it);
  return {};
}

bool Nic::has_address(const IpAddress& address) const {
  return std::any_of(addresses_.begin(), addresses_.end(),
                     [&](const IpPrefix& p) { return p.address == address; });
}

std::optional<IpAddress> Nic::select_source(AddressFamily family,
                                            const std::optional<IpAddress>& toward) const {
  std::optional<IpAddress> first;
  for (const auto& p : addresses_) {
    if (p.address.family() != family) continue;
    if (toward && p.contains(*toward)) return p.address;
    if (!first) first = p.address;
  }
  return first;
}

void Nic::join_group(const IpAddress& group) {
  for (auto& [g, count] : groups_) {
    if (g == group) {
      ++count;
      return;
    }
  }
  groups_.emplace_back(group, 1);
  notify_group(group, true);
}

void Nic::leave_group(const IpAddress& group) {
  for (auto it = groups_.begin(); it != groups_.end(); ++it) {
    if (it->first == group) {
      if (--it->second == 0) {
        groups_.erase(it);
        notify_group(group, false);
      }
      return;
    }
  }
}

size_t Nic::add_group_listener(GroupListener listener) {
  const size_t id = next_listener_id_++;
  group_listeners_.emplace_back(id, std::move(listener));
  return id;
}

void Nic::remove_group_listener(size_t id) {
  std::erase_if(group_listeners_, [id](const auto& l) { return l.first == id; });
}

void Nic::notify_group(const IpAddress& group, bool joined) {
  // A copy: a listener may add or remove listeners.
  auto listeners = group_listeners_;
  for (auto& [id, listener] : listeners) listener(*this, group, joined);
}

bool Nic::in_group(const IpAddress& group) const {
  return std::any_of(groups_.begin(), groups_.end(),
                     [&](const auto& g) { return g.first == group; });
}

void Nic::deliver_network_packet(PacketBuffer&& pkt) {
  ++counters_.rx_packets;
  counters_.rx_bytes += pkt.size();
  if (!enabled_) {
    ++counters_.rx_drop_disabled;
    return;
  }
  NetworkProtocol* proto = stack_.network_protocol(pkt.meta().network_protocol);
  if (proto == nullptr) {
    ++counters_.rx_drop_unknown_protocol;
    return;
  }
  pkt.meta().nic = id_;
  proto->handle_packet(*this, std::move(pkt));
}

Status Nic::write_packet(PacketBuffer&& pkt) {
  return write_packet(std::move(pkt), link_capabilities_);
}

Status Nic::write_packet(PacketBuffer&& pkt, const LinkCapabilities& caps) {
  // write_packets() for one packet, without its walk over the batch for GSO packets.
  if (!caps.gso && pkt.meta().gso_type != GsoType::kNone) {
    return write_segmented(std::span(&pkt, 1), caps);
  }
  return write_to_link(std::span(&pkt, 1), caps);
}

Status Nic::write_packets(std::span<PacketBuffer> pkts) {
  if (pkts.empty()) return {};
  const LinkCapabilities& caps = link_capabilities_;
  if (!caps.gso && std::any_of(pkts.begin(), pkts.end(), [](const PacketBuffer& p) {
        return p.meta().gso_type != GsoType::kNone;
      })) {
    return write_segmented(pkts, caps);
  }
  return write_to_link(pkts, caps);
}

Status Nic::write_segmented(std::span<PacketBuffer> pkts, const LinkCapabilities& caps) {
  // A link that cannot segment gets GSO packets cut here (stack/gso.h), into a vector kept
  // between calls so that segmenting allocates nothing once it has grown; taken out of the
  // member while in use, so a nested call (a link that loops back) starts its own.
  std::vector<PacketBuffer> segmented = std::move(segmented_);
  struct GiveBack {
    std::vector<PacketBuffer>& from;
    std::vector<PacketBuffer>& to;
    ~GiveBack() {
      from.clear();
      if (from.capacity() > to.capacity()) to = std::move(from);
    }
  } give_back{segmented, segmented_};
  segmented.reserve(pkts.size() * 4);
  for (PacketBuffer& p : pkts) {
    if (p.meta().gso_type == GsoType::kNone) {
      segmented.push_back(std::move(p));
      continue;
    }
    const size_t before = segmented.size();
    if (!segment_in_software(stack_, p, segmented)) {
      ++counters_.tx_drop_gso_unsegmentable;
      continue;
    }
    ++counters_.tx_gso_software_packets;
    counters_.tx_gso_software_segments += segmented.size() - before;
  }
  if (segmented.empty()) return Error::kInvalidArgument;
  return write_to_link(segmented, caps);
}

// Inlined into its callers: write_packet() calls it for every datagram sent.
[[gnu::always_inline]] inline Status Nic::write_to_link(std::span<PacketBuffer> pkts,
                                                        const LinkCapabilities& caps) {
  size_t bytes = 0;
  const bool checksum_offload = caps.tx_checksum_offload;
  for (auto& p : pkts) {
    // A transport may leave its checksum to the link; one that cannot sum gets it done here.
    if (!checksum_offload && p.meta().needs_checksum) finish_offloaded_checksum(p);
    bytes += p.size();
  }
  auto sent = endpoint_->write_packets(pkts);
  if (!sent) {
    counters_.tx_drop_link_error += pkts.size();
    return sent.error();
  }
  counters_.tx_packets += *sent;
  counters_.tx_drop_link_error += pkts.size() - *sent;
  counters_.tx_bytes += bytes;  // bytes offered; drops are counted in packets
  if (*sent < pkts.size()) return Error::kNoBufferSpace;
  return {};
}

RouteInfo Nic::route_for_foreign_flow(const IpAddress& remote, const IpAddress& local) const {
  // Not Stack::find_route: it insists that the source is one of the stack's addresses, and it
  // may pick another NIC. The peer reached us through this NIC, so the answer leaves by it.
  const Route* best = nullptr;
  for (const Route& r : stack_.routes()) {
    if (r.nic != id_ || !r.destination.contains(remote)) continue;
    if (best == nullptr || r.destination.length > best->destination.length) best = &r;
  }
  RouteInfo info;
  info.nic = id_;
  info.local_address = local;
  info.remote_address = remote;
  info.next_hop = best != nullptr ? best->gateway.value_or(remote) : remote;
  info.mtu = mtu();
  if (const IpProtocol* ip = stack_.ip_protocol(remote.family()))
    info.mtu = ip->path_mtu(*this, remote);
  return info;
}

}  // namespace weir
