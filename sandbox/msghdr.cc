#include "sandbox/msghdr.h"

#include <limits>

#include "sandbox/native.h"

namespace weir::sandbox {

namespace {

constexpr size_t align8(size_t n) { return (n + 7) & ~size_t{7}; }

}  // namespace

Result<MsgHdr> decode_msghdr(ByteView bytes) {
  if (bytes.size() < kMsghdrSize) return Error::kBadAddress;
  MsgHdr m;
  m.name = load_host<uint64_t>(bytes, 0);
  m.name_length = load_host<uint32_t>(bytes, 8);
  m.iov = load_host<uint64_t>(bytes, 16);
  m.iov_count = load_host<uint64_t>(bytes, 24);
  m.control = load_host<uint64_t>(bytes, 32);
  m.control_length = load_host<uint64_t>(bytes, 40);
  m.flags = load_host<int32_t>(bytes, 48);
  if (m.iov_count > kMaxIovecs) return Error::kMessageTooLong;
  // Linux reads at most a sockaddr_storage of name; a larger length is EINVAL.
  if (m.name != 0 && m.name_length > 128) return Error::kInvalidArgument;
  if (m.control_length > static_cast<uint64_t>(std::numeric_limits<int32_t>::max())) {
    return Error::kNoBufferSpace;
  }
  return m;
}

Result<std::vector<IoVec>> decode_iovecs(ByteView bytes, size_t count) {
  if (count > kMaxIovecs) return Error::kMessageTooLong;
  if (bytes.size() < count * kIovecSize) return Error::kBadAddress;
  std::vector<IoVec> out(count);
  for (size_t i = 0; i < count; ++i) {
    out[i].base = load_host<uint64_t>(bytes, i * kIovecSize);
    out[i].length = load_host<uint64_t>(bytes, i * kIovecSize + 8);
  }
  return out;
}

Result<size_t> total_length(const std::vector<IoVec>& iovs) {
  uint64_t total = 0;
  for (const auto& v : iovs) {
    if (v.length > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) - total) {
      return Error::kInvalidArgument;
    }
    total += v.length;
  }
  return static_cast<size_t>(total);
}

std::vector<std::byte> encode_control(const std::vector<ControlMessage>& messages, size_t capacity,
                                      bool* truncated) {
  std::vector<std::byte> out;
  *truncated = false;
  for (const auto& m : messages) {
    const size_t len = kCmsgHeaderSize + m.data.size();
    const size_t space = align8(len);
    // The last message may end unpadded, as CMSG_SPACE vs CMSG_LEN allow.
    if (out.size() + len > capacity) {
      *truncated = true;
      break;
    }
    const size_t at = out.size();
    out.resize(at + std::min(space, capacity - at));
    store_host<uint64_t>(out, at, len);
    store_host<int32_t>(out, at + 8, m.level);
    store_host<int32_t>(out, at + 12, m.type);
    copy_bytes(out, at + kCmsgHeaderSize, m.data);
  }
  return out;
}

}  // namespace weir::sandbox
