#include "ipv6/slaac.h"

#include <algorithm>

#include "ipv6/ndp_wire.h"
#include "ipv6/stable_iid.h"

namespace weir::ipv6 {

namespace {

// RFC 4862 5.5.3 e): the two hours a forged RA cannot shorten a valid lifetime below.
constexpr Duration kTwoHours = std::chrono::hours(2);
constexpr uint8_t kIidLength = 64;

Ipv6Address link_local_prefix() {
  std::array<uint8_t, 16> o{};
  o[0] = 0xfe;
  o[1] = 0x80;
  return Ipv6Address(o);
}

std::optional<TimePoint> deadline(TimePoint now, uint32_t seconds) {
  if (seconds == kInfiniteLifetime) return std::nullopt;
  return now + std::chrono::seconds(seconds);
}

bool is_assigned(AddressState s) {
  return s == AddressState::kPreferred || s == AddressState::kDeprecated;
}

}  // namespace

std::string_view address_state_name(AddressState state) {
  switch (state) {
    case AddressState::kTentative:
      return "tentative";
    case AddressState::kPreferred:
      return "preferred";
    case AddressState::kDeprecated:
      return "deprecated";
    case AddressState::kDuplicate:
      return "duplicate";
  }
  return "unknown";
}

Slaac::Slaac(TimerWheel& timers, Rng& rng, SlaacHost& host, const SipKey& iid_key,
             SlaacOptions options)
    : timers_(timers),
      rng_(rng),
      host_(host),
      iid_key_(iid_key),
      options_(std::move(options)),
      timer_([this] { on_timer(); }) {}

Slaac::~Slaac() = default;

Slaac::Entry* Slaac::find(NicId nic, const Ipv6Address& address) {
  for (auto& e : entries_) {
    if (e->info.nic == nic && e->info.address.address == IpAddress(address)) return e.get();
  }
  return nullptr;
}

const Slaac::Entry* Slaac::find(NicId nic, const Ipv6Address& address) const {
  for (const auto& e : entries_) {
    if (e->info.nic == nic && e->info.address.address == IpAddress(address)) return e.get();
  }
  return nullptr;
}

Slaac::Entry* Slaac::find_prefix(NicId nic, const Ipv6Address& prefix) {
  for (auto& e : entries_) {
    if (e->info.nic == nic && e->info.origin == AddressOrigin::kSlaac && e->prefix == prefix) {
      return e.get();
    }
  }
  return nullptr;
}

size_t Slaac::count_generated(NicId nic) const {
  return static_cast<size_t>(std::count_if(entries_.begin(), entries_.end(), [&](const auto& e) {
    return e->info.nic == nic && e->info.origin == AddressOrigin::kSlaac;
  }));
}

bool Slaac::generate(Entry& entry, uint8_t first_counter) {
  const NicId nic = entry.info.nic;
  auto generated = generate_stable_address(
      iid_key_, entry.prefix, entry.nic_name, options_.network_id, first_counter,
      [&](const Ipv6Address& a) {
        const Entry* other = find(nic, a);
        return (other != nullptr && other != &entry) || host_.address_in_use(nic, a);
      });
  if (!generated) {
    ++counters_.idgen_exhausted;
    return false;
  }
  entry.info.address = IpPrefix{IpAddress(generated->address), kIidLength};
  entry.info.dad_counter = generated->dad_counter;
  return true;
}

void Slaac::start_link_local(NicId nic, std::string_view nic_name) {
  for (const auto& e : entries_) {
    if (e->info.nic == nic && e->info.origin == AddressOrigin::kLinkLocal) return;
  }
  auto entry = std::make_unique<Entry>();
  entry->info.nic = nic;
  entry->info.origin = AddressOrigin::kLinkLocal;
  entry->nic_name = std::string(nic_name);
  entry->prefix = link_local_prefix();
  if (!generate(*entry, 0)) return;
  ++counters_.addresses_formed;
  Entry& e = *entry;
  entries_.push_back(std::move(entry));
  start_dad(e);
}

void Slaac::start_manual(NicId nic, const IpPrefix& address) {
  if (!address.address.is_v6()) return;
  if (Entry* existing = find(nic, address.address.v6())) {
    // Added again (after a DAD failure, say): detect again.
    existing->info.address = address;
    existing->info.origin = AddressOrigin::kManual;
    existing->retry_at.reset();
    start_dad(*existing);
    return;
  }
  auto entry = std::make_unique<Entry>();
  entry->info.nic = nic;
  entry->info.origin = AddressOrigin::kManual;
  entry->info.address = address;
  Entry& e = *entry;
  entries_.push_back(std::move(entry));
  start_dad(e);
}

void Slaac::on_prefix(NicId nic, std::string_view nic_name, const PrefixInfo& p) {
  if (!p.autonomous) {
    ++counters_.prefix_ignored_not_autonomous;
    return;
  }
  if (p.prefix.is_link_local()) {
    ++counters_.prefix_ignored_link_local;
    return;
  }
  if (p.prefix.is_multicast()) {
    ++counters_.prefix_ignored_multicast;  // Linux ignores these too; no address could be one
    return;
  }
  if (p.preferred_lifetime > p.valid_lifetime) {
    ++counters_.prefix_ignored_bad_lifetime;
    return;
  }
  if (p.prefix_length + kIidLength != 128) {
    ++counters_.prefix_ignored_bad_length;
    return;
  }
  const Ipv6Address prefix = IpPrefix{IpAddress(p.prefix), kIidLength}.network().address.v6();
  const TimePoint now = timers_.now();
  if (Entry* e = find_prefix(nic, prefix)) {
    if (e->info.state != AddressState::kDuplicate) update_lifetimes(*e, p, now);
    rearm();
    return;
  }
  if (p.valid_lifetime == 0) {
    ++counters_.prefix_ignored_zero_lifetime;
    return;
  }
  if (count_generated(nic) >= options_.max_addresses) {
    ++counters_.prefix_ignored_table_full;
    return;
  }
  auto entry = std::make_unique<Entry>();
  entry->info.nic = nic;
  entry->info.origin = AddressOrigin::kSlaac;
  entry->nic_name = std::string(nic_name);
  entry->prefix = prefix;
  entry->info.preferred_until = deadline(now, p.preferred_lifetime);
  entry->info.valid_until = deadline(now, p.valid_lifetime);
  if (!generate(*entry, 0)) return;
  ++counters_.addresses_formed;
  Entry& e = *entry;
  entries_.push_back(std::move(entry));
  start_dad(e);
}

void Slaac::update_lifetimes(Entry& e, const PrefixInfo& p, TimePoint now) {
  ++counters_.lifetimes_updated;
  std::optional<TimePoint>& valid = e.info.valid_until;
  if (p.valid_lifetime == kInfiniteLifetime) {
    valid.reset();
  } else {
    const Duration received = std::chrono::seconds(p.valid_lifetime);
    const bool beyond_remaining = valid && now + received > *valid;
    if (received > kTwoHours || beyond_remaining) {
      valid = now + received;
    } else if (valid && *valid - now <= kTwoHours) {
      ++counters_.two_hour_rule_applied;  // RFC 4862 5.5.3 e) 2: ignore
    } else {
      ++counters_.two_hour_rule_applied;  // 3: two hours
      valid = now + kTwoHours;
    }
  }
  std::optional<TimePoint> preferred = deadline(now, p.preferred_lifetime);
  if (valid && (!preferred || *preferred > *valid)) preferred = valid;
  e.info.preferred_until = preferred;
  if (e.info.state == AddressState::kDeprecated && (!preferred || *preferred > now)) {
    e.info.state = AddressState::kPreferred;  // 5.5.4: preferred again
  }
}

void Slaac::start_dad(Entry& e) {
  ++counters_.dad_started;
  e.info.state = AddressState::kTentative;
  e.retry_at.reset();
  const Ipv6Address address = e.info.address.address.v6();
  host_.join_solicited_node(e.info.nic, address);
  if (options_.dad_transmits == 0) {
    complete_dad(e);
    rearm();
    return;
  }
  e.probes_left = options_.dad_transmits;
  e.nonce.reset();
  if (options_.enhanced_dad) {
    DadNonce n;
    const uint64_t r = rng_.next_u64();
    for (size_t i = 0; i < n.size(); ++i) n[i] = static_cast<uint8_t>(r >> (8 * i));
    e.nonce = n;
  }
  Duration delay = Duration::zero();
  if (options_.max_dad_delay > Duration::zero()) {
    delay = Duration(static_cast<Duration::rep>(
        rng_.uniform(static_cast<uint64_t>(options_.max_dad_delay.count()))));
  }
  e.dad_at = timers_.now() + delay;
  rearm();
}

void Slaac::complete_dad(Entry& e) {
  e.probes_left = 0;
  e.dad_at.reset();
  const TimePoint now = timers_.now();
  const bool deprecated = e.info.preferred_until && *e.info.preferred_until <= now;
  e.info.state = deprecated ? AddressState::kDeprecated : AddressState::kPreferred;
  if (deprecated) ++counters_.addresses_deprecated;
  ++counters_.dad_succeeded;
  host_.assign(e.info.nic, e.info.address, e.info.origin);
}

void Slaac::duplicate(Entry& e) {
  ++counters_.dad_duplicates;
  e.info.state = AddressState::kDuplicate;
  e.dad_at.reset();
  e.probes_left = 0;
  const Ipv6Address address = e.info.address.address.v6();
  host_.leave_solicited_node(e.info.nic, address);
  host_.duplicate_detected(e.info.nic, address, e.info.origin);
  if (e.info.origin != AddressOrigin::kManual) {
    // RFC 7217 6: the counter counts the attempts made for this prefix on this NIC.
    if (static_cast<unsigned>(e.info.dad_counter) < options_.idgen_retries) {
      ++counters_.idgen_retries;
      e.retry_at = timers_.now() + options_.idgen_delay;
    } else {
      ++counters_.idgen_exhausted;
    }
  }
  rearm();
}

void Slaac::on_dad_solicitation(NicId nic, const Ipv6Address& target, ByteView nonce) {
  Entry* e = find(nic, target);
  if (e == nullptr || e->info.state != AddressState::kTentative) return;
  if (e->nonce && nonce.size() == e->nonce->size() &&
      std::equal(nonce.begin(), nonce.end(), std::as_bytes(std::span(*e->nonce)).begin())) {
    ++counters_.dad_looped_back;  // RFC 7527 4: our own probe came back
    return;
  }
  duplicate(*e);
}

void Slaac::on_resolution_solicitation(NicId nic, const Ipv6Address& target) {
  const Entry* e = find(nic, target);
  if (e != nullptr && e->info.state == AddressState::kTentative) {
    ++counters_.dad_resolution_ns_ignored;  // RFC 4862 5.4.3: not a conflict
  }
}

void Slaac::on_advertisement(NicId nic, const Ipv6Address& target) {
  Entry* e = find(nic, target);
  if (e == nullptr || e->info.state != AddressState::kTentative) return;
  duplicate(*e);
}

void Slaac::on_timer() {
  const TimePoint now = timers_.now();
  // Index loop: host callbacks may add entries (never remove them) while we walk.
  for (size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = *entries_[i];
    if (e.info.state == AddressState::kTentative && e.dad_at && *e.dad_at <= now) {
      if (e.probes_left > 0) {
        --e.probes_left;
        ++counters_.dad_probes_sent;
        e.dad_at = now + options_.retrans_timer;
        host_.send_dad_probe(e.info.nic, e.info.address.address.v6(), e.nonce);
      } else {
        complete_dad(e);
      }
    }
    if (e.info.state == AddressState::kDuplicate && e.retry_at && *e.retry_at <= now) {
      e.retry_at.reset();
      if (generate(e, static_cast<uint8_t>(e.info.dad_counter + 1))) {
        ++counters_.addresses_formed;
        start_dad(e);
      }
    }
    if (e.info.state == AddressState::kPreferred && e.info.preferred_until &&
        *e.info.preferred_until <= now) {
      e.info.state = AddressState::kDeprecated;
      ++counters_.addresses_deprecated;
    }
  }
  // Valid lifetimes last: a removed entry is gone before anyone can call back about it.
  for (size_t i = 0; i < entries_.size();) {
    Entry& e = *entries_[i];
    if (!e.info.valid_until || *e.info.valid_until > now) {
      ++i;
      continue;
    }
    ++counters_.addresses_expired;
    const SlaacAddress info = e.info;
    entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
    if (is_assigned(info.state)) host_.unassign(info.nic, info.address, info.origin);
    if (info.state != AddressState::kDuplicate) {
      host_.leave_solicited_node(info.nic, info.address.address.v6());
    }
  }
  rearm();
}

void Slaac::rearm() {
  std::optional<TimePoint> next;
  auto consider = [&](const std::optional<TimePoint>& t) {
    if (t && (!next || *t < *next)) next = t;
  };
  for (const auto& e : entries_) {
    if (e->info.state == AddressState::kTentative) consider(e->dad_at);
    if (e->info.state == AddressState::kDuplicate) consider(e->retry_at);
    if (e->info.state == AddressState::kPreferred) consider(e->info.preferred_until);
    consider(e->info.valid_until);
  }
  if (!next) {
    timer_.cancel();
  } else if (!timer_.armed() || timer_.deadline() != *next) {
    timers_.arm(timer_, *next);
  }
}

std::optional<AddressState> Slaac::state(NicId nic, const Ipv6Address& address) const {
  const Entry* e = find(nic, address);
  if (e == nullptr) return std::nullopt;
  return e->info.state;
}

std::vector<SlaacAddress> Slaac::addresses(NicId nic) const {
  std::vector<SlaacAddress> out;
  out.reserve(entries_.size());  // one allocation, not one per doubling
  for_each_address(nic, [&out](const SlaacAddress& a) { out.push_back(a); });
  return out;
}

size_t Slaac::address_count(NicId nic) const {
  return static_cast<size_t>(std::count_if(entries_.begin(), entries_.end(),
                                           [nic](const auto& e) { return e->info.nic == nic; }));
}

void Slaac::flush(NicId nic) {
  std::vector<SlaacAddress> gone;
  std::erase_if(entries_, [&](const std::unique_ptr<Entry>& e) {
    if (e->info.nic != nic) return false;
    gone.push_back(e->info);
    return true;
  });
  for (const SlaacAddress& info : gone) {
    if (is_assigned(info.state)) host_.unassign(info.nic, info.address, info.origin);
    if (info.state != AddressState::kDuplicate) {
      host_.leave_solicited_node(info.nic, info.address.address.v6());
    }
  }
  rearm();
}

}  // namespace weir::ipv6
