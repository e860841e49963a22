// Capture files in and out: PcapReader reads pcap and pcapng files (through libpcap, which
// reads both), PcapWriter writes pcap files. The sniffer (link/sniffer.h) records through a
// PcapWriter; `weir replay` (tools/replay.h) reads a capture with a PcapReader and records
// what the stack answers with a PcapWriter.
//
// Theory of operation. libpcap does the file formats; this file keeps its C API (handles that
// must be closed, error text in a handle-owned buffer, a per-record pointer valid only until
// the next read) behind two small owning types. Records come out as a copy of the captured
// bytes with a timestamp in nanoseconds since the Unix epoch, both formats opened with
// nanosecond precision so microsecond and nanosecond files read alike. A damaged file (not a
// capture, a record header or body cut short, a record larger than the file's snapshot
// length) is an error with libpcap's one-line reason, never a partial record. The reader can
// also read from memory (via fmemopen), which is how the fuzz target drives it.
#pragma once

#include <pcap/pcap.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "stack/bytes.h"
#include "stack/clock.h"
#include "stack/result.h"

namespace weir::link {

struct PcapCloser {
  void operator()(pcap_t* p) const { pcap_close(p); }
};
struct PcapDumperCloser {
  void operator()(pcap_dumper_t* d) const { pcap_dump_close(d); }
};
using PcapHandle = std::unique_ptr<pcap_t, PcapCloser>;
using PcapDumperHandle = std::unique_ptr<pcap_dumper_t, PcapDumperCloser>;

// Large enough for a GSO super-frame (64 KiB) with room to spare; libpcap's own maximum.
inline constexpr uint32_t kPcapSnapLength = 262144;

struct PcapRecord {
  Duration timestamp{};          // since the Unix epoch
  uint32_t original_length = 0;  // the frame's length on the wire
  std::vector<std::byte> bytes;  // what was captured: original_length or fewer bytes
  bool truncated() const { return bytes.size() < original_length; }
};

class PcapReader {
 public:
  // Opens a pcap or pcapng file. On failure *message (if given) says why in one line.
  static Result<std::unique_ptr<PcapReader>> open(const std::string& path,
                                                  std::string* message = nullptr);
  // The same from bytes in memory (copied; the reader keeps them).
  static Result<std::unique_ptr<PcapReader>> open_memory(ByteView data,
                                                         std::string* message = nullptr);

  class Key {
    friend class PcapReader;
    Key() = default;
  };
  PcapReader(Key, std::vector<std::byte> memory);
  PcapReader(const PcapReader&) = delete;
  PcapReader& operator=(const PcapReader&) = delete;
  ~PcapReader();

  // The file's link type (DLT_EN10MB for Ethernet, ...). For pcapng, that of the first
  // interface; libpcap refuses files whose interfaces differ in link type.
  int link_type() const;
  // The next record, nullopt at the end of the file. kBadMessage for a damaged file, with
  // *message saying what is wrong and at which record.
  Result<std::optional<PcapRecord>> next(std::string* message = nullptr);
  // Records returned so far.
  uint64_t records_read() const { return records_; }

 private:
  std::vector<std::byte> memory_;  // open_memory()'s bytes; declared first: outlives pcap_
  PcapHandle pcap_;
  uint64_t records_ = 0;
};

class PcapWriter {
 public:
  // Creates (truncates) a pcap file of link_type with nanosecond timestamps.
  static Result<std::unique_ptr<PcapWriter>> create(const std::string& path, int link_type,
                                                    std::string* message = nullptr);

  class Key {
    friend class PcapWriter;
    Key() = default;
  };
  PcapWriter(Key, PcapHandle pcap, PcapDumperHandle dumper);
  PcapWriter(const PcapWriter&) = delete;
  PcapWriter& operator=(const PcapWriter&) = delete;
  ~PcapWriter();

  // Appends one record (a pcap file holds seconds as 32 bits: until 2106); frames longer than
  // kPcapSnapLength are cut there (original length kept in the record header, as libpcap does).
  // Buffered: flush() or destruction writes.
  void write(Duration timestamp, ByteView frame);
  // kIo if writing failed (disk full, ...).
  Status flush();
  uint64_t records_written() const { return records_; }

 private:
  PcapHandle pcap_;
  PcapDumperHandle dumper_;  // after pcap_: closed first
  uint64_t records_ = 0;
};

}  // namespace weir::link
