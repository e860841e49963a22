#include "tcp/wire.h"

#include <array>

#include "stack/checksum.h"
#include "stack/protocol.h"

namespace weir::tcp {

namespace {

// What every segment of an established connection with timestamps carries, and nothing else:
// laid out as NOP NOP TS (12 bytes), as write_options would.
constexpr size_t kTimestampsOnlyLength = 12;
bool timestamps_only(const Options& o) {
  return o.timestamps && !o.mss && !o.window_scale && !o.sack_permitted && o.sack_block_count == 0;
}

}  // namespace

Options parse_options(ByteView bytes) {
  Options o;
  // NOP, NOP, timestamps: what every segment of an established connection with timestamps and
  // no SACK blocks carries (write_options lays it out so, as Linux does). Read in one step; the
  // walk below gives exactly this for these bytes, at several times the cost.
  if (bytes.size() == kTimestampsOnlyLength && load_u8(bytes, 0) == kOptionNop &&
      load_u8(bytes, 1) == kOptionNop && load_u8(bytes, 2) == kOptionTimestamps &&
      load_u8(bytes, 3) == 10) {
    o.timestamps = Timestamps{load_be32(bytes, 4), load_be32(bytes, 8)};
    return o;
  }
  ByteReader r(bytes);
  while (r.remaining() > 0) {
    uint8_t kind = r.u8();
    if (kind == kOptionEnd) break;
    if (kind == kOptionNop) continue;
    if (r.remaining() < 1) {
      o.malformed = true;
      break;
    }
    uint8_t length = r.u8();
    // The length covers kind and length bytes; anything shorter cannot be skipped safely.
    if (length < 2 || length - 2u > r.remaining()) {
      o.malformed = true;
      break;
    }
    ByteView body = r.bytes(length - 2u);
    switch (kind) {
      case kOptionMss:
        if (body.size() == 2)
          o.mss = load_be16(body, 0);
        else
          o.malformed = true;
        break;
      case kOptionWindowScale:
        if (body.size() == 1)
          o.window_scale = load_u8(body, 0);
        else
          o.malformed = true;
        break;
      case kOptionSackPermitted:
        if (body.empty())
          o.sack_permitted = true;
        else
          o.malformed = true;
        break;
      case kOptionTimestamps:
        if (body.size() == 8)
          o.timestamps = Timestamps{load_be32(body, 0), load_be32(body, 4)};
        else
          o.malformed = true;
        break;
      case kOptionSack:
        if (body.size() % 8 != 0 || body.empty()) {
          o.malformed = true;
          break;
        }
        for (size_t off = 0; off + 8 <= body.size(); off += 8) {
          SeqRange block{SeqNum(load_be32(body, off)), SeqNum(load_be32(body, off + 4))};
          // A block whose right edge is not above its left edge carries nothing usable.
          if (block.end > block.begin) o.add_sack(block);
        }
        break;
      default:
        break;  // unknown: skipped by length
    }
  }
  if (!r.ok()) o.malformed = true;
  return o;
}

namespace {

// Bytes of each option as write_options lays it out (NOP-aligned, so already a multiple of 4).
size_t raw_length(const Options& o, size_t sack_blocks) {
  size_t n = 0;
  if (o.mss) n += 4;
  if (o.timestamps) n += 12;  // SACK-permitted + TS, or NOP NOP + TS
  if (o.sack_permitted && !o.timestamps) n += 4;
  if (o.window_scale) n += 4;
  if (sack_blocks > 0) n += 4 + 8 * sack_blocks;
  return n;
}

size_t fitting_sack_blocks(const Options& o) {
  size_t blocks = o.sack_block_count;
  while (blocks > 0 && ((raw_length(o, blocks) + 3) & ~size_t{3}) > kMaxOptionsLength) --blocks;
  return blocks;
}

}  // namespace

size_t options_length(const Options& o) {
  return (raw_length(o, fitting_sack_blocks(o)) + 3) & ~size_t{3};
}

void write_options(MutableByteView out, const Options& o) {
  size_t blocks = fitting_sack_blocks(o);
  size_t pos = 0;
  auto put = [&](uint8_t v) { store_u8(out, pos++, v); };
  if (o.mss) {
    put(kOptionMss);
    put(4);
    store_be16(out, pos, *o.mss);
    pos += 2;
  }
  // NOP-aligned layouts as Linux emits them, so the 32-bit fields stay word aligned.
  if (o.sack_permitted && o.timestamps) {
    put(kOptionSackPermitted);
    put(2);
  } else if (o.timestamps) {
    put(kOptionNop);
    put(kOptionNop);
  }
  if (o.timestamps) {
    put(kOptionTimestamps);
    put(10);
    store_be32(out, pos, o.timestamps->value);
    store_be32(out, pos + 4, o.timestamps->echo);
    pos += 8;
  }
  if (o.sack_permitted && !o.timestamps) {
    put(kOptionNop);
    put(kOptionNop);
    put(kOptionSackPermitted);
    put(2);
  }
  if (o.window_scale) {
    put(kOptionNop);
    put(kOptionWindowScale);
    put(3);
    put(*o.window_scale);
  }
  if (blocks > 0) {
    put(kOptionNop);
    put(kOptionNop);
    put(kOptionSack);
    put(static_cast<uint8_t>(2 + 8 * blocks));
    for (size_t i = 0; i < blocks; ++i) {
      store_be32(out, pos, o.sack_blocks[i].begin.value());
      store_be32(out, pos + 4, o.sack_blocks[i].end.value());
      pos += 8;
    }
  }
  while (pos < out.size()) put(kOptionEnd);
}

size_t header_length(const SegmentHeader& h) {
  if (timestamps_only(h.options)) return kMinHeaderLength + kTimestampsOnlyLength;
  return kMinHeaderLength + options_length(h.options);
}

void write_header(MutableByteView out, const SegmentHeader& h) {
  // The whole header is put together in a local array, whose constant offsets need no bounds
  // checks, and copied out in one checked step. Every byte up to `length` is written below
  // (write_options pads to its end), so the array needs no zeroing.
  std::array<std::byte, kMinHeaderLength + kMaxOptionsLength> b;
  const MutableByteView local(b);
  const size_t length = out.size();
  store_be16(local, 0, h.source_port);
  store_be16(local, 2, h.destination_port);
  store_be32(local, 4, h.seq.value());
  store_be32(local, 8, h.ack.value());
  store_u8(local, 12, static_cast<uint8_t>((length / 4) << 4));
  store_u8(local, 13, h.flags);
  store_be16(local, 14, h.window);
  store_be16(local, 16, 0);
  store_be16(local, 18, h.urgent_pointer);
  if (length == kMinHeaderLength + kTimestampsOnlyLength && timestamps_only(h.options)) {
    store_u8(local, 20, kOptionNop);
    store_u8(local, 21, kOptionNop);
    store_u8(local, 22, kOptionTimestamps);
    store_u8(local, 23, 10);
    store_be32(local, 24, h.options.timestamps->value);
    store_be32(local, 28, h.options.timestamps->echo);
  } else {
    write_options(local.subspan(kMinHeaderLength, length - kMinHeaderLength), h.options);
  }
  copy_bytes(out, 0, local.first(length));
}

namespace {

struct SegmentStart {
  PacketBuffer pkt;
  MutableByteView front;  // the header, then the payload when it was copied in
};

// A fresh chunk with the header written and room for inline_length payload bytes behind it.
SegmentStart start_segment(const SegmentHeader& h, size_t length, size_t inline_length,
                           size_t headroom) {
  const size_t front_length = length + inline_length;
  SegmentStart s{PacketBuffer::allocate(front_length, headroom), {}};
  // The fresh chunk's own bytes, unshared, and they stay where they are while the payload's
  // slices are added behind them: the checksum goes straight into the header.
  s.front = s.pkt.mutable_front(front_length).value();
  write_header(s.front.first(length), h);
  return s;
}

// The header with a small payload copied in behind it, or with room for none when the payload
// is large (the caller slices it in behind).
SegmentStart start_segment(const SegmentHeader& h, const PacketBuffer& payload, size_t length,
                           size_t headroom) {
  const bool payload_inline = payload.size() <= kSmallPayloadMax;
  SegmentStart s = start_segment(h, length, payload_inline ? payload.size() : 0, headroom);
  if (payload_inline && !payload.empty()) payload.copy_out(0, s.front.subspan(length));
  return s;
}

void leave_checksum_to_link(PacketBuffer& pkt, const IpAddress& src) {
  PacketMeta& meta = pkt.meta();
  meta.needs_checksum = true;
  // TCP never sends IPv4 options or IPv6 extension headers, so its header starts right after
  // the fixed network header.
  meta.csum_start = static_cast<uint16_t>(src.is_v4() ? 20 : 40);
  meta.csum_offset = 16;
}

}  // namespace

PacketBuffer build_segment(const SegmentHeader& h, PacketBuffer&& payload, const IpAddress& src,
                           const IpAddress& dst, size_t headroom) {
  const size_t length = header_length(h);
  const size_t total = length + payload.size();
  SegmentStart s = start_segment(h, payload, length, headroom);
  ChecksumAccumulator acc;
  acc.add_u16(pseudo_header_sum(src, dst, kProtocolTcp, static_cast<uint32_t>(total)));
  acc.add(s.front);
  if (s.front.size() < total) {
    acc.add(payload);
    s.pkt.append(std::move(payload));
  }
  store_be16(s.front, 16, acc.finish());
  return std::move(s.pkt);
}

PacketBuffer build_segment_copying(const SegmentHeader& h, ByteView payload, const IpAddress& src,
                                   const IpAddress& dst, bool checksum_offloaded) {
  const size_t length = header_length(h);
  SegmentStart s = start_segment(h, length, payload.size(), PacketBuffer::kDefaultHeadroom);
  if (!payload.empty()) copy_bytes(s.front, length, payload);
  const uint16_t pseudo =
      pseudo_header_sum(src, dst, kProtocolTcp, static_cast<uint32_t>(s.front.size()));
  if (checksum_offloaded) {
    store_be16(s.front, 16, pseudo);
    leave_checksum_to_link(s.pkt, src);
  } else {
    ChecksumAccumulator acc;
    acc.add_u16(pseudo);
    acc.add(s.front);
    store_be16(s.front, 16, acc.finish());
  }
  return std::move(s.pkt);
}

PacketBuffer build_segment_offloaded(const SegmentHeader& h, PacketBuffer&& payload,
                                     const IpAddress& src, const IpAddress& dst) {
  const size_t length = header_length(h);
  const auto total = static_cast<uint32_t>(length + payload.size());
  SegmentStart s = start_segment(h, payload, length, PacketBuffer::kDefaultHeadroom);
  store_be16(s.front, 16, pseudo_header_sum(src, dst, kProtocolTcp, total));
  if (s.front.size() < total) s.pkt.append(std::move(payload));
  leave_checksum_to_link(s.pkt, src);
  return std::move(s.pkt);
}

size_t gso_header_length(ByteView segment) {
  if (segment.size() < kMinHeaderLength) return 0;
  const size_t length = size_t{load_u8(segment, 12)} / 16 * 4;
  if (length < kMinHeaderLength || length > segment.size()) return 0;
  return length;
}

void rewrite_gso_segment_header(MutableByteView header, uint32_t payload_offset, bool first,
                                bool last) {
  if (header.size() < kMinHeaderLength) return;
  store_be32(header, 4, load_be32(header, 4) + payload_offset);
  uint8_t flags = load_u8(header, 13);
  if (!last) flags &= static_cast<uint8_t>(~(kFin | kPsh));
  if (!first) flags &= static_cast<uint8_t>(~kCwr);
  store_u8(header, 13, flags);
}

bool checksum_valid(const PacketBuffer& segment, const IpAddress& src, const IpAddress& dst) {
  ChecksumAccumulator acc;
  acc.add_u16(pseudo_header_sum(src, dst, kProtocolTcp, static_cast<uint32_t>(segment.size())));
  acc.add(segment);
  return acc.fold() == 0xffff;
}

std::string flags_to_string(uint8_t flags) {
  static constexpr char kNames[] = "FSRPAUEC";
  std::string out;
  for (int i = 0; i < 8; ++i) {
    if (flags & (1u << i)) out.push_back(kNames[i]);
  }
  return out.empty() ? "." : out;
}

}  // namespace weir::tcp
