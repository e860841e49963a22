// cpp_echo: a threaded TCP and UDP echo server on weir's blocking facade, over a Linux tap.
//
//   cpp_echo NETNS_FILE TAP ADDRESS/PREFIX PORT      e.g. /var/run/netns/x wecho0 10.97.0.2/24 7
//
// One Loop thread drives the stack; every other thread talks to it through the blocking
// sockets (each call is posted to the loop). TCP gets a thread per connection, UDP one
// thread. SIGINT or SIGTERM stops it in order: wake the blocked threads, join them, close the
// sockets, then stop the loop.
#include <pthread.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
#include <weir/weir.hpp>

using namespace weir;

int main(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr, "usage: %s NETNS_FILE TAP ADDRESS/PREFIX PORT\n", argv[0]);
    return 2;
  }
  auto prefix = IpPrefix::parse(argv[3]);
  if (!prefix) return std::fprintf(stderr, "cpp_echo: bad address %s\n", argv[3]), 2;
  const SocketAddress local{prefix->address, static_cast<uint16_t>(std::stoi(argv[4]))};

  // Signals are taken by sigwait() below, so every thread starts with them blocked.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  SteadyClock clock;
  Stack stack(clock);
  install_protocols(stack);
  std::string message;
  link::TapOptions tap_options;
  tap_options.name = argv[2];
  tap_options.netns = argv[1];  // the tap lives in that namespace; this process stays here
  auto tap = link::TapEndpoint::open(tap_options, &message);
  if (!tap) return std::fprintf(stderr, "cpp_echo: %s\n", message.c_str()), 1;
  const NicId nic = stack.add_nic(std::move(*tap), "eth0").value();
  if (!stack.add_address(nic, *prefix)) return std::fprintf(stderr, "cpp_echo: bad address\n"), 1;

  Loop loop(stack);
  if (!loop.watch(stack.nic(nic)->endpoint())) return 1;
  std::thread loop_thread([&] { loop.run(); });

  auto listener = tcp::BlockingSocket::create(loop, stack, local.address.family()).value();
  auto udp = udp::BlockingSocket::create(loop, stack, local.address.family()).value();
  if (!listener->bind(local) || !listener->listen(64) || !udp->bind(local)) {
    std::fprintf(stderr, "cpp_echo: cannot bind %s\n", local.to_string().c_str());
    return 1;
  }
  std::atomic<uint64_t> connections{0}, datagrams{0}, echoed_bytes{0};

  std::mutex workers_mutex;
  std::vector<std::thread> workers;  // one per TCP connection
  std::thread acceptor([&] {
    while (auto conn = listener->accept()) {
      ++connections;
      std::lock_guard lock(workers_mutex);
      workers.emplace_back([&, c = std::move(*conn)] {
        std::vector<std::byte> buf(64 * 1024);
        while (auto n = c->read(buf)) {
          if (*n == 0) break;  // the client finished sending: finish ours too
          if (!c->write(std::span(buf).first(*n))) return;
          echoed_bytes += *n;
        }
        (void)c->shutdown(tcp::ShutdownHow::kWrite);
      });
    }
  });
  std::thread udp_echo([&] {
    std::vector<std::byte> buf(65536);
    while (auto d = udp->receive_from(buf)) {  // until close(): kBadFileDescriptor
      (void)udp->send_to(std::span(buf).first(d->size), d->from);
      ++datagrams;
    }
  });

  std::printf("cpp_echo: echoing TCP and UDP on %s\n", local.to_string().c_str());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop_signals, &signal);

  // close() wakes the threads blocked on a socket: the acceptor's accept() and the UDP
  // receiver return an error and end.
  udp->close();
  listener->close();
  acceptor.join();
  udp_echo.join();
  for (auto& w : workers) w.join();  // connections end when their clients close
  listener.reset();
  udp.reset();
  loop.stop();
  loop_thread.join();
  std::printf("cpp_echo: %llu connections, %llu bytes echoed, %llu datagrams\n",
              static_cast<unsigned long long>(connections.load()),
              static_cast<unsigned long long>(echoed_bytes.load()),
              static_cast<unsigned long long>(datagrams.load()));
  return 0;
}
