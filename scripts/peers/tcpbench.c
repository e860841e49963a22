/*
 * tcpbench: the `weir bench` workloads (bulk, rr, crr, idle) on the Linux kernel's TCP, for
 * scripts/bench_peers.sh, which runs the server in one network namespace and the client in
 * another, joined by a veth pair. The client prints one RESULT line in the format of
 * `weir bench` (key=value fields; scripts/peers/summarize.py reads them).
 *
 *   tcpbench serve bulk|rr|crr|idle PORT     one single-threaded server for one workload run
 *   tcpbench bulk HOST PORT [SECS]           (default 5)
 *   tcpbench rr   HOST PORT [N]              (default 100000)
 *   tcpbench crr  HOST PORT [N]              (default 10000)
 *   tcpbench idle HOST PORT [CONNS]          (default 10000)
 *
 * Client environment: SERVER_PID, the server's process id (the client adds the server's CPU
 * time, from /proc/PID/schedstat, to its own); TAGS, fields put into the RESULT line after
 * peer=linux (the script passes e.g. "link=veth mtu=1500 procs=2").
 *
 * Workloads, as `weir bench` defines them (tools/bench_*.cc):
 *   bulk  one connection; the client writes 64 KiB for SECS (clock checked every 16 MiB), then
 *         half-closes; the server reads 256 KiB at a time until EOF and closes. Elapsed: from
 *         the connect until the client sees the server's close (so everything was read).
 *   rr    TCP_NODELAY; 1000 warm-up, then N timed round trips: the client writes 1 byte, the
 *         server reads it and writes it back, the client reads it.
 *   crr   100 warm-up, then N sequential connections: the client connects and writes 1 byte;
 *         the server reads it, writes 1 byte and closes first; the client reads the byte and
 *         EOF, then closes.
 *   idle  10 warm-up connections, then CONNS established pairs held open; the kernel's Slab
 *         growth (/proc/meminfo) per pair: the kernel keeps socket memory there, not in the
 *         processes. System-wide, so other work on the machine moves it a little.
 * CPU: client + server process time (user + system), which includes the kernel's protocol
 * work done in their context; softirq work that lands in ksoftirqd is not counted.
 *
 * Build: cc -O2 -o tcpbench tcpbench.c
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define CHUNK (64 * 1024)
#define READ_SIZE (256 * 1024)
#define CLOCK_CHECK_BYTES (16u << 20)

static void die(const char *what)
{
	fprintf(stderr, "tcpbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double own_cpu_s(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

/* CPU seconds of the (single-threaded) server named by $SERVER_PID; 0 without it. */
static double server_cpu_s(void)
{
	const char *pid = getenv("SERVER_PID");
	char path[64];
	unsigned long long ns = 0;
	if (!pid || !*pid)
		return 0;
	snprintf(path, sizeof path, "/proc/%s/schedstat", pid);
	FILE *f = fopen(path, "r");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &ns) != 1)
		ns = 0;
	fclose(f);
	return (double)ns / 1e9;
}

static long meminfo_kb(const char *key)
{
	FILE *f = fopen("/proc/meminfo", "r");
	char line[256];
	size_t len = strlen(key);
	long kb = -1;
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (!strncmp(line, key, len) && line[len] == ':') {
			kb = atol(line + len + 1);
			break;
		}
	fclose(f);
	return kb;
}

static void raise_nofile(void)
{
	struct rlimit rl = {1 << 20, 1 << 20};
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		rl.rlim_cur = rl.rlim_max = 65536;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

static void no_delay(int fd)
{
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static int read_exactly(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r <= 0)
			return 0;
		got += (size_t)r;
	}
	return 1;
}

/* ------------------------------------------------------------------ server */

static int serve(const char *workload, int port)
{
	raise_nofile();
	signal(SIGPIPE, SIG_IGN);
	int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
	if (l < 0)
		die("socket");
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(l, (struct sockaddr *)&a, sizeof a) < 0)
		die("bind");
	if (listen(l, 4096) < 0)
		die("listen");
	printf("tcpbench: serving %s on port %d\n", workload, port);
	fflush(stdout);
	static char buf[READ_SIZE];
	for (;;) {
		int c = accept(l, NULL, NULL);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			die("accept");
		}
		if (!strcmp(workload, "bulk")) {
			while (read(c, buf, sizeof buf) > 0)
				;
			close(c);
		} else if (!strcmp(workload, "rr")) {
			no_delay(c);
			for (;;) {
				ssize_t r = read(c, buf, 64);
				if (r <= 0 || write(c, buf, (size_t)r) != r)
					break;
			}
			close(c);
		} else if (!strcmp(workload, "crr")) {
			no_delay(c);
			if (read_exactly(c, buf, 1) && write(c, "y", 1) != 1) {
			}
			close(c); /* the server closes first */
		}
		/* idle: keep the connection open until the process ends */
	}
	return 0;
}

/* ------------------------------------------------------------------ clients */

static struct sockaddr_in server;
static const char *tags = "";

static int dial(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		die("socket");
	if (connect(fd, (struct sockaddr *)&server, sizeof server) < 0)
		die("connect");
	return fd;
}

static void report(const char *test, const char *fields, double cpu_client, double cpu_server)
{
	printf("RESULT peer=linux %s test=%s %s cpu_s=%.3f client_cpu_s=%.3f server_cpu_s=%.3f\n",
	       tags, test, fields, cpu_client + cpu_server, cpu_client, cpu_server);
	fflush(stdout);
}

static void run_bulk(double secs)
{
	static char chunk[CHUNK];
	for (size_t i = 0; i < sizeof chunk; i++)
		chunk[i] = (char)i;
	uint64_t sent = 0, next_check = CLOCK_CHECK_BYTES;
	double c0 = own_cpu_s(), s0 = server_cpu_s(), t0 = now_s(), deadline = t0 + secs;
	int fd = dial();
	for (;;) {
		if (sent >= next_check) {
			next_check += CLOCK_CHECK_BYTES;
			if (now_s() > deadline)
				break;
		}
		ssize_t w = write(fd, chunk, sizeof chunk);
		if (w <= 0)
			die("bulk: write");
		sent += (uint64_t)w;
	}
	shutdown(fd, SHUT_WR);
	char b;
	if (read(fd, &b, 1) != 0) /* the server closes once it has read everything */
		die("bulk: expected the server's close");
	double elapsed = now_s() - t0, cpu = own_cpu_s() - c0, scpu = server_cpu_s() - s0;
	close(fd);
	char fields[256];
	snprintf(fields, sizeof fields, "bytes=%llu secs=%.3f gbps=%.3f", (unsigned long long)sent,
		 elapsed, (double)sent * 8 / elapsed / 1e9);
	report("bulk", fields, cpu, scpu);
}

static int by_value(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

static void run_rr(int n)
{
	int fd = dial();
	char b = 'x';
	no_delay(fd);
	for (int i = 0; i < 1000; i++)
		if (write(fd, &b, 1) != 1 || !read_exactly(fd, &b, 1))
			die("rr: warm-up");
	double *latency = malloc(sizeof(double) * (size_t)n);
	if (!latency)
		die("malloc");
	double c0 = own_cpu_s(), s0 = server_cpu_s(), t0 = now_s();
	for (int i = 0; i < n; i++) {
		double s = now_s();
		if (write(fd, &b, 1) != 1 || !read_exactly(fd, &b, 1))
			die("rr");
		latency[i] = now_s() - s;
	}
	double elapsed = now_s() - t0, cpu = own_cpu_s() - c0, scpu = server_cpu_s() - s0, sum = 0;
	close(fd);
	for (int i = 0; i < n; i++)
		sum += latency[i];
	qsort(latency, (size_t)n, sizeof(double), by_value);
	char fields[256];
	snprintf(fields, sizeof fields,
		 "n=%d secs=%.3f rtt_mean_us=%.2f rtt_p50_us=%.2f rtt_p99_us=%.2f rt_per_s=%.0f", n,
		 elapsed, sum / n * 1e6, latency[n / 2] * 1e6, latency[(size_t)n * 99 / 100] * 1e6,
		 n / elapsed);
	report("rr", fields, cpu, scpu);
	free(latency);
}

static void crr_connection(void)
{
	int fd = dial();
	char b = 'x';
	no_delay(fd);
	if (write(fd, &b, 1) != 1 || !read_exactly(fd, &b, 1))
		die("crr");
	if (read(fd, &b, 1) != 0)
		die("crr: expected the server's FIN");
	close(fd);
}

static void run_crr(int n)
{
	for (int i = 0; i < 100; i++)
		crr_connection();
	double c0 = own_cpu_s(), s0 = server_cpu_s(), t0 = now_s(), first_tenth = 0;
	for (int i = 0; i < n; i++) {
		crr_connection();
		if (i + 1 == n / 10)
			first_tenth = now_s() - t0;
	}
	double elapsed = now_s() - t0, cpu = own_cpu_s() - c0, scpu = server_cpu_s() - s0;
	char fields[256];
	snprintf(fields, sizeof fields,
		 "n=%d secs=%.3f conn_per_s=%.0f us_per_conn=%.2f first10pct_conn_per_s=%.0f", n,
		 elapsed, n / elapsed, elapsed * 1e6 / n,
		 first_tenth > 0 ? (n / 10) / first_tenth : 0.0);
	report("crr", fields, cpu, scpu);
}

static void run_idle(int n)
{
	raise_nofile();
	int *fds = malloc(sizeof(int) * (size_t)(n + 10));
	if (!fds)
		die("malloc");
	for (int i = 0; i < 10; i++)
		fds[i] = dial();
	sleep(1); /* let the slab settle (objects freed by RCU) */
	long slab0 = meminfo_kb("Slab");
	double t0 = now_s();
	for (int i = 0; i < n; i++)
		fds[10 + i] = dial();
	double elapsed = now_s() - t0;
	sleep(1); /* the server has accepted everything by now */
	long slab1 = meminfo_kb("Slab");
	printf("RESULT peer=linux %s test=idle conns=%d open_secs=%.3f slab_per_pair_bytes=%.0f\n", tags,
	       n, elapsed, (double)(slab1 - slab0) * 1024.0 / n);
	fflush(stdout);
	for (int i = 0; i < n + 10; i++)
		close(fds[i]);
	free(fds);
}

int main(int argc, char **argv)
{
	if (argc == 4 && !strcmp(argv[1], "serve"))
		return serve(argv[2], atoi(argv[3]));
	if (argc < 4 || argc > 5)
		goto usage;
	server.sin_family = AF_INET;
	server.sin_port = htons((uint16_t)atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &server.sin_addr) != 1)
		goto usage;
	if (getenv("TAGS"))
		tags = getenv("TAGS");
	signal(SIGPIPE, SIG_IGN);
	const char *arg = argc == 5 ? argv[4] : NULL;
	if (!strcmp(argv[1], "bulk")) {
		double secs = arg ? atof(arg) : 5.0;
		if (secs <= 0)
			goto usage;
		run_bulk(secs);
		return 0;
	}
	int n = arg ? atoi(arg) : (!strcmp(argv[1], "rr") ? 100000 : 10000);
	if (n <= 0)
		goto usage;
	if (!strcmp(argv[1], "rr"))
		run_rr(n);
	else if (!strcmp(argv[1], "crr"))
		run_crr(n);
	else if (!strcmp(argv[1], "idle"))
		run_idle(n);
	else
		goto usage;
	return 0;
usage:
	fprintf(stderr, "usage: tcpbench serve bulk|rr|crr|idle PORT\n"
			"       tcpbench bulk|rr|crr|idle IPV4 PORT [SECS|N|CONNS]\n");
	return 2;
}
