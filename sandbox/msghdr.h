// struct msghdr / mmsghdr / iovec / cmsghdr as a program passes them to sendmsg, recvmsg,
// sendmmsg and recvmmsg: decoded from bytes copied once out of its memory (x86_64 layout),
// with the limits Linux applies (UIO_MAXIOV vectors, socklen_t lengths).
#pragma once

#include <cstdint>
#include <vector>

#include "stack/bytes.h"
#include "stack/result.h"

namespace weir::sandbox {

inline constexpr size_t kMsghdrSize = 56;
inline constexpr size_t kMmsghdrSize = 64;  // msghdr + unsigned msg_len + padding
inline constexpr size_t kIovecSize = 16;
inline constexpr size_t kMaxIovecs = 1024;  // UIO_MAXIOV
inline constexpr size_t kCmsgHeaderSize = 16;

struct IoVec {
  uint64_t base = 0;
  uint64_t length = 0;
};

struct MsgHdr {
  uint64_t name = 0;
  uint32_t name_length = 0;
  uint64_t iov = 0;
  uint64_t iov_count = 0;
  uint64_t control = 0;
  uint64_t control_length = 0;
  int32_t flags = 0;
};

// Offsets of the fields a recvmsg answer writes back.
inline constexpr size_t kMsghdrNameLenOffset = 8;
inline constexpr size_t kMsghdrControlLenOffset = 40;
inline constexpr size_t kMsghdrFlagsOffset = 48;
inline constexpr size_t kMmsghdrLenOffset = 56;

Result<MsgHdr> decode_msghdr(ByteView bytes);
// An iovec array of `count` entries (kMessageTooLong past UIO_MAXIOV, as Linux's EMSGSIZE).
Result<std::vector<IoVec>> decode_iovecs(ByteView bytes, size_t count);
// The sum of the lengths, or kInvalidArgument when it overflows ssize_t.
Result<size_t> total_length(const std::vector<IoVec>& iovs);

// One control message to append to a recvmsg answer.
struct ControlMessage {
  int level = 0;
  int type = 0;
  std::vector<std::byte> data;
};
// Encodes messages as Linux lays them out (CMSG_ALIGN to 8). Stops before the first one that
// does not fit in capacity and reports that through *truncated (MSG_CTRUNC).
std::vector<std::byte> encode_control(const std::vector<ControlMessage>& messages, size_t capacity,
                                      bool* truncated);

}  // namespace weir::sandbox
