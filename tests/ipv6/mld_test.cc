#include "ipv6/mld.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "ipv6/ndp_wire.h"
#include "tests/testing/testing.h"

namespace weir::ipv6 {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

Ipv6Address addr(const char* text) { return Ipv6Address::parse(text).value(); }

constexpr NicId kNic = 1;
const Ipv6Address kRouter = addr("fe80::1");
const Ipv6Address kGroup = addr("ff02::1:ff00:5");
const Ipv6Address kGroup2 = addr("ff05::77");

std::vector<std::byte> query(const Ipv6Address& group, uint16_t max_response_code,
                             std::vector<Ipv6Address> sources = {}, uint8_t qrv = 2) {
  std::vector<std::byte> q(28 + 16 * sources.size());
  store_u8(q, 0, kMldQuery);
  store_be16(q, 4, max_response_code);
  copy_bytes(q, 8, group.bytes());
  store_u8(q, 24, qrv);
  store_u8(q, 25, 125);
  store_be16(q, 26, static_cast<uint16_t>(sources.size()));
  for (size_t i = 0; i < sources.size(); ++i) copy_bytes(q, 28 + 16 * i, sources[i].bytes());
  return q;
}

class FakeMldHost final : public MldHost {
 public:
  void send_report(NicId nic, ByteView message) override {
    sent.push_back({nic, parse_mld_report(message).value()});
  }
  struct Sent {
    NicId nic;
    std::vector<MldRecord> records;
  };
  std::vector<Sent> sent;
};

class MldTest : public ::testing::Test {
 protected:
  // Moves the clock as an event loop would: from one timer deadline to the next, so each
  // timer fires when it is due, and long spans cost only the events in them.
  void advance(Duration d) {
    const TimePoint end = clock_.now() + d;
    timers_.run();
    while (clock_.now() < end) {
      const auto next = timers_.next_deadline();
      const TimePoint at =
          next ? std::max(*next, clock_.now() + std::chrono::milliseconds(1)) : end;
      clock_.set(std::min(at, end));
      timers_.run();
    }
  }
  void receive(ByteView message, const Ipv6Address& source = kRouter, uint8_t hop_limit = 1,
               bool router_alert = true) {
    mld_.handle_message(kNic, message, source, hop_limit, router_alert);
  }

  ManualClock clock_;
  TimerWheel timers_{clock_};
  Rng rng_{3};
  FakeMldHost host_;
  Mld mld_{timers_, rng_, host_};
};

TEST(MldWireTest, MaxResponseDelay) {
  EXPECT_EQ(decode_max_response_delay(10000), std::chrono::milliseconds(10000));
  EXPECT_EQ(decode_max_response_delay(0x7fff), std::chrono::milliseconds(32767));
  // exp 0, mant 0: 0x1000 << 3 = 32768 ms.
  EXPECT_EQ(decode_max_response_delay(0x8000), std::chrono::milliseconds(32768));
  EXPECT_EQ(decode_max_response_delay(0xffff), std::chrono::milliseconds(uint64_t{0x1fff} << 10));
  EXPECT_EQ(decode_qqic(125), std::chrono::seconds(125));
  EXPECT_EQ(decode_qqic(0x80), std::chrono::seconds(128));
}

TEST(MldWireTest, QueryChecks) {
  auto general = query(Ipv6Address(), 1000);
  EXPECT_EQ(check_mld_query(general), MldQueryCheck::kOk);
  EXPECT_EQ(check_mld_query(general, kRouter, 1, true), MldQueryCheck::kOk);
  EXPECT_EQ(check_mld_query(general, addr("2001:db8::1"), 1, true),
            MldQueryCheck::kSourceNotLinkLocal);
  EXPECT_EQ(check_mld_query(general, kRouter, 2, true), MldQueryCheck::kBadHopLimit);
  EXPECT_EQ(check_mld_query(general, kRouter, 1, false), MldQueryCheck::kNoRouterAlert);
  EXPECT_EQ(check_mld_query(ByteView(general).first(23)), MldQueryCheck::kTruncated);
  EXPECT_EQ(check_mld_query(ByteView(general).first(26)), MldQueryCheck::kBadLength);
  EXPECT_EQ(check_mld_query(ByteView(general).first(24)), MldQueryCheck::kOk);  // MLDv1
  auto sources = query(kGroup, 1000, {addr("2001:db8::9")});
  EXPECT_EQ(check_mld_query(sources), MldQueryCheck::kOk);
  EXPECT_EQ(check_mld_query(ByteView(sources).first(40)), MldQueryCheck::kTruncated);
  EXPECT_EQ(check_mld_query(query(addr("2001:db8::1"), 10)), MldQueryCheck::kBadGroup);
  EXPECT_EQ(check_mld_query(query(Ipv6Address(), 10, {addr("2001:db8::9")})),
            MldQueryCheck::kBadGroup);
  auto q = parse_mld_query(sources);
  ASSERT_TRUE(q);
  EXPECT_FALSE(q->v1);
  EXPECT_EQ(q->group, kGroup);
  EXPECT_EQ(q->qrv, 2);
  EXPECT_EQ(q->qqic, 125);
  EXPECT_THAT(q->sources, ElementsAre(addr("2001:db8::9")));
  EXPECT_EQ(mld_query_check_name(MldQueryCheck::kNoRouterAlert), "no_router_alert");
}

TEST(MldWireTest, ReportRoundTrip) {
  std::vector<MldRecord> records{{kRecordChangeToExclude, kGroup, {}},
                                 {kRecordModeIsInclude, kGroup2, {addr("2001:db8::1")}}};
  auto bytes = build_mld_report(records);
  EXPECT_EQ(bytes.size(), 8u + 20 + 36);
  EXPECT_EQ(load_u8(bytes, 0), kMldV2Report);
  EXPECT_EQ(load_be16(bytes, 6), 2);
  EXPECT_EQ(load_u8(bytes, 8), kRecordChangeToExclude);
  EXPECT_EQ(parse_mld_report(bytes).value(), records);
  EXPECT_FALSE(parse_mld_report(ByteView(bytes).first(40)));
}

TEST(MldWireTest, ReportsSplitToFitTheMinimumMtu) {
  std::vector<MldRecord> records;
  for (int i = 0; i < 100; ++i) {
    std::array<uint8_t, 16> o{0xff, 0x05};
    o[15] = static_cast<uint8_t>(i);
    records.push_back({kRecordModeIsExclude, Ipv6Address(o), {}});
  }
  auto reports = build_mld_reports(records);
  ASSERT_THAT(reports, SizeIs(2));
  size_t total = 0;
  for (const auto& r : reports) {
    EXPECT_LE(r.size() + 40 + 8, 1280u);
    total += parse_mld_report(r)->size();
  }
  EXPECT_EQ(total, 100u);
  // A record with more sources than fit keeps what fits.
  MldRecord big{kRecordModeIsInclude, kGroup2, std::vector<Ipv6Address>(200, addr("2001:db8::1"))};
  auto one = build_mld_reports(std::span(&big, 1));
  ASSERT_THAT(one, SizeIs(1));
  EXPECT_LE(one[0].size() + 48, 1280u);
}

TEST(MldWireTest, ReportableGroups) {
  EXPECT_FALSE(is_reportable_group(addr("ff02::1")));
  EXPECT_FALSE(is_reportable_group(addr("ff01::5")));
  EXPECT_FALSE(is_reportable_group(addr("ff00::5")));
  EXPECT_FALSE(is_reportable_group(addr("2001:db8::1")));
  EXPECT_TRUE(is_reportable_group(addr("ff02::2")));
  EXPECT_TRUE(is_reportable_group(kGroup));
  EXPECT_TRUE(is_reportable_group(kGroup2));
}

TEST_F(MldTest, JoinSendsStateChangeAndRetransmitsOnce) {
  mld_.join(kNic, kGroup);
  ASSERT_THAT(host_.sent, SizeIs(1));
  EXPECT_EQ(host_.sent[0].nic, kNic);
  EXPECT_THAT(host_.sent[0].records, ElementsAre(MldRecord{kRecordChangeToExclude, kGroup, {}}));
  advance(std::chrono::seconds(1));  // within the unsolicited report interval
  ASSERT_THAT(host_.sent, SizeIs(2));
  EXPECT_EQ(host_.sent[1].records, host_.sent[0].records);
  advance(std::chrono::seconds(10));
  EXPECT_THAT(host_.sent, SizeIs(2));  // robustness 2: two transmissions in all
  EXPECT_TRUE(mld_.joined(kNic, kGroup));
  EXPECT_EQ(mld_.counters().tx_state_change_records, 2u);
}

TEST_F(MldTest, RepeatedJoinAndUnreportedGroups) {
  mld_.join(kNic, kGroup);
  mld_.join(kNic, kGroup);
  mld_.join(kNic, addr("ff02::1"));
  mld_.join(kNic, addr("ff01::1"));
  EXPECT_THAT(host_.sent, SizeIs(1));
  EXPECT_THAT(mld_.groups(kNic), ElementsAre(kGroup, addr("ff02::1"), addr("ff01::1")));
}

TEST_F(MldTest, LeaveReplacesPendingJoin) {
  mld_.join(kNic, kGroup);
  mld_.leave(kNic, kGroup);
  ASSERT_THAT(host_.sent, SizeIs(2));
  EXPECT_THAT(host_.sent[1].records, ElementsAre(MldRecord{kRecordChangeToInclude, kGroup, {}}));
  advance(std::chrono::seconds(2));
  ASSERT_THAT(host_.sent, SizeIs(3));
  EXPECT_THAT(host_.sent[2].records, ElementsAre(MldRecord{kRecordChangeToInclude, kGroup, {}}));
  advance(std::chrono::seconds(10));
  EXPECT_THAT(host_.sent, SizeIs(3));
  EXPECT_FALSE(mld_.joined(kNic, kGroup));
}

TEST_F(MldTest, PendingChangesShareAReport) {
  mld_.join(kNic, kGroup);
  mld_.join(kNic, kGroup2);
  ASSERT_THAT(host_.sent, SizeIs(2));
  // The second join's report also carried the first's last retransmission.
  EXPECT_THAT(host_.sent[1].records,
              UnorderedElementsAre(MldRecord{kRecordChangeToExclude, kGroup, {}},
                                   MldRecord{kRecordChangeToExclude, kGroup2, {}}));
  advance(std::chrono::seconds(2));
  ASSERT_THAT(host_.sent, SizeIs(3));
  EXPECT_THAT(host_.sent[2].records, ElementsAre(MldRecord{kRecordChangeToExclude, kGroup2, {}}));
}

TEST_F(MldTest, GeneralQueryGetsCurrentStateWithinMaxDelay) {
  mld_.join(kNic, kGroup);
  mld_.join(kNic, kGroup2);
  mld_.join(kNic, addr("ff02::1"));
  advance(std::chrono::seconds(5));
  host_.sent.clear();
  receive(query(Ipv6Address(), 10000));
  EXPECT_THAT(host_.sent, IsEmpty());
  advance(std::chrono::seconds(10));
  ASSERT_THAT(host_.sent, SizeIs(1));
  EXPECT_THAT(host_.sent[0].records, ElementsAre(MldRecord{kRecordModeIsExclude, kGroup, {}},
                                                 MldRecord{kRecordModeIsExclude, kGroup2, {}}));
  EXPECT_EQ(mld_.counters().rx_general_queries, 1u);
}

TEST_F(MldTest, GeneralQueryDelayIsRandom) {
  mld_.join(kNic, kGroup);
  advance(std::chrono::seconds(5));
  std::set<int64_t> when;
  for (int round = 0; round < 8; ++round) {
    host_.sent.clear();
    receive(query(Ipv6Address(), 1000));
    for (int ms = 0; ms <= 1001 && host_.sent.empty(); ++ms) {
      advance(std::chrono::milliseconds(1));
      if (!host_.sent.empty()) when.insert(ms);
    }
    ASSERT_THAT(host_.sent, SizeIs(1));
  }
  EXPECT_GT(when.size(), 1u);
}

TEST_F(MldTest, GroupSpecificQuery) {
  mld_.join(kNic, kGroup);
  advance(std::chrono::seconds(5));
  host_.sent.clear();
  receive(query(kGroup2, 1000));  // not a member
  EXPECT_EQ(mld_.counters().rx_queries_not_member, 1u);
  receive(query(kGroup, 1000));
  advance(std::chrono::seconds(2));
  ASSERT_THAT(host_.sent, SizeIs(1));
  EXPECT_THAT(host_.sent[0].records, ElementsAre(MldRecord{kRecordModeIsExclude, kGroup, {}}));
}

TEST_F(MldTest, SourceSpecificQueriesAccumulate) {
  mld_.join(kNic, kGroup2);
  advance(std::chrono::seconds(5));
  host_.sent.clear();
  receive(query(kGroup2, 5000, {addr("2001:db8::1")}));
  receive(query(kGroup2, 5000, {addr("2001:db8::2"), addr("2001:db8::1")}));
  advance(std::chrono::seconds(6));
  ASSERT_THAT(host_.sent, SizeIs(1));
  EXPECT_THAT(host_.sent[0].records,
              ElementsAre(MldRecord{
                  kRecordModeIsInclude, kGroup2, {addr("2001:db8::1"), addr("2001:db8::2")}}));
}

TEST_F(MldTest, GroupQueryClearsSourceList) {
  mld_.join(kNic, kGroup2);
  advance(std::chrono::seconds(5));
  host_.sent.clear();
  receive(query(kGroup2, 5000, {addr("2001:db8::1")}));
  receive(query(kGroup2, 5000));
  receive(query(kGroup2, 5000, {addr("2001:db8::3")}));  // the group-wide answer stays
  advance(std::chrono::seconds(6));
  ASSERT_THAT(host_.sent, SizeIs(1));
  EXPECT_THAT(host_.sent[0].records, ElementsAre(MldRecord{kRecordModeIsExclude, kGroup2, {}}));
}

TEST_F(MldTest, PendingGeneralResponseCoversLaterQueries) {
  mld_.join(kNic, kGroup);
  advance(std::chrono::seconds(5));
  host_.sent.clear();
  receive(query(Ipv6Address(), 0));  // answered at once... on the next timer run
  receive(query(kGroup, 10000));     // covered by the general response due sooner
  advance(Duration::zero());
  advance(std::chrono::seconds(11));
  ASSERT_THAT(host_.sent, SizeIs(1));
  EXPECT_THAT(host_.sent[0].records, ElementsAre(MldRecord{kRecordModeIsExclude, kGroup, {}}));
}

TEST_F(MldTest, InvalidQueriesAreCounted) {
  mld_.join(kNic, kGroup);
  advance(std::chrono::seconds(5));
  host_.sent.clear();
  receive(query(Ipv6Address(), 100), addr("2001:db8::1"));
  receive(query(Ipv6Address(), 100), kRouter, 64);
  receive(query(Ipv6Address(), 100), kRouter, 1, false);
  receive(ByteView(query(Ipv6Address(), 100)).first(26));
  receive(ByteView(query(Ipv6Address(), 100)).first(24));  // MLDv1
  advance(std::chrono::seconds(1));
  EXPECT_THAT(host_.sent, IsEmpty());
  const auto& c = mld_.counters();
  EXPECT_EQ(c.drop_source_not_link_local, 1u);
  EXPECT_EQ(c.drop_bad_hop_limit, 1u);
  EXPECT_EQ(c.drop_no_router_alert, 1u);
  EXPECT_EQ(c.drop_bad_length, 1u);
  EXPECT_EQ(c.rx_v1_queries_ignored, 1u);
}

TEST_F(MldTest, QrvBecomesRobustness) {
  receive(query(Ipv6Address(), 100, {}, 4));
  EXPECT_EQ(mld_.robustness(kNic), 4);
  mld_.join(kNic, kGroup);
  advance(std::chrono::seconds(10));
  // The general response may carry the group too; count state-change records.
  EXPECT_EQ(mld_.counters().tx_state_change_records, 4u);
  receive(query(Ipv6Address(), 100, {}, 0));  // 0: keep ours
  EXPECT_EQ(mld_.robustness(kNic), 4);
}

TEST_F(MldTest, ReportsFromOthersIgnored) {
  std::vector<MldRecord> r{{kRecordModeIsExclude, kGroup, {}}};
  receive(build_mld_report(r));
  EXPECT_EQ(mld_.counters().rx_reports_ignored, 1u);
}

TEST_F(MldTest, LeavingCancelsItsPendingResponse) {
  mld_.join(kNic, kGroup2);
  advance(std::chrono::seconds(5));
  receive(query(kGroup2, 5000));
  mld_.leave(kNic, kGroup2);
  host_.sent.clear();
  advance(std::chrono::seconds(6));
  for (const auto& s : host_.sent) {
    for (const auto& rec : s.records) EXPECT_NE(rec.type, kRecordModeIsExclude);
  }
}

TEST_F(MldTest, FlushForgetsTheNic) {
  mld_.join(kNic, kGroup);
  mld_.flush(kNic);
  EXPECT_FALSE(mld_.joined(kNic, kGroup));
  EXPECT_EQ(timers_.armed_count(), 0u);
}

}  // namespace
}  // namespace weir::ipv6
