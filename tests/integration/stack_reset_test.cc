// Stack::reset as the fuzz targets use it (fuzz/reused_stack.h): an input run on a stack that
// ran other inputs before and was reset must do exactly what it does on a new stack (every
// frame sent, every counter, the Rng's next draw), or a crash the fuzzer finds on its reused
// stack would not reproduce when the one input runs in a fresh process. The inputs are the
// seed corpora of fuzz_stack_frame (a whole stack with UDP and TCP sockets: ARP, NDP, TCP
// handshakes and out-of-order floods, fragments, ICMP errors), fuzz_ipv4 and fuzz_ipv6.
#include <gtest/gtest.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "fuzz/ipv4_fuzz_harness.h"
#include "fuzz/ipv6_fuzz_harness.h"
#include "fuzz/reused_stack.h"
#include "fuzz/stack_frame_input.h"
#include "fuzz/stack_under_test.h"
#include "stack/bytes.h"
#include "tests/testing/testing.h"

namespace weir {
namespace {

using fuzzing::StackCore;

struct Transcript {
  std::vector<std::vector<std::byte>> frames;
  std::vector<std::string> counters;  // "group.name=value", in registration order
  uint64_t next_random = 0;
  bool operator==(const Transcript&) const = default;
};

void finish(Transcript& t, Stack& stack) {
  stack.counters().for_each([&](std::string_view group, std::string_view name, uint64_t value) {
    t.counters.push_back(std::string(group) + "." + std::string(name) + "=" +
                         std::to_string(value));
  });
  t.next_random = stack.rng().next_u64();
}

std::vector<std::vector<std::byte>> corpus(const std::string& target) {
  return testing::read_files_sorted(std::string(WEIR_FUZZ_CORPUS_DIR) + "/" + target);
}

Transcript run_stack_frame(StackCore& core, ByteView input) {
  Transcript t;
  fuzzing::StackUnderTest s({}, core);
  s.sent_frames = &t.frames;
  fuzzing::run_stack_frame_input(s, input);
  finish(t, *s.stack);
  return t;
}

// Each packet of the IPv4 corpus (after fuzz_ipv4's control byte) delivered twice, 31 s apart.
Transcript run_ipv4(StackCore& core, ByteView input) {
  Transcript t;
  ipv4::fuzz::Harness h(TransportDelivery::kNoEndpoint, {}, core);
  const ByteView packet = input.empty() ? input : input.subspan(1);
  for (int round = 0; round < 2; ++round) {
    PacketBuffer pkt = PacketBuffer::from_bytes(packet);
    pkt.meta().network_protocol = kEtherTypeIpv4;
    pkt.meta().nic = h.nic_id;
    h.ip->handle_packet(h.nic(), std::move(pkt));
    h.advance(std::chrono::seconds(31));
    for (auto& frame : h.peer->read_all()) t.frames.push_back(std::move(frame));
  }
  finish(t, *h.stack);
  return t;
}

// The same with the IPv6 corpus, 61 s apart (past IPv6 reassembly's timeout).
Transcript run_ipv6(StackCore& core, ByteView input) {
  Transcript t;
  ipv6::fuzz::Harness h(TransportDelivery::kNoEndpoint, core);
  const ByteView packet = input.empty() ? input : input.subspan(1);
  for (int round = 0; round < 2; ++round) {
    h.deliver(PacketBuffer::from_bytes(packet));
    h.advance(std::chrono::seconds(61));
    for (auto& frame : h.peer->read_all()) t.frames.push_back(std::move(frame));
  }
  finish(t, *h.stack);
  return t;
}

template <typename Run>
void expect_reset_runs_like_new(const std::vector<std::vector<std::byte>>& inputs, Run run) {
  ASSERT_GE(inputs.size(), 5u);
  StackCore reused;  // runs every input in turn, reset in between
  size_t frames = 0;
  for (size_t i = 0; i < inputs.size(); ++i) {
    StackCore fresh;
    const Transcript expected = run(fresh, inputs[i]);
    const Transcript got = run(reused, inputs[i]);
    EXPECT_EQ(got.frames, expected.frames) << "input " << i;
    EXPECT_EQ(got.counters, expected.counters) << "input " << i;
    EXPECT_EQ(got.next_random, expected.next_random) << "input " << i;
    frames += expected.frames.size();
  }
  // The comparison means something: the inputs made the stack answer.
  EXPECT_GT(frames, inputs.size());
  // And backwards, so each input also follows a different one.
  for (size_t i = inputs.size(); i-- > 0;) {
    StackCore fresh;
    EXPECT_EQ(run(reused, inputs[i]), run(fresh, inputs[i])) << "input " << i << " (backwards)";
  }
}

TEST(StackResetTest, StackFrameInputsRunAsOnANewStack) {
  expect_reset_runs_like_new(corpus("stack_frame"), run_stack_frame);
}

TEST(StackResetTest, Ipv4InputsRunAsOnANewStack) {
  expect_reset_runs_like_new(corpus("ipv4"), run_ipv4);
}

TEST(StackResetTest, Ipv6InputsRunAsOnANewStack) {
  expect_reset_runs_like_new(corpus("ipv6"), run_ipv6);
}

// What reset() leaves is what the constructor leaves, seen from outside.
TEST(StackResetTest, LeavesWhatTheConstructorLeaves) {
  StackCore core;
  const auto listing = [](const Stack& stack) {
    std::vector<std::string> out;
    stack.counters().for_each([&](std::string_view g, std::string_view n, uint64_t v) {
      out.push_back(std::string(g) + "." + std::string(n) + "=" + std::to_string(v));
    });
    return out;
  };
  const auto built = listing(core.stack);
  {
    fuzzing::StackUnderTest s({}, core);
    EXPECT_FALSE(core.stack.nic_ids().empty());
    EXPECT_GT(core.stack.timers().armed_count(), 0u);
    s.clock.advance(std::chrono::seconds(3));
    s.stack->run_timers();
  }
  EXPECT_TRUE(core.stack.nic_ids().empty());
  EXPECT_TRUE(core.stack.routes().empty());
  EXPECT_EQ(core.stack.network_protocol(kEtherTypeIpv4), nullptr);
  EXPECT_EQ(core.stack.transport_protocol(6), nullptr);
  EXPECT_EQ(core.stack.timers().armed_count(), 0u);
  EXPECT_FALSE(core.stack.timers().next_deadline().has_value());
  EXPECT_EQ(core.stack.demux().connected_count(), 0u);
  EXPECT_EQ(core.clock.now(), StackCore::kStart);
  EXPECT_EQ(listing(core.stack), built);
  StackCore fresh;
  EXPECT_EQ(core.stack.rng().next_u64(), fresh.stack.rng().next_u64());
}

}  // namespace
}  // namespace weir
