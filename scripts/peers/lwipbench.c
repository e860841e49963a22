/*
 * lwipbench: the `weir bench` workloads (bulk, rr, crr, idle) on lwIP, for
 * scripts/bench_peers.sh. Two lwIP netifs joined by an in-memory link, in one
 * process and one thread, printing one RESULT line per run in the format of
 * `weir bench` (key=value fields; scripts/peers/summarize.py reads them).
 *
 * Built against Debian's liblwip-dev (lwIP 2.1.3):
 *   cc -O2 -o lwipbench lwipbench.c $(pkg-config --cflags --libs lwip)
 *
 * What Debian's library fixes at its build (it is built for the Hurd's lwIP
 * translator), and what follows here:
 *   - NO_SYS=0 with core locking: this program never starts the tcpip thread;
 *     it calls lwip_init() and drives the raw API and sys_check_timeouts()
 *     from one thread, which is how a NO_SYS embedder uses lwIP.
 *   - TCP_MSS=1460, TCP_WND=TCP_SND_BUF=0xFFFF (window scale shift 1): there
 *     is no MTU 65535 run; bulk is MTU 1500 only.
 *   - MEM_LIBC_MALLOC, MEMP_MEM_MALLOC: pcbs and pbufs come from malloc, so
 *     10,000 idle pairs fit and the heap growth is what they cost.
 *   - lwIP keeps its state in globals: one process holds one stack. The "two
 *     stacks" are two netifs of that stack (A 10.0.0.1/24, B 10.0.0.2/24, raw
 *     IPv4, no Ethernet, no ARP). Every pcb is bound to its netif
 *     (tcp_bind_netif), so each segment leaves through one netif's output(),
 *     is copied into a fresh pbuf (as a driver copies into a ring), is queued,
 *     and enters the other netif through ip4_input(); lwIP's loopback
 *     shortcut is not taken. Both ends share one pcb list.
 *
 * Workloads (the definitions of `weir bench`, tools/bench_*.cc):
 *   bulk SECS  A connects to B:5001 and writes 64 KiB for SECS seconds (clock
 *              checked every 16 MiB), then half-closes; B copies every byte
 *              out to a 64 KiB application buffer until EOF. Elapsed: from
 *              the connect until B saw EOF; CPU: the whole process.
 *   rr N       one connection, Nagle off; 1000 warm-up, then N timed round
 *              trips: A writes 1 byte, B reads it and writes it back, A reads.
 *   crr N      100 warm-up, then N sequential connections: A connects, writes
 *              1 byte; B reads it, writes 1 byte and closes first; A reads the
 *              byte and EOF, then closes. (lwIP has 16,384 ephemeral ports and
 *              no TIME-WAIT reuse: N + 100 must stay below that.)
 *   idle N     10 warm-up connections, then N established pairs held open;
 *              RSS growth (and heap growth) per pair.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "lwip/init.h"
#include "lwip/ip4.h"
#include "lwip/ip_addr.h"
#include "lwip/netif.h"
#include "lwip/pbuf.h"
#include "lwip/tcp.h"
#include "lwip/timeouts.h"

#define PORT 5001
#define CHUNK (64 * 1024)
#define CLOCK_CHECK_BYTES (16u << 20)

static struct netif nif_a, nif_b;
static ip4_addr_t ip_a, ip_b;

static void die(const char *what)
{
	fprintf(stderr, "lwipbench: %s\n", what);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static long rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size = 0, resident = -1;
	if (!f)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident * sysconf(_SC_PAGESIZE);
}

/* ------------------------------------------------------------------ link */

/* One FIFO of packets in flight, both directions: each entry names the netif
 * that receives it. */
struct pkt {
	struct pbuf *p;
	struct netif *to;
	struct pkt *next;
};
static struct pkt *head, *tail, *spare;
static uint64_t link_packets;

static err_t link_output(struct netif *nif, struct pbuf *p, const ip4_addr_t *next_hop)
{
	(void)next_hop;
	/* p stays the sender's (it may be retransmitted): queue a copy. */
	struct pbuf *copy = pbuf_alloc(PBUF_RAW, p->tot_len, PBUF_RAM);
	if (!copy)
		return ERR_MEM;
	if (pbuf_copy(copy, p) != ERR_OK) {
		pbuf_free(copy);
		return ERR_MEM;
	}
	struct pkt *e = spare;
	if (e)
		spare = e->next;
	else if (!(e = malloc(sizeof *e)))
		die("out of memory");
	e->p = copy;
	e->to = nif == &nif_a ? &nif_b : &nif_a;
	e->next = NULL;
	if (tail)
		tail->next = e;
	else
		head = e;
	tail = e;
	link_packets++;
	return ERR_OK;
}

/* Delivers the oldest packet in flight; 0 when there was none. */
static int deliver_one(void)
{
	struct pkt *e = head;
	if (!e)
		return 0;
	head = e->next;
	if (!head)
		tail = NULL;
	struct pbuf *p = e->p;
	struct netif *to = e->to;
	e->next = spare;
	spare = e;
	to->input(p, to); /* ip4_input takes p */
	return 1;
}

static void deliver_all(void)
{
	while (deliver_one())
		;
}

static err_t netif_setup(struct netif *nif)
{
	nif->mtu = 1500;
	nif->output = link_output;
	nif->flags = NETIF_FLAG_UP | NETIF_FLAG_LINK_UP;
	nif->name[0] = 'm';
	nif->name[1] = nif == &nif_a ? 'a' : 'b';
	return ERR_OK;
}

static void stack_init(void)
{
	ip4_addr_t mask, gw;
	lwip_init();
	IP4_ADDR(&ip_a, 10, 0, 0, 1);
	IP4_ADDR(&ip_b, 10, 0, 0, 2);
	IP4_ADDR(&mask, 255, 255, 255, 0);
	IP4_ADDR(&gw, 0, 0, 0, 0);
	if (!netif_add(&nif_a, &ip_a, &mask, &gw, NULL, netif_setup, ip4_input) ||
	    !netif_add(&nif_b, &ip_b, &mask, &gw, NULL, netif_setup, ip4_input))
		die("netif_add");
	netif_set_up(&nif_a);
	netif_set_link_up(&nif_a);
	netif_set_up(&nif_b);
	netif_set_link_up(&nif_b);
}

/* The event loop: deliver packets (lwIP's timers every 1024 of them) until
 * *done; when nothing is in flight the next event is a timer, so sleep a
 * little and run the timers. */
static void run_until(const int *done)
{
	unsigned delivered = 0;
	while (!*done) {
		if (deliver_one()) {
			if ((++delivered & 1023) == 0)
				sys_check_timeouts();
			continue;
		}
		sys_check_timeouts();
		if (!*done && !head) {
			struct timespec ts = {0, 50 * 1000};
			nanosleep(&ts, NULL);
		}
	}
}

static struct tcp_pcb *listen_on_b(tcp_accept_fn on_accept)
{
	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb)
		die("tcp_new");
	tcp_bind_netif(pcb, &nif_b);
	if (tcp_bind(pcb, IP4_ADDR_ANY, PORT) != ERR_OK)
		die("tcp_bind");
	struct tcp_pcb *listener = tcp_listen_with_backlog(pcb, 255);
	if (!listener)
		die("tcp_listen");
	tcp_accept(listener, on_accept);
	return listener;
}

static struct tcp_pcb *connect_from_a(tcp_connected_fn on_connected)
{
	struct tcp_pcb *pcb = tcp_new_ip_type(IPADDR_TYPE_V4);
	if (!pcb)
		die("tcp_new");
	tcp_bind_netif(pcb, &nif_a);
	ip_addr_t to;
	ip_addr_copy_from_ip4(to, ip_b);
	if (tcp_connect(pcb, &to, PORT, on_connected) != ERR_OK)
		die("tcp_connect");
	return pcb;
}

static void on_fatal(void *arg, err_t err)
{
	(void)arg;
	fprintf(stderr, "lwipbench: connection error %d\n", (int)err);
	exit(1);
}

/* ------------------------------------------------------------------ bulk */

static unsigned char chunk[CHUNK];
static uint64_t bulk_sent, bulk_received, bulk_next_check = CLOCK_CHECK_BYTES;
static double bulk_deadline;
static int bulk_write_closed, bulk_eof;

static void bulk_fill(struct tcp_pcb *pcb)
{
	while (!bulk_write_closed) {
		if (bulk_sent >= bulk_next_check) {
			bulk_next_check += CLOCK_CHECK_BYTES;
			if (now_s() > bulk_deadline) {
				bulk_write_closed = 1;
				tcp_output(pcb);
				if (tcp_shutdown(pcb, 0, 1) != ERR_OK)
					die("bulk: shutdown");
				return;
			}
		}
		u16_t room = tcp_sndbuf(pcb);
		if (room == 0 || tcp_sndqueuelen(pcb) >= TCP_SND_QUEUELEN - 4)
			break;
		/* continue the 64 KiB chunk where the last write stopped */
		size_t off = (size_t)(bulk_sent % CHUNK);
		u16_t len = (u16_t)(CHUNK - off < room ? CHUNK - off : room);
		err_t e = tcp_write(pcb, chunk + off, len, TCP_WRITE_FLAG_COPY);
		if (e == ERR_MEM)
			break;
		if (e != ERR_OK)
			die("bulk: tcp_write");
		bulk_sent += len;
	}
	tcp_output(pcb);
}

static err_t bulk_on_sent(void *arg, struct tcp_pcb *pcb, u16_t len)
{
	(void)arg;
	(void)len;
	bulk_fill(pcb);
	return ERR_OK;
}

static err_t bulk_on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	if (err != ERR_OK)
		die("bulk: connect failed");
	tcp_sent(pcb, bulk_on_sent);
	bulk_fill(pcb);
	return ERR_OK;
}

static err_t bulk_on_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	static unsigned char app[CHUNK];
	(void)arg;
	(void)err;
	if (!p) {
		bulk_eof = 1;
		tcp_recv(pcb, NULL);
		tcp_close(pcb);
		return ERR_OK;
	}
	/* copy out, as a socket read() would */
	for (u16_t off = 0; off < p->tot_len;) {
		u16_t n = (u16_t)(p->tot_len - off < CHUNK ? p->tot_len - off : CHUNK);
		off = (u16_t)(off + pbuf_copy_partial(p, app, n, off));
	}
	bulk_received += p->tot_len;
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	return ERR_OK;
}

static err_t bulk_on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	(void)err;
	tcp_recv(pcb, bulk_on_recv);
	return ERR_OK;
}

static void run_bulk(double secs)
{
	for (size_t i = 0; i < sizeof chunk; i++)
		chunk[i] = (unsigned char)i;
	listen_on_b(bulk_on_accept);
	double cpu0 = cpu_s(), t0 = now_s();
	bulk_deadline = t0 + secs;
	struct tcp_pcb *client = connect_from_a(bulk_on_connected);
	tcp_err(client, on_fatal);
	run_until(&bulk_eof);
	double elapsed = now_s() - t0, cpu = cpu_s() - cpu0;
	if (bulk_received != bulk_sent)
		die("bulk: byte count mismatch");
	printf("RESULT peer=lwip link=inmem-copy mtu=1500 threads=1 test=bulk bytes=%llu secs=%.3f "
	       "gbps=%.3f cpu_s=%.3f cpu_util=%.2f link_pkts=%llu\n",
	       (unsigned long long)bulk_received, elapsed, (double)bulk_received * 8 / elapsed / 1e9,
	       cpu, cpu / elapsed, (unsigned long long)link_packets);
}

/* ------------------------------------------------------------------ rr */

static int rr_up, rr_reply;
static struct tcp_pcb *rr_client;

static err_t rr_server_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	static const char echo[64];
	(void)arg;
	(void)err;
	if (!p) {
		tcp_close(pcb);
		return ERR_OK;
	}
	u16_t n = p->tot_len;
	tcp_recved(pcb, n);
	pbuf_free(p);
	if (tcp_write(pcb, echo, n, TCP_WRITE_FLAG_COPY) != ERR_OK)
		die("rr: server write");
	tcp_output(pcb);
	return ERR_OK;
}

static err_t rr_on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	(void)err;
	tcp_nagle_disable(pcb);
	tcp_recv(pcb, rr_server_recv);
	return ERR_OK;
}

static err_t rr_client_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	(void)arg;
	(void)err;
	if (!p)
		die("rr: unexpected EOF");
	rr_reply += p->tot_len;
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	return ERR_OK;
}

static err_t rr_on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	if (err != ERR_OK)
		die("rr: connect failed");
	tcp_nagle_disable(pcb);
	tcp_recv(pcb, rr_client_recv);
	rr_up = 1;
	return ERR_OK;
}

static void rr_round_trip(void)
{
	static const char request[1] = {'x'};
	rr_reply = 0;
	if (tcp_write(rr_client, request, 1, TCP_WRITE_FLAG_COPY) != ERR_OK)
		die("rr: client write");
	tcp_output(rr_client);
	run_until(&rr_reply);
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void run_rr(int n)
{
	listen_on_b(rr_on_accept);
	rr_client = connect_from_a(rr_on_connected);
	tcp_err(rr_client, on_fatal);
	run_until(&rr_up);
	for (int i = 0; i < 1000; i++)
		rr_round_trip();
	double *latency = malloc(sizeof(double) * (size_t)n);
	if (!latency)
		die("out of memory");
	double cpu0 = cpu_s(), t0 = now_s();
	for (int i = 0; i < n; i++) {
		double s = now_s();
		rr_round_trip();
		latency[i] = now_s() - s;
	}
	double elapsed = now_s() - t0, cpu = cpu_s() - cpu0, sum = 0;
	for (int i = 0; i < n; i++)
		sum += latency[i];
	qsort(latency, (size_t)n, sizeof(double), by_value);
	printf("RESULT peer=lwip link=inmem-copy mtu=1500 threads=1 test=rr n=%d secs=%.3f "
	       "rtt_mean_us=%.2f rtt_p50_us=%.2f rtt_p99_us=%.2f rt_per_s=%.0f cpu_s=%.3f\n",
	       n, elapsed, sum / n * 1e6, latency[n / 2] * 1e6, latency[(size_t)n * 99 / 100] * 1e6,
	       n / elapsed, cpu);
	free(latency);
}

/* ------------------------------------------------------------------ crr */

static int crr_done, crr_reply;

static err_t crr_server_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	static const char reply[1] = {'y'};
	(void)arg;
	(void)err;
	if (!p) {
		tcp_close(pcb);
		return ERR_OK;
	}
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	if (tcp_write(pcb, reply, 1, TCP_WRITE_FLAG_COPY) != ERR_OK)
		die("crr: server write");
	tcp_recv(pcb, NULL);
	tcp_close(pcb); /* the server closes first: its FIN follows the byte */
	return ERR_OK;
}

static err_t crr_on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	(void)err;
	tcp_nagle_disable(pcb);
	tcp_recv(pcb, crr_server_recv);
	return ERR_OK;
}

static err_t crr_client_recv(void *arg, struct tcp_pcb *pcb, struct pbuf *p, err_t err)
{
	(void)arg;
	(void)err;
	if (!p) { /* the server's FIN */
		if (crr_reply != 1)
			die("crr: EOF before the reply byte");
		tcp_recv(pcb, NULL);
		tcp_close(pcb);
		crr_done = 1;
		return ERR_OK;
	}
	crr_reply += p->tot_len;
	tcp_recved(pcb, p->tot_len);
	pbuf_free(p);
	return ERR_OK;
}

static err_t crr_on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	static const char request[1] = {'x'};
	(void)arg;
	if (err != ERR_OK)
		die("crr: connect failed");
	tcp_nagle_disable(pcb);
	tcp_recv(pcb, crr_client_recv);
	if (tcp_write(pcb, request, 1, TCP_WRITE_FLAG_COPY) != ERR_OK)
		die("crr: client write");
	tcp_output(pcb);
	return ERR_OK;
}

static void crr_connection(void)
{
	crr_done = 0;
	crr_reply = 0;
	struct tcp_pcb *client = connect_from_a(crr_on_connected);
	tcp_err(client, on_fatal);
	run_until(&crr_done);
	deliver_all(); /* the client's FIN and the last ACK cross before the next one */
}

static void run_crr(int n)
{
	if (n + 100 >= 16384)
		die("crr: lwIP has 16,384 ephemeral ports and no TIME-WAIT reuse; use n < 16284");
	listen_on_b(crr_on_accept);
	for (int i = 0; i < 100; i++)
		crr_connection();
	double cpu0 = cpu_s(), t0 = now_s(), first_tenth = 0;
	for (int i = 0; i < n; i++) {
		crr_connection();
		if (i + 1 == n / 10)
			first_tenth = now_s() - t0;
	}
	double elapsed = now_s() - t0, cpu = cpu_s() - cpu0;
	printf("RESULT peer=lwip link=inmem-copy mtu=1500 threads=1 test=crr n=%d secs=%.3f "
	       "conn_per_s=%.0f us_per_conn=%.2f cpu_s=%.3f first10pct_conn_per_s=%.0f\n",
	       n, elapsed, n / elapsed, elapsed * 1e6 / n, cpu,
	       first_tenth > 0 ? (n / 10) / first_tenth : 0.0);
}

/* ------------------------------------------------------------------ idle */

static int idle_accepted, idle_connected;

static err_t idle_on_accept(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	(void)err;
	(void)pcb;
	idle_accepted++;
	return ERR_OK;
}

static err_t idle_on_connected(void *arg, struct tcp_pcb *pcb, err_t err)
{
	(void)arg;
	(void)pcb;
	if (err != ERR_OK)
		die("idle: connect failed");
	idle_connected++;
	return ERR_OK;
}

static void idle_pair(void)
{
	int want = idle_accepted + 1;
	struct tcp_pcb *client = connect_from_a(idle_on_connected);
	tcp_err(client, on_fatal);
	while (idle_accepted < want)
		if (!deliver_one())
			sys_check_timeouts();
	deliver_all();
}

static void run_idle(int n)
{
	listen_on_b(idle_on_accept);
	for (int i = 0; i < 10; i++)
		idle_pair();
	malloc_trim(0);
	struct mallinfo2 heap0 = mallinfo2();
	long rss0 = rss_bytes();
	double t0 = now_s();
	for (int i = 0; i < n; i++)
		idle_pair();
	double elapsed = now_s() - t0;
	struct mallinfo2 heap1 = mallinfo2();
	long rss1 = rss_bytes();
	if (idle_connected != n + 10)
		die("idle: not every connection is established");
	printf("RESULT peer=lwip link=inmem-copy mtu=1500 threads=1 test=idle conns=%d open_secs=%.3f "
	       "rss_before_mb=%.1f rss_after_mb=%.1f rss_per_pair_bytes=%.0f "
	       "malloc_per_pair_bytes=%.0f\n",
	       n, elapsed, rss0 / 1048576.0, rss1 / 1048576.0, (double)(rss1 - rss0) / n,
	       ((double)heap1.uordblks - (double)heap0.uordblks) / n);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	const char *arg = argc > 2 ? argv[2] : NULL;
	stack_init();
	if (!strcmp(mode, "bulk")) {
		double secs = arg ? atof(arg) : 5.0;
		if (secs <= 0)
			die("bulk: SECS must be > 0");
		run_bulk(secs);
	} else if (!strcmp(mode, "rr") || !strcmp(mode, "crr") || !strcmp(mode, "idle")) {
		int n = arg ? atoi(arg) : (!strcmp(mode, "rr") ? 100000 : 10000);
		if (n <= 0)
			die("the count must be > 0");
		if (!strcmp(mode, "rr"))
			run_rr(n);
		else if (!strcmp(mode, "crr"))
			run_crr(n);
		else
			run_idle(n);
	} else {
		fprintf(stderr, "usage: %s bulk [SECS] | rr [N] | crr [N] | idle [CONNS]\n", argv[0]);
		return 2;
	}
	fflush(stdout);
	return 0;
}
