// UDP between two stacks over a faulty link (link/fault.h): loss loses datagrams and nothing
// else, reordering and duplication pass through as UDP allows, and a corrupted datagram is
// never delivered.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <memory>
#include <vector>

#include "stack/stack.h"
#include "tests/testing/two_stacks.h"
#include "udp/endpoint.h"
#include "udp/udp.h"

namespace weir {
namespace {

using testing::TwoStacks;
using testing::TwoStacksOptions;

const Ipv4Address kB(10, 0, 0, 2);
constexpr uint16_t kPort = 9000;

// Datagram i: its number, then bytes derived from it, so a receiver can check every byte.
std::vector<std::byte> datagram(uint32_t i, size_t size = 200) {
  std::vector<std::byte> out(size);
  store_be32(out, 0, i);
  for (size_t k = 4; k < size; ++k) out[k] = std::byte(static_cast<uint8_t>(i * 31 + k * 7));
  return out;
}

TwoStacksOptions with_tx_fault(link::FaultOptions fault) {
  TwoStacksOptions options;
  fault.direction = link::FaultDirection::kTx;
  options.fault_a = fault;
  return options;
}

class UdpFaultTest : public ::testing::Test {
 protected:
  void start(TwoStacksOptions options) {
    net_ = std::make_unique<TwoStacks>(std::move(options));
    udp::install(*net_->a().stack);
    udp::install(*net_->b().stack);
    server_ = udp::Endpoint::create(*net_->b().stack, AddressFamily::kIpv4).value();
    ASSERT_TRUE(server_->bind({IpAddress(), kPort}));
    server_->set_receive_buffer(1 << 22);
    client_ = udp::Endpoint::create(*net_->a().stack, AddressFamily::kIpv4).value();
    // Resolve ARP first (the request may itself be lost): a warm-up datagram until one lands.
    for (int attempt = 0; attempt < 20 && server_->queued_datagrams() == 0; ++attempt) {
      ASSERT_TRUE(client_->send_to(as_bytes("warm-up"), SocketAddress{kB, kPort}));
      net_->advance(std::chrono::milliseconds(1500), std::chrono::milliseconds(10));
    }
    ASSERT_GT(server_->queued_datagrams(), 0u);
    while (server_->receive_packet()) {
    }
  }

  // Everything queued at the server, by datagram number; fails on any byte that differs.
  std::map<uint32_t, int> receive_all(std::vector<uint32_t>* order = nullptr) {
    std::map<uint32_t, int> seen;
    while (auto d = server_->receive_packet()) {
      auto bytes = d->payload.to_vector();
      if (bytes.size() < 4) {
        ADD_FAILURE() << "short datagram of " << bytes.size() << " bytes";
        continue;
      }
      const uint32_t i = load_be32(bytes, 0);
      EXPECT_EQ(bytes, datagram(i, bytes.size())) << "datagram " << i << " arrived damaged";
      ++seen[i];
      if (order) order->push_back(i);
    }
    return seen;
  }

  // Declared first: the sockets go before the stacks.
  std::unique_ptr<TwoStacks> net_;
  std::unique_ptr<udp::Endpoint> server_;
  std::unique_ptr<udp::Endpoint> client_;
};

TEST_F(UdpFaultTest, LossLosesDatagramsAndNothingElse) {
  start(with_tx_fault({.seed = 11, .drop = 0.25}));
  const uint64_t dropped_before = net_->a().fault->counters().tx_dropped;
  for (uint32_t i = 0; i < 200; ++i) {
    ASSERT_TRUE(client_->send_to(datagram(i), SocketAddress{kB, kPort}));
  }
  net_->pump();
  auto seen = receive_all();
  const uint64_t dropped = net_->a().fault->counters().tx_dropped - dropped_before;
  EXPECT_GT(dropped, 0u);
  EXPECT_EQ(seen.size() + dropped, 200u);
  for (const auto& [i, count] : seen) EXPECT_EQ(count, 1) << i;
}

TEST_F(UdpFaultTest, ReorderingAndDuplicatesPassThrough) {
  start(with_tx_fault({.seed = 12,
                       .reorder = 0.3,
                       .duplicate = 0.2,
                       .reorder_delay = std::chrono::milliseconds(3)}));
  const uint64_t dup_before = net_->a().fault->counters().tx_duplicated;
  for (uint32_t i = 0; i < 100; ++i) {
    ASSERT_TRUE(client_->send_to(datagram(i), SocketAddress{kB, kPort}));
    net_->advance(std::chrono::milliseconds(1));
  }
  net_->advance(std::chrono::milliseconds(20));
  std::vector<uint32_t> order;
  auto seen = receive_all(&order);
  ASSERT_EQ(seen.size(), 100u);  // nothing lost
  const uint64_t duplicates = net_->a().fault->counters().tx_duplicated - dup_before;
  EXPECT_GT(duplicates, 0u);
  EXPECT_EQ(order.size(), 100u + duplicates);  // UDP delivers duplicates as they come
  EXPECT_FALSE(std::is_sorted(order.begin(), order.end()));
}

TEST_F(UdpFaultTest, CorruptedDatagramsAreNeverDelivered) {
  start(with_tx_fault({.seed = 13, .corrupt = 0.5}));
  const uint64_t corrupted_before = net_->a().fault->counters().tx_corrupted;
  for (uint32_t i = 0; i < 300; ++i) {
    ASSERT_TRUE(client_->send_to(datagram(i, 64 + i % 700), SocketAddress{kB, kPort}));
  }
  net_->pump();
  auto seen = receive_all();  // checks every byte of every datagram delivered
  const uint64_t corrupted = net_->a().fault->counters().tx_corrupted - corrupted_before;
  EXPECT_GT(corrupted, 0u);
  EXPECT_EQ(seen.size() + corrupted, 300u);
  // Bit flips in the UDP part are caught by UDP's checksum.
  EXPECT_GT(udp::find(*net_->b().stack)->counters().drop_bad_checksum, 0u);
}

}  // namespace
}  // namespace weir
