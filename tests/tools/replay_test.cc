// Golden tests of `weir replay` (tools/replay.h).
//
// The capture tests/data/replay/http_session.pcap is one the project makes itself: a weir client
// stack talks to the stack replay builds (ReplayStack) over an in-memory channel on a
// ManualClock, and a sniffer on the server's side records both directions, as `weir serve
// --pcap` would: ARP, a TCP handshake, GET /bytes/3000 with Connection: close, the response in
// several segments, both FINs, and a UDP echo. http_session.golden.pcap is what replaying it
// produces. If a deliberate change to the stack's wire behaviour changes the replay, rerun
// with WEIR_UPDATE_GOLDEN=1 to rewrite both files, and review the new golden in tshark before
// committing it.
#include "tools/replay.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "ipv4/ipv4.h"
#include "ipv6/ipv6.h"
#include "link/channel.h"
#include "link/sniffer.h"
#include "stack/stack.h"
#include "tcp/endpoint.h"
#include "tcp/tcp.h"
#include "udp/endpoint.h"
#include "udp/udp.h"

namespace weir::tools {
namespace {

using namespace std::chrono_literals;
using link::PcapReader;
using link::PcapRecord;
using link::PcapWriter;

const MacAddress kServerMac({0x02, 0x00, 0x00, 0x00, 0x00, 0x01});
const MacAddress kClientMac({0x02, 0x00, 0x00, 0x00, 0x00, 0x02});
// 2026-12-05T00:00:00Z: a date, so tshark shows the capture where it belongs.
const TimePoint kStart{std::chrono::seconds(1'796'428'800)};

std::string data_path(const std::string& name) {
  return std::string(WEIR_REPLAY_DATA_DIR) + "/" + name;
}

std::vector<char> file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::vector<PcapRecord> read_records(const std::string& path) {
  std::vector<PcapRecord> records;
  std::string message;
  auto reader = PcapReader::open(path, &message);
  EXPECT_TRUE(reader) << message;
  if (!reader) return records;
  while (auto r = (*reader)->next(&message)) {
    if (!*r) break;
    records.push_back(std::move(**r));
  }
  return records;
}

void write_records(const std::string& path, const std::vector<PcapRecord>& records,
                   int link_type = DLT_EN10MB) {
  auto writer = PcapWriter::create(path, link_type).value();
  for (const auto& r : records) writer->write(r.timestamp, r.bytes);
}

ReplayStackOptions server_options(bool ipv6 = false) {
  ReplayStackOptions options;
  options.mac = kServerMac;
  options.address = IpPrefix::parse("10.0.0.1/24").value();
  if (ipv6) options.addresses6.push_back(IpPrefix::parse("fd00::1/64").value());
  options.seed = 1;
  return options;
}

// Records the session described at the top into `path`. Time moves in 1 ms steps, the timer
// wheel's tick, so every timer fires at the instant replay will fire it; frames move one at a
// time, the server's posted work running after each, as replay delivers them.
// With ipv6, the same session over IPv6 (fd00::2 to fd00::1): neighbor discovery and the
// stack's MLD reports, sent after random delays, instead of ARP.
void record_session(const std::string& path, bool ipv6 = false) {
  ManualClock clock(kStart);
  ReplayStack server(clock, server_options(ipv6));
  Stack client(clock, repeatable_stack_options(7));
  ipv4::install(client);
  if (ipv6) ipv6::install(client);
  udp::install(client);
  tcp::install(client);

  link::ChannelOptions channel;
  channel.mac_a = kServerMac;
  channel.mac_b = kClientMac;
  auto pair = link::ChannelEndpoint::make_pair(channel);
  link::ChannelEndpoint& server_end = *pair.a;
  link::ChannelEndpoint& client_end = *pair.b;
  std::string message;
  auto sniffer = link::SnifferEndpoint::create(std::move(pair.a), path, clock,
                                               link::PcapTimestamps::kStackClock, &message);
  ASSERT_TRUE(sniffer) << message;
  link::SnifferEndpoint& sniffer_ref = **sniffer;
  ASSERT_TRUE(server.start(std::move(sniffer).value(), &message)) << message;
  auto nic = client.add_nic(std::move(pair.b), "eth0").value();
  ASSERT_TRUE(client.add_address(nic, IpPrefix::parse("10.0.0.2/24").value()));
  if (ipv6) {
    ASSERT_TRUE(client.add_address(nic, IpPrefix::parse("fd00::2/64").value()));
  }
  const AddressFamily family = ipv6 ? AddressFamily::kIpv6 : AddressFamily::kIpv4;
  const IpAddress server_ip = IpAddress::parse(ipv6 ? "fd00::1" : "10.0.0.1").value();

  auto pump = [&] {
    while (server_end.pending() > 0 || client_end.pending() > 0) {
      if (server_end.pending() > 0) {
        sniffer_ref.process_receive(1);
        server.settle();
      }
      if (client_end.pending() > 0) client_end.process_receive(1);
    }
  };

  auto tcp = tcp::Endpoint::create(client, family);
  ASSERT_TRUE(tcp);
  ASSERT_EQ(tcp->connect(SocketAddress{server_ip, 80}).error(), Error::kInProgress);
  auto udp = udp::Endpoint::create(client, family).value();
  const std::string request =
      "GET /bytes/3000 HTTP/1.1\r\nHost: 10.0.0.1\r\nConnection: close\r\n\r\n";
  bool sent = false;
  bool closed = false;
  size_t received = 0;
  std::string response;
  for (int step = 0; step <= 20'000; ++step) {
    if (step > 0) clock.advance(1ms);
    server.run_timers();
    client.run_timers();
    pump();
    if (!sent && (tcp->readiness() & kEventWritable)) {
      ASSERT_EQ(tcp->write(as_bytes(std::span(request))).value(), request.size());
      sent = true;
    }
    if (sent && !closed) {
      std::array<std::byte, 8192> buf{};
      for (;;) {
        auto n = tcp->read(buf);
        if (!n) break;
        if (*n == 0) {
          tcp->close();  // the server's FIN: close our side
          closed = true;
          break;
        }
        received += *n;
        for (size_t i = 0; i < *n; ++i) response.push_back(static_cast<char>(buf[i]));
      }
    }
    if (step == 300) {
      const std::string datagram = "echo me";
      ASSERT_TRUE(udp->send_to(as_bytes(std::span(datagram)), SocketAddress{server_ip, 7}));
    }
    pump();
  }
  EXPECT_TRUE(closed);
  EXPECT_EQ(response.substr(0, 15), "HTTP/1.1 200 OK");
  EXPECT_GT(received, 3000u);
  std::array<std::byte, 64> buf{};
  auto echoed = udp->receive_from(buf);
  ASSERT_TRUE(echoed);
  EXPECT_EQ(echoed->size, 7u);
}

class ReplayTest : public ::testing::Test {
 protected:
  void TearDown() override {
    for (const auto& p : temp_) std::remove(p.c_str());
  }
  std::string temp(const std::string& name) {
    temp_.push_back(::testing::TempDir() + "weir_replay_" + std::to_string(::getpid()) + "_" +
                    ::testing::UnitTest::GetInstance()->current_test_info()->name() + "_" + name);
    return temp_.back();
  }
  ReplayOptions options(const std::string& in, const std::string& out, bool ipv6 = false) {
    ReplayOptions o;
    o.in = in;
    o.out = out;
    o.stack = server_options(ipv6);
    return o;
  }
  std::string replay(const std::string& in) {
    const std::string out = temp("out.pcap");
    std::string message;
    auto result = replay_capture(options(in, out), &message);
    EXPECT_TRUE(result) << message;
    return out;
  }
  std::vector<std::string> temp_;
};

// Golden files are rewritten, not checked, with WEIR_UPDATE_GOLDEN=1.
TEST_F(ReplayTest, UpdateGoldenFilesWhenAsked) {
  if (std::getenv("WEIR_UPDATE_GOLDEN") == nullptr) GTEST_SKIP() << "WEIR_UPDATE_GOLDEN not set";
  record_session(data_path("http_session.pcap"));
  ReplayOptions o = options(data_path("http_session.pcap"), data_path("http_session.golden.pcap"));
  std::string message;
  ASSERT_TRUE(replay_capture(o, &message)) << message;
}

// The strongest check: replaying a recorded session reproduces, frame for frame and to the
// nanosecond, what the same stack sent when the session was live.
TEST_F(ReplayTest, ReplayOfARecordedSessionReproducesWhatTheStackSent) {
  const std::string capture = temp("session.pcap");
  record_session(capture);
  std::vector<PcapRecord> sent_by_server;
  for (auto& r : read_records(capture)) {
    if (decode_frame(r.bytes)[2].value == kServerMac.to_string()) sent_by_server.push_back(r);
  }
  ASSERT_GT(sent_by_server.size(), 5u);
  const std::string expected = temp("sent.pcap");
  write_records(expected, sent_by_server);

  const std::string out = replay(capture);
  std::string message;
  auto diff = diff_captures(out, expected, &message);
  ASSERT_TRUE(diff) << message;
  EXPECT_EQ(*diff, std::nullopt) << **diff;
}

TEST_F(ReplayTest, ReplayOfARecordedIpv6SessionReproducesWhatTheStackSent) {
  const std::string capture = temp("session6.pcap");
  record_session(capture, /*ipv6=*/true);
  std::vector<PcapRecord> sent_by_server;
  bool ndp = false;
  for (auto& r : read_records(capture)) {
    const auto fields = decode_frame(r.bytes);
    if (fields[2].value != kServerMac.to_string()) continue;
    for (const auto& f : fields) ndp = ndp || (f.name == "icmp6.type" && f.value == "136");
    sent_by_server.push_back(r);
  }
  EXPECT_TRUE(ndp) << "the stack should have answered neighbor solicitations";
  const std::string expected = temp("sent6.pcap");
  write_records(expected, sent_by_server);

  const std::string out = temp("out6.pcap");
  std::string message;
  ASSERT_TRUE(replay_capture(options(capture, out, /*ipv6=*/true), &message)) << message;
  auto diff = diff_captures(out, expected, &message);
  ASSERT_TRUE(diff) << message;
  EXPECT_EQ(*diff, std::nullopt) << **diff;
}

TEST_F(ReplayTest, TwoRunsWriteByteIdenticalFiles) {
  const std::string a = replay(data_path("http_session.pcap"));
  const std::string b = replay(data_path("http_session.pcap"));
  const auto bytes = file_bytes(a);
  EXPECT_GT(bytes.size(), 1000u);
  EXPECT_EQ(bytes, file_bytes(b));
}

TEST_F(ReplayTest, CheckedInCaptureReplaysToTheGolden) {
  const std::string out = replay(data_path("http_session.pcap"));
  std::string message;
  auto diff = diff_captures(out, data_path("http_session.golden.pcap"), &message);
  ASSERT_TRUE(diff) << message;
  EXPECT_EQ(*diff, std::nullopt) << **diff;
  // And the golden is a real session: handshake, data and FIN from the stack, one UDP echo.
  auto golden = read_records(data_path("http_session.golden.pcap"));
  ASSERT_GE(golden.size(), 6u);
  std::string flags;
  bool udp_echo = false;
  for (const auto& r : golden) {
    for (const auto& f : decode_frame(r.bytes)) {
      if (f.name == "tcp.flags") flags += f.value + " ";
      if (f.name == "udp.sport" && f.value == "7") udp_echo = true;
    }
  }
  EXPECT_NE(flags.find("SYN|ACK"), std::string::npos) << flags;
  EXPECT_NE(flags.find("FIN"), std::string::npos) << flags;
  EXPECT_TRUE(udp_echo);
}

TEST_F(ReplayTest, AnotherSeedChangesTheStacksRandomChoices) {
  const std::string out = temp("seed2.pcap");
  ReplayOptions o = options(data_path("http_session.pcap"), out);
  o.stack.seed = 2;
  std::string message;
  ASSERT_TRUE(replay_capture(o, &message)) << message;
  auto diff = diff_captures(out, data_path("http_session.golden.pcap"), &message);
  ASSERT_TRUE(diff) << message;
  ASSERT_TRUE(*diff);
  // The two ARP frames carry nothing random; the SYN-ACK (frame 3) is the first frame with
  // fields drawn from the seed (IP ID, ISN, TCP timestamp offset).
  EXPECT_EQ((*diff)->rfind("frame 3: ", 0), 0u) << **diff;
}

TEST_F(ReplayTest, ModifiedGoldenReportsFrameLayerFieldExpectedAndGot) {
  auto golden = read_records(data_path("http_session.golden.pcap"));
  // The first TCP frame the stack sent: change its acknowledgment number.
  size_t index = 0;
  uint32_t ack = 0;
  for (; index < golden.size(); ++index) {
    auto fields = decode_frame(golden[index].bytes);
    auto it = std::find_if(fields.begin(), fields.end(),
                           [](const FrameField& f) { return f.name == "tcp.ack"; });
    if (it != fields.end()) {
      ack = static_cast<uint32_t>(std::stoul(it->value));
      break;
    }
  }
  ASSERT_LT(index, golden.size());
  // tcp.ack is bytes 8..11 of the TCP header after a 20-byte IPv4 header.
  const size_t off = 14 + 20 + 8;
  const uint32_t changed = ack + 448;
  for (int i = 0; i < 4; ++i) {
    golden[index].bytes[off + static_cast<size_t>(i)] =
        std::byte(static_cast<uint8_t>(changed >> (24 - 8 * i)));
  }
  const std::string modified = temp("modified.pcap");
  write_records(modified, golden);

  const std::string out = replay(data_path("http_session.pcap"));
  std::string message;
  auto diff = diff_captures(out, modified, &message);
  ASSERT_TRUE(diff) << message;
  ASSERT_TRUE(*diff);
  EXPECT_EQ(**diff, "frame " + std::to_string(index + 1) + ": tcp.ack: expected " +
                        std::to_string(changed) + ", got " + std::to_string(ack));
}

TEST_F(ReplayTest, DiffReportsTimesPayloadBytesAndMissingFrames) {
  const std::string out = replay(data_path("http_session.pcap"));
  auto golden = read_records(out);
  ASSERT_GE(golden.size(), 3u);
  std::string message;

  auto later = golden;
  later[1].timestamp += 250us;
  const std::string timed = temp("timed.pcap");
  write_records(timed, later);
  auto d1 = diff_captures(out, timed, &message).value();
  ASSERT_TRUE(d1);
  EXPECT_EQ(d1->rfind("frame 2: time: expected ", 0), 0u) << *d1;

  auto fewer = golden;
  fewer.pop_back();
  const std::string short_golden = temp("fewer.pcap");
  write_records(short_golden, fewer);
  auto d2 = diff_captures(out, short_golden, &message).value();
  ASSERT_TRUE(d2);
  EXPECT_EQ(*d2, "frame " + std::to_string(golden.size()) + ": expected no frame, got one (" +
                     std::to_string(golden.size()) + " frames produced, " +
                     std::to_string(fewer.size()) + " in the golden capture)");

  // A payload byte: the last byte of the largest frame.
  size_t big = 0;
  for (size_t i = 0; i < golden.size(); ++i) {
    if (golden[i].bytes.size() > golden[big].bytes.size()) big = i;
  }
  auto payload = golden;
  payload[big].bytes.back() ^= std::byte{0xff};
  const std::string changed = temp("payload.pcap");
  write_records(changed, payload);
  auto d3 = diff_captures(out, changed, &message).value();
  ASSERT_TRUE(d3);
  EXPECT_NE(d3->find("frame " + std::to_string(big + 1) + ": tcp.payload["), std::string::npos)
      << *d3;
}

TEST_F(ReplayTest, BadInputIsAOneLineErrorNeverACrash) {
  std::string message;
  auto expect_error = [&](const std::string& in, const std::string& needle) {
    message.clear();
    auto result = replay_capture(options(in, temp("bad_out.pcap")), &message);
    EXPECT_FALSE(result) << in;
    EXPECT_NE(message.find(needle), std::string::npos) << message;
    EXPECT_EQ(message.find('\n'), std::string::npos) << message;
  };

  const std::string text = temp("text.pcap");
  std::ofstream(text) << "this is not a capture file\n";
  expect_error(text, "cannot read capture");
  expect_error("/nonexistent-dir/in.pcap", "/nonexistent-dir/in.pcap");

  const std::string runt = temp("runt.pcap");
  write_records(runt, {PcapRecord{1s, 10, std::vector<std::byte>(10)}});
  expect_error(runt, "frame 1 is 10 bytes, shorter than an Ethernet header");

  // A record whose original length exceeds what was captured (a short snap length).
  const std::string snapped = temp("snapped.pcap");
  write_records(snapped, {PcapRecord{1s, 60, std::vector<std::byte>(60)}});
  {
    auto bytes = file_bytes(snapped);
    bytes[24 + 12] = static_cast<char>(100);  // the first record's original length, LE
    std::ofstream(snapped, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  expect_error(snapped, "frame 1 was cut to 60 of 100 bytes");

  // Classic pcap stops at 2106; pcapng goes further: one 60-byte frame in the year ~2223.
  const std::string late = temp("late.pcapng");
  {
    std::vector<uint32_t> words = {0x0A0D0D0A, 28, 0x1A2B3C4D, 1,          0xFFFFFFFF, 0xFFFFFFFF,
                                   28,         1,  20,         DLT_EN10MB, 65535,      20};
    const uint64_t micros = uint64_t{8'000'000'000} * 1'000'000;
    const std::vector<uint32_t> epb = {
        6, 32 + 60, 0, static_cast<uint32_t>(micros >> 32), static_cast<uint32_t>(micros), 60, 60};
    words.insert(words.end(), epb.begin(), epb.end());
    for (int i = 0; i < 15; ++i) words.push_back(0);  // the 60 frame bytes
    words.push_back(32 + 60);
    std::ofstream out(late, std::ios::binary);
    for (uint32_t w : words) {
      for (int i = 0; i < 4; ++i) out.put(static_cast<char>(w >> (8 * i)));  // little-endian
    }
  }
  expect_error(late, "frame 1 has a timestamp after 2200");

  const std::string raw = temp("raw.pcap");
  write_records(raw, {PcapRecord{1s, 20, std::vector<std::byte>(20)}}, DLT_RAW);
  expect_error(raw, "replay needs an Ethernet capture");

  auto golden = read_records(data_path("http_session.pcap"));
  ASSERT_GE(golden.size(), 2u);
  const std::string cut = temp("cut.pcap");
  write_records(cut, golden);
  auto bytes = file_bytes(cut);
  bytes.resize(bytes.size() - 5);
  std::ofstream(cut, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  expect_error(cut, "record " + std::to_string(golden.size()) + " is damaged");

  ReplayOptions zero = options(data_path("http_session.pcap"), temp("z.pcap"));
  zero.stack.seed = 0;
  EXPECT_FALSE(replay_capture(zero, &message));
  EXPECT_NE(message.find("--seed"), std::string::npos) << message;

  auto unwritable =
      replay_capture(options(data_path("http_session.pcap"), "/nonexistent-dir/o.pcap"), &message);
  EXPECT_FALSE(unwritable);
  EXPECT_NE(message.find("/nonexistent-dir/o.pcap"), std::string::npos) << message;
}

// Malformed frames inside a good capture are the stack's business: dropped and counted, and
// the replay goes on.
TEST_F(ReplayTest, MalformedFramesAreDroppedByTheStackNotFatal) {
  auto records = read_records(data_path("http_session.pcap"));
  ASSERT_GE(records.size(), 2u);
  PcapRecord junk{records.front().timestamp, 20, std::vector<std::byte>(20, std::byte{0xff})};
  // For our MAC, IPv4, a version nibble of 0 and nothing else that makes sense.
  std::vector<std::byte> bad_ip(60, std::byte{0});
  for (size_t i = 0; i < 6; ++i) bad_ip[i] = std::byte(kServerMac.bytes()[i]);
  bad_ip[12] = std::byte{0x08};
  records.insert(records.begin() + 1, PcapRecord{records.front().timestamp, 60, bad_ip});
  records.insert(records.begin() + 1, junk);
  const std::string in = temp("junk.pcap");
  write_records(in, records);
  const std::string out = temp("out.pcap");
  std::string message;
  auto result = replay_capture(options(in, out), &message);
  ASSERT_TRUE(result) << message;
  std::string drops;
  for (const auto& [name, value] : result->drops) drops += name + "=" + std::to_string(value) + " ";
  // The IPv4 layer counted the bad version; the replay went on to the same answers.
  EXPECT_NE(drops.find("ipv4."), std::string::npos) << drops;
  auto diff = diff_captures(out, data_path("http_session.golden.pcap"), &message);
  ASSERT_TRUE(diff) << message;
  EXPECT_EQ(*diff, std::nullopt) << **diff;
}

// --fix-checksums: unfinished TCP/UDP sums (as a sender with checksum offload leaves them) are
// filled in, right sums stay, and what has no sum to fix is left alone.
TEST(FixChecksumTest, FillsTcpAndUdpSumsAndLeavesTheRest) {
  std::vector<PcapRecord> frames;
  for (const char* name : {"http_session.pcap", "http_session.golden.pcap"}) {
    for (auto& r : read_records(data_path(name))) frames.push_back(std::move(r));
  }
  size_t tcp = 0;
  size_t udp = 0;
  for (auto& r : frames) {
    const auto original = r.bytes;
    EXPECT_FALSE(fix_transport_checksum(r.bytes));  // already right
    EXPECT_EQ(r.bytes, original);
    const auto fields = decode_frame(r.bytes);
    auto has = [&](const char* name) {
      return std::any_of(fields.begin(), fields.end(),
                         [&](const FrameField& f) { return f.name == name; });
    };
    if (!has("tcp.checksum") && !has("udp.checksum")) continue;
    const size_t field = 14 + 20 + (has("tcp.checksum") ? 16 : 6);
    (has("tcp.checksum") ? tcp : udp)++;
    r.bytes[field] = std::byte{0x12};  // a partial sum, as offload leaves it
    r.bytes[field + 1] = std::byte{0x34};
    EXPECT_TRUE(fix_transport_checksum(r.bytes));
    EXPECT_EQ(r.bytes, original);
  }
  EXPECT_GT(tcp, 10u);
  EXPECT_EQ(udp, 3u);  // the echo request and answer in the capture, the answer in the golden

  // IPv4 UDP without a checksum (zero) keeps none; a fragment is not touched.
  std::vector<std::byte> frame(14 + 20 + 8 + 4, std::byte{0});
  frame[12] = std::byte{0x08};
  frame[14] = std::byte{0x45};
  frame[14 + 3] = std::byte{32};  // total length 32
  frame[14 + 9] = std::byte{17};
  const auto no_sum = frame;
  EXPECT_FALSE(fix_transport_checksum(frame));
  EXPECT_EQ(frame, no_sum);
  frame[14 + 9] = std::byte{6};
  frame.resize(14 + 40);
  frame[14 + 3] = std::byte{40};
  frame[14 + 6] = std::byte{0x20};  // more fragments
  const auto fragment = frame;
  EXPECT_FALSE(fix_transport_checksum(frame));
  EXPECT_EQ(frame, fragment);
}

TEST(DecodeFrameTest, ShortAndOddFramesDecodeWithoutReadingPastTheEnd) {
  EXPECT_EQ(decode_frame({}).back().name, "eth.truncated");
  std::vector<std::byte> frame(14 + 8, std::byte{0});
  frame[12] = std::byte{0x08};  // IPv4, cut inside the header
  EXPECT_EQ(decode_frame(frame).back().name, "ip.truncated");
  frame.assign(14 + 20 + 4, std::byte{0});
  frame[12] = std::byte{0x08};
  frame[14] = std::byte{0x4f};  // IHL 60 bytes, past the end
  frame[14 + 9] = std::byte{6};
  const auto fields = decode_frame(frame);
  EXPECT_EQ(fields.back().name, "ip.payload");
}

}  // namespace
}  // namespace weir::tools
