#include "link/dpdk.h"

#include <fcntl.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_log.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <set>
#include <utility>
#include <vector>

#include "link/ethernet.h"
#include "stack/rng.h"
#include "stack/unique_fd.h"

namespace weir::link {

namespace {

// ---- The EAL: once per process -----------------------------------------------------------
//
// DPDK keeps its environment in process-wide state that cannot be torn down and set up again,
// so this is the one piece of process-wide state in link/: what the EAL was started with, the
// ports endpoints hold, and pools that outlived their endpoint. Guarded by a mutex because
// endpoints on different loops (threads) may be opened and closed concurrently.
struct EalState {
  std::mutex mutex;
  bool attempted = false;
  bool running = false;
  std::string args_text;  // the arguments as given (normalised: tokens joined by one space)
  // rte_eal_init may keep pointers into argv (getopt permutes it in place), so the strings it
  // saw live as long as the process.
  std::vector<std::string> args;
  std::vector<char*> argv;
  std::string failure;  // the one-line reason, when initialisation failed
  std::set<uint16_t> open_ports;
  std::vector<rte_mempool*> retired_pools;  // endpoint gone, mbufs still held somewhere
  uint64_t next_id = 0;                     // for unique pool and ring names
};

EalState& eal_state() {
  static EalState state;
  return state;
}

std::string join(const std::vector<std::string>& tokens) {
  std::string out;
  for (const auto& t : tokens) out += (out.empty() ? "" : " ") + t;
  return out;
}

// Reads what is left of a captured stream.
std::string read_all(int fd) {
  std::string out;
  if (::lseek(fd, 0, SEEK_SET) < 0) return out;
  std::array<char, 4096> buf;
  for (;;) {
    const ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    out.append(buf.data(), static_cast<size_t>(n));
  }
  return out;
}

void write_all(int fd, const std::string& text) {
  size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;
    done += static_cast<size_t>(n);
  }
}

// Sends what the process writes to stdout and stderr into memory for a while. The EAL (and
// the drivers it probes) print to both: usage text, getopt's complaints, driver chatter. On
// failure that becomes one line; on success it is passed on unchanged. If the capture cannot
// be set up the output just goes where it always went.
class OutputCapture {
 public:
  OutputCapture() {
    std::fflush(stdout);
    std::fflush(stderr);
    for (int i = 0; i < 2; ++i) {
      const int target = i == 0 ? STDOUT_FILENO : STDERR_FILENO;
      UniqueFd sink(::memfd_create(i == 0 ? "weir-dpdk-stdout" : "weir-dpdk-stderr", MFD_CLOEXEC));
      UniqueFd saved(::fcntl(target, F_DUPFD_CLOEXEC, 3));
      if (!sink || !saved || ::dup2(sink.get(), target) < 0) continue;
      streams_[i] = Stream{target, std::move(sink), std::move(saved)};
    }
  }
  ~OutputCapture() { (void)finish(); }
  OutputCapture(const OutputCapture&) = delete;
  OutputCapture& operator=(const OutputCapture&) = delete;

  // Restores the streams; returns {stdout text, stderr text}.
  std::pair<std::string, std::string> finish() {
    std::fflush(stdout);
    std::fflush(stderr);
    std::pair<std::string, std::string> out;
    for (int i = 0; i < 2; ++i) {
      Stream& s = streams_[i];
      if (!s.saved) continue;
      ::dup2(s.saved.get(), s.target);
      (i == 0 ? out.first : out.second) = read_all(s.sink.get());
      s = Stream{};
    }
    return out;
  }

 private:
  struct Stream {
    int target = -1;
    UniqueFd sink;
    UniqueFd saved;
  };
  std::array<Stream, 2> streams_;
};

// What the EAL said went wrong, as one line: its stderr lines without the informational ones,
// without duplicates, joined by "; ".
std::string summarise(const std::string& text) {
  std::vector<std::string> kept;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    // The EAL says most things twice, once as "FATAL".
    if (auto fatal = line.find("FATAL: "); fatal != std::string::npos) line.erase(fatal, 7);
    while (!line.empty() && std::isspace(static_cast<unsigned char>(line.back()))) line.pop_back();
    if (line.empty() || line.find("Detected") != std::string::npos ||
        line.find("TELEMETRY") != std::string::npos) {
      continue;
    }
    if (std::find(kept.begin(), kept.end(), line) == kept.end()) kept.push_back(line);
  }
  std::string out;
  for (const auto& line : kept) out += (out.empty() ? "" : "; ") + line;
  if (out.size() > 400) out = out.substr(0, 400) + "...";
  return out;
}

Error fail(std::string* message, Error e, std::string text) {
  if (message) *message = std::move(text);
  return e;
}

// Starts the EAL with `tokens`, or checks that it already runs with them. Call with the state
// locked.
Status ensure_eal(EalState& eal, const std::vector<std::string>& tokens, std::string* message) {
  const std::string text = join(tokens);
  if (eal.attempted) {
    if (!eal.running) {
      return fail(message, Error::kIo,
                  "dpdk: the EAL failed to start earlier in this process (" + eal.failure +
                      ") and DPDK allows one attempt per process; fix the EAL arguments and "
                      "start again");
    }
    if (text != eal.args_text) {
      return fail(message, Error::kInvalidArgument,
                  "dpdk: the EAL already runs with '" + eal.args_text +
                      "' and cannot be restarted with '" + text +
                      "' (one EAL per process): open every port with the same EAL arguments, "
                      "listing every --vdev in them");
    }
    return ok_status();
  }
  eal.attempted = true;
  eal.args_text = text;
  eal.args.clear();
  eal.args.push_back("weir");
  eal.args.insert(eal.args.end(), tokens.begin(), tokens.end());
  eal.argv.clear();
  for (auto& a : eal.args) eal.argv.push_back(a.data());
  eal.argv.push_back(nullptr);

  OutputCapture capture;
  const int rc = rte_eal_init(static_cast<int>(eal.args.size()), eal.argv.data());
  const int err = rte_errno;
  auto [out, errors] = capture.finish();
  if (rc < 0) {
    std::string said = summarise(errors);
    eal.failure = std::string(rte_strerror(err)) + (said.empty() ? "" : ": " + said);
    return fail(message, err == ENODEV ? Error::kNoDevice : Error::kInvalidArgument,
                "dpdk: the EAL did not start with '" + text + "': " + eal.failure +
                    " (check the EAL arguments against DPDK's EAL parameters guide; without "
                    "hugepages: " +
                    std::string(kDefaultEalArgs) + " --vdev=...)");
  }
  write_all(STDOUT_FILENO, out);
  write_all(STDERR_FILENO, errors);
  eal.running = true;
  return ok_status();
}

// Frees the retired pools whose mbufs have all come back. Call with the state locked.
void reap_pools(EalState& eal) {
  auto& pools = eal.retired_pools;
  pools.erase(std::remove_if(pools.begin(), pools.end(),
                             [](rte_mempool* pool) {
                               if (rte_mempool_full(pool) == 0) return false;
                               rte_mempool_free(pool);
                               return true;
                             }),
              pools.end());
}

std::string port_name(uint16_t port) {
  std::array<char, RTE_ETH_NAME_MAX_LEN> name{};
  if (rte_eth_dev_get_name_by_port(port, name.data()) != 0) return "port " + std::to_string(port);
  return name.data();
}

// "0 net_tap0, 1 net_ring0", for messages.
std::string list_ports() {
  std::string out;
  uint16_t port;
  RTE_ETH_FOREACH_DEV(port) {
    out += (out.empty() ? "" : ", ") + std::to_string(port) + " " + port_name(port);
  }
  return out;
}

// The port to open, or an error naming what exists. Call with the state locked.
Result<uint16_t> find_port(const EalState& eal, const std::string& wanted, std::string* message) {
  if (rte_eth_dev_count_avail() == 0) {
    return fail(message, Error::kNoDevice,
                "dpdk: the EAL found no ports; add a device to the EAL arguments, e.g. "
                "--vdev=net_tap0,iface=dtap0");
  }
  uint16_t port = 0;
  if (wanted.empty()) {
    RTE_ETH_FOREACH_DEV(port) {
      if (eal.open_ports.count(port) == 0) return port;
    }
    return fail(message, Error::kAddressInUse,
                "dpdk: every port is already open (" + list_ports() +
                    "); add another --vdev to the EAL arguments");
  }
  if (rte_eth_dev_get_port_by_name(wanted.c_str(), &port) != 0) {
    const bool numeric = std::all_of(wanted.begin(), wanted.end(), [](char c) {
      return std::isdigit(static_cast<unsigned char>(c));
    });
    if (!numeric || wanted.size() > 5 ||
        !rte_eth_dev_is_valid_port(static_cast<uint16_t>(std::stoul(wanted)))) {
      return fail(message, Error::kNoDevice,
                  "dpdk: no port named '" + wanted + "' (ports: " + list_ports() +
                      "); name a device from the EAL arguments or a port number");
    }
    port = static_cast<uint16_t>(std::stoul(wanted));
  }
  if (eal.open_ports.count(port) != 0) {
    return fail(message, Error::kAddressInUse,
                "dpdk: port " + std::to_string(port) + " (" + port_name(port) +
                    ") is already open in this process");
  }
  return port;
}

MacAddress random_local_mac() {
  Rng rng = Rng::from_entropy();
  std::array<uint8_t, 6> octets{};
  rng.fill(std::as_writable_bytes(std::span(octets)));
  octets[0] = static_cast<uint8_t>((octets[0] & 0xfe) | 0x02);  // unicast, locally administered
  return MacAddress(octets);
}

std::string dpdk_error(int rc) { return rte_strerror(rc < 0 ? -rc : rc); }

// Room for a whole frame of the MTU (with one VLAN tag) behind the mbuf's headroom.
constexpr uint32_t kFrameOverhead = kEthernetHeaderLength + kVlanTagLength;
constexpr uint32_t kMaxMtu = UINT16_MAX - RTE_PKTMBUF_HEADROOM - kFrameOverhead;

uint16_t data_room_for(uint32_t mtu) {
  const uint32_t needed = RTE_PKTMBUF_HEADROOM + mtu + kFrameOverhead;
  return static_cast<uint16_t>(std::max<uint32_t>(RTE_MBUF_DEFAULT_BUF_SIZE, needed));
}

// The receive-interrupt fd when the driver's is its data fd (see dpdk.h), else -1. ethdev
// logs an error for drivers without interrupts; asking is not an error here, so its log level
// is lowered around the question.
int receive_fd(uint16_t port, const std::string& driver) {
  if (driver != "net_tap") return -1;
  const int type = rte_log_register("lib.ethdev");
  const int level = type >= 0 ? rte_log_get_level(static_cast<uint32_t>(type)) : -1;
  if (level >= 0) rte_log_set_level(static_cast<uint32_t>(type), RTE_LOG_EMERG);
  int fd = rte_eth_dev_rx_intr_ctl_q_get_fd(port, 0);
  if (fd >= 0) {
    const int rc = rte_eth_dev_rx_intr_enable(port, 0);  // net_tap: nothing to arm (ENOTSUP)
    if (rc != 0 && rc != -ENOTSUP) fd = -1;
  }
  if (level >= 0) rte_log_set_level(static_cast<uint32_t>(type), static_cast<uint32_t>(level));
  return fd;
}

// Configures and starts `port`. Call with the state locked; on success the caller records the
// port as open.
Result<DpdkEndpoint::PortSetup> start_port(EalState& eal, uint16_t port, const DpdkOptions& options,
                                           std::string* message) {
  DpdkEndpoint::PortSetup setup;
  setup.port = port;
  setup.name = port_name(port);
  const std::string who = "dpdk: port " + std::to_string(port) + " (" + setup.name + ")";
  rte_eth_dev_info info{};
  if (int rc = rte_eth_dev_info_get(port, &info); rc != 0) {
    return fail(message, Error::kIo, who + ": cannot read its device info: " + dpdk_error(rc));
  }
  setup.driver = info.driver_name != nullptr ? info.driver_name : "";

  uint16_t current_mtu = RTE_ETHER_MTU;
  (void)rte_eth_dev_get_mtu(port, &current_mtu);
  const uint32_t mtu = options.mtu.value_or(current_mtu);
  if (mtu < info.min_mtu || mtu > info.max_mtu || mtu > kMaxMtu) {
    return fail(message, Error::kInvalidArgument,
                who + ": MTU " + std::to_string(mtu) + " is outside what it takes (" +
                    std::to_string(info.min_mtu) + ".." +
                    std::to_string(std::min<uint32_t>(info.max_mtu, kMaxMtu)) + ")");
  }

  uint16_t rx_descriptors = options.rx_descriptors;
  uint16_t tx_descriptors = options.tx_descriptors;
  if (int rc = rte_eth_dev_adjust_nb_rx_tx_desc(port, &rx_descriptors, &tx_descriptors); rc != 0) {
    return fail(message, Error::kInvalidArgument,
                who + ": cannot size its rings: " + dpdk_error(rc));
  }
  // The pool must at least fill both rings and leave a burst each way, or the port stalls.
  const uint64_t minimum = uint64_t{rx_descriptors} + tx_descriptors + 4 * DpdkEndpoint::kBurst;
  if (options.mbufs < minimum) {
    return fail(message, Error::kInvalidArgument,
                who + ": " + std::to_string(options.mbufs) + " mbufs cannot fill " +
                    std::to_string(rx_descriptors) + " receive and " +
                    std::to_string(tx_descriptors) + " transmit descriptors; give at least " +
                    std::to_string(minimum));
  }

  rte_eth_conf conf{};
  conf.rxmode.mtu = mtu;
  constexpr uint64_t kL4Checksums = RTE_ETH_RX_OFFLOAD_TCP_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM;
  if (options.rx_checksum_offload && (info.rx_offload_capa & kL4Checksums) == kL4Checksums) {
    conf.rxmode.offloads |= kL4Checksums;
    setup.rx_checksum = true;
  }
  const bool want_interrupts = options.rx_interrupts && setup.driver == "net_tap";
  conf.intr_conf.rxq = want_interrupts ? 1 : 0;
  if (int rc = rte_eth_dev_configure(port, 1, 1, &conf); rc != 0) {
    return fail(message, Error::kIo,
                who +
                    ": cannot configure one receive and one transmit "
                    "queue: " +
                    dpdk_error(rc));
  }

  const std::string pool_name = "weir_mbufs_" + std::to_string(eal.next_id++);
  // Per-lcore cache: frees and allocations on the loop's lcore mostly stay off the pool's ring.
  const unsigned cache = std::min<unsigned>(256, options.mbufs / 2);
  rte_mempool* pool = rte_pktmbuf_pool_create(pool_name.c_str(), options.mbufs, cache, 0,
                                              data_room_for(mtu), rte_eth_dev_socket_id(port));
  if (pool == nullptr) {
    return fail(message, Error::kOutOfMemory,
                who + ": cannot make a pool of " + std::to_string(options.mbufs) + " mbufs: " +
                    rte_strerror(rte_errno) + " (more memory: -m in the EAL arguments)");
  }
  // From here a failure must hand the pool back.
  auto give_back = [&](Error e, std::string text) -> Error {
    rte_mempool_free(pool);
    return fail(message, e, std::move(text));
  };
  const int socket = rte_eth_dev_socket_id(port);
  if (int rc = rte_eth_rx_queue_setup(port, 0, rx_descriptors, static_cast<unsigned>(socket),
                                      nullptr, pool);
      rc != 0) {
    return give_back(Error::kIo, who + ": cannot set up its receive queue: " + dpdk_error(rc));
  }
  if (int rc =
          rte_eth_tx_queue_setup(port, 0, tx_descriptors, static_cast<unsigned>(socket), nullptr);
      rc != 0) {
    return give_back(Error::kIo, who + ": cannot set up its transmit queue: " + dpdk_error(rc));
  }
  if (int rc = rte_eth_dev_start(port); rc != 0) {
    return give_back(Error::kIo, who + ": cannot start: " + dpdk_error(rc));
  }
  setup.pool = pool;
  uint16_t mtu_now = static_cast<uint16_t>(mtu);
  (void)rte_eth_dev_get_mtu(port, &mtu_now);
  setup.mtu = mtu_now;

  rte_ether_addr own{};
  const bool has_mac =
      rte_eth_macaddr_get(port, &own) == 0 && rte_is_valid_assigned_ether_addr(&own);
  std::array<uint8_t, 6> own_octets{};
  std::copy(std::begin(own.addr_bytes), std::end(own.addr_bytes), own_octets.begin());
  const MacAddress port_mac(own_octets);
  setup.mac = options.mac ? *options.mac : has_mac ? port_mac : random_local_mac();
  // Frames for weir's MAC must get past the port's filter when it is not the port's own; and
  // IPv6 needs multicast (neighbour discovery, MLD). Drivers without filters (net_ring) say
  // ENOTSUP, which is as good.
  if (!has_mac || setup.mac != port_mac) {
    if (int rc = rte_eth_promiscuous_enable(port); rc != 0 && rc != -ENOTSUP) {
      rte_eth_dev_stop(port);
      return give_back(Error::kIo, who + ": cannot enter promiscuous mode for MAC " +
                                       setup.mac.to_string() + ": " + dpdk_error(rc));
    }
  }
  (void)rte_eth_allmulticast_enable(port);
  setup.rx_fd = want_interrupts ? receive_fd(port, setup.driver) : -1;
  return setup;
}

// An mbuf's buffer handed to the stack: freed when the last PacketBuffer over it goes.
void release_mbuf(void* context) noexcept { rte_pktmbuf_free(static_cast<rte_mbuf*>(context)); }

// The bytes of one mbuf segment.
ByteView segment_bytes(const rte_mbuf* m) {
  return ByteView(static_cast<const std::byte*>(m->buf_addr), m->buf_len)
      .subspan(m->data_off, m->data_len);
}

}  // namespace

std::vector<std::string> split_eal_args(std::string_view args) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < args.size()) {
    while (i < args.size() && std::isspace(static_cast<unsigned char>(args[i]))) ++i;
    size_t j = i;
    while (j < args.size() && !std::isspace(static_cast<unsigned char>(args[j]))) ++j;
    if (j > i) out.emplace_back(args.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string DpdkEndpoint::eal_arguments() {
  EalState& eal = eal_state();
  std::lock_guard lock(eal.mutex);
  return eal.running ? eal.args_text : std::string();
}

Result<std::unique_ptr<DpdkEndpoint>> DpdkEndpoint::open(const DpdkOptions& options,
                                                         std::string* message) {
  const auto tokens = split_eal_args(options.eal_args.empty() ? kDefaultEalArgs
                                                              : std::string_view(options.eal_args));
  EalState& eal = eal_state();
  std::lock_guard lock(eal.mutex);
  WEIR_TRY(ensure_eal(eal, tokens, message));
  reap_pools(eal);
  auto port = find_port(eal, options.port, message);
  if (!port) return port.error();
  auto setup = start_port(eal, *port, options, message);
  if (!setup) return setup.error();
  eal.open_ports.insert(*port);
  return std::make_unique<DpdkEndpoint>(Key(), std::move(setup).value());
}

DpdkEndpoint::DpdkEndpoint(Key, PortSetup setup) : setup_(std::move(setup)) {}

DpdkEndpoint::~DpdkEndpoint() {
  EalState& eal = eal_state();
  std::lock_guard lock(eal.mutex);
  // What the port still holds for us goes back to its pool before the port stops.
  std::array<rte_mbuf*, kBurst> burst;
  for (;;) {
    const uint16_t n = rte_eth_rx_burst(setup_.port, 0, burst.data(), kBurst);
    if (n == 0) break;
    for (uint16_t i = 0; i < n; ++i) rte_pktmbuf_free(burst[i]);
  }
  // Stopped, not closed: closing a virtual device removes it for the rest of the process, and a
  // later open() may want the port again. The EAL releases it at exit (a net_tap interface
  // goes when its fd closes). Stopping returns the mbufs the driver held for reception.
  rte_eth_dev_stop(setup_.port);
  eal.open_ports.erase(setup_.port);
  if (rte_mempool_full(setup_.pool) != 0) {
    rte_mempool_free(setup_.pool);
  } else {
    eal.retired_pools.push_back(setup_.pool);  // the stack still holds some of its mbufs
  }
  reap_pools(eal);
}

LinkCapabilities DpdkEndpoint::capabilities() const {
  LinkCapabilities caps;
  caps.rx_checksum_offload = setup_.rx_checksum;
  return caps;
}

uint16_t DpdkEndpoint::max_header_length() const { return kEthernetHeaderLength; }

size_t DpdkEndpoint::process_receive(size_t budget) {
  std::array<rte_mbuf*, kBurst> burst;
  size_t handled = 0;
  while (handled < budget) {
    const auto want = static_cast<uint16_t>(std::min(kBurst, budget - handled));
    const uint16_t n = rte_eth_rx_burst(setup_.port, 0, burst.data(), want);
    if (n == 0) break;
    handled += n;
    // One look at the pool per burst (it sums the per-lcore caches): with zero-copy the stack
    // pins mbufs, so when the pool runs low frames are copied instead (see dpdk.h).
    rte_mempool* pool = burst[0]->pool;
    const bool pool_low = rte_mempool_avail_count(pool) < pool->size / 4;
    for (uint16_t i = 0; i < n; ++i) {
      rte_mbuf* m = burst[i];
      const uint64_t flags = m->ol_flags;
      PacketBuffer pkt;
      if (m->nb_segs != 1) {
        pkt = PacketBuffer::from_bytes(segment_bytes(m), 0);
        for (const rte_mbuf* s = m->next; s != nullptr; s = s->next) pkt.append(segment_bytes(s));
        rte_pktmbuf_free(m);
        ++dpdk_counters_.rx_copied_chained;
      } else if (pool_low) {
        pkt = PacketBuffer::from_bytes(segment_bytes(m), 0);
        rte_pktmbuf_free(m);
        ++dpdk_counters_.rx_copied_pool_low;
      } else {
        // The mbuf's whole buffer (headroom included) becomes the chunk; the frame is the
        // slice [data_off, data_off + data_len). From here the chunk owns the mbuf.
        MutableByteView buffer(static_cast<std::byte*>(m->buf_addr), m->buf_len);
        const size_t offset = m->data_off;
        const size_t length = m->data_len;
        pkt = PacketBuffer::from_chunk(Chunk::adopt(buffer, release_mbuf, m), offset, length);
        ++dpdk_counters_.rx_zero_copy;
      }
      if (setup_.rx_checksum &&
          (flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_GOOD) {
        pkt.meta().checksum_verified = true;
        ++dpdk_counters_.rx_checksum_good;
      }
      deliver_ethernet_frame(std::move(pkt), {.self = setup_.mac}, dispatcher_, counters_);
    }
  }
  return handled;
}

Result<size_t> DpdkEndpoint::write_packets(std::span<PacketBuffer> packets) {
  std::array<rte_mbuf*, kBurst> burst;
  size_t sent = 0;
  Error last_error = Error::kNoBufferSpace;
  size_t next = 0;
  while (next < packets.size()) {
    const size_t take = std::min(kBurst, packets.size() - next);
    std::span<PacketBuffer> batch = packets.subspan(next, take);
    next += take;
    // All or nothing: a pool that cannot give `take` mbufs at once is (nearly) empty anyway.
    if (rte_pktmbuf_alloc_bulk(setup_.pool, burst.data(), static_cast<unsigned>(take)) != 0) {
      dpdk_counters_.tx_drop_no_mbuf += take;
      continue;
    }
    uint16_t filled = 0;
    uint64_t bytes = 0;
    for (PacketBuffer& pkt : batch) {
      if (pkt.size() > setup_.mtu) {
        ++counters_.tx_drop_too_big;
        last_error = Error::kMessageTooLong;
        continue;
      }
      push_ethernet_header(pkt, setup_.mac);
      const size_t length = pkt.size();
      rte_mbuf* m = burst[filled];
      // The pool's data room holds a frame of the MTU (data_room_for), so append succeeds.
      void* room = rte_pktmbuf_append(m, static_cast<uint16_t>(length));
      if (room == nullptr) {
        ++counters_.tx_drop_too_big;
        continue;
      }
      pkt.copy_out(0, MutableByteView(static_cast<std::byte*>(room), length));
      bytes += length;
      ++filled;
    }
    const uint16_t accepted =
        filled == 0 ? 0 : rte_eth_tx_burst(setup_.port, 0, burst.data(), filled);
    if (accepted < filled) {
      counters_.tx_drop_queue_full += filled - accepted;
      last_error = Error::kNoBufferSpace;
      for (uint16_t i = accepted; i < filled; ++i) bytes -= rte_pktmbuf_pkt_len(burst[i]);
    }
    // Frames the queue refused, and mbufs left unfilled by frames dropped above, go back.
    for (size_t i = accepted; i < take; ++i) rte_pktmbuf_free(burst[i]);
    counters_.tx_frames += accepted;
    counters_.tx_bytes += bytes;
    sent += accepted;
  }
  if (sent == 0 && !packets.empty()) return last_error;
  return sent;
}

void DpdkEndpoint::refresh_port_counters() {
  rte_eth_stats stats{};
  if (rte_eth_stats_get(setup_.port, &stats) != 0) return;
  dpdk_counters_.port_rx_missed = stats.imissed;
  dpdk_counters_.port_rx_no_mbuf = stats.rx_nombuf;
  dpdk_counters_.port_rx_errors = stats.ierrors;
  dpdk_counters_.port_tx_errors = stats.oerrors;
}

Result<DpdkRingPair> open_dpdk_ring_pair(const DpdkOptions& a, const DpdkOptions& b,
                                         std::string* message) {
  if (!a.port.empty() || !b.port.empty()) {
    return fail(message, Error::kInvalidArgument,
                "dpdk: a ring pair makes its own ports; leave DpdkOptions::port empty");
  }
  std::string names[2];
  {
    const auto tokens =
        split_eal_args(a.eal_args.empty() ? kDefaultEalArgs : std::string_view(a.eal_args));
    EalState& eal = eal_state();
    std::lock_guard lock(eal.mutex);
    WEIR_TRY(ensure_eal(eal, tokens, message));
    const std::string id = std::to_string(eal.next_id++);
    std::array<rte_ring*, 2> rings{};
    for (int i = 0; i < 2; ++i) {
      const std::string ring_name = "weir_ring_" + id + (i == 0 ? "_ab" : "_ba");
      rings[i] =
          rte_ring_create(ring_name.c_str(), 1024, SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ);
      if (rings[i] == nullptr) {
        if (i == 1) rte_ring_free(rings[0]);
        return fail(message, Error::kOutOfMemory,
                    "dpdk: cannot make ring " + ring_name + ": " + rte_strerror(rte_errno));
      }
    }
    // a sends on ab and receives on ba; b the other way round.
    for (int i = 0; i < 2; ++i) {
      const std::string name = "weir_ring_" + id + (i == 0 ? "_a" : "_b");
      rte_ring* rx = rings[i == 0 ? 1 : 0];
      rte_ring* tx = rings[i == 0 ? 0 : 1];
      const int port = rte_eth_from_rings(name.c_str(), &rx, 1, &tx, 1, SOCKET_ID_ANY);
      if (port < 0) {
        return fail(message, Error::kIo,
                    "dpdk: cannot make ring port " + name + ": " + rte_strerror(rte_errno));
      }
      names[i] = std::to_string(port);  // the driver names it net_ring_<name>
    }
  }
  DpdkOptions oa = a;
  oa.port = names[0];
  DpdkOptions ob = b;
  ob.port = names[1];
  if (ob.eal_args.empty()) ob.eal_args = oa.eal_args;
  DpdkRingPair pair;
  auto ea = DpdkEndpoint::open(oa, message);
  if (!ea) return ea.error();
  auto eb = DpdkEndpoint::open(ob, message);
  if (!eb) return eb.error();
  pair.a = std::move(ea).value();
  pair.b = std::move(eb).value();
  return pair;
}

}  // namespace weir::link
