#include "link/pcap_file.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "stack/bytes.h"

namespace weir::link {
namespace {

using namespace std::chrono_literals;

std::vector<std::byte> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return to_byte_vector(std::string_view(chars.data(), chars.size()));
}

// Little-endian field writers for hand-built pcapng blocks.
void put32(std::vector<std::byte>& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(std::byte(static_cast<uint8_t>(v >> (8 * i))));
}
void put16(std::vector<std::byte>& out, uint16_t v) {
  out.push_back(std::byte(static_cast<uint8_t>(v)));
  out.push_back(std::byte(static_cast<uint8_t>(v >> 8)));
}

// A pcapng file: section header, one Ethernet interface (microsecond timestamps, the
// default), one enhanced packet block per frame at the given microsecond timestamps.
std::vector<std::byte> make_pcapng(const std::vector<std::vector<std::byte>>& frames,
                                   const std::vector<uint64_t>& micros) {
  std::vector<std::byte> out;
  put32(out, 0x0A0D0D0A);  // SHB
  put32(out, 28);
  put32(out, 0x1A2B3C4D);
  put16(out, 1);
  put16(out, 0);
  put32(out, 0xFFFFFFFF);  // section length unknown
  put32(out, 0xFFFFFFFF);
  put32(out, 28);
  put32(out, 1);  // IDB
  put32(out, 20);
  put16(out, DLT_EN10MB);
  put16(out, 0);
  put32(out, 65535);
  put32(out, 20);
  for (size_t i = 0; i < frames.size(); ++i) {
    const auto& f = frames[i];
    const uint32_t padded = static_cast<uint32_t>((f.size() + 3) / 4 * 4);
    const uint32_t total = 32 + padded;
    put32(out, 6);  // EPB
    put32(out, total);
    put32(out, 0);  // interface 0
    put32(out, static_cast<uint32_t>(micros[i] >> 32));
    put32(out, static_cast<uint32_t>(micros[i]));
    put32(out, static_cast<uint32_t>(f.size()));
    put32(out, static_cast<uint32_t>(f.size()));
    out.insert(out.end(), f.begin(), f.end());
    out.resize(out.size() + (padded - f.size()));
    put32(out, total);
  }
  return out;
}

class PcapFileTest : public ::testing::Test {
 protected:
  void TearDown() override { std::remove(path_.c_str()); }
  std::string path_ = ::testing::TempDir() + "weir_pcap_file_" + std::to_string(::getpid()) + "_" +
                      ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".pcap";
};

TEST_F(PcapFileTest, WriterAndReaderRoundTripBytesAndNanosecondTimestamps) {
  const auto a = to_byte_vector("0123456789abcdefghij");
  const auto b = to_byte_vector("second frame, longer than the first one");
  const Duration ta = std::chrono::seconds(1'764'000'000) + 123'456'789ns;
  const Duration tb = ta + 1500us;
  {
    std::string message;
    auto writer = PcapWriter::create(path_, DLT_EN10MB, &message);
    ASSERT_TRUE(writer) << message;
    (*writer)->write(ta, a);
    (*writer)->write(tb, b);
    EXPECT_EQ((*writer)->records_written(), 2u);
  }
  std::string message;
  auto reader = PcapReader::open(path_, &message);
  ASSERT_TRUE(reader) << message;
  EXPECT_EQ((*reader)->link_type(), DLT_EN10MB);
  auto r1 = (*reader)->next(&message);
  ASSERT_TRUE(r1 && *r1) << message;
  EXPECT_EQ((*r1)->timestamp, ta);
  EXPECT_EQ((*r1)->bytes, a);
  EXPECT_EQ((*r1)->original_length, a.size());
  EXPECT_FALSE((*r1)->truncated());
  auto r2 = (*reader)->next(&message);
  ASSERT_TRUE(r2 && *r2) << message;
  EXPECT_EQ((*r2)->timestamp, tb);
  EXPECT_EQ((*r2)->bytes, b);
  auto end = (*reader)->next(&message);
  ASSERT_TRUE(end);
  EXPECT_FALSE(*end);
  EXPECT_EQ((*reader)->records_read(), 2u);

  // The same bytes read from memory give the same records.
  auto memory = PcapReader::open_memory(read_file(path_), &message);
  ASSERT_TRUE(memory) << message;
  auto m1 = (*memory)->next();
  ASSERT_TRUE(m1 && *m1);
  EXPECT_EQ((*m1)->bytes, a);
  EXPECT_EQ((*m1)->timestamp, ta);
}

TEST_F(PcapFileTest, ReadsPcapng) {
  std::vector<std::vector<std::byte>> frames = {to_byte_vector("frame one, fourteen+"),
                                                to_byte_vector("frame two!")};
  auto file = make_pcapng(frames, {1'000'000'000'000'001, 1'000'000'000'250'000});
  std::string message;
  auto reader = PcapReader::open_memory(file, &message);
  ASSERT_TRUE(reader) << message;
  EXPECT_EQ((*reader)->link_type(), DLT_EN10MB);
  auto r1 = (*reader)->next(&message);
  ASSERT_TRUE(r1 && *r1) << message;
  EXPECT_EQ((*r1)->bytes, frames[0]);
  EXPECT_EQ((*r1)->timestamp, Duration(std::chrono::microseconds(1'000'000'000'000'001)));
  auto r2 = (*reader)->next(&message);
  ASSERT_TRUE(r2 && *r2) << message;
  EXPECT_EQ((*r2)->bytes, frames[1]);
  EXPECT_EQ((*r2)->timestamp - (*r1)->timestamp, 249'999us);
  auto end = (*reader)->next(&message);
  ASSERT_TRUE(end);
  EXPECT_FALSE(*end);
}

// pcapng timestamps are 64-bit: seconds past what int64 nanoseconds hold are an error, not an
// overflow (found by fuzz_pcap_file).
TEST_F(PcapFileTest, TimestampBeyondNanosecondRangeIsAnError) {
  auto file = make_pcapng({to_byte_vector("frame one, fourteen+")}, {UINT64_MAX - 5});
  std::string message;
  auto reader = PcapReader::open_memory(file, &message);
  ASSERT_TRUE(reader) << message;
  auto r = (*reader)->next(&message);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), Error::kBadMessage);
  EXPECT_NE(message.find("record 1 has a timestamp outside"), std::string::npos) << message;
}

TEST_F(PcapFileTest, NotACaptureIsAnErrorWithAMessage) {
  std::string message;
  auto reader =
      PcapReader::open_memory(to_byte_vector("GET / HTTP/1.1\r\n\r\nnot a capture"), &message);
  ASSERT_FALSE(reader);
  EXPECT_EQ(reader.error(), Error::kBadMessage);
  EXPECT_NE(message.find("cannot read capture"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);

  auto empty = PcapReader::open_memory({}, &message);
  ASSERT_FALSE(empty);
  EXPECT_NE(message.find("empty"), std::string::npos) << message;

  auto missing = PcapReader::open("/nonexistent-dir/none.pcap", &message);
  ASSERT_FALSE(missing);
  EXPECT_NE(message.find("/nonexistent-dir/none.pcap"), std::string::npos) << message;
}

TEST_F(PcapFileTest, TruncatedRecordIsAnErrorNamingTheRecord) {
  {
    auto writer = PcapWriter::create(path_, DLT_EN10MB).value();
    writer->write(1s, to_byte_vector("a whole first frame"));
    writer->write(2s, to_byte_vector("a second frame that the file cuts short"));
  }
  auto bytes = read_file(path_);
  bytes.resize(bytes.size() - 10);
  std::string message;
  auto reader = PcapReader::open_memory(bytes, &message);
  ASSERT_TRUE(reader) << message;
  auto r1 = (*reader)->next(&message);
  ASSERT_TRUE(r1 && *r1) << message;
  auto r2 = (*reader)->next(&message);
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error(), Error::kBadMessage);
  EXPECT_NE(message.find("record 2"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos);
}

TEST_F(PcapFileTest, UnwritablePathFailsWithMessage) {
  std::string message;
  auto writer = PcapWriter::create("/nonexistent-dir/x.pcap", DLT_EN10MB, &message);
  ASSERT_FALSE(writer);
  EXPECT_EQ(writer.error(), Error::kIo);
  EXPECT_NE(message.find("/nonexistent-dir/x.pcap"), std::string::npos) << message;
}

}  // namespace
}  // namespace weir::link
