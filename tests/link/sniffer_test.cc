#include "link/sniffer.h"

#include <gtest/gtest.h>
#include <pcap/pcap.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "link/channel.h"
#include "link/ethernet.h"
#include "tests/link/recording_dispatcher.h"
#include "tests/testing/testing.h"

namespace weir::link {
namespace {

using namespace std::chrono_literals;
using testing::make_packet;
using testing::RecordingDispatcher;
using testing::tag_of;
using weir::testing::bytes_of;

struct Record {
  std::vector<std::byte> bytes;
  int64_t sec = 0;
  int64_t nsec = 0;
};

struct Capture {
  int linktype = -1;
  std::vector<Record> records;
};

Capture read_capture(const std::string& path) {
  char err[PCAP_ERRBUF_SIZE] = {};
  Capture capture;
  pcap_t* p =
      pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO, err);
  EXPECT_NE(p, nullptr) << err;
  if (p == nullptr) return capture;
  capture.linktype = pcap_datalink(p);
  pcap_pkthdr* hdr = nullptr;
  const u_char* data = nullptr;
  while (pcap_next_ex(p, &hdr, &data) == 1) {
    Record r;
    r.bytes = to_byte_vector(std::as_bytes(std::span(data, hdr->caplen)));
    r.sec = hdr->ts.tv_sec;
    r.nsec = hdr->ts.tv_usec;
    capture.records.push_back(std::move(r));
  }
  pcap_close(p);
  return capture;
}

class SnifferTest : public ::testing::Test {
 protected:
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_ = ::testing::TempDir() + "weir_sniffer_" + std::to_string(::getpid()) + "_" +
                      ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".pcap";
  ManualClock clock_;
};

TEST_F(SnifferTest, RecordsBothDirectionsInOrderAsOnTheWire) {
  ChannelOptions options;
  auto [endpoint, peer] = ChannelEndpoint::make_test_pair(options);
  ChannelEndpoint& inner = *endpoint;
  std::string message;
  auto sniffer = SnifferEndpoint::create(std::move(endpoint), path_, clock_,
                                         PcapTimestamps::kStackClock, &message);
  ASSERT_TRUE(sniffer) << message;
  RecordingDispatcher rx;
  (*sniffer)->attach(&rx);
  EXPECT_EQ((*sniffer)->link_address(), options.mac_a);
  EXPECT_EQ((*sniffer)->max_header_length(), 14);

  // Out: two frames at t0.
  std::vector<PacketBuffer> out;
  out.push_back(make_packet(1, 60, kEtherTypeIpv4, options.mac_b));
  out.push_back(make_packet(2, 42, kEtherTypeArp, MacAddress::broadcast()));
  ASSERT_EQ((*sniffer)->write_packets(out).value(), 2u);
  // In: one frame at t0 + 1.5 ms, and one for another host that the link drops.
  clock_.advance(1500us);
  const auto in = build_ethernet_frame(options.mac_a, options.mac_b, kEtherTypeIpv6,
                                       make_packet(3, 80).to_vector());
  ASSERT_TRUE(peer->inject(in));
  ASSERT_TRUE(peer->inject(build_ethernet_frame(MacAddress({2, 7, 7, 7, 7, 7}), options.mac_b,
                                                kEtherTypeIpv4, bytes_of({0x45}))));
  ASSERT_EQ(rx.packets.size(), 1u);
  EXPECT_EQ(tag_of(rx.packets[0].to_vector()), 3u);
  EXPECT_EQ(inner.counters().rx_drop_other_host, 1u);
  ASSERT_TRUE((*sniffer)->flush());
  EXPECT_EQ((*sniffer)->counters().tx_captured, 2u);
  EXPECT_EQ((*sniffer)->counters().rx_captured, 1u);

  Capture capture = read_capture(path_);
  EXPECT_EQ(capture.linktype, DLT_EN10MB);
  ASSERT_EQ(capture.records.size(), 3u);
  // The records are byte for byte the frames on the wire, in order.
  auto wire = peer->read_all();
  ASSERT_EQ(wire.size(), 2u);
  EXPECT_EQ(capture.records[0].bytes, wire[0]);
  EXPECT_EQ(capture.records[1].bytes, wire[1]);
  EXPECT_EQ(capture.records[2].bytes, in);
  EXPECT_EQ(wire[0], build_ethernet_frame(options.mac_b, options.mac_a, kEtherTypeIpv4,
                                          make_packet(1, 60).to_vector()));
  EXPECT_EQ(wire[1], build_ethernet_frame(MacAddress::broadcast(), options.mac_a, kEtherTypeArp,
                                          make_packet(2, 42).to_vector()));
  // kStackClock: the ManualClock's reading as is (it starts at 1000 s).
  EXPECT_EQ(capture.records[0].sec, 1000);
  EXPECT_EQ(capture.records[0].nsec, 0);
  EXPECT_EQ(capture.records[2].sec, 1000);
  EXPECT_EQ(capture.records[2].nsec, 1'500'000);
}

// The default: wall-clock time (tshark shows today's date, not 1970), advancing exactly as the
// stack clock does, so the intervals between records are the stack's own.
TEST_F(SnifferTest, DefaultTimestampsAreWallClockTimeMovingWithTheStackClock) {
  using std::chrono::system_clock;
  auto [a, b] = ChannelEndpoint::make_pair();
  const auto before = system_clock::now().time_since_epoch();
  auto sniffer = SnifferEndpoint::create(std::move(a), path_, clock_).value();
  const auto after = system_clock::now().time_since_epoch();
  std::vector<PacketBuffer> out;
  out.push_back(make_packet(1, 60, kEtherTypeIpv4, MacAddress::broadcast()));
  ASSERT_EQ(sniffer->write_packets(out).value(), 1u);
  clock_.advance(2500ms);
  out.clear();  // write_packets moved the packets out
  out.push_back(make_packet(2, 60, kEtherTypeIpv4, MacAddress::broadcast()));
  ASSERT_EQ(sniffer->write_packets(out).value(), 1u);
  sniffer.reset();
  Capture capture = read_capture(path_);
  ASSERT_EQ(capture.records.size(), 2u);
  auto stamp = [](const Record& r) {
    return std::chrono::nanoseconds(std::chrono::seconds(r.sec)) + std::chrono::nanoseconds(r.nsec);
  };
  // The first record was stamped between the two realtime reads around create() (the
  // ManualClock did not move in between).
  EXPECT_GE(stamp(capture.records[0]), before);
  EXPECT_LE(stamp(capture.records[0]), after);
  EXPECT_EQ(stamp(capture.records[1]) - stamp(capture.records[0]), 2500ms);
}

TEST_F(SnifferTest, RawIpLinkIsCapturedAsDltRaw) {
  auto [a, b] = ChannelEndpoint::make_pair({.framing = Framing::kRawIp});
  auto sniffer = SnifferEndpoint::create(std::move(a), path_, clock_).value();
  std::vector<PacketBuffer> out;
  out.push_back(PacketBuffer::from_bytes(bytes_of({0x45, 0, 0, 4})));
  out[0].meta().network_protocol = kEtherTypeIpv4;
  ASSERT_EQ(sniffer->write_packets(out).value(), 1u);
  sniffer.reset();  // flushes and closes
  Capture capture = read_capture(path_);
  EXPECT_EQ(capture.linktype, DLT_RAW);
  ASSERT_EQ(capture.records.size(), 1u);
  EXPECT_EQ(capture.records[0].bytes, bytes_of({0x45, 0, 0, 4}));
}

TEST_F(SnifferTest, UnwritablePathFailsWithMessage) {
  auto [a, b] = ChannelEndpoint::make_pair();
  std::string message;
  auto sniffer =
      SnifferEndpoint::create(std::move(a), "/nonexistent-dir/x/y.pcap", clock_, &message);
  ASSERT_FALSE(sniffer);
  EXPECT_EQ(sniffer.error(), Error::kIo);
  EXPECT_NE(message.find("/nonexistent-dir/x/y.pcap"), std::string::npos) << message;
}

}  // namespace
}  // namespace weir::link
