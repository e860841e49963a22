// TapEndpoint: a Linux tap device (/dev/net/tun, IFF_TAP | IFF_NO_PI) as a link. The stack is
// a separate host on the tap's wire: the kernel's side of the tap is its peer.
//
// Theory of operation. open() attaches to the named tap (made earlier with `ip tuntap add`)
// or creates it, optionally inside another network namespace: the namespace current at the
// TUNSETIFF decides where the device lives, and the fd keeps working from ours afterwards, so
// open() enters the namespace on this thread only for those calls. The fd is non-blocking and
// is readable_fd(). process_receive() reads frames until EAGAIN or the budget, one read() per
// frame (the tap gives one frame per read), into a receive chunk that is reused as long as the
// stack kept no reference to the previous frame. write_packets() pushes the Ethernet header and
// writes each frame with one writev() over the packet's slices; a short write or EAGAIN drops
// that frame (counted) and the batch goes on. The MAC is the given one or a random locally
// administered one: never the kernel tap's own MAC, since the stack is a different host.
//
// Offloads (the default). The tap is opened with IFF_VNET_HDR and told by TUNSETOFFLOAD that
// its reader takes partial checksums and unsegmented TCP (TSO4/TSO6): Linux then stops cutting
// its TCP into MTU-sized frames and stops summing them, so one read() brings up to 64 KiB (the
// per-frame syscall and the kernel's segmentation were what capped a plain tap near 1-2
// Gbit/s). Every frame both ways carries a virtio-net header (link/vnet_header.h). Received
// frames much smaller than the 64 KiB buffer are copied out into a chunk of their own size, so
// a queue of small segments never pins 64 KiB each. Without offloads (TapOptions::offloads
// false, or a kernel that refuses TUNSETOFFLOAD) the device's offloads are switched off, so a
// persistent tap a previous reader left in offload mode never hands this one a 64 KiB frame.
//
// Queues. With TapOptions::multi_queue the device is opened with IFF_MULTI_QUEUE and each
// TapEndpoint is one of its queues: several loops (threads or processes) each open their own
// endpoint on the same name, and the kernel keeps a flow on the queue that last sent for it
// (tun's automatic flow steering) or spreads new flows by hash. Every queue of one device must
// be opened alike (multi-queue, offloads). The kernel's queue toward the reader (the device's
// txqueuelen) is a fixed count of frames that a TCP sender in Linux cannot see: when the stack
// advertises a larger window than that queue holds and the reader falls behind for a moment,
// the kernel drops whole windows' tails and the sender collapses (pasta's MTU-1500 problem).
// open() therefore raises txqueuelen so the queue holds TapOptions::queue_bytes of MTU-sized
// frames: callers size it to what their transport may have in flight (the default covers TCP's
// default largest receive buffer, 6 MiB, with room for the ACKs and small frames beside it). It
// is never lowered.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "link/link_counters.h"
#include "stack/link_endpoint.h"
#include "stack/packet_buffer.h"
#include "stack/result.h"

namespace weir::link {

struct TapOptions {
  std::string name = "weir0";
  std::optional<uint32_t> mtu;    // unset: the device's MTU; set: also applied to the device
  std::optional<MacAddress> mac;  // unset: random, locally administered
  bool create_if_missing = true;
  bool bring_up = false;  // set the kernel side of the link up (IFF_UP)
  // A network namespace file ("/var/run/netns/NAME", "/proc/PID/ns/net") to open the device
  // in; empty: the calling thread's.
  std::string netns;
  // Checksum and segmentation offloads with the kernel (see above).
  bool offloads = true;
  // Open one queue of an IFF_MULTI_QUEUE device (see above).
  bool multi_queue = false;
  // Bytes of MTU-sized frames the kernel's queue toward this reader must hold (see above).
  uint32_t queue_bytes = 8 * 1024 * 1024;
};

class TapEndpoint final : public LinkEndpoint {
 public:
  // On failure, *message (if given) says what was wrong and what to do.
  static Result<std::unique_ptr<TapEndpoint>> open(const TapOptions& options,
                                                   std::string* message = nullptr);

  class Key {
    friend class TapEndpoint;
    Key() = default;
  };
  TapEndpoint(Key, int fd, std::string name, uint32_t mtu, MacAddress mac, bool vnet_header,
              bool offloads, uint32_t queue_frames);
  ~TapEndpoint() override;
  TapEndpoint(const TapEndpoint&) = delete;
  TapEndpoint& operator=(const TapEndpoint&) = delete;

  uint32_t mtu() const override { return mtu_; }
  LinkCapabilities capabilities() const override;
  uint16_t max_header_length() const override;
  MacAddress link_address() const override { return mac_; }
  void attach(NetworkDispatcher* dispatcher) override { dispatcher_ = dispatcher; }
  bool attached() const override { return dispatcher_ != nullptr; }
  // Moves the packets out of `packets`.
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override;
  int readable_fd() const override { return fd_; }
  size_t process_receive(size_t budget) override;

  const std::string& name() const { return name_; }
  bool offloads() const { return offloads_; }
  // The device's txqueuelen after open(): frames the kernel queues toward its readers.
  uint32_t queue_frames() const { return queue_frames_; }
  void set_promiscuous(bool on) { promiscuous_ = on; }
  const LinkCounters& counters() const { return counters_; }

 private:
  int fd_;
  std::string name_;
  uint32_t mtu_;
  MacAddress mac_;
  bool vnet_header_;  // IFF_VNET_HDR: every frame both ways has a virtio-net header
  bool offloads_;     // and TUNSETOFFLOAD took checksum + TSO
  uint32_t queue_frames_;
  NetworkDispatcher* dispatcher_ = nullptr;
  bool promiscuous_ = false;
  ChunkRef rx_chunk_;
  LinkCounters counters_;
};

}  // namespace weir::link
