// fuzzing::read_frames (fuzz/frame_reader.h), which the frame fuzz targets read what a stack
// sent with instead of FramePeer::read_all: it must hand over the same frames, byte for byte and
// in order, although it reads every one into the same buffer.
#include <gtest/gtest.h>

#include <cstddef>
#include <span>
#include <vector>

#include "fuzz/frame_reader.h"
#include "link/channel.h"
#include "stack/bytes.h"
#include "stack/packet_buffer.h"

namespace weir {
namespace {

// A frame of `size` bytes counting up from `seed`, in two slices so it is not contiguous.
PacketBuffer frame(size_t size, uint8_t seed) {
  std::vector<std::byte> bytes(size);
  for (size_t i = 0; i < size; ++i) bytes[i] = std::byte(static_cast<uint8_t>(seed + i));
  PacketBuffer pkt = PacketBuffer::from_bytes(ByteView(bytes).first(size / 2));
  pkt.append(ByteView(bytes).subspan(size / 2));
  return pkt;
}

// Writes packets of `sizes` into the stack's end of a fresh pair (which puts an Ethernet header
// on each) and returns its peer.
std::unique_ptr<link::FramePeer> sent(const std::vector<size_t>& sizes,
                                      std::unique_ptr<link::ChannelEndpoint>& endpoint) {
  auto pair = link::ChannelEndpoint::make_test_pair();
  endpoint = std::move(pair.endpoint);
  std::vector<PacketBuffer> frames;
  for (size_t i = 0; i < sizes.size(); ++i) {
    frames.push_back(frame(sizes[i], static_cast<uint8_t>(i * 7)));
  }
  EXPECT_EQ(endpoint->write_packets(frames).value(), sizes.size());
  return std::move(pair.peer);
}

TEST(FrameReaderTest, HandsOverWhatReadAllWould) {
  // Large first, so the later frames are read into a buffer longer than they are.
  const std::vector<size_t> sizes = {1500, 60, 0, 900, 64, 1500, 42};
  std::unique_ptr<link::ChannelEndpoint> a;
  std::unique_ptr<link::ChannelEndpoint> b;
  auto expected_peer = sent(sizes, a);
  auto peer = sent(sizes, b);

  const std::vector<std::vector<std::byte>> expected = expected_peer->read_all();
  ASSERT_EQ(expected.size(), sizes.size());
  std::vector<std::vector<std::byte>> got;
  const size_t total = fuzzing::read_frames(
      *peer, [&](ByteView f) { got.emplace_back(f.begin(), f.end()); });

  EXPECT_EQ(got, expected);
  size_t expected_total = 0;
  for (const auto& f : expected) expected_total += f.size();
  EXPECT_EQ(total, expected_total);
  EXPECT_EQ(peer->pending(), 0u);
  // Nothing left: a second read finds nothing.
  EXPECT_EQ(fuzzing::read_frames(*peer), 0u);
}

}  // namespace
}  // namespace weir
