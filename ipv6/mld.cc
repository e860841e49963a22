#include "ipv6/mld.h"

#include <algorithm>

namespace weir::ipv6 {

namespace {

constexpr size_t kReportHeaderLength = 8;
constexpr size_t kRecordHeaderLength = 20;
// A report travels in 1280 bytes: IPv6 header (40) and hop-by-hop Router Alert header (8).
constexpr size_t kMaxReportLength = 1280 - 40 - 8;

uint8_t scope_of(const Ipv6Address& group) { return group.octets()[1] & 0x0f; }

}  // namespace

Duration decode_max_response_delay(uint16_t code) {
  if (code < 0x8000) return std::chrono::milliseconds(code);
  const uint32_t mant = code & 0x0fff;
  const uint32_t exp = (code >> 12) & 0x7;
  return std::chrono::milliseconds(uint64_t{mant | 0x1000} << (exp + 3));
}

Duration decode_qqic(uint8_t code) {
  if (code < 0x80) return std::chrono::seconds(code);
  const uint32_t mant = code & 0x0f;
  const uint32_t exp = (code >> 4) & 0x7;
  return std::chrono::seconds(uint64_t{mant | 0x10} << (exp + 3));
}

std::string_view mld_query_check_name(MldQueryCheck check) {
  switch (check) {
    case MldQueryCheck::kOk:
      return "ok";
    case MldQueryCheck::kTruncated:
      return "truncated";
    case MldQueryCheck::kBadLength:
      return "bad_length";
    case MldQueryCheck::kNotQuery:
      return "not_query";
    case MldQueryCheck::kSourceNotLinkLocal:
      return "source_not_link_local";
    case MldQueryCheck::kBadHopLimit:
      return "bad_hop_limit";
    case MldQueryCheck::kNoRouterAlert:
      return "no_router_alert";
    case MldQueryCheck::kBadGroup:
      return "bad_group";
  }
  return "unknown";
}

MldQueryCheck check_mld_query(ByteView message) {
  if (message.empty()) return MldQueryCheck::kTruncated;
  if (load_u8(message, 0) != kMldQuery) return MldQueryCheck::kNotQuery;
  if (message.size() < kMldV1QueryLength) return MldQueryCheck::kTruncated;
  if (message.size() > kMldV1QueryLength && message.size() < kMldV2QueryMinLength) {
    return MldQueryCheck::kBadLength;
  }
  const Ipv6Address group = Ipv6Address::from_bytes(message.subspan(8, 16));
  size_t sources = 0;
  if (message.size() >= kMldV2QueryMinLength) {
    sources = load_be16(message, 26);
    if (sources * 16 > message.size() - kMldV2QueryMinLength) return MldQueryCheck::kTruncated;
  }
  if (!group.is_unspecified() && !group.is_multicast()) return MldQueryCheck::kBadGroup;
  if (group.is_unspecified() && sources != 0) return MldQueryCheck::kBadGroup;
  return MldQueryCheck::kOk;
}

MldQueryCheck check_mld_query(ByteView message, const Ipv6Address& source, uint8_t hop_limit,
                              bool router_alert) {
  if (!message.empty() && load_u8(message, 0) != kMldQuery) return MldQueryCheck::kNotQuery;
  if (!source.is_link_local()) return MldQueryCheck::kSourceNotLinkLocal;
  if (hop_limit != 1) return MldQueryCheck::kBadHopLimit;
  if (!router_alert) return MldQueryCheck::kNoRouterAlert;
  return check_mld_query(message);
}

Result<MldQuery> parse_mld_query(ByteView message) {
  if (check_mld_query(message) != MldQueryCheck::kOk) return Error::kBadMessage;
  MldQuery q;
  q.v1 = message.size() == kMldV1QueryLength;
  q.max_response_delay = q.v1 ? std::chrono::milliseconds(load_be16(message, 4))
                              : decode_max_response_delay(load_be16(message, 4));
  q.group = Ipv6Address::from_bytes(message.subspan(8, 16));
  if (!q.v1) {
    const uint8_t flags = load_u8(message, 24);
    q.suppress_router_processing = (flags & 0x08) != 0;
    q.qrv = flags & 0x07;
    q.qqic = load_u8(message, 25);
    const size_t n = load_be16(message, 26);
    q.sources.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      q.sources.push_back(Ipv6Address::from_bytes(message.subspan(28 + 16 * i, 16)));
    }
  }
  return q;
}

std::vector<std::byte> build_mld_report(std::span<const MldRecord> records) {
  size_t length = kReportHeaderLength;
  for (const MldRecord& r : records) length += kRecordHeaderLength + 16 * r.sources.size();
  std::vector<std::byte> out(length);
  store_u8(out, 0, kMldV2Report);
  store_be16(out, 6, static_cast<uint16_t>(records.size()));
  size_t off = kReportHeaderLength;
  for (const MldRecord& r : records) {
    store_u8(out, off, r.type);
    store_u8(out, off + 1, 0);  // no auxiliary data
    store_be16(out, off + 2, static_cast<uint16_t>(r.sources.size()));
    copy_bytes(out, off + 4, r.group.bytes());
    off += kRecordHeaderLength;
    for (const Ipv6Address& s : r.sources) {
      copy_bytes(out, off, s.bytes());
      off += 16;
    }
  }
  return out;
}

Result<std::vector<MldRecord>> parse_mld_report(ByteView message) {
  ByteReader in(message);
  if (in.u8() != kMldV2Report) return Error::kBadMessage;
  in.skip(5);
  const size_t count = in.be16();
  std::vector<MldRecord> records;
  for (size_t i = 0; i < count && in.ok(); ++i) {
    MldRecord r;
    r.type = in.u8();
    const size_t aux = in.u8();
    const size_t n = in.be16();
    ByteView group = in.bytes(16);
    if (!in.ok()) break;
    r.group = Ipv6Address::from_bytes(group);
    for (size_t j = 0; j < n && in.ok(); ++j) {
      ByteView s = in.bytes(16);
      if (in.ok()) r.sources.push_back(Ipv6Address::from_bytes(s));
    }
    in.skip(aux * 4);
    records.push_back(std::move(r));
  }
  if (!in.ok()) return Error::kBadMessage;
  return records;
}

std::vector<std::vector<std::byte>> build_mld_reports(std::span<const MldRecord> records) {
  constexpr size_t kMaxSources =
      (kMaxReportLength - kReportHeaderLength - kRecordHeaderLength) / 16;
  std::vector<std::vector<std::byte>> out;
  std::vector<MldRecord> batch;
  size_t length = kReportHeaderLength;
  for (MldRecord r : records) {
    if (r.sources.size() > kMaxSources) r.sources.resize(kMaxSources);
    const size_t need = kRecordHeaderLength + 16 * r.sources.size();
    if (length + need > kMaxReportLength && !batch.empty()) {
      out.push_back(build_mld_report(batch));
      batch.clear();
      length = kReportHeaderLength;
    }
    batch.push_back(std::move(r));
    length += need;
  }
  if (!batch.empty()) out.push_back(build_mld_report(batch));
  return out;
}

bool is_reportable_group(const Ipv6Address& group) {
  if (!group.is_multicast()) return false;
  const uint8_t scope = scope_of(group);
  if (scope <= 1) return false;
  std::array<uint8_t, 16> all_nodes{};
  all_nodes[0] = 0xff;
  all_nodes[1] = 0x02;
  all_nodes[15] = 0x01;
  return group != Ipv6Address(all_nodes);
}

// ---------------------------------------------------------------------------------------------

Mld::Mld(TimerWheel& timers, Rng& rng, MldHost& host, MldOptions options)
    : timers_(timers), rng_(rng), host_(host), options_(options), timer_([this] { on_timer(); }) {}

Mld::~Mld() = default;

Mld::NicState* Mld::find(NicId nic) {
  for (auto& s : nics_) {
    if (s->nic == nic) return s.get();
  }
  return nullptr;
}

const Mld::NicState* Mld::find(NicId nic) const {
  for (const auto& s : nics_) {
    if (s->nic == nic) return s.get();
  }
  return nullptr;
}

Mld::NicState& Mld::state(NicId nic) {
  if (NicState* s = find(nic)) return *s;
  auto s = std::make_unique<NicState>();
  s->nic = nic;
  s->robustness = options_.robustness;
  nics_.push_back(std::move(s));
  return *nics_.back();
}

void Mld::join(NicId nic, const Ipv6Address& group) {
  if (!group.is_multicast()) return;
  NicState& s = state(nic);
  if (std::find(s.groups.begin(), s.groups.end(), group) != s.groups.end()) return;
  s.groups.push_back(group);
  ++counters_.joins;
  state_change(s, group, kRecordChangeToExclude);
}

void Mld::leave(NicId nic, const Ipv6Address& group) {
  NicState* s = find(nic);
  if (s == nullptr) return;
  auto it = std::find(s->groups.begin(), s->groups.end(), group);
  if (it == s->groups.end()) return;
  s->groups.erase(it);
  ++counters_.leaves;
  std::erase_if(s->responses, [&](const GroupResponse& r) { return r.group == group; });
  state_change(*s, group, kRecordChangeToInclude);
}

bool Mld::joined(NicId nic, const Ipv6Address& group) const {
  const NicState* s = find(nic);
  return s != nullptr && std::find(s->groups.begin(), s->groups.end(), group) != s->groups.end();
}

std::vector<Ipv6Address> Mld::groups(NicId nic) const {
  const NicState* s = find(nic);
  return s != nullptr ? s->groups : std::vector<Ipv6Address>{};
}

uint8_t Mld::robustness(NicId nic) const {
  const NicState* s = find(nic);
  return s != nullptr ? s->robustness : options_.robustness;
}

void Mld::state_change(NicState& s, const Ipv6Address& group, uint8_t record_type) {
  if (!is_reportable_group(group) || s.robustness == 0) return;
  auto it = std::find_if(s.changes.begin(), s.changes.end(),
                         [&](const Change& c) { return c.group == group; });
  if (it != s.changes.end()) {
    it->record_type = record_type;
    it->left = s.robustness;
  } else {
    s.changes.push_back(Change{group, record_type, s.robustness});
  }
  send_changes(s);
}

void Mld::send_changes(NicState& s) {
  std::vector<MldRecord> records;
  for (Change& c : s.changes) {
    if (c.left == 0) continue;
    records.push_back(MldRecord{c.record_type, c.group, {}});
    --c.left;
  }
  std::erase_if(s.changes, [](const Change& c) { return c.left == 0; });
  s.change_at.reset();
  if (!s.changes.empty()) {
    s.change_at = timers_.now() + random_delay(options_.unsolicited_report_interval);
  }
  const NicId nic = s.nic;
  rearm();
  if (!records.empty()) send(nic, records, true);
}

Duration Mld::random_delay(Duration max) {
  if (max <= Duration::zero()) return Duration::zero();
  return Duration(static_cast<Duration::rep>(rng_.uniform(static_cast<uint64_t>(max.count()) + 1)));
}

void Mld::handle_message(NicId nic, ByteView message, const Ipv6Address& source, uint8_t hop_limit,
                         bool router_alert) {
  if (message.empty()) {
    ++counters_.drop_truncated;
    return;
  }
  const uint8_t type = load_u8(message, 0);
  if (type == kMldV1Report || type == kMldV1Done || type == kMldV2Report) {
    ++counters_.rx_reports_ignored;
    return;
  }
  switch (check_mld_query(message, source, hop_limit, router_alert)) {
    case MldQueryCheck::kOk:
      break;
    case MldQueryCheck::kNotQuery:
      return;
    case MldQueryCheck::kTruncated:
      ++counters_.drop_truncated;
      return;
    case MldQueryCheck::kBadLength:
      ++counters_.drop_bad_length;
      return;
    case MldQueryCheck::kSourceNotLinkLocal:
      ++counters_.drop_source_not_link_local;
      return;
    case MldQueryCheck::kBadHopLimit:
      ++counters_.drop_bad_hop_limit;
      return;
    case MldQueryCheck::kNoRouterAlert:
      ++counters_.drop_no_router_alert;
      return;
    case MldQueryCheck::kBadGroup:
      ++counters_.drop_bad_group;
      return;
  }
  auto q = parse_mld_query(message);
  if (!q) {
    ++counters_.drop_truncated;
    return;
  }
  ++counters_.rx_queries;
  if (q->v1) {
    ++counters_.rx_v1_queries_ignored;
    return;
  }
  handle_query(state(nic), *q);
}

void Mld::handle_query(NicState& s, const MldQuery& q) {
  if (q.qrv != 0) s.robustness = q.qrv;
  const TimePoint at = timers_.now() + random_delay(q.max_response_delay);
  if (q.general()) {
    ++counters_.rx_general_queries;
  } else if (q.sources.empty()) {
    ++counters_.rx_group_queries;
  } else {
    ++counters_.rx_source_queries;
  }
  // 6.2 rule 1: a General Query response due sooner covers this query too.
  if (s.general_at && *s.general_at <= at) return;
  if (q.general()) {
    s.general_at = at;  // rule 2
    rearm();
    return;
  }
  if (std::find(s.groups.begin(), s.groups.end(), q.group) == s.groups.end() ||
      !is_reportable_group(q.group)) {
    ++counters_.rx_queries_not_member;
    return;
  }
  auto it = std::find_if(s.responses.begin(), s.responses.end(),
                         [&](const GroupResponse& r) { return r.group == q.group; });
  if (it == s.responses.end()) {
    s.responses.push_back(GroupResponse{q.group, at, q.sources});  // rule 3
  } else {
    it->at = std::min(it->at, at);
    if (q.sources.empty() || it->sources.empty()) {
      it->sources.clear();  // rule 4
    } else {
      for (const Ipv6Address& a : q.sources) {  // rule 5
        if (std::find(it->sources.begin(), it->sources.end(), a) == it->sources.end()) {
          it->sources.push_back(a);
        }
      }
    }
  }
  rearm();
}

void Mld::send(NicId nic, std::span<const MldRecord> records, bool state_change) {
  for (const auto& report : build_mld_reports(records)) {
    ++counters_.tx_reports;
    host_.send_report(nic, report);
  }
  if (state_change) {
    counters_.tx_state_change_records += records.size();
  } else {
    counters_.tx_current_state_records += records.size();
  }
}

void Mld::on_timer() {
  const TimePoint now = timers_.now();
  // Collect first, send after: sending may re-enter (a looped-back report), and must not find
  // half-updated state.
  std::vector<std::pair<NicId, std::vector<MldRecord>>> current;
  std::vector<NicId> change_nics;
  for (auto& sp : nics_) {
    NicState& s = *sp;
    if (s.change_at && *s.change_at <= now) change_nics.push_back(s.nic);
    std::vector<MldRecord> records;
    if (s.general_at && *s.general_at <= now) {
      s.general_at.reset();
      for (const Ipv6Address& g : s.groups) {
        if (is_reportable_group(g)) records.push_back(MldRecord{kRecordModeIsExclude, g, {}});
      }
      s.responses.clear();  // the full report answers them too
    }
    for (auto it = s.responses.begin(); it != s.responses.end();) {
      if (it->at > now) {
        ++it;
        continue;
      }
      if (it->sources.empty()) {
        records.push_back(MldRecord{kRecordModeIsExclude, it->group, {}});
      } else {
        records.push_back(MldRecord{kRecordModeIsInclude, it->group, it->sources});
      }
      it = s.responses.erase(it);
    }
    if (!records.empty()) current.emplace_back(s.nic, std::move(records));
  }
  rearm();
  for (NicId nic : change_nics) {
    if (NicState* s = find(nic)) send_changes(*s);
  }
  for (const auto& [nic, records] : current) send(nic, records, false);
}

void Mld::rearm() {
  std::optional<TimePoint> next;
  auto consider = [&](const std::optional<TimePoint>& t) {
    if (t && (!next || *t < *next)) next = t;
  };
  for (const auto& s : nics_) {
    consider(s->change_at);
    consider(s->general_at);
    for (const auto& r : s->responses) consider(r.at);
  }
  if (!next) {
    timer_.cancel();
  } else if (!timer_.armed() || timer_.deadline() != *next) {
    timers_.arm(timer_, *next);
  }
}

void Mld::flush(NicId nic) {
  std::erase_if(nics_, [&](const std::unique_ptr<NicState>& s) { return s->nic == nic; });
  rearm();
}

}  // namespace weir::ipv6
