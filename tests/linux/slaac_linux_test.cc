// SLAAC against Linux: a weir stack on a tap device in a network namespace this test creates,
// and on the other side of the tap Linux as the router, with radvd (Debian's) advertising a
// prefix, a DNS server and itself as default router. Weir forms its link-local address, asks
// for routers, autoconfigures a global address from the advertisement, and Linux then pings
// that address. Bounded in time; the namespace and radvd are removed at the end.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "ipv6/autoconf.h"
#include "ipv6/ipv6.h"
#include "link/tap.h"
#include "stack/clock.h"
#include "stack/loop.h"
#include "stack/nic.h"
#include "stack/stack.h"

namespace weir {
namespace {

constexpr const char* kDevice = "wslaac0";
constexpr const char* kPrefix = "fd5b:7a1e:1::";
constexpr const char* kLinuxAddress = "fd5b:7a1e:1::1";
constexpr const char* kDnsServer = "fd5b:7a1e:1::53";
constexpr auto kDeadline = std::chrono::seconds(40);

int run(const std::string& command) { return std::system(command.c_str()); }

std::string capture(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return out;
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = std::fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
  ::pclose(p);
  return out;
}

class SlaacLinuxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (::geteuid() != 0 || ::access("/dev/net/tun", R_OK | W_OK) != 0) {
      GTEST_SKIP() << "needs root and /dev/net/tun";
    }
    if (run("command -v radvd >/dev/null 2>&1") != 0) {
      GTEST_SKIP() << "needs radvd (scripts/setup.sh installs it)";
    }
    netns_ = "weir-slaac-" + std::to_string(::getpid());
    dir_ = "/tmp/" + netns_;
    ASSERT_EQ(run("ip netns add " + netns_), 0);
    created_ = true;
    ASSERT_EQ(run("mkdir -p " + dir_), 0);
    ASSERT_EQ(in_netns("ip link set lo up"), 0);
    // Linux is the router of this link (forwarding on, no RAs accepted, no DAD delay).
    ASSERT_EQ(in_netns("sysctl -qw net.ipv6.conf.all.forwarding=1"), 0);
    ASSERT_EQ(in_netns("sysctl -qw net.ipv6.conf.default.accept_dad=0"), 0);

    std::string message;
    auto tap = link::TapEndpoint::open(
        {.name = kDevice, .bring_up = true, .netns = "/var/run/netns/" + netns_}, &message);
    ASSERT_TRUE(tap) << message;
    ASSERT_EQ(
        in_netns(std::string("ip addr add ") + kLinuxAddress + "/64 dev " + kDevice + " nodad"), 0);

    stack_ = std::make_unique<Stack>(clock_, repeatable_stack_options(11));
    ipv6::install(*stack_);
    auto nic = stack_->add_nic(std::move(*tap), kDevice);
    ASSERT_TRUE(nic);
    nic_ = *nic;
    loop_ = std::make_unique<Loop>(*stack_);
    ASSERT_TRUE(loop_->watch(stack_->nic(nic_)->endpoint()));

    // Linux's own link-local address must be usable before radvd can speak from it.
    ASSERT_TRUE(wait_for_linux_link_local());
    std::ofstream conf(dir_ + "/radvd.conf");
    conf << "interface " << kDevice << " {\n"
         << "  AdvSendAdvert on;\n"
         << "  MinRtrAdvInterval 3;\n"
         << "  MaxRtrAdvInterval 4;\n"
         << "  AdvDefaultLifetime 600;\n"
         << "  AdvLinkMTU 1400;\n"
         << "  prefix " << kPrefix << "/64 {\n"
         << "    AdvOnLink on;\n"
         << "    AdvAutonomous on;\n"
         << "    AdvValidLifetime 3600;\n"
         << "    AdvPreferredLifetime 1800;\n"
         << "  };\n"
         << "  RDNSS " << kDnsServer << " {\n"
         << "    AdvRDNSSLifetime 600;\n"
         << "  };\n"
         << "};\n";
    conf.close();
    ASSERT_EQ(in_netns("radvd -C " + dir_ + "/radvd.conf -p " + dir_ + "/radvd.pid -m logfile -l " +
                       dir_ + "/radvd.log"),
              0)
        << capture("cat " + dir_ + "/radvd.log");
    radvd_started_ = true;
  }

  void TearDown() override {
    if (ping_.joinable()) ping_.join();
    if (radvd_started_) {
      // Only the radvd this test started, by the pid it wrote.
      std::ifstream pidfile(dir_ + "/radvd.pid");
      pid_t pid = 0;
      if (pidfile >> pid && pid > 1) ::kill(pid, SIGTERM);
    }
    loop_.reset();
    stack_.reset();
    if (created_) {
      run("ip netns del " + netns_);
      run("rm -rf " + dir_);
    }
  }

  int in_netns(const std::string& command) {
    return run("ip netns exec " + netns_ + " " + command);
  }

  bool wait_for_linux_link_local() {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
      std::string out =
          capture("ip netns exec " + netns_ + " ip -6 addr show dev " + kDevice + " scope link");
      if (out.find("fe80::") != std::string::npos && out.find("tentative") == std::string::npos) {
        return true;
      }
      loop_->run_once(std::chrono::milliseconds(50));
    }
    return false;
  }

  bool drive_until(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + kDeadline;
    while (!done()) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      loop_->run_once(std::chrono::milliseconds(5));
    }
    return true;
  }

  std::optional<Ipv6Address> global_address() {
    const auto prefix = IpPrefix::parse(std::string(kPrefix) + "/64").value();
    for (const IpPrefix& p : stack_->nic(nic_)->addresses()) {
      if (prefix.contains(p.address)) return p.address.v6();
    }
    return std::nullopt;
  }

  SteadyClock clock_;
  std::unique_ptr<Stack> stack_;
  std::unique_ptr<Loop> loop_;
  NicId nic_ = 0;
  std::thread ping_;
  std::string netns_;
  std::string dir_;
  bool created_ = false;
  bool radvd_started_ = false;
};

TEST_F(SlaacLinuxTest, GlobalAddressFromRadvdThatLinuxPings) {
  std::vector<std::string> logs;
  ipv6::AutoconfOptions options;
  options.log = [&](std::string_view line) { logs.emplace_back(line); };
  ipv6::Autoconf& autoconf = ipv6::enable_autoconf(*stack_, options);

  ASSERT_TRUE(drive_until([&] { return global_address().has_value(); }))
      << "no address from the router advertisement; radvd log:\n"
      << capture("cat " + dir_ + "/radvd.log");
  const Ipv6Address global = *global_address();
  EXPECT_EQ(autoconf.address_state(nic_, global), ipv6::AddressState::kPreferred);
  EXPECT_TRUE(logs.empty());

  // Routes, MTU and DNS from the advertisement.
  auto route = stack_->find_route(IpAddress(Ipv6Address::parse("2001:db8::1").value()));
  ASSERT_TRUE(route) << "no default route from the RA";
  EXPECT_TRUE(route->next_hop.v6().is_link_local());
  EXPECT_EQ(route->local_address, IpAddress(global));
  EXPECT_EQ(route->mtu, 1400u);
  EXPECT_EQ(autoconf.dns_servers(),
            std::vector<Ipv6Address>{Ipv6Address::parse(kDnsServer).value()});

  // Linux reaches the autoconfigured address.
  std::atomic<int> ping_status{-1};
  std::atomic<bool> ping_done{false};
  const std::string command = "ip netns exec " + netns_ + " ping -6 -c 3 -i 0.2 -W 2 " +
                              global.to_string() + " >" + dir_ + "/ping.log 2>&1";
  ping_ = std::thread([&, command] {
    ping_status = run(command);
    ping_done = true;
  });
  ASSERT_TRUE(drive_until([&] { return ping_done.load(); }));
  EXPECT_EQ(ping_status.load(), 0) << capture("cat " + dir_ + "/ping.log");

  // Linux learned weir as a neighbor at that address.
  std::string neighbors = capture("ip netns exec " + netns_ + " ip -6 neigh show dev " + kDevice);
  EXPECT_NE(neighbors.find(global.to_string()), std::string::npos) << neighbors;
}

}  // namespace
}  // namespace weir
