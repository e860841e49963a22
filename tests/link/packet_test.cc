// The AF_PACKET endpoint without the kernel: option checks and their messages, and the ring
// header parsers fed blocks built here, honest and lying. The endpoint against a real veth is
// in tests/linux/packet_linux_test.cc.
#include "link/packet.h"

#include <gtest/gtest.h>
#include <linux/if_packet.h>

#include <cstddef>
#include <cstring>
#include <string>
#include <vector>

namespace weir::link {
namespace {

Result<std::unique_ptr<PacketSocketEndpoint>> open_with(const PacketSocketOptions& options,
                                                        std::string& message) {
  return PacketSocketEndpoint::open(options, &message);
}

TEST(PacketOpen, RejectsBadInterfaceNames) {
  std::string message;
  auto ep = open_with({.interface = "a-name-that-is-too-long"}, message);
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error(), Error::kInvalidArgument);
  EXPECT_EQ(message, "packet: interface name 'a-name-that-is-too-long' must be 1 to 15 characters");
  EXPECT_FALSE(open_with({.interface = ""}, message));
}

TEST(PacketOpen, RejectsMulticastAndZeroMac) {
  std::string message;
  auto ep =
      open_with({.interface = "veth0", .mac = *MacAddress::parse("01:00:5e:00:00:01")}, message);
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error(), Error::kInvalidArgument);
  EXPECT_EQ(message, "packet: MAC 01:00:5e:00:00:01 is not a unicast address");
  EXPECT_FALSE(open_with({.interface = "veth0", .mac = MacAddress()}, message));
}

TEST(PacketOpen, RejectsBadRingGeometry) {
  std::string message;
  EXPECT_FALSE(open_with({.interface = "veth0", .rx_block_size = 5000}, message));
  EXPECT_NE(message.find("receive block size 5000 must be a multiple of the page size"),
            std::string::npos)
      << message;
  EXPECT_FALSE(open_with({.interface = "veth0", .rx_block_count = 1}, message));
  EXPECT_NE(message.find("receive block count 1 must be 2 to 4096"), std::string::npos) << message;
  EXPECT_FALSE(
      open_with({.interface = "veth0", .rx_block_size = 1u << 26, .rx_block_count = 64}, message));
  EXPECT_NE(message.find("over 1 GiB"), std::string::npos) << message;
  EXPECT_FALSE(open_with({.interface = "veth0", .rx_block_timeout_ms = 0}, message));
  EXPECT_NE(message.find("timeout 0 ms must be 1 to 1000 ms"), std::string::npos) << message;
  EXPECT_FALSE(open_with({.interface = "veth0", .tx_frame_count = 3}, message));
  EXPECT_NE(message.find("transmit ring of 3 frames"), std::string::npos) << message;
}

// Needs no privilege: the name is resolved before the socket is made.
TEST(PacketOpen, MissingInterfaceIsNoDevice) {
  std::string message;
  auto ep = open_with({.interface = "weirnosuch0"}, message);
  ASSERT_FALSE(ep);
  EXPECT_EQ(ep.error(), Error::kNoDevice);
  EXPECT_EQ(message,
            "packet: no interface named 'weirnosuch0'; create it first (e.g. ip link add "
            "weirnosuch0 type veth peer name PEER)");
}

TEST(PacketOpen, BadNamespacePathSaysWhich) {
  std::string message;
  auto ep = open_with({.interface = "veth0", .netns = "/nonexistent/netns"}, message);
  ASSERT_FALSE(ep);
  EXPECT_NE(message.find("packet: cannot open network namespace '/nonexistent/netns'"),
            std::string::npos)
      << message;
}

// A TPACKET_V3 block as the kernel lays it out, built field by field.
class RingBlock {
 public:
  explicit RingBlock(size_t size = 4096) : bytes_(size) {}

  void header(uint32_t status, uint32_t frames, uint32_t first, uint32_t used) {
    put32(offsetof(tpacket_block_desc, hdr.bh1.block_status), status);
    put32(offsetof(tpacket_block_desc, hdr.bh1.num_pkts), frames);
    put32(offsetof(tpacket_block_desc, hdr.bh1.offset_to_first_pkt), first);
    put32(offsetof(tpacket_block_desc, hdr.bh1.blk_len), used);
  }
  // A frame at `at` whose bytes (`payload`) start `mac` bytes in; returns where it ends.
  size_t frame(size_t at, uint16_t mac, const std::vector<std::byte>& payload, uint32_t next,
               uint8_t pkttype = PACKET_HOST, uint32_t wire_length = 0) {
    put32(at + offsetof(tpacket3_hdr, tp_next_offset), next);
    put32(at + offsetof(tpacket3_hdr, tp_snaplen), static_cast<uint32_t>(payload.size()));
    put32(at + offsetof(tpacket3_hdr, tp_len),
          wire_length != 0 ? wire_length : static_cast<uint32_t>(payload.size()));
    put32(at + offsetof(tpacket3_hdr, tp_status), TP_STATUS_USER);
    std::memcpy(&bytes_[at + offsetof(tpacket3_hdr, tp_mac)], &mac, sizeof mac);
    bytes_[at + TPACKET_ALIGN(sizeof(tpacket3_hdr)) + offsetof(sockaddr_ll, sll_pkttype)] =
        std::byte{pkttype};
    std::memcpy(&bytes_[at + mac], payload.data(), payload.size());
    return at + mac + payload.size();
  }
  ByteView view() const { return bytes_; }

 private:
  void put32(size_t offset, uint32_t v) { std::memcpy(&bytes_[offset], &v, sizeof v); }
  std::vector<std::byte> bytes_;
};

std::vector<std::byte> payload(size_t n, uint8_t seed) {
  std::vector<std::byte> p(n);
  for (size_t i = 0; i < n; ++i) p[i] = std::byte(static_cast<uint8_t>(seed + i));
  return p;
}

constexpr size_t kFirst = 48;  // behind the block header, as the kernel puts it
constexpr uint16_t kMac = 82;  // behind tpacket3_hdr + sockaddr_ll, as the kernel puts it

TEST(PacketRing, ParsesAnHonestBlockOfTwoFrames) {
  RingBlock block;
  const auto a = payload(60, 1);
  const auto b = payload(100, 9);
  const size_t second = 256;
  block.frame(kFirst, kMac, a, static_cast<uint32_t>(second - kFirst));
  const size_t end = block.frame(second, kMac, b, 0, PACKET_OUTGOING);
  block.header(TP_STATUS_USER, 2, kFirst, static_cast<uint32_t>(end));

  auto h = parse_ring_block(block.view());
  ASSERT_TRUE(h);
  EXPECT_EQ(h->status, uint32_t{TP_STATUS_USER});
  EXPECT_EQ(ring_block_status(block.view()), uint32_t{TP_STATUS_USER});
  EXPECT_EQ(h->frame_count, 2u);
  auto f1 = parse_ring_frame(block.view(), h->used_length, h->first_frame_offset);
  ASSERT_TRUE(f1);
  EXPECT_EQ(f1->packet_type, PACKET_HOST);
  EXPECT_EQ(f1->wire_length, 60u);
  EXPECT_TRUE(std::equal(f1->bytes.begin(), f1->bytes.end(), a.begin(), a.end()));
  auto f2 = parse_ring_frame(block.view(), h->used_length, kFirst + f1->next_offset);
  ASSERT_TRUE(f2);
  EXPECT_EQ(f2->packet_type, PACKET_OUTGOING);
  EXPECT_EQ(f2->next_offset, 0u);
  EXPECT_TRUE(std::equal(f2->bytes.begin(), f2->bytes.end(), b.begin(), b.end()));
}

TEST(PacketRing, RefusesBlockHeadersThatLie) {
  RingBlock block;
  block.header(TP_STATUS_USER, 1, kFirst, 5000);  // used length past the block
  EXPECT_FALSE(parse_ring_block(block.view()));
  block.header(TP_STATUS_USER, 1, 8, 4096);  // first frame inside the block header
  EXPECT_FALSE(parse_ring_block(block.view()));
  block.header(TP_STATUS_USER, 1, 4090, 4096);  // first frame with no room for its header
  EXPECT_FALSE(parse_ring_block(block.view()));
  block.header(TP_STATUS_USER, 0, 0, 48);  // an empty block is fine
  EXPECT_TRUE(parse_ring_block(block.view()));
  EXPECT_FALSE(parse_ring_block(block.view().first(20)));  // shorter than a block header
}

TEST(PacketRing, RefusesFrameHeadersThatLie) {
  const auto p = payload(64, 3);
  {
    RingBlock block;  // bytes past the used part of the block
    const size_t end = block.frame(kFirst, kMac, p, 0);
    EXPECT_TRUE(parse_ring_frame(block.view(), end, kFirst));
    EXPECT_FALSE(parse_ring_frame(block.view(), end - 1, kFirst));
  }
  {
    RingBlock block;  // a MAC offset inside the frame's own header
    const size_t end = block.frame(kFirst, 20, p, 0);
    EXPECT_FALSE(parse_ring_frame(block.view(), end, kFirst));
  }
  {
    RingBlock block;  // a next frame that overlaps this one's bytes
    block.frame(kFirst, kMac, p, 40);
    EXPECT_FALSE(parse_ring_frame(block.view(), 4096, kFirst));
  }
  {
    RingBlock block;  // a next frame past the used part
    const size_t end = block.frame(kFirst, kMac, p, 4000);
    EXPECT_FALSE(parse_ring_frame(block.view(), end + 100, kFirst));
  }
  {
    RingBlock block;  // a frame offset past the block, or with no room for a header
    EXPECT_FALSE(parse_ring_frame(block.view(), 4096, 5000));
    EXPECT_FALSE(parse_ring_frame(block.view(), 4096, 4090));
    EXPECT_FALSE(parse_ring_frame(block.view(), 5000, kFirst));  // used length past the block
  }
  {
    RingBlock block;  // a snap length that runs off the block
    block.frame(kFirst, kMac, p, 0);
    const uint32_t huge = 0xfffffff0;
    std::vector<std::byte> bytes(block.view().begin(), block.view().end());
    std::memcpy(&bytes[kFirst + offsetof(tpacket3_hdr, tp_snaplen)], &huge, sizeof huge);
    EXPECT_FALSE(parse_ring_frame(bytes, bytes.size(), kFirst));
  }
}

}  // namespace
}  // namespace weir::link
