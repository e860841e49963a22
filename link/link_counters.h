// LinkCounters: the counters every endpoint in link/ keeps, one struct so `weir stats` prints
// the same names for a channel, a tap or a loopback. An endpoint counts its own drops under a
// reason; the Nic above it additionally counts the packets write_packets() did not take.
#pragma once

#include "stack/counters.h"

namespace weir::link {

#define WEIR_LINK_COUNTERS(X)                                                                \
  X(rx_frames)                                                                               \
  X(rx_bytes) X(tx_frames) X(tx_bytes) /* receive drops */                                   \
      X(rx_drop_runt)                  /* shorter than a link header */                      \
      X(rx_drop_other_host)            /* unicast to another MAC (not promiscuous) */        \
      X(rx_drop_vlan)                  /* 802.1Q/802.1ad tagged: no VLAN sub-interfaces */   \
      X(rx_drop_not_ethernet_ii)       /* 802.3 length field instead of an EtherType */      \
      X(rx_drop_bad_ip_version)        /* raw IP link: first nibble neither 4 nor 6 */       \
      X(rx_drop_not_attached)          /* no dispatcher attached */                          \
      X(rx_drop_truncated)             /* larger than the receive buffer */                  \
      X(rx_drop_bad_vnet_header)       /* tap offloads: a virtio-net header that lies */     \
      X(rx_gso_frames)                 /* tap/packet: unsegmented TCP up to 64 KiB */        \
      X(tx_gso_frames)                 /* tap offloads: handed to the kernel to segment */   \
      X(rx_drop_bad_ring_header)       /* packet socket: a ring header that lies */          \
      X(rx_drop_outgoing)              /* packet socket: a frame this host sent */           \
      X(rx_errors) /* read() failed with something other than EAGAIN */ /* transmit drops */ \
      X(tx_drop_queue_full)  /* peer's bounded queue full */                                 \
      X(tx_drop_too_big)     /* larger than the MTU and no GSO */                            \
      X(tx_drop_no_peer)     /* channel peer destroyed */                                    \
      X(tx_drop_would_block) /* device not writable (EAGAIN) */                              \
      X(tx_drop_short_write) /* the kernel took part of a frame */                           \
      X(tx_errors)           /* write() failed otherwise */
WEIR_DEFINE_COUNTERS(LinkCounters, WEIR_LINK_COUNTERS)

}  // namespace weir::link
