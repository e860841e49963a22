// What keeps a Stack cheap to build: the connected table starts small and grows, the IP ID
// counters are seeded on first use, and nothing in construction depends on more than the
// options.
#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "stack/clock.h"
#include "stack/demux.h"
#include "stack/fifo.h"
#include "stack/id_buckets.h"
#include "stack/rng.h"
#include "stack/stack.h"

namespace weir {
namespace {

class FakeEndpoint : public TransportEndpoint {
 public:
  FakeEndpoint() : TransportEndpoint(kProtocolUdp) {}
  void handle_packet(const NetworkPacketInfo&, PacketBuffer) override {}
};

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

// The connected table starts with a few buckets and grows under connections that come and go.
TEST(CheapStack, ConnectedTableGrowsFromSmall) {
  TransportDemux demux(7);
  std::vector<std::unique_ptr<FakeEndpoint>> eps;
  auto id = [](size_t i) {
    return TransportEndpointId{ip("10.0.0.1"), ip("10.0.0.2"), 80, static_cast<uint16_t>(1000 + i)};
  };
  for (size_t i = 0; i < 300; ++i) {
    eps.push_back(std::make_unique<FakeEndpoint>());
    ASSERT_TRUE(demux.add(*eps.back(), id(i)));
    for (size_t j = 0; j <= i; j += 17) ASSERT_EQ(demux.find(kProtocolUdp, id(j)), eps[j].get());
  }
  for (size_t i = 0; i < eps.size(); i += 2) demux.remove(*eps[i]);
  EXPECT_EQ(demux.connected_count(), 150u);
  for (size_t i = 0; i < eps.size(); ++i) {
    ASSERT_EQ(demux.find(kProtocolUdp, id(i)), i % 2 == 0 ? nullptr : eps[i].get());
  }
}

// A demux destroyed while endpoints are still entered unlinks them (they outlive it and must
// not touch its freed buckets), whether or not others came and went first, or destroyed
// themselves while entered; one whose endpoints all left skips that walk.
TEST(CheapStack, DemuxUnlinksWhatIsStillEnteredWhenDestroyed) {
  auto id = [](uint16_t port, uint16_t remote_port) {
    return TransportEndpointId{ip("10.0.0.1"), ip("10.0.0.2"), port, remote_port};
  };
  FakeEndpoint bound;
  FakeEndpoint connected;
  {
    TransportDemux demux(7);
    FakeEndpoint gone;
    ASSERT_TRUE(demux.add(gone, id(1, 0)));
    demux.remove(gone);
    ASSERT_TRUE(demux.add(bound, id(2, 0)));
    ASSERT_TRUE(demux.add(connected, id(3, 4)));
    {
      FakeEndpoint self_unlinked;  // destroyed while entered: its hook unlinks it
      ASSERT_TRUE(demux.add(self_unlinked, id(5, 0)));
    }
    EXPECT_TRUE(bound.in_demux());
    EXPECT_TRUE(connected.in_demux());
  }
  EXPECT_FALSE(bound.in_demux());
  EXPECT_FALSE(connected.in_demux());
  {
    TransportDemux demux(7);
    ASSERT_TRUE(demux.add(bound, id(2, 0)));
    ASSERT_TRUE(demux.add(connected, id(3, 4)));
    demux.remove(bound);
    demux.remove(connected);
    EXPECT_FALSE(bound.in_demux());
  }
  EXPECT_FALSE(connected.in_demux());
}

// Fifo (the queue of neighbor entries and UDP sockets, which allocates nothing until used)
// keeps first-in first-out order through any mix of pushes, pops, clears and moves: checked
// against std::deque.
TEST(CheapStack, FifoKeepsOrderAgainstDeque) {
  std::mt19937 rng(5);
  Fifo<int> fifo;
  std::deque<int> model;
  int next = 0;
  for (int step = 0; step < 20000; ++step) {
    const unsigned r = rng() % 100;
    if (r < 55) {
      fifo.push_back(next);
      model.push_back(next);
      ++next;
    } else if (r < 97) {
      if (!model.empty()) {
        ASSERT_EQ(fifo.front(), model.front());
        fifo.pop_front();
        model.pop_front();
      }
    } else if (r < 98) {
      fifo.clear();
      model.clear();
    } else {
      Fifo<int> moved = std::move(fifo);
      EXPECT_TRUE(fifo.empty());  // NOLINT(bugprone-use-after-move): moved-from is empty
      fifo = std::move(moved);
    }
    ASSERT_EQ(fifo.size(), model.size());
    ASSERT_EQ(fifo.empty(), model.empty());
    ASSERT_TRUE(std::equal(fifo.begin(), fifo.end(), model.begin(), model.end()));
  }
}

// A popped element is released at once, not when its slot is reused.
TEST(CheapStack, FifoReleasesWhatItPops) {
  auto a = std::make_shared<int>(1);
  auto b = std::make_shared<int>(2);
  Fifo<std::shared_ptr<int>> fifo;
  fifo.push_back(a);
  fifo.push_back(b);
  fifo.push_back(a);
  EXPECT_EQ(a.use_count(), 3);
  fifo.pop_front();
  EXPECT_EQ(a.use_count(), 2);
  EXPECT_EQ(fifo.front(), b);
  fifo.pop_front();
  EXPECT_EQ(b.use_count(), 1);
  fifo.clear();
  EXPECT_EQ(a.use_count(), 1);
  EXPECT_TRUE(fifo.empty());
}

// A bucket's starting value follows from the key and the bucket alone: the same for the same
// key (reproducible stacks), different under another key, and independent of which buckets
// were used first.
TEST(CheapStack, IdBucketsSeedFromTheKeyOnFirstUse) {
  const SipKey key{1, 2};
  IdBuckets<uint32_t, 2048> a(key);
  IdBuckets<uint32_t, 2048> b(key);
  IdBuckets<uint32_t, 2048> other(SipKey{3, 4});
  // a walks the buckets upwards, b downwards.
  std::vector<uint32_t> from_a(2048), from_b(2048);
  for (uint64_t i = 0; i < 2048; ++i) from_a[i] = a.bucket(i);
  for (uint64_t i = 2048; i-- > 0;) from_b[i] = b.bucket(i + 2048 * 5);  // same index mod N
  EXPECT_EQ(from_a, from_b);
  size_t same = 0;
  std::set<uint32_t> distinct;
  for (uint64_t i = 0; i < 2048; ++i) {
    same += other.bucket(i) == from_a[i];
    distinct.insert(from_a[i]);
  }
  EXPECT_LT(same, 4u);
  EXPECT_GT(distinct.size(), 2000u);
  // A counter, once seeded, is the caller's to advance.
  uint32_t& c = a.bucket(7);
  const uint32_t start = c;
  ++c;
  EXPECT_EQ(a.bucket(7), start + 1);
  EXPECT_EQ(a.bucket(7 + 2048), start + 1);
}

// Two stacks built from the same repeatable options draw the same random numbers: building
// one takes nothing from the Rng that depends on anything but the options.
TEST(CheapStack, RepeatableStacksDrawTheSameNumbers) {
  ManualClock clock;
  Stack a(clock, repeatable_stack_options(5));
  Stack b(clock, repeatable_stack_options(5));
  for (int i = 0; i < 16; ++i) EXPECT_EQ(a.rng().next_u64(), b.rng().next_u64());
  EXPECT_EQ(a.secret(), b.secret());
}

}  // namespace
}  // namespace weir
