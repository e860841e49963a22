// TCP wire format (RFC 9293 3.1) and options (RFC 9293 3.2, RFC 7323, RFC 2018).
//
// Parsing: Segment::parse proves the fixed header and the data offset once, so its accessors
// cannot read out of bounds. parse_options walks the option bytes with a ByteReader and never
// fails: unknown kinds are skipped by their length, and a malformed option (bad length, or one
// that runs past the end) ends the walk with what was parsed so far, as RFC 9293 3.1 requires
// ("must be prepared to handle an illegal option length ... without crashing").
// Emitting: SegmentHeader is a plain value; write_header serialises it with its options padded
// to a multiple of four bytes.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "stack/address.h"
#include "stack/bytes.h"
#include "stack/packet_buffer.h"
#include "stack/result.h"
#include "tcp/seqnum.h"

namespace weir::tcp {

inline constexpr uint8_t kFin = 0x01;
inline constexpr uint8_t kSyn = 0x02;
inline constexpr uint8_t kRst = 0x04;
inline constexpr uint8_t kPsh = 0x08;
inline constexpr uint8_t kAck = 0x10;
inline constexpr uint8_t kUrg = 0x20;
inline constexpr uint8_t kEce = 0x40;
inline constexpr uint8_t kCwr = 0x80;

inline constexpr size_t kMinHeaderLength = 20;
inline constexpr size_t kMaxHeaderLength = 60;
inline constexpr size_t kMaxOptionsLength = kMaxHeaderLength - kMinHeaderLength;
inline constexpr size_t kMaxSackBlocks = 4;
inline constexpr uint8_t kMaxWindowScale = 14;  // RFC 7323 2.3

// Option kinds.
inline constexpr uint8_t kOptionEnd = 0;
inline constexpr uint8_t kOptionNop = 1;
inline constexpr uint8_t kOptionMss = 2;
inline constexpr uint8_t kOptionWindowScale = 3;
inline constexpr uint8_t kOptionSackPermitted = 4;
inline constexpr uint8_t kOptionSack = 5;
inline constexpr uint8_t kOptionTimestamps = 8;

struct Timestamps {
  uint32_t value = 0;  // TSval
  uint32_t echo = 0;   // TSecr
  bool operator==(const Timestamps&) const = default;
};

// The options of one segment, parsed or to be emitted.
struct Options {
  std::optional<uint16_t> mss;
  std::optional<uint8_t> window_scale;  // as received; clamp to kMaxWindowScale before use
  bool sack_permitted = false;
  std::optional<Timestamps> timestamps;
  std::array<SeqRange, kMaxSackBlocks> sack_blocks{};
  uint8_t sack_block_count = 0;
  // Parse only: an option was malformed and the walk stopped there.
  bool malformed = false;

  std::span<const SeqRange> sacks() const { return {sack_blocks.data(), sack_block_count}; }
  void add_sack(SeqRange r) {
    if (sack_block_count < kMaxSackBlocks) sack_blocks[sack_block_count++] = r;
  }
};

Options parse_options(ByteView bytes);
// Bytes write_options emits for o: a multiple of 4, at most kMaxOptionsLength (SACK blocks
// that do not fit are left out).
size_t options_length(const Options& o);
// Writes o into out (out.size() == options_length(o)), NOP/EOL padded.
void write_options(MutableByteView out, const Options& o);

// A validated view of a TCP header. The bytes must outlive the view.
class Segment {
 public:
  // bytes hold at least the header (the data offset is checked against bytes.size()); bytes
  // past the header are the payload. Inline: every segment received is parsed.
  static Result<Segment> parse(ByteView bytes) {
    if (bytes.size() < kMinHeaderLength) return Error::kBadMessage;
    const size_t offset = static_cast<size_t>(load_u8(bytes, 12) >> 4) * 4;
    if (offset < kMinHeaderLength || offset > bytes.size()) return Error::kBadMessage;
    return Segment(bytes);
  }

  uint16_t source_port() const { return load_be16(bytes_, 0); }
  uint16_t destination_port() const { return load_be16(bytes_, 2); }
  SeqNum seq() const { return SeqNum(load_be32(bytes_, 4)); }
  SeqNum ack() const { return SeqNum(load_be32(bytes_, 8)); }
  size_t header_length() const { return static_cast<size_t>(load_u8(bytes_, 12) >> 4) * 4; }
  uint8_t flags() const { return load_u8(bytes_, 13); }
  uint16_t window() const { return load_be16(bytes_, 14); }
  uint16_t checksum() const { return load_be16(bytes_, 16); }
  uint16_t urgent_pointer() const { return load_be16(bytes_, 18); }
  ByteView options_bytes() const {
    return bytes_.subspan(kMinHeaderLength, header_length() - kMinHeaderLength);
  }
  ByteView payload() const { return bytes_.subspan(header_length()); }
  Options options() const { return parse_options(options_bytes()); }

 private:
  explicit Segment(ByteView bytes) : bytes_(bytes) {}
  ByteView bytes_;
};

// A header to emit.
struct SegmentHeader {
  uint16_t source_port = 0;
  uint16_t destination_port = 0;
  SeqNum seq;
  SeqNum ack;
  uint8_t flags = 0;
  uint16_t window = 0;
  uint16_t urgent_pointer = 0;
  Options options;
};

size_t header_length(const SegmentHeader& h);
// Writes h into out (out.size() == header_length(h)) with a zero checksum.
void write_header(MutableByteView out, const SegmentHeader& h);

// A payload this small is copied into the header's chunk instead of sliced in behind it: with
// the default headroom and the largest header it still fits the 256-byte chunk the header
// takes anyway, and one contiguous segment is cheaper to build, checksum, send and parse than a
// header slice and a payload slice (Linux copies small writes into the skb's linear area too).
// A zero-copy write's small tail is copied the same way; its memory is still released only
// when the peer acknowledges it (the send queue keeps it).
inline constexpr size_t kSmallPayloadMax = 64;

// Builds a complete segment: header in front of payload (a small payload is copied into the
// header's chunk, a larger one shared), checksum filled in for src -> dst.
PacketBuffer build_segment(const SegmentHeader& h, PacketBuffer&& payload, const IpAddress& src,
                           const IpAddress& dst, size_t headroom = PacketBuffer::kDefaultHeadroom);

// The same for a payload the caller holds as contiguous bytes (a small write still in the send
// queue): copied behind the header in its chunk, with no packet built around the bytes first.
// With checksum_offloaded the checksum is left to the link, as build_segment_offloaded does.
PacketBuffer build_segment_copying(const SegmentHeader& h, ByteView payload, const IpAddress& src,
                                   const IpAddress& dst, bool checksum_offloaded);

// Software segmentation (stack/gso.h) of a segment built for GSO. The length of the header at
// the front of `segment` (its data offset), or 0 when that is not a well-formed header.
size_t gso_header_length(ByteView segment);
// Rewrites a copy of the GSO segment's header for the piece whose payload starts
// payload_offset bytes in: its sequence number moves on by that much, only the last piece
// keeps FIN and PSH, and only the first keeps CWR (RFC 3168 6.1.2: once per window), as a
// TSO NIC does.
void rewrite_gso_segment_header(MutableByteView header, uint32_t payload_offset, bool first,
                                bool last);

// The same, with the checksum left to the link (meta().needs_checksum): the field holds only
// the pseudo-header sum, which is what a NIC or the kernel finishes. For NICs that advertise
// tx_checksum_offload; the Nic finishes it in software for any other.
PacketBuffer build_segment_offloaded(const SegmentHeader& h, PacketBuffer&& payload,
                                     const IpAddress& src, const IpAddress& dst);

// The checksum over the pseudo-header and the whole segment; a valid segment sums to zero.
bool checksum_valid(const PacketBuffer& segment, const IpAddress& src, const IpAddress& dst);

// "SA" / "FPA." style flag text for messages and test output.
std::string flags_to_string(uint8_t flags);

}  // namespace weir::tcp
