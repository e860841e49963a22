#include "stack/error.h"

namespace weir {

namespace {
struct ErrorEntry {
  Error error;
  std::string_view name;
};

constexpr ErrorEntry kErrors[] = {
    {Error::kWouldBlock, "operation would block"},
    {Error::kInvalidArgument, "invalid argument"},
    {Error::kAddressInUse, "address in use"},
    {Error::kAddressNotAvailable, "address not available"},
    {Error::kAddressFamilyNotSupported, "address family not supported"},
    {Error::kProtocolNotSupported, "protocol not supported"},
    {Error::kNotSupported, "operation not supported"},
    {Error::kConnectionRefused, "connection refused"},
    {Error::kConnectionReset, "connection reset"},
    {Error::kConnectionAborted, "connection aborted"},
    {Error::kTimedOut, "timed out"},
    {Error::kNotConnected, "not connected"},
    {Error::kAlreadyConnected, "already connected"},
    {Error::kInProgress, "operation in progress"},
    {Error::kAlready, "operation already in progress"},
    {Error::kHostUnreachable, "host unreachable"},
    {Error::kNetworkUnreachable, "network unreachable"},
    {Error::kMessageTooLong, "message too long"},
    {Error::kNoBufferSpace, "no buffer space"},
    {Error::kBrokenPipe, "broken pipe"},
    {Error::kBadMessage, "malformed message"},
    {Error::kNoDevice, "no such device"},
    {Error::kPermissionDenied, "permission denied"},
    {Error::kNotFound, "not found"},
    {Error::kIo, "input/output error"},
    {Error::kBadFileDescriptor, "bad file descriptor"},
    {Error::kInterrupted, "interrupted"},
    {Error::kOutOfMemory, "out of memory"},
    {Error::kDestinationRequired, "destination address required"},
    {Error::kNoProtocolOption, "protocol option not available"},
    {Error::kNotASocket, "not a socket"},
    {Error::kOperationNotPermitted, "operation not permitted"},
    {Error::kBadAddress, "bad address"},
    {Error::kNotATerminal, "inappropriate ioctl for device"},
    {Error::kTooManyFiles, "too many open files"},
    {Error::kNotImplemented, "function not implemented"},
    {Error::kNoSuchProcess, "no such process"},
};
}  // namespace

Error error_from_errno(int err) {
  if (err == EWOULDBLOCK) return Error::kWouldBlock;
  for (const auto& entry : kErrors) {
    if (to_errno(entry.error) == err) return entry.error;
  }
  return Error::kIo;
}

std::string_view error_name(Error e) {
  for (const auto& entry : kErrors) {
    if (entry.error == e) return entry.name;
  }
  return "unknown error";
}

}  // namespace weir
