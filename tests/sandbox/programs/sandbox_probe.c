// sandbox_probe: checks, from inside `weir run`, that a program's sockets behave as on Linux.
//
// One binary, one subcommand per area (see usage()). Every check prints "ok   ..." or
// "FAIL ...", and the subcommand ends with one line "PASS <name>" (exit 0) or "FAIL <name>: N of
// M checks failed" (exit 1). The same subcommands run outside the sandbox too, against Linux,
// except `bypass`, which expects the sandbox's filter. A watchdog ends a hung subcommand with
// FAIL after PROBE_TIMEOUT seconds (default 60).
//
// The checks cover the pitfalls of seccomp user notification with AF_UNIX stand-ins: signals
// interrupting parked calls (and the rollback of what the late answer carried), connect's
// states, close() without shutdown, socket identity across dup/fork/exec/SCM_RIGHTS, many
// parked calls at once, UDP addresses and boundaries, resets, options, names, calls that must
// not bypass the stack, and the seccomp listener not leaking into the program.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/perf_event.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#ifndef NETLINK_GENERIC
#define NETLINK_GENERIC 16
#endif
#ifndef AF_NETLINK
#define AF_NETLINK 16
#endif
#define X32_SYSCALL_BIT 0x40000000

static const char* g_name = "?";
static int g_checks;
static int g_failed;

static void check(int ok, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void check(int ok, const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("%s ", ok ? "ok  " : "FAIL");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  g_checks++;
  if (!ok) g_failed++;
}

static void note(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("     ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
}

// A check this kernel cannot exercise: printed, not counted as a failure.
static int g_skipped;
static void skip(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
static void skip(const char* fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  printf("SKIP ");
  vprintf(fmt, ap);
  printf("\n");
  va_end(ap);
  g_skipped++;
}

static int finish(void) {
  if (g_failed == 0) {
    if (g_skipped > 0) {
      printf("PASS %s (%d checks, %d skipped)\n", g_name, g_checks, g_skipped);
      return 0;
    }
    printf("PASS %s (%d checks)\n", g_name, g_checks);
    return 0;
  }
  printf("FAIL %s: %d of %d checks failed\n", g_name, g_failed, g_checks);
  return 1;
}

// Ends the program if a call the checks rely on fails: nothing after it would mean anything.
static void die(const char* what) {
  printf("FAIL %s: %s: %s\n", g_name, what, strerror(errno));
  fflush(stdout);
  _exit(1);
}

static const char* errname(int e) {
  switch (e) {
    case 0: return "0";
    case EINTR: return "EINTR";
    case EAGAIN: return "EAGAIN";
    case EINPROGRESS: return "EINPROGRESS";
    case EALREADY: return "EALREADY";
    case EISCONN: return "EISCONN";
    case ENOTCONN: return "ENOTCONN";
    case ECONNREFUSED: return "ECONNREFUSED";
    case ECONNRESET: return "ECONNRESET";
    case EPIPE: return "EPIPE";
    case ETIMEDOUT: return "ETIMEDOUT";
    case EADDRINUSE: return "EADDRINUSE";
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOSYS: return "ENOSYS";
    case EAFNOSUPPORT: return "EAFNOSUPPORT";
    case EPROTONOSUPPORT: return "EPROTONOSUPPORT";
    case ESOCKTNOSUPPORT: return "ESOCKTNOSUPPORT";
    case ENOPROTOOPT: return "ENOPROTOOPT";
    case EINVAL: return "EINVAL";
    case EBADF: return "EBADF";
    default: return strerror(e);
  }
}

static double now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void sleep_ms(int ms) {
  struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static int watchdog_seconds = 60;
static void* watchdog(void* arg) {
  (void)arg;
  sleep((unsigned)watchdog_seconds);
  printf("FAIL %s: timed out after %d s (a call never returned)\n", g_name, watchdog_seconds);
  fflush(stdout);
  _exit(1);
  return NULL;
}

static void start_watchdog(void) {
  const char* t = getenv("PROBE_TIMEOUT");
  if (t != NULL && atoi(t) > 0) watchdog_seconds = atoi(t);
  pthread_t th;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, 64 * 1024);
  // The watchdog blocks every signal so the checks' signals land on the threads that wait.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, &old);
  if (pthread_create(&th, &attr, watchdog, NULL) != 0) die("pthread_create(watchdog)");
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
}

// ---- sockets -----------------------------------------------------------------------------

static struct sockaddr_in sin_of(const char* ip, int port) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) {
    errno = EINVAL;
    die(ip);
  }
  return a;
}

static const char* fmt_sin(const struct sockaddr_in* a, char* buf, size_t n) {
  char ip[INET_ADDRSTRLEN] = "?";
  inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
  snprintf(buf, n, "%s:%d (family %d)", ip, ntohs(a->sin_port), a->sin_family);
  return buf;
}

static int same_sin(const struct sockaddr_in* a, const struct sockaddr_in* b) {
  return a->sin_family == b->sin_family && a->sin_port == b->sin_port &&
         a->sin_addr.s_addr == b->sin_addr.s_addr;
}

static int local_port(int fd) {
  struct sockaddr_in a;
  socklen_t len = sizeof a;
  if (getsockname(fd, (struct sockaddr*)&a, &len) != 0) die("getsockname");
  return ntohs(a.sin_port);
}

static struct sockaddr_in local_name(int fd) {
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  socklen_t len = sizeof a;
  if (getsockname(fd, (struct sockaddr*)&a, &len) != 0) die("getsockname");
  return a;
}

static int tcp_socket(int flags) {
  int fd = socket(AF_INET, SOCK_STREAM | flags, 0);
  if (fd < 0) die("socket(AF_INET, SOCK_STREAM)");
  return fd;
}

static int set_int(int fd, int level, int name, int value) {
  return setsockopt(fd, level, name, &value, sizeof value);
}

static int get_int(int fd, int level, int name, int* value) {
  socklen_t len = sizeof *value;
  *value = -12345;
  return getsockopt(fd, level, name, value, &len);
}

// A listener on 127.0.0.1:port (0: any free port).
static int tcp_listener(int port, int backlog, int reuse) {
  int fd = tcp_socket(0);
  if (reuse && set_int(fd, SOL_SOCKET, SO_REUSEADDR, 1) != 0) die("SO_REUSEADDR");
  struct sockaddr_in a = sin_of("127.0.0.1", port);
  if (bind(fd, (struct sockaddr*)&a, sizeof a) != 0) die("bind");
  if (listen(fd, backlog) != 0) die("listen");
  return fd;
}

static int tcp_connect(const char* ip, int port) {
  int fd = tcp_socket(0);
  struct sockaddr_in a = sin_of(ip, port);
  if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) die("connect");
  return fd;
}

// A port nobody listens on: bound, named, closed.
static int free_port(void) {
  int fd = tcp_socket(0);
  struct sockaddr_in a = sin_of("127.0.0.1", 0);
  if (bind(fd, (struct sockaddr*)&a, sizeof a) != 0) die("bind");
  int port = local_port(fd);
  close(fd);
  return port;
}

static int wait_for(int fd, short events, int ms) {
  struct pollfd p = {fd, events, 0};
  int r;
  do {
    r = poll(&p, 1, ms);
  } while (r < 0 && errno == EINTR);
  return r > 0 ? p.revents : 0;
}

// Reads exactly n bytes (waiting at most ms in total); returns what it got.
static ssize_t read_n(int fd, void* buf, size_t n, int ms) {
  size_t got = 0;
  double end = now_ms() + ms;
  while (got < n) {
    int left = (int)(end - now_ms());
    if (left <= 0 || !(wait_for(fd, POLLIN, left) & (POLLIN | POLLHUP | POLLERR))) break;
    ssize_t r = read(fd, (char*)buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return got > 0 ? (ssize_t)got : r;
    got += (size_t)r;
  }
  return (ssize_t)got;
}

// ---- signals -----------------------------------------------------------------------------

static volatile sig_atomic_t alarms;
static void on_alarm(int sig) {
  (void)sig;
  alarms++;
}

static void set_alarm_handler(int restart) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_alarm;
  sa.sa_flags = restart ? SA_RESTART : 0;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGALRM, &sa, NULL) != 0) die("sigaction");
}

static void arm_timer(int first_ms, int interval_ms) {
  struct itimerval it;
  memset(&it, 0, sizeof it);
  it.it_value.tv_sec = first_ms / 1000;
  it.it_value.tv_usec = (first_ms % 1000) * 1000;
  it.it_interval.tv_sec = interval_ms / 1000;
  it.it_interval.tv_usec = (interval_ms % 1000) * 1000;
  if (setitimer(ITIMER_REAL, &it, NULL) != 0) die("setitimer");
}

struct dialer {
  int port;
  int delay_ms;
  int count;
  char tag;
  int* fds;  // kept open until the test ends
  int failures;
};

// Connects after a delay, from its own thread: its calls are not those of the accepting thread,
// so nothing retires the accept's stale notification on the supervisor's side.
static void* dial(void* arg) {
  struct dialer* d = arg;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGALRM);
  pthread_sigmask(SIG_BLOCK, &set, NULL);
  sleep_ms(d->delay_ms);
  for (int i = 0; i < d->count; i++) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = sin_of("127.0.0.1", d->port);
    if (fd < 0 || connect(fd, (struct sockaddr*)&a, sizeof a) != 0) {
      d->failures++;
      if (fd >= 0) close(fd);
      continue;
    }
    uint32_t tag = (uint32_t)i;
    if (d->count == 1) {
      if (write(fd, &d->tag, 1) != 1) d->failures++;
    } else if (write(fd, &tag, sizeof tag) != sizeof tag) {
      d->failures++;
    }
    d->fds[i] = fd;
  }
  return NULL;
}

static int cmd_signals(int argc, char** argv) {
  (void)argc;
  (void)argv;
  int l = tcp_listener(0, 256, 0);
  int port = local_port(l);

  // 1. A parked accept interrupted by a signal without SA_RESTART: EINTR.
  set_alarm_handler(0);
  alarms = 0;
  arm_timer(300, 0);
  double t0 = now_ms();
  int a = accept(l, NULL, NULL);
  int e = errno;
  check(a < 0 && e == EINTR && alarms == 1,
        "blocking accept interrupted by SIGALRM (no SA_RESTART) returns EINTR (got %d, %s, "
        "after %.0f ms, %d alarm)",
        a, a < 0 ? errname(e) : "a connection", now_ms() - t0, (int)alarms);
  if (a >= 0) close(a);

  // 2. The supervisor still holds that accept; a connection arriving now must not be consumed
  // by its failed answer: the next accept gets it.
  int fd1 = -1;
  struct dialer d1 = {port, 0, 1, 'A', &fd1, 0};
  pthread_t th;
  if (pthread_create(&th, NULL, dial, &d1) != 0) die("pthread_create");
  pthread_join(th, NULL);
  check(d1.failures == 0, "a connection arrives after the interrupted accept");
  int ready = wait_for(l, POLLIN, 3000);
  check(ready & POLLIN, "the listener polls readable for it (revents %#x)", ready);
  char c = 0;
  a = -1;
  if (ready & POLLIN) {
    a = accept(l, NULL, NULL);
    e = errno;
    check(a >= 0 && read_n(a, &c, 1, 3000) == 1 && c == 'A',
          "the next accept gets that connection (rollback of the late answer) (%d %s, byte %c)", a,
          a < 0 ? errname(e) : "", c ? c : '-');
  }
  if (a >= 0) close(a);
  if (fd1 >= 0) close(fd1);

  // 3. With SA_RESTART the accept goes on after the handler and gets the later connection.
  set_alarm_handler(1);
  alarms = 0;
  int fd2 = -1;
  struct dialer d2 = {port, 700, 1, 'B', &fd2, 0};
  if (pthread_create(&th, NULL, dial, &d2) != 0) die("pthread_create");
  arm_timer(200, 0);
  t0 = now_ms();
  a = accept(l, NULL, NULL);
  e = errno;
  c = 0;
  check(a >= 0 && alarms == 1 && read_n(a, &c, 1, 3000) == 1 && c == 'B',
        "with SA_RESTART the accept continues past the handler and gets the connection "
        "(fd %d %s, %d alarm, %.0f ms, byte %c)",
        a, a < 0 ? errname(e) : "", (int)alarms, now_ms() - t0, c ? c : '-');
  pthread_join(th, NULL);
  if (a >= 0) close(a);
  if (fd2 >= 0) close(fd2);

  // 4. Stress: a timer interrupts accept every 2 ms while 200 connections arrive; each one
  // must be accepted exactly once (none lost to an answer that failed).
  enum { kStress = 200 };
  set_alarm_handler(0);
  alarms = 0;
  static int fds[kStress];
  for (int i = 0; i < kStress; i++) fds[i] = -1;
  struct dialer d3 = {port, 50, kStress, 0, fds, 0};
  if (pthread_create(&th, NULL, dial, &d3) != 0) die("pthread_create");
  arm_timer(2, 2);
  static char seen[kStress];
  memset(seen, 0, sizeof seen);
  int accepted = 0, eintr = 0, dup = 0, bad = 0;
  int acc[kStress];
  double deadline = now_ms() + 20000;
  while (accepted < kStress && now_ms() < deadline) {
    int s = accept(l, NULL, NULL);
    if (s < 0) {
      if (errno == EINTR) {
        eintr++;
        continue;
      }
      bad++;
      break;
    }
    acc[accepted++] = s;
  }
  arm_timer(0, 0);
  pthread_join(th, NULL);
  for (int i = 0; i < accepted; i++) {
    uint32_t tag = UINT32_MAX;
    if (read_n(acc[i], &tag, sizeof tag, 3000) != sizeof tag || tag >= kStress) {
      bad++;
    } else if (seen[tag]++) {
      dup++;
    }
    close(acc[i]);
  }
  check(d3.failures == 0 && accepted == kStress && dup == 0 && bad == 0,
        "%d connections under a 2 ms SIGALRM storm: %d accepted, %d duplicates, %d errors, "
        "%d connect failures (%d EINTR, %d alarms)",
        kStress, accepted, dup, bad, d3.failures, eintr, (int)alarms);
  for (int i = 0; i < kStress; i++) {
    if (fds[i] >= 0) close(fds[i]);
  }
  close(l);
  return finish();
}

// ---- connect -----------------------------------------------------------------------------

static int cmd_connect(int argc, char** argv) {
  int l = tcp_listener(0, 16, 0);
  int port = local_port(l);
  struct sockaddr_in to = sin_of("127.0.0.1", port);

  // Non-blocking connect that succeeds.
  int s = tcp_socket(SOCK_NONBLOCK);
  int r = connect(s, (struct sockaddr*)&to, sizeof to);
  int e = errno;
  check(r < 0 && e == EINPROGRESS, "non-blocking connect returns EINPROGRESS (got %d %s)", r,
        r < 0 ? errname(e) : "");
  r = connect(s, (struct sockaddr*)&to, sizeof to);
  e = errno;
  // Linux answers EALREADY while the handshake runs, and once it is done 0 to the first
  // connect that asks (on loopback the handshake is usually over already), EISCONN after that.
  check((r < 0 && (e == EALREADY || e == EISCONN)) || r == 0,
        "a second connect at once gives EALREADY, 0 or EISCONN (got %d %s)", r,
        r < 0 ? errname(e) : "");
  int ev = wait_for(s, POLLOUT, 3000);
  check(ev & POLLOUT, "it polls writable (revents %#x)", ev);
  int err = -1;
  check(get_int(s, SOL_SOCKET, SO_ERROR, &err) == 0 && err == 0, "SO_ERROR is 0 (got %s)",
        errname(err));
  r = connect(s, (struct sockaddr*)&to, sizeof to);
  e = errno;
  check(r < 0 && e == EISCONN, "connect once connected gives EISCONN (got %d %s)", r,
        r < 0 ? errname(e) : "");
  int a = accept(l, NULL, NULL);
  check(a >= 0 && write(s, "x", 1) == 1 && read_n(a, &err, 1, 3000) == 1,
        "the connection carries data");
  if (a >= 0) close(a);
  close(s);

  // Non-blocking connect to a port nobody listens on.
  int closed_port = free_port();
  struct sockaddr_in nowhere = sin_of("127.0.0.1", closed_port);
  s = tcp_socket(SOCK_NONBLOCK);
  r = connect(s, (struct sockaddr*)&nowhere, sizeof nowhere);
  e = errno;
  check(r < 0 && (e == EINPROGRESS || e == ECONNREFUSED),
        "non-blocking connect to a closed port: EINPROGRESS (or ECONNREFUSED at once) (got %d %s)",
        r, r < 0 ? errname(e) : "");
  if (r < 0 && e == EINPROGRESS) {
    ev = wait_for(s, POLLOUT, 3000);
    check(ev & (POLLOUT | POLLERR | POLLHUP), "it polls ready (revents %#x)", ev);
    err = -1;
    check(get_int(s, SOL_SOCKET, SO_ERROR, &err) == 0 && err == ECONNREFUSED,
          "SO_ERROR is ECONNREFUSED (got %s)", errname(err));
    err = -1;
    check(get_int(s, SOL_SOCKET, SO_ERROR, &err) == 0 && err == 0,
          "reading SO_ERROR cleared it (got %s)", errname(err));
  }
  close(s);

  // Blocking connect to a port nobody listens on.
  s = tcp_socket(0);
  r = connect(s, (struct sockaddr*)&nowhere, sizeof nowhere);
  e = errno;
  check(r < 0 && e == ECONNREFUSED, "blocking connect to a closed port gives ECONNREFUSED (got %d %s)",
        r, r < 0 ? errname(e) : "");
  close(s);

  // Blocking connect that succeeds, then again.
  s = tcp_socket(0);
  r = connect(s, (struct sockaddr*)&to, sizeof to);
  e = errno;
  check(r == 0, "blocking connect to a listener succeeds (got %d %s)", r, r < 0 ? errname(e) : "");
  r = connect(s, (struct sockaddr*)&to, sizeof to);
  e = errno;
  check(r < 0 && e == EISCONN, "connect again gives EISCONN (got %d %s)", r, r < 0 ? errname(e) : "");
  close(s);
  a = accept(l, NULL, NULL);
  if (a >= 0) close(a);

  // With an address that never answers (given by the test on a tap uplink): the connect stays
  // in progress, so a second connect is EALREADY, and SO_SNDTIMEO bounds a blocking one.
  if (argc > 0) {
    struct sockaddr_in hole = sin_of(argv[0], 9);
    s = tcp_socket(SOCK_NONBLOCK);
    r = connect(s, (struct sockaddr*)&hole, sizeof hole);
    e = errno;
    check(r < 0 && e == EINPROGRESS, "non-blocking connect to silent %s gives EINPROGRESS (got %s)",
          argv[0], r < 0 ? errname(e) : "0");
    r = connect(s, (struct sockaddr*)&hole, sizeof hole);
    e = errno;
    check(r < 0 && e == EALREADY, "a second connect while in progress gives EALREADY (got %s)",
          r < 0 ? errname(e) : "0");
    close(s);
    s = tcp_socket(0);
    struct timeval tv = {0, 300000};
    if (setsockopt(s, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) die("SO_SNDTIMEO");
    double t0 = now_ms();
    r = connect(s, (struct sockaddr*)&hole, sizeof hole);
    e = errno;
    double took = now_ms() - t0;
    check(r < 0 && e == EINPROGRESS && took >= 250 && took < 3000,
          "blocking connect with SO_SNDTIMEO 300 ms to a silent address gives EINPROGRESS after "
          "the timeout (got %s after %.0f ms)",
          r < 0 ? errname(e) : "0", took);
    close(s);
    // A blocking connect interrupted by a signal: EINTR, the handshake goes on, and the next
    // connect says EALREADY.
    set_alarm_handler(0);
    alarms = 0;
    s = tcp_socket(0);
    arm_timer(200, 0);
    r = connect(s, (struct sockaddr*)&hole, sizeof hole);
    e = errno;
    check(r < 0 && e == EINTR && alarms == 1,
          "blocking connect to a silent address interrupted by SIGALRM gives EINTR (got %s)",
          r < 0 ? errname(e) : "0");
    int fl = fcntl(s, F_GETFL);
    fcntl(s, F_SETFL, fl | O_NONBLOCK);
    r = connect(s, (struct sockaddr*)&hole, sizeof hole);
    e = errno;
    check(r < 0 && e == EALREADY, "connect again after the EINTR gives EALREADY (got %s)",
          r < 0 ? errname(e) : "0");
    close(s);
  }
  close(l);
  return finish();
}

// ---- close -------------------------------------------------------------------------------

static int cmd_close(int argc, char** argv) {
  (void)argc;
  (void)argv;
  int l = tcp_listener(0, 16, 0);
  int port = local_port(l);

  // Client closes without shutdown: the server reads the data, then EOF.
  int c = tcp_connect("127.0.0.1", port);
  int a = accept(l, NULL, NULL);
  if (a < 0) die("accept");
  if (write(c, "bye", 3) != 3) die("write");
  close(c);
  char buf[16] = {0};
  ssize_t n = read_n(a, buf, 3, 3000);
  check(n == 3 && memcmp(buf, "bye", 3) == 0, "server reads the client's last bytes (%zd)", n);
  int ev = wait_for(a, POLLIN, 3000);
  n = (ev & (POLLIN | POLLHUP)) ? read(a, buf, sizeof buf) : -2;
  check(n == 0, "then EOF after the client's close() without shutdown (read %zd, revents %#x)", n, ev);
  close(a);

  // Server closes without shutdown: the client reads EOF.
  c = tcp_connect("127.0.0.1", port);
  a = accept(l, NULL, NULL);
  if (a < 0) die("accept");
  close(a);
  ev = wait_for(c, POLLIN, 3000);
  n = (ev & (POLLIN | POLLHUP)) ? read(c, buf, sizeof buf) : -2;
  check(n == 0, "client reads EOF after the server's close() (read %zd, revents %#x)", n, ev);
  close(c);

  close(l);

  // A listener that never had a connection leaves nothing behind (no TIME_WAIT): its port is
  // free as soon as it is closed, without SO_REUSEADDR.
  l = tcp_listener(0, 4, 0);
  port = local_port(l);
  close(l);
  int reused = 0, in_use = 0, other = 0;
  for (int i = 0; i < 20; i++) {
    int s = tcp_socket(0);
    struct sockaddr_in addr = sin_of("127.0.0.1", port);
    if (bind(s, (struct sockaddr*)&addr, sizeof addr) == 0 && listen(s, 4) == 0) {
      reused++;
    } else if (errno == EADDRINUSE) {
      in_use++;
    } else {
      other++;
    }
    close(s);  // and straight back to bind: the close must be seen before the next bind
  }
  check(reused == 20,
        "a listener closed and bound again on the same port at once, 20 times: %d worked, %d "
        "EADDRINUSE, %d other errors",
        reused, in_use, other);

  // After all that, the port still serves.
  l = tcp_listener(port, 4, 0);
  c = tcp_connect("127.0.0.1", port);
  a = accept(l, NULL, NULL);
  check(a >= 0 && write(c, "k", 1) == 1 && read_n(a, buf, 1, 3000) == 1 && buf[0] == 'k',
        "the re-bound listener accepts and carries data");
  if (a >= 0) close(a);
  close(c);
  close(l);

  // A listener that served connections and had SO_REUSEADDR re-binds with SO_REUSEADDR.
  l = tcp_listener(0, 4, 1);
  port = local_port(l);
  c = tcp_connect("127.0.0.1", port);
  a = accept(l, NULL, NULL);
  if (a >= 0) close(a);  // the server side closes first: it holds TIME_WAIT
  close(c);
  close(l);
  int s = tcp_socket(0);
  set_int(s, SOL_SOCKET, SO_REUSEADDR, 1);
  struct sockaddr_in addr = sin_of("127.0.0.1", port);
  int r = bind(s, (struct sockaddr*)&addr, sizeof addr);
  int e = errno;
  check(r == 0 && listen(s, 4) == 0,
        "a listener that served a connection re-binds at once with SO_REUSEADDR (%s)",
        r == 0 ? "ok" : errname(e));
  close(s);
  return finish();
}

// ---- fd passing --------------------------------------------------------------------------

static int send_fd(int via, int fd) {
  char dummy = 'F';
  struct iovec iov = {&dummy, 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  memset(&u, 0, sizeof u);
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = u.buf;
  m.msg_controllen = sizeof u.buf;
  struct cmsghdr* cm = CMSG_FIRSTHDR(&m);
  cm->cmsg_level = SOL_SOCKET;
  cm->cmsg_type = SCM_RIGHTS;
  cm->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(cm), &fd, sizeof fd);
  return sendmsg(via, &m, 0) == 1 ? 0 : -1;
}

static int recv_fd(int via) {
  char dummy;
  struct iovec iov = {&dummy, 1};
  union {
    struct cmsghdr h;
    char buf[CMSG_SPACE(sizeof(int))];
  } u;
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  m.msg_control = u.buf;
  m.msg_controllen = sizeof u.buf;
  if (recvmsg(via, &m, 0) != 1) return -1;
  struct cmsghdr* cm = CMSG_FIRSTHDR(&m);
  if (cm == NULL || cm->cmsg_type != SCM_RIGHTS) return -1;
  int fd;
  memcpy(&fd, CMSG_DATA(cm), sizeof fd);
  return fd;
}

// Runs after exec with the inherited socket: names, then a round trip.
static int cmd_fdpass_child(int argc, char** argv) {
  if (argc < 2) return 2;
  int fd = atoi(argv[0]);
  int port = atoi(argv[1]);
  struct sockaddr_in peer;
  socklen_t len = sizeof peer;
  char text[64];
  int r = getpeername(fd, (struct sockaddr*)&peer, &len);
  check(r == 0 && ntohs(peer.sin_port) == port,
        "after fork+exec the inherited socket's getpeername is the server (%s)",
        r == 0 ? fmt_sin(&peer, text, sizeof text) : strerror(errno));
  check(write(fd, "from-child", 10) == 10, "the exec'd child writes on it");
  char c = 0;
  check(read_n(fd, &c, 1, 3000) == 1 && c == 'k', "and reads the answer");
  return finish();
}

static int cmd_fdpass(int argc, char** argv) {
  (void)argc;
  (void)argv;
  int l = tcp_listener(0, 16, 0);
  int port = local_port(l);
  int c = tcp_connect("127.0.0.1", port);
  struct sockaddr_in client_addr;
  socklen_t alen = sizeof client_addr;
  int a = accept(l, (struct sockaddr*)&client_addr, &alen);
  if (a < 0) die("accept");
  char text[64], buf[32];

  // SCM_RIGHTS over an AF_UNIX pair (into this process), then the original closed.
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0) die("socketpair");
  check(send_fd(sv[0], c) == 0, "SCM_RIGHTS sends the TCP socket over an AF_UNIX pair");
  int c2 = recv_fd(sv[1]);
  check(c2 >= 0, "and it arrives as fd %d", c2);
  if (c2 < 0) return finish();
  close(c);
  struct sockaddr_in peer, me;
  socklen_t len = sizeof peer;
  int r = getpeername(c2, (struct sockaddr*)&peer, &len);
  check(r == 0 && ntohs(peer.sin_port) == port, "the passed socket's getpeername is the server (%s)",
        r == 0 ? fmt_sin(&peer, text, sizeof text) : strerror(errno));
  len = sizeof me;
  r = getsockname(c2, (struct sockaddr*)&me, &len);
  check(r == 0 && same_sin(&me, &client_addr), "its getsockname is what accept reported (%s)",
        r == 0 ? fmt_sin(&me, text, sizeof text) : strerror(errno));
  check(send(c2, "x", 1, 0) == 1 && read_n(a, buf, 1, 3000) == 1 && buf[0] == 'x',
        "send on the passed socket reaches the server");
  check(send(a, "y", 1, 0) == 1 && recv(c2, buf, 1, 0) == 1 && buf[0] == 'y',
        "recv on the passed socket gets the server's bytes");

  // dup, then the first reference closed: the connection stays.
  int d = dup(c2);
  close(c2);
  int ev = wait_for(a, POLLIN, 300);
  check(ev == 0, "closing one of two references (dup) does not end the connection (revents %#x)", ev);
  check(write(d, "z", 1) == 1 && read_n(a, buf, 1, 3000) == 1 && buf[0] == 'z',
        "the dup still carries data");
  // dup2 to a fixed number; the copy alone now holds the socket.
  int high = dup2(d, 100);
  close(d);
  check(high == 100 && write(high, "h", 1) == 1 && read_n(a, buf, 1, 3000) == 1 && buf[0] == 'h',
        "after dup2 to fd 100 and closing the old fd the socket works");
  len = sizeof peer;
  check(getpeername(100, (struct sockaddr*)&peer, &len) == 0 && ntohs(peer.sin_port) == port,
        "getpeername on fd 100 works");

  // fork + exec: the child gets fd 100; the parent closes its copy first.
  char fdarg[16], portarg[16];
  snprintf(fdarg, sizeof fdarg, "%d", 100);
  snprintf(portarg, sizeof portarg, "%d", port);
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    char* args[] = {"sandbox_probe", "fdpass-child", fdarg, portarg, NULL};
    execv("/proc/self/exe", args);
    _exit(127);
  }
  close(100);
  ssize_t n = read_n(a, buf, 10, 5000);
  check(n == 10 && memcmp(buf, "from-child", 10) == 0,
        "the exec'd child's bytes arrive though the parent closed its copy (%zd)", n);
  check(write(a, "k", 1) == 1, "the server answers the child");
  int status = 0;
  waitpid(pid, &status, 0);
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the exec'd child passed (status %#x)", status);
  ev = wait_for(a, POLLIN, 3000);
  n = (ev & (POLLIN | POLLHUP)) ? read(a, buf, sizeof buf) : -2;
  check(n == 0, "the server reads EOF once the last reference (the child's) is gone (read %zd)", n);
  close(a);

  // A listener passed with SCM_RIGHTS to another process accepts there.
  fflush(stdout);
  pid = fork();
  if (pid == 0) {
    close(sv[0]);
    int lfd = recv_fd(sv[1]);
    if (lfd < 0) _exit(3);
    int s = accept(lfd, NULL, NULL);
    if (s < 0) _exit(4);
    if (write(s, "L", 1) != 1) _exit(5);
    close(s);
    _exit(0);
  }
  check(send_fd(sv[0], l) == 0, "the listener is sent to a forked child");
  close(l);  // the child's copy is the last one
  c = tcp_connect("127.0.0.1", port);
  n = read_n(c, buf, 1, 5000);
  check(n == 1 && buf[0] == 'L', "the child accepts on the passed listener (%zd)", n);
  waitpid(pid, &status, 0);
  check(WIFEXITED(status) && WEXITSTATUS(status) == 0, "the listener child exited 0 (status %#x)",
        status);
  close(c);
  close(sv[0]);
  close(sv[1]);
  return finish();
}

// ---- many threads, many parked calls ---------------------------------------------------------

struct acceptor {
  int listener;
  int got;  // the tag read from the accepted connection, -1 on failure
  int err;
};

static void* accept_one(void* arg) {
  struct acceptor* ac = arg;
  int s;
  do {
    s = accept(ac->listener, NULL, NULL);
  } while (s < 0 && errno == EINTR);
  if (s < 0) {
    ac->err = errno;
    return NULL;
  }
  uint32_t tag;
  if (read_n(s, &tag, sizeof tag, 5000) == sizeof tag) ac->got = (int)tag;
  close(s);
  return NULL;
}

struct connector {
  int port;
  int fd;
  int err;
};

static pthread_barrier_t start_line;
static void* connect_one(void* arg) {
  struct connector* co = arg;
  pthread_barrier_wait(&start_line);
  co->fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = sin_of("127.0.0.1", co->port);
  if (co->fd < 0 || connect(co->fd, (struct sockaddr*)&a, sizeof a) != 0) co->err = errno;
  return NULL;
}

static pthread_t spawn(void* (*fn)(void*), void* arg) {
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 128 * 1024);
  pthread_t th;
  if (pthread_create(&th, &attr, fn, arg) != 0) die("pthread_create");
  pthread_attr_destroy(&attr);
  return th;
}

static int join_all(pthread_t* th, int n, int ms) {
  int joined = 0;
  for (int i = 0; i < n; i++) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    if (pthread_timedjoin_np(th[i], NULL, &ts) == 0) joined++;
  }
  return joined;
}

static int send_tag(int port, uint32_t tag) {
  int fd = tcp_connect("127.0.0.1", port);
  if (write(fd, &tag, sizeof tag) != sizeof tag) die("write");
  return fd;
}

static int cmd_threads(int argc, char** argv) {
  int n = argc > 0 ? atoi(argv[0]) : 16;
  if (n < 1 || n > 512) n = 16;
  pthread_t* th = calloc((size_t)n, sizeof *th);
  struct acceptor* ac = calloc((size_t)n, sizeof *ac);
  int* ls = calloc((size_t)n, sizeof *ls);
  int* cs = calloc((size_t)n, sizeof *cs);

  // A: n threads, each blocked in accept on its own listener.
  for (int i = 0; i < n; i++) {
    ls[i] = tcp_listener(0, 4, 0);
    ac[i] = (struct acceptor){ls[i], -1, 0};
    th[i] = spawn(accept_one, &ac[i]);
  }
  sleep_ms(300);
  for (int i = n - 1; i >= 0; i--) cs[i] = send_tag(local_port(ls[i]), (uint32_t)i);
  int joined = join_all(th, n, 10000);
  int right = 0;
  for (int i = 0; i < n; i++) right += ac[i].got == i;
  check(joined == n && right == n,
        "%d threads blocked in accept on %d listeners, connected in reverse order: %d returned, "
        "%d got their own connection",
        n, n, joined, right);
  for (int i = 0; i < n; i++) {
    close(cs[i]);
    close(ls[i]);
  }

  // B: n threads blocked in accept on one listener.
  int l = tcp_listener(0, n, 0);
  int port = local_port(l);
  for (int i = 0; i < n; i++) {
    ac[i] = (struct acceptor){l, -1, 0};
    th[i] = spawn(accept_one, &ac[i]);
  }
  sleep_ms(300);
  for (int i = 0; i < n; i++) cs[i] = send_tag(port, (uint32_t)i);
  joined = join_all(th, n, 10000);
  char* seen = calloc((size_t)n, 1);
  int distinct = 0;
  for (int i = 0; i < n; i++) {
    if (ac[i].got >= 0 && ac[i].got < n && !seen[ac[i].got]++) distinct++;
  }
  check(joined == n && distinct == n,
        "%d threads blocked in accept on one listener: %d returned, %d distinct connections", n,
        joined, distinct);
  for (int i = 0; i < n; i++) close(cs[i]);

  // C: n threads in a blocking connect at the same moment.
  struct connector* co = calloc((size_t)n, sizeof *co);
  pthread_barrier_init(&start_line, NULL, (unsigned)n);
  for (int i = 0; i < n; i++) {
    co[i] = (struct connector){port, -1, 0};
    th[i] = spawn(connect_one, &co[i]);
  }
  joined = join_all(th, n, 10000);
  int ok = 0;
  for (int i = 0; i < n; i++) ok += co[i].err == 0;
  int got = 0;
  for (int i = 0; i < n; i++) {
    if (!(wait_for(l, POLLIN, 3000) & POLLIN)) break;
    int s = accept(l, NULL, NULL);
    if (s < 0) break;
    got++;
    close(s);
  }
  check(joined == n && ok == n && got == n,
        "%d threads connecting at once: %d returned, %d connected, %d accepted", n, joined, ok, got);
  for (int i = 0; i < n; i++) {
    if (co[i].fd >= 0) close(co[i].fd);
  }
  pthread_barrier_destroy(&start_line);
  close(l);
  free(th);
  free(ac);
  free(ls);
  free(cs);
  free(co);
  free(seen);
  return finish();
}

// Children of `parked`: `threads` threads accept one connection each on the listener, and the
// exit status is how many got one.
static int parked_child(int l, int threads) {
  pthread_t* th = calloc((size_t)threads, sizeof *th);
  struct acceptor* ac = calloc((size_t)threads, sizeof *ac);
  for (int i = 0; i < threads; i++) {
    ac[i] = (struct acceptor){l, -1, 0};
    th[i] = spawn(accept_one, &ac[i]);
  }
  int joined = join_all(th, threads, 30000);
  int got = 0;
  for (int i = 0; i < threads; i++) got += ac[i].got >= 0;
  return joined == threads ? got : 0;
}

static int cmd_parked(int argc, char** argv) {
  int total = argc > 0 ? atoi(argv[0]) : 200;
  int procs = argc > 1 ? atoi(argv[1]) : 4;
  if (total < 1 || total > 1000) total = 200;
  if (procs < 1 || procs > 16 || total % procs != 0) procs = 4;
  const int per = total / procs;
  int l = tcp_listener(0, total + 16, 0);
  int port = local_port(l);

  // `procs` processes x `per` threads, every one parked in accept.
  pid_t* pids = calloc((size_t)procs, sizeof *pids);
  fflush(stdout);
  for (int p = 0; p < procs; p++) {
    pids[p] = fork();
    if (pids[p] == 0) _exit(parked_child(l, per));
    if (pids[p] < 0) die("fork");
  }
  sleep_ms(1000);

  // The supervisor still answers at once while they wait.
  double t0 = now_ms();
  for (int i = 0; i < 50; i++) (void)local_port(l);
  double took = now_ms() - t0;
  check(took < 2000, "50 getsockname calls answered while %d accepts are parked (%.1f ms)", total,
        took);

  // `total` non-blocking connects in flight at once.
  int* cs = calloc((size_t)total, sizeof *cs);
  struct sockaddr_in to = sin_of("127.0.0.1", port);
  int inprogress = 0, immediate = 0, failed = 0;
  for (int i = 0; i < total; i++) {
    cs[i] = tcp_socket(SOCK_NONBLOCK);
    int r = connect(cs[i], (struct sockaddr*)&to, sizeof to);
    if (r == 0) {
      immediate++;
    } else if (errno == EINPROGRESS) {
      inprogress++;
    } else {
      failed++;
    }
  }
  check(failed == 0, "%d non-blocking connects issued at once: %d EINPROGRESS, %d at once, %d failed",
        total, inprogress, immediate, failed);
  struct pollfd* pf = calloc((size_t)total, sizeof *pf);
  for (int i = 0; i < total; i++) pf[i] = (struct pollfd){cs[i], POLLOUT, 0};
  int ready = 0;
  double end = now_ms() + 10000;
  while (now_ms() < end) {
    int r = poll(pf, (nfds_t)total, 100);
    if (r < 0 && errno != EINTR) break;
    ready = 0;
    for (int i = 0; i < total; i++) ready += (pf[i].revents & POLLOUT) != 0;
    if (ready == total) break;
  }
  int so_ok = 0, sent = 0;
  for (int i = 0; i < total; i++) {
    int err = -1;
    if (get_int(cs[i], SOL_SOCKET, SO_ERROR, &err) == 0 && err == 0) so_ok++;
    uint32_t tag = (uint32_t)i;
    if (write(cs[i], &tag, sizeof tag) == sizeof tag) sent++;
  }
  check(ready == total && so_ok == total && sent == total,
        "all %d connects complete: %d writable, %d with SO_ERROR 0, %d wrote their tag", total, ready,
        so_ok, sent);

  int accepted = 0;
  for (int p = 0; p < procs; p++) {
    int status = 0;
    if (waitpid(pids[p], &status, 0) == pids[p] && WIFEXITED(status)) accepted += WEXITSTATUS(status);
  }
  check(accepted == total, "%d processes x %d threads parked in accept got %d connections of %d",
        procs, per, accepted, total);
  for (int i = 0; i < total; i++) close(cs[i]);
  close(l);
  free(cs);
  free(pf);
  free(pids);
  return finish();
}

// ---- UDP ---------------------------------------------------------------------------------

static int udp_bound(const char* ip, int port) {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) die("socket(AF_INET, SOCK_DGRAM)");
  struct sockaddr_in a = sin_of(ip, port);
  if (bind(fd, (struct sockaddr*)&a, sizeof a) != 0) die("bind(udp)");
  return fd;
}

static int udp_to(int fd, const void* data, size_t n, int port) {
  struct sockaddr_in a = sin_of("127.0.0.1", port);
  return sendto(fd, data, n, 0, (struct sockaddr*)&a, sizeof a) == (ssize_t)n ? 0 : -1;
}

// recvfrom with an address, after waiting (bounded) for a datagram.
static ssize_t udp_from(int fd, void* buf, size_t n, int flags, struct sockaddr_in* from) {
  if (!(wait_for(fd, POLLIN, 3000) & POLLIN)) {
    errno = ETIMEDOUT;
    return -1;
  }
  socklen_t len = sizeof *from;
  memset(from, 0, sizeof *from);
  return recvfrom(fd, buf, n, flags, (struct sockaddr*)from, &len);
}

struct dns_server {
  int fd;
  int answered;
};

// Answers queries: the same id with the QR bit set, the question echoed, one A record.
static void* dns_serve(void* arg) {
  struct dns_server* srv = arg;
  for (int i = 0; i < 2; i++) {
    unsigned char q[512];
    struct sockaddr_in from;
    ssize_t n = udp_from(srv->fd, q, sizeof q, 0, &from);
    if (n < 12) return NULL;
    unsigned char ans[600];
    memcpy(ans, q, (size_t)n);
    ans[2] |= 0x80;                 // QR
    ans[7] = 1;                     // ANCOUNT = 1
    const unsigned char rr[] = {0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 9, 8, 7};
    memcpy(ans + n, rr, sizeof rr);
    if (sendto(srv->fd, ans, (size_t)n + sizeof rr, 0, (struct sockaddr*)&from, sizeof from) < 0) {
      return NULL;
    }
    srv->answered++;
  }
  return NULL;
}

static size_t dns_query(unsigned char* q, uint16_t id) {
  static const unsigned char tail[] = {1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 7, 'e', 'x', 'a', 'm', 'p', 'l',
                                       'e', 3, 'c', 'o', 'm', 0, 0, 1, 0, 1};
  q[0] = (unsigned char)(id >> 8);
  q[1] = (unsigned char)id;
  memcpy(q + 2, tail, sizeof tail);
  return 2 + sizeof tail;
}

// Two queries to srv from one unconnected socket: sendto + recvfrom, then sendmsg + recvmsg.
// Each answer must carry the query's id and come from srv.
static void dns_exchange(const struct sockaddr_in* srv_addr) {
  char text[64];
  struct sockaddr_in from;
  struct msghdr m;
  int cl = socket(AF_INET, SOCK_DGRAM, 0);
  if (cl < 0) die("socket(udp)");
  unsigned char q[512], ans[600];
  uint16_t id = (uint16_t)(getpid() * 7919 + 0x1234);
  size_t qn = dns_query(q, id);
  if (sendto(cl, q, qn, 0, (const struct sockaddr*)srv_addr, sizeof *srv_addr) != (ssize_t)qn) {
    die("sendto");
  }
  ssize_t n = udp_from(cl, ans, sizeof ans, 0, &from);
  check(n == (ssize_t)qn + 16 && ans[0] == q[0] && ans[1] == q[1] && (ans[2] & 0x80) &&
            same_sin(&from, srv_addr),
        "DNS-style query by sendto/recvfrom: answer of %zd bytes, id %02x%02x (sent %04x), from %s",
        n, n > 1 ? ans[0] : 0, n > 1 ? ans[1] : 0, id, fmt_sin(&from, text, sizeof text));
  id++;
  qn = dns_query(q, id);
  struct iovec qv = {q, qn};
  memset(&m, 0, sizeof m);
  m.msg_name = (void*)srv_addr;
  m.msg_namelen = sizeof *srv_addr;
  m.msg_iov = &qv;
  m.msg_iovlen = 1;
  if (sendmsg(cl, &m, 0) != (ssize_t)qn) die("sendmsg");
  struct iovec av = {ans, sizeof ans};
  memset(&from, 0, sizeof from);
  memset(&m, 0, sizeof m);
  m.msg_name = &from;
  m.msg_namelen = sizeof from;
  m.msg_iov = &av;
  m.msg_iovlen = 1;
  wait_for(cl, POLLIN, 3000);
  n = recvmsg(cl, &m, 0);
  check(n == (ssize_t)qn + 16 && ans[0] == q[0] && ans[1] == q[1] && m.msg_namelen == sizeof from &&
            same_sin(&from, srv_addr),
        "DNS-style query by sendmsg/recvmsg: answer of %zd bytes, id %02x%02x (sent %04x), from %s",
        n, n > 1 ? ans[0] : 0, n > 1 ? ans[1] : 0, id, fmt_sin(&from, text, sizeof text));
  close(cl);
}

static int cmd_udp(int argc, char** argv) {
  (void)argc;
  (void)argv;
  char text[64], text2[64];
  int r = udp_bound("127.0.0.1", 0);
  int rport = local_port(r);
  int s1 = udp_bound("127.0.0.1", 0), s2 = udp_bound("127.0.0.1", 0);
  struct sockaddr_in a1 = local_name(s1), a2 = local_name(s2), from;
  char buf[256];

  // Two senders: each datagram arrives whole, with its own source.
  udp_to(s1, "one", 3, rport);
  udp_to(s2, "two-two", 7, rport);
  ssize_t n = udp_from(r, buf, sizeof buf, 0, &from);
  check(n == 3 && memcmp(buf, "one", 3) == 0 && same_sin(&from, &a1),
        "recvfrom: \"one\" (%zd bytes) from %s, expected %s", n, fmt_sin(&from, text, sizeof text),
        fmt_sin(&a1, text2, sizeof text2));
  n = udp_from(r, buf, sizeof buf, 0, &from);
  check(n == 7 && memcmp(buf, "two-two", 7) == 0 && same_sin(&from, &a2),
        "recvfrom: \"two-two\" (%zd bytes) from %s, expected %s", n,
        fmt_sin(&from, text, sizeof text), fmt_sin(&a2, text2, sizeof text2));

  // MSG_PEEK then a plain recv: the same datagram; then a peek with an address.
  udp_to(s2, "peekme", 6, rport);
  udp_to(s1, "next", 4, rport);
  n = udp_from(r, buf, sizeof buf, MSG_PEEK, &from);
  check(n == 6 && memcmp(buf, "peekme", 6) == 0 && same_sin(&from, &a2),
        "recvfrom(MSG_PEEK) sees \"peekme\" from the second sender (%zd, %s)", n,
        fmt_sin(&from, text, sizeof text));
  n = udp_from(r, buf, sizeof buf, MSG_PEEK, &from);
  check(n == 6 && memcmp(buf, "peekme", 6) == 0, "a second MSG_PEEK sees it again (%zd)", n);
  memset(buf, 0, sizeof buf);
  n = recv(r, buf, sizeof buf, 0);
  check(n == 6 && memcmp(buf, "peekme", 6) == 0, "then recv() takes that same datagram (%zd)", n);
  n = udp_from(r, buf, sizeof buf, 0, &from);
  check(n == 4 && memcmp(buf, "next", 4) == 0 && same_sin(&from, &a1),
        "and recvfrom the next one, from the first sender (%zd, %s)", n,
        fmt_sin(&from, text, sizeof text));

  // MSG_TRUNC: the real length, with and without an address.
  char big[100];
  memset(big, 'T', sizeof big);
  udp_to(s1, big, sizeof big, rport);
  udp_to(s1, big, sizeof big, rport);
  udp_to(s1, big, sizeof big, rport);
  if (!(wait_for(r, POLLIN, 3000) & POLLIN)) die("poll(udp)");
  n = recv(r, buf, 10, MSG_TRUNC);
  check(n == 100, "recv(10 bytes, MSG_TRUNC) of a 100-byte datagram returns 100 (%zd)", n);
  n = udp_from(r, buf, 10, MSG_TRUNC, &from);
  check(n == 100 && same_sin(&from, &a1),
        "recvfrom(10 bytes, MSG_TRUNC) with an address returns 100 (%zd)", n);
  struct iovec iov = {buf, 10};
  struct msghdr m;
  memset(&m, 0, sizeof m);
  m.msg_name = &from;
  m.msg_namelen = sizeof from;
  m.msg_iov = &iov;
  m.msg_iovlen = 1;
  wait_for(r, POLLIN, 3000);
  n = recvmsg(r, &m, 0);
  check(n == 10 && (m.msg_flags & MSG_TRUNC) && same_sin(&from, &a1),
        "recvmsg into 10 bytes returns 10 with MSG_TRUNC in msg_flags (%zd, flags %#x)", n,
        m.msg_flags);

  // An empty datagram is a datagram.
  udp_to(s2, "", 0, rport);
  n = udp_from(r, buf, sizeof buf, 0, &from);
  check(n == 0 && same_sin(&from, &a2), "an empty datagram arrives as 0 bytes from its sender (%zd, %s)",
        n, fmt_sin(&from, text, sizeof text));

  // Connected UDP: plain send and recv, getpeername, and only the peer's datagrams.
  struct sockaddr_in ra = local_name(r);
  int rc = connect(s1, (struct sockaddr*)&ra, sizeof ra);
  check(rc == 0, "connect() of a UDP socket (%s)", rc == 0 ? "ok" : strerror(errno));
  struct sockaddr_in peer;
  socklen_t plen = sizeof peer;
  rc = getpeername(s1, (struct sockaddr*)&peer, &plen);
  check(rc == 0 && same_sin(&peer, &ra), "getpeername of the connected UDP socket is %s (%s)",
        fmt_sin(&ra, text, sizeof text), rc == 0 ? fmt_sin(&peer, text2, sizeof text2) : strerror(errno));
  check(send(s1, "conn", 4, 0) == 4, "send() on the connected socket");
  n = udp_from(r, buf, sizeof buf, 0, &from);
  check(n == 4 && memcmp(buf, "conn", 4) == 0 && same_sin(&from, &a1),
        "the receiver gets it from the connected socket's address (%zd, %s)", n,
        fmt_sin(&from, text, sizeof text));
  udp_to(s2, "intruder", 8, ntohs(a1.sin_port));
  sleep_ms(100);
  if (sendto(r, "back", 4, 0, (struct sockaddr*)&a1, sizeof a1) != 4) die("sendto");
  if (!(wait_for(s1, POLLIN, 3000) & POLLIN)) die("poll(connected udp)");
  memset(buf, 0, sizeof buf);
  n = recv(s1, buf, sizeof buf, 0);
  check(n == 4 && memcmp(buf, "back", 4) == 0,
        "recv() on the connected socket gets the peer's datagram, not another sender's (%zd, "
        "\"%.*s\")",
        n, n > 0 ? (int)n : 0, buf);
  close(s1);
  close(s2);
  close(r);

  // A DNS-style exchange with an unconnected client, by recvfrom and by recvmsg.
  struct dns_server srv = {udp_bound("127.0.0.1", 0), 0};
  struct sockaddr_in srv_addr = local_name(srv.fd);
  pthread_t th = spawn(dns_serve, &srv);
  dns_exchange(&srv_addr);
  join_all(&th, 1, 5000);
  check(srv.answered == 2, "the server answered both queries (%d)", srv.answered);
  close(srv.fd);
  return finish();
}

// The same exchange with a server outside (a Linux peer that answers any query with the
// query's id): the answers' source must be that server.
static int cmd_udp_remote(int argc, char** argv) {
  if (argc < 2) {
    printf("FAIL udp-remote: needs IP PORT\n");
    return 1;
  }
  struct sockaddr_in srv_addr = sin_of(argv[0], atoi(argv[1]));
  dns_exchange(&srv_addr);
  return finish();
}

// ---- reset -------------------------------------------------------------------------------

static void reset_close(int fd) {
  struct linger lg = {1, 0};
  if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) != 0) die("SO_LINGER");
  close(fd);
}

static int cmd_reset(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  char buf[64];
  if (argc >= 2) {
    // A Linux peer outside that accepts, reads the request and closes with SO_LINGER 0.
    int c = tcp_connect(argv[0], atoi(argv[1]));
    if (write(c, "hello\n", 6) != 6) die("write");
    int ev = wait_for(c, POLLIN, 5000);
    ssize_t n = read(c, buf, sizeof buf);
    int e = errno;
    check(n < 0 && e == ECONNRESET,
          "a reset from the Linux peer %s:%s reaches read() as ECONNRESET (read %zd %s, revents %#x)",
          argv[0], argv[1], n, n < 0 ? errname(e) : "", ev);
    close(c);
    return finish();
  }
  int l = tcp_listener(0, 16, 0);
  int port = local_port(l);

  // The client sent a request; the server resets.
  int c = tcp_connect("127.0.0.1", port);
  int a = accept(l, NULL, NULL);
  if (a < 0) die("accept");
  if (write(c, "GET", 3) != 3) die("write");
  sleep_ms(100);
  reset_close(a);
  int ev = wait_for(c, POLLIN, 3000);
  ssize_t n = read(c, buf, sizeof buf);
  int e = errno;
  check(n < 0 && e == ECONNRESET,
        "peer resets after the client wrote: read() fails with ECONNRESET, not EOF (read %zd %s, "
        "revents %#x)",
        n, n < 0 ? errname(e) : "", ev);
  close(c);

  // The client sent nothing and only reads.
  c = tcp_connect("127.0.0.1", port);
  a = accept(l, NULL, NULL);
  if (a < 0) die("accept");
  reset_close(a);
  ev = wait_for(c, POLLIN, 3000);
  n = read(c, buf, sizeof buf);
  e = errno;
  check(n < 0 && e == ECONNRESET,
        "peer resets an idle connection: read() fails with ECONNRESET (read %zd %s, revents %#x)",
        n, n < 0 ? errname(e) : "", ev);
  int err = -1;
  get_int(c, SOL_SOCKET, SO_ERROR, &err);
  note("SO_ERROR afterwards: %s", errname(err));
  close(c);

  // Data before the reset is read first, then the error.
  c = tcp_connect("127.0.0.1", port);
  a = accept(l, NULL, NULL);
  if (a < 0) die("accept");
  if (write(a, "data", 4) != 4) die("write");
  sleep_ms(100);
  reset_close(a);
  sleep_ms(100);
  n = read_n(c, buf, 4, 3000);
  check(n == 4 && memcmp(buf, "data", 4) == 0, "bytes that arrived before the reset are read (%zd)", n);
  wait_for(c, POLLIN, 3000);
  n = read(c, buf, sizeof buf);
  e = errno;
  check(n < 0 && e == ECONNRESET, "then ECONNRESET (read %zd %s)", n, n < 0 ? errname(e) : "");
  close(c);

  // A write after the reset fails (ECONNRESET or EPIPE), never succeeds silently for long.
  c = tcp_connect("127.0.0.1", port);
  a = accept(l, NULL, NULL);
  if (a < 0) die("accept");
  reset_close(a);
  sleep_ms(200);
  int failed_with = 0;
  for (int i = 0; i < 50 && !failed_with; i++) {
    if (write(c, "x", 1) < 0) failed_with = errno;
    sleep_ms(10);
  }
  check(failed_with == ECONNRESET || failed_with == EPIPE,
        "writes after the peer's reset fail (with %s)", errname(failed_with));
  close(c);
  close(l);
  return finish();
}

// ---- options -----------------------------------------------------------------------------

static int cmd_sockopts(int argc, char** argv) {
  (void)argc;
  (void)argv;
  int l = tcp_listener(0, 16, 0);
  int port = local_port(l);
  int c = tcp_connect("127.0.0.1", port);
  int a = accept(l, NULL, NULL);
  if (a < 0) die("accept");
  int v;

  check(get_int(c, SOL_SOCKET, SO_ERROR, &v) == 0 && v == 0, "SO_ERROR of a connected socket is 0 (%d)", v);
  check(get_int(c, SOL_SOCKET, SO_TYPE, &v) == 0 && v == SOCK_STREAM, "SO_TYPE is SOCK_STREAM (%d)", v);
  check(get_int(c, SOL_SOCKET, SO_DOMAIN, &v) == 0 && v == AF_INET, "SO_DOMAIN is AF_INET (%d)", v);
  check(get_int(c, SOL_SOCKET, SO_PROTOCOL, &v) == 0 && v == IPPROTO_TCP, "SO_PROTOCOL is TCP (%d)", v);
  check(get_int(l, SOL_SOCKET, SO_ACCEPTCONN, &v) == 0 && v == 1, "SO_ACCEPTCONN of the listener is 1 (%d)", v);
  check(get_int(c, SOL_SOCKET, SO_ACCEPTCONN, &v) == 0 && v == 0, "SO_ACCEPTCONN of the client is 0 (%d)", v);

  int s = tcp_socket(0);
  check(get_int(s, SOL_SOCKET, SO_REUSEADDR, &v) == 0 && v == 0, "SO_REUSEADDR starts at 0 (%d)", v);
  check(set_int(s, SOL_SOCKET, SO_REUSEADDR, 1) == 0 && get_int(s, SOL_SOCKET, SO_REUSEADDR, &v) == 0 && v == 1,
        "SO_REUSEADDR set to 1 reads back 1 (%d)", v);
  close(s);

  check(set_int(c, IPPROTO_TCP, TCP_NODELAY, 1) == 0 && get_int(c, IPPROTO_TCP, TCP_NODELAY, &v) == 0 && v == 1,
        "TCP_NODELAY set reads back 1 (%d)", v);
  check(set_int(c, IPPROTO_TCP, TCP_NODELAY, 0) == 0 && get_int(c, IPPROTO_TCP, TCP_NODELAY, &v) == 0 && v == 0,
        "TCP_NODELAY cleared reads back 0 (%d)", v);

  check(set_int(c, SOL_SOCKET, SO_RCVBUF, 65536) == 0 && get_int(c, SOL_SOCKET, SO_RCVBUF, &v) == 0 && v >= 65536,
        "SO_RCVBUF set to 65536 reads back at least that (%d; Linux doubles it)", v);
  check(set_int(c, SOL_SOCKET, SO_SNDBUF, 65536) == 0 && get_int(c, SOL_SOCKET, SO_SNDBUF, &v) == 0 && v >= 65536,
        "SO_SNDBUF set to 65536 reads back at least that (%d)", v);

  check(set_int(c, SOL_SOCKET, SO_KEEPALIVE, 1) == 0 && get_int(c, SOL_SOCKET, SO_KEEPALIVE, &v) == 0 && v == 1,
        "SO_KEEPALIVE set reads back 1 (%d)", v);
  check(set_int(c, IPPROTO_TCP, TCP_KEEPIDLE, 30) == 0 && get_int(c, IPPROTO_TCP, TCP_KEEPIDLE, &v) == 0 && v == 30,
        "TCP_KEEPIDLE 30 reads back 30 (%d)", v);
  check(set_int(c, IPPROTO_TCP, TCP_KEEPINTVL, 5) == 0 && get_int(c, IPPROTO_TCP, TCP_KEEPINTVL, &v) == 0 && v == 5,
        "TCP_KEEPINTVL 5 reads back 5 (%d)", v);
  check(set_int(c, IPPROTO_TCP, TCP_KEEPCNT, 3) == 0 && get_int(c, IPPROTO_TCP, TCP_KEEPCNT, &v) == 0 && v == 3,
        "TCP_KEEPCNT 3 reads back 3 (%d)", v);
  check(get_int(c, IPPROTO_TCP, TCP_MAXSEG, &v) == 0 && v > 0 && v <= 65495, "TCP_MAXSEG is sensible (%d)", v);

  struct tcp_info ti;
  memset(&ti, 0, sizeof ti);
  socklen_t tl = sizeof ti;
  int r = getsockopt(c, IPPROTO_TCP, TCP_INFO, &ti, &tl);
  check(r == 0 && ti.tcpi_state == TCP_ESTABLISHED && tl >= 104,
        "TCP_INFO: tcpi_state ESTABLISHED (%d), %u bytes, rtt %u us, snd_mss %u", ti.tcpi_state, tl,
        ti.tcpi_rtt, ti.tcpi_snd_mss);
  memset(&ti, 0, sizeof ti);
  tl = sizeof ti;
  r = getsockopt(l, IPPROTO_TCP, TCP_INFO, &ti, &tl);
  check(r == 0 && ti.tcpi_state == TCP_LISTEN, "TCP_INFO of the listener: tcpi_state LISTEN (%d)",
        ti.tcpi_state);

  struct linger lg = {1, 5}, lg2 = {-1, -1};
  socklen_t ll = sizeof lg2;
  check(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0 &&
            getsockopt(c, SOL_SOCKET, SO_LINGER, &lg2, &ll) == 0 && lg2.l_onoff == 1 && lg2.l_linger == 5,
        "SO_LINGER {1, 5} reads back (%d, %d)", lg2.l_onoff, lg2.l_linger);
  lg = (struct linger){0, 0};
  ll = sizeof lg2;
  check(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) == 0 &&
            getsockopt(c, SOL_SOCKET, SO_LINGER, &lg2, &ll) == 0 && lg2.l_onoff == 0,
        "SO_LINGER off reads back off (%d, %d)", lg2.l_onoff, lg2.l_linger);

  check(set_int(c, IPPROTO_IP, IP_TOS, 0x10) == 0 && get_int(c, IPPROTO_IP, IP_TOS, &v) == 0 && v == 0x10,
        "IP_TOS 0x10 reads back (%#x)", v);
  char cc[16] = {0};
  socklen_t cl = sizeof cc;
  r = getsockopt(c, IPPROTO_TCP, TCP_CONGESTION, cc, &cl);
  note("TCP_CONGESTION: %s", r == 0 ? cc : strerror(errno));
  r = get_int(c, IPPROTO_TCP, 9999, &v);
  int e = errno;
  check(r < 0 && e == ENOPROTOOPT, "an unknown TCP option gives ENOPROTOOPT (%d %s)", r, r < 0 ? errname(e) : "");

  // FIONREAD counts what the program can read; SIOCOUTQ what it sent and is not yet acked.
  if (write(a, "12345", 5) != 5) die("write");
  wait_for(c, POLLIN, 3000);
  int q = -1;
  for (int i = 0; i < 100 && q != 5; i++) {
    if (ioctl(c, FIONREAD, &q) != 0) q = -2;
    if (q != 5) sleep_ms(10);
  }
  check(q == 5, "FIONREAD after 5 bytes arrived is 5 (%d)", q);
  char buf[8];
  if (read(c, buf, 5) != 5) die("read");
  check(ioctl(c, FIONREAD, &q) == 0 && q == 0, "FIONREAD after reading them is 0 (%d)", q);
  check(ioctl(c, SIOCINQ, &q) == 0 && q == 0, "SIOCINQ is 0 too (%d)", q);
  q = -1;
  if (write(c, "abc", 3) != 3) die("write");
  int first = -1;
  if (ioctl(c, SIOCOUTQ, &first) != 0) first = -2;
  for (int i = 0; i < 100 && q != 0; i++) {
    if (ioctl(c, SIOCOUTQ, &q) != 0) q = -2;
    if (q != 0) sleep_ms(10);
  }
  check(first >= 0 && first <= 3 && q == 0,
        "SIOCOUTQ after writing 3 bytes: %d at once, then 0 once acknowledged", first);
  read_n(a, buf, 3, 3000);

  // SO_RCVTIMEO bounds a read on the socket (the data path is native: it must be set there).
  struct timeval tv = {0, 200000};
  check(setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO 200 ms set");
  struct timeval tv2 = {0, 0};
  socklen_t tvl = sizeof tv2;
  check(getsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv2, &tvl) == 0 && tv2.tv_sec == 0 &&
            tv2.tv_usec >= 196000 && tv2.tv_usec <= 204000,
        "SO_RCVTIMEO reads back 200 ms (%ld.%06ld)", (long)tv2.tv_sec, (long)tv2.tv_usec);
  double t0 = now_ms();
  ssize_t n = recv(c, buf, sizeof buf, 0);
  e = errno;
  double took = now_ms() - t0;
  check(n < 0 && (e == EAGAIN || e == EWOULDBLOCK) && took >= 150 && took < 3000,
        "recv with nothing to read returns EAGAIN after the receive timeout (%zd %s, %.0f ms)", n,
        n < 0 ? errname(e) : "", took);
  close(a);
  close(c);
  close(l);
  return finish();
}

// ---- edges: non-blocking calls, timeouts, half-close, shutdown of a listener, errors ------

static void* accept_after_shutdown(void* arg) {
  struct acceptor* ac = arg;
  int s = accept(ac->listener, NULL, NULL);
  ac->err = s < 0 ? errno : 0;
  if (s >= 0) close(s);
  return NULL;
}

static int cmd_edges(int argc, char** argv) {
  (void)argc;
  (void)argv;
  char buf[64];
  int l = tcp_listener(0, 16, 0);
  int port = local_port(l);

  // Non-blocking accept with nothing queued: EAGAIN at once, never parked.
  int fl = fcntl(l, F_GETFL);
  fcntl(l, F_SETFL, fl | O_NONBLOCK);
  double t0 = now_ms();
  int a = accept(l, NULL, NULL);
  int e = errno;
  check(a < 0 && (e == EAGAIN || e == EWOULDBLOCK) && now_ms() - t0 < 1000,
        "accept on a non-blocking listener with nothing queued gives EAGAIN at once (%s)",
        a < 0 ? errname(e) : "a connection");
  fcntl(l, F_SETFL, fl);

  // accept4 flags land on the new file.
  int c = tcp_connect("127.0.0.1", port);
  a = accept4(l, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
  check(a >= 0 && (fcntl(a, F_GETFL) & O_NONBLOCK) && (fcntl(a, F_GETFD) & FD_CLOEXEC),
        "accept4(SOCK_NONBLOCK | SOCK_CLOEXEC) gives a non-blocking close-on-exec socket");
  ssize_t n = a >= 0 ? read(a, buf, sizeof buf) : 0;
  e = errno;
  check(n < 0 && e == EAGAIN, "read on it with nothing to read gives EAGAIN (%zd %s)", n,
        n < 0 ? errname(e) : "");

  // Half-close: the client's SHUT_WR is EOF for the server, which can still answer.
  check(write(c, "req", 3) == 3 && shutdown(c, SHUT_WR) == 0, "client writes, then shutdown(SHUT_WR)");
  n = read_n(a, buf, 3, 3000);
  int ev = wait_for(a, POLLIN, 3000);
  ssize_t eof = (ev & (POLLIN | POLLHUP)) ? read(a, buf + 3, sizeof buf - 3) : -2;
  check(n == 3 && eof == 0, "the server reads the request, then EOF (%zd, %zd)", n, eof);
  check(write(a, "answer", 6) == 6, "the server answers after the client's EOF");
  n = read_n(c, buf, 6, 3000);
  check(n == 6 && memcmp(buf, "answer", 6) == 0, "the half-closed client reads the answer (%zd)", n);
  n = write(c, "x", 1);
  e = errno;
  check(n < 0 && e == EPIPE, "writing after shutdown(SHUT_WR) gives EPIPE (%zd %s)", n,
        n < 0 ? errname(e) : "");
  close(a);
  close(c);

  // A listener's accept bounded by SO_RCVTIMEO.
  struct timeval tv = {0, 200000};
  setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  t0 = now_ms();
  a = accept(l, NULL, NULL);
  e = errno;
  double took = now_ms() - t0;
  check(a < 0 && (e == EAGAIN || e == EWOULDBLOCK) && took >= 150 && took < 3000,
        "accept with SO_RCVTIMEO 200 ms and nothing queued gives EAGAIN after the timeout (%s, "
        "%.0f ms)",
        a < 0 ? errname(e) : "a connection", took);
  tv = (struct timeval){0, 0};
  setsockopt(l, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

  // shutdown() of a listener wakes a thread blocked in accept (EINVAL), as on Linux.
  struct acceptor ac = {l, -1, -1};
  pthread_t th = spawn(accept_after_shutdown, &ac);
  sleep_ms(200);
  int r = shutdown(l, SHUT_RDWR);
  int joined = join_all(&th, 1, 5000);
  check(r == 0 && joined == 1 && ac.err == EINVAL,
        "shutdown(SHUT_RDWR) of a listener wakes the thread blocked in accept with EINVAL "
        "(shutdown %d, accept %s)",
        r, joined ? errname(ac.err) : "still blocked");
  close(l);

  // Binding errors.
  l = tcp_listener(0, 4, 0);
  port = local_port(l);
  int s = tcp_socket(0);
  struct sockaddr_in addr = sin_of("127.0.0.1", port);
  r = bind(s, (struct sockaddr*)&addr, sizeof addr);
  e = errno;
  check(r < 0 && e == EADDRINUSE, "binding a listening port again gives EADDRINUSE (%s)",
        r < 0 ? errname(e) : "0");
  close(s);
  s = tcp_socket(0);
  addr = sin_of("192.0.2.1", 0);
  r = bind(s, (struct sockaddr*)&addr, sizeof addr);
  e = errno;
  check(r < 0 && e == EADDRNOTAVAIL, "binding an address the stack does not have gives "
        "EADDRNOTAVAIL (%s)", r < 0 ? errname(e) : "0");
  close(s);
  s = tcp_socket(0);
  r = bind(s, (struct sockaddr*)&addr, 4);
  e = errno;
  check(r < 0 && e == EINVAL, "bind with a short address length gives EINVAL (%s)",
        r < 0 ? errname(e) : "0");
  close(s);
  close(l);

  // UDP: a datagram to a closed port (ICMP port unreachable) leaves ECONNREFUSED pending on a
  // connected socket: SO_ERROR returns it, and so does the next receive. (A plain recv() runs
  // natively on the stand-in, which cannot carry an error: that one is asked with an address.)
  struct sockaddr_in dead = sin_of("127.0.0.1", free_port()), from;
  socklen_t flen;
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  connect(u, (struct sockaddr*)&dead, sizeof dead);
  send(u, "x", 1, 0);
  sleep_ms(200);
  int err = -1;
  get_int(u, SOL_SOCKET, SO_ERROR, &err);
  check(err == ECONNREFUSED,
        "a connected UDP socket that sent to a closed port has SO_ERROR ECONNREFUSED (%s)",
        errname(err));
  close(u);
  u = socket(AF_INET, SOCK_DGRAM, 0);
  connect(u, (struct sockaddr*)&dead, sizeof dead);
  send(u, "x", 1, 0);
  sleep_ms(200);
  flen = sizeof from;
  n = recvfrom(u, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr*)&from, &flen);
  e = errno;
  check(n < 0 && e == ECONNREFUSED,
        "... and its next recvfrom fails with ECONNREFUSED (%zd %s)", n, n < 0 ? errname(e) : "");
  close(u);

  // UDP: sendto on an unbound socket binds it; recvfrom(MSG_DONTWAIT) when empty is EAGAIN.
  u = socket(AF_INET, SOCK_DGRAM, 0);
  int r2 = udp_bound("127.0.0.1", 0);
  udp_to(u, "hi", 2, local_port(r2));
  struct sockaddr_in un = local_name(u);
  check(un.sin_port != 0, "sendto on an unbound UDP socket gives it a port (%d)", ntohs(un.sin_port));
  n = udp_from(r2, buf, sizeof buf, 0, &from);
  check(n == 2 && from.sin_port == un.sin_port, "and the datagram comes from that port (%d)",
        ntohs(from.sin_port));
  socklen_t fl2 = sizeof from;
  t0 = now_ms();
  n = recvfrom(r2, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr*)&from, &fl2);
  e = errno;
  check(n < 0 && e == EAGAIN && now_ms() - t0 < 1000,
        "recvfrom(MSG_DONTWAIT) with an address on an empty socket gives EAGAIN at once (%s)",
        n < 0 ? errname(e) : "data");
  close(u);
  close(r2);
  return finish();
}

// ---- TOCTOU: the address is read once ----------------------------------------------------------

struct flipper {
  struct sockaddr_in* target;
  struct sockaddr_in a, b;
  volatile int stop;
};

static void* flip(void* arg) {
  struct flipper* f = arg;
  while (!f->stop) {
    memcpy(f->target, &f->a, sizeof f->a);
    memcpy(f->target, &f->b, sizeof f->b);
  }
  return NULL;
}

// Another thread rewrites connect()'s address while the call runs: whichever address the
// supervisor read, the connection, getpeername and the listener that accepted it must agree.
static int cmd_toctou(int argc, char** argv) {
  int rounds = argc > 0 ? atoi(argv[0]) : 200;
  if (rounds < 1 || rounds > 5000) rounds = 200;
  int l1 = tcp_listener(0, rounds + 8, 0), l2 = tcp_listener(0, rounds + 8, 0);
  int p1 = local_port(l1), p2 = local_port(l2);
  static struct sockaddr_in target;
  struct flipper f = {&target, sin_of("127.0.0.1", p1), sin_of("127.0.0.1", p2), 0};
  target = f.a;
  pthread_t th = spawn(flip, &f);
  int to1 = 0, to2 = 0, bad = 0, failed = 0;
  for (int i = 0; i < rounds; i++) {
    int c = tcp_socket(0);
    if (connect(c, (struct sockaddr*)&target, sizeof target) != 0) {
      failed++;
      close(c);
      continue;
    }
    struct sockaddr_in peer;
    socklen_t len = sizeof peer;
    if (getpeername(c, (struct sockaddr*)&peer, &len) != 0) {
      bad++;
      close(c);
      continue;
    }
    int which = ntohs(peer.sin_port) == p1 ? 1 : ntohs(peer.sin_port) == p2 ? 2 : 0;
    int lfd = which == 1 ? l1 : l2;
    int a = which ? accept(lfd, NULL, NULL) : -1;
    if (a < 0) {
      bad++;
    } else {
      struct sockaddr_in me = local_name(c), seen;
      len = sizeof seen;
      if (getpeername(a, (struct sockaddr*)&seen, &len) != 0 || !same_sin(&me, &seen)) bad++;
      if (which == 1) {
        to1++;
      } else {
        to2++;
      }
      close(a);
    }
    close(c);
  }
  f.stop = 1;
  join_all(&th, 1, 5000);
  // Nothing may be left unaccepted on either listener.
  fcntl(l1, F_SETFL, O_NONBLOCK);
  fcntl(l2, F_SETFL, O_NONBLOCK);
  int stray = 0;
  int s;
  while ((s = accept(l1, NULL, NULL)) >= 0) {
    stray++;
    close(s);
  }
  while ((s = accept(l2, NULL, NULL)) >= 0) {
    stray++;
    close(s);
  }
  check(failed == 0 && bad == 0 && stray == 0 && to1 + to2 == rounds,
        "%d connects while another thread flips the address: %d to the first listener, %d to "
        "the second, %d inconsistent, %d failed, %d accepted elsewhere",
        rounds, to1, to2, bad, failed, stray);
  close(l1);
  close(l2);
  return finish();
}

// ---- names -------------------------------------------------------------------------------

static int cmd_names(int argc, char** argv) {
  char t1[64], t2[64];
  struct sockaddr_in x;
  socklen_t len;

  int s = tcp_socket(0);
  len = sizeof x;
  memset(&x, 0xff, sizeof x);
  int r = getsockname(s, (struct sockaddr*)&x, &len);
  check(r == 0 && len == sizeof x && x.sin_family == AF_INET && x.sin_port == 0 &&
            x.sin_addr.s_addr == htonl(INADDR_ANY),
        "getsockname of a fresh socket is 0.0.0.0:0 (%s, len %u)", fmt_sin(&x, t1, sizeof t1), len);
  len = sizeof x;
  r = getpeername(s, (struct sockaddr*)&x, &len);
  int e = errno;
  check(r < 0 && e == ENOTCONN, "getpeername of a fresh socket is ENOTCONN (%s)", r < 0 ? errname(e) : "0");
  close(s);

  // A listener on the wildcard address; connections to 127.0.0.1.
  int l = tcp_socket(0);
  struct sockaddr_in any = sin_of("0.0.0.0", 0);
  if (bind(l, (struct sockaddr*)&any, sizeof any) != 0 || listen(l, 4) != 0) die("bind/listen");
  struct sockaddr_in ln = local_name(l);
  check(ln.sin_family == AF_INET && ln.sin_port != 0 && ln.sin_addr.s_addr == htonl(INADDR_ANY),
        "a listener bound to port 0 gets a port (%s)", fmt_sin(&ln, t1, sizeof t1));
  int port = ntohs(ln.sin_port);
  int c = tcp_connect("127.0.0.1", port);
  struct sockaddr_in cn = local_name(c), cp, ap, an;
  check(cn.sin_addr.s_addr == htonl(INADDR_LOOPBACK) && cn.sin_port != 0,
        "the client's getsockname is 127.0.0.1 with an ephemeral port (%s)", fmt_sin(&cn, t1, sizeof t1));
  len = sizeof cp;
  r = getpeername(c, (struct sockaddr*)&cp, &len);
  struct sockaddr_in expect = sin_of("127.0.0.1", port);
  check(r == 0 && len == sizeof cp && same_sin(&cp, &expect), "the client's getpeername is %s (%s)",
        fmt_sin(&expect, t1, sizeof t1), fmt_sin(&cp, t2, sizeof t2));
  len = sizeof ap;
  memset(&ap, 0, sizeof ap);
  int a = accept(l, (struct sockaddr*)&ap, &len);
  check(a >= 0 && len == sizeof ap && same_sin(&ap, &cn), "accept reports the client's address %s (%s)",
        fmt_sin(&cn, t1, sizeof t1), fmt_sin(&ap, t2, sizeof t2));
  an = local_name(a);
  check(same_sin(&an, &expect), "the accepted socket's getsockname is the specific address %s (%s)",
        fmt_sin(&expect, t1, sizeof t1), fmt_sin(&an, t2, sizeof t2));
  len = sizeof x;
  r = getpeername(a, (struct sockaddr*)&x, &len);
  check(r == 0 && same_sin(&x, &cn), "its getpeername is the client (%s)", fmt_sin(&x, t1, sizeof t1));

  // A short buffer: truncated copy, the full length written back.
  unsigned char small[4];
  memset(small, 0xee, sizeof small);
  len = sizeof small;
  r = getsockname(c, (struct sockaddr*)small, &len);
  check(r == 0 && len == sizeof(struct sockaddr_in) && small[0] == AF_INET && small[1] == 0 &&
            small[2] == (unsigned char)(ntohs(cn.sin_port) >> 8),
        "getsockname into a 4-byte buffer: truncated, length %u written back", len);
  // An accept with a NULL address.
  close(c);
  close(a);
  c = tcp_connect("127.0.0.1", port);
  a = accept(l, NULL, NULL);
  check(a >= 0, "accept with a NULL address works");
  close(a);
  close(c);
  close(l);

  // UDP names.
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in lo = sin_of("127.0.0.1", 0);
  if (bind(u, (struct sockaddr*)&lo, sizeof lo) != 0) die("bind(udp)");
  x = local_name(u);
  check(x.sin_port != 0 && x.sin_addr.s_addr == htonl(INADDR_LOOPBACK),
        "a UDP socket bound to 127.0.0.1:0 gets a port (%s)", fmt_sin(&x, t1, sizeof t1));
  close(u);

  // The stack's own address, given by the test on a tap uplink.
  if (argc > 0) {
    struct sockaddr_in own = sin_of(argv[0], 0);
    l = tcp_socket(0);
    if (bind(l, (struct sockaddr*)&own, sizeof own) != 0 || listen(l, 4) != 0) die("bind(own address)");
    ln = local_name(l);
    check(ln.sin_addr.s_addr == own.sin_addr.s_addr, "a listener bound to %s names it (%s)", argv[0],
          fmt_sin(&ln, t1, sizeof t1));
    c = tcp_connect(argv[0], ntohs(ln.sin_port));
    cn = local_name(c);
    check(cn.sin_addr.s_addr == own.sin_addr.s_addr,
          "a connection to the own address %s comes from it (%s)", argv[0], fmt_sin(&cn, t1, sizeof t1));
    close(c);
    close(l);
    // A UDP socket connected towards the gateway picks the stack's address as its source.
    if (argc > 1) {
      u = socket(AF_INET, SOCK_DGRAM, 0);
      struct sockaddr_in gw = sin_of(argv[1], 53);
      r = connect(u, (struct sockaddr*)&gw, sizeof gw);
      x = local_name(u);
      check(r == 0 && x.sin_addr.s_addr == own.sin_addr.s_addr && x.sin_port != 0,
            "a UDP socket connected to %s gets source %s (%s)", argv[1], argv[0],
            fmt_sin(&x, t1, sizeof t1));
      close(u);
    }
  }
  return finish();
}

// ---- calls that must not reach the kernel -----------------------------------------------------

static void expect_socket_refused(int domain, int type, int protocol, int error, const char* what) {
  int fd = socket(domain, type, protocol);
  int e = errno;
  check(fd < 0 && e == error, "%s is refused with %s (got %s)", what, errname(error),
        fd < 0 ? errname(e) : "a socket");
  if (fd >= 0) close(fd);
}

static void expect_errno(long r, int error, const char* what) {
  int e = errno;
  check(r < 0 && e == error, "%s fails with %s (got %ld %s)", what, errname(error), r,
        r < 0 ? errname(e) : "");
}

// Runs fn in a child and reports how the child ended.
static int child_killed_by(void (*fn)(void)) {
  fflush(stdout);
  pid_t pid = fork();
  if (pid == 0) {
    fn();
    _exit(0);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return -1;
  return WIFSIGNALED(status) ? WTERMSIG(status) : 1000 + WEXITSTATUS(status);
}

// Some kernels have no int $0x80 gate at all (IA-32 emulation disabled at run time): the
// instruction itself then faults with a general protection fault, before any system call entry
// and so before seccomp. The child tells that apart (exit 77) from any other death.
enum { kNoInt80Gate = 77 };
static void on_segv_at_int80(int sig, siginfo_t* si, void* ctx) {
  (void)sig;
  (void)si;
  const ucontext_t* uc = ctx;
  const unsigned char* ip = (const unsigned char*)uc->uc_mcontext.gregs[REG_RIP];
  _exit(ip[0] == 0xcd && ip[1] == 0x80 ? kNoInt80Gate : 78);
}

static void catch_int80_fault(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = on_segv_at_int80;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGSEGV, &sa, NULL);
}

static void do_int80(void) {
  catch_int80_fault();
  long ret;
  // i386 getpid (20) through the 32-bit entry.
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory", "r8", "r9", "r10", "r11");
  _exit(ret > 0 ? 0 : 1);
}

static void do_int80_socketcall(void) {
  catch_int80_fault();
  long ret;
  // i386 socketcall(SYS_SOCKET, args) with a null args pointer: the multiplexer the x86_64
  // socket rules never see.
  __asm__ volatile("int $0x80" : "=a"(ret) : "a"(102L), "b"(1L), "c"(0L) : "memory", "r8", "r9", "r10", "r11");
  _exit(0);
}

static void do_x32(void) {
  syscall(X32_SYSCALL_BIT | SYS_getpid);
  _exit(0);
}

static int cmd_bypass(int argc, char** argv) {
  (void)argc;
  (void)argv;
  expect_socket_refused(AF_PACKET, SOCK_RAW, htons(0x0003), EPERM, "socket(AF_PACKET, SOCK_RAW, ETH_P_ALL)");
  expect_socket_refused(AF_PACKET, SOCK_DGRAM, htons(0x0800), EPERM, "socket(AF_PACKET, SOCK_DGRAM)");
  expect_socket_refused(AF_INET, SOCK_RAW, IPPROTO_ICMP, EPERM, "socket(AF_INET, SOCK_RAW, ICMP)");
  expect_socket_refused(AF_INET, SOCK_RAW, IPPROTO_RAW, EPERM, "socket(AF_INET, SOCK_RAW, IPPROTO_RAW)");
  expect_socket_refused(AF_INET, SOCK_DGRAM, IPPROTO_ICMP, EACCES, "socket(AF_INET, SOCK_DGRAM, ICMP) (ping socket)");
  expect_socket_refused(AF_NETLINK, SOCK_RAW, NETLINK_GENERIC, EPROTONOSUPPORT,
                        "socket(AF_NETLINK, NETLINK_GENERIC)");
  expect_socket_refused(AF_NETLINK, SOCK_RAW, 9 /* NETLINK_AUDIT */, EPROTONOSUPPORT,
                        "socket(AF_NETLINK, NETLINK_AUDIT)");
  expect_socket_refused(AF_NETLINK, SOCK_RAW, 12 /* NETLINK_NETFILTER */, EPROTONOSUPPORT,
                        "socket(AF_NETLINK, NETLINK_NETFILTER)");
  expect_socket_refused(44 /* AF_XDP */, SOCK_RAW, 0, EAFNOSUPPORT, "socket(AF_XDP)");
  expect_socket_refused(40 /* AF_VSOCK */, SOCK_STREAM, 0, EAFNOSUPPORT, "socket(AF_VSOCK)");
  {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    check(fd >= 0, "socket(AF_UNIX) still works (%s)", fd >= 0 ? "ok" : strerror(errno));
    if (fd >= 0) close(fd);
  }

  unsigned char params[120];
  memset(params, 0, sizeof params);
  expect_errno(syscall(SYS_io_uring_setup, 4, params), ENOSYS, "io_uring_setup");
  unsigned char attr[128];
  memset(attr, 0, sizeof attr);
  expect_errno(syscall(SYS_bpf, 0 /* BPF_MAP_CREATE */, attr, sizeof attr), EPERM, "bpf(BPF_MAP_CREATE)");
  struct perf_event_attr pe;
  memset(&pe, 0, sizeof pe);
  pe.type = PERF_TYPE_SOFTWARE;
  pe.size = sizeof pe;
  pe.config = PERF_COUNT_SW_CPU_CLOCK;
  expect_errno(syscall(SYS_perf_event_open, &pe, 0, -1, -1, 0), EPERM, "perf_event_open");
  expect_errno(ptrace(PTRACE_TRACEME, 0, NULL, NULL), EPERM, "ptrace(PTRACE_TRACEME)");
  {
    char src[8] = "secret", dst[8];
    struct iovec local = {dst, sizeof dst}, remote = {src, sizeof src};
    expect_errno(process_vm_readv(getpid(), &local, 1, &remote, 1, 0), EPERM, "process_vm_readv");
    expect_errno(process_vm_writev(getpid(), &local, 1, &remote, 1, 0), EPERM, "process_vm_writev");
  }
  expect_errno(syscall(SYS_keyctl, 0, 0, 0, 0, 0), EPERM, "keyctl");
  expect_errno(syscall(SYS_userfaultfd, 0), EPERM, "userfaultfd");
  expect_errno(syscall(SYS_init_module, NULL, 0, ""), EPERM, "init_module");
  expect_errno(syscall(SYS_kexec_load, 0, 0, NULL, 0), EPERM, "kexec_load");

  int sig = child_killed_by(do_int80);
  if (sig == 1000 + kNoInt80Gate) {
    skip("an i386 system call (int $0x80): this kernel has no int $0x80 gate (general protection "
         "fault at the instruction, before seccomp), so the filter's i386 rule cannot be reached");
  } else {
    check(sig == SIGSYS, "an i386 system call (int $0x80) kills the process with SIGSYS (%s)",
          sig >= 1000 ? "it exited" : strsignal(sig));
  }
  sig = child_killed_by(do_int80_socketcall);
  if (sig == 1000 + kNoInt80Gate) {
    skip("an i386 socketcall (int $0x80): no int $0x80 gate on this kernel, as above");
  } else {
    check(sig == SIGSYS, "an i386 socketcall kills the process with SIGSYS (%s)",
          sig >= 1000 ? "it exited" : strsignal(sig));
  }
  sig = child_killed_by(do_x32);
  check(sig == SIGSYS, "an x32 system call kills the process with SIGSYS (%s)",
        sig >= 1000 ? "it exited" : strsignal(sig));
  return finish();
}

// ---- the seccomp listener ----------------------------------------------------------------

static int cmd_nolistener(int argc, char** argv) {
  (void)argc;
  (void)argv;
  int scanned_procs = 0, scanned_fds = 0, found = 0;
  DIR* proc = opendir("/proc");
  if (proc == NULL) die("opendir(/proc)");
  struct dirent* pe;
  while ((pe = readdir(proc)) != NULL) {
    if (pe->d_name[0] < '0' || pe->d_name[0] > '9') continue;
    char path[300];
    snprintf(path, sizeof path, "/proc/%.200s/fd", pe->d_name);
    DIR* fds = opendir(path);
    if (fds == NULL) continue;
    scanned_procs++;
    struct dirent* fe;
    while ((fe = readdir(fds)) != NULL) {
      if (fe->d_name[0] == '.') continue;
      char link[600], target[256];
      snprintf(link, sizeof link, "%s/%.200s", path, fe->d_name);
      ssize_t n = readlink(link, target, sizeof target - 1);
      if (n <= 0) continue;
      target[n] = 0;
      scanned_fds++;
      if (strstr(target, "seccomp notify") != NULL) {
        found++;
        check(0, "pid %s holds the seccomp listener as fd %s (%s)", pe->d_name, fe->d_name, target);
      }
    }
    closedir(fds);
  }
  closedir(proc);
  check(scanned_procs >= 1 && found == 0,
        "no process in the sandbox holds \"anon_inode:seccomp notify\" (%d processes, %d fds scanned)",
        scanned_procs, scanned_fds);
  // And this process's own table, explicitly.
  DIR* self = opendir("/proc/self/fd");
  int mine = 0;
  if (self != NULL) {
    struct dirent* fe;
    while ((fe = readdir(self)) != NULL) {
      char link[300], target[256];
      snprintf(link, sizeof link, "/proc/self/fd/%.200s", fe->d_name);
      ssize_t n = readlink(link, target, sizeof target - 1);
      if (n > 0) {
        target[n] = 0;
        if (strstr(target, "seccomp notify") != NULL) mine++;
      }
    }
    closedir(self);
  }
  check(self != NULL && mine == 0, "/proc/self/fd holds no seccomp listener");
  return finish();
}

// ---- main --------------------------------------------------------------------------------

struct command {
  const char* name;
  int (*fn)(int, char**);
  const char* help;
};

static const struct command commands[] = {
    {"signals", cmd_signals, "EINTR of a parked accept, rollback, SA_RESTART, a SIGALRM storm"},
    {"connect", cmd_connect, "[SILENT_IP]: EINPROGRESS, SO_ERROR, ECONNREFUSED, EALREADY, EISCONN"},
    {"close", cmd_close, "close() without shutdown seen; a closed listener's port re-bound at once"},
    {"fdpass", cmd_fdpass, "SCM_RIGHTS, dup, dup2, fork+exec: identity follows the file"},
    {"threads", cmd_threads, "[N]: N threads blocked in accept or connect at once"},
    {"parked", cmd_parked, "[N [PROCS]]: N accepts parked in PROCS processes, N connects in flight"},
    {"udp", cmd_udp, "source addresses, MSG_PEEK, MSG_TRUNC, connected UDP, DNS-style exchange"},
    {"udp-remote", cmd_udp_remote, "IP PORT: the DNS-style exchange with a server outside"},
    {"reset", cmd_reset, "[IP PORT]: a peer's reset is ECONNRESET on the next read, not EOF"},
    {"sockopts", cmd_sockopts, "SO_*, TCP_*, TCP_INFO, SO_LINGER, FIONREAD, SIOCOUTQ, SO_RCVTIMEO"},
    {"edges", cmd_edges, "non-blocking accept, accept4 flags, half-close, listener shutdown, errors"},
    {"toctou", cmd_toctou, "[N]: connect's address rewritten by another thread during the call"},
    {"names", cmd_names, "[OWN_IP [GATEWAY]]: getsockname, getpeername, accept's address"},
    {"bypass", cmd_bypass, "raw/packet/netlink sockets, io_uring, bpf, ptrace, i386/x32 refused"},
    {"nolistener", cmd_nolistener, "no process holds the seccomp listener"},
    {"fdpass-child", cmd_fdpass_child, "(internal: run by fdpass after exec)"},
};

static void usage(void) {
  fprintf(stderr, "usage: sandbox_probe COMMAND [ARGS]\n");
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    fprintf(stderr, "  %-13s %s\n", commands[i].name, commands[i].help);
  }
}

int main(int argc, char** argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  signal(SIGPIPE, SIG_IGN);  // writes after a reset or a shutdown fail with EPIPE, checked
  if (argc < 2) {
    usage();
    return 2;
  }
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
    if (strcmp(argv[1], commands[i].name) == 0) {
      g_name = commands[i].name;
      start_watchdog();
      return commands[i].fn(argc - 2, argv + 2);
    }
  }
  usage();
  return 2;
}
