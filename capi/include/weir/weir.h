/* weir's C API: a user-space TCP/IP stack for programs written in C or any language with a C
 * FFI (Python ctypes, Rust, Go's cgo, ...). Plain C99; nothing here names a C++ type.
 *
 *   weir_stack *s;
 *   weir_stack_new(NULL, &s);                        IPv4 + ARP + ICMP, IPv6, UDP, TCP
 *   weir_stack_add_tap(s, "weir0", NULL, &nic);      or a packet queue you feed yourself
 *   weir_stack_add_address(s, nic, "10.0.0.2/24");
 *   weir_stack_set_gateway(s, nic, "10.0.0.1");
 *   weir_tcp_socket(s, WEIR_AF_INET, &sock);
 *   weir_addr_parse("10.0.0.1:80", &peer);
 *   weir_socket_connect(s, sock, &peer);             -EINPROGRESS; wait for WEIR_EV_WRITABLE
 *   for (;;) {                                       your loop: poll(2), epoll, libuv, ...
 *     weir_stack_poll(s, 0, &deadline);
 *     ... weir_socket_events(), weir_tcp_read(), weir_tcp_write() ...
 *     poll() on weir_stack_wait_fds() for at most weir_timeout_ms(deadline)
 *   }
 *   weir_stack_free(s);
 *
 * ERRORS. Every function that can fail returns 0 (or a non-negative count, as ssize_t) on
 * success and a negative errno value on failure, as the Linux kernel does: -EINVAL, -EAGAIN,
 * -EBADF, ... (<errno.h>; strerror(-ret) names it). Nothing sets errno. Out-parameters are
 * written only on success. Arguments are always checked: a NULL pointer where an object is
 * required, a length that cannot be right, an unknown family, flag or option is -EINVAL, never
 * a crash. Calls that also accept NULL say so ("or NULL"). When a call fails for a reason a
 * one-line message explains better than errno (a tap that cannot be opened, an address that
 * does not parse), weir_stack_last_error() returns that message.
 *
 * HANDLES. A stack is an opaque pointer owned by the caller from weir_stack_new() to
 * weir_stack_free(); using it after weir_stack_free() is undefined (it cannot be detected).
 * Sockets are weir_socket values: integers that name a slot of their stack plus a generation
 * and the stack's own tag, never pointers. A handle that was closed, that was never issued, or
 * that belongs to another stack is -EBADF on every call, for as long as the stack lives;
 * nothing is ever read through a stale handle. 0 is never a valid handle (WEIR_INVALID_SOCKET).
 * A NIC is a small integer (weir_nic) that names it for the stack's lifetime.
 *
 * THREADS. A stack and all of its sockets belong to one thread at a time: the calls on one
 * stack must not run concurrently (from several threads, hold one mutex around every call;
 * nothing in weir is thread-local). Two stacks share nothing and may run on two threads.
 * Thread-safe exceptions, callable from any thread at any time: weir_now_ns, weir_timeout_ms,
 * weir_version, the weir_addr_* helpers, weir_loop_stop and weir_loop_post; and
 * weir_packet_queue_inject/_take/_next_size/_fd (one injecting and one taking thread at a
 * time), so a tun reader thread can feed a running stack. While weir_loop_run() runs, the
 * stack belongs to the thread running it: other threads reach it only through those.
 *
 * CALLBACKS. Readiness callbacks and TCP forwarder handlers run on the stack's thread at the
 * end of weir_stack_poll() or of a loop iteration, posted functions during a loop iteration;
 * never inside another weir call: they may call every function on the stack (close any socket, open and connect new
 * ones) except weir_stack_free (which aborts the process with a message when called from
 * there) and the drivers weir_stack_poll, weir_loop_run, weir_loop_run_once (-EBUSY). The two
 * exceptions run in the middle of packet processing and may do much less: the packet queue
 * output callback and the UDP forwarder handler (see each).
 *
 * DRIVING. Pick one of:
 *  (a) your own loop: call weir_stack_poll() when one of weir_stack_wait_fds() is readable or
 *      the deadline it returned has come (smoltcp's model). The stack never sleeps or blocks.
 *  (b) weir's loop: weir_loop_run() on a thread of yours until weir_loop_stop(); or nest it
 *      in your loop with weir_stack_loop_fd() + weir_loop_run_once().
 *  A packet queue NIC's inbound eventfd is among weir_stack_wait_fds() (and watched by the
 *  loop): an injected packet wakes either, or call weir_stack_poll() right after injecting.
 *  Socket calls never wait: they return -EAGAIN (read, write, accept, recvfrom) or
 *  -EINPROGRESS (connect) and readiness tells when to retry.
 *
 * TIME. The stack runs on CLOCK_MONOTONIC; weir_now_ns() reads it. Every time in this API is
 * nanoseconds on that clock.
 */
#ifndef WEIR_WEIR_H
#define WEIR_WEIR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h> /* ssize_t */

#ifdef __cplusplus
extern "C" {
#endif

/* ---- Basics ------------------------------------------------------------------------------ */

typedef struct weir_stack weir_stack;
typedef uint64_t weir_socket;
typedef uint32_t weir_nic;

#define WEIR_INVALID_SOCKET ((weir_socket)0)

/* The library's version, "MAJOR.MINOR.PATCH". */
const char *weir_version(void);

/* CLOCK_MONOTONIC in nanoseconds: the stack's clock. */
uint64_t weir_now_ns(void);

/* Milliseconds from now until deadline_ns (a weir_now_ns() time), rounded up so that a wait
 * never ends before the deadline: 0 when it has passed, -1 (wait forever, as poll(2) takes it)
 * for UINT64_MAX, capped at INT32_MAX. */
int weir_timeout_ms(uint64_t deadline_ns);

/* ---- Addresses --------------------------------------------------------------------------- */

/* The families are Linux's AF_INET and AF_INET6, so either name may be passed. */
#define WEIR_AF_INET 2
#define WEIR_AF_INET6 10

/* An IP address and port. addr is in network byte order (an IPv4 address in addr[0..3], the
 * rest zero); port is in host byte order. An IPv6 socket names IPv4 peers by IPv4-mapped
 * addresses (::ffff:a.b.c.d) unless WEIR_OPT_V6ONLY is set. */
typedef struct weir_sockaddr {
  uint16_t family; /* WEIR_AF_INET or WEIR_AF_INET6 */
  uint16_t port;
  uint8_t addr[16];
} weir_sockaddr;

/* Large enough for any string weir_addr_format() writes, with its NUL. */
#define WEIR_ADDRSTRLEN 64

/* Parses "10.0.0.1", "10.0.0.1:80", "fd00::1", "[fd00::1]:80" (no port: 0) into *out.
 * -EINVAL when text is NULL or is not one of those forms. */
int weir_addr_parse(const char *text, weir_sockaddr *out);

/* Writes "10.0.0.1:80" or "[fd00::1]:80" (with_port nonzero), or "10.0.0.1" / "fd00::1", and
 * a NUL into buf. Returns the length without the NUL; -ENOSPC when len is too small (buf then
 * holds ""), -EINVAL for a NULL argument or an unknown family. */
ssize_t weir_addr_format(const weir_sockaddr *addr, int with_port, char *buf, size_t len);

/* ---- Stacks ------------------------------------------------------------------------------ */

/* Options for weir_stack_new. Call weir_stack_options_init() first: it sets size (this
 * struct's size, by which later versions of the library know which fields a caller has) and
 * the defaults; then change what you need. */
typedef struct weir_stack_options {
  uint32_t size;       /* sizeof(weir_stack_options), set by weir_stack_options_init */
  int ipv6;            /* nonzero (default): install IPv6 with NDP and ICMPv6 */
  int ipv6_autoconf;   /* nonzero: router discovery + SLAAC on every NIC (default 0) */
  int repeatable;      /* nonzero: every random choice, keys included, follows from seed
                          (which must then be nonzero), so runs repeat (tests only: never face
                          a real network with it) */
  uint64_t seed;       /* seeds the stack's generator; 0 (default): from the OS */
  uint16_t ephemeral_port_first; /* connect()/bind(0) ports; 0, 0 (default): 32768-60999 */
  uint16_t ephemeral_port_last;
  uint32_t tcp_receive_buffer;   /* default SO_RCVBUF for TCP sockets; 0: weir's default */
  uint32_t tcp_send_buffer;      /* default SO_SNDBUF for TCP sockets; 0: weir's default */
} weir_stack_options;

/* Fills *options with the defaults. Does nothing for NULL. */
void weir_stack_options_init(weir_stack_options *options);

/* Creates a stack with IPv4 (ARP, ICMP), IPv6 (unless options->ipv6 is 0), UDP and TCP, and
 * no NICs, in *out. options may be NULL (the defaults). -EINVAL (weir_stack_last_error cannot
 * say why: there is no stack): out is NULL; options->size is smaller than the first version
 * of the struct, or larger than this library knows with the unknown tail not all zero;
 * repeatable without a seed; an ephemeral range that starts at 0 or whose first port exceeds
 * its last. -EIO/-EMFILE: the stack's eventfd or epoll fd could not be made. */
int weir_stack_new(const weir_stack_options *options, weir_stack **out);

/* Closes every socket the caller still holds (abortively for TCP: a RST, since nobody drives
 * the FIN exchange any more), closes the NICs and frees the stack. NULL is a no-op. Called from
 * a callback or a posted function, or while weir_loop_run() runs, it would free the stack
 * under its own feet: it prints why and aborts instead. */
void weir_stack_free(weir_stack *stack);

/* The message of the last call on this stack that failed with one (a tap that cannot be
 * opened says why and what to do), or "" if none. Valid until the next call on the stack.
 * NULL stack: "". */
const char *weir_stack_last_error(const weir_stack *stack);

/* ---- NICs -------------------------------------------------------------------------------- */

/* Opens (or creates) the Linux tap device `name` as a NIC, its kernel side brought up, with
 * checksum and segmentation offloads. netns: NULL for the caller's network namespace, else a
 * namespace name from `ip netns` ("/var/run/netns/NAME") or a path ("/proc/PID/ns/net"): the
 * tap is opened inside it while weir stays where it is. Writes the NIC's id to *nic.
 * -EINVAL: NULL argument, empty name or one longer than 15 bytes. -EPERM/-EACCES: no
 * CAP_NET_ADMIN or /dev/net/tun not accessible; -ENOENT: no such namespace; -EADDRINUSE: the
 * stack has a NIC of that name already. weir_stack_last_error() says more. */
int weir_stack_add_tap(weir_stack *stack, const char *name, const char *netns, weir_nic *nic);

/* Packet queue NICs: the embedder moves the packets (a tun device, a VPN tunnel, another OS's
 * driver), as with gVisor's channel endpoint. Raw IP mode carries bare IPv4/IPv6 packets (for
 * a tun device; no ARP or NDP, no MAC); Ethernet mode carries Ethernet II frames (for a tap;
 * the NIC gets a random locally administered MAC, see weir_nic_mac).
 *
 * Threads: weir_packet_queue_inject, _take, _next_size and _fd may be called from any thread
 * while the stack runs on its own (one injecting thread and one taking thread at a time), so a
 * tun reader thread can feed a stack that weir_loop_run() drives. Injected packets wake the
 * loop (and make an fd of weir_stack_wait_fds() readable). weir_stack_add_packet_queue and
 * _set_callback follow the stack's thread rule. */
#define WEIR_FRAMING_RAW_IP 0
#define WEIR_FRAMING_ETHERNET 1

/* Adds a packet queue NIC named `name` with the given framing and MTU (the largest IP packet,
 * link header excluded; 0: 1500). Nothing arrives on it but what weir_packet_queue_inject()
 * gives; what the stack sends waits (up to 1024 packets or 4 MiB; more is dropped and counted,
 * as by a full NIC ring) for weir_packet_queue_take(). -EINVAL: NULL argument, empty name,
 * unknown framing, MTU below 68 or above 65535; -EADDRINUSE: the stack has a NIC of that
 * name. */
int weir_stack_add_packet_queue(weir_stack *stack, const char *name, int framing, uint32_t mtu,
                                weir_nic *nic);

/* Hands one inbound packet (a whole frame, in Ethernet mode) to the packet queue NIC. The
 * bytes are copied; the stack handles them at its next weir_stack_poll() or loop iteration.
 * -EINVAL: NULL data or len 0; -ENODEV: nic is not a packet queue NIC of this stack; -EBADMSG:
 * too short for its header, or (raw IP) not IPv4 or IPv6; -EMSGSIZE: larger than the MTU (plus
 * 14 in Ethernet mode); -ENOBUFS: 1024 injected packets already wait (this one is dropped and
 * counted, as by a full NIC ring). */
int weir_packet_queue_inject(weir_stack *stack, weir_nic nic, const void *data, size_t len);

/* Takes the oldest packet the stack sent through the packet queue NIC (with its Ethernet
 * header in Ethernet mode), copying it into buf. Returns its length; -EAGAIN when none waits;
 * -EMSGSIZE when len is too small: the packet stays first in line (weir_packet_queue_next_size
 * says its size), -ENODEV: not a packet queue NIC of this stack. */
ssize_t weir_packet_queue_take(weir_stack *stack, weir_nic nic, void *buf, size_t len);

/* The size of the next packet weir_packet_queue_take() would return; 0 when none waits. */
ssize_t weir_packet_queue_next_size(weir_stack *stack, weir_nic nic);

/* An eventfd readable while packets the stack sent wait on this NIC, for a poll(2) loop that
 * writes them out (owned by the stack: do not close or read it; taking the packets clears it).
 * After a -EMSGSIZE from weir_packet_queue_take, the packet held back no longer counts: take
 * it before waiting again. */
int weir_packet_queue_fd(weir_stack *stack, weir_nic nic);

/* fn(stack, nic, user) runs on the stack's thread each time the NIC's outbound queue goes from
 * empty to non-empty, in the middle of the stack sending: it may call weir_packet_queue_take()
 * and weir_packet_queue_next_size(), write to an fd or set a flag, and nothing else of weir's
 * (the stack is not in a state to be re-entered). NULL fn removes it. Not thread-safe: set it
 * on the stack's thread. */
typedef void (*weir_packet_queue_callback)(weir_stack *stack, weir_nic nic, void *user);
int weir_packet_queue_set_callback(weir_stack *stack, weir_nic nic,
                                   weir_packet_queue_callback fn, void *user);

/* Brings the NIC up (nonzero) or down: a NIC that is down drops what it receives (counted as
 * rx_drop_disabled). NICs start up. -ENODEV: no such NIC. */
int weir_nic_set_up(weir_stack *stack, weir_nic nic, int up);

/* The NIC's MTU and its MAC address (all zero on a raw IP NIC). -ENODEV: no such NIC. */
int weir_nic_mtu(weir_stack *stack, weir_nic nic, uint32_t *mtu);
int weir_nic_mac(weir_stack *stack, weir_nic nic, uint8_t mac[6]);

/* Assigns an address with its prefix length ("10.0.0.2/24", "fd00::2/64") to the NIC, and the
 * on-link route of its subnet. -EINVAL: NULL, not an address with a prefix length, or an
 * unspecified or multicast address (see weir_stack_last_error); -ENODEV: no such NIC; -EAFNOSUPPORT: IPv6 on a stack without it;
 * -EADDRINUSE: the NIC already has it. */
int weir_stack_add_address(weir_stack *stack, weir_nic nic, const char *prefix);
/* The same from binary: addr->port is ignored; prefix_len at most 32 or 128. */
int weir_stack_add_address_bin(weir_stack *stack, weir_nic nic, const weir_sockaddr *addr,
                               unsigned prefix_len);

/* Adds a route to destination ("0.0.0.0/0", "fd00:1::/48") through gateway (an address, or
 * NULL for on-link) on the NIC. Longest prefix wins; among equal prefixes, the first added.
 * -EINVAL: NULL destination, something that does not parse, or gateway and destination of
 * different families; -ENODEV: no such NIC. */
int weir_stack_add_route(weir_stack *stack, const char *destination, const char *gateway,
                         weir_nic nic);
/* The default route of the gateway's family (0.0.0.0/0 or ::/0) through gateway on the NIC. */
int weir_stack_set_gateway(weir_stack *stack, weir_nic nic, const char *gateway);

/* ---- Driving: your own loop (a) ----------------------------------------------------------- */

/* Receives what every NIC has (up to a budget each), fires the timers that are due, then
 * calls the readiness callbacks of sockets whose readiness may have changed. now_ns: a
 * weir_now_ns() reading taken by the caller, or 0 to read the clock. Writes to
 * *next_deadline_ns (may be NULL) when to call again at the latest, even if no fd becomes
 * readable: a weir_now_ns() time, UINT64_MAX when no timer is armed, or now when work is
 * still pending (a NIC filled its budget). Returns how many packets, timers and callbacks it
 * handled. -EINVAL: NULL stack; -EBUSY: called from a callback or inside weir_loop_run. */
ssize_t weir_stack_poll(weir_stack *stack, uint64_t now_ns, uint64_t *next_deadline_ns);

/* The fds a loop of yours waits on for readability before calling weir_stack_poll(): every
 * tap's fd, every packet queue NIC's inbound eventfd (readable while injected packets wait),
 * and an eventfd that becomes readable when callbacks are waiting to run (a socket call of
 * yours changed some socket's readiness). Never read or close them: weir_stack_poll() drains
 * them. Copies up to cap fds into fds and
 * returns how many there are in all (call again with a larger array if that is more than
 * cap). The set changes only when a NIC is added. fds may be NULL when cap is 0. */
ssize_t weir_stack_wait_fds(weir_stack *stack, int *fds, size_t cap);

/* ---- Driving: weir's loop (b) ------------------------------------------------------------- */

/* Runs the stack's loop (epoll over its NICs and timers) on the calling thread until
 * weir_loop_stop(): the thread owns the stack until it returns 0. Readiness callbacks and
 * posted functions run on it. Packet queue NICs are received from on every iteration that
 * something woke. -EBUSY: already running, or called from a callback; -EIO: epoll failed. */
int weir_loop_run(weir_stack *stack);

/* Makes weir_loop_run() return after the iteration in progress; a stop before the run starts
 * ends the next run at once. Safe from any thread, from a signal-handling thread, and from a
 * callback (not from an async signal handler). */
int weir_loop_stop(weir_stack *stack);

/* Runs fn(stack, user) on the loop's thread, during weir_loop_run() or the next
 * weir_loop_run_once(); there it may call anything on the stack except weir_stack_free and the
 * run functions. Safe from any thread: the way other threads use a running stack. -ENOMEM. */
typedef void (*weir_task_fn)(weir_stack *stack, void *user);
int weir_loop_post(weir_stack *stack, weir_task_fn fn, void *user);

/* The loop's epoll fd, for nesting it in another event loop: when it is readable (or the
 * deadline weir_loop_run_once gave has come), call weir_loop_run_once(stack, 0, &deadline).
 * Owned by the stack: do not close it. */
int weir_stack_loop_fd(weir_stack *stack);

/* One loop iteration: waits at most timeout_ms (-1: until something happens or the next
 * timer) for the NICs, then receives, fires timers, runs posted functions and callbacks.
 * Writes the next timer deadline (UINT64_MAX: none) to *next_deadline_ns (may be NULL).
 * Returns the work done. -EBUSY from a callback or inside weir_loop_run. */
ssize_t weir_loop_run_once(weir_stack *stack, int timeout_ms, uint64_t *next_deadline_ns);

/* ---- Sockets: common ---------------------------------------------------------------------- */

/* Readiness bits, what weir_socket_events() returns and callbacks receive. */
#define WEIR_EV_READABLE 0x01 /* data, a pending connection, or EOF: read/accept won't block */
#define WEIR_EV_WRITABLE 0x02 /* send buffer space; a connect() completed */
#define WEIR_EV_ERROR 0x04    /* an error is pending: weir_socket_take_error() */
#define WEIR_EV_HUP 0x08      /* both directions are closed */
#define WEIR_EV_RDHUP 0x10    /* the peer closed its sending side */

/* Creates a TCP or UDP socket of family WEIR_AF_INET or WEIR_AF_INET6, unbound. -EINVAL:
 * unknown family or NULL out; -EAFNOSUPPORT: IPv6 on a stack without it; -EMFILE: the stack
 * has 16 million sockets open. */
int weir_tcp_socket(weir_stack *stack, int family, weir_socket *out);
int weir_udp_socket(weir_stack *stack, int family, weir_socket *out);

/* Closes the socket and frees its handle (later calls with it are -EBADF). TCP closes
 * gracefully: queued data is still sent, then FIN and TIME-WAIT run inside the stack (SO_LINGER
 * 0: RST at once); a listening socket resets the connections still waiting to be accepted.
 * Allowed from any callback, for any socket of the stack, including the one called for. */
int weir_socket_close(weir_stack *stack, weir_socket sock);

/* bind(2): port 0 picks an ephemeral port; the address is unspecified or one of the stack's.
 * -EINVAL: NULL addr, bad family, already bound; -EADDRINUSE; -EADDRNOTAVAIL: not our
 * address. */
int weir_socket_bind(weir_stack *stack, weir_socket sock, const weir_sockaddr *addr);

/* connect(2). TCP: -EINPROGRESS when the SYN is on its way: WEIR_EV_WRITABLE then says it
 * completed, WEIR_EV_ERROR that it failed (weir_socket_take_error: -ECONNREFUSED,
 * -ETIMEDOUT, ...); -EISCONN; -ENETUNREACH: no route. UDP: sets the default destination and
 * receives from it only; returns 0. */
int weir_socket_connect(weir_stack *stack, weir_socket sock, const weir_sockaddr *addr);

#define WEIR_SHUT_RD 0
#define WEIR_SHUT_WR 1
#define WEIR_SHUT_RDWR 2
/* shutdown(2). -ENOTCONN when the socket is not connected (UDP: it is still shut down). */
int weir_socket_shutdown(weir_stack *stack, weir_socket sock, int how);

/* The readiness mask (WEIR_EV_*) now, >= 0; -EBADF. A socket with nothing ready is 0. */
int weir_socket_events(weir_stack *stack, weir_socket sock);

/* SO_ERROR: writes the pending error as a positive errno (0: none) to *error and clears it. */
int weir_socket_take_error(weir_stack *stack, weir_socket sock, int *error);

/* getsockname(2) / getpeername(2). Remote: -ENOTCONN while not connected. */
int weir_socket_local_address(weir_stack *stack, weir_socket sock, weir_sockaddr *out);
int weir_socket_remote_address(weir_stack *stack, weir_socket sock, weir_sockaddr *out);

/* Socket options, integer valued, named after their Linux counterparts. TCP takes them all
 * but BROADCAST; UDP takes RCVBUF, SNDBUF, REUSEADDR, REUSEPORT, BROADCAST, V6ONLY. Another
 * option is -ENOPROTOOPT; a negative value (or, for flags, anything but 0/1) -EINVAL. */
#define WEIR_OPT_RCVBUF 1     /* SO_RCVBUF, bytes */
#define WEIR_OPT_SNDBUF 2     /* SO_SNDBUF, bytes */
#define WEIR_OPT_REUSEADDR 3  /* SO_REUSEADDR 0/1 (before bind) */
#define WEIR_OPT_REUSEPORT 4  /* SO_REUSEPORT 0/1 (before bind) */
#define WEIR_OPT_KEEPALIVE 5  /* SO_KEEPALIVE 0/1 */
#define WEIR_OPT_KEEPIDLE 6   /* TCP_KEEPIDLE, seconds >= 1 */
#define WEIR_OPT_KEEPINTVL 7  /* TCP_KEEPINTVL, seconds >= 1 */
#define WEIR_OPT_KEEPCNT 8    /* TCP_KEEPCNT >= 1 */
#define WEIR_OPT_NODELAY 9    /* TCP_NODELAY 0/1 */
#define WEIR_OPT_CORK 10      /* TCP_CORK 0/1 */
#define WEIR_OPT_MAXSEG 11    /* TCP_MAXSEG, bytes (get: the send MSS once connected) */
#define WEIR_OPT_LINGER 12    /* SO_LINGER seconds; -1 (the default) off; 0 close sends RST */
#define WEIR_OPT_V6ONLY 13    /* IPV6_V6ONLY 0/1 (IPv6 sockets, before bind/connect; on an
                                 IPv4 socket -ENOPROTOOPT, as Linux) */
#define WEIR_OPT_BROADCAST 14 /* SO_BROADCAST 0/1 (UDP) */
#define WEIR_OPT_USER_TIMEOUT 15  /* TCP_USER_TIMEOUT, milliseconds; 0 (the default) off */
#define WEIR_OPT_NOTSENT_LOWAT 16 /* TCP_NOTSENT_LOWAT, bytes; 0 (the default) no limit */
#define WEIR_OPT_SYNCNT 17        /* TCP_SYNCNT, 1-127 (a listener's: its SYN-ACKs) */
#define WEIR_OPT_LINGER2 18       /* TCP_LINGER2 seconds in FIN-WAIT-2 after close, at most
                                     120; -1: none (close resets) */
int weir_socket_set_option(weir_stack *stack, weir_socket sock, int option, int value);
int weir_socket_get_option(weir_stack *stack, weir_socket sock, int option, int *value);

/* Readiness callback: fn(stack, sock, events, user) runs on the stack's thread when the
 * socket's readiness may have changed (events is its weir_socket_events() at that moment). It
 * runs at the end of weir_stack_poll() and of each loop iteration, never inside another weir
 * call, so it may call every socket function on this stack, close any socket (this one too),
 * create and accept sockets, and weir_loop_stop/weir_loop_post. It must not call
 * weir_stack_free, weir_stack_poll, weir_loop_run or weir_loop_run_once (-EBUSY). A change
 * caused by the caller's own calls (a connect that fails at once) is reported by the next
 * poll, and makes the eventfd in weir_stack_wait_fds() readable so a loop does not sleep past
 * it. Set it and then look at weir_socket_events(): it is not called for what was already
 * ready. NULL fn removes it. Accepted sockets start without one. */
typedef void (*weir_socket_callback)(weir_stack *stack, weir_socket sock, int events,
                                     void *user);
int weir_socket_set_callback(weir_stack *stack, weir_socket sock, weir_socket_callback fn,
                             void *user);

/* ---- TCP ---------------------------------------------------------------------------------- */
/* On a UDP socket these are -EOPNOTSUPP. */

/* listen(2): backlog pending connections (capped by the stack; <= 0: 1). -EINVAL: connected;
 * -EADDRINUSE: the port cannot be listened on. An unbound socket gets an ephemeral port. */
int weir_tcp_listen(weir_stack *stack, weir_socket sock, int backlog);

/* accept(2): the next established connection as a new socket in *out, its peer in *peer (may
 * be NULL). -EAGAIN: none waiting; -EINVAL: not listening. */
int weir_tcp_accept(weir_stack *stack, weir_socket sock, weir_socket *out, weir_sockaddr *peer);

/* Reads up to len bytes. Returns the count, 0 at end of stream (the peer's FIN), -EAGAIN when
 * nothing is there yet, -ECONNRESET etc. on error, -ENOTCONN before the connection is up.
 * len 0 returns 0 (buf may then be NULL). */
ssize_t weir_tcp_read(weir_stack *stack, weir_socket sock, void *buf, size_t len);

/* Queues up to len bytes for sending; returns how many were taken (fewer when the send buffer
 * fills), -EAGAIN when it is full, -EPIPE after shutdown(WR) or the peer's reset, -ENOTCONN.
 * The data leaves at once if the window allows (no need to poll first). */
ssize_t weir_tcp_write(weir_stack *stack, weir_socket sock, const void *buf, size_t len);

/* Sends a RST, drops all state and closes the handle, as close with SO_LINGER 0. */
int weir_tcp_abort(weir_stack *stack, weir_socket sock);

/* ---- UDP ---------------------------------------------------------------------------------- */
/* On a TCP socket these are -EOPNOTSUPP. */

/* sendto(2): one datagram of len bytes (0 is allowed) to *to, or to the connected peer when
 * to is NULL. Returns len. -EDESTADDRREQ: no destination; -EMSGSIZE: too large for UDP;
 * -EACCES: broadcast without WEIR_OPT_BROADCAST; -ENETUNREACH: no route; or the pending ICMP
 * error of a connected socket, once. An unbound socket is bound to an ephemeral port first. */
ssize_t weir_udp_sendto(weir_stack *stack, weir_socket sock, const void *buf, size_t len,
                        const weir_sockaddr *to);

#define WEIR_MSG_PEEK 0x02  /* copy the datagram but leave it queued */
#define WEIR_MSG_TRUNC 0x20 /* return the datagram's full size even when it was cut */
/* recvfrom(2): copies the next datagram into buf (a longer one is cut and the rest dropped,
 * unless peeking) and its source into *from (may be NULL). Returns the bytes copied (with
 * WEIR_MSG_TRUNC: the datagram's size). -EAGAIN: none queued. Unknown flags: -EINVAL. */
ssize_t weir_udp_recvfrom(weir_stack *stack, weir_socket sock, void *buf, size_t len,
                          weir_sockaddr *from, int flags);

/* ---- Flow forwarder ---------------------------------------------------------------------- */
/* Terminating every TCP connection and UDP flow a NIC sees, whatever its destination address
 * and port (the tun2socks / wireguard-go pattern, as gVisor's forwarders): turn a NIC's
 * accept-any mode on, set a handler per protocol, and accept each new flow as an ordinary
 * socket (whose local address is the destination the client wanted), refuse it (TCP: RST;
 * UDP: ICMP port unreachable), or (TCP) decide later. Flows to the stack's own addresses
 * still go to its listeners and sockets. */

#define WEIR_PROTO_TCP 6
#define WEIR_PROTO_UDP 17

/* Makes the NIC hand unicast packets for any destination address to the forwarders (nonzero)
 * or only those for the stack's own addresses (0, the default). The stack answers ARP/NDP only
 * for its own addresses: route the traffic to it (a tun device, a packet queue NIC in raw IP
 * mode, or a gateway route pointing at the stack). -ENODEV: no such NIC. */
int weir_nic_set_accept_any(weir_stack *stack, weir_nic nic, int on);

/* A new flow. */
typedef struct weir_flow {
  uint64_t id;          /* names it to weir_forwarder_accept/refuse; never reused */
  int protocol;         /* WEIR_PROTO_TCP or WEIR_PROTO_UDP */
  weir_nic nic;         /* the NIC it came in on */
  weir_sockaddr local;  /* where the client wanted to go (not one of the stack's addresses) */
  weir_sockaddr remote; /* the client */
  size_t payload_size;  /* UDP: the first datagram's payload size; TCP: 0 */
} weir_flow;

/* fn(stack, flow, user): the flow's handler. The flow struct is valid during the call only.
 *  - TCP: runs like a readiness callback (at the end of weir_stack_poll or a loop iteration,
 *    never inside another weir call) and may call everything a readiness callback may. It
 *    accepts or refuses at once, or returns without deciding (deferred): the client's SYN
 *    then waits (up to 1024 flows at once; later SYNs are dropped, and retransmitted by the
 *    client) until weir_forwarder_accept/refuse names the id, from any later point on the
 *    stack's thread (when an outbound connection of yours succeeds or fails, say). Deferred
 *    flows are not timed out here: decide every one.
 *  - UDP: runs inside the processing of the flow's first datagram, and must decide there:
 *    weir_forwarder_accept (the socket it returns has that datagram queued: read it after
 *    weir_stack_poll returns, or set a readiness callback and look at weir_socket_events) or
 *    weir_forwarder_refuse; returning without either drops the datagram. In this handler only
 *    weir_forwarder_accept, weir_forwarder_refuse, weir_socket_set_callback,
 *    weir_socket_set_option and weir_socket_events may be called.
 * A flow's later packets go to its socket; once that socket is closed, a UDP flow's next
 * datagram is a new flow. */
typedef void (*weir_forward_fn)(weir_stack *stack, const weir_flow *flow, void *user);

/* Sets (fn non-NULL) or removes (NULL) the handler for protocol. Removing it drops TCP flows
 * still undecided (their SYNs go unanswered). -EINVAL: unknown protocol. */
int weir_forwarder_set(weir_stack *stack, int protocol, weir_forward_fn fn, void *user);

/* Accepts the flow: TCP answers the SYN with a SYN-ACK from flow->local and the socket in
 * *out becomes writable once the handshake completes; UDP gives a socket bound to flow->local
 * and connected to flow->remote. -ENOENT: no undecided flow of that id (decided already, or
 * UDP outside its handler); -EINVAL: unknown protocol, NULL out; -ENOPROTOOPT: no handler is
 * set for protocol. */
int weir_forwarder_accept(weir_stack *stack, int protocol, uint64_t id, weir_socket *out);

/* Refuses the flow: TCP with a RST, UDP with an ICMP port unreachable. Errors as accept. */
int weir_forwarder_refuse(weir_stack *stack, int protocol, uint64_t id);

/* ---- Counters ----------------------------------------------------------------------------- */

/* One counter by its full name, "group.counter" as `weir stats` prints them: "tcp.resets_sent",
 * "udp.received", "nic.eth0.rx_packets". -ENOENT: no such counter; -EINVAL: NULL. */
int weir_stack_counter(const weir_stack *stack, const char *name, uint64_t *value);

/* Calls fn(group, counter, value, user) for every counter, in a stable order. The strings are
 * valid during the call only. fn must not call into the stack. */
typedef void (*weir_counter_fn)(const char *group, const char *name, uint64_t value, void *user);
int weir_stack_counters_foreach(const weir_stack *stack, weir_counter_fn fn, void *user);

/* Every counter as "group.name value\n" lines into buf with a NUL (buf may be NULL when len is
 * 0). Returns the length the whole text needs without its NUL, like snprintf: when that is
 * len or more, the text was cut (and NUL-terminated if len > 0). */
ssize_t weir_stack_counters_dump(const weir_stack *stack, char *buf, size_t len);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* WEIR_WEIR_H */
