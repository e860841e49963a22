#include "tcp/wire.h"

#include <gtest/gtest.h>

#include <vector>

#include "stack/checksum.h"

#include "tests/testing/testing.h"

namespace weir::tcp {
namespace {

using weir::testing::bytes_of;

TEST(TcpWire, ParsesFixedHeader) {
  auto b = bytes_of({0x04, 0xd2, 0x00, 0x50, 0,    0,    0,    1, 0, 0,   0,
                     2,    0x50, 0x12, 0xff, 0xff, 0x12, 0x34, 0, 0, 'h', 'i'});
  auto seg = Segment::parse(b);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(seg->source_port(), 1234);
  EXPECT_EQ(seg->destination_port(), 80);
  EXPECT_EQ(seg->seq(), SeqNum(1));
  EXPECT_EQ(seg->ack(), SeqNum(2));
  EXPECT_EQ(seg->flags(), kSyn | kAck);
  EXPECT_EQ(seg->window(), 0xffff);
  EXPECT_EQ(seg->header_length(), 20u);
  EXPECT_EQ(seg->payload().size(), 2u);
}

TEST(TcpWire, RejectsShortAndBadOffsets) {
  EXPECT_FALSE(Segment::parse(bytes_of({0, 1, 2})).ok());
  auto b = bytes_of({0, 1, 0, 2, 0, 0, 0, 1, 0, 0, 0, 2, 0x40, 0x02, 0, 0, 0, 0, 0, 0});
  EXPECT_FALSE(Segment::parse(b).ok());  // data offset 16 < 20
  b[12] = std::byte{0x60};               // 24 > 20 bytes available
  EXPECT_FALSE(Segment::parse(b).ok());
}

TEST(TcpWire, OptionsRoundTrip) {
  Options o;
  o.mss = 1460;
  o.window_scale = 7;
  o.sack_permitted = true;
  o.timestamps = Timestamps{123, 456};
  std::vector<std::byte> buf(options_length(o));
  EXPECT_EQ(buf.size() % 4, 0u);
  write_options(buf, o);
  Options p = parse_options(buf);
  EXPECT_FALSE(p.malformed);
  EXPECT_EQ(p.mss, o.mss);
  EXPECT_EQ(p.window_scale, o.window_scale);
  EXPECT_TRUE(p.sack_permitted);
  EXPECT_EQ(p.timestamps, o.timestamps);
}

// NOP NOP TS, the established layout, is read in one step: to the same result as the walk,
// which still reads those bytes when anything else follows, and any near miss.
TEST(TcpWire, TimestampsOnlyLayoutParsesAsTheWalkDoes) {
  Options o;
  o.timestamps = Timestamps{0x01020304, 0xa0b0c0d0};
  std::vector<std::byte> buf(options_length(o));
  ASSERT_EQ(buf.size(), 12u);
  write_options(buf, o);
  std::vector<std::byte> padded = buf;
  for (uint8_t b : {1, 1, 1, 0}) padded.push_back(std::byte{b});
  for (const auto& bytes : {buf, padded}) {
    Options p = parse_options(bytes);
    EXPECT_FALSE(p.malformed);
    EXPECT_EQ(p.timestamps, o.timestamps);
    EXPECT_FALSE(p.mss.has_value());
    EXPECT_FALSE(p.window_scale.has_value());
    EXPECT_FALSE(p.sack_permitted);
    EXPECT_EQ(p.sack_block_count, 0u);
  }
  // A timestamps option of the wrong length is flagged, not read.
  std::vector<std::byte> bad = buf;
  bad[3] = std::byte{9};
  Options p = parse_options(bad);
  EXPECT_TRUE(p.malformed);
  EXPECT_FALSE(p.timestamps.has_value());
}

TEST(TcpWire, SackBlocksLimitedByOptionSpace) {
  Options o;
  o.timestamps = Timestamps{1, 2};
  for (uint32_t i = 0; i < 4; ++i) o.add_sack({SeqNum(100 * i), SeqNum(100 * i + 50)});
  EXPECT_LE(options_length(o), kMaxOptionsLength);
  std::vector<std::byte> buf(options_length(o));
  write_options(buf, o);
  Options p = parse_options(buf);
  EXPECT_EQ(p.sack_block_count, 3);  // 10 + 2 + 2 + 3*8 = 38 bytes; a fourth does not fit
  o.timestamps.reset();
  buf.assign(options_length(o), std::byte{0});
  write_options(buf, o);
  EXPECT_EQ(parse_options(buf).sack_block_count, 4);
}

TEST(TcpWire, UnknownOptionsSkipped) {
  auto b = bytes_of({99, 4, 0xaa, 0xbb, 2, 4, 0x05, 0xb4, 1, 0});
  Options p = parse_options(b);
  EXPECT_FALSE(p.malformed);
  EXPECT_EQ(p.mss, 1460);
}

TEST(TcpWire, MalformedOptionsStopSafely) {
  // Length 0, length 1, and a length running past the end.
  for (auto b : {bytes_of({2, 0, 5, 0xb4}), bytes_of({8, 1, 0, 0}),
                 bytes_of({2, 4, 5, 0xb4, 8, 10, 0, 0}), bytes_of({3})}) {
    Options p = parse_options(b);
    EXPECT_TRUE(p.malformed);
  }
  // Wrong fixed length for a known kind: flagged, ignored, walk continues.
  Options p = parse_options(bytes_of({2, 3, 5, 3, 3, 7}));
  EXPECT_TRUE(p.malformed);
  EXPECT_FALSE(p.mss.has_value());
  EXPECT_EQ(p.window_scale, 7);
}

TEST(TcpWire, BuildSegmentChecksums) {
  SegmentHeader h;
  h.source_port = 1;
  h.destination_port = 2;
  h.seq = SeqNum(10);
  h.flags = kSyn;
  h.options.mss = 1460;
  IpAddress a = Ipv4Address(10, 0, 0, 1);
  IpAddress b = Ipv4Address(10, 0, 0, 2);
  PacketBuffer pkt = build_segment(h, PacketBuffer::from_bytes(as_bytes("payload")), a, b);
  EXPECT_TRUE(checksum_valid(pkt, a, b));
  EXPECT_FALSE(checksum_valid(pkt, a, Ipv4Address(10, 0, 0, 3)));
  auto bytes = pkt.to_vector();
  auto seg = Segment::parse(bytes);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(seg->header_length(), 24u);
  EXPECT_EQ(seg->options().mss, 1460);
  EXPECT_EQ(seg->payload().size(), 7u);
}

// A small payload is copied in behind the header (one contiguous slice); a larger one is
// shared, not copied; both checksum the same way, offloaded or not.
TEST(TcpWire, SmallPayloadsJoinTheHeaderLargeOnesAreShared) {
  SegmentHeader h;
  h.source_port = 1;
  h.destination_port = 2;
  h.seq = SeqNum(10);
  h.flags = kAck | kPsh;
  IpAddress a = Ipv4Address(10, 0, 0, 1);
  IpAddress b = Ipv4Address(10, 0, 0, 2);
  PacketBuffer small = build_segment(h, PacketBuffer::from_bytes(as_bytes("x")), a, b);
  EXPECT_EQ(small.view_count(), 1u);
  EXPECT_EQ(small.size(), 21u);
  EXPECT_TRUE(checksum_valid(small, a, b));

  std::vector<std::byte> body(1000, std::byte{7});
  PacketBuffer payload = PacketBuffer::from_bytes(body, 0);
  const Chunk* body_chunk = payload.front_chunk();
  PacketBuffer large = build_segment(h, std::move(payload), a, b);
  EXPECT_EQ(large.view_count(), 2u);
  EXPECT_EQ(large.back_chunk(), body_chunk);
  EXPECT_TRUE(checksum_valid(large, a, b));

  PacketBuffer offloaded =
      build_segment_offloaded(h, PacketBuffer::from_bytes(as_bytes("x")), a, b);
  EXPECT_EQ(offloaded.view_count(), 1u);
  EXPECT_TRUE(offloaded.meta().needs_checksum);
  finish_offloaded_checksum(offloaded, 20);
  EXPECT_TRUE(checksum_valid(offloaded, a, b));
}

// What an established connection's data segment carries: ACK, PSH, a window and timestamps.
SegmentHeader established_data_header() {
  SegmentHeader h;
  h.source_port = 0x1234;
  h.destination_port = 80;
  h.seq = SeqNum(0xA0B0C0D0);
  h.ack = SeqNum(7);
  h.flags = kAck | kPsh;
  h.window = 1000;
  h.options.timestamps = Timestamps{0x01020304, 0x05060708};
  return h;
}

TEST(TcpWire, CopyingBuildMatchesTheBuildOfAPacketPayload) {
  const SegmentHeader h = established_data_header();
  IpAddress a = Ipv4Address(10, 0, 0, 1);
  IpAddress b = Ipv4Address(10, 0, 0, 2);
  const ByteView body = as_bytes("a small request");
  PacketBuffer copied = build_segment_copying(h, body, a, b, false);
  PacketBuffer built = build_segment(h, PacketBuffer::from_bytes(body), a, b);
  EXPECT_EQ(copied.view_count(), 1u);
  EXPECT_EQ(copied.to_vector(), built.to_vector());
  EXPECT_TRUE(checksum_valid(copied, a, b));

  PacketBuffer offloaded = build_segment_copying(h, body, a, b, true);
  PacketBuffer offloaded_built = build_segment_offloaded(h, PacketBuffer::from_bytes(body), a, b);
  EXPECT_EQ(offloaded.to_vector(), offloaded_built.to_vector());
  EXPECT_TRUE(offloaded.meta().needs_checksum);
  EXPECT_EQ(offloaded.meta().csum_start, offloaded_built.meta().csum_start);
  EXPECT_EQ(offloaded.meta().csum_offset, offloaded_built.meta().csum_offset);
  finish_offloaded_checksum(offloaded, 20);
  EXPECT_TRUE(checksum_valid(offloaded, a, b));
}

TEST(TcpWire, TimestampsOnlyHeaderIsLaidOutAsWriteOptionsDoes) {
  const SegmentHeader h = established_data_header();
  ASSERT_EQ(header_length(h), 32u);
  std::vector<std::byte> out(32, std::byte{0xee});
  write_header(out, h);
  std::vector<std::byte> options(12);
  write_options(options, h.options);
  EXPECT_TRUE(std::equal(options.begin(), options.end(), out.begin() + 20));
  EXPECT_EQ(out[12], std::byte{0x80});  // data offset 8 words
  EXPECT_EQ(out[16], std::byte{0});     // checksum left zero
  EXPECT_EQ(out[17], std::byte{0});
  auto seg = Segment::parse(out);
  ASSERT_TRUE(seg.ok());
  EXPECT_EQ(seg->seq(), SeqNum(0xA0B0C0D0));
  Options parsed = parse_options(ByteView(out).subspan(20));
  ASSERT_TRUE(parsed.timestamps.has_value());
  EXPECT_EQ(parsed.timestamps->value, 0x01020304u);
  EXPECT_EQ(parsed.timestamps->echo, 0x05060708u);
}

TEST(TcpWire, FlagsToString) {
  EXPECT_EQ(flags_to_string(kSyn | kAck), "SA");
  EXPECT_EQ(flags_to_string(0), ".");
}

}  // namespace
}  // namespace weir::tcp
