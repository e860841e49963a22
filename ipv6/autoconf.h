// The host side of router discovery, address autoconfiguration and multicast listener
// reports: the glue between IPv6 (ipv6/ipv6.h, ICMPv6, NDP) and the pure components of part B
// (ipv6/router_list.h, ipv6/slaac.h, ipv6/mld.h, ipv6/rdnss.h, ipv6/source_selection.h).
//
// Theory of operation.
//
// Start (enable, for every NIC that resolves neighbors, i.e. not loopback): the link-local
// address fe80::/64 + a stable IID (RFC 7217) goes through DAD; Router Solicitations (RFC 4861
// 6.3.7) start after a random delay in [0, MAX_RTR_SOLICITATION_DELAY): up to
// MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL apart, to ff02::2, from the link-local
// address with our link-layer address (a solicitation due while it is still tentative waits
// for it, and goes from :: without the option if DAD fails for good). The first RA with a
// non-zero router lifetime ends them.
//
// Router Advertisements (type 134): dropped unless they pass RFC 4861 6.1.2 (check_ndp) and
// come from someone else, each reason counted. Then: the source link-layer address refreshes
// the router's neighbor entry (STALE, 6.3.4); the router list takes the router, the on-link
// prefixes and the link parameters (hop limit -> Ipv6Protocol, reachable time and retrans
// timer -> the neighbor cache and DAD, MTU -> Ipv6Protocol::set_link_mtu); SLAAC takes the
// prefixes; the RDNSS list the DNS servers.
//
// Routes: whenever the router list changes for a NIC, the routes this object installed for it
// are brought in line with it: an on-link route per on-link prefix, one ::/0 route via the
// selected default router (6.3.6), a /128 route per redirect. Routes added by others are never
// touched. Every two seconds a NIC with more than one router checks whether its default
// router's neighbor entry has failed, and if so selects again.
//
// Redirects (type 137): accept_redirects off -> refused; RFC 4861 8.1 checks (check_ndp), then
// "from the current first hop toward the destination" against the route table; an accepted
// redirect updates the target's neighbor entry from its link-layer option and the router list.
//
// DAD and addresses: NDP's observer calls feed SLAAC (an NS from :: for a tentative address
// is a conflict unless it carries our nonce; an NA for it is one). An address added by hand
// (Stack::add_address -> the address hook) is taken off the NIC while DAD runs and put back
// when it passes. Assigned addresses go on the NIC with Nic::add_address (the on-link route of
// a SLAAC address comes from the L flag, not from the address, RFC 5942); the link-local
// address also gets its fe80::/64 route. A duplicate is counted and logged.
//
// MLD: every IPv6 group a NIC accepts is reported by MLDv2 (ipv6/mld.h), whoever joined it (a
// Nic group listener: the solicited-node group of each address, a socket's group); reports
// leave from the link-local address (:: while it is tentative) to ff02::16 with hop limit 1
// and a Router Alert. Queries (130) and reports are handed to Mld.
//
// Source selection: the Ipv6Protocol's selector is RFC 6724 over the usable addresses of the
// outgoing NIC and the non-link-local ones of the others (weak host, like Linux); deprecated
// SLAAC addresses are avoided.
//
// Lifetime: enable_autoconf() makes one owned by the Ipv6Protocol (an Ipv6Component, destroyed
// before the layer's NDP and ICMPv6) and registers its counters. Constructed directly (tests),
// it must be destroyed before the Stack. Either way NICs that exist are enabled at once, and
// enable() takes NICs added later.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "ipv6/icmpv6.h"
#include "ipv6/ipv6.h"
#include "ipv6/mld.h"
#include "ipv6/ndp.h"
#include "ipv6/rdnss.h"
#include "ipv6/router_list.h"
#include "ipv6/slaac.h"
#include "stack/counters.h"
#include "stack/timer.h"

namespace weir {
class Nic;
class Stack;
struct Route;
}  // namespace weir

namespace weir::ipv6 {

struct AutoconfOptions {
  bool link_local = true;             // form a link-local address per NIC
  bool accept_ra = true;              // Linux accept_ra (hosts: 1)
  bool slaac = true;                  // Linux autoconf: addresses from RA prefixes
  bool accept_redirects = true;       // Linux accept_redirects (hosts: 1)
  bool dad_manual = true;             // DAD on addresses added by hand (Linux: unless nodad)
  uint32_t router_solicitations = 3;  // MAX_RTR_SOLICITATIONS
  Duration router_solicitation_interval = std::chrono::seconds(4);   // RTR_SOLICITATION_INTERVAL
  Duration max_router_solicitation_delay = std::chrono::seconds(1);  // MAX_RTR_SOLICITATION_DELAY
  SlaacOptions slaac_options;
  RouterListOptions router_list;
  MldOptions mld;
  size_t max_dns_servers = 8;
  std::optional<SipKey> iid_key;  // stable across restarts when given; else from Stack::secret
  // Where "duplicate address" lines go; default: stderr.
  std::function<void(std::string_view)> log;
};

#define WEIR_AUTOCONF_COUNTERS(X)                                                                  \
  X(rx_ra)                                                                                         \
  X(rx_ra_ignored)                                                                                 \
  X(ra_drop_bad_hop_limit)                                                                         \
  X(ra_drop_bad_code)                                                                              \
  X(ra_drop_truncated)                                                                             \
  X(ra_drop_bad_options) X(ra_drop_source_not_link_local) X(ra_drop_from_self)                     \
      X(ra_options_ignored) X(rx_rs_ignored) X(tx_rs) X(rx_redirects) X(redirect_refused_disabled) \
          X(redirect_drop_bad_hop_limit) X(redirect_drop_bad_code) X(redirect_drop_truncated)      \
              X(redirect_drop_bad_options) X(redirect_drop_source_not_link_local)                  \
                  X(redirect_drop_multicast_destination) X(redirect_drop_bad_target)               \
                      X(redirect_refused_not_first_hop) X(redirects_applied) X(routes_added)       \
                          X(routes_removed) X(duplicate_addresses) X(tx_drop_error)
WEIR_DEFINE_COUNTERS(AutoconfCounters, WEIR_AUTOCONF_COUNTERS)

class Autoconf final : public Ipv6Component,
                       public Icmpv6Handler,
                       public NdpObserver,
                       public SlaacHost,
                       public MldHost {
 public:
  Autoconf(Stack& stack, Ipv6Protocol& ip, AutoconfOptions options = {});
  ~Autoconf() override;
  Autoconf(const Autoconf&) = delete;
  Autoconf& operator=(const Autoconf&) = delete;

  // Starts autoconfiguration on a NIC (the constructor does it for those that exist).
  void enable(Nic& nic);

  // The DNS servers routers announced (RFC 8106), valid now.
  std::vector<Ipv6Address> dns_servers() const;
  const RdnssList& rdnss() const { return rdnss_; }

  // Joins / leaves a multicast group on a NIC (Nic::join_group; the listener reports it).
  void join_group(Nic& nic, const Ipv6Address& group);
  void leave_group(Nic& nic, const Ipv6Address& group);

  std::optional<AddressState> address_state(NicId nic, const Ipv6Address& address) const {
    return slaac_.state(nic, address);
  }
  std::optional<Ipv6Address> link_local_address(NicId nic) const;

  RouterList& router_list() { return routers_; }
  Slaac& slaac() { return slaac_; }
  Mld& mld() { return mld_; }
  const AutoconfCounters& counters() const { return counters_; }
  AutoconfCounters& counters() { return counters_; }

  // Icmpv6Handler: RS, RA, Redirect and the MLD types.
  void handle_icmpv6(Nic& nic, const ReceivedDatagram& dgram, ByteView message) override;
  // NdpObserver.
  void on_neighbor_solicitation(Nic& nic, const Ipv6Address& source, const Ipv6Address& target,
                                ByteView message) override;
  void on_neighbor_advertisement(Nic& nic, const Ipv6Address& source, const Ipv6Address& target,
                                 bool router, bool solicited, bool override_flag,
                                 const std::optional<MacAddress>& target_lla,
                                 ByteView message) override;
  // SlaacHost.
  void join_solicited_node(NicId nic, const Ipv6Address& address) override;
  void leave_solicited_node(NicId nic, const Ipv6Address& address) override;
  void send_dad_probe(NicId nic, const Ipv6Address& target,
                      const std::optional<DadNonce>& nonce) override;
  void assign(NicId nic, const IpPrefix& address, AddressOrigin origin) override;
  void unassign(NicId nic, const IpPrefix& address, AddressOrigin origin) override;
  void duplicate_detected(NicId nic, const Ipv6Address& address, AddressOrigin origin) override;
  bool address_in_use(NicId nic, const Ipv6Address& address) const override;
  // MldHost.
  void send_report(NicId nic, ByteView message) override;

 private:
  struct NicState;

  NicState* state(NicId nic);
  const NicState* state(NicId nic) const;
  void handle_ra(Nic& nic, const ReceivedDatagram& dgram, ByteView message);
  void handle_redirect(Nic& nic, const ReceivedDatagram& dgram, ByteView message);
  void address_added(Nic& nic, const IpPrefix& prefix);
  void send_rs(NicState& s);
  void on_rs_timer(NicId nic);
  void sync_routes(NicId nic);
  void on_router_check();
  RouterReachability reachability(NicId nic, const Ipv6Address& router) const;
  std::optional<IpAddress> select_source(const Nic& nic, const IpAddress& remote) const;
  void log(std::string_view line);

  Stack& stack_;
  Ipv6Protocol& ip_;
  AutoconfOptions options_;
  RouterList routers_;
  Slaac slaac_;
  Mld mld_;
  RdnssList rdnss_;
  std::vector<std::unique_ptr<NicState>> nics_;
  Timer router_check_;
  bool assigning_ = false;  // our own Nic::add_address is running: not a hand-added address
  // The address hook outlives us inside Ipv6Protocol; it holds only a weak reference.
  std::shared_ptr<Autoconf*> self_;
  AutoconfCounters counters_;
};

// Turns autoconfiguration on for a stack (installing IPv6 first if needed): the Autoconf is
// owned by the IPv6 layer and its counters join the stack's ("ipv6_autoconf", "slaac",
// "router_list", "mld"). A second call returns the first one.
Autoconf& enable_autoconf(Stack& stack, AutoconfOptions options = {});
// The stack's Autoconf, or nullptr.
Autoconf* find_autoconf(Stack& stack);

}  // namespace weir::ipv6
