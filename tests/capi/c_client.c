/* A C99 user of <weir/weir.h>, compiled with -std=c99 -pedantic -Werror so that the header
 * stays plain C, and run by capi_test.cc: two stacks joined by raw IP packet queues exchange
 * a TCP greeting and a UDP datagram, driven by weir_stack_poll. Returns 0, or the line that
 * failed. */
#include <errno.h>
#include <string.h>

#include <weir/weir.h>

#define CHECK(cond) \
  do {              \
    if (!(cond)) return __LINE__; \
  } while (0)

int weir_capi_c_client(void);

/* Moves every packet each stack sent to the other, then lets both handle them. */
static int pump(weir_stack *a, weir_nic na, weir_stack *b, weir_nic nb) {
  unsigned char packet[2048];
  ssize_t n;
  int moved = 0;
  while ((n = weir_packet_queue_take(a, na, packet, sizeof packet)) > 0) {
    if (weir_packet_queue_inject(b, nb, packet, (size_t)n) == 0) moved++;
  }
  while ((n = weir_packet_queue_take(b, nb, packet, sizeof packet)) > 0) {
    if (weir_packet_queue_inject(a, na, packet, (size_t)n) == 0) moved++;
  }
  weir_stack_poll(a, 0, NULL);
  weir_stack_poll(b, 0, NULL);
  return moved;
}

int weir_capi_c_client(void) {
  weir_stack_options options;
  weir_stack *a = NULL, *b = NULL;
  weir_nic na = 0, nb = 0;
  weir_socket listener, client, server = WEIR_INVALID_SOCKET, ua, ub;
  weir_sockaddr addr, from;
  char text[WEIR_ADDRSTRLEN];
  char buf[64];
  int i;
  ssize_t n;

  weir_stack_options_init(&options);
  options.repeatable = 1;
  options.seed = 1;
  CHECK(weir_stack_new(&options, &a) == 0);
  options.seed = 2;
  CHECK(weir_stack_new(&options, &b) == 0);
  CHECK(weir_stack_add_packet_queue(a, "tun0", WEIR_FRAMING_RAW_IP, 1500, &na) == 0);
  CHECK(weir_stack_add_packet_queue(b, "tun0", WEIR_FRAMING_RAW_IP, 1500, &nb) == 0);
  CHECK(weir_stack_add_address(a, na, "10.97.0.1/24") == 0);
  CHECK(weir_stack_add_address(b, nb, "10.97.0.2/24") == 0);

  CHECK(weir_tcp_socket(b, WEIR_AF_INET, &listener) == 0);
  CHECK(weir_addr_parse("0.0.0.0:7", &addr) == 0);
  CHECK(weir_socket_bind(b, listener, &addr) == 0);
  CHECK(weir_tcp_listen(b, listener, 8) == 0);

  CHECK(weir_tcp_socket(a, WEIR_AF_INET, &client) == 0);
  CHECK(weir_addr_parse("10.97.0.2:7", &addr) == 0);
  CHECK(weir_socket_connect(a, client, &addr) == -EINPROGRESS);
  for (i = 0; i < 100 && !(weir_socket_events(a, client) & WEIR_EV_WRITABLE); i++) pump(a, na, b, nb);
  CHECK(weir_socket_events(a, client) & WEIR_EV_WRITABLE);
  for (i = 0; i < 100 && !(weir_socket_events(b, listener) & WEIR_EV_READABLE); i++) pump(a, na, b, nb);
  CHECK(weir_tcp_accept(b, listener, &server, &from) == 0);
  CHECK(weir_addr_format(&from, 0, text, sizeof text) > 0);
  CHECK(strcmp(text, "10.97.0.1") == 0);

  CHECK(weir_tcp_write(a, client, "hello from C", 12) == 12);
  for (i = 0; i < 100 && !(weir_socket_events(b, server) & WEIR_EV_READABLE); i++) pump(a, na, b, nb);
  n = weir_tcp_read(b, server, buf, sizeof buf);
  CHECK(n == 12 && memcmp(buf, "hello from C", 12) == 0);

  CHECK(weir_udp_socket(a, WEIR_AF_INET, &ua) == 0);
  CHECK(weir_udp_socket(b, WEIR_AF_INET, &ub) == 0);
  CHECK(weir_addr_parse("10.97.0.2:53", &addr) == 0);
  CHECK(weir_socket_bind(b, ub, &addr) == 0);
  CHECK(weir_udp_sendto(a, ua, "ping", 4, &addr) == 4);
  pump(a, na, b, nb);
  n = weir_udp_recvfrom(b, ub, buf, sizeof buf, &from, 0);
  CHECK(n == 4 && memcmp(buf, "ping", 4) == 0);

  CHECK(weir_socket_close(a, client) == 0);
  CHECK(weir_socket_close(a, client) == -EBADF);
  weir_stack_free(a);
  weir_stack_free(b);
  return 0;
}
