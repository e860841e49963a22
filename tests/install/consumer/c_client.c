/* An out-of-tree C consumer of the installed package: two stacks joined by packet queue NICs
 * (this program moves the packets, as a VPN would), one TCP connection, 256 KiB each way
 * checked. Exit 0 when every byte came back as sent. */
#include <weir/weir.h>

#include <errno.h>
#include <stdio.h>
#include <string.h>

static void move_packets(weir_stack *from, weir_nic from_nic, weir_stack *to, weir_nic to_nic) {
  unsigned char packet[2048];
  ssize_t n;
  while ((n = weir_packet_queue_take(from, from_nic, packet, sizeof packet)) > 0) {
    weir_packet_queue_inject(to, to_nic, packet, (size_t)n);
  }
}

int main(void) {
  enum { kSize = 256 * 1024 };
  static unsigned char sent[kSize], echoed[kSize];
  weir_stack *a, *b;
  weir_nic nic_a, nic_b;
  weir_socket listener, client, server = WEIR_INVALID_SOCKET;
  weir_sockaddr service;
  size_t written = 0, echo_read = 0, pending = 0, i;
  static unsigned char held[16384]; /* read by the server, not yet written back */
  int round;

  for (i = 0; i < kSize; ++i) sent[i] = (unsigned char)(i * 7 + i / 4096);
  if (weir_stack_new(NULL, &a) || weir_stack_new(NULL, &b)) return 1;
  if (weir_stack_add_packet_queue(a, "q0", WEIR_FRAMING_RAW_IP, 1500, &nic_a) ||
      weir_stack_add_packet_queue(b, "q0", WEIR_FRAMING_RAW_IP, 1500, &nic_b) ||
      weir_stack_add_address(a, nic_a, "10.1.0.1/24") ||
      weir_stack_add_address(b, nic_b, "10.1.0.2/24")) {
    return 1;
  }
  weir_addr_parse("10.1.0.2:7", &service);
  if (weir_tcp_socket(b, WEIR_AF_INET, &listener) || weir_socket_bind(b, listener, &service) ||
      weir_tcp_listen(b, listener, 8) || weir_tcp_socket(a, WEIR_AF_INET, &client) ||
      weir_socket_connect(a, client, &service) != -EINPROGRESS) {
    return 1;
  }
  for (round = 0; round < 100000 && echo_read < kSize; ++round) {
    ssize_t n;
    if (server == WEIR_INVALID_SOCKET) weir_tcp_accept(b, listener, &server, NULL);
    if (written < kSize && (n = weir_tcp_write(a, client, sent + written, kSize - written)) > 0)
      written += (size_t)n;
    /* The server echoes what it reads; the client collects the echo. */
    if (server != WEIR_INVALID_SOCKET) {
      if (pending == 0 && (n = weir_tcp_read(b, server, held, sizeof held)) > 0) pending = (size_t)n;
      if (pending > 0 && (n = weir_tcp_write(b, server, held, pending)) > 0) {
        memmove(held, held + n, pending - (size_t)n);
        pending -= (size_t)n;
      }
    }
    while ((n = weir_tcp_read(a, client, echoed + echo_read, kSize - echo_read)) > 0)
      echo_read += (size_t)n;
    move_packets(a, nic_a, b, nic_b);
    move_packets(b, nic_b, a, nic_a);
    weir_stack_poll(a, 0, NULL);
    weir_stack_poll(b, 0, NULL);
  }
  printf("%zu of %d bytes echoed\n", echo_read, kSize);
  weir_stack_free(a);
  weir_stack_free(b);
  return echo_read == kSize && memcmp(sent, echoed, kSize) == 0 ? 0 : 1;
}
