#include "ipv6/router_list.h"

#include <algorithm>

#include "ipv6/ndp_wire.h"

namespace weir::ipv6 {

namespace {

constexpr uint32_t kMinIpv6Mtu = 1280;
// RFC 4861 10: MAX_REACHABLE_TIME; 6.3.2: MIN_RANDOM_FACTOR .5, MAX_RANDOM_FACTOR 1.5.
constexpr Duration kMaxReachableTime = std::chrono::hours(1);
// Linux's floors (ndisc_router_discovery): HZ/10 for reachable time, HZ/100 for retransmits.
constexpr Duration kMinReachableTime = std::chrono::milliseconds(100);
constexpr Duration kMinRetransTimer = std::chrono::milliseconds(10);

bool is_link_local_prefix(const IpPrefix& p) {
  // fe80::/10 and anything inside it (RFC 4861 6.3.4 "the link-local prefix").
  return p.length >= 10 && p.address.v6().is_link_local();
}

template <typename T>
T* find_nic(std::vector<std::pair<NicId, T>>& v, NicId nic) {
  for (auto& [n, value] : v) {
    if (n == nic) return &value;
  }
  return nullptr;
}

}  // namespace

RouterList::RouterList(TimerWheel& timers, Rng& rng, RouterListOptions options)
    : timers_(timers), rng_(rng), options_(options), timer_([this] { on_timer(); }) {}

RouterList::~RouterList() = default;

RouterList::NicParams& RouterList::params_for(NicId nic) {
  for (auto& p : params_) {
    if (p.nic == nic) return p;
  }
  params_.push_back(NicParams{nic, {}});
  return params_.back();
}

LinkParamChanges RouterList::process_ra(NicId nic, const RouterAdvert& ra, uint32_t link_mtu) {
  ++counters_.ra_processed;
  const TimePoint now = timers_.now();
  bool changed = false;

  // Default router list.
  auto it = std::find_if(routers_.begin(), routers_.end(), [&](const DefaultRouter& r) {
    return r.nic == nic && r.address == ra.source;
  });
  if (ra.router_lifetime == 0) {
    if (it != routers_.end()) {
      routers_.erase(it);
      ++counters_.routers_removed;
      remove_redirects_via(nic, ra.source);
      changed = true;
    }
  } else {
    const TimePoint expires = now + std::chrono::seconds(ra.router_lifetime);
    if (it != routers_.end()) {
      changed |= it->preference != ra.preference;
      it->expires = expires;
      it->preference = ra.preference;
    } else if (static_cast<size_t>(std::count_if(routers_.begin(), routers_.end(),
                                                 [&](const auto& r) { return r.nic == nic; })) >=
               options_.max_routers) {
      ++counters_.router_list_full;
    } else {
      routers_.push_back(DefaultRouter{nic, ra.source, ra.preference, expires});
      ++counters_.routers_added;
      changed = true;
    }
  }

  for (const PrefixInfo& p : ra.prefixes) {
    if (p.on_link) process_prefix(nic, p, now, changed);
  }

  // Link parameters.
  LinkParamChanges out;
  NicParams& np = params_for(nic);
  LinkParams& lp = np.params;
  if (ra.cur_hop_limit != 0 && lp.cur_hop_limit != ra.cur_hop_limit) {
    lp.cur_hop_limit = ra.cur_hop_limit;
    out.cur_hop_limit = ra.cur_hop_limit;
    ++counters_.hop_limit_updates;
  }
  if (ra.reachable_time != 0) {
    Duration base = std::clamp<Duration>(std::chrono::milliseconds(ra.reachable_time),
                                         kMinReachableTime, kMaxReachableTime);
    if (lp.base_reachable_time != base) {
      lp.base_reachable_time = base;
      const double factor = 0.5 + rng_.next_double();
      const auto randomized = std::chrono::duration_cast<Duration>(base * factor);
      lp.reachable_time = std::max(randomized, kMinReachableTime);
      out.reachable_time = lp.reachable_time;
      ++counters_.reachable_time_updates;
    }
  }
  if (ra.retrans_timer != 0) {
    const Duration retrans =
        std::max<Duration>(std::chrono::milliseconds(ra.retrans_timer), kMinRetransTimer);
    if (lp.retrans_timer != retrans) {
      lp.retrans_timer = retrans;
      out.retrans_timer = retrans;
      ++counters_.retrans_timer_updates;
    }
  }
  if (ra.mtu) {
    if (*ra.mtu < kMinIpv6Mtu || *ra.mtu > link_mtu) {
      ++counters_.mtu_ignored_invalid;
    } else if (lp.mtu != *ra.mtu) {
      lp.mtu = *ra.mtu;
      out.mtu = *ra.mtu;
      ++counters_.mtu_updates;
    }
  }

  rearm();
  if (changed) notify(nic);
  return out;
}

void RouterList::process_prefix(NicId nic, const PrefixInfo& info, TimePoint now, bool& changed) {
  if (info.prefix_length > 128) {
    ++counters_.prefix_ignored_bad_length;
    return;
  }
  const IpPrefix prefix = IpPrefix{IpAddress(info.prefix), info.prefix_length}.network();
  if (info.prefix.is_multicast()) {
    ++counters_.prefix_ignored_multicast;
    return;
  }
  if (is_link_local_prefix(prefix)) {
    ++counters_.prefix_ignored_link_local;
    return;
  }
  if (info.preferred_lifetime > info.valid_lifetime) {
    ++counters_.prefix_ignored_bad_lifetime;
    return;
  }
  auto it = std::find_if(prefixes_.begin(), prefixes_.end(),
                         [&](const OnLinkPrefix& p) { return p.nic == nic && p.prefix == prefix; });
  if (info.valid_lifetime == 0) {
    if (it != prefixes_.end()) {
      prefixes_.erase(it);
      ++counters_.prefixes_removed;
      changed = true;
    }
    return;
  }
  std::optional<TimePoint> expires;
  if (info.valid_lifetime != kInfiniteLifetime) {
    expires = now + std::chrono::seconds(info.valid_lifetime);
  }
  if (it != prefixes_.end()) {
    it->expires = expires;
    return;
  }
  if (static_cast<size_t>(std::count_if(prefixes_.begin(), prefixes_.end(), [&](const auto& p) {
        return p.nic == nic;
      })) >= options_.max_prefixes) {
    ++counters_.prefix_list_full;
    return;
  }
  prefixes_.push_back(OnLinkPrefix{nic, prefix, expires});
  ++counters_.prefixes_added;
  changed = true;
}

void RouterList::not_a_router(NicId nic, const Ipv6Address& address) {
  auto it = std::find_if(routers_.begin(), routers_.end(), [&](const DefaultRouter& r) {
    return r.nic == nic && r.address == address;
  });
  if (it == routers_.end()) return;
  routers_.erase(it);
  ++counters_.routers_demoted;
  remove_redirects_via(nic, address);
  rearm();
  notify(nic);
}

void RouterList::remove_redirects_via(NicId nic, const Ipv6Address& router) {
  std::erase_if(redirects_, [&](const RedirectEntry& r) {
    return r.nic == nic && !r.on_link() && r.target == router;
  });
}

void RouterList::accept_redirect(NicId nic, const Ipv6Address& destination,
                                 const Ipv6Address& target) {
  const TimePoint expires = timers_.now() + options_.redirect_lifetime;
  ++counters_.redirects_accepted;
  auto it = std::find_if(redirects_.begin(), redirects_.end(), [&](const RedirectEntry& r) {
    return r.nic == nic && r.destination == destination;
  });
  if (it != redirects_.end()) {
    it->target = target;
    it->expires = expires;
  } else {
    if (options_.max_redirects == 0) return;
    if (redirects_.size() >= options_.max_redirects) {
      auto oldest = std::min_element(
          redirects_.begin(), redirects_.end(),
          [](const RedirectEntry& a, const RedirectEntry& b) { return a.expires < b.expires; });
      const NicId evicted_nic = oldest->nic;
      redirects_.erase(oldest);
      ++counters_.redirects_evicted;
      if (evicted_nic != nic) notify(evicted_nic);
    }
    redirects_.push_back(RedirectEntry{nic, destination, target, expires});
  }
  rearm();
  notify(nic);
}

std::optional<Ipv6Address> RouterList::select_default_router(NicId nic,
                                                             const Reachability& reachability) {
  std::vector<const DefaultRouter*> candidates;
  for (const auto& r : routers_) {
    if (r.nic == nic) candidates.push_back(&r);
  }
  Ipv6Address* current = find_nic(current_, nic);
  if (candidates.empty()) {
    std::erase_if(current_, [&](const auto& c) { return c.first == nic; });
    return std::nullopt;
  }
  const DefaultRouter* best = nullptr;
  for (const DefaultRouter* r : candidates) {
    if (reachability(nic, r->address) != RouterReachability::kProbablyReachable) continue;
    if (best == nullptr || r->preference > best->preference ||
        (r->preference == best->preference && current != nullptr && r->address == *current &&
         best->address != *current)) {
      best = r;
    }
  }
  if (best == nullptr) {
    // None known to be reachable: round robin, so that a dead router is not retried forever.
    size_t* next = find_nic(round_robin_, nic);
    if (next == nullptr) {
      round_robin_.emplace_back(nic, 0);
      next = &round_robin_.back().second;
    }
    best = candidates[*next % candidates.size()];
    *next = (*next + 1) % candidates.size();
  }
  if (current != nullptr) {
    *current = best->address;
  } else {
    current_.emplace_back(nic, best->address);
  }
  return best->address;
}

void RouterList::flush(NicId nic) {
  std::erase_if(routers_, [&](const auto& r) { return r.nic == nic; });
  std::erase_if(prefixes_, [&](const auto& p) { return p.nic == nic; });
  std::erase_if(redirects_, [&](const auto& r) { return r.nic == nic; });
  std::erase_if(params_, [&](const auto& p) { return p.nic == nic; });
  std::erase_if(current_, [&](const auto& c) { return c.first == nic; });
  std::erase_if(round_robin_, [&](const auto& c) { return c.first == nic; });
  rearm();
}

bool RouterList::is_router(NicId nic, const Ipv6Address& address) const {
  return std::any_of(routers_.begin(), routers_.end(),
                     [&](const auto& r) { return r.nic == nic && r.address == address; });
}

std::vector<DefaultRouter> RouterList::routers(NicId nic) const {
  std::vector<DefaultRouter> out;
  out.reserve(routers_.size());  // one allocation, not one per doubling
  for (const auto& r : routers_) {
    if (r.nic == nic) out.push_back(r);
  }
  return out;
}

std::vector<OnLinkPrefix> RouterList::prefixes(NicId nic) const {
  std::vector<OnLinkPrefix> out;
  out.reserve(prefixes_.size());
  for (const auto& p : prefixes_) {
    if (p.nic == nic) out.push_back(p);
  }
  return out;
}

size_t RouterList::router_count(NicId nic) const {
  return static_cast<size_t>(std::count_if(routers_.begin(), routers_.end(),
                                           [nic](const auto& r) { return r.nic == nic; }));
}

size_t RouterList::prefix_count(NicId nic) const {
  return static_cast<size_t>(std::count_if(prefixes_.begin(), prefixes_.end(),
                                           [nic](const auto& p) { return p.nic == nic; }));
}

std::vector<RedirectEntry> RouterList::redirects(NicId nic) const {
  std::vector<RedirectEntry> out;
  for (const auto& r : redirects_) {
    if (r.nic == nic) out.push_back(r);
  }
  return out;
}

std::optional<RedirectEntry> RouterList::redirect_for(NicId nic,
                                                      const Ipv6Address& destination) const {
  for (const auto& r : redirects_) {
    if (r.nic == nic && r.destination == destination) return r;
  }
  return std::nullopt;
}

bool RouterList::is_on_link(NicId nic, const Ipv6Address& address) const {
  if (address.is_link_local()) return true;
  return std::any_of(prefixes_.begin(), prefixes_.end(), [&](const OnLinkPrefix& p) {
    return p.nic == nic && p.prefix.contains(IpAddress(address));
  });
}

LinkParams RouterList::params(NicId nic) const {
  for (const auto& p : params_) {
    if (p.nic == nic) return p.params;
  }
  return {};
}

void RouterList::on_timer() {
  const TimePoint now = timers_.now();
  std::vector<NicId> changed;
  auto note = [&](NicId nic) {
    if (std::find(changed.begin(), changed.end(), nic) == changed.end()) changed.push_back(nic);
  };
  for (auto it = routers_.begin(); it != routers_.end();) {
    if (it->expires <= now) {
      note(it->nic);
      const NicId nic = it->nic;
      const Ipv6Address address = it->address;
      it = routers_.erase(it);
      ++counters_.routers_expired;
      remove_redirects_via(nic, address);
    } else {
      ++it;
    }
  }
  for (auto it = prefixes_.begin(); it != prefixes_.end();) {
    if (it->expires && *it->expires <= now) {
      note(it->nic);
      it = prefixes_.erase(it);
      ++counters_.prefixes_expired;
    } else {
      ++it;
    }
  }
  for (auto it = redirects_.begin(); it != redirects_.end();) {
    if (it->expires <= now) {
      note(it->nic);
      it = redirects_.erase(it);
      ++counters_.redirects_expired;
    } else {
      ++it;
    }
  }
  rearm();
  for (NicId nic : changed) notify(nic);
}

void RouterList::rearm() {
  std::optional<TimePoint> next;
  auto consider = [&](TimePoint t) {
    if (!next || t < *next) next = t;
  };
  for (const auto& r : routers_) consider(r.expires);
  for (const auto& p : prefixes_) {
    if (p.expires) consider(*p.expires);
  }
  for (const auto& r : redirects_) consider(r.expires);
  if (!next) {
    timer_.cancel();
  } else if (!timer_.armed() || timer_.deadline() != *next) {
    timers_.arm(timer_, *next);
  }
}

void RouterList::notify(NicId nic) {
  if (changed_) changed_(nic);
}

}  // namespace weir::ipv6
