// The DPDK endpoint on ports that need no hardware and no kernel: a net_ring vdev (one port
// whose transmit ring is its own receive ring) and ring pairs (two ports cross-connected by
// rte_rings). Frames both ways arrive intact with their meta, counters add up, a reader that
// holds received frames makes the endpoint copy instead of starving the pool, and two stacks
// move a TCP stream over a ring pair with a SHA-256 check.
//
// The EAL exists once per process, so this is an executable of its own (weir_dpdk_tests) and
// every test opens with the same EAL arguments, kEal. ctest runs each test in its own process.
#include "link/dpdk.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "ipv4/ipv4.h"
#include "link/ethernet.h"
#include "stack/clock.h"
#include "stack/stack.h"
#include "tcp/endpoint.h"
#include "tcp/tcp.h"
#include "tests/link/recording_dispatcher.h"
#include "tests/testing/tcp_sha256.h"

namespace weir::link {
namespace {

using ::testing::HasSubstr;
using testing::make_packet;
using testing::RecordingDispatcher;
using testing::tag_of;

const std::string kEal = std::string(kDefaultEalArgs) + " --vdev=net_ring0";

DpdkOptions options_with(uint32_t mbufs = 8191) {
  DpdkOptions o;
  o.eal_args = kEal;
  o.mbufs = mbufs;
  return o;
}

DpdkRingPair open_pair(DpdkOptions a = options_with(), DpdkOptions b = options_with()) {
  a.mac = *MacAddress::parse("02:00:00:00:00:0a");
  b.mac = *MacAddress::parse("02:00:00:00:00:0b");
  std::string message;
  auto pair = open_dpdk_ring_pair(a, b, &message);
  EXPECT_TRUE(pair) << message;
  if (!pair) return {};
  return std::move(pair).value();
}

TEST(DpdkTest, SplitsEalArgumentsOnWhitespace) {
  EXPECT_THAT(split_eal_args("  --no-huge\t-l 0 \n--vdev=net_tap0,iface=dtap0 "),
              ::testing::ElementsAre("--no-huge", "-l", "0", "--vdev=net_tap0,iface=dtap0"));
  EXPECT_TRUE(split_eal_args("   ").empty());
}

TEST(DpdkTest, NetRingVdevLoopsItsOwnFramesBack) {
  std::string message;
  DpdkOptions o = options_with();
  o.port = "net_ring0";
  auto ep = DpdkEndpoint::open(o, &message);
  ASSERT_TRUE(ep) << message;
  EXPECT_EQ((*ep)->name(), "net_ring0");
  EXPECT_EQ((*ep)->driver(), "net_ring");
  EXPECT_TRUE((*ep)->needs_polling());
  EXPECT_EQ((*ep)->readable_fd(), -1);
  EXPECT_EQ((*ep)->mtu(), 1500u);
  // net_ring has no MAC of its own: weir makes up a unicast, locally administered one.
  const MacAddress mac = (*ep)->link_address();
  EXPECT_FALSE(mac.is_zero());
  EXPECT_EQ(mac.octets()[0] & 0x03, 0x02);
  EXPECT_EQ(DpdkEndpoint::eal_arguments(), kEal);

  RecordingDispatcher rx;
  (*ep)->attach(&rx);
  std::vector<PacketBuffer> out;
  for (uint32_t i = 0; i < 4; ++i) out.push_back(make_packet(i, 100 + i, kEtherTypeIpv4, mac));
  ASSERT_EQ((*ep)->write_packets(out).value(), 4u);
  EXPECT_EQ((*ep)->process_receive(64), 4u);
  ASSERT_EQ(rx.packets.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(rx.packets[i].to_vector(), make_packet(i, 100 + i).to_vector());
    EXPECT_EQ(rx.packets[i].meta().link_type, LinkPacketType::kHost);
    EXPECT_EQ(rx.packets[i].meta().link_source, mac);
  }
  EXPECT_EQ((*ep)->counters().tx_frames, 4u);
  EXPECT_EQ((*ep)->counters().rx_frames, 4u);
  EXPECT_EQ((*ep)->dpdk_counters().rx_zero_copy, 4u);
}

TEST(DpdkTest, RingPairCarriesFramesBothWaysIntact) {
  DpdkRingPair pair = open_pair();
  ASSERT_TRUE(pair.a && pair.b);
  RecordingDispatcher at_a;
  RecordingDispatcher at_b;
  pair.a->attach(&at_a);
  pair.b->attach(&at_b);
  const MacAddress mac_a = pair.a->link_address();
  const MacAddress mac_b = pair.b->link_address();

  // Every size from a runt IP packet to the MTU, both ways, in batches larger than a burst.
  std::vector<size_t> sizes;
  for (size_t s = 20; s <= 1500; s += 37) sizes.push_back(s);
  sizes.push_back(1500);
  std::vector<PacketBuffer> to_b;
  std::vector<PacketBuffer> to_a;
  for (size_t i = 0; i < sizes.size(); ++i) {
    to_b.push_back(make_packet(static_cast<uint32_t>(i), sizes[i], kEtherTypeIpv4, mac_b));
    to_a.push_back(make_packet(static_cast<uint32_t>(1000 + i), sizes[i], kEtherTypeIpv6, mac_a));
  }
  ASSERT_EQ(pair.a->write_packets(to_b).value(), sizes.size());
  ASSERT_EQ(pair.b->write_packets(to_a).value(), sizes.size());
  size_t got_b = 0;
  size_t got_a = 0;
  while (size_t n = pair.b->process_receive(16)) got_b += n;
  while (size_t n = pair.a->process_receive(16)) got_a += n;
  EXPECT_EQ(got_b, sizes.size());
  EXPECT_EQ(got_a, sizes.size());
  ASSERT_EQ(at_b.packets.size(), sizes.size());
  ASSERT_EQ(at_a.packets.size(), sizes.size());
  for (size_t i = 0; i < sizes.size(); ++i) {
    const auto tag = static_cast<uint32_t>(i);
    EXPECT_EQ(at_b.packets[i].to_vector(), make_packet(tag, sizes[i]).to_vector()) << i;
    EXPECT_EQ(at_b.packets[i].meta().network_protocol, kEtherTypeIpv4);
    EXPECT_EQ(at_b.packets[i].meta().link_source, mac_a);
    EXPECT_EQ(at_a.packets[i].to_vector(), make_packet(1000 + tag, sizes[i]).to_vector()) << i;
    EXPECT_EQ(at_a.packets[i].meta().network_protocol, kEtherTypeIpv6);
    EXPECT_EQ(at_a.packets[i].meta().link_source, mac_b);
  }
  for (DpdkEndpoint* ep : {pair.a.get(), pair.b.get()}) {
    EXPECT_EQ(ep->counters().tx_frames, sizes.size());
    EXPECT_EQ(ep->counters().rx_frames, sizes.size());
    EXPECT_EQ(ep->dpdk_counters().rx_zero_copy, sizes.size());
    EXPECT_EQ(ep->counters().tx_drop_too_big, 0u);
  }
  // Received frames are writable in place (the stack rewrites headers): no copy needed.
  PacketBuffer& first = at_b.packets.front();
  auto header = first.mutable_front(4);
  ASSERT_TRUE(header);
  (*header)[0] = std::byte{0xff};
  EXPECT_EQ(first.view_count(), 1u);
}

TEST(DpdkTest, FiltersFramesForOtherHostsAndDropsOversizedOnes) {
  DpdkRingPair pair = open_pair();
  ASSERT_TRUE(pair.a && pair.b);
  RecordingDispatcher at_b;
  pair.b->attach(&at_b);
  std::vector<PacketBuffer> out;
  out.push_back(make_packet(1, 100, kEtherTypeIpv4, *MacAddress::parse("02:99:99:99:99:99")));
  out.push_back(make_packet(2, 100, kEtherTypeIpv4, MacAddress::broadcast()));
  out.push_back(make_packet(3, 1501, kEtherTypeIpv4, pair.b->link_address()));
  EXPECT_EQ(pair.a->write_packets(out).value(), 2u);
  EXPECT_EQ(pair.a->counters().tx_drop_too_big, 1u);
  EXPECT_EQ(pair.b->process_receive(64), 2u);
  ASSERT_EQ(at_b.packets.size(), 1u);
  EXPECT_EQ(tag_of(at_b.packets[0].to_vector()), 2u);
  EXPECT_EQ(at_b.packets[0].meta().link_type, LinkPacketType::kBroadcast);
  EXPECT_EQ(pair.b->counters().rx_drop_other_host, 1u);

  // A batch of nothing but oversized frames is an error, as on every endpoint.
  std::vector<PacketBuffer> too_big;
  too_big.push_back(make_packet(4, 2000, kEtherTypeIpv4, pair.b->link_address()));
  EXPECT_EQ(pair.a->write_packets(too_big).error(), Error::kMessageTooLong);
}

// An MTU beyond the default mbuf size: the pool's data room grows to hold a whole frame.
TEST(DpdkTest, JumboMtuFramesFitOneMbuf) {
  DpdkOptions jumbo = options_with();
  jumbo.mtu = 9000;
  DpdkRingPair pair = open_pair(jumbo, jumbo);
  ASSERT_TRUE(pair.a && pair.b);
  EXPECT_EQ(pair.a->mtu(), 9000u);
  RecordingDispatcher at_b;
  pair.b->attach(&at_b);
  std::vector<PacketBuffer> out;
  out.push_back(make_packet(7, 9000, kEtherTypeIpv4, pair.b->link_address()));
  out.push_back(make_packet(8, 9001, kEtherTypeIpv4, pair.b->link_address()));
  EXPECT_EQ(pair.a->write_packets(out).value(), 1u);
  EXPECT_EQ(pair.a->counters().tx_drop_too_big, 1u);
  EXPECT_EQ(pair.b->process_receive(64), 1u);
  ASSERT_EQ(at_b.packets.size(), 1u);
  EXPECT_EQ(at_b.packets[0].to_vector(), make_packet(7, 9000).to_vector());
  EXPECT_EQ(pair.b->dpdk_counters().rx_zero_copy, 1u);
}

// Zero-copy pins mbufs for as long as the stack holds the frames. A reader that holds them all
// must not drain the pool (the sender could not allocate, the receive ring could not refill):
// below a quarter free the endpoint copies and frees at once, and goes back to zero-copy once
// the frames are released.
TEST(DpdkTest, HeldFramesMakeTheEndpointCopyInsteadOfStarvingThePool) {
  DpdkOptions small = options_with(511);
  small.rx_descriptors = 64;
  small.tx_descriptors = 64;
  DpdkRingPair pair = open_pair(small, small);
  ASSERT_TRUE(pair.a && pair.b);
  RecordingDispatcher at_b;
  pair.b->attach(&at_b);
  const MacAddress mac_b = pair.b->link_address();
  constexpr size_t kFrames = 38 * 32;  // more than twice the sender's pool
  for (size_t sent = 0; sent < kFrames; sent += 32) {
    std::vector<PacketBuffer> batch;
    for (size_t i = 0; i < 32; ++i) {
      batch.push_back(make_packet(static_cast<uint32_t>(sent + i), 200, kEtherTypeIpv4, mac_b));
    }
    ASSERT_EQ(pair.a->write_packets(batch).value(), 32u) << "after " << sent << " frames";
    while (pair.b->process_receive(64) > 0) {
    }
  }
  ASSERT_EQ(at_b.packets.size(), kFrames);  // every one held by the "reader"
  const DpdkCounters& c = pair.b->dpdk_counters();
  EXPECT_EQ(c.rx_zero_copy + c.rx_copied_pool_low, kFrames);
  EXPECT_GT(c.rx_copied_pool_low, kFrames / 2);
  EXPECT_GT(c.rx_zero_copy, 300u);
  EXPECT_EQ(pair.a->dpdk_counters().tx_drop_no_mbuf, 0u);
  for (size_t i = 0; i < kFrames; ++i) {
    ASSERT_EQ(tag_of(at_b.packets[i].to_vector()), i);
  }
  // Released: the mbufs are back, and frames travel in their mbufs again.
  at_b.packets.clear();
  const uint64_t zero_copy_before = c.rx_zero_copy;
  std::vector<PacketBuffer> batch;
  for (uint32_t i = 0; i < 32; ++i) batch.push_back(make_packet(i, 200, kEtherTypeIpv4, mac_b));
  ASSERT_EQ(pair.a->write_packets(batch).value(), 32u);
  EXPECT_EQ(pair.b->process_receive(64), 32u);
  EXPECT_EQ(c.rx_zero_copy, zero_copy_before + 32);
}

// Received frames may outlive their endpoint (a socket's queue can be destroyed after the
// NIC); their mbufs still go back to a pool that still exists.
TEST(DpdkTest, FramesOutliveTheirEndpoint) {
  RecordingDispatcher at_b;
  {
    DpdkRingPair pair = open_pair();
    ASSERT_TRUE(pair.a && pair.b);
    pair.b->attach(&at_b);
    std::vector<PacketBuffer> batch;
    for (uint32_t i = 0; i < 8; ++i) {
      batch.push_back(make_packet(i, 300, kEtherTypeIpv4, pair.b->link_address()));
    }
    ASSERT_EQ(pair.a->write_packets(batch).value(), 8u);
    ASSERT_EQ(pair.b->process_receive(64), 8u);
  }
  ASSERT_EQ(at_b.packets.size(), 8u);
  for (uint32_t i = 0; i < 8; ++i) EXPECT_EQ(tag_of(at_b.packets[i].to_vector()), i);
  at_b.packets.clear();  // the last references: mbufs go back to the retired pool
  // The next open frees the retired pool; a fresh pair works.
  DpdkRingPair again = open_pair();
  ASSERT_TRUE(again.a && again.b);
}

TEST(DpdkTest, OneEalPerProcessAndClearErrors) {
  std::string message;
  DpdkOptions o = options_with();
  o.port = "net_ring0";
  auto first = DpdkEndpoint::open(o, &message);
  ASSERT_TRUE(first) << message;

  DpdkOptions other = o;
  other.eal_args = std::string(kDefaultEalArgs) + " --vdev=net_ring1";
  auto second = DpdkEndpoint::open(other, &message);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error(), Error::kInvalidArgument);
  EXPECT_THAT(message, HasSubstr("already runs with '" + kEal + "'"));
  EXPECT_EQ(message.find('\n'), std::string::npos);

  auto again = DpdkEndpoint::open(o, &message);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error(), Error::kAddressInUse);
  EXPECT_THAT(message, HasSubstr("already open"));

  DpdkOptions missing = options_with();
  missing.port = "net_nosuch0";
  auto none = DpdkEndpoint::open(missing, &message);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error(), Error::kNoDevice);
  EXPECT_THAT(message, HasSubstr("no port named 'net_nosuch0' (ports: 0 net_ring0"));
  EXPECT_EQ(message.find('\n'), std::string::npos);

  DpdkOptions few = options_with(100);
  auto starved = open_dpdk_ring_pair(few, few, &message);
  ASSERT_FALSE(starved);
  EXPECT_THAT(message, HasSubstr("give at least"));
}

// Two stacks, one on each port of a ring pair, on one ManualClock: a TCP stream of 16 MiB
// from a to b, checked by SHA-256, in both directions at once.
class DpdkTwoStacksTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pair_ = open_pair();
    ASSERT_TRUE(pair_.a && pair_.b);
    a_ = add_stack(std::move(pair_.a), "10.9.0.1/24", 1);
    b_ = add_stack(std::move(pair_.b), "10.9.0.2/24", 2);
  }

  struct Host {
    std::unique_ptr<Stack> stack;
    DpdkEndpoint* link = nullptr;  // owned by the NIC
  };

  Host add_stack(std::unique_ptr<DpdkEndpoint> link, const char* address, uint64_t seed) {
    Host h;
    h.link = link.get();
    h.stack = std::make_unique<Stack>(clock_, repeatable_stack_options(seed));
    ipv4::install(*h.stack);
    tcp::install(*h.stack);
    auto nic = h.stack->add_nic(std::move(link), "ring");
    EXPECT_TRUE(nic);
    EXPECT_TRUE(h.stack->add_address(*nic, *IpPrefix::parse(address)));
    return h;
  }

  // Delivers what is on the rings and fires due timers until quiet; then, while !done, moves
  // the clock 1 ms at a time (up to `limit` of simulated time).
  bool run_until(const std::function<bool()>& done, Duration limit) {
    const TimePoint end = clock_.now() + limit;
    for (;;) {
      for (;;) {
        size_t moved = a_.link->process_receive(256) + b_.link->process_receive(256);
        moved += a_.stack->run_timers() + b_.stack->run_timers();
        if (moved == 0 || done()) break;
      }
      if (done()) return true;
      if (clock_.now() >= end) return false;
      clock_.advance(std::chrono::milliseconds(1));
    }
  }

  ManualClock clock_;
  DpdkRingPair pair_;
  Host a_;
  Host b_;
};

// The stream pattern of every weir tool: byte i of a stream is a function of i.
void fill_pattern(uint64_t offset, std::span<std::byte> out) {
  for (size_t k = 0; k < out.size(); ++k) {
    const auto i = static_cast<uint32_t>(offset + k);
    out[k] = std::byte(static_cast<uint8_t>((i ^ (i >> 8) ^ (i >> 16) ^ (i >> 24)) & 0xff));
  }
}

TEST_F(DpdkTwoStacksTest, TcpStreamsBothWaysArriveIntact) {
  constexpr uint64_t kBytes = 16ull << 20;
  auto listener = tcp::Endpoint::create(*b_.stack, AddressFamily::kIpv4);
  ASSERT_TRUE(listener->bind({IpAddress::any(AddressFamily::kIpv4), 5001}));
  ASSERT_TRUE(listener->listen(4));
  auto client = tcp::Endpoint::create(*a_.stack, AddressFamily::kIpv4);
  auto st = client->connect({*IpAddress::parse("10.9.0.2"), 5001});
  ASSERT_TRUE(st || st.error() == Error::kInProgress);
  std::unique_ptr<tcp::Endpoint> server;
  ASSERT_TRUE(run_until(
      [&] {
        if (!server) {
          auto accepted = listener->accept();
          if (accepted) server = std::move(accepted).value();
        }
        return server != nullptr && (client->readiness() & kEventWritable) != 0;
      },
      std::chrono::seconds(10)));

  // Each side sends the pattern and hashes what it receives.
  struct Side {
    tcp::Endpoint* ep;
    uint64_t sent = 0;
    uint64_t received = 0;
    bool shut = false;
    bool eof = false;
    ::weir::testing::Sha256 hash;
  };
  Side sides[2] = {{client.get()}, {server.get()}};
  std::vector<std::byte> chunk(64 * 1024);
  ::weir::testing::Sha256 expected;
  for (uint64_t off = 0; off < kBytes; off += chunk.size()) {
    fill_pattern(off, chunk);
    expected.update(chunk);
  }
  const std::string expected_hex = expected.hex();
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE(run_until(
      [&] {
        bool all = true;
        for (Side& s : sides) {
          while (s.sent < kBytes) {
            const size_t want =
                static_cast<size_t>(std::min<uint64_t>(chunk.size(), kBytes - s.sent));
            fill_pattern(s.sent, std::span(chunk).first(want));
            auto n = s.ep->write(std::span(chunk).first(want));
            if (!n || *n == 0) break;
            s.sent += *n;
          }
          if (s.sent == kBytes && !s.shut) s.shut = s.ep->shutdown(tcp::ShutdownHow::kWrite).ok();
          for (;;) {
            auto n = s.ep->read(chunk);
            if (!n) break;
            if (*n == 0) {
              s.eof = true;
              break;
            }
            s.hash.update(std::span(chunk).first(*n));
            s.received += *n;
          }
          all = all && s.eof && s.shut;
        }
        return all;
      },
      std::chrono::seconds(120)))
      << "a received " << sides[0].received << ", b received " << sides[1].received;
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (Side& s : sides) {
    EXPECT_EQ(s.received, kBytes);
    EXPECT_EQ(s.hash.hex(), expected_hex);
  }
  for (DpdkEndpoint* link : {a_.link, b_.link}) {
    EXPECT_EQ(link->dpdk_counters().tx_drop_no_mbuf, 0u);
    EXPECT_GT(link->dpdk_counters().rx_zero_copy, 0u);
  }
  // A full 1024-slot ring drops what does not fit, like a NIC's ring; TCP recovers, and the
  // hashes above prove it. The count is printed, not asserted.
  std::printf(
      "tcp over a DPDK ring pair: 2 x %llu MiB in %.2f s (%.0f Mbit/s each way, one "
      "thread for both stacks); rx zero-copy %llu, copied %llu, ring-full drops %llu\n",
      static_cast<unsigned long long>(kBytes >> 20), seconds,
      static_cast<double>(kBytes) * 8 / seconds / 1e6,
      static_cast<unsigned long long>(b_.link->dpdk_counters().rx_zero_copy),
      static_cast<unsigned long long>(b_.link->dpdk_counters().rx_copied_pool_low),
      static_cast<unsigned long long>(a_.link->counters().tx_drop_queue_full +
                                      b_.link->counters().tx_drop_queue_full));
}

// Not a benchmark gate (nothing is asserted on speed): prints the frame rate of the endpoint's
// own path (allocate, copy in, tx, rx, deliver, free) so a change that costs a lot shows.
TEST(DpdkTest, FrameRateThroughARingPair) {
  DpdkRingPair pair = open_pair();
  ASSERT_TRUE(pair.a && pair.b);
  struct Counting final : NetworkDispatcher {
    void deliver_network_packet(PacketBuffer&&) override { ++frames; }
    uint64_t frames = 0;
  } sink;
  pair.b->attach(&sink);
#if defined(__SANITIZE_ADDRESS__)
  constexpr uint64_t kFrames = 100'000;  // ASan's allocator makes every frame ~30x dearer
#else
  constexpr uint64_t kFrames = 1'000'000;
#endif
  const MacAddress mac_b = pair.b->link_address();
  std::vector<PacketBuffer> batch;
  const auto start = std::chrono::steady_clock::now();
  uint64_t sent = 0;
  while (sent < kFrames) {
    batch.clear();
    for (int i = 0; i < 32; ++i) batch.push_back(make_packet(0, 46, kEtherTypeIpv4, mac_b));
    sent += pair.a->write_packets(batch).value();
    pair.b->process_receive(64);
  }
  while (pair.b->process_receive(64) > 0) {
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_EQ(sink.frames, kFrames);
  std::printf(
      "ring pair, 60-byte frames, batches of 32: %.2f Mpps (stack-side packet "
      "building included)\n",
      static_cast<double>(kFrames) / seconds / 1e6);
}

}  // namespace
}  // namespace weir::link
