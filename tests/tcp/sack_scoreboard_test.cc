#include "tcp/sack_scoreboard.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <vector>

namespace weir::tcp {
namespace {

using ::testing::ElementsAre;

SeqRange r(uint32_t begin, uint32_t end) { return {SeqNum(begin), SeqNum(end)}; }

std::vector<SeqRange> ranges_of(const SackScoreboard& sb) {
  return {sb.ranges().begin(), sb.ranges().end()};
}

class SackScoreboardTest : public ::testing::Test {
 protected:
  uint32_t update(std::initializer_list<SeqRange> blocks) {
    std::vector<SeqRange> v(blocks);
    return sb_.update(una_, max_, v);
  }
  SeqNum una_{1000};
  SeqNum max_{20000};
  SackScoreboard sb_;
};

TEST_F(SackScoreboardTest, EmptyInitially) {
  EXPECT_EQ(sb_.sacked_bytes(), 0u);
  EXPECT_FALSE(sb_.highest_sacked());
  EXPECT_FALSE(sb_.next_hole(una_));
  EXPECT_TRUE(sb_.ranges().empty());
  EXPECT_TRUE(sb_.is_sacked(r(1500, 1500)));  // vacuously
  EXPECT_FALSE(sb_.is_sacked(r(1500, 1501)));
}

TEST_F(SackScoreboardTest, SingleBlock) {
  EXPECT_EQ(update({r(2000, 3000)}), 1000u);
  EXPECT_EQ(sb_.sacked_bytes(), 1000u);
  EXPECT_EQ(sb_.highest_sacked(), SeqNum(3000));
  EXPECT_THAT(ranges_of(sb_), ElementsAre(r(2000, 3000)));
  EXPECT_TRUE(sb_.is_sacked(r(2000, 3000)));
  EXPECT_TRUE(sb_.is_sacked(r(2500, 2600)));
  EXPECT_FALSE(sb_.is_sacked(r(1999, 2500)));
  EXPECT_FALSE(sb_.is_sacked(r(2500, 3001)));
  EXPECT_EQ(sb_.next_hole(una_), r(1000, 2000));
}

TEST_F(SackScoreboardTest, RepeatedOrContainedBlockAddsNothing) {
  EXPECT_EQ(update({r(2000, 3000)}), 1000u);
  EXPECT_EQ(update({r(2000, 3000)}), 0u);
  EXPECT_EQ(update({r(2200, 2800)}), 0u);
  EXPECT_EQ(sb_.sacked_bytes(), 1000u);
  EXPECT_THAT(ranges_of(sb_), ElementsAre(r(2000, 3000)));
}

TEST_F(SackScoreboardTest, DisjointBlocksAreKeptSortedInAnyOrder) {
  EXPECT_EQ(update({r(8000, 9000), r(2000, 3000), r(5000, 6000)}), 3000u);
  EXPECT_THAT(ranges_of(sb_), ElementsAre(r(2000, 3000), r(5000, 6000), r(8000, 9000)));
  EXPECT_EQ(sb_.highest_sacked(), SeqNum(9000));
}

TEST_F(SackScoreboardTest, OverlappingBlocksMerge) {
  update({r(2000, 3000)});
  EXPECT_EQ(update({r(2500, 3500)}), 500u);
  EXPECT_THAT(ranges_of(sb_), ElementsAre(r(2000, 3500)));
  EXPECT_EQ(update({r(1500, 2100)}), 500u);
  EXPECT_THAT(ranges_of(sb_), ElementsAre(r(1500, 3500)));
  EXPECT_EQ(sb_.sacked_bytes(), 2000u);
}

TEST_F(SackScoreboardTest, AdjacentBlocksCoalesce) {
  update({r(2000, 3000)});
  EXPECT_EQ(update({r(3000, 4000)}), 1000u);
  EXPECT_THAT(ranges_of(sb_), ElementsAre(r(2000, 4000)));
  EXPECT_EQ(update({r(1500, 2000)}), 500u);
  EXPECT_THAT(ranges_of(sb_), ElementsAre(r(1500, 4000)));
}

TEST_F(SackScoreboardTest, BlockBridgingSeveralRangesMergesThemAll) {
  update({r(2000, 3000), r(4000, 5000), r(6000, 7000), r(9000, 10000)});
  EXPECT_EQ(sb_.sacked_bytes(), 4000u);
  // Fills 3000-4000 and 5000-6000, extends to 7500: 2500 new bytes.
  EXPECT_EQ(update({r(2500, 7500)}), 2500u);
  EXPECT_THAT(ranges_of(sb_), ElementsAre(r(2000, 7500), r(9000, 10000)));
  EXPECT_EQ(sb_.sacked_bytes(), 6500u);
}

TEST_F(SackScoreboardTest, BlockCoveringEverything) {
  update({r(2000, 3000), r(4000, 5000)});
  EXPECT_EQ(update({r(1000, 20000)}), 19000u - 2000u);
  EXPECT_THAT(ranges_of(sb_), ElementsAre(r(1000, 20000)));
  EXPECT_EQ(sb_.sacked_bytes(), 19000u);
  EXPECT_FALSE(sb_.next_hole(una_));
}

TEST_F(SackScoreboardTest, InvalidBlocksIgnored) {
  EXPECT_EQ(update({r(3000, 3000)}), 0u);    // empty
  EXPECT_EQ(update({r(3000, 2000)}), 0u);    // inverted
  EXPECT_EQ(update({r(500, 900)}), 0u);      // below snd.una: D-SACK
  EXPECT_EQ(update({r(500, 1000)}), 0u);     // ends exactly at snd.una: D-SACK
  EXPECT_EQ(update({r(19000, 20001)}), 0u);  // beyond snd.max
  EXPECT_EQ(update({r(30000, 31000)}), 0u);  // entirely beyond snd.max
  EXPECT_TRUE(sb_.ranges().empty());
  EXPECT_EQ(sb_.sacked_bytes(), 0u);
}

TEST_F(SackScoreboardTest, InvalidBlocksDoNotSpoilValidOnesInTheSameAck) {
  // A D-SACK is carried as the first block, followed by ordinary ones (RFC 2883).
  EXPECT_EQ(update({r(500, 900), r(4000, 5000), r(3000, 2000), r(2000, 2500)}), 1500u);
  EXPECT_THAT(ranges_of(sb_), ElementsAre(r(2000, 2500), r(4000, 5000)));
}

TEST_F(SackScoreboardTest, BlockReachingSndMaxExactlyIsValid) {
  EXPECT_EQ(update({r(19000, 20000)}), 1000u);
  EXPECT_EQ(sb_.highest_sacked(), SeqNum(20000));
}

TEST_F(SackScoreboardTest, BlockStraddlingSndUnaIsTrimmed) {
  EXPECT_EQ(update({r(800, 1500)}), 500u);
  EXPECT_THAT(ranges_of(sb_), ElementsAre(r(1000, 1500)));
}

TEST_F(SackScoreboardTest, AdvanceDropsAndTrims) {
  update({r(2000, 3000), r(4000, 5000), r(6000, 7000)});
  sb_.advance(SeqNum(1500));
  EXPECT_EQ(sb_.sacked_bytes(), 3000u);
  sb_.advance(SeqNum(3000));
  EXPECT_THAT(ranges_of(sb_), ElementsAre(r(4000, 5000), r(6000, 7000)));
  EXPECT_EQ(sb_.sacked_bytes(), 2000u);
  sb_.advance(SeqNum(4500));
  EXPECT_THAT(ranges_of(sb_), ElementsAre(r(4500, 5000), r(6000, 7000)));
  EXPECT_EQ(sb_.sacked_bytes(), 1500u);
  sb_.advance(SeqNum(7000));
  EXPECT_TRUE(sb_.ranges().empty());
  EXPECT_EQ(sb_.sacked_bytes(), 0u);
  EXPECT_FALSE(sb_.highest_sacked());
}

TEST_F(SackScoreboardTest, ClearForgetsEverything) {
  update({r(2000, 3000)});
  sb_.clear();
  EXPECT_TRUE(sb_.ranges().empty());
  EXPECT_EQ(sb_.sacked_bytes(), 0u);
}

TEST_F(SackScoreboardTest, NextHoleWalksTheHoles) {
  update({r(2000, 3000), r(4000, 5000)});
  EXPECT_EQ(sb_.next_hole(SeqNum(1000)), r(1000, 2000));
  EXPECT_EQ(sb_.next_hole(SeqNum(1500)), r(1500, 2000));
  EXPECT_EQ(sb_.next_hole(SeqNum(2000)), r(3000, 4000));
  EXPECT_EQ(sb_.next_hole(SeqNum(2500)), r(3000, 4000));
  EXPECT_EQ(sb_.next_hole(SeqNum(3500)), r(3500, 4000));
  // Nothing above the highest SACKed byte counts as a hole.
  EXPECT_FALSE(sb_.next_hole(SeqNum(4000)));
  EXPECT_FALSE(sb_.next_hole(SeqNum(5000)));
  EXPECT_FALSE(sb_.next_hole(SeqNum(9000)));
}

TEST_F(SackScoreboardTest, RangeCountIsBounded) {
  // A peer SACKing every other byte cannot make the scoreboard grow without limit.
  max_ = SeqNum(1000 + 10000);
  for (uint32_t s = 1001; s + 1 < 11000; s += 2) update({r(s, s + 1)});
  EXPECT_LE(sb_.ranges().size(), 512u);
  EXPECT_EQ(sb_.sacked_bytes(), sb_.ranges().size());
  // Merging still works at the bound: a block covering everything collapses it.
  update({r(1000, 11000)});
  EXPECT_THAT(ranges_of(sb_), ElementsAre(r(1000, 11000)));
  EXPECT_EQ(sb_.sacked_bytes(), 10000u);
}

TEST(SackScoreboardWrapTest, BlocksAcrossSequenceWrap) {
  SackScoreboard sb;
  const SeqNum una(0xFFFFF000u);
  const SeqNum max = una + 0x4000;  // wraps past zero
  std::vector<SeqRange> blocks = {r(0x00000800u, 0x00001000u), r(0xFFFFF800u, 0x00000200u)};
  EXPECT_EQ(sb.update(una, max, blocks), 0x800u + 0xA00u);
  // Sorted in sequence order: the block before the wrap first.
  EXPECT_THAT(ranges_of(sb), ElementsAre(r(0xFFFFF800u, 0x00000200u), r(0x800u, 0x1000u)));
  EXPECT_EQ(sb.highest_sacked(), SeqNum(0x1000u));
  EXPECT_EQ(sb.next_hole(una), r(0xFFFFF000u, 0xFFFFF800u));
  EXPECT_EQ(sb.next_hole(SeqNum(0xFFFFF900u)), r(0x200u, 0x800u));
  EXPECT_TRUE(sb.is_sacked(r(0xFFFFFF00u, 0x100u)));
  EXPECT_FALSE(sb.is_sacked(r(0xFFFFFF00u, 0x300u)));

  // Filling the hole that spans zero merges across the wrap.
  std::vector<SeqRange> fill = {r(0x200u, 0x800u)};
  EXPECT_EQ(sb.update(una, max, fill), 0x600u);
  EXPECT_THAT(ranges_of(sb), ElementsAre(r(0xFFFFF800u, 0x1000u)));

  sb.advance(SeqNum(0x10u));
  EXPECT_THAT(ranges_of(sb), ElementsAre(r(0x10u, 0x1000u)));
  EXPECT_EQ(sb.sacked_bytes(), 0x1000u - 0x10u);
}

TEST(SackScoreboardWrapTest, DsackJustBelowWrappedUnaIgnored) {
  SackScoreboard sb;
  const SeqNum una(0x100u);
  const SeqNum max(0x5000u);
  std::vector<SeqRange> blocks = {r(0xFFFFFF00u, 0x80u)};
  EXPECT_EQ(sb.update(una, max, blocks), 0u);
  EXPECT_TRUE(sb.ranges().empty());
}

}  // namespace
}  // namespace weir::tcp
