// The two seccomp policies of `weir run`.
//
// The program's filter (installed by the sandbox's init before the program runs, inherited by
// everything it starts):
//   - 32-bit (i386, int 0x80) and x32 entry kill the process: the socketcall(2) multiplexer
//     and the x32 numbers would otherwise slip past every rule below.
//   - socket-family calls go to the supervisor (SECCOMP_RET_USER_NOTIF), narrowed by register
//     arguments so the data path never leaves the kernel: socket() of AF_UNIX runs natively;
//     sendto/recvfrom without an address (send, recv) run natively; ioctl only for the socket
//     commands (FIONREAD, SIOCOUTQ, SIOC*); open/openat/openat2 so /proc/net can be answered.
//   - kernel surface a networked program has no use for fails with EPERM (ENOSYS for io_uring,
//     so programs take their fallback path): bpf, perf_event_open, keys, userfaultfd, kexec,
//     modules, ptrace, process_vm_*, handles, io_uring (it can open and connect sockets
//     without any of the calls above), ...
//   - everything else runs.
// The supervisor's allowlist, applied to itself once every fd it needs is open: a short list
// of calls, ioctl narrowed to the four seccomp notification commands; anything else kills it.
#pragma once

#include <string>
#include <vector>

#include "stack/result.h"
#include "stack/unique_fd.h"

namespace weir::sandbox {

// Installs the program's filter on the calling thread and returns the notification listener.
// Runs in the sandbox's init after fork; the caller hands the fd to the supervisor.
Result<UniqueFd> install_program_filter();

// Confines the calling process to the supervisor allowlist. Irreversible.
Status lock_down_supervisor();

// The syscalls the supervisor may make after lock_down_supervisor(), by name.
const std::vector<std::string>& supervisor_allowlist();

// Both policies as readable text (libseccomp's pseudo filter code plus a summary), ending with
// the line "supervisor allowlist: N syscalls".
Result<std::string> describe_policies();

}  // namespace weir::sandbox
