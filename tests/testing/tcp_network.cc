#include "tests/testing/tcp_network.h"

namespace weir::testing {
namespace {

std::unique_ptr<TcpNetwork::Host> make_host(const Clock& clock, uint64_t seed,
                                            std::unique_ptr<link::ChannelEndpoint> channel,
                                            const IpPrefix& address, const IpPrefix& address6,
                                            link::FaultOptions fault,
                                            const tcp::TcpOptions& tcp_options) {
  auto host = std::make_unique<TcpNetwork::Host>();
  host->stack = std::make_unique<Stack>(clock, repeatable_stack_options(seed));
  host->channel = channel.get();
  host->address = address.address;
  ipv4::install(*host->stack);
  ipv6::install(*host->stack);
  host->tcp = &tcp::install(*host->stack, tcp_options);
  fault.direction = link::FaultDirection::kTx;
  auto f = std::make_unique<link::FaultEndpoint>(std::move(channel), host->stack->timers(), fault);
  host->fault = f.get();
  NicId nic = host->stack->add_nic(std::move(f), "eth0").value();
  (void)host->stack->add_address(nic, address);
  std::array<uint8_t, 16> ll{0xfe, 0x80};
  ll[15] = address6.address.v6().octets()[15];
  (void)host->stack->add_address(nic, IpPrefix{IpAddress(Ipv6Address(ll)), 64});
  (void)host->stack->add_address(nic, address6);
  host->address6 = address6.address;
  return host;
}

}  // namespace

TcpNetwork::TcpNetwork(TcpNetworkOptions options) {
  link::ChannelOptions co;
  co.mtu = options.mtu;
  co.queue_limit = options.queue_limit;
  co.offloads = options.offloads;
  auto pair = link::ChannelEndpoint::make_pair(co);
  a_ = make_host(clock_, 11, std::move(pair.a), IpPrefix{Ipv4Address(10, 0, 0, 1), 24},
                 IpPrefix{IpAddress(Ipv6Address::parse("fd00::1").value()), 64}, options.fault_a,
                 options.tcp);
  b_ = make_host(clock_, 22, std::move(pair.b), IpPrefix{Ipv4Address(10, 0, 0, 2), 24},
                 IpPrefix{IpAddress(Ipv6Address::parse("fd00::2").value()), 64}, options.fault_b,
                 options.tcp);
  pump();
}

TcpNetwork::~TcpNetwork() = default;

size_t TcpNetwork::pump() {
  size_t total = 0;
  for (;;) {
    size_t frames = link::ChannelEndpoint::pump(*a_->channel, *b_->channel);
    size_t timers = a_->stack->run_timers() + b_->stack->run_timers();
    if (frames == 0 && timers == 0) break;
    total += frames;
  }
  return total;
}

size_t TcpNetwork::step(size_t max_frames) {
  size_t frames = link::ChannelEndpoint::pump(*a_->channel, *b_->channel, max_frames);
  return frames + a_->stack->run_timers() + b_->stack->run_timers();
}

void TcpNetwork::advance(Duration by) {
  Duration done{0};
  while (done < by) {
    Duration d = std::min<Duration>(std::chrono::milliseconds(1), by - done);
    clock_.advance(d);
    done += d;
    pump();
  }
}

bool TcpNetwork::run_until(const std::function<bool()>& done, Duration limit) {
  pump();
  Duration elapsed{0};
  while (!done() && elapsed < limit) {
    advance(std::chrono::milliseconds(1));
    elapsed += std::chrono::milliseconds(1);
  }
  return done();
}

}  // namespace weir::testing
