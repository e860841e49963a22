// `weir replay`: deterministic pcap replay. Feeds every frame of a capture (pcap or pcapng) to
// a stack at the frame's timestamp on a ManualClock, records every frame the stack sends, and
// optionally diffs that recording against a golden capture.
//
// Theory of operation. The stack (ReplayStack) is the one `weir serve` would be, minus
// anything that reads the outside world: IPv4, UDP, TCP and (with --ip6) IPv6 on an in-memory
// channel whose far end the replayer holds, a ManualClock, and an Rng seeded from --seed, so
// ISNs, TCP timestamp offsets, IP IDs and ephemeral ports are the same on every run. IPv6
// autoconfiguration is off: its timers and solicitations would put frames in the output that
// depend on nothing in the capture. The services answer on the ports `weir serve` uses: UDP
// echo 7, TCP echo 7, discard 9 and a small HTTP server on 80 (GET/HEAD of / and /bytes/N).
// Their socket callbacks fire inside the stack, so, as serve does with its loop, they only
// queue work, which settle() runs when the stack is between packets.
//
// The replay loop, for each frame at time t: run every timer due before t, one deadline at a
// time with the clock set to that deadline (so a retransmission is stamped when it fired, not
// when the next frame came); set the clock to t; deliver the frame; settle; record what the
// stack sent, stamped with the clock. After the last frame the same timer walk continues for
// --tail of virtual time. Frames are delivered as a NIC would receive them: frames for other
// MACs are filtered, malformed ones are counted and dropped by the stack. A capture that
// cannot be replayed faithfully (not a capture, not Ethernet, damaged or snap-length-cut
// records, frames shorter than an Ethernet header) is refused before anything runs.
//
// The diff decodes each frame into named fields (eth.*, arp.*, ip.*, ip6.*, tcp.*, udp.*,
// icmp.*, payload bytes) and reports the first field that differs, e.g.
//   frame 7: tcp.ack: expected 1001, got 1449
#pragma once

#include <CLI/CLI.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "link/pcap_file.h"
#include "stack/address.h"
#include "stack/clock.h"
#include "stack/link_endpoint.h"
#include "stack/result.h"

namespace weir {
class Stack;
}  // namespace weir

namespace weir::tools {

// The timer wheel's tick of the stack under replay: replay fires timers on its boundaries.
inline constexpr Duration kReplayTimerTick = std::chrono::milliseconds(1);

// The stack under replay.
struct ReplayStackOptions {
  MacAddress mac = MacAddress({0x02, 0x00, 0x00, 0x00, 0x00, 0x01});
  std::optional<IpPrefix> address;   // IPv4
  std::vector<IpPrefix> addresses6;  // non-empty: IPv6 is installed
  uint64_t seed = 1;                 // never 0 (that would mean "from the OS")
};

class ReplayServices;

// A stack with weir serve's services, on an endpoint the caller gives. Tests use it to record
// a session against the same stack replay builds.
class ReplayStack {
 public:
  ReplayStack(const Clock& clock, const ReplayStackOptions& options);
  ~ReplayStack();
  ReplayStack(const ReplayStack&) = delete;
  ReplayStack& operator=(const ReplayStack&) = delete;

  // Adds the endpoint as the stack's NIC, its addresses, and starts the services.
  Status start(std::unique_ptr<LinkEndpoint> endpoint, std::string* message);
  // Runs the services' queued work until there is none.
  void settle();
  // Fires the timers due now, then settles.
  void run_timers();
  Stack& stack() { return *stack_; }

 private:
  ReplayStackOptions options_;
  std::unique_ptr<Stack> stack_;
  std::unique_ptr<ReplayServices> services_;  // after stack_: destroyed first
};

struct ReplayOptions {
  std::string in;
  std::string out;
  std::optional<std::string> diff;  // golden capture
  ReplayStackOptions stack;
  Duration tail = std::chrono::seconds(10);
  // Fill in the TCP/UDP checksums of the capture's frames before delivering them. A capture
  // taken where the sender left its sums to the NIC (Linux's own packets read from a tap
  // with offloads, or tcpdump on the sending host) holds unfinished sums, which the stack
  // under replay would count and drop as corrupt.
  bool fix_checksums = false;
};

// Recomputes the TCP or UDP checksum of an Ethernet frame carrying an unfragmented IPv4
// packet or an IPv6 packet without extension headers; true if the frame changed. Anything
// else (other protocols, fragments, lengths that do not fit the frame) is left alone.
bool fix_transport_checksum(std::vector<std::byte>& frame);

struct ReplayResult {
  uint64_t frames_in = 0;
  uint64_t frames_out = 0;
  // Every non-zero drop counter of the stack after the replay ("ipv4.rx_drop_version", 1),
  // in registration order: what the stack refused of the capture, and why.
  std::vector<std::pair<std::string, uint64_t>> drops;
};

// Replays options.in into options.out. On failure *message says why in one line.
Result<ReplayResult> replay_capture(const ReplayOptions& options, std::string* message);

// Compares two captures frame by frame. nullopt: equal. Otherwise the first difference, e.g.
// "frame 7: tcp.ack: expected 1001, got 1449". kBadMessage/... with *message if a file cannot
// be read.
Result<std::optional<std::string>> diff_captures(const std::string& produced,
                                                 const std::string& golden, std::string* message);

// One named field of a decoded frame, for the diff (exposed for tests).
struct FrameField {
  std::string name;
  std::string value;
  std::vector<std::byte> bytes;  // payload fields: compared byte by byte
  bool operator==(const FrameField&) const = default;
};
std::vector<FrameField> decode_frame(ByteView frame);

// Exit statuses of run_replay besides 0 and the CLI's 2.
inline constexpr int kReplayExitError = 1;
inline constexpr int kReplayExitDiffers = 3;

int run_replay(const ReplayOptions& options);
void add_replay_command(CLI::App& app);

}  // namespace weir::tools
