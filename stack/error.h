// Errors are a closed set whose values are the errno the sandbox reports for them, so the
// mapping to errno is the identity and cannot drift.
#pragma once

#include <cerrno>
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

// Maps an errno to an Error; errno values with no Error map to kIo.
Error error_from_errno(int err);

// A short stable name ("connection reset"), for messages and logs.
std::string_view error_name(Error e);

}  // namespace weir
