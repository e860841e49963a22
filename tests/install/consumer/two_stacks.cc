// An out-of-tree C++ consumer of the installed package: two stacks in one process, joined by
// an in-memory link, one TCP connection between them, driven by Stack::poll from this loop.
// Exit 0 when 1 MiB crossed intact.
#include <weir/weir.hpp>

#include <cstdio>
#include <vector>

int main() {
  weir::SteadyClock clock;
  weir::Stack client(clock), server(clock);
  weir::install_protocols(client);
  weir::install_protocols(server);

  auto [end_a, end_b] = weir::link::ChannelEndpoint::make_pair();
  auto& link_a = *end_a;
  auto& link_b = *end_b;
  const weir::NicId nic_a = client.add_nic(std::move(end_a), "a0").value();
  const weir::NicId nic_b = server.add_nic(std::move(end_b), "b0").value();
  const auto prefix_a = weir::IpPrefix::parse("10.0.0.1/24").value();
  const auto prefix_b = weir::IpPrefix::parse("10.0.0.2/24").value();
  if (!client.add_address(nic_a, prefix_a) || !server.add_address(nic_b, prefix_b)) return 1;

  auto listener = weir::tcp::Endpoint::create(server, weir::AddressFamily::kIpv4);
  const weir::SocketAddress service{prefix_b.address, 7000};
  if (!listener->bind(service) || !listener->listen(16)) return 1;
  auto socket = weir::tcp::Endpoint::create(client, weir::AddressFamily::kIpv4);
  (void)socket->connect(service);  // kInProgress: the handshake runs in the polls below

  std::vector<std::byte> data(1 << 20);
  for (size_t i = 0; i < data.size(); ++i) data[i] = std::byte(i * 7 + i / 4096);
  size_t sent = 0, received = 0;
  std::unique_ptr<weir::tcp::Endpoint> accepted;
  std::vector<std::byte> buffer(65536);
  for (int round = 0; round < 1'000'000 && received < data.size(); ++round) {
    if (!accepted) {
      if (auto a = listener->accept()) accepted = std::move(*a);
    }
    if (sent < data.size()) {
      if (auto n = socket->write(weir::ByteView(data).subspan(sent))) sent += *n;
    }
    if (accepted) {
      while (auto n = accepted->read(buffer)) {
        if (*n == 0) break;
        for (size_t i = 0; i < *n; ++i) {
          if (buffer[i] != data[received + i]) {
            std::fprintf(stderr, "byte %zu differs\n", received + i);
            return 1;
          }
        }
        received += *n;
      }
    }
    weir::link::ChannelEndpoint::pump(link_a, link_b);
    client.poll();
    server.poll();
  }
  std::printf("%zu of %zu bytes arrived intact\n", received, data.size());
  return received == data.size() ? 0 : 1;
}
