// DpdkEndpoint: one port of DPDK (a virtual device such as net_tap, net_ring, net_af_packet,
// or a NIC bound to a DPDK driver) as a link. Only link/dpdk.cc includes DPDK headers, so this
// header needs none; it is built only when DPDK is found (WEIR_HAVE_DPDK, library
// weir_link_dpdk).
//
// Theory of operation. The EAL (DPDK's environment: memory, lcores, devices) exists once per
// process and cannot be restarted, so the first open() initialises it from
// DpdkOptions::eal_args (split on whitespace; no quoting) and every later open() in the
// process must name the same arguments: other arguments are a clear error, and so is any
// open() after a failed initialisation (DPDK allows one attempt). kDefaultEalArgs needs no
// hugepages and no PCI device; ports come from --vdev arguments (e.g.
// --vdev=net_tap0,iface=dtap0). What the EAL prints while it starts is captured: on failure it
// becomes the one-line message, on success it is passed on to stdout/stderr unchanged. EAL
// initialisation runs the calling thread on the lcore's CPU (-l 0: CPU 0), as every DPDK
// program does.
//
// open() picks a port by device name ("net_tap0"), by number ("0"), or (empty) the first port
// no endpoint of this process has open; configures one receive and one transmit queue with an
// mbuf pool of its own; starts it; puts it in promiscuous mode when weir's MAC is not the
// port's (weir's MAC is the port's own unless DpdkOptions::mac says otherwise; ports without
// one, like net_ring, get a random locally administered MAC), and in all-multicast mode so
// IPv6 neighbour discovery reaches the stack. The destructor stops the port but does not close
// it: closing a virtual device removes it for the rest of the process, and a later open() may
// want it again. The EAL releases ports at exit (net_tap's kernel interface goes then).
//
// Receive, and the ownership rule. process_receive(budget) takes bursts with
// rte_eth_rx_burst and hands each frame to the stack WITHOUT copying it: the mbuf's buffer
// becomes a Chunk (Chunk::adopt) whose release frees the mbuf (rte_pktmbuf_free) when the
// stack drops the last reference, e.g. when a TCP socket's reader has consumed the bytes. So
// an mbuf belongs to the stack from delivery until its last PacketBuffer goes; nothing else
// touches it. Two exceptions copy into an ordinary chunk and free the mbuf at once: a frame in
// chained mbufs (several segments), and any frame received while the pool the mbuf came from
// has fewer than a quarter of its mbufs free. A zero-copy frame pins its whole mbuf (about
// 2.3 KiB) in whatever queue holds it, and the pool also refills the receive ring: a slow
// reader holding thousands of frames must not starve the port, so below that mark the
// endpoint pays a copy instead. Frees may happen on any thread (the pool's ring is
// multi-producer safe), but rx/tx on one port must come from one thread at a time, as the
// single-threaded Loop does. Pools are freed when their endpoint is destroyed once every
// mbuf has come back; one whose mbufs are still held by the stack (a NIC destroyed before the
// sockets that hold its packets) is freed by a later open() or destructor once they have.
//
// Transmit. write_packets() pushes the Ethernet header, copies each packet (however many
// slices it has) into a fresh mbuf from the pool, and hands the batch to rte_eth_tx_burst in
// bursts of up to kBurst. The copy is what lets the stack keep sharing its chunks (a TCP
// segment's payload stays in the send queue for retransmission); at about 40 Mpps per core for
// small frames it is not what limits this endpoint. Frames larger than the MTU
// (tx_drop_too_big), frames the pool has no mbuf for (dpdk.tx_drop_no_mbuf), and frames the
// port's queue did not take (tx_drop_queue_full) are dropped and counted; TCP retransmits.
//
// Waking up. DPDK ports have no fd. The net_tap driver's receive-interrupt fd is its queue's
// own tap fd, readable exactly while frames wait, which is what the Loop's level-triggered
// epoll needs: with DpdkOptions::rx_interrupts that fd is readable_fd(). Every other driver
// is polled: needs_polling() is true and the Loop gives the port a batch on every iteration,
// busy-polling while traffic flows and sleeping up to 1 ms when idle (stack/loop.h). (A NIC's
// interrupt eventfd fires once per rte_eth_dev_rx_intr_enable and needs an arm/disarm
// protocol around the wait, which this endpoint does not implement.)
//
// Offloads. Receive: when the port can validate TCP and UDP checksums (dev_info
// rx_offload_capa), that is enabled and frames it marked good are delivered with
// checksum_verified; frames marked bad or unknown are left to the stack to check (and count).
// Transmit: none. PMDs disagree on what they expect in the checksum field (a pseudo-header sum
// or zero) and a wrong guess corrupts silently, so the stack finishes every checksum itself.
// No GSO/TSO: frames are at most the MTU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "link/link_counters.h"
#include "stack/counters.h"
#include "stack/link_endpoint.h"
#include "stack/packet_buffer.h"
#include "stack/result.h"

struct rte_mempool;  // DPDK's; only link/dpdk.cc sees its definition

namespace weir::link {

// EAL arguments that need no hugepages, no PCI device and no shared files in /var/run (so
// several weir processes can run at once); add --vdev=... for ports. --in-memory does not
// combine with --no-huge.
inline constexpr std::string_view kDefaultEalArgs =
    "--no-huge --no-pci -m 256 --no-shconf -l 0 --log-level=*:warning";

struct DpdkOptions {
  // EAL arguments, split on whitespace (no quoting); empty: kDefaultEalArgs. The same in every
  // open() of a process (see above).
  std::string eal_args;
  // A device name ("net_tap0", "net_ring0", a PCI address) or a port number; empty: the first
  // port no endpoint of this process has open.
  std::string port;
  // weir's MAC; unset: the port's own, or random locally administered when it has none.
  std::optional<MacAddress> mac;
  // unset: the port's MTU; set: applied to the port.
  std::optional<uint32_t> mtu;
  uint16_t rx_descriptors = 1024;
  uint16_t tx_descriptors = 1024;
  // mbufs in this endpoint's pool: the receive ring, frames in transmit, and received frames
  // the stack holds (below a quarter free, received frames are copied; see above). 2^n - 1 is
  // what the pool's ring stores best.
  uint32_t mbufs = 8191;
  // Wait on the port's receive-interrupt fd where the driver has a suitable one (net_tap);
  // false, or any other driver: poll mode.
  bool rx_interrupts = true;
  // Use the port's receive checksum validation when it has it.
  bool rx_checksum_offload = true;
};

// Frames weir moved or dropped for reasons only DPDK has. The rest are in LinkCounters.
#define WEIR_DPDK_COUNTERS(X)                                                      \
  X(rx_zero_copy)       /* delivered in their own mbuf */                          \
  X(rx_copied_pool_low) /* copied: the mbuf's pool had under a quarter free */     \
  X(rx_copied_chained)  /* copied: the frame came in several mbufs */              \
  X(rx_checksum_good)   /* the port validated the L4 checksum */                   \
  X(tx_drop_no_mbuf)    /* the pool had no mbuf for the frame */                   \
  X(port_rx_missed)     /* rte_eth_stats imissed: the port had no descriptor */    \
  X(port_rx_no_mbuf)    /* rte_eth_stats rx_nombuf: refill found the pool empty */ \
  X(port_rx_errors)     /* rte_eth_stats ierrors */                                \
  X(port_tx_errors)     /* rte_eth_stats oerrors */
WEIR_DEFINE_COUNTERS(DpdkCounters, WEIR_DPDK_COUNTERS)

class DpdkEndpoint final : public LinkEndpoint {
 public:
  // Frames per rte_eth_rx_burst / rte_eth_tx_burst call.
  static constexpr size_t kBurst = 32;

  // On failure, *message (if given) is one line saying what was wrong and what to do.
  static Result<std::unique_ptr<DpdkEndpoint>> open(const DpdkOptions& options,
                                                    std::string* message = nullptr);

  class Key {
    friend class DpdkEndpoint;
    Key() = default;
  };
  struct PortSetup {
    uint16_t port = 0;
    std::string name;    // the device name, e.g. "net_tap0"
    std::string driver;  // e.g. "net_tap"
    rte_mempool* pool = nullptr;
    uint32_t mtu = 0;
    MacAddress mac;
    int rx_fd = -1;  // the receive-interrupt fd, owned by DPDK; -1: poll mode
    bool rx_checksum = false;
  };
  DpdkEndpoint(Key, PortSetup setup);
  ~DpdkEndpoint() override;
  DpdkEndpoint(const DpdkEndpoint&) = delete;
  DpdkEndpoint& operator=(const DpdkEndpoint&) = delete;

  uint32_t mtu() const override { return setup_.mtu; }
  LinkCapabilities capabilities() const override;
  uint16_t max_header_length() const override;
  MacAddress link_address() const override { return setup_.mac; }
  void attach(NetworkDispatcher* dispatcher) override { dispatcher_ = dispatcher; }
  bool attached() const override { return dispatcher_ != nullptr; }
  // Copies the packets out (and pushes their Ethernet header into them).
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override;
  int readable_fd() const override { return setup_.rx_fd; }
  bool needs_polling() const override { return setup_.rx_fd < 0; }
  size_t process_receive(size_t budget) override;

  uint16_t port_id() const { return setup_.port; }
  const std::string& name() const { return setup_.name; }
  const std::string& driver() const { return setup_.driver; }
  const LinkCounters& counters() const { return counters_; }
  const DpdkCounters& dpdk_counters() const { return dpdk_counters_; }
  // Copies the port's own statistics (rte_eth_stats_get) into the port_* counters.
  void refresh_port_counters();

  // The EAL arguments this process runs with; empty before the first successful open().
  static std::string eal_arguments();

 private:
  PortSetup setup_;
  NetworkDispatcher* dispatcher_ = nullptr;
  LinkCounters counters_;
  DpdkCounters dpdk_counters_;
};

// Two ports joined back to back by a pair of rte_rings (the net_ring driver's
// rte_eth_from_rings): what one sends, the other receives, in the same process and without a
// kernel. The DPDK counterpart of ChannelEndpoint, for tests and `weir bench link`. Both
// endpoints are polled (net_ring has no interrupts). The rings stay for the life of the
// process (each endpoint's transmit ring is the other's receive ring, so neither can free
// it); a pair costs two 1024-slot rings.
struct DpdkRingPair {
  std::unique_ptr<DpdkEndpoint> a;
  std::unique_ptr<DpdkEndpoint> b;
};
// a and b configure each side (their `port` must be empty; their eal_args must agree).
Result<DpdkRingPair> open_dpdk_ring_pair(const DpdkOptions& a, const DpdkOptions& b,
                                         std::string* message = nullptr);

// EAL arguments split on whitespace (exposed for tests and the command line's checks).
std::vector<std::string> split_eal_args(std::string_view args);

}  // namespace weir::link
