// Netlink framing shared by the NETLINK_ROUTE and NETLINK_SOCK_DIAG emulation: reading the
// messages of a request datagram and their attributes (rtattr / nlattr, nested or not), and
// building answers (messages, attributes, NLMSG_ERROR / NLMSG_DONE, dumps split into
// datagrams).
//
// Netlink fields are in the host's byte order, so every field goes through load_host /
// store_host on a byte span (sandbox/native.h); nothing is cast to a struct. Requests come from
// an untrusted program: every length is checked against the bytes that are really there.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "stack/bytes.h"
#include "stack/result.h"

namespace weir::sandbox::netlink {

// <linux/netlink.h>
inline constexpr size_t kHeaderSize = 16;          // NLMSG_HDRLEN
inline constexpr size_t kAttributeHeaderSize = 4;  // NLA_HDRLEN == RTA_LENGTH(0)
inline constexpr uint16_t kNoop = 1;               // NLMSG_NOOP
inline constexpr uint16_t kError = 2;              // NLMSG_ERROR
inline constexpr uint16_t kDone = 3;               // NLMSG_DONE
inline constexpr uint16_t kMinType = 16;  // NLMSG_MIN_TYPE: types below are control messages

inline constexpr uint16_t kFlagRequest = 0x01;                 // NLM_F_REQUEST
inline constexpr uint16_t kFlagMulti = 0x02;                   // NLM_F_MULTI
inline constexpr uint16_t kFlagAck = 0x04;                     // NLM_F_ACK
inline constexpr uint16_t kFlagRoot = 0x100;                   // NLM_F_ROOT
inline constexpr uint16_t kFlagMatch = 0x200;                  // NLM_F_MATCH
inline constexpr uint16_t kFlagDump = kFlagRoot | kFlagMatch;  // NLM_F_DUMP
inline constexpr uint16_t kFlagDumpFiltered = 0x20;            // NLM_F_DUMP_FILTERED (answers)
inline constexpr uint16_t kFlagCapped = 0x100;  // NLM_F_CAPPED (acks: request not echoed)

inline constexpr uint16_t kAttrNested = 0x8000;     // NLA_F_NESTED
inline constexpr uint16_t kAttrByteOrder = 0x4000;  // NLA_F_NET_BYTEORDER
inline constexpr uint16_t kAttrTypeMask = 0x3fff;   // NLA_TYPE_MASK

// Linux sizes the first datagram of a dump to NLMSG_GOODSIZE (a page minus the skb overhead),
// and later ones to the largest buffer the reader has passed to recvmsg, at most 32 KiB.
// Readers that use a page-sized buffer (glibc's getifaddrs) fail on anything larger, so answers
// stay within a page unless the caller knows the reader's buffer is larger.
inline constexpr size_t kGoodSize = 3776;
inline constexpr size_t kMaxDatagram = 32768 - 320;  // SKB_WITH_OVERHEAD(32768)

constexpr size_t align(size_t n) { return (n + 3) & ~size_t{3}; }  // NLMSG_ALIGN / NLA_ALIGN

struct Header {
  uint32_t length = 0;  // nlmsg_len: header plus payload, without trailing padding
  uint16_t type = 0;
  uint16_t flags = 0;
  uint32_t seq = 0;
  uint32_t pid = 0;

  bool is_dump() const { return (flags & kFlagDump) == kFlagDump; }
};

// One message of a request: its header, its payload (nlmsg_len - 16 bytes) and all its bytes
// (for echoing it in an NLMSG_ERROR).
struct Message {
  Header header;
  ByteView payload;
  ByteView bytes;
};

// Reads the messages of one datagram the way the kernel's netlink_rcv_skb does: one message
// per aligned nlmsg_len, stopping at the end or at a header whose length is below the header
// size or beyond the bytes left. The kernel ignores what follows such a header silently
// (iproute2 relies on it: it sends requests in a larger zero-filled buffer), so the reader
// reports it through stopped_early() and lets the caller decide.
class MessageReader {
 public:
  explicit MessageReader(ByteView datagram) : bytes_(datagram) {}

  std::optional<Message> next();
  // True once next() has stopped at a bad header rather than at the end of the datagram.
  bool stopped_early() const { return stopped_early_; }

 private:
  ByteView bytes_;
  size_t offset_ = 0;
  bool stopped_early_ = false;
};

// Reads the header fields of a message that is known to hold at least kHeaderSize bytes.
Header read_header(ByteView bytes);

struct Attribute {
  uint16_t type = 0;  // without the NLA_F_NESTED / NLA_F_NET_BYTEORDER bits
  bool nested = false;
  ByteView payload;  // nla_len - 4 bytes
};

// Iterates the attributes in a byte range (after a message's fixed header, or inside a nested
// attribute). An attribute shorter than its own header or longer than the bytes left ends the
// iteration with malformed() set; the kernel's nla_parse rejects such a message with EINVAL.
// Trailing bytes shorter than an attribute header are ignored, as the kernel does.
class AttributeReader {
 public:
  explicit AttributeReader(ByteView bytes) : bytes_(bytes) {}

  std::optional<Attribute> next();
  bool malformed() const { return malformed_; }

 private:
  ByteView bytes_;
  size_t offset_ = 0;
  bool malformed_ = false;
};

// The attributes of a byte range indexed by type (types above max_type are skipped, as the
// kernel's non-strict parsing does; a repeated type keeps the last one). kInvalidArgument when
// an attribute is truncated.
class AttributeTable {
 public:
  static Result<AttributeTable> parse(ByteView bytes, uint16_t max_type);

  std::optional<ByteView> get(uint16_t type) const;
  bool has(uint16_t type) const { return get(type).has_value(); }

 private:
  std::vector<std::optional<ByteView>> by_type_;
};

// Typed reads of an attribute's payload. kInvalidArgument when the payload is too short (the
// kernel's policy check, NLA_U32 etc.); longer payloads read their first bytes.
Result<uint8_t> attribute_u8(ByteView payload);
Result<uint16_t> attribute_u16(ByteView payload);
Result<uint32_t> attribute_u32(ByteView payload);
// An NLA_STRING / NLA_NUL_STRING: the bytes up to the first NUL or the end of the payload.
std::string_view attribute_string(ByteView payload);

// Builds one message: header, a fixed family header, then attributes, each padded to 4 bytes.
// nlmsg_len covers everything appended, padding included, as the kernel's nlmsg_end does.
class MessageBuilder {
 public:
  MessageBuilder(uint16_t type, uint16_t flags, uint32_t seq, uint32_t pid);

  // Appends n zeroed bytes (padded to 4) and returns them for the caller to fill, e.g. with a
  // family header (ifinfomsg, rtmsg, inet_diag_msg).
  MutableByteView reserve(size_t n);
  void append(ByteView bytes);

  void put(uint16_t type, ByteView payload);
  void put_u8(uint16_t type, uint8_t v);
  void put_u16(uint16_t type, uint16_t v);
  void put_u32(uint16_t type, uint32_t v);
  void put_u64(uint16_t type, uint64_t v);
  void put_string(uint16_t type, std::string_view s);  // NUL-terminated, as nla_put_string
  // Returns a token to end the nested attribute with.
  size_t begin_nested(uint16_t type);
  void end_nested(size_t token);

  size_t size() const { return bytes_.size(); }
  std::vector<std::byte> finish() &&;

 private:
  std::vector<std::byte> bytes_;
};

// NLMSG_ERROR for `request`: error is 0 (an ack) or a positive errno (sent as -errno). An ack
// carries only the request's header (NLM_F_CAPPED); an error echoes the whole request, as Linux
// does unless the socket set NETLINK_CAP_ACK.
std::vector<std::byte> error_message(const Message& request, int error, uint32_t portid);
// NLMSG_ERROR for a datagram with no readable message at all: there is no request to echo.
std::vector<std::byte> bare_error_message(int error, uint32_t seq, uint32_t portid);
// NLMSG_DONE ending a dump, with its 4-byte error field (0).
std::vector<std::byte> done_message(uint32_t seq, uint32_t portid, uint16_t flags = kFlagMulti);

// Collects the answers to one request datagram. Non-dump answers (one message, an ack or an
// error) are one datagram each; a dump's messages are packed into datagrams of at most
// max_datagram bytes, and its NLMSG_DONE joins the last one when it fits (a single message
// larger than the limit gets a datagram of its own).
class AnswerWriter {
 public:
  explicit AnswerWriter(size_t max_datagram) : max_datagram_(max_datagram) {}

  void single(std::vector<std::byte> message);
  void dump_part(std::vector<std::byte> message);
  void end_dump(std::vector<std::byte> done);

  // How many dumps have ended so far.
  size_t dumps() const { return dumps_; }

  std::vector<std::vector<std::byte>> take() &&;

 private:
  void close_dump();

  size_t max_datagram_;
  size_t dumps_ = 0;
  std::vector<std::vector<std::byte>> datagrams_;
  std::vector<std::byte> open_;  // the dump datagram being filled
};

// Answers every message of a request datagram the way the kernel's netlink_rcv_skb does, with
// `handler` for each request (NLM_F_REQUEST set, type at least NLMSG_MIN_TYPE). A handler
// error becomes an NLMSG_ERROR echoing the request; NLM_F_ACK adds an ack after a successful
// answer, except after a dump, whose NLMSG_DONE stands in for it; messages that are not
// requests get only the ack they ask for. A datagram in which not even the first message is
// readable gets one NLMSG_ERROR (EINVAL, sequence 0): Linux would answer nothing and leave the
// program waiting for an answer.
using MessageHandler = std::function<Status(const Message&, AnswerWriter&)>;
std::vector<std::vector<std::byte>> answer_messages(ByteView request, uint32_t portid,
                                                    size_t max_datagram,
                                                    const MessageHandler& handler);

}  // namespace weir::sandbox::netlink
