// rr_bench: a 1-byte TCP request/response loop, for comparing user-space network paths.
//
//   rr_bench server [ADDR] PORT     answers every byte with one byte, any number of clients
//   rr_bench client HOST PORT N     N round trips on one connection, then prints one line:
//     rr: N round trips in S s, R round trips/s, median M us, p99 P us
//
// Both ends set TCP_NODELAY. The client times every round trip (CLOCK_MONOTONIC) and reports
// the median; the rate is N over the whole loop.
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void nodelay(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

static void* serve_one(void* arg) {
  int fd = (int)(long)arg;
  nodelay(fd);
  char buf[4096];
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    // One answer byte per request byte.
    ssize_t done = 0;
    while (done < n) {
      ssize_t w = write(fd, buf + done, (size_t)(n - done));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) goto out;
      done += w;
    }
  }
out:
  close(fd);
  return NULL;
}

static int server(const char* addr, int port) {
  int l = socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, addr, &a.sin_addr) != 1) {
    fprintf(stderr, "rr_bench: bad address %s\n", addr);
    return 2;
  }
  if (bind(l, (struct sockaddr*)&a, sizeof a) != 0 || listen(l, 64) != 0) {
    perror("rr_bench: bind/listen");
    return 1;
  }
  fprintf(stderr, "rr_bench: serving on %s:%d\n", addr, port);
  for (;;) {
    int fd = accept(l, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR) continue;
      perror("rr_bench: accept");
      return 1;
    }
    pthread_t th;
    if (pthread_create(&th, NULL, serve_one, (void*)(long)fd) != 0) {
      close(fd);
      continue;
    }
    pthread_detach(th);
  }
}

static int cmp_double(const void* a, const void* b) {
  double x = *(const double*)a, y = *(const double*)b;
  return (x > y) - (x < y);
}

static int client(const char* host, int port, long n) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &a.sin_addr) != 1) {
    fprintf(stderr, "rr_bench: bad address %s\n", host);
    return 2;
  }
  if (connect(fd, (struct sockaddr*)&a, sizeof a) != 0) {
    perror("rr_bench: connect");
    return 1;
  }
  nodelay(fd);
  double* rt = malloc((size_t)n * sizeof *rt);
  if (rt == NULL) return 1;
  // A few unmeasured round trips first: connection set-up and first-touch costs.
  for (int i = 0; i < 100; i++) {
    char c = 'w';
    if (write(fd, &c, 1) != 1 || read(fd, &c, 1) != 1) {
      perror("rr_bench: warm-up");
      return 1;
    }
  }
  double start = now_us();
  for (long i = 0; i < n; i++) {
    char c = 'r';
    double t0 = now_us();
    if (write(fd, &c, 1) != 1) {
      perror("rr_bench: write");
      return 1;
    }
    ssize_t r;
    do {
      r = read(fd, &c, 1);
    } while (r < 0 && errno == EINTR);
    if (r != 1) {
      fprintf(stderr, "rr_bench: read: %s\n", r == 0 ? "EOF" : strerror(errno));
      return 1;
    }
    rt[i] = now_us() - t0;
  }
  double total = now_us() - start;
  qsort(rt, (size_t)n, sizeof *rt, cmp_double);
  double median = n % 2 ? rt[n / 2] : (rt[n / 2 - 1] + rt[n / 2]) / 2;
  double p99 = rt[(size_t)((double)(n - 1) * 0.99)];
  printf("rr: %ld round trips in %.3f s, %.0f round trips/s, median %.1f us, p99 %.1f us\n", n,
         total / 1e6, (double)n / (total / 1e6), median, p99);
  free(rt);
  close(fd);
  return 0;
}

int main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  if (argc == 3 && strcmp(argv[1], "server") == 0) return server("0.0.0.0", atoi(argv[2]));
  if (argc == 4 && strcmp(argv[1], "server") == 0) return server(argv[2], atoi(argv[3]));
  if (argc == 5 && strcmp(argv[1], "client") == 0) {
    long n = atol(argv[4]);
    if (n < 1) n = 1;
    return client(argv[2], atoi(argv[3]), n);
  }
  fprintf(stderr,
          "usage: rr_bench server [ADDR] PORT\n"
          "       rr_bench client HOST PORT N\n");
  return 2;
}
