// The emulator fuzz target's kept core (fuzz/sandbox_emulator_input.h: the stack, the loop and
// the loopback endpoint, reset after every input): an input run on a core that ran other inputs
// must do exactly what it does on a new core (every answer, every byte written into the
// program's memory, what each turn of the loop handled, every counter, the Rng's next draw), or a
// crash the fuzzer finds would not reproduce when the one input runs in a fresh process. The
// inputs are the target's seeds and scripts drawn from a fixed generator.
#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "fuzz/sandbox_emulator_input.h"
#include "stack/bytes.h"
#include "tests/testing/testing.h"

namespace weir {
namespace {

using fuzzing::EmulatorCore;
using fuzzing::EmulatorWorld;

struct Transcript {
  // Per call, in order: not answered (parked), or continued / value / errno. An installed fd's
  // number is left out: a new core's loop holds other fds than a kept one.
  std::vector<std::string> answers;
  std::vector<std::byte> memory;
  std::vector<size_t> handled;
  std::vector<std::string> counters;  // emulator, stack, loopback: "name=value" in order
  uint64_t next_random = 0;
  bool operator==(const Transcript&) const = default;
};

Transcript run(EmulatorCore& core, ByteView input) {
  Transcript t;
  EmulatorWorld w(core);
  fuzzing::run_sandbox_emulator_input(w, input);
  for (uint64_t id : w.calls) {
    auto a = w.tracee.answer(id);
    if (!a) {
      t.answers.push_back("parked");
    } else if (a->continued) {
      t.answers.push_back("continued");
    } else if (a->fd >= 0) {
      t.answers.push_back("fd");
    } else {
      t.answers.push_back(std::to_string(a->value) + "/" + std::to_string(a->error));
    }
  }
  const auto memory = w.tracee.memory();
  t.memory.assign(memory.begin(), memory.end());
  t.handled = w.handled;
  const auto add = [&](std::string_view name, uint64_t value) {
    t.counters.push_back(std::string(name) + "=" + std::to_string(value));
  };
  w.emulator->counters().for_each(add);
  w.stack.counters().for_each([&](std::string_view group, std::string_view name, uint64_t value) {
    add(std::string(group) + "." + std::string(name), value);
  });
  w.loopback.counters().for_each(add);
  t.next_random = w.stack.rng().next_u64();
  return t;
}

std::vector<std::vector<std::byte>> inputs() {
  std::vector<std::vector<std::byte>> out =
      testing::read_files_sorted(std::string(WEIR_FUZZ_CORPUS_DIR) + "/sandbox_emulator");
  // A script that makes the loopback carry traffic (fuzz/sandbox_emulator_input.h has the
  // operations: kind, a, b, c), then variants of it from a fixed generator: some operations
  // changed, others appended.
  const std::vector<std::array<uint8_t, 4>> script = {
      {0, 0, 0, 0},    // socket(AF_INET, SOCK_STREAM): stand-in 0
      {1, 0, 0, 0},    // bind 0 to 127.0.0.1:80
      {3, 0, 8, 0},    // listen
      {0, 0, 0, 1},    // socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK): 1
      {2, 1, 0, 0},    // connect 1 to 127.0.0.1:80
      {17, 2, 0, 0},   // three turns of the loop
      {4, 0, 0, 0},    // accept4 on 0: 2
      {14, 1, 40, 0},  // the program writes 40 bytes on 1
      {17, 1, 0, 0},
      {8, 2, 8, 0},    // recvfrom 2
      {14, 2, 20, 0},  // and writes back
      {0, 1, 1, 0},    // socket(AF_INET6, SOCK_DGRAM): 3
      {1, 3, 9, 0},    // bind 3 to [::1]:81
      {7, 3, 4, 9},    // sendto 3, 32 bytes to [::1]:81
      {17, 1, 0, 0},
      {10, 3, 0, 0},   // recvmsg 3
      {12, 1, 1, 0},   // shutdown(1, SHUT_WR)
      {16, 0, 0, 0},   // open /proc/net/tcp
      {17, 3, 0, 0},
  };
  std::vector<std::byte> base(2048);  // the memory image, all zero
  for (const auto& op : script) {
    for (uint8_t b : op) base.push_back(static_cast<std::byte>(b));
  }
  out.push_back(base);
  uint64_t state = 0x9e3779b97f4a7c15;
  const auto next = [&state] {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  };
  for (int i = 0; i < 24; ++i) {
    std::vector<std::byte> input = base;
    const size_t changes = 1 + next() % 4;
    for (size_t k = 0; k < changes; ++k) {
      const size_t at = 2048 + next() % (script.size() * 4);
      input[at] = static_cast<std::byte>(next() % 20);
    }
    const size_t extra = next() % 12;
    for (size_t k = 0; k < extra; ++k) {
      const uint64_t r = next();
      input.push_back(static_cast<std::byte>(r % 18));
      input.push_back(static_cast<std::byte>((r >> 8) % 4));
      input.push_back(static_cast<std::byte>((r >> 16) % 16));
      input.push_back(static_cast<std::byte>((r >> 24) % 16));
    }
    out.push_back(std::move(input));
  }
  return out;
}

uint64_t counter(const Transcript& t, const std::string& name) {
  for (const auto& c : t.counters) {
    if (c.rfind(name + "=", 0) == 0) return std::stoull(c.substr(name.size() + 1));
  }
  ADD_FAILURE() << "no counter " << name;
  return 0;
}

TEST(EmulatorResetTest, InputsRunAsOnANewCore) {
  const auto all = inputs();
  EmulatorCore reused;  // runs every input in turn, reset in between
  uint64_t sockets = 0;
  uint64_t looped_back = 0;
  for (size_t i = 0; i < all.size(); ++i) {
    EmulatorCore fresh;
    const Transcript expected = run(fresh, all[i]);
    const Transcript got = run(reused, all[i]);
    EXPECT_EQ(got.answers, expected.answers) << "input " << i;
    EXPECT_EQ(got.memory, expected.memory) << "input " << i;
    EXPECT_EQ(got.handled, expected.handled) << "input " << i;
    EXPECT_EQ(got.counters, expected.counters) << "input " << i;
    EXPECT_EQ(got.next_random, expected.next_random) << "input " << i;
    sockets += counter(expected, "sockets_created");
    looped_back += counter(expected, "rx_frames");
  }
  // The comparison means something: stand-ins were made and packets went round the loopback.
  EXPECT_GT(sockets, all.size());
  EXPECT_GT(looped_back, all.size());
  // And backwards, so each input also follows a different one.
  for (size_t i = all.size(); i-- > 0;) {
    EmulatorCore fresh;
    EXPECT_EQ(run(reused, all[i]), run(fresh, all[i])) << "input " << i << " (backwards)";
  }
}

// What an input leaves on the core is what the core's constructors leave, seen from outside.
TEST(EmulatorResetTest, LeavesWhatTheConstructorsLeave) {
  const auto all = inputs();
  EmulatorCore core;
  const int loopback_fd = core.loopback->readable_fd();
  {
    EmulatorWorld w(core);
    fuzzing::run_sandbox_emulator_input(w, all[all.size() - 25]);  // the script
    EXPECT_GT(w.emulator->socket_count(), 0u);
    EXPECT_GT(core.loopback->counters().tx_frames, 0u);
  }
  EXPECT_TRUE(core.stack_core.stack.nic_ids().empty());
  EXPECT_EQ(core.stack_core.stack.timers().armed_count(), 0u);
  EXPECT_EQ(core.stack_core.clock.now(), fuzzing::StackCore::kStart);
  EXPECT_FALSE(core.loopback->attached());
  EXPECT_EQ(core.loopback->pending(), 0u);
  core.loopback->counters().for_each([](std::string_view name, uint64_t value) {
    EXPECT_EQ(value, 0u) << name;
  });
  // The loop has nothing posted or pending, and watches the loopback as a new core's does, and
  // nothing else: a packet queued on the loopback now is taken by the next turn (and dropped,
  // nothing is attached), exactly as on a new core.
  EXPECT_EQ(core.loop.run_once(Duration::zero()), 0u);
  EXPECT_EQ(core.loopback->readable_fd(), loopback_fd);
  EmulatorCore fresh;
  for (EmulatorCore* c : {&core, &fresh}) {
    std::vector<PacketBuffer> packet;
    packet.push_back(PacketBuffer::from_bytes(as_bytes("x")));
    packet[0].meta().network_protocol = kEtherTypeIpv4;
    ASSERT_EQ(c->loopback->write_packets(packet).value(), 1u);
    EXPECT_EQ(c->loop.run_once(Duration::zero()), 2u);  // the loopback's event and its packet
    EXPECT_EQ(c->loopback->pending(), 0u);
    EXPECT_EQ(c->loopback->counters().rx_drop_not_attached, 1u);
    EXPECT_EQ(c->loop.run_once(Duration::zero()), 0u);
  }
  core.loopback->reset();
}

}  // namespace
}  // namespace weir
