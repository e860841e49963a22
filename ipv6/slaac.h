// Stateless address autoconfiguration and duplicate address detection (RFC 4862), with
// stable interface identifiers (RFC 7217) and enhanced DAD (RFC 7527).
//
// Theory of operation. Slaac keeps every address it is detecting or has configured, per NIC,
// with its origin (the link-local address made at startup, an address formed from an RA's
// prefix, or an address someone added by hand) and its state:
//
//   kTentative  DAD runs. Not on the NIC: nothing may use it (5.4). After a random delay in
//               [0, max_dad_delay) (Linux delays every DAD start like this; RFC 4862 5.4.2
//               requires it for the first packet after the interface comes up), dad_transmits
//               probes go out RetransTimer apart: NS from :: to the solicited-node group, with
//               a Nonce option. One RetransTimer after the last probe with no conflict, the
//               address is assigned.
//   kPreferred  assigned and preferred.
//   kDeprecated assigned, preferred lifetime over: still valid for existing traffic, avoided
//               for new (RFC 6724 rule 3).
//   kDuplicate  DAD found a conflict: never assigned. A DAD probe (NS from ::) for the address
//               from someone else, or an NA for it, is a conflict (5.4.3, 5.4.4); an NS from a
//               unicast source is someone resolving the address, not a conflict; an NS that
//               carries our own nonce is our probe looped back (RFC 7527). For a generated
//               address, RFC 7217 6: after IDGEN_DELAY, a new IID from DAD_Counter + 1, up to
//               IDGEN_RETRIES times. An address added by hand stays kDuplicate (Linux's
//               "dadfailed").
//
// Prefixes from RAs (5.5.3): ignored without the A flag, for the link-local prefix (and, like
// Linux, a multicast one), when the
// preferred lifetime exceeds the valid lifetime, and when prefix length + 64 != 128. A new
// prefix with a non-zero valid lifetime forms an address (a stable IID, RFC 7217) and starts
// DAD. For a known prefix the preferred lifetime is reset, and the valid lifetime follows the
// two-hour rule (5.5.3 e): taken when it exceeds two hours or the time remaining; ignored when
// two hours or less remain; otherwise set to two hours, so a forged RA cannot kill an address
// quickly. Lifetimes run on the clock: preferred over -> kDeprecated; valid over -> removed.
//
// Slaac never sends or assigns anything itself: it asks its SlaacHost (ipv6/autoconf.h) to
// join groups, send probes and put addresses on or take them off the NIC. One Timer on the
// wheel, armed for the earliest pending event of any address, drives every deadline, so no
// address is ever destroyed inside its own timer callback.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "ipv6/router_advert.h"
#include "stack/address.h"
#include "stack/clock.h"
#include "stack/counters.h"
#include "stack/packet_buffer.h"
#include "stack/rng.h"
#include "stack/timer.h"

namespace weir::ipv6 {

struct SlaacOptions {
  uint32_t dad_transmits = 1;                        // DupAddrDetectTransmits (RFC 4862 5.1)
  Duration retrans_timer = std::chrono::seconds(1);  // RetransTimer (RFC 4861 10)
  Duration max_dad_delay = std::chrono::seconds(1);  // Linux's rtr_solicit_delay
  uint8_t idgen_retries = 3;                         // RFC 7217 IDGEN_RETRIES
  Duration idgen_delay = std::chrono::seconds(1);    // RFC 7217 IDGEN_DELAY
  bool enhanced_dad = true;                          // send RFC 7527 nonces
  std::string network_id;                            // RFC 7217 Network_ID (optional)
  size_t max_addresses = 16;                         // autoconfigured per NIC
};

enum class AddressOrigin : uint8_t { kLinkLocal, kSlaac, kManual };
enum class AddressState : uint8_t { kTentative, kPreferred, kDeprecated, kDuplicate };
std::string_view address_state_name(AddressState state);

using DadNonce = std::array<uint8_t, 6>;

// What Slaac asks of the world.
class SlaacHost {
 public:
  virtual ~SlaacHost() = default;
  // Join or leave the solicited-node group of address (RFC 4862 5.4.2: before the first probe).
  virtual void join_solicited_node(NicId nic, const Ipv6Address& address) = 0;
  virtual void leave_solicited_node(NicId nic, const Ipv6Address& address) = 0;
  // Send one DAD probe: NS for target from :: to its solicited-node group, hop limit 255.
  virtual void send_dad_probe(NicId nic, const Ipv6Address& target,
                              const std::optional<DadNonce>& nonce) = 0;
  // DAD passed: the address may now be used.
  virtual void assign(NicId nic, const IpPrefix& address, AddressOrigin origin) = 0;
  // The valid lifetime ran out (or the address was withdrawn): take it off the NIC.
  virtual void unassign(NicId nic, const IpPrefix& address, AddressOrigin origin) = 0;
  // DAD found a duplicate (for the log).
  virtual void duplicate_detected(NicId nic, const Ipv6Address& address, AddressOrigin origin) = 0;
  // Is address already used on nic by something Slaac does not know (a generated IID must
  // differ, RFC 7217 5)?
  virtual bool address_in_use(NicId nic, const Ipv6Address& address) const = 0;
};

struct SlaacAddress {
  NicId nic = 0;
  IpPrefix address;  // the address and its prefix length (64 for generated ones)
  AddressOrigin origin = AddressOrigin::kSlaac;
  AddressState state = AddressState::kTentative;
  uint8_t dad_counter = 0;
  std::optional<TimePoint> preferred_until;  // nullopt: infinite
  std::optional<TimePoint> valid_until;      // nullopt: infinite
};

#define WEIR_SLAAC_COUNTERS(X)                                                    \
  X(dad_started)                                                                  \
  X(dad_probes_sent)                                                              \
  X(dad_succeeded)                                                                \
  X(dad_duplicates)                                                               \
  X(dad_looped_back)                                                              \
  X(dad_resolution_ns_ignored)                                                    \
  X(idgen_retries) X(idgen_exhausted) X(addresses_formed) X(addresses_deprecated) \
      X(addresses_expired) X(lifetimes_updated) X(two_hour_rule_applied)          \
          X(prefix_ignored_not_autonomous) X(prefix_ignored_link_local)           \
              X(prefix_ignored_multicast) X(prefix_ignored_bad_lifetime)          \
                  X(prefix_ignored_bad_length) X(prefix_ignored_zero_lifetime)    \
                      X(prefix_ignored_table_full)
WEIR_DEFINE_COUNTERS(SlaacCounters, WEIR_SLAAC_COUNTERS)

class Slaac {
 public:
  Slaac(TimerWheel& timers, Rng& rng, SlaacHost& host, const SipKey& iid_key,
        SlaacOptions options = {});
  ~Slaac();
  Slaac(const Slaac&) = delete;
  Slaac& operator=(const Slaac&) = delete;

  // Forms the link-local address of a NIC (fe80::/64 + stable IID) and starts its DAD.
  void start_link_local(NicId nic, std::string_view nic_name);
  // Runs DAD on an address added by hand (it is not on the NIC until DAD passes).
  void start_manual(NicId nic, const IpPrefix& address);
  // One Prefix Information option of a validated RA received on nic.
  void on_prefix(NicId nic, std::string_view nic_name, const PrefixInfo& prefix);

  // A valid NS from :: for target (a DAD probe), with the Nonce option's bytes if present.
  void on_dad_solicitation(NicId nic, const Ipv6Address& target, ByteView nonce);
  // A valid NS from a unicast source for target (address resolution).
  void on_resolution_solicitation(NicId nic, const Ipv6Address& target);
  // A valid NA for target.
  void on_advertisement(NicId nic, const Ipv6Address& target);

  // RFC 4861 6.3.4: an RA's Retrans Timer applies to DAD probes from now on.
  void set_retrans_timer(Duration d) { options_.retrans_timer = d; }

  std::optional<AddressState> state(NicId nic, const Ipv6Address& address) const;
  bool is_tentative(NicId nic, const Ipv6Address& address) const {
    return state(nic, address) == AddressState::kTentative;
  }
  std::vector<SlaacAddress> addresses(NicId nic) const;
  // addresses(nic), each handed to f(const SlaacAddress&) in the same order, without the copy
  // into a new vector: for callers that only look (checks, searches).
  template <typename F>
  void for_each_address(NicId nic, F&& f) const {
    for (const auto& e : entries_) {
      if (e->info.nic == nic) f(e->info);
    }
  }
  size_t address_count(NicId nic) const;
  // Forgets every address of a NIC (taking assigned ones off it first).
  void flush(NicId nic);

  const SlaacOptions& options() const { return options_; }
  const SlaacCounters& counters() const { return counters_; }
  SlaacCounters& counters() { return counters_; }

 private:
  struct Entry {
    SlaacAddress info;
    std::string nic_name;  // RFC 7217 Net_Iface
    Ipv6Address prefix;    // RFC 7217 Prefix (generated addresses)
    uint32_t probes_left = 0;
    std::optional<DadNonce> nonce;
    std::optional<TimePoint> dad_at;    // next probe, or DAD completion when probes_left == 0
    std::optional<TimePoint> retry_at;  // RFC 7217 regeneration after a duplicate
  };

  Entry* find(NicId nic, const Ipv6Address& address);
  const Entry* find(NicId nic, const Ipv6Address& address) const;
  Entry* find_prefix(NicId nic, const Ipv6Address& prefix);
  size_t count_generated(NicId nic) const;
  bool generate(Entry& entry, uint8_t first_counter);
  void start_dad(Entry& entry);
  void duplicate(Entry& entry);
  void complete_dad(Entry& entry);
  void update_lifetimes(Entry& entry, const PrefixInfo& prefix, TimePoint now);
  void on_timer();
  void rearm();

  TimerWheel& timers_;
  Rng& rng_;
  SlaacHost& host_;
  SipKey iid_key_;
  SlaacOptions options_;
  std::vector<std::unique_ptr<Entry>> entries_;
  Timer timer_;
  SlaacCounters counters_;
};

}  // namespace weir::ipv6
