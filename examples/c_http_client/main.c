/* An HTTP/1.0 client on weir's C API, driven by its own poll() loop: opens a tap (optionally
 * inside a network namespace), takes an address, fetches http://SERVER:PORT/PATH through the
 * stack and writes the body to stdout.
 *
 *   c_http_client TAP NETNS|- ADDR/LEN SERVER PORT PATH > body
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <weir/weir.h>

static int die(weir_stack *s, const char *what, long err) {
  fprintf(stderr, "c_http_client: %s: %s %s\n", what, strerror((int)-err),
          s ? weir_stack_last_error(s) : "");
  return 1;
}

int main(int argc, char **argv) {
  weir_stack *s;
  weir_nic nic;
  weir_socket sock;
  weir_sockaddr server;
  char request[512], head[8192], buf[65536];
  size_t head_len = 0, sent = 0, req_len;
  int in_body = 0, r;
  uint64_t deadline, give_up = weir_now_ns() + 30000000000ull;

  if (argc != 7) {
    fprintf(stderr, "usage: %s TAP NETNS|- ADDR/LEN SERVER PORT PATH\n", argv[0]);
    return 2;
  }
  if ((r = weir_stack_new(NULL, &s)) < 0) return die(NULL, "stack", r);
  if ((r = weir_stack_add_tap(s, argv[1], strcmp(argv[2], "-") ? argv[2] : NULL, &nic)) < 0)
    return die(s, "tap", r);
  if ((r = weir_stack_add_address(s, nic, argv[3])) < 0) return die(s, "address", r);
  if ((r = weir_addr_parse(argv[4], &server)) < 0) return die(s, "server address", r);
  server.port = (uint16_t)atoi(argv[5]);
  if ((r = weir_tcp_socket(s, server.family, &sock)) < 0) return die(s, "socket", r);
  if ((r = weir_socket_connect(s, sock, &server)) != -EINPROGRESS) return die(s, "connect", r);
  req_len = (size_t)snprintf(request, sizeof request,
                             "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n", argv[6],
                             argv[4]);

  while (weir_now_ns() < give_up) {
    int fds[8], events, err;
    struct pollfd pfds[8];
    ssize_t n, i, nfds;

    weir_stack_poll(s, 0, &deadline);
    events = weir_socket_events(s, sock);
    if (events & WEIR_EV_ERROR) {
      weir_socket_take_error(s, sock, &err);
      return die(s, "connection", -err);
    }
    while ((events & WEIR_EV_WRITABLE) && sent < req_len &&
           (n = weir_tcp_write(s, sock, request + sent, req_len - sent)) > 0)
      sent += (size_t)n;
    while ((n = weir_tcp_read(s, sock, buf, sizeof buf)) > 0) {
      if (in_body) {
        fwrite(buf, 1, (size_t)n, stdout);
        continue;
      }
      /* The head: up to the blank line; what follows it is the body's start. */
      for (i = 0; i < n; i++) {
        if (head_len == sizeof head) return die(s, "response head too long", -EMSGSIZE);
        head[head_len++] = buf[i];
        if (head_len >= 4 && memcmp(head + head_len - 4, "\r\n\r\n", 4) == 0) {
          if (strncmp(head, "HTTP/1.0 200", 12) && strncmp(head, "HTTP/1.1 200", 12))
            return die(s, "server did not answer 200", -EPROTO);
          in_body = 1;
          fwrite(buf + i + 1, 1, (size_t)(n - i - 1), stdout);
          break;
        }
      }
    }
    if (n == 0) { /* the server closed: the body is complete */
      weir_socket_close(s, sock);
      weir_stack_free(s);
      return in_body ? 0 : die(NULL, "no response head", -EPROTO);
    }
    if (n != -EAGAIN) return die(s, "read", n);

    nfds = weir_stack_wait_fds(s, fds, 8);
    for (i = 0; i < nfds && i < 8; i++) {
      pfds[i].fd = fds[i];
      pfds[i].events = POLLIN;
    }
    poll(pfds, (nfds_t)(nfds < 8 ? nfds : 8), weir_timeout_ms(deadline));
  }
  return die(s, "timed out", -ETIMEDOUT);
}
