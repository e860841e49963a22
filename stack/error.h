// Errors are a closed set whose values are the errno the sandbox reports for them, so the
// mapping to errno is the identity and cannot drift.
#pragma once

#include <cerrno>
#include <cstdint>
#include <optional>
#include <string_view>

namespace weir {

enum class Error : int {
  kWouldBlock = EAGAIN,
  kInvalidArgument = EINVAL,
  kAddressInUse = EADDRINUSE,
  kAddressNotAvailable = EADDRNOTAVAIL,
  kAddressFamilyNotSupported = EAFNOSUPPORT,
  kProtocolNotSupported = EPROTONOSUPPORT,
  kNotSupported = EOPNOTSUPP,
  kConnectionRefused = ECONNREFUSED,
  kConnectionReset = ECONNRESET,
  kConnectionAborted = ECONNABORTED,
  kTimedOut = ETIMEDOUT,
  kNotConnected = ENOTCONN,
  kAlreadyConnected = EISCONN,
  kInProgress = EINPROGRESS,
  kAlready = EALREADY,
  kHostUnreachable = EHOSTUNREACH,
  kNetworkUnreachable = ENETUNREACH,
  kMessageTooLong = EMSGSIZE,
  kNoBufferSpace = ENOBUFS,
  kBrokenPipe = EPIPE,
  kBadMessage = EBADMSG,  // a packet or record failed validation
  kNoDevice = ENODEV,
  kPermissionDenied = EACCES,
  kNotFound = ENOENT,
  kIo = EIO,
  kBadFileDescriptor = EBADF,
  kInterrupted = EINTR,
  kOutOfMemory = ENOMEM,
  kDestinationRequired = EDESTADDRREQ,
  kNoProtocolOption = ENOPROTOOPT,
  kNotASocket = ENOTSOCK,
  kOperationNotPermitted = EPERM,
  kBadAddress = EFAULT,            // a pointer into a sandboxed program's memory was bad
  kNotATerminal = ENOTTY,          // an ioctl a file does not support
  kTooManyFiles = EMFILE,
  kNotImplemented = ENOSYS,
  kNoSuchProcess = ESRCH,
};

constexpr int to_errno(Error e) { return static_cast<int>(e); }

// An optional Error in one byte, for state kept per connection: every errno an Error holds is
// below 256 (Linux's highest is 133).
class CompactError {
 public:
  CompactError() = default;
  CompactError& operator=(Error e) {
    code_ = static_cast<uint8_t>(to_errno(e));
    return *this;
  }
  explicit operator bool() const { return code_ != 0; }
  Error operator*() const { return static_cast<Error>(code_); }
  Error value_or(Error fallback) const { return code_ != 0 ? **this : fallback; }
  std::optional<Error> get() const {
    return code_ != 0 ? std::optional<Error>(**this) : std::nullopt;
  }
  void reset() { code_ = 0; }

 private:
  uint8_t code_ = 0;
};

// Maps an errno to an Error; errno values with no Error map to kIo.
Error error_from_errno(int err);

// A short stable name ("connection reset"), for messages and logs.
std::string_view error_name(Error e);

}  // namespace weir
