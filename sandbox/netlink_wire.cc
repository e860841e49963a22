#include "sandbox/netlink_wire.h"

#include <algorithm>
#include <cerrno>
#include <utility>

#include "sandbox/native.h"

namespace weir::sandbox::netlink {

Header read_header(ByteView bytes) {
  Header h;
  h.length = load_host<uint32_t>(bytes, 0);
  h.type = load_host<uint16_t>(bytes, 4);
  h.flags = load_host<uint16_t>(bytes, 6);
  h.seq = load_host<uint32_t>(bytes, 8);
  h.pid = load_host<uint32_t>(bytes, 12);
  return h;
}

std::optional<Message> MessageReader::next() {
  if (stopped_early_ || offset_ >= bytes_.size()) return std::nullopt;
  size_t left = bytes_.size() - offset_;
  if (left < kHeaderSize) {
    stopped_early_ = true;
    return std::nullopt;
  }
  Header h = read_header(bytes_.subspan(offset_, kHeaderSize));
  if (h.length < kHeaderSize || h.length > left) {
    stopped_early_ = true;
    return std::nullopt;
  }
  Message m;
  m.header = h;
  m.bytes = bytes_.subspan(offset_, h.length);
  m.payload = m.bytes.subspan(kHeaderSize);
  // The next message starts at the aligned length; a datagram may end inside the padding.
  offset_ += std::min(align(h.length), left);
  return m;
}

std::optional<Attribute> AttributeReader::next() {
  if (malformed_) return std::nullopt;
  size_t left = bytes_.size() - offset_;
  if (left < kAttributeHeaderSize) return std::nullopt;
  uint16_t len = load_host<uint16_t>(bytes_, offset_);
  uint16_t type = load_host<uint16_t>(bytes_, offset_ + 2);
  if (len < kAttributeHeaderSize || len > left) {
    malformed_ = true;
    return std::nullopt;
  }
  Attribute a;
  a.type = type & kAttrTypeMask;
  a.nested = (type & kAttrNested) != 0;
  a.payload = bytes_.subspan(offset_ + kAttributeHeaderSize, len - kAttributeHeaderSize);
  offset_ += std::min(align(len), left);
  return a;
}

Result<AttributeTable> AttributeTable::parse(ByteView bytes, uint16_t max_type) {
  AttributeTable table;
  table.by_type_.resize(size_t{max_type} + 1);
  AttributeReader reader(bytes);
  while (auto a = reader.next()) {
    if (a->type <= max_type) table.by_type_[a->type] = a->payload;
  }
  if (reader.malformed()) return Error::kInvalidArgument;
  return table;
}

std::optional<ByteView> AttributeTable::get(uint16_t type) const {
  if (type >= by_type_.size()) return std::nullopt;
  return by_type_[type];
}

Result<uint8_t> attribute_u8(ByteView payload) {
  if (payload.size() < 1) return Error::kInvalidArgument;
  return load_u8(payload, 0);
}

Result<uint16_t> attribute_u16(ByteView payload) {
  if (payload.size() < 2) return Error::kInvalidArgument;
  return load_host<uint16_t>(payload, 0);
}

Result<uint32_t> attribute_u32(ByteView payload) {
  if (payload.size() < 4) return Error::kInvalidArgument;
  return load_host<uint32_t>(payload, 0);
}

std::string_view attribute_string(ByteView payload) {
  auto nul = std::find(payload.begin(), payload.end(), std::byte{0});
  size_t n = static_cast<size_t>(nul - payload.begin());
  std::string_view all(reinterpret_cast<const char*>(payload.data()), payload.size());
  return all.substr(0, n);
}

MessageBuilder::MessageBuilder(uint16_t type, uint16_t flags, uint32_t seq, uint32_t pid)
    : bytes_(kHeaderSize) {
  MutableByteView h(bytes_);
  store_host<uint16_t>(h, 4, type);
  store_host<uint16_t>(h, 6, flags);
  store_host<uint32_t>(h, 8, seq);
  store_host<uint32_t>(h, 12, pid);
}

MutableByteView MessageBuilder::reserve(size_t n) {
  size_t at = bytes_.size();
  bytes_.resize(at + align(n));
  return MutableByteView(bytes_).subspan(at, n);
}

void MessageBuilder::append(ByteView bytes) { copy_bytes(reserve(bytes.size()), 0, bytes); }

void MessageBuilder::put(uint16_t type, ByteView payload) {
  auto a = reserve(kAttributeHeaderSize + payload.size());
  store_host<uint16_t>(a, 0, static_cast<uint16_t>(kAttributeHeaderSize + payload.size()));
  store_host<uint16_t>(a, 2, type);
  copy_bytes(a, kAttributeHeaderSize, payload);
}

void MessageBuilder::put_u8(uint16_t type, uint8_t v) { put(type, bytes_of(v)); }
void MessageBuilder::put_u16(uint16_t type, uint16_t v) { put(type, bytes_of(v)); }
void MessageBuilder::put_u32(uint16_t type, uint32_t v) { put(type, bytes_of(v)); }
void MessageBuilder::put_u64(uint16_t type, uint64_t v) { put(type, bytes_of(v)); }

void MessageBuilder::put_string(uint16_t type, std::string_view s) {
  auto a = reserve(kAttributeHeaderSize + s.size() + 1);
  store_host<uint16_t>(a, 0, static_cast<uint16_t>(kAttributeHeaderSize + s.size() + 1));
  store_host<uint16_t>(a, 2, type);
  copy_bytes(a, kAttributeHeaderSize, as_bytes(s));
}

size_t MessageBuilder::begin_nested(uint16_t type) {
  size_t at = bytes_.size();
  auto a = reserve(kAttributeHeaderSize);
  store_host<uint16_t>(a, 2, static_cast<uint16_t>(type | kAttrNested));
  return at;
}

void MessageBuilder::end_nested(size_t token) {
  store_host<uint16_t>(MutableByteView(bytes_), token,
                       static_cast<uint16_t>(bytes_.size() - token));
}

std::vector<std::byte> MessageBuilder::finish() && {
  store_host<uint32_t>(MutableByteView(bytes_), 0, static_cast<uint32_t>(bytes_.size()));
  return std::move(bytes_);
}

std::vector<std::byte> error_message(const Message& request, int error, uint32_t portid) {
  bool ack = error == 0;
  MessageBuilder b(kError, ack ? kFlagCapped : 0, request.header.seq, portid);
  auto code = b.reserve(4);
  store_host<int32_t>(code, 0, -error);
  b.append(ack ? request.bytes.first(kHeaderSize) : request.bytes);
  auto out = std::move(b).finish();
  // nlmsg_len counts the echoed request as it was, not the padding after it.
  size_t echoed = ack ? kHeaderSize : request.bytes.size();
  store_host<uint32_t>(MutableByteView(out), 0, static_cast<uint32_t>(kHeaderSize + 4 + echoed));
  return out;
}

std::vector<std::byte> bare_error_message(int error, uint32_t seq, uint32_t portid) {
  MessageBuilder b(kError, 0, seq, portid);
  store_host<int32_t>(b.reserve(4), 0, -error);
  b.reserve(kHeaderSize);  // an all-zero "request" header: there was none to echo
  return std::move(b).finish();
}

std::vector<std::byte> done_message(uint32_t seq, uint32_t portid, uint16_t flags) {
  MessageBuilder b(kDone, flags, seq, portid);
  b.reserve(4);
  return std::move(b).finish();
}

void AnswerWriter::single(std::vector<std::byte> message) {
  close_dump();
  datagrams_.push_back(std::move(message));
}

void AnswerWriter::dump_part(std::vector<std::byte> message) {
  if (!open_.empty() && open_.size() + align(message.size()) > max_datagram_) close_dump();
  size_t at = open_.size();
  open_.resize(at + align(message.size()));
  copy_bytes(MutableByteView(open_), at, message);
}

void AnswerWriter::end_dump(std::vector<std::byte> done) {
  dump_part(std::move(done));
  close_dump();
  ++dumps_;
}

void AnswerWriter::close_dump() {
  if (open_.empty()) return;
  datagrams_.push_back(std::move(open_));
  open_.clear();
}

std::vector<std::vector<std::byte>> AnswerWriter::take() && {
  close_dump();
  return std::move(datagrams_);
}

std::vector<std::vector<std::byte>> answer_messages(ByteView request, uint32_t portid,
                                                    size_t max_datagram,
                                                    const MessageHandler& handler) {
  AnswerWriter out(std::max(max_datagram, kHeaderSize + 4));
  MessageReader reader(request);
  bool any = false;
  while (auto m = reader.next()) {
    any = true;
    Status outcome = ok_status();
    size_t dumps_before = out.dumps();
    if ((m->header.flags & kFlagRequest) != 0 && m->header.type >= kMinType) {
      outcome = handler(*m, out);
    }
    if (!outcome) {
      out.single(error_message(*m, to_errno(outcome.error()), portid));
    } else if ((m->header.flags & kFlagAck) != 0 && out.dumps() == dumps_before) {
      out.single(error_message(*m, 0, portid));
    }
  }
  if (!any && !request.empty()) out.single(bare_error_message(EINVAL, 0, portid));
  return std::move(out).take();
}

}  // namespace weir::sandbox::netlink
