#include "sandbox/netlink_wire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "tests/sandbox/netlink_decode.h"

namespace weir::sandbox::netlink {
namespace {

using testing::from_hex;
using testing::to_hex;

// RTM_GETADDR dump as `ip addr` sends it: a 24-byte message in a 152-byte zero-filled buffer.
std::vector<std::byte> ip_addr_request() {
  auto b = from_hex("1800000016000103543d146b000000000000000000000000");
  b.resize(152);
  return b;
}

TEST(MessageReader, ReadsOneMessageAndStopsAtZeroPadding) {
  auto d = ip_addr_request();
  MessageReader r(d);
  auto m = r.next();
  ASSERT_TRUE(m);
  EXPECT_EQ(m->header.length, 24u);
  EXPECT_EQ(m->header.type, 22);
  EXPECT_EQ(m->header.flags, kFlagRequest | kFlagDump);
  EXPECT_TRUE(m->header.is_dump());
  EXPECT_EQ(m->header.seq, 0x6b143d54u);
  EXPECT_EQ(m->payload.size(), 8u);
  EXPECT_EQ(m->bytes.size(), 24u);
  EXPECT_FALSE(r.next());
  EXPECT_TRUE(r.stopped_early());  // nlmsg_len 0 in the padding
}

TEST(MessageReader, ReadsAlignedSuccessiveMessages) {
  // 17-byte message (padded to 20), then a 20-byte one.
  auto d = from_hex(
      "110000001200010301000000000000000000000014000000160001030200000000000000"
      "02000000");
  MessageReader r(d);
  auto a = r.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->payload.size(), 1u);
  auto b = r.next();
  ASSERT_TRUE(b);
  EXPECT_EQ(b->header.seq, 2u);
  EXPECT_EQ(b->payload.size(), 4u);
  EXPECT_FALSE(r.next());
  EXPECT_FALSE(r.stopped_early());
}

TEST(MessageReader, LastMessageMayEndInsideItsPadding) {
  auto d = from_hex("1100000012000103010000000000000000");
  MessageReader r(d);
  ASSERT_TRUE(r.next());
  EXPECT_FALSE(r.next());
  EXPECT_FALSE(r.stopped_early());
}

TEST(MessageReader, RejectsShortAndAbsurdLengths) {
  for (auto hex : {"0800000012000103", "08000000120001030100000000000000",
                   "ffffffff120001030100000000000000", "1400000012000103010000000000000000"}) {
    auto d = from_hex(hex);
    MessageReader r(d);
    EXPECT_FALSE(r.next()) << hex;
    EXPECT_TRUE(r.stopped_early()) << hex;
  }
  MessageReader empty{ByteView{}};
  EXPECT_FALSE(empty.next());
  EXPECT_FALSE(empty.stopped_early());
}

TEST(AttributeReader, ReadsFlatAndNestedAttributes) {
  // IFLA_EXT_MASK u32 1, then a nested attribute holding a u8, then 3 stray bytes.
  auto d = from_hex(
      "08001d0001000000"
      "0c001a80"
      "0500010007000000"
      "aabbcc");
  AttributeReader r(d);
  auto a = r.next();
  ASSERT_TRUE(a);
  EXPECT_EQ(a->type, 29);
  EXPECT_FALSE(a->nested);
  EXPECT_EQ(attribute_u32(a->payload).value(), 1u);
  auto n = r.next();
  ASSERT_TRUE(n);
  EXPECT_EQ(n->type, 26);
  EXPECT_TRUE(n->nested);
  AttributeReader inner(n->payload);
  auto i = inner.next();
  ASSERT_TRUE(i);
  EXPECT_EQ(i->type, 1);
  EXPECT_EQ(attribute_u8(i->payload).value(), 7);
  EXPECT_FALSE(inner.next());
  EXPECT_FALSE(r.next());
  EXPECT_FALSE(r.malformed());
}

TEST(AttributeReader, TruncatedAttributeIsMalformed) {
  for (auto hex : {"0c001d0001000000", "02001d00", "08001d000100000003000100"}) {
    auto d = from_hex(hex);
    AttributeReader r(d);
    while (r.next()) {
    }
    EXPECT_TRUE(r.malformed()) << hex;
    EXPECT_FALSE(AttributeTable::parse(d, 64)) << hex;
  }
  auto stray = from_hex("08001d0001000000aabb");
  AttributeReader r(stray);
  EXPECT_TRUE(r.next());
  EXPECT_FALSE(r.next());
  EXPECT_FALSE(r.malformed());
}

TEST(AttributeTable, IndexesByTypeAndSkipsUnknownTypes) {
  auto d = from_hex(
      "08001d0001000000"
      "0900030065746830"
      "00000000"
      "0800ff0001000000"
      "08001d0002000000");
  auto t = AttributeTable::parse(d, 60);
  ASSERT_TRUE(t);
  EXPECT_EQ(attribute_u32(*t->get(29)).value(), 2u);  // the last one wins
  EXPECT_EQ(attribute_string(*t->get(3)), "eth0");
  EXPECT_FALSE(t->has(255));
  EXPECT_FALSE(t->has(4));
  EXPECT_FALSE(t->has(1000));
}

TEST(AttributeValues, ShortPayloadsAreInvalid) {
  auto b = from_hex("010203");
  EXPECT_EQ(attribute_u32(b).error(), Error::kInvalidArgument);
  EXPECT_EQ(attribute_u16(ByteView(b).first(1)).error(), Error::kInvalidArgument);
  EXPECT_EQ(attribute_u8(ByteView{}).error(), Error::kInvalidArgument);
  auto s = from_hex("6c6f");  // "lo" without its NUL
  EXPECT_EQ(attribute_string(s), "lo");
  EXPECT_EQ(attribute_string(ByteView{}), "");
}

TEST(MessageBuilder, PadsAttributesAndCountsThePaddingInTheLength) {
  MessageBuilder b(16, kFlagMulti, 7, 99);
  auto h = b.reserve(3);
  h[0] = std::byte{0xaa};
  b.put_u8(16, 6);
  b.put_string(3, "lo");
  b.put_u16(5, 0x1234);
  b.put_u64(23, 0x0102030405060708ull);
  size_t nest = b.begin_nested(26);
  b.put_u32(1, 5);
  b.end_nested(nest);
  auto m = std::move(b).finish();
  EXPECT_EQ(to_hex(m),
            "44000000"
            "1000"
            "0200"
            "07000000"
            "63000000"  // header, len 68
            "aa000000"  // 3 bytes + 1 padding
            "05001000"
            "06000000"  // u8 + 3 padding
            "07000300"
            "6c6f0000"  // "lo\0" + 1 padding
            "06000500"
            "34120000"  // u16 + 2 padding
            "0c001700"
            "0807060504030201"  // u64
            "0c001a80"
            "08000100"
            "05000000");  // nested, NLA_F_NESTED
}

TEST(ErrorMessage, AckIsCappedAndErrorEchoesTheRequest) {
  auto req = from_hex("1100000012000503090000000000000007");  // 17 bytes, NLM_F_ACK
  MessageReader r(req);
  auto m = r.next();
  ASSERT_TRUE(m);
  auto ack = error_message(*m, 0, 42);
  EXPECT_EQ(to_hex(ack), std::string("24000000"
                                     "0200"
                                     "0001"
                                     "09000000"
                                     "2a000000") +
                             "00000000" + "11000000120005030900000000000000");
  auto err = error_message(*m, 19, 42);  // ENODEV
  EXPECT_EQ(err.size(), 40u);            // 20 + 17, padded
  EXPECT_EQ(to_hex(err), std::string("25000000"
                                     "0200"
                                     "0000"
                                     "09000000"
                                     "2a000000") +
                             "edffffff" + "1100000012000503090000000000000007" + "000000");
}

TEST(ErrorMessage, BareErrorAndDone) {
  EXPECT_EQ(to_hex(bare_error_message(22, 0, 5)), std::string("24000000"
                                                              "0200"
                                                              "0000"
                                                              "00000000"
                                                              "05000000") +
                                                      "eaffffff" + std::string(32, '0'));
  EXPECT_EQ(to_hex(done_message(9, 5)), "1400000003000200090000000500000000000000");
  EXPECT_EQ(to_hex(done_message(9, 5, kFlagMulti | kFlagDumpFiltered)),
            "1400000003002200090000000500000000000000");
}

std::vector<std::byte> message_of_size(size_t n) {
  MessageBuilder b(16, kFlagMulti, 1, 1);
  b.reserve(n - kHeaderSize);
  return std::move(b).finish();
}

TEST(AnswerWriter, PacksDumpsUpToTheLimitAndKeepsSinglesApart) {
  AnswerWriter w(100);
  w.single(message_of_size(20));
  w.dump_part(message_of_size(40));
  w.dump_part(message_of_size(40));
  w.dump_part(message_of_size(40));   // 120 > 100: a new datagram
  w.dump_part(message_of_size(200));  // larger than the limit: alone
  w.end_dump(done_message(1, 1));
  w.single(message_of_size(24));
  auto d = std::move(w).take();
  ASSERT_EQ(d.size(), 6u);
  EXPECT_EQ(d[0].size(), 20u);
  EXPECT_EQ(d[1].size(), 80u);
  EXPECT_EQ(d[2].size(), 40u);
  EXPECT_EQ(d[3].size(), 200u);
  EXPECT_EQ(d[4].size(), 20u);  // the DONE did not fit beside the 200-byte message
  EXPECT_EQ(d[5].size(), 24u);
}

}  // namespace
}  // namespace weir::sandbox::netlink
