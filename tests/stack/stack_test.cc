#include "stack/stack.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace weir {
namespace {

class RecordingEndpoint : public LinkEndpoint {
 public:
  explicit RecordingEndpoint(uint32_t mtu = 1500) : mtu_(mtu) {}
  uint32_t mtu() const override { return mtu_; }
  LinkCapabilities capabilities() const override { return caps; }
  uint16_t max_header_length() const override { return 14; }
  MacAddress link_address() const override { return MacAddress({2, 0, 0, 0, 0, 1}); }
  void attach(NetworkDispatcher* d) override { dispatcher = d; }
  bool attached() const override { return dispatcher != nullptr; }
  Result<size_t> write_packets(std::span<PacketBuffer> pkts) override {
    for (auto& p : pkts) written.push_back(p.to_vector());
    return pkts.size();
  }
  NetworkDispatcher* dispatcher = nullptr;
  std::vector<std::vector<std::byte>> written;
  uint32_t mtu_;
  LinkCapabilities caps;
};

class CountingProtocol : public NetworkProtocol {
 public:
  explicit CountingProtocol(uint16_t type) : type_(type) {}
  uint16_t ethertype() const override { return type_; }
  void handle_packet(Nic& nic, PacketBuffer&& pkt) override {
    last_nic = nic.id();
    last_size = pkt.size();
    ++count;
  }
  uint16_t type_;
  int count = 0;
  NicId last_nic = 0;
  size_t last_size = 0;
};

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
IpPrefix prefix(const char* s) { return *IpPrefix::parse(s); }

class StackTest : public ::testing::Test {
 protected:
  ManualClock clock;
  Stack stack{clock, repeatable_stack_options(1)};
};

// A NIC keeps copies of its endpoint's MTU and capabilities: taken when it is made, and again
// only when asked to refresh them.
TEST_F(StackTest, NicReadsLinkPropertiesWhenMadeAndOnRefresh) {
  auto endpoint = std::make_unique<RecordingEndpoint>(1400);
  RecordingEndpoint& link = *endpoint;
  const NicId id = stack.add_nic(std::move(endpoint), "eth0").value();
  Nic& nic = *stack.nic(id);
  EXPECT_EQ(nic.mtu(), 1400u);
  EXPECT_TRUE(nic.link_capabilities().resolution_required);
  EXPECT_FALSE(nic.link_capabilities().tx_checksum_offload);
  link.mtu_ = 9000;
  link.caps.resolution_required = false;
  link.caps.tx_checksum_offload = true;
  EXPECT_EQ(nic.mtu(), 1400u);
  EXPECT_TRUE(nic.link_capabilities().resolution_required);
  nic.refresh_link();
  EXPECT_EQ(nic.mtu(), 9000u);
  EXPECT_FALSE(nic.link_capabilities().resolution_required);
  EXPECT_TRUE(nic.link_capabilities().tx_checksum_offload);
}

// RFC 6528 wants the ISN key unpredictable: a seeded stack (whose Rng puts IP IDs and other
// values on the wire) must still take its secret from the kernel unless one is injected.
TEST(StackSecretTest, SecretComesFromTheOsWhateverTheSeed) {
  ManualClock clock;
  Stack a(clock, StackOptions{.seed = 5});
  Stack b(clock, StackOptions{.seed = 5});
  EXPECT_NE(a.secret(), b.secret());
  EXPECT_NE(a.secret(), SipKey{});
  // The secret is not drawn from the Rng: both Rngs still give the same stream.
  EXPECT_EQ(a.rng().next_u64(), b.rng().next_u64());
}

TEST(StackSecretTest, InjectedSecretMakesRunsRepeat) {
  ManualClock clock;
  Stack a(clock, repeatable_stack_options(9));
  Stack b(clock, repeatable_stack_options(9));
  Stack c(clock, repeatable_stack_options(10));
  EXPECT_EQ(a.secret(), b.secret());
  EXPECT_NE(a.secret(), c.secret());
  StackOptions explicit_key;
  explicit_key.secret = SipKey{1, 2};
  Stack d(clock, explicit_key);
  EXPECT_EQ(d.secret(), (SipKey{1, 2}));
}

TEST(StackBatchTest, ABatchReadsTheClockOnceAndNestedBatchesShareIt) {
  ManualClock clock;
  Stack stack(clock, repeatable_stack_options(1));
  const TimePoint start = clock.now();
  {
    Stack::Batch batch(stack);
    clock.advance(5ms);
    // Read when first asked for (a batch that never asks costs no reading), then held.
    EXPECT_EQ(stack.now(), start + 5ms);
    clock.advance(5ms);
    EXPECT_EQ(stack.now(), start + 5ms);  // held for the whole batch
    {
      Stack::Batch inner(stack);
      EXPECT_EQ(stack.now(), start + 5ms);
    }
    EXPECT_EQ(stack.now(), start + 5ms);  // the inner batch did not let go
  }
  EXPECT_EQ(stack.now(), start + 10ms);  // outside a batch: the clock itself
  Stack::Batch next(stack);
  clock.advance(5ms);
  EXPECT_EQ(stack.now(), start + 15ms);  // the next batch's own first reading
}

TEST(StackBatchTest, ABatchOpenedAtAnInstantHoldsIt) {
  ManualClock clock;
  Stack stack(clock, repeatable_stack_options(1));
  const TimePoint start = clock.now();
  {
    Stack::Batch batch(stack, start);
    clock.advance(5ms);
    EXPECT_EQ(stack.now(), start);
  }
  EXPECT_EQ(stack.now(), start + 5ms);  // let go with the batch
  Stack::Batch next(stack);
  clock.advance(5ms);
  EXPECT_EQ(stack.now(), start + 10ms);  // a batch after it reads afresh
}

// Records when it ran; optionally defers another task, or destroys one, from inside its run.
struct RecordingTask final : BatchEndTask {
  explicit RecordingTask(Stack& s, std::vector<int>& log, int id) : stack(s), log(log), id(id) {}
  void on_batch_end() override {
    log.push_back(id);
    seen_at = stack.now();
    if (then_defer != nullptr) stack.defer_to_batch_end(*then_defer);
    if (then_destroy != nullptr) then_destroy->reset();
  }
  Stack& stack;
  std::vector<int>& log;
  int id;
  TimePoint seen_at{};
  RecordingTask* then_defer = nullptr;
  std::unique_ptr<RecordingTask>* then_destroy = nullptr;
};

TEST(StackBatchTest, DeferredTasksRunOnceWhenTheOutermostBatchEndsAtItsInstant) {
  ManualClock clock;
  Stack stack(clock, repeatable_stack_options(1));
  std::vector<int> log;
  RecordingTask a(stack, log, 1);
  RecordingTask b(stack, log, 2);
  const TimePoint start = clock.now();
  {
    Stack::Batch batch(stack);
    EXPECT_EQ(stack.now(), start);  // the batch's instant
    stack.defer_to_batch_end(a);
    stack.defer_to_batch_end(b);
    stack.defer_to_batch_end(a);  // already waiting: still runs once
    { Stack::Batch inner(stack); }
    EXPECT_TRUE(log.empty());  // an inner batch's end is not the end
    clock.advance(3ms);
  }
  EXPECT_EQ(log, (std::vector<int>{1, 2}));
  EXPECT_EQ(a.seen_at, start);  // still the batch's instant
  // Outside a batch there is no end to wait for.
  stack.defer_to_batch_end(b);
  EXPECT_EQ(log, (std::vector<int>{1, 2, 2}));
}

TEST(StackBatchTest, TasksDeferredOrDestroyedDuringTheEndAreHandled) {
  ManualClock clock;
  Stack stack(clock, repeatable_stack_options(1));
  std::vector<int> log;
  RecordingTask first(stack, log, 1);
  RecordingTask later(stack, log, 2);
  auto doomed = std::make_unique<RecordingTask>(stack, log, 3);
  first.then_defer = &later;
  first.then_destroy = &doomed;
  {
    Stack::Batch batch(stack);
    stack.defer_to_batch_end(first);
    stack.defer_to_batch_end(*doomed);
  }
  // The destroyed task left the list with its owner; the one deferred by a task ran too.
  EXPECT_EQ(log, (std::vector<int>{1, 2}));
  EXPECT_EQ(doomed, nullptr);
}

// An endpoint with packets waiting, as an embedder's driver or a tap would have them.
class QueueEndpoint : public RecordingEndpoint {
 public:
  size_t process_receive(size_t budget) override {
    ++receive_calls;
    size_t n = 0;
    while (n < budget && waiting > 0) {
      auto pkt = PacketBuffer::allocate(20);
      pkt.meta().network_protocol = kEtherTypeIpv4;
      dispatcher->deliver_network_packet(std::move(pkt));
      --waiting;
      ++n;
    }
    return n;
  }
  int readable_fd() const override { return fd; }
  bool needs_polling() const override { return polled; }
  size_t waiting = 0;
  int receive_calls = 0;
  int fd = -1;
  bool polled = false;
};

TEST(StackPollTest, PollReceivesFromEveryNicFiresTimersAndSaysWhatIsNext) {
  ManualClock clock;
  Stack stack(clock, repeatable_stack_options(1));
  auto& ipv4 = stack.add_network_protocol(std::make_unique<CountingProtocol>(kEtherTypeIpv4));
  auto a = std::make_unique<QueueEndpoint>();
  auto b = std::make_unique<QueueEndpoint>();
  auto& ra = *a;
  auto& rb = *b;
  ASSERT_TRUE(stack.add_nic(std::move(a), "a0"));
  ASSERT_TRUE(stack.add_nic(std::move(b), "b0"));
  EXPECT_FALSE(stack.poll().next_deadline);  // nothing armed

  ra.waiting = 3;
  rb.waiting = Stack::kPollBudget + 5;  // more than one poll takes
  int fired = 0;
  Timer timer([&] { ++fired; });
  stack.timers().arm_after(timer, 10ms);
  auto first = stack.poll();
  EXPECT_EQ(first.work, 3 + Stack::kPollBudget);
  EXPECT_TRUE(first.more);
  ASSERT_TRUE(first.next_deadline);
  EXPECT_LE(*first.next_deadline, clock.now() + 10ms);
  EXPECT_EQ(fired, 0);
  auto second = stack.poll();
  EXPECT_EQ(second.work, 5u);
  EXPECT_FALSE(second.more);
  EXPECT_EQ(ipv4.count, static_cast<int>(3 + Stack::kPollBudget + 5));

  // `now` given: the batch runs at that instant, so the timer due then fires although the
  // clock itself has not moved.
  auto later = stack.poll(clock.now() + 20ms);
  EXPECT_EQ(fired, 1);
  EXPECT_EQ(later.work, 1u);
  EXPECT_FALSE(later.next_deadline);
  EXPECT_EQ(stack.now(), clock.now());  // let go after the poll
}

TEST(StackPollTest, WaitSetHasTheNicsFdsAndSaysWhenOneMustBePolled) {
  ManualClock clock;
  Stack stack(clock, repeatable_stack_options(1));
  auto with_fd = std::make_unique<QueueEndpoint>();
  with_fd->fd = 7;  // never waited on here: only reported
  auto in_memory = std::make_unique<QueueEndpoint>();
  ASSERT_TRUE(stack.add_nic(std::move(with_fd), "tap0"));
  ASSERT_TRUE(stack.add_nic(std::move(in_memory), "mem0"));
  auto set = stack.wait_set();
  EXPECT_EQ(set.readable_fds, std::vector<int>{7});
  EXPECT_FALSE(set.needs_polling);
  auto polled = std::make_unique<QueueEndpoint>();
  polled->polled = true;
  ASSERT_TRUE(stack.add_nic(std::move(polled), "dpdk0"));
  EXPECT_TRUE(stack.wait_set().needs_polling);
}

TEST(StackCreateTest, InvalidOptionsAreAnErrorWithAReason) {
  ManualClock clock;
  StackOptions options;
  options.ephemeral_ports = {5000, 4999};
  std::string why;
  auto bad = Stack::create(clock, options, &why);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error(), Error::kInvalidArgument);
  EXPECT_NE(why.find("5000-4999"), std::string::npos) << why;
  options.ephemeral_ports = {40000, 40009};
  auto good = Stack::create(clock, options);
  ASSERT_TRUE(good);
  EXPECT_EQ((*good)->ports().ephemeral_range(), (PortRange{40000, 40009}));
}

TEST(StackSecretTest, DerivedKeysDifferPerDomain) {
  const SipKey key{0x0123456789abcdefull, 0xfedcba9876543210ull};
  EXPECT_EQ(key.derive(1), key.derive(1));
  EXPECT_NE(key.derive(1), key.derive(2));
  EXPECT_NE(key.derive(1), key);
  EXPECT_NE(SipKey::from_os(), SipKey::from_os());
}

TEST_F(StackTest, NicsAreNamedAndNumbered) {
  auto a = stack.add_nic(std::make_unique<RecordingEndpoint>(), "eth0");
  auto b = stack.add_nic(std::make_unique<RecordingEndpoint>(9000), "eth1");
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_EQ(stack.nic_by_name("eth1")->mtu(), 9000u);
  EXPECT_EQ(stack.add_nic(std::make_unique<RecordingEndpoint>(), "eth0").error(),
            Error::kAddressInUse);
  EXPECT_EQ(stack.nic(99), nullptr);
  EXPECT_TRUE(stack.nic(*a)->endpoint().attached());
}

TEST_F(StackTest, DispatchesByEtherTypeAndCountsUnknown) {
  auto& proto = stack.add_network_protocol(std::make_unique<CountingProtocol>(kEtherTypeIpv4));
  auto id = *stack.add_nic(std::make_unique<RecordingEndpoint>(), "eth0");
  Nic& nic = *stack.nic(id);
  auto pkt = PacketBuffer::from_bytes(as_bytes("hello"));
  pkt.meta().network_protocol = kEtherTypeIpv4;
  nic.deliver_network_packet(std::move(pkt));
  EXPECT_EQ(proto.count, 1);
  EXPECT_EQ(proto.last_nic, id);
  EXPECT_EQ(proto.last_size, 5u);

  auto other = PacketBuffer::from_bytes(as_bytes("x"));
  other.meta().network_protocol = 0x88cc;
  nic.deliver_network_packet(std::move(other));
  EXPECT_EQ(nic.counters().rx_drop_unknown_protocol, 1u);
  EXPECT_EQ(nic.counters().rx_packets, 2u);

  nic.set_enabled(false);
  auto late = PacketBuffer::from_bytes(as_bytes("x"));
  late.meta().network_protocol = kEtherTypeIpv4;
  nic.deliver_network_packet(std::move(late));
  EXPECT_EQ(nic.counters().rx_drop_disabled, 1u);
  EXPECT_EQ(proto.count, 1);
}

TEST_F(StackTest, LongestPrefixWinsAndSourceIsChosen) {
  auto eth0 = *stack.add_nic(std::make_unique<RecordingEndpoint>(), "eth0");
  auto eth1 = *stack.add_nic(std::make_unique<RecordingEndpoint>(1400), "eth1");
  ASSERT_TRUE(stack.add_address(eth0, prefix("10.0.0.2/24")));
  ASSERT_TRUE(stack.add_address(eth1, prefix("192.168.5.2/16")));
  stack.add_route({prefix("0.0.0.0/0"), ip("10.0.0.1"), eth0});
  stack.add_route({prefix("192.168.7.0/24"), ip("192.168.5.1"), eth1});

  auto r = stack.find_route(ip("8.8.8.8"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->nic, eth0);
  EXPECT_EQ(r->next_hop, ip("10.0.0.1"));
  EXPECT_EQ(r->local_address, ip("10.0.0.2"));
  EXPECT_EQ(r->mtu, 1500u);

  r = stack.find_route(ip("10.0.0.77"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->next_hop, ip("10.0.0.77"));  // on-link

  r = stack.find_route(ip("192.168.7.9"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->nic, eth1);
  EXPECT_EQ(r->next_hop, ip("192.168.5.1"));
  EXPECT_EQ(r->mtu, 1400u);

  r = stack.find_route(ip("192.168.9.9"));  // the /16 on-link route
  ASSERT_TRUE(r);
  EXPECT_EQ(r->next_hop, ip("192.168.9.9"));
  EXPECT_EQ(r->local_address, ip("192.168.5.2"));
}

TEST_F(StackTest, ARoutesPreferredSourceIsUsedForUnboundSockets) {
  auto lo = *stack.add_nic(std::make_unique<RecordingEndpoint>(65536), "lo");
  auto eth0 = *stack.add_nic(std::make_unique<RecordingEndpoint>(), "eth0");
  ASSERT_TRUE(stack.add_address(lo, prefix("127.0.0.1/8")));
  ASSERT_TRUE(stack.add_address(eth0, prefix("10.0.0.2/24")));
  // The stack's own address through loopback, from itself (Linux's local table).
  stack.add_route({prefix("10.0.0.2/32"), std::nullopt, lo, ip("10.0.0.2")});
  auto r = stack.find_route(ip("10.0.0.2"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->nic, lo);
  EXPECT_EQ(r->local_address, ip("10.0.0.2"));
  // A bound socket keeps its own choice; loopback itself still picks 127.0.0.1.
  EXPECT_EQ(stack.find_route(ip("10.0.0.2"), ip("127.0.0.1"))->local_address, ip("127.0.0.1"));
  EXPECT_EQ(stack.find_route(ip("127.0.0.5"))->local_address, ip("127.0.0.1"));
  // A source that is not (or no longer) ours is ignored.
  stack.add_route({prefix("10.0.0.9/32"), std::nullopt, lo, ip("10.0.0.9")});
  EXPECT_EQ(stack.find_route(ip("10.0.0.9"))->local_address, ip("127.0.0.1"));
}

TEST_F(StackTest, RouteErrors) {
  auto eth0 = *stack.add_nic(std::make_unique<RecordingEndpoint>(), "eth0");
  ASSERT_TRUE(stack.add_address(eth0, prefix("10.0.0.2/24")));
  EXPECT_EQ(stack.find_route(ip("172.16.0.1")).error(), Error::kNetworkUnreachable);
  EXPECT_EQ(stack.find_route(ip("fd00::1")).error(), Error::kNetworkUnreachable);
  EXPECT_EQ(stack.find_route(ip("10.0.0.9"), ip("10.0.0.3")).error(), Error::kAddressNotAvailable);
  EXPECT_EQ(stack.find_route(ip("10.0.0.9"), ip("fd00::1")).error(), Error::kInvalidArgument);
  EXPECT_EQ(stack.find_route(ip("10.0.0.9"), IpAddress(), NicId{77}).error(),
            Error::kNetworkUnreachable);
  stack.nic(eth0)->set_enabled(false);
  EXPECT_EQ(stack.find_route(ip("10.0.0.9")).error(), Error::kNetworkUnreachable);
}

TEST_F(StackTest, BroadcastDestinationsAreFlagged) {
  auto eth0 = *stack.add_nic(std::make_unique<RecordingEndpoint>(), "eth0");
  ASSERT_TRUE(stack.add_address(eth0, prefix("10.0.0.2/24")));
  auto r = stack.find_route(ip("10.0.0.255"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->broadcast);
  r = stack.find_route(ip("255.255.255.255"));
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->broadcast);
  EXPECT_EQ(r->nic, eth0);
  EXPECT_EQ(r->local_address, ip("10.0.0.2"));
  r = stack.find_route(ip("10.0.0.7"));
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->broadcast);
}

TEST_F(StackTest, AddressesValidatedAndLookedUp) {
  auto eth0 = *stack.add_nic(std::make_unique<RecordingEndpoint>(), "eth0");
  ASSERT_TRUE(stack.add_address(eth0, prefix("10.0.0.2/24")));
  ASSERT_TRUE(stack.add_address(eth0, prefix("fd00::2/64")));
  EXPECT_EQ(stack.add_address(eth0, prefix("10.0.0.2/24")).error(), Error::kAddressInUse);
  EXPECT_EQ(stack.add_address(eth0, prefix("224.0.0.1/4")).error(), Error::kInvalidArgument);
  EXPECT_EQ(stack.add_address(99, prefix("10.0.0.3/24")).error(), Error::kNoDevice);
  EXPECT_TRUE(stack.is_local_address(ip("fd00::2")));
  EXPECT_EQ(stack.nic_with_address(ip("10.0.0.2")), eth0);
  EXPECT_FALSE(stack.is_local_address(ip("10.0.0.3")));
  auto r = stack.find_route(ip("fd00::99"));
  ASSERT_TRUE(r);
  EXPECT_EQ(r->local_address, ip("fd00::2"));
  ASSERT_TRUE(stack.nic(eth0)->remove_address(ip("10.0.0.2")));
  EXPECT_FALSE(stack.is_local_address(ip("10.0.0.2")));
}

TEST_F(StackTest, CountersListNicGroups) {
  auto eth0 = *stack.add_nic(std::make_unique<RecordingEndpoint>(), "eth0");
  auto pkt = PacketBuffer::from_bytes(as_bytes("abc"));
  ASSERT_TRUE(stack.nic(eth0)->write_packet(std::move(pkt)));
  uint64_t tx = 0;
  stack.counters().for_each([&](std::string_view group, std::string_view name, uint64_t v) {
    if (group == "nic.eth0" && name == "tx_packets") tx = v;
  });
  EXPECT_EQ(tx, 1u);
}

// for_each_of visits the counters of the groups of one name, every such group in
// registration order, and nothing else.
#define WEIR_TWO_COUNTERS_(X) X(first) X(second)
WEIR_DEFINE_COUNTERS(Two, WEIR_TWO_COUNTERS_)

TEST(CounterRegistryTest, ForEachOfVisitsOnlyTheNamedGroups) {
  Two a{.first = 1, .second = 2};
  Two b{.first = 10, .second = 20};
  Two other{.first = 100, .second = 200};
  CounterRegistry registry;
  registry.add_struct("x", a);
  registry.add_struct("y", other);
  registry.add_struct("x", b);
  std::vector<std::pair<std::string, uint64_t>> seen;
  registry.for_each_of(
      "x", [&](std::string_view name, uint64_t v) { seen.emplace_back(std::string(name), v); });
  EXPECT_EQ(seen, (std::vector<std::pair<std::string, uint64_t>>{
                      {"first", 1}, {"second", 2}, {"first", 10}, {"second", 20}}));
  seen.clear();
  registry.for_each_of(
      "z", [&](std::string_view name, uint64_t v) { seen.emplace_back(std::string(name), v); });
  EXPECT_TRUE(seen.empty());
}

}  // namespace
}  // namespace weir

namespace weir {
namespace {

TEST(NicGroupTest, ListenersHearFirstJoinAndLastLeave) {
  ManualClock clock;
  Stack stack(clock);
  auto id = *stack.add_nic(std::make_unique<RecordingEndpoint>(), "eth0");
  Nic& nic = *stack.nic(id);
  std::vector<std::pair<std::string, bool>> heard;
  const size_t listener = nic.add_group_listener([&](Nic& n, const IpAddress& g, bool joined) {
    EXPECT_EQ(&n, &nic);
    heard.emplace_back(g.to_string(), joined);
  });
  const IpAddress group = *IpAddress::parse("ff02::1:ff00:1");
  nic.join_group(group);
  nic.join_group(group);  // counted, not told
  nic.leave_group(group);
  EXPECT_TRUE(nic.in_group(group));
  ASSERT_EQ(nic.groups().size(), 1u);
  EXPECT_EQ(nic.groups()[0].second, 1u);
  nic.leave_group(group);
  EXPECT_FALSE(nic.in_group(group));
  nic.leave_group(group);  // not a member: nothing
  EXPECT_EQ(heard, (std::vector<std::pair<std::string, bool>>{{"ff02::1:ff00:1", true},
                                                              {"ff02::1:ff00:1", false}}));
  nic.remove_group_listener(listener);
  nic.join_group(group);
  EXPECT_EQ(heard.size(), 2u);
}

}  // namespace
}  // namespace weir
