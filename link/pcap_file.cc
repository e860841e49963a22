#include "link/pcap_file.h"

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <limits>

namespace weir::link {

namespace {

void set_message(std::string* message, std::string text) {
  if (message) *message = std::move(text);
}

// libpcap's errors can span lines (rarely); callers print one line.
std::string one_line(std::string text) {
  if (auto nl = text.find('\n'); nl != std::string::npos) text.resize(nl);
  return text;
}

}  // namespace

// ---- PcapReader ---------------------------------------------------------------------------

PcapReader::PcapReader(Key, std::vector<std::byte> memory) : memory_(std::move(memory)) {}
PcapReader::~PcapReader() = default;

Result<std::unique_ptr<PcapReader>> PcapReader::open(const std::string& path,
                                                     std::string* message) {
  std::array<char, PCAP_ERRBUF_SIZE> err{};
  PcapHandle pcap(pcap_open_offline_with_tstamp_precision(path.c_str(), PCAP_TSTAMP_PRECISION_NANO,
                                                          err.data()));
  if (!pcap) {
    set_message(message, "cannot read capture '" + path + "': " + one_line(err.data()));
    return Error::kBadMessage;
  }
  auto reader = std::make_unique<PcapReader>(Key(), std::vector<std::byte>());
  reader->pcap_ = std::move(pcap);
  return reader;
}

Result<std::unique_ptr<PcapReader>> PcapReader::open_memory(ByteView data, std::string* message) {
  // fmemopen() of zero bytes fails with EINVAL; say what the caller would want to hear.
  if (data.empty()) {
    set_message(message, "cannot read capture: the input is empty");
    return Error::kBadMessage;
  }
  auto reader = std::make_unique<PcapReader>(Key(), to_byte_vector(data));
  // pcap_fopen_offline takes the FILE (pcap_close closes it); the bytes stay in memory_.
  std::FILE* file = fmemopen(reader->memory_.data(), reader->memory_.size(), "rb");
  if (file == nullptr) {
    set_message(message, std::string("cannot read capture from memory: ") + std::strerror(errno));
    return Error::kOutOfMemory;
  }
  std::array<char, PCAP_ERRBUF_SIZE> err{};
  reader->pcap_.reset(
      pcap_fopen_offline_with_tstamp_precision(file, PCAP_TSTAMP_PRECISION_NANO, err.data()));
  if (!reader->pcap_) {
    // On failure libpcap leaves the FILE to us.
    std::fclose(file);
    set_message(message, "cannot read capture: " + one_line(err.data()));
    return Error::kBadMessage;
  }
  return reader;
}

int PcapReader::link_type() const { return pcap_datalink(pcap_.get()); }

Result<std::optional<PcapRecord>> PcapReader::next(std::string* message) {
  pcap_pkthdr* header = nullptr;
  const u_char* data = nullptr;
  const int status = pcap_next_ex(pcap_.get(), &header, &data);
  if (status == PCAP_ERROR_BREAK) return std::optional<PcapRecord>();  // end of file
  if (status != 1 || header == nullptr || data == nullptr) {
    set_message(message, "capture record " + std::to_string(records_ + 1) +
                             " is damaged: " + one_line(pcap_geterr(pcap_.get())));
    return Error::kBadMessage;
  }
  // With nanosecond precision libpcap puts nanoseconds in tv_usec. A pcapng timestamp is 64
  // bits of any unit, so seconds can be far past what nanoseconds in an int64 hold (the year
  // 2262): such a record is damaged for us, not an overflow (found by fuzz_pcap_file).
  constexpr int64_t kMaxSeconds = std::numeric_limits<int64_t>::max() / 1'000'000'000 - 1;
  if (header->ts.tv_sec < 0 || header->ts.tv_sec > kMaxSeconds || header->ts.tv_usec < 0 ||
      header->ts.tv_usec >= 1'000'000'000) {
    set_message(message, "capture record " + std::to_string(records_ + 1) +
                             " has a timestamp outside 1970..2262");
    return Error::kBadMessage;
  }
  // libpcap has already refused records larger than the snapshot length or the file; caplen
  // is what `data` holds.
  PcapRecord record;
  record.timestamp = std::chrono::seconds(header->ts.tv_sec) + Duration(header->ts.tv_usec);
  record.original_length = header->len;
  record.bytes = to_byte_vector(std::as_bytes(std::span(data, header->caplen)));
  ++records_;
  return std::optional<PcapRecord>(std::move(record));
}

// ---- PcapWriter ---------------------------------------------------------------------------

PcapWriter::PcapWriter(Key, PcapHandle pcap, PcapDumperHandle dumper)
    : pcap_(std::move(pcap)), dumper_(std::move(dumper)) {}

PcapWriter::~PcapWriter() {
  // Closing the dumper flushes it; close it before the pcap_t it was opened on.
  dumper_.reset();
}

Result<std::unique_ptr<PcapWriter>> PcapWriter::create(const std::string& path, int link_type,
                                                       std::string* message) {
  PcapHandle pcap(
      pcap_open_dead_with_tstamp_precision(link_type, kPcapSnapLength, PCAP_TSTAMP_PRECISION_NANO));
  if (!pcap) {
    set_message(message, "libpcap could not allocate a capture handle");
    return Error::kOutOfMemory;
  }
  PcapDumperHandle dumper(pcap_dump_open(pcap.get(), path.c_str()));
  if (!dumper) {
    set_message(message, "cannot write pcap file '" + path +
                             "': " + one_line(pcap_geterr(pcap.get())) +
                             "; check that the directory exists and is writable");
    return Error::kIo;
  }
  return std::make_unique<PcapWriter>(Key(), std::move(pcap), std::move(dumper));
}

void PcapWriter::write(Duration timestamp, ByteView frame) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(timestamp);
  pcap_pkthdr header{};
  header.ts.tv_sec = static_cast<time_t>(secs.count());
  // With nanosecond precision libpcap reads tv_usec as nanoseconds.
  header.ts.tv_usec = static_cast<suseconds_t>((timestamp - secs).count());
  header.len = static_cast<bpf_u_int32>(frame.size());
  header.caplen = static_cast<bpf_u_int32>(std::min<size_t>(frame.size(), kPcapSnapLength));
  // pcap_dump() has a pcap_handler's signature: its first argument is an opaque u_char* that
  // must be the dumper, and the record bytes are only read. Library handles, not packet bytes
  // reinterpreted as a struct.
  pcap_dump(reinterpret_cast<u_char*>(dumper_.get()),  // NOLINT(*-reinterpret-cast)
            &header,
            reinterpret_cast<const u_char*>(frame.data()));  // NOLINT(*-reinterpret-cast)
  ++records_;
}

Status PcapWriter::flush() {
  if (pcap_dump_flush(dumper_.get()) != 0) return Error::kIo;
  return ok_status();
}

}  // namespace weir::link
