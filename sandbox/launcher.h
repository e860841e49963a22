// Starts a program inside fresh user, pid, mount, uts, ipc and network namespaces, under the
// program filter of sandbox/policy.h, and hands the supervisor the filter's listener.
//
// Theory of operation. The supervisor clone3()s the sandbox's init with every namespace flag
// and CLONE_PIDFD. The init waits on a control socket until the supervisor has written its
// uid/gid maps (root: the identity map of every id, so a server that drops to www-data still
// can; anyone else: their own id as root inside), then becomes root in the namespace, asks for
// SIGKILL when the supervisor dies (PR_SET_PDEATHSIG; a pid namespace's init dies and takes
// every process inside with it), mounts a /proc of the new pid namespace and a /sys of the new
// network namespace, bind-mounts the generated /etc/resolv.conf and /etc/hosts, sets the
// hostname, and installs the program filter. It tells the supervisor the listener's fd
// number; the supervisor copies the fd out with pidfd_getfd (sending it over the socket would
// be a trapped sendmsg, answered by nobody yet) and acknowledges; the init closes its copy,
// forks the program (pid 2) and execs it. From then on the init only forwards signals to the
// program and reaps orphans; when the program ends, the init ends with the program's status
// (128+N when a signal N killed it), and the pid namespace with it.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "stack/result.h"
#include "sandbox/kernel.h"
#include "stack/unique_fd.h"

namespace weir::sandbox {

struct LaunchOptions {
  std::vector<std::string> argv;  // argv[0] is looked up in PATH
  std::string hostname = "weir";
  // Files bind-mounted over /etc/resolv.conf and /etc/hosts inside; empty: left as they are.
  std::string resolv_conf_path;
  std::string hosts_path;
};

struct Launched {
  pid_t init_pid = -1;
  UniqueFd init_pidfd;  // readable when the init (and so the sandbox) has ended
  NotifyFd notify;      // the program filter's listener
};

// Starts the sandbox. On failure *message says what is missing or wrong, in a sentence.
Result<Launched> launch(const LaunchOptions& options, std::string* message);

// The exit status of the ended init (the program's status): waits for it.
int wait_for_exit(const Launched& launched);

// Signals the sandbox's init forwards to the program.
const std::vector<int>& forwarded_signals();

}  // namespace weir::sandbox
