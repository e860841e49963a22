// PacketSocketEndpoint: an existing Linux interface (for example one end of a veth pair) as a
// link, through an AF_PACKET socket with mmap'd rings. The stack is a separate host on that
// interface's wire, with its own MAC and addresses: not the interface's MAC, which stays the
// kernel's.
//
// Theory of operation. open() resolves the interface (optionally inside another network
// namespace: the namespace current at socket() decides which interfaces the socket can bind
// to, and the fd keeps working from ours afterwards, so open() enters it on this thread only
// for the setup calls, as TapEndpoint does). It makes one SOCK_RAW packet socket, switches it
// to TPACKET_V3, sets up both rings, maps them with one mmap() (owned by an RAII mapping),
// binds to the interface for every EtherType, and only then starts receiving, so no frame
// arrives before the ring exists.
//
// Receive: a TPACKET_V3 ring of blocks (PacketSocketOptions::rx_block_size × rx_block_count).
// The kernel fills a block with variable-length frames and hands it to us by setting
// TP_STATUS_USER in the block's status when it is full or when rx_block_timeout_ms has passed
// since its first frame (that timeout bounds the latency a lone ping sees). readable_fd() is
// the socket; it polls readable while a block is ours. process_receive(budget) walks the
// blocks in ring order from where it stopped, frame by frame, and hands each block back
// (TP_STATUS_KERNEL) as soon as all of its frames are delivered; when the budget runs out in
// the middle of a block it remembers the frame and resumes there. Ownership rule: a frame's
// bytes live in the block, and the kernel overwrites the block once it is handed back, so a
// frame must never outlive its block unless copied. The simple correct design, and the one
// used here, is to copy each frame into a Chunk of its own size (PacketBuffer::from_bytes)
// before delivery: the stack may then queue it as long as it likes, and a block is returned
// the moment its last frame is copied. Frames addressed to another unicast MAC are counted
// and skipped before the copy.
//
// The ring is memory the kernel writes while we read it. Its headers (tpacket_block_desc,
// tpacket3_hdr, the sockaddr_ll behind it) are never cast to: every field is loaded with
// memcpy from a bounds-checked span (parse_ring_block / parse_ring_frame below), the status
// word is read before, and written after, an acquire/release fence, and every offset and
// length a header claims is checked against its block and frame before it is followed. A
// header that lies (a frame outside its block, a next offset that goes backwards, a MAC
// offset inside the header) is counted under rx_drop_bad_ring_header and the rest of that
// block is dropped, never followed.
//
// Receive offloads. On veth the peer kernel hands frames over without finishing them: TCP from
// Linux is CHECKSUM_PARTIAL (TP_STATUS_CSUMNOTREADY) and, with TSO on the peer, unsegmented
// (up to 64 KiB, larger than the MTU). Both are built by the local kernel and never crossed a
// wire, so such frames are delivered with checksum_verified set, as the tap does with
// NEEDS_CSUM; a frame larger than the MTU is delivered whole and counted in rx_gso_frames. The
// block size bounds the largest frame; a frame the kernel had to cut (tp_snaplen < tp_len) is
// counted in rx_drop_truncated. Frames with a VLAN tag the kernel stripped
// (TP_STATUS_VLAN_VALID) are dropped (rx_drop_vlan), like tagged frames on any weir link.
//
// Transmit: a TPACKET_V3 TX ring (the socket has one version for both rings; V3 TX needs
// fixed-size frames, which is all a TX ring has anyway) of tx_frame_count slots, each big
// enough for the MTU plus the Ethernet header. write_packets() copies each frame into the next
// free slot (TP_STATUS_AVAILABLE), marks it TP_STATUS_SEND_REQUEST, and after the batch issues
// one send(MSG_DONTWAIT) that makes the kernel transmit every requested slot: one syscall per
// batch instead of one per frame, and no sk_buff queued per frame on our side. When the next
// slot is still in flight (the kernel has not released it), the ring is kicked once and, if it
// is still busy, the frame is dropped and counted in tx_drop_would_block (TCP retransmits).
// PACKET_QDISC_BYPASS sends straight to the driver (the stack does its own queueing and
// pacing); PACKET_LOSS makes the kernel skip a malformed slot instead of stopping the ring.
// No TX offloads: frames are at most the MTU and carry finished checksums.
//
// Addressing. The interface is put in promiscuous mode through PACKET_ADD_MEMBERSHIP
// PACKET_MR_PROMISC (the kernel counts promiscuity per membership and removes ours when the
// socket is closed), so frames for weir's MAC reach the socket; deliver_ethernet_frame()
// filters by destination as the tap does. Frames this host sends (PACKET_OUTGOING, ours or
// another socket's) are not delivered: PACKET_IGNORE_OUTGOING keeps them off the ring, and a
// frame marked outgoing that still arrives is counted in rx_drop_outgoing.
//
// Fanout. With PacketSocketOptions::fanout_group several sockets (one per loop, in one or many
// processes) join one PACKET_FANOUT group on the interface, and the kernel spreads received
// frames among them by flow hash, so each flow stays on one loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "link/link_counters.h"
#include "stack/bytes.h"
#include "stack/link_endpoint.h"
#include "stack/packet_buffer.h"
#include "stack/result.h"
#include "stack/unique_fd.h"

namespace weir::link {

struct PacketSocketOptions {
  std::string interface;          // an existing interface, e.g. one end of a veth pair
  std::optional<MacAddress> mac;  // weir's MAC; unset: random, locally administered
  // A network namespace file ("/var/run/netns/NAME", "/proc/PID/ns/net") the interface lives
  // in; empty: the calling thread's.
  std::string netns;
  bool bring_up = false;  // set the interface up (IFF_UP) if it is down
  // Join this PACKET_FANOUT group (hash mode) so several endpoints share the interface.
  std::optional<uint16_t> fanout_group;
  // Receive ring geometry. A block is a multiple of the page size and bounds the largest frame
  // received whole; the timeout is how long a partly filled block waits before it is ours.
  uint32_t rx_block_size = 1u << 20;
  uint32_t rx_block_count = 8;
  uint32_t rx_block_timeout_ms = 1;
  // Transmit ring slots, each holding one frame of up to the MTU.
  uint32_t tx_frame_count = 1024;
};

class PacketSocketEndpoint final : public LinkEndpoint {
 public:
  // On failure, *message (if given) is one line saying what was wrong and what to do.
  static Result<std::unique_ptr<PacketSocketEndpoint>> open(const PacketSocketOptions& options,
                                                            std::string* message = nullptr);

  class Mapping;  // the mmap'd rings (defined in packet.cc)
  class Key {
    friend class PacketSocketEndpoint;
    Key() = default;
  };
  struct Geometry {
    size_t rx_block_size = 0;
    size_t rx_block_count = 0;
    size_t tx_frame_size = 0;
    size_t tx_frame_count = 0;
    size_t tx_frames_per_block = 0;
    size_t tx_block_size = 0;
  };
  PacketSocketEndpoint(Key, UniqueFd fd, std::unique_ptr<Mapping> mapping, Geometry geometry,
                       std::string name, uint32_t mtu, MacAddress mac);
  ~PacketSocketEndpoint() override;
  PacketSocketEndpoint(const PacketSocketEndpoint&) = delete;
  PacketSocketEndpoint& operator=(const PacketSocketEndpoint&) = delete;

  uint32_t mtu() const override { return mtu_; }
  LinkCapabilities capabilities() const override;
  uint16_t max_header_length() const override;
  MacAddress link_address() const override { return mac_; }
  void attach(NetworkDispatcher* dispatcher) override { dispatcher_ = dispatcher; }
  bool attached() const override { return dispatcher_ != nullptr; }
  // Moves the packets out of `packets`.
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override;
  int readable_fd() const override { return fd_.get(); }
  size_t process_receive(size_t budget) override;

  const std::string& name() const { return name_; }
  const LinkCounters& counters() const { return counters_; }

 private:
  MutableByteView rx_block(size_t index);
  MutableByteView tx_slot(size_t index);
  void release_rx_block();

  UniqueFd fd_;                       // closed last: with it go the promiscuous and fanout
  std::unique_ptr<Mapping> mapping_;  // memberships; the rings are unmapped before it
  Geometry geometry_;
  std::string name_;
  uint32_t mtu_;
  MacAddress mac_;
  NetworkDispatcher* dispatcher_ = nullptr;
  size_t rx_block_ = 0;         // the next block to read, in ring order
  size_t rx_frame_offset_ = 0;  // within rx_block_ when a budget ran out mid-block; 0: start
  size_t rx_frames_left_ = 0;   // frames of rx_block_ not yet read (valid when offset != 0)
  size_t tx_slot_ = 0;          // the next slot to fill
  LinkCounters counters_;
};

// The TPACKET_V3 ring headers, read field by field from bounds-checked spans. Exposed for the
// tests, which feed them blocks with lying headers.
struct RingBlockHeader {
  uint32_t status = 0;
  uint32_t frame_count = 0;
  uint32_t first_frame_offset = 0;
  uint32_t used_length = 0;  // bytes of the block in use from its start (blk_len)
};
// The block's header, or kBadMessage when the block cannot hold one or the header claims
// frames outside the block.
Result<RingBlockHeader> parse_ring_block(ByteView block);
// The status word alone (the one field read before the block is known to be ours).
uint32_t ring_block_status(ByteView block);

struct RingFrame {
  uint32_t next_offset = 0;  // from this frame's start to the next frame's; 0 for the last
  uint32_t status = 0;       // TP_STATUS_* bits
  uint32_t wire_length = 0;  // tp_len: the frame's length on the wire
  uint8_t packet_type = 0;   // sll_pkttype: PACKET_HOST, PACKET_OUTGOING, ...
  ByteView bytes;            // the captured frame (tp_snaplen bytes at tp_mac), in the block
};
// The frame at `offset` of a block whose first `used_length` bytes are in use, or kBadMessage
// when any length or offset it claims leaves its block or overlaps its own header.
Result<RingFrame> parse_ring_frame(ByteView block, size_t used_length, size_t offset);

}  // namespace weir::link
