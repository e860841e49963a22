#include "ipv6/autoconf.h"

#include <algorithm>
#include <cstdio>
#include <string>

#include "ipv6/ipv6.h"
#include "ipv6/ndp_wire.h"
#include "ipv6/source_selection.h"
#include "ipv6/stable_iid.h"
#include "stack/nic.h"
#include "stack/stack.h"

namespace weir::ipv6 {

namespace {

constexpr Duration kRouterCheckInterval = std::chrono::seconds(2);

IpPrefix link_local_route() {
  std::array<uint8_t, 16> o{};
  o[0] = 0xfe;
  o[1] = 0x80;
  return IpPrefix{IpAddress(Ipv6Address(o)), 64};
}

IpPrefix default_route() { return IpPrefix{IpAddress(Ipv6Address()), 0}; }

PacketBuffer packet_of(ByteView bytes) { return PacketBuffer::from_bytes(bytes); }

std::string origin_name(AddressOrigin origin) {
  switch (origin) {
    case AddressOrigin::kLinkLocal:
      return "link-local";
    case AddressOrigin::kSlaac:
      return "autoconfigured";
    case AddressOrigin::kManual:
      return "configured";
  }
  return "";
}

}  // namespace

struct Autoconf::NicState {
  explicit NicState(NicId id, std::function<void()> rs_fire)
      : nic(id), rs_timer(std::move(rs_fire)) {}
  NicId nic;
  Timer rs_timer;
  uint32_t rs_sent = 0;
  bool rs_done = false;
  bool rs_waiting = false;  // a solicitation is due but the link-local address is tentative
  bool link_local_route = false;
  size_t group_listener = 0;  // Nic::add_group_listener id
  std::optional<Ipv6Address> link_local;
  std::vector<Route> routes;  // the routes we installed for this NIC
};

Autoconf::Autoconf(Stack& stack, Ipv6Protocol& ip, AutoconfOptions options)
    : stack_(stack),
      ip_(ip),
      options_(std::move(options)),
      routers_(stack.timers(), stack.rng(), options_.router_list),
      slaac_(stack.timers(), stack.rng(), *this,
             options_.iid_key.value_or(stable_iid_key(stack.secret())), options_.slaac_options),
      mld_(stack.timers(), stack.rng(), *this, options_.mld),
      rdnss_(options_.max_dns_servers),
      router_check_([this] { on_router_check(); }),
      self_(std::make_shared<Autoconf*>(this)) {
  routers_.set_change_callback([this](NicId nic) { sync_routes(nic); });
  Icmpv6& icmp = ip_.icmp();
  for (uint8_t type : {kNdpRouterSolicitation, kNdpRouterAdvertisement, kNdpRedirect, kMldQuery,
                       kMldV1Report, kMldV1Done, kMldV2Report}) {
    icmp.set_handler(type, this);
  }
  ip_.ndp().add_observer(*this);
  std::weak_ptr<Autoconf*> weak = self_;
  ip_.add_address_hook([weak](Nic& nic, const IpPrefix& prefix) {
    if (auto self = weak.lock()) (*self)->address_added(nic, prefix);
  });
  ip_.set_source_selector([this](const Nic& nic, const IpAddress& remote, const IpAddress&) {
    return select_source(nic, remote);
  });
  for (NicId id : stack_.nic_ids()) {
    if (Nic* n = stack_.nic(id)) enable(*n);
  }
}

Autoconf::~Autoconf() {
  Icmpv6& icmp = ip_.icmp();
  for (uint8_t type : {kNdpRouterSolicitation, kNdpRouterAdvertisement, kNdpRedirect, kMldQuery,
                       kMldV1Report, kMldV1Done, kMldV2Report}) {
    if (icmp.handler(type) == this) icmp.set_handler(type, nullptr);
  }
  ip_.ndp().remove_observer(*this);
  ip_.set_source_selector(nullptr);
  for (const auto& s : nics_) {
    if (Nic* nic = stack_.nic(s->nic)) nic->remove_group_listener(s->group_listener);
  }
}

Autoconf::NicState* Autoconf::state(NicId nic) {
  for (auto& s : nics_) {
    if (s->nic == nic) return s.get();
  }
  return nullptr;
}

const Autoconf::NicState* Autoconf::state(NicId nic) const {
  for (const auto& s : nics_) {
    if (s->nic == nic) return s.get();
  }
  return nullptr;
}

void Autoconf::enable(Nic& nic) {
  const LinkCapabilities caps = nic.endpoint().capabilities();
  if (caps.loopback || !caps.resolution_required) return;
  if (state(nic.id()) != nullptr) return;
  const NicId id = nic.id();
  nics_.push_back(std::make_unique<NicState>(id, [this, id] { on_rs_timer(id); }));
  NicState& s = *nics_.back();
  // MLD reports every IPv6 group the NIC accepts, whoever joined it (RFC 3810 6.1).
  s.group_listener = nic.add_group_listener([this](Nic& n, const IpAddress& group, bool joined) {
    if (!group.is_v6()) return;
    if (joined) {
      mld_.join(n.id(), group.v6());
    } else {
      mld_.leave(n.id(), group.v6());
    }
  });
  for (const auto& [group, count] : nic.groups()) {
    if (group.is_v6()) mld_.join(id, group.v6());
  }
  if (options_.link_local) slaac_.start_link_local(id, nic.name());
  if (options_.accept_ra && options_.router_solicitations > 0) {
    Duration delay = Duration::zero();
    if (options_.max_router_solicitation_delay > Duration::zero()) {
      delay = Duration(static_cast<Duration::rep>(stack_.rng().uniform(
          static_cast<uint64_t>(options_.max_router_solicitation_delay.count()))));
    }
    stack_.timers().arm_after(s.rs_timer, delay);
  }
}

std::vector<Ipv6Address> Autoconf::dns_servers() const { return rdnss_.servers(stack_.now()); }

std::optional<Ipv6Address> Autoconf::link_local_address(NicId nic) const {
  const NicState* s = state(nic);
  return s != nullptr ? s->link_local : std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Router solicitations.

void Autoconf::on_rs_timer(NicId nic) {
  NicState* s = state(nic);
  if (s == nullptr || s->rs_done) return;
  // 6.3.7 allows ::, but a solicitation with our link-layer address gets a unicast answer;
  // wait for the link-local address while DAD runs on it (Linux waits too).
  if (!s->link_local && options_.link_local) {
    bool tentative = false;
    slaac_.for_each_address(nic, [&](const SlaacAddress& a) {
      tentative |= a.origin == AddressOrigin::kLinkLocal && a.state == AddressState::kTentative;
    });
    if (tentative) {
      s->rs_waiting = true;
      return;
    }
  }
  send_rs(*s);
}

void Autoconf::send_rs(NicState& s) {
  s.rs_waiting = false;
  Nic* nic = stack_.nic(s.nic);
  if (nic == nullptr || s.rs_done || s.rs_sent >= options_.router_solicitations) return;
  RouterSolicitationFields rs;
  Ipv6Address source;
  if (s.link_local) {
    source = *s.link_local;
    rs.source_lla = nic->link_address();
  }
  PacketBuffer pkt = packet_of(build_ndp(rs));
  ++s.rs_sent;
  ++counters_.tx_rs;
  if (!ip_.send_icmp(*nic, source, all_routers_group(), LocalSend{.hop_limit = kNdpHopLimit},
                     std::move(pkt))) {
    ++counters_.tx_drop_error;
  }
  if (s.rs_sent < options_.router_solicitations) {
    stack_.timers().arm_after(s.rs_timer, options_.router_solicitation_interval);
  }
}

// ---------------------------------------------------------------------------------------------
// ICMPv6 messages.

void Autoconf::handle_icmpv6(Nic& nic, const ReceivedDatagram& dgram, ByteView message) {
  if (message.empty()) return;
  switch (load_u8(message, 0)) {
    case kNdpRouterSolicitation:
      ++counters_.rx_rs_ignored;  // hosts do not answer solicitations (RFC 4861 6.2.6)
      return;
    case kNdpRouterAdvertisement:
      handle_ra(nic, dgram, message);
      return;
    case kNdpRedirect:
      handle_redirect(nic, dgram, message);
      return;
    default:
      if (!dgram.info.source.is_v6()) return;
      mld_.handle_message(nic.id(), message, dgram.info.source.v6(), dgram.info.ttl,
                          dgram.router_alert);
      return;
  }
}

void Autoconf::handle_ra(Nic& nic, const ReceivedDatagram& dgram, ByteView message) {
  ++counters_.rx_ra;
  if (!options_.accept_ra || state(nic.id()) == nullptr) {
    ++counters_.rx_ra_ignored;
    return;
  }
  const Ipv6Address source = dgram.info.source.v6();
  const NdpIpFields ip{source, dgram.info.destination.v6(), dgram.info.ttl};
  switch (check_ndp(message, ip)) {
    case NdpCheck::kOk:
      break;
    case NdpCheck::kBadHopLimit:
      ++counters_.ra_drop_bad_hop_limit;
      return;
    case NdpCheck::kBadCode:
      ++counters_.ra_drop_bad_code;
      return;
    case NdpCheck::kTruncated:
      ++counters_.ra_drop_truncated;
      return;
    case NdpCheck::kSourceNotLinkLocal:
      ++counters_.ra_drop_source_not_link_local;
      return;
    default:
      ++counters_.ra_drop_bad_options;
      return;
  }
  if (stack_.is_local_address(IpAddress(source))) {
    ++counters_.ra_drop_from_self;
    return;
  }
  auto view = RouterAdvertView::parse(message);
  if (!view) {
    ++counters_.ra_drop_truncated;
    return;
  }
  const RouterAdvert ra = parse_router_advert(*view, source);
  counters_.ra_options_ignored +=
      ra.bad_prefix_options + ra.bad_mtu_options + ra.bad_rdnss_options + ra.bad_route_options;
  if (ra.source_lla) {
    // 6.3.4: record the router's link-layer address, STALE until something confirms it.
    ip_.ndp().cache().update(nic, IpAddress(source),
                             NeighborUpdate{ra.source_lla, false, true, /*create=*/true});
  }
  const LinkParamChanges changes = routers_.process_ra(nic.id(), ra, nic.mtu());
  if (changes.cur_hop_limit) ip_.set_default_hop_limit(*changes.cur_hop_limit);
  if (changes.reachable_time) ip_.ndp().cache().set_reachable_time(*changes.reachable_time);
  if (changes.retrans_timer) {
    ip_.ndp().cache().set_retransmit_interval(*changes.retrans_timer);
    slaac_.set_retrans_timer(*changes.retrans_timer);
  }
  if (changes.mtu) ip_.set_link_mtu(nic.id(), *changes.mtu);
  if (ra.router_lifetime != 0) {
    if (NicState* s = state(nic.id())) {
      s->rs_done = true;  // 6.3.7: desist
      s->rs_timer.cancel();
    }
  }
  if (options_.slaac) {
    for (const PrefixInfo& p : ra.prefixes) slaac_.on_prefix(nic.id(), nic.name(), p);
  }
  if (!ra.rdnss.empty()) rdnss_.update(nic.id(), ra.rdnss, stack_.now());
}

void Autoconf::handle_redirect(Nic& nic, const ReceivedDatagram& dgram, ByteView message) {
  ++counters_.rx_redirects;
  if (!options_.accept_redirects) {
    ++counters_.redirect_refused_disabled;
    return;
  }
  const Ipv6Address source = dgram.info.source.v6();
  switch (check_ndp(message, NdpIpFields{source, dgram.info.destination.v6(), dgram.info.ttl})) {
    case NdpCheck::kOk:
      break;
    case NdpCheck::kBadHopLimit:
      ++counters_.redirect_drop_bad_hop_limit;
      return;
    case NdpCheck::kBadCode:
      ++counters_.redirect_drop_bad_code;
      return;
    case NdpCheck::kTruncated:
      ++counters_.redirect_drop_truncated;
      return;
    case NdpCheck::kSourceNotLinkLocal:
      ++counters_.redirect_drop_source_not_link_local;
      return;
    case NdpCheck::kMulticastDestination:
      ++counters_.redirect_drop_multicast_destination;
      return;
    case NdpCheck::kBadRedirectTarget:
      ++counters_.redirect_drop_bad_target;
      return;
    default:
      ++counters_.redirect_drop_bad_options;
      return;
  }
  auto redirect = RedirectView::parse(message);
  if (!redirect) {
    ++counters_.redirect_drop_truncated;
    return;
  }
  const Ipv6Address target = redirect->target();
  const Ipv6Address destination = redirect->destination();
  // 8.1: the redirect must come from the router we use now toward the destination.
  auto route = stack_.find_route(IpAddress(destination), IpAddress(), nic.id());
  if (!route || route->nic != nic.id() || route->next_hop != IpAddress(source)) {
    ++counters_.redirect_refused_not_first_hop;
    return;
  }
  if (auto tlla = redirect->options().find(kOptTargetLinkLayerAddress)) {
    if (auto mac = parse_link_layer_address(*tlla)) {
      ip_.ndp().cache().update(nic, IpAddress(target),
                               NeighborUpdate{*mac, false, true, /*create=*/true});
    }
  }
  ++counters_.redirects_applied;
  routers_.accept_redirect(nic.id(), destination, target);
}

// ---------------------------------------------------------------------------------------------
// NDP observer.

void Autoconf::on_neighbor_solicitation(Nic& nic, const Ipv6Address& source,
                                        const Ipv6Address& target, ByteView message) {
  if (!source.is_unspecified()) {
    slaac_.on_resolution_solicitation(nic.id(), target);
    return;
  }
  ByteView nonce;
  if (auto ns = NeighborSolicitationView::parse(message)) {
    if (auto opt = ns->options().find(kOptNonce)) {
      if (auto n = parse_nonce(*opt)) nonce = *n;
    }
  }
  slaac_.on_dad_solicitation(nic.id(), target, nonce);
}

void Autoconf::on_neighbor_advertisement(Nic& nic, const Ipv6Address& source,
                                         const Ipv6Address& target, bool router, bool solicited,
                                         bool override_flag,
                                         const std::optional<MacAddress>& target_lla,
                                         ByteView message) {
  (void)source;
  (void)solicited;
  (void)override_flag;
  (void)target_lla;
  (void)message;
  slaac_.on_advertisement(nic.id(), target);
  // 7.2.5: IsRouter turned false: no longer a default router.
  if (!router && routers_.is_router(nic.id(), target)) routers_.not_a_router(nic.id(), target);
}

// ---------------------------------------------------------------------------------------------
// Addresses.

void Autoconf::address_added(Nic& nic, const IpPrefix& prefix) {
  if (assigning_ || !prefix.address.is_v6() || !options_.dad_manual) return;
  if (state(nic.id()) == nullptr) return;  // loopback, or not enabled
  // Not usable until DAD passes (RFC 4862 5.4): off the NIC meanwhile; its route stays.
  (void)nic.remove_address(prefix.address);
  slaac_.start_manual(nic.id(), prefix);
  // SLAAC holds the solicited-node group now (and leaves it if DAD fails): drop the join the
  // IPv6 layer made for the address, so a duplicate leaves nothing behind.
  nic.leave_group(IpAddress(solicited_node_group(prefix.address.v6())));
}

void Autoconf::join_solicited_node(NicId id, const Ipv6Address& address) {
  if (Nic* nic = stack_.nic(id)) join_group(*nic, solicited_node_group(address));
}

void Autoconf::leave_solicited_node(NicId id, const Ipv6Address& address) {
  if (Nic* nic = stack_.nic(id)) leave_group(*nic, solicited_node_group(address));
}

void Autoconf::join_group(Nic& nic, const Ipv6Address& group) {
  nic.join_group(IpAddress(group));  // the group listener tells MLD
}

void Autoconf::leave_group(Nic& nic, const Ipv6Address& group) {
  nic.leave_group(IpAddress(group));
}

void Autoconf::send_dad_probe(NicId id, const Ipv6Address& target,
                              const std::optional<DadNonce>& nonce) {
  Nic* nic = stack_.nic(id);
  if (nic == nullptr) return;
  NeighborSolicitationFields ns{target, std::nullopt, nonce};
  if (!ip_.send_icmp(*nic, Ipv6Address(), solicited_node_group(target),
                     LocalSend{.hop_limit = kNdpHopLimit}, packet_of(build_ndp(ns)))) {
    ++counters_.tx_drop_error;
  }
}

void Autoconf::assign(NicId id, const IpPrefix& address, AddressOrigin origin) {
  Nic* nic = stack_.nic(id);
  if (nic == nullptr) return;
  assigning_ = true;
  (void)nic->add_address(address);
  assigning_ = false;
  NicState* s = state(id);
  if (origin != AddressOrigin::kLinkLocal || s == nullptr) return;
  s->link_local = address.address.v6();
  if (!s->link_local_route) {
    s->link_local_route = true;
    const Route route{link_local_route(), std::nullopt, id};
    const auto& table = stack_.routes();
    if (std::find(table.begin(), table.end(), route) == table.end()) stack_.add_route(route);
  }
  if (s->rs_waiting) send_rs(*s);
}

void Autoconf::unassign(NicId id, const IpPrefix& address, AddressOrigin origin) {
  Nic* nic = stack_.nic(id);
  if (nic == nullptr) return;
  (void)nic->remove_address(address.address);
  NicState* s = state(id);
  if (origin == AddressOrigin::kLinkLocal && s != nullptr &&
      s->link_local == address.address.v6()) {
    s->link_local.reset();
  }
}

void Autoconf::duplicate_detected(NicId id, const Ipv6Address& address, AddressOrigin origin) {
  ++counters_.duplicate_addresses;
  const Nic* nic = stack_.nic(id);
  log("IPv6 duplicate address " + address.to_string() + " (" + origin_name(origin) + ") on " +
      (nic != nullptr ? nic->name() : std::string("?")) + ": another node uses it; not assigned");
  // A solicitation waiting for this link-local address goes from :: instead (a retry with a
  // new IID may follow; the next solicitation waits for that one).
  NicState* s = state(id);
  if (s != nullptr && s->rs_waiting && origin == AddressOrigin::kLinkLocal) send_rs(*s);
}

bool Autoconf::address_in_use(NicId id, const Ipv6Address& address) const {
  const Nic* nic = stack_.nic(id);
  return nic != nullptr && nic->has_address(IpAddress(address));
}

void Autoconf::send_report(NicId id, ByteView message) {
  Nic* nic = stack_.nic(id);
  if (nic == nullptr) return;
  const NicState* s = state(id);
  // RFC 3810 5.2.13: from the link-local address, or :: while there is none yet.
  const Ipv6Address source = s != nullptr && s->link_local ? *s->link_local : Ipv6Address();
  if (!ip_.send_icmp(*nic, source, all_mldv2_routers_group(),
                     LocalSend{.hop_limit = 1, .router_alert = true}, packet_of(message))) {
    ++counters_.tx_drop_error;
  }
}

void Autoconf::log(std::string_view line) {
  if (options_.log) {
    options_.log(line);
  } else {
    std::fprintf(stderr, "weir: %.*s\n", static_cast<int>(line.size()), line.data());
  }
}

// ---------------------------------------------------------------------------------------------
// Routes and source selection.

RouterReachability Autoconf::reachability(NicId nic, const Ipv6Address& router) const {
  auto entry = ip_.ndp().cache().find(nic, IpAddress(router));
  if (!entry || entry->state == NeighborState::kIncomplete ||
      entry->state == NeighborState::kFailed) {
    return RouterReachability::kUnknown;
  }
  return RouterReachability::kProbablyReachable;
}

void Autoconf::sync_routes(NicId nic) {
  NicState* s = state(nic);
  if (s == nullptr) return;
  std::vector<Route> want;
  for (const OnLinkPrefix& p : routers_.prefixes(nic)) {
    want.push_back(Route{p.prefix, std::nullopt, nic});
  }
  for (const RedirectEntry& r : routers_.redirects(nic)) {
    std::optional<IpAddress> gateway;
    if (!r.on_link()) gateway = IpAddress(r.target);
    want.push_back(Route{IpPrefix{IpAddress(r.destination), 128}, gateway, nic});
  }
  if (auto router = routers_.select_default_router(
          nic, [this](NicId n, const Ipv6Address& a) { return reachability(n, a); })) {
    want.push_back(Route{default_route(), IpAddress(*router), nic});
  }
  for (const Route& r : s->routes) {
    if (std::find(want.begin(), want.end(), r) == want.end()) {
      stack_.remove_route(r);
      ++counters_.routes_removed;
    }
  }
  std::vector<Route> ours;
  for (const Route& r : want) {
    if (std::find(s->routes.begin(), s->routes.end(), r) != s->routes.end()) {
      ours.push_back(r);
      continue;
    }
    // An equal route someone else added (the on-link route of a hand-added address, say)
    // stays theirs: Stack::remove_route would take both.
    const auto& table = stack_.routes();
    if (std::find(table.begin(), table.end(), r) != table.end()) continue;
    stack_.add_route(r);
    ++counters_.routes_added;
    ours.push_back(r);
  }
  s->routes = std::move(ours);
  // More than one router: watch the chosen one's reachability.
  if (routers_.router_count(nic) > 1 && !router_check_.armed()) {
    stack_.timers().arm_after(router_check_, kRouterCheckInterval);
  }
}

void Autoconf::on_router_check() {
  bool again = false;
  for (const auto& s : nics_) {
    if (routers_.routers(s->nic).size() < 2) continue;
    again = true;
    for (const Route& r : s->routes) {
      if (r.destination.length != 0 || !r.gateway) continue;
      auto entry = ip_.ndp().cache().find(s->nic, *r.gateway);
      if (entry && entry->state == NeighborState::kFailed) {
        sync_routes(s->nic);
        break;
      }
    }
  }
  if (again) stack_.timers().arm_after(router_check_, kRouterCheckInterval);
}

std::optional<IpAddress> Autoconf::select_source(const Nic& nic, const IpAddress& remote) const {
  if (!remote.is_v6()) return nic.select_source(remote.family(), remote);
  const Ipv6Address destination = remote.v6();
  const bool link_scope = address_scope(destination) <= kScopeLinkLocal;
  std::vector<SourceCandidate> candidates;
  for (NicId id : stack_.nic_ids()) {
    const Nic* n = stack_.nic(id);
    if (n == nullptr) continue;
    const bool outgoing = id == nic.id();
    if (!outgoing && (link_scope || !n->enabled())) continue;
    for (const IpPrefix& p : n->addresses()) {
      if (!p.address.is_v6()) continue;
      const Ipv6Address a = p.address.v6();
      if (!outgoing && (a.is_link_local() || a.is_loopback())) continue;
      const bool deprecated = slaac_.state(id, a) == AddressState::kDeprecated;
      candidates.push_back(SourceCandidate{a, p.length, deprecated, outgoing});
    }
  }
  auto chosen = select_source_address(destination, candidates);
  if (!chosen) return std::nullopt;
  return IpAddress(*chosen);
}

Autoconf& enable_autoconf(Stack& stack, AutoconfOptions options) {
  Ipv6Protocol* ip = find(stack);
  if (ip == nullptr) ip = &install(stack);
  if (Autoconf* existing = ip->component<Autoconf>()) return *existing;
  auto owned = std::make_unique<Autoconf>(stack, *ip, std::move(options));
  Autoconf& autoconf = *owned;
  ip->add_component(std::move(owned));
  stack.counters().add_struct("ipv6_autoconf", autoconf.counters());
  stack.counters().add_struct("slaac", autoconf.slaac().counters());
  stack.counters().add_struct("router_list", autoconf.router_list().counters());
  stack.counters().add_struct("mld", autoconf.mld().counters());
  return autoconf;
}

Autoconf* find_autoconf(Stack& stack) {
  Ipv6Protocol* ip = find(stack);
  return ip != nullptr ? ip->component<Autoconf>() : nullptr;
}

}  // namespace weir::ipv6
