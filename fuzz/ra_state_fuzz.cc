// Stateful fuzzer for router discovery state: RAs (and neighbor events) drive the router list
// (ipv6/router_list.h), SLAAC/DAD (ipv6/slaac.h) and the RDNSS list (ipv6/rdnss.h) on a manual
// clock, the way ipv6/autoconf.cc drives them.
//
// Input: a sequence of commands, each one byte `op` then one byte `n`. The command is
// (op & 7) % 6; command 0 is followed by an ICMPv6 message of n bytes (an RA; bit 3 of op picks
// one of two link-local routers as its source; bit 4 forces type 134 and code 0):
//   0 RA           1 advance the clock by n * 250 ms      2 NA for the n-th address
//   3 DAD NS for the n-th address (with a nonce from the next 6 input bytes when bit 3 is set)
//   4 redirect from router n % 2 for destination index n   5 select a default router
// Invariants: tentative or duplicate addresses are never assigned; assigned ones are exactly
// the preferred/deprecated ones; the lists stay within their bounds; the timers stay armed
// only while there is something to wait for.
#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <set>
#include <span>

#include "fuzz/exact_bytes.h"
#include "ipv6/ndp_wire.h"
#include "ipv6/rdnss.h"
#include "ipv6/router_list.h"
#include "ipv6/slaac.h"
#include "stack/clock.h"
#include "stack/rng.h"
#include "stack/timer.h"

namespace {

using namespace weir;
using namespace weir::ipv6;

constexpr NicId kNic = 1;

class Host final : public SlaacHost {
 public:
  void join_solicited_node(NicId, const Ipv6Address&) override {}
  void leave_solicited_node(NicId, const Ipv6Address&) override {}
  void send_dad_probe(NicId, const Ipv6Address&, const std::optional<DadNonce>& nonce) override {
    if (nonce) last_nonce = *nonce;
  }
  void assign(NicId, const IpPrefix& a, AddressOrigin) override {
    if (!assigned.insert(a.address.v6()).second) __builtin_trap();
  }
  void unassign(NicId, const IpPrefix& a, AddressOrigin) override {
    if (assigned.erase(a.address.v6()) != 1) __builtin_trap();
  }
  void duplicate_detected(NicId, const Ipv6Address&, AddressOrigin) override {}
  bool address_in_use(NicId, const Ipv6Address&) const override { return false; }

  std::set<Ipv6Address> assigned;
  DadNonce last_nonce{};
};

Ipv6Address router(int i) { return Ipv6Address::parse(i == 0 ? "fe80::1" : "fe80::2").value(); }

// Checked after every command: the lists are looked at in place (for_each_address, the counts)
// rather than copied into vectors, which cost more than most commands.
void check(const Slaac& slaac, const Host& host, const RouterList& list) {
  size_t should_be_assigned = 0;
  size_t count = 0;
  slaac.for_each_address(kNic, [&](const SlaacAddress& a) {
    const bool is = host.assigned.count(a.address.address.v6()) > 0;
    const bool should = a.state == AddressState::kPreferred || a.state == AddressState::kDeprecated;
    if (is != should) __builtin_trap();
    should_be_assigned += should ? 1 : 0;
    ++count;
  });
  if (count != slaac.address_count(kNic)) __builtin_trap();
  if (should_be_assigned != host.assigned.size()) __builtin_trap();
  if (count > slaac.options().max_addresses + 1) __builtin_trap();
  if (list.router_count(kNic) > 16 || list.prefix_count(kNic) > 64) __builtin_trap();
}

// The address at index n % count in slaac.addresses(kNic), if there is any.
std::optional<Ipv6Address> nth_address(const Slaac& slaac, uint8_t n) {
  const size_t count = slaac.address_count(kNic);
  if (count == 0) return std::nullopt;
  size_t index = n % count;
  std::optional<Ipv6Address> out;
  slaac.for_each_address(kNic, [&](const SlaacAddress& a) {
    if (index-- == 0) out = a.address.address.v6();
  });
  return out;
}

// Moves the clock `steps` times by 250 ms, running the timers after each step, as a host polling
// its timers four times a second would. A step before the wheel's next deadline fires nothing
// and changes nothing a later step sees (the wheel cascades by tick number, not by call), so
// the clock jumps over those steps at once: timers still fire at the same step, seeing the
// same now(), and only the idle run() calls are saved (they were most of this fuzzer's time).
void advance_in_steps(ManualClock& clock, TimerWheel& timers, int steps) {
  constexpr Duration kStep = std::chrono::milliseconds(250);
  while (steps > 0) {
    int skip = steps - 1;  // steps that only move the clock
    if (const auto deadline = timers.next_deadline()) {
      const Duration wait = *deadline - clock.now();
      if (wait <= kStep) {
        skip = 0;
      } else {
        skip = static_cast<int>(std::min<int64_t>(skip, (wait - Duration(1)) / kStep));
      }
    }
    clock.advance(kStep * (skip + 1));
    steps -= skip + 1;
    timers.run();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // One clock and wheel for the process, set back to how new ones start before every input:
  // building a wheel (its 384 slot heads) cost more than many short inputs' commands.
  static const TimePoint kStart = ManualClock().now();
  static ManualClock clock;
  static TimerWheel timers(clock);
  clock.set(kStart);
  timers.reset();
  Rng rng(1);
  Host host;
  Slaac slaac(timers, rng, host, SipKey{1, 2});
  RouterList list(timers, rng);
  RdnssList rdnss;
  slaac.start_link_local(kNic, "eth0");

  // A message is at most 255 bytes (its length is one byte of the input).
  static fuzzing::ExactBytes<256> record;
  ByteReader in(std::as_bytes(std::span(data, size)));
  while (in.remaining() >= 2) {
    const uint8_t op = in.u8();
    const uint8_t n = in.u8();
    const auto nth = [&] { return nth_address(slaac, n); };
    switch ((op & 7) % 6) {
      case 0: {
        const MutableByteView msg = record.assign(in.bytes(std::min<size_t>(n, in.remaining())));
        if ((op & 0x10) != 0 && msg.size() >= 2) {
          msg[0] = std::byte{kNdpRouterAdvertisement};
          msg[1] = std::byte{0};
        }
        // autoconf only hands RAs here; a valid RS or NS passes check_ndp() too.
        if (msg.empty() || msg[0] != std::byte{kNdpRouterAdvertisement}) break;
        const Ipv6Address source = router((op >> 3) & 1);
        if (check_ndp(msg, NdpIpFields{source, all_nodes_group(), 255}) != NdpCheck::kOk) break;
        auto view = RouterAdvertView::parse(msg);
        if (!view) __builtin_trap();  // check_ndp passed
        const RouterAdvert ra = parse_router_advert(*view, source);
        list.process_ra(kNic, ra, 1500);
        for (const PrefixInfo& p : ra.prefixes) slaac.on_prefix(kNic, "eth0", p);
        rdnss.update(kNic, ra.rdnss, clock.now());
        break;
      }
      case 1:
        advance_in_steps(clock, timers, n);
        break;
      case 2:
        if (auto a = nth()) slaac.on_advertisement(kNic, *a);
        break;
      case 3:
        if (auto a = nth()) {
          if ((op & 8) != 0) {
            ByteView nonce = in.bytes(std::min<size_t>(6, in.remaining()));
            slaac.on_dad_solicitation(kNic, *a, nonce);
          } else {
            slaac.on_dad_solicitation(kNic, *a, std::as_bytes(std::span(host.last_nonce)));
          }
        }
        break;
      case 4: {
        std::array<uint8_t, 16> d{0x20, 0x01, 0x0d, 0xb8};
        d[15] = n;
        list.accept_redirect(kNic, Ipv6Address(d), router(n % 2));
        break;
      }
      case 5:
        if (auto r = list.select_default_router(kNic, [&](NicId, const Ipv6Address& a) {
              return a == router(n % 2) ? RouterReachability::kProbablyReachable
                                        : RouterReachability::kUnknown;
            })) {
          if (!list.is_router(kNic, *r)) __builtin_trap();
        }
        break;
    }
    check(slaac, host, list);
    if (rdnss.size() > 8) __builtin_trap();
  }
  // Everything ends: with no more RAs, finite lifetimes run out.
  for (int i = 0; i < 10; ++i) {
    clock.advance(std::chrono::hours(24 * 100));
    timers.run();
  }
  check(slaac, host, list);
  return 0;
}
