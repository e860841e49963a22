#include "link/fault.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <numeric>

#include "link/channel.h"
#include "tests/link/recording_dispatcher.h"

namespace weir::link {
namespace {

using namespace std::chrono_literals;
using testing::make_packet;
using testing::RecordingDispatcher;
using testing::tag_of;

// A fault endpoint on side a of a channel; side b records what arrives.
class FaultTest : public ::testing::Test {
 protected:
  void make(const FaultOptions& options) {
    auto [a, b] = ChannelEndpoint::make_pair({.queue_limit = 100'000});
    receiver_ = std::move(b);
    receiver_->attach(&received_);
    fault_ = std::make_unique<FaultEndpoint>(std::move(a), wheel_, options);
    fault_->attach(&sender_rx_);
  }

  void send(uint32_t count, uint32_t first = 0) {
    std::vector<PacketBuffer> batch;
    for (uint32_t i = 0; i < count; ++i) {
      batch.push_back(make_packet(first + i, 64, kEtherTypeIpv4, receiver_->link_address()));
    }
    ASSERT_EQ(fault_->write_packets(batch).value(), count);
  }

  std::vector<uint32_t> received_tags() {
    receiver_->process_receive(SIZE_MAX);
    std::vector<uint32_t> tags;
    for (const auto& p : received_.packets) tags.push_back(tag_of(p.to_vector()));
    return tags;
  }

  void advance(Duration d) {
    clock_.advance(d);
    wheel_.run();
  }

  ManualClock clock_;
  TimerWheel wheel_{clock_};
  std::unique_ptr<FaultEndpoint> fault_;
  std::unique_ptr<ChannelEndpoint> receiver_;
  RecordingDispatcher received_;
  RecordingDispatcher sender_rx_;
};

std::vector<uint32_t> iota(uint32_t n) {
  std::vector<uint32_t> v(n);
  std::iota(v.begin(), v.end(), 0u);
  return v;
}

TEST_F(FaultTest, NoFaultsPassesEverythingInOrder) {
  make({});
  send(50);
  EXPECT_EQ(received_tags(), iota(50));
  EXPECT_EQ(fault_->counters().tx_frames, 50u);
  EXPECT_EQ(fault_->held(), 0u);
}

TEST_F(FaultTest, DropCountIsExactForSeed) {
  make({.seed = 42, .drop = 0.1});
  send(10'000);
  const auto tags = received_tags();
  const uint64_t dropped = fault_->counters().tx_dropped;
  // Pinned for seed 42: a change here means the fault stream changed for every user.
  EXPECT_EQ(dropped, 988u);
  EXPECT_GT(dropped, 900u);
  EXPECT_LT(dropped, 1100u);
  EXPECT_EQ(tags.size(), 10'000u - dropped);
  EXPECT_TRUE(std::is_sorted(tags.begin(), tags.end()));
}

TEST_F(FaultTest, SameSeedSamePattern) {
  make({.seed = 7, .drop = 0.3});
  send(1000);
  const auto first = received_tags();
  received_.packets.clear();
  make({.seed = 7, .drop = 0.3, .duplicate = 0.2});  // other faults do not move the drops
  send(1000);
  auto second = received_tags();
  second.erase(std::unique(second.begin(), second.end()), second.end());
  EXPECT_EQ(first, second);
  received_.packets.clear();
  make({.seed = 8, .drop = 0.3});
  send(1000);
  EXPECT_NE(first, received_tags());
}

TEST_F(FaultTest, ReorderHoldsFramesWhileLaterOnesPass) {
  make({.seed = 3, .reorder = 0.3, .reorder_delay = 2ms});
  send(100);
  const uint64_t reordered = fault_->counters().tx_reordered;
  ASSERT_GT(reordered, 0u);
  EXPECT_EQ(fault_->held(), reordered);
  EXPECT_EQ(received_tags().size(), 100u - reordered);
  advance(1ms);
  EXPECT_EQ(received_tags().size(), 100u - reordered);
  advance(1ms);
  auto tags = received_tags();
  ASSERT_EQ(tags.size(), 100u);
  EXPECT_FALSE(std::is_sorted(tags.begin(), tags.end()));
  std::sort(tags.begin(), tags.end());
  EXPECT_EQ(tags, iota(100));
  EXPECT_EQ(fault_->held(), 0u);
}

TEST_F(FaultTest, DuplicateSendsSomeFramesTwice) {
  make({.seed = 5, .duplicate = 0.25});
  send(400);
  const auto tags = received_tags();
  const uint64_t duplicated = fault_->counters().tx_duplicated;
  EXPECT_GT(duplicated, 50u);
  EXPECT_EQ(tags.size(), 400u + duplicated);
  for (uint32_t t = 0; t < 400; ++t) {
    const auto n = std::count(tags.begin(), tags.end(), t);
    EXPECT_TRUE(n == 1 || n == 2) << t;
  }
}

TEST_F(FaultTest, CorruptFlipsOneBitOfACopy) {
  make({.seed = 9, .corrupt = 1.0});
  std::vector<PacketBuffer> batch;
  std::vector<PacketBuffer> originals;
  for (uint32_t i = 0; i < 20; ++i) {
    batch.push_back(make_packet(i, 64, kEtherTypeIpv4, receiver_->link_address()));
    originals.push_back(batch.back().clone());  // shares the chunk with what is sent
  }
  const auto pristine = originals[0].to_vector();
  ASSERT_EQ(fault_->write_packets(batch).value(), 20u);
  EXPECT_EQ(fault_->counters().tx_corrupted, 20u);
  receiver_->process_receive(SIZE_MAX);
  ASSERT_EQ(received_.packets.size(), 20u);
  for (size_t i = 0; i < 20; ++i) {
    const auto got = received_.packets[i].to_vector();
    const auto want = originals[i].to_vector();
    ASSERT_EQ(got.size(), want.size());
    int flipped = 0;
    for (size_t k = 0; k < got.size(); ++k) {
      flipped += std::popcount(std::to_integer<uint8_t>(got[k] ^ want[k]));
    }
    EXPECT_EQ(flipped, 1) << i;
  }
  EXPECT_EQ(originals[0].to_vector(), pristine);
}

TEST_F(FaultTest, DelayHoldsUntilClockAdvances) {
  make({.delay = 10ms});
  send(5);
  EXPECT_TRUE(received_tags().empty());
  EXPECT_EQ(fault_->counters().tx_delayed, 5u);
  advance(9ms);
  EXPECT_TRUE(received_tags().empty());
  advance(1ms);
  EXPECT_EQ(received_tags(), iota(5));
}

TEST_F(FaultTest, JitterReleasesEverythingWithinBound) {
  make({.seed = 11, .delay = 1ms, .jitter = 4ms});
  send(200);
  EXPECT_TRUE(received_tags().empty());
  advance(5ms);
  auto tags = received_tags();
  std::sort(tags.begin(), tags.end());
  EXPECT_EQ(tags, iota(200));
}

TEST_F(FaultTest, FlushReleasesHeldFramesNow) {
  make({.delay = 1s});
  send(3);
  fault_->flush();
  EXPECT_EQ(received_tags(), iota(3));
  EXPECT_EQ(fault_->held(), 0u);
}

TEST_F(FaultTest, DirectionRxLeavesTransmitAlone) {
  make({.drop = 1.0, .direction = FaultDirection::kRx});
  send(10);
  EXPECT_EQ(received_tags().size(), 10u);
  // Frames towards the fault endpoint are all dropped.
  std::vector<PacketBuffer> back;
  for (uint32_t i = 0; i < 10; ++i) {
    back.push_back(make_packet(i, 64, kEtherTypeIpv4, fault_->link_address()));
  }
  ASSERT_EQ(receiver_->write_packets(back).value(), 10u);
  fault_->process_receive(SIZE_MAX);
  EXPECT_TRUE(sender_rx_.packets.empty());
  EXPECT_EQ(fault_->counters().rx_frames, 10u);
  EXPECT_EQ(fault_->counters().rx_dropped, 10u);
  EXPECT_EQ(fault_->counters().tx_dropped, 0u);
}

TEST_F(FaultTest, RxDelayDeliversAfterTimer) {
  make({.delay = 3ms, .direction = FaultDirection::kRx});
  std::vector<PacketBuffer> back;
  back.push_back(make_packet(77, 64, kEtherTypeIpv4, fault_->link_address()));
  ASSERT_EQ(receiver_->write_packets(back).value(), 1u);
  fault_->process_receive(SIZE_MAX);
  EXPECT_TRUE(sender_rx_.packets.empty());
  advance(3ms);
  ASSERT_EQ(sender_rx_.packets.size(), 1u);
  EXPECT_EQ(tag_of(sender_rx_.packets[0].to_vector()), 77u);
  EXPECT_EQ(sender_rx_.packets[0].meta().link_source, receiver_->link_address());
}

// 64-byte frames at 512 kbit/s take 1 ms each on the line: they leave one per millisecond, in
// order, whatever the batch, and a backlog past the queue bound is tail-dropped.
TEST_F(FaultTest, RateClocksFramesOutInOrder) {
  make({.rate_bits_per_second = 512'000, .rate_queue_bytes = 64 * 4});
  send(8);
  EXPECT_TRUE(received_tags().empty());
  // Frames 0-4 fit (the fifth starts 4 ms after now: 256 bytes of backlog); 5-7 are dropped.
  EXPECT_EQ(fault_->counters().tx_queue_dropped, 3u);
  advance(1ms);
  EXPECT_EQ(received_tags(), iota(1));
  advance(2ms);
  EXPECT_EQ(received_tags(), iota(3));
  advance(2ms);
  EXPECT_EQ(received_tags(), iota(5));
  // An idle line starts the next frame at once.
  advance(10ms);
  send(1, 100);
  advance(1ms);
  EXPECT_EQ(received_tags().back(), 100u);
}

TEST(FaultSpec, ParsesEveryField) {
  std::string message;
  auto o = parse_fault_spec(
      "loss=2%,reorder=1%,dup=0.01,delay=5ms,jitter=250us,corrupt=0.1%,rate=100mbit,seed=9,"
      "dir=tx,queue=30000,reorder_delay=2ms",
      &message);
  ASSERT_TRUE(o) << message;
  EXPECT_DOUBLE_EQ(o->drop, 0.02);
  EXPECT_DOUBLE_EQ(o->reorder, 0.01);
  EXPECT_DOUBLE_EQ(o->duplicate, 0.01);
  EXPECT_DOUBLE_EQ(o->corrupt, 0.001);
  EXPECT_EQ(o->delay, Duration(5ms));
  EXPECT_EQ(o->jitter, Duration(250us));
  EXPECT_EQ(o->reorder_delay, Duration(2ms));
  EXPECT_EQ(o->rate_bits_per_second, 100'000'000u);
  EXPECT_EQ(o->rate_queue_bytes, 30'000u);
  EXPECT_EQ(o->seed, 9u);
  EXPECT_EQ(o->direction, FaultDirection::kTx);
  EXPECT_EQ(parse_fault_spec("rate=1gbit")->rate_bits_per_second, 1'000'000'000u);
  EXPECT_EQ(parse_fault_spec("delay=1s")->delay, Duration(1s));
}

TEST(FaultSpec, NamesTheBadField) {
  const std::pair<const char*, const char*> cases[] = {
      {"loss=2", "--fault: loss: bad value '2'"},
      {"loss=-1%", "--fault: loss: bad value '-1%'"},
      {"loss=abc", "--fault: loss: bad value 'abc'"},
      {"delay=5", "--fault: delay: bad value '5'"},
      {"delay=5parsecs", "--fault: delay: bad value '5parsecs'"},
      {"rate=fast", "--fault: rate: 'fast' is not a rate (e.g. 100mbit, 1gbit)"},
      {"seed=-3", "--fault: seed: bad value '-3'"},
      {"dir=up", "--fault: dir: bad value 'up'"},
      {"loss=1%,bogus=1", "--fault: bogus: unknown (known: loss, reorder, dup, corrupt, delay, "
                          "jitter, reorder_delay, rate, queue, seed, dir)"},
      {"loss", "--fault: loss: expected key=value"},
      {"", "--fault: spec: empty (expected key=value,... e.g. loss=2%,delay=5ms)"},
  };
  for (const auto& [spec, expected] : cases) {
    std::string message;
    EXPECT_FALSE(parse_fault_spec(spec, &message)) << spec;
    EXPECT_EQ(message, expected) << spec;
  }
}

// Corruption must stay catchable by a checksum: over an offloading link the stack is told to
// sum (and segment) itself, and a corrupted received frame is no longer marked verified.
TEST(FaultOffloads, CorruptionHidesChecksumOffload) {
  ManualClock clock;
  TimerWheel wheel{clock};
  auto [a, b] = ChannelEndpoint::make_pair({.offloads = true});
  ASSERT_TRUE(a->capabilities().gso);
  FaultEndpoint clean(std::move(a), wheel, {});
  EXPECT_TRUE(clean.capabilities().tx_checksum_offload);
  EXPECT_TRUE(clean.capabilities().gso);
  FaultEndpoint lossy(std::move(b), wheel, {.corrupt = 0.01});
  EXPECT_FALSE(lossy.capabilities().tx_checksum_offload);
  EXPECT_FALSE(lossy.capabilities().rx_checksum_offload);
  EXPECT_FALSE(lossy.capabilities().gso);

  // A frame the offloading side sent with its checksum left undone arrives verified, unless
  // the receive side corrupted it.
  RecordingDispatcher got;
  auto [c, d] = ChannelEndpoint::make_pair({.offloads = true});
  ChannelEndpoint& sender = *c;
  FaultEndpoint receiver(std::move(d), wheel, {.corrupt = 1.0, .direction = FaultDirection::kRx});
  receiver.attach(&got);
  PacketBuffer frame[1] = {make_packet(1, 64, kEtherTypeIpv4, receiver.link_address())};
  frame[0].meta().needs_checksum = true;
  ASSERT_EQ(sender.write_packets(frame).value(), 1u);
  receiver.process_receive(SIZE_MAX);
  ASSERT_EQ(got.packets.size(), 1u);
  EXPECT_FALSE(got.packets[0].meta().checksum_verified);
}

}  // namespace
}  // namespace weir::link
