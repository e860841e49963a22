// The host's view of its routers (RFC 4861 5.1, 6.3.4-6.3.6, 8.3; RFC 4191 preferences):
// the Default Router List, the on-link Prefix List, redirected destinations and the link
// parameters routers announce. Pure state on the stack's clock: it never sends a packet and
// never touches the route table itself; whoever owns it (ipv6/autoconf.h) turns it into routes
// whenever the change callback fires.
//
// Theory of operation.
//
// Router Advertisements (process_ra, already validated by RFC 4861 6.1.2):
//  - Router Lifetime > 0 adds the router or refreshes its expiry; 0 removes it at once. The
//    RFC 4191 preference is kept (the reserved value reads as medium) and ignored when the
//    lifetime is 0. Past max_routers, new routers are counted and ignored.
//  - Prefix Information with L set (6.3.4): the link-local prefix, a multicast prefix, a
//    prefix longer than 128 bits and one whose preferred lifetime exceeds its valid lifetime
//    (Linux refuses those) are ignored; otherwise valid lifetime > 0 adds or refreshes the
//    on-link prefix, 0 removes it. L clear says nothing about on-link-ness and changes nothing.
//    Host bits of the prefix are cleared.
//  - Cur Hop Limit, Reachable Time, Retrans Timer: a non-zero value is adopted. A new base
//    reachable time draws ReachableTime uniformly in [0.5, 1.5] x base (6.3.4, 6.3.2); Linux's
//    floors apply (100 ms reachable, 10 ms retransmit) and base reachable time is capped at
//    MAX_REACHABLE_TIME (1 hour). MTU: adopted when 1280 <= mtu <= the link's MTU (Linux
//    refuses others).
// Expiry: one Timer on the wheel, armed for the earliest deadline of any entry; when it fires
// every expired entry goes and the owner hears which NICs changed.
//
// Default router selection (6.3.6, RFC 4191 3.2): routers whose neighbor entry is in any state
// but INCOMPLETE (the caller says, through the reachability callback) come first, highest
// preference first, staying with the current choice among equals; when none is known to be
// reachable, routers are taken round robin, one step per call.
//
// Redirects (8.3): the caller checks the rule that needs the route table (the redirect comes
// from the current first hop toward its destination); accept_redirect then records that the
// destination's next hop is the target (or the destination itself, on-link, when target ==
// destination), for redirect_lifetime, at most max_redirects (the oldest goes). Removing a
// router drops the redirects that point at it (6.3.5: "perform next-hop determination again").
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "ipv6/router_advert.h"
#include "stack/address.h"
#include "stack/clock.h"
#include "stack/counters.h"
#include "stack/packet_buffer.h"
#include "stack/rng.h"
#include "stack/timer.h"

namespace weir::ipv6 {

struct RouterListOptions {
  size_t max_routers = 16;     // per NIC
  size_t max_prefixes = 64;    // per NIC
  size_t max_redirects = 256;  // for all NICs
  Duration redirect_lifetime = std::chrono::minutes(10);
};

// Link parameters a router announced (the ones set so far).
struct LinkParams {
  std::optional<uint8_t> cur_hop_limit;
  std::optional<Duration> base_reachable_time;
  std::optional<Duration> reachable_time;  // randomized from the base
  std::optional<Duration> retrans_timer;
  std::optional<uint32_t> mtu;
};

// What one RA changed in the link parameters (each set only when it changed).
struct LinkParamChanges {
  std::optional<uint8_t> cur_hop_limit;
  std::optional<Duration> reachable_time;
  std::optional<Duration> retrans_timer;
  std::optional<uint32_t> mtu;
};

struct DefaultRouter {
  NicId nic = 0;
  Ipv6Address address;
  int8_t preference = 0;
  TimePoint expires;
};

struct OnLinkPrefix {
  NicId nic = 0;
  IpPrefix prefix;
  std::optional<TimePoint> expires;  // nullopt: infinite
};

struct RedirectEntry {
  NicId nic = 0;
  Ipv6Address destination;
  Ipv6Address target;  // == destination: the destination is on-link
  TimePoint expires;
  bool on_link() const { return target == destination; }
};

enum class RouterReachability : uint8_t {
  kProbablyReachable,  // a neighbor entry in any state but INCOMPLETE
  kUnknown,            // no entry, or INCOMPLETE
};

#define WEIR_ROUTER_LIST_COUNTERS(X)                                                               \
  X(ra_processed)                                                                                  \
  X(routers_added)                                                                                 \
  X(routers_removed)                                                                               \
  X(routers_expired) X(routers_demoted) X(router_list_full) X(prefixes_added) X(prefixes_removed)  \
      X(prefixes_expired) X(prefix_list_full) X(prefix_ignored_link_local)                         \
          X(prefix_ignored_multicast) X(prefix_ignored_bad_length) X(prefix_ignored_bad_lifetime)  \
              X(hop_limit_updates) X(reachable_time_updates) X(retrans_timer_updates)              \
                  X(mtu_updates) X(mtu_ignored_invalid) X(redirects_accepted) X(redirects_expired) \
                      X(redirects_evicted)
WEIR_DEFINE_COUNTERS(RouterListCounters, WEIR_ROUTER_LIST_COUNTERS)

class RouterList {
 public:
  using ChangeCallback = std::function<void(NicId)>;

  RouterList(TimerWheel& timers, Rng& rng, RouterListOptions options = {});
  ~RouterList();
  RouterList(const RouterList&) = delete;
  RouterList& operator=(const RouterList&) = delete;

  // Called (possibly several times) whenever routers, prefixes or redirects of a NIC change.
  void set_change_callback(ChangeCallback cb) { changed_ = std::move(cb); }

  // Applies a validated RA received on nic whose link MTU is link_mtu. Returns the link
  // parameters it changed.
  LinkParamChanges process_ra(NicId nic, const RouterAdvert& ra, uint32_t link_mtu);

  // An NA from a router said it is no longer a router (RFC 4861 7.2.5 IsRouter true -> false).
  void not_a_router(NicId nic, const Ipv6Address& address);

  // Records a redirect the caller has validated (8.1 and "from the current first hop").
  void accept_redirect(NicId nic, const Ipv6Address& destination, const Ipv6Address& target);

  // RFC 6.3.6 selection; reachability tells how the neighbor cache sees a router.
  using Reachability = std::function<RouterReachability(NicId, const Ipv6Address&)>;
  std::optional<Ipv6Address> select_default_router(NicId nic, const Reachability& reachability);

  // Forgets everything about a NIC.
  void flush(NicId nic);

  bool is_router(NicId nic, const Ipv6Address& address) const;
  std::vector<DefaultRouter> routers(NicId nic) const;
  std::vector<OnLinkPrefix> prefixes(NicId nic) const;
  std::vector<RedirectEntry> redirects(NicId nic) const;
  // routers(nic).size() and prefixes(nic).size(), without building the vectors.
  size_t router_count(NicId nic) const;
  size_t prefix_count(NicId nic) const;
  std::optional<RedirectEntry> redirect_for(NicId nic, const Ipv6Address& destination) const;
  // Is address inside an on-link prefix of nic (RFC 4861 5.2 on-link determination; link-local
  // addresses are always on-link)?
  bool is_on_link(NicId nic, const Ipv6Address& address) const;
  LinkParams params(NicId nic) const;

  const RouterListCounters& counters() const { return counters_; }
  RouterListCounters& counters() { return counters_; }

 private:
  struct NicParams {
    NicId nic = 0;
    LinkParams params;
  };

  void process_prefix(NicId nic, const PrefixInfo& info, TimePoint now, bool& changed);
  void remove_redirects_via(NicId nic, const Ipv6Address& router);
  NicParams& params_for(NicId nic);
  void on_timer();
  void rearm();
  void notify(NicId nic);

  TimerWheel& timers_;
  Rng& rng_;
  RouterListOptions options_;
  ChangeCallback changed_;
  std::vector<DefaultRouter> routers_;
  std::vector<OnLinkPrefix> prefixes_;
  std::vector<RedirectEntry> redirects_;
  std::vector<NicParams> params_;
  std::vector<std::pair<NicId, Ipv6Address>> current_;  // the last selection per NIC
  std::vector<std::pair<NicId, size_t>> round_robin_;   // next index per NIC
  Timer timer_;
  RouterListCounters counters_;
};

}  // namespace weir::ipv6
