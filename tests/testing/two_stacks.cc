#include "tests/testing/two_stacks.h"

#include <algorithm>
#include <utility>

namespace weir::testing {

namespace {

// Passes everything through to the endpoint below and keeps a copy of each packet written,
// so tests can check what the stack sent without a sniffer in the way.
class RecordingLink final : public LinkEndpoint {
 public:
  RecordingLink(std::unique_ptr<LinkEndpoint> inner, std::vector<SentPacket>& sent)
      : inner_(std::move(inner)), sent_(sent) {}

  uint32_t mtu() const override { return inner_->mtu(); }
  LinkCapabilities capabilities() const override { return inner_->capabilities(); }
  uint16_t max_header_length() const override { return inner_->max_header_length(); }
  MacAddress link_address() const override { return inner_->link_address(); }
  void attach(NetworkDispatcher* dispatcher) override { inner_->attach(dispatcher); }
  bool attached() const override { return inner_->attached(); }
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override {
    for (const PacketBuffer& p : packets) {
      sent_.push_back({p.meta().network_protocol, p.meta().link_destination, p.to_vector()});
    }
    return inner_->write_packets(packets);
  }
  int readable_fd() const override { return inner_->readable_fd(); }
  size_t process_receive(size_t budget) override { return inner_->process_receive(budget); }

 private:
  std::unique_ptr<LinkEndpoint> inner_;
  std::vector<SentPacket>& sent_;
};

std::unique_ptr<TwoStacks::Host> make_host(const Clock& clock, uint64_t seed,
                                           std::unique_ptr<link::ChannelEndpoint> endpoint,
                                           const IpPrefix& address,
                                           const ipv4::Ipv4Options& options,
                                           const std::optional<link::FaultOptions>& fault,
                                           const TwoStacksOptions& all, const IpPrefix& address6,
                                           uint8_t link_local_id) {
  auto host = std::make_unique<TwoStacks::Host>();
  host->stack = std::make_unique<Stack>(clock, repeatable_stack_options(seed));
  host->link = endpoint.get();
  host->mac = endpoint->link_address();
  host->address = address.address;
  host->ipv4 = &ipv4::install(*host->stack, options);
  std::unique_ptr<LinkEndpoint> below = std::move(endpoint);
  if (fault) {
    auto faulty =
        std::make_unique<link::FaultEndpoint>(std::move(below), host->stack->timers(), *fault);
    host->fault = faulty.get();
    below = std::move(faulty);
  }
  host->nic =
      host->stack->add_nic(std::make_unique<RecordingLink>(std::move(below), host->sent), "eth0")
          .value();
  (void)host->stack->add_address(host->nic, address);
  if (all.ipv6) {
    host->ipv6 = &ipv6::install(*host->stack, all.ipv6_options);
    std::array<uint8_t, 16> ll{0xfe, 0x80};
    ll[15] = link_local_id;
    (void)host->stack->add_address(host->nic, IpPrefix{IpAddress(Ipv6Address(ll)), 64});
    (void)host->stack->add_address(host->nic, address6);
    host->address6 = address6.address;
  }
  return host;
}

}  // namespace

std::vector<std::vector<std::byte>> TwoStacks::Host::sent_of(uint16_t ethertype) const {
  std::vector<std::vector<std::byte>> out;
  for (const auto& p : sent) {
    if (p.ethertype == ethertype) out.push_back(p.bytes);
  }
  return out;
}

TwoStacks::TwoStacks(TwoStacksOptions options) {
  auto pair = link::ChannelEndpoint::make_pair(options.channel);
  a_ = make_host(clock_, options.seed_a, std::move(pair.a), options.address_a, options.ipv4,
                 options.fault_a, options, options.address6_a, 1);
  b_ = make_host(clock_, options.seed_b, std::move(pair.b), options.address_b, options.ipv4,
                 options.fault_b, options, options.address6_b, 2);
  // Let the address announcements (gratuitous ARP) go by, so tests start from a quiet wire
  // and empty neighbor caches.
  pump();
  clear_sent();
}

TwoStacks::~TwoStacks() = default;

size_t TwoStacks::pump() {
  size_t total = 0;
  for (;;) {
    const size_t frames = link::ChannelEndpoint::pump(*a_->link, *b_->link);
    const size_t timers = a_->stack->run_timers() + b_->stack->run_timers();
    if (frames == 0 && timers == 0) break;
    total += frames;
  }
  return total;
}

void TwoStacks::advance(Duration by, Duration step) {
  Duration done{0};
  while (done < by) {
    Duration d = std::min(step, by - done);
    clock_.advance(d);
    done += d;
    pump();
  }
}

bool TwoStacks::run_until(const std::function<bool()>& done, Duration limit, Duration step) {
  pump();
  Duration elapsed{0};
  while (!done() && elapsed < limit) {
    advance(step, step);
    elapsed += step;
  }
  return done();
}

void TwoStacks::clear_sent() {
  a_->sent.clear();
  b_->sent.clear();
}

}  // namespace weir::testing
