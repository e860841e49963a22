// Multicast Listener Discovery version 2, host side (RFC 3810), and its wire format.
//
// Theory of operation. Mld knows which groups each NIC listens to (join/leave, called when a
// NIC's membership of a group starts or ends) and keeps routers informed:
//  - A join or a leave is a state change (6.1): a State Change Report with a
//    CHANGE_TO_EXCLUDE_MODE (join: any source) or CHANGE_TO_INCLUDE_MODE (leave, no sources)
//    record goes out at once and is retransmitted [Robustness Variable] - 1 more times at
//    random intervals in [0, Unsolicited Report Interval]. A new change to a group with
//    retransmissions pending replaces its record and restarts its count. The records due
//    together go in one report.
//  - A General Query schedules one Current State Report of every group (MODE_IS_EXCLUDE, no
//    sources: we always listen to every source) after a random delay in [0, Maximum Response
//    Delay]; a Multicast Address Specific Query does the same for a group we listen to; a
//    Multicast Address and Source Specific Query asks which of its sources we want, and since
//    we exclude none the answer is MODE_IS_INCLUDE of them all (6.3). The timing follows the
//    five rules of 6.2: a pending General Query response due sooner covers a new query; a new
//    General Query replaces the pending one; a group response is never postponed, only
//    brought forward; source lists accumulate unless a group-wide response is pending.
//  - A query's non-zero QRV becomes our Robustness Variable (9.1).
//  - The link-scope all-nodes group ff02::1 and groups of scope 0 or 1 are never reported (6).
// Queries must come from a link-local source with hop limit 1 and a Router Alert (6.2);
// others are counted and dropped. MLDv1 queries (24 bytes) are counted and ignored: MLDv1
// compatibility mode (RFC 3810 8) is not implemented. Reports from other hosts are ignored
// (MLDv2 hosts do not suppress their own).
//
// Reports are built here (type 143, checksum left zero) and handed to the MldHost, which sends
// them to ff02::16 with hop limit 1 and a Router Alert, from the NIC's link-local address (or
// from :: while it is tentative, 5.2.13). A report never exceeds what fits in a 1280-byte
// packet; more records make more reports. One Timer drives every deadline.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "stack/address.h"
#include "stack/bytes.h"
#include "stack/clock.h"
#include "stack/counters.h"
#include "stack/packet_buffer.h"
#include "stack/result.h"
#include "stack/rng.h"
#include "stack/timer.h"

namespace weir::ipv6 {

// ---------------------------------------------------------------------------------------------
// Wire format (RFC 3810 5). Messages start at the ICMPv6 type byte.

inline constexpr uint8_t kMldQuery = 130;
inline constexpr uint8_t kMldV1Report = 131;
inline constexpr uint8_t kMldV1Done = 132;
inline constexpr uint8_t kMldV2Report = 143;

inline constexpr size_t kMldV1QueryLength = 24;
inline constexpr size_t kMldV2QueryMinLength = 28;

inline constexpr uint8_t kRecordModeIsInclude = 1;
inline constexpr uint8_t kRecordModeIsExclude = 2;
inline constexpr uint8_t kRecordChangeToInclude = 3;
inline constexpr uint8_t kRecordChangeToExclude = 4;
inline constexpr uint8_t kRecordAllowNewSources = 5;
inline constexpr uint8_t kRecordBlockOldSources = 6;

// Maximum Response Code -> delay (5.1.3: linear below 32768, else a floating-point form).
Duration decode_max_response_delay(uint16_t code);
// QQIC -> interval (5.1.9), for completeness.
Duration decode_qqic(uint8_t code);

enum class MldQueryCheck : uint8_t {
  kOk,
  kTruncated,           // under 24 bytes, or the sources run past the end
  kBadLength,           // 25-27 bytes (8.1: neither version)
  kNotQuery,            // type != 130
  kSourceNotLinkLocal,  // 6.2
  kBadHopLimit,         // 6.2: must be 1
  kNoRouterAlert,       // 6.2
  kBadGroup,            // multicast address field neither :: nor multicast, or sources
                        // listed in a general query
};
std::string_view mld_query_check_name(MldQueryCheck check);

struct MldQuery {
  bool v1 = false;
  Duration max_response_delay{};
  Ipv6Address group;                        // :: for a General Query
  bool suppress_router_processing = false;  // S flag
  uint8_t qrv = 0;
  uint8_t qqic = 0;
  std::vector<Ipv6Address> sources;
  bool general() const { return group.is_unspecified(); }
};

MldQueryCheck check_mld_query(ByteView message);
MldQueryCheck check_mld_query(ByteView message, const Ipv6Address& source, uint8_t hop_limit,
                              bool router_alert);
Result<MldQuery> parse_mld_query(ByteView message);

struct MldRecord {
  uint8_t type = kRecordModeIsExclude;
  Ipv6Address group;
  std::vector<Ipv6Address> sources;
  bool operator==(const MldRecord&) const = default;
};

// One MLDv2 report with these records, checksum zero.
std::vector<std::byte> build_mld_report(std::span<const MldRecord> records);
// The records of a report (for tests and fuzzers); error if malformed.
Result<std::vector<MldRecord>> parse_mld_report(ByteView message);
// Splits records over as many reports as it takes for each to fit a 1280-byte IPv6 packet
// (with the 8-byte hop-by-hop header). A record with too many sources keeps what fits.
std::vector<std::vector<std::byte>> build_mld_reports(std::span<const MldRecord> records);

// Is group reported at all (6: never ff02::1, never scope 0 or 1)?
bool is_reportable_group(const Ipv6Address& group);

// ---------------------------------------------------------------------------------------------
// The host protocol.

struct MldOptions {
  uint8_t robustness = 2;                                          // 9.1
  Duration unsolicited_report_interval = std::chrono::seconds(1);  // 9.11
};

class MldHost {
 public:
  virtual ~MldHost() = default;
  // Send one report (message from the type byte, checksum zero) on nic to ff02::16.
  virtual void send_report(NicId nic, ByteView message) = 0;
};

#define WEIR_MLD_COUNTERS(X)                                                                   \
  X(rx_queries)                                                                                \
  X(rx_general_queries)                                                                        \
  X(rx_group_queries)                                                                          \
  X(rx_source_queries) X(rx_queries_not_member) X(rx_v1_queries_ignored) X(rx_reports_ignored) \
      X(drop_truncated) X(drop_bad_length) X(drop_source_not_link_local) X(drop_bad_hop_limit) \
          X(drop_no_router_alert) X(drop_bad_group) X(joins) X(leaves) X(tx_reports)           \
              X(tx_state_change_records) X(tx_current_state_records)
WEIR_DEFINE_COUNTERS(MldCounters, WEIR_MLD_COUNTERS)

class Mld {
 public:
  Mld(TimerWheel& timers, Rng& rng, MldHost& host, MldOptions options = {});
  ~Mld();
  Mld(const Mld&) = delete;
  Mld& operator=(const Mld&) = delete;

  // nic started / stopped listening to group. Repeated joins are ignored (the NIC counts).
  void join(NicId nic, const Ipv6Address& group);
  void leave(NicId nic, const Ipv6Address& group);
  bool joined(NicId nic, const Ipv6Address& group) const;
  std::vector<Ipv6Address> groups(NicId nic) const;

  // An MLD message (130-132, 143) received on nic, checksum verified; source, hop limit and
  // router alert from its IPv6 header.
  void handle_message(NicId nic, ByteView message, const Ipv6Address& source, uint8_t hop_limit,
                      bool router_alert);

  // Forgets a NIC.
  void flush(NicId nic);

  uint8_t robustness(NicId nic) const;
  const MldCounters& counters() const { return counters_; }
  MldCounters& counters() { return counters_; }

 private:
  struct Change {
    Ipv6Address group;
    uint8_t record_type = kRecordChangeToExclude;
    uint8_t left = 0;  // transmissions still to make
  };
  struct GroupResponse {
    Ipv6Address group;
    TimePoint at;
    std::vector<Ipv6Address> sources;  // empty: the whole group
  };
  struct NicState {
    NicId nic = 0;
    uint8_t robustness = 2;
    std::vector<Ipv6Address> groups;
    std::vector<Change> changes;
    std::optional<TimePoint> change_at;
    std::optional<TimePoint> general_at;
    std::vector<GroupResponse> responses;
  };

  NicState& state(NicId nic);
  NicState* find(NicId nic);
  const NicState* find(NicId nic) const;
  void state_change(NicState& s, const Ipv6Address& group, uint8_t record_type);
  void send_changes(NicState& s);
  void handle_query(NicState& s, const MldQuery& q);
  Duration random_delay(Duration max);
  void send(NicId nic, std::span<const MldRecord> records, bool state_change);
  void on_timer();
  void rearm();

  TimerWheel& timers_;
  Rng& rng_;
  MldHost& host_;
  MldOptions options_;
  std::vector<std::unique_ptr<NicState>> nics_;
  Timer timer_;
  MldCounters counters_;
};

}  // namespace weir::ipv6
