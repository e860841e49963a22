// TCP_INFO: the fields of Linux's struct tcp_info (include/uapi/linux/tcp.h), with the same
// names and units (microseconds for times, bytes or segments as Linux uses them), so the
// sandbox can copy it out field by field.
#pragma once

#include <cstdint>

namespace weir::tcp {

// Linux's TCP_ESTABLISHED.. numbering for tcpi_state.
enum class LinuxTcpState : uint8_t {
  kEstablished = 1,
  kSynSent,
  kSynRecv,
  kFinWait1,
  kFinWait2,
  kTimeWait,
  kClose,
  kCloseWait,
  kLastAck,
  kListen,
  kClosing
};

struct TcpInfo {
  uint8_t tcpi_state = 0;
  uint8_t tcpi_ca_state = 0;  // 0 open, 3 recovery, 4 loss
  uint8_t tcpi_retransmits = 0;
  uint8_t tcpi_probes = 0;
  uint8_t tcpi_backoff = 0;
  uint8_t tcpi_options = 0;  // TCPI_OPT_TIMESTAMPS 1, SACK 2, WSCALE 4
  uint8_t tcpi_snd_wscale = 0;
  uint8_t tcpi_rcv_wscale = 0;
  uint32_t tcpi_rto = 0;  // us
  uint32_t tcpi_ato = 0;  // us
  uint32_t tcpi_snd_mss = 0;
  uint32_t tcpi_rcv_mss = 0;
  uint32_t tcpi_unacked = 0;  // segments
  uint32_t tcpi_sacked = 0;
  uint32_t tcpi_lost = 0;
  uint32_t tcpi_retrans = 0;
  uint32_t tcpi_fackets = 0;
  uint32_t tcpi_last_data_sent = 0;  // ms
  uint32_t tcpi_last_ack_sent = 0;
  uint32_t tcpi_last_data_recv = 0;
  uint32_t tcpi_last_ack_recv = 0;
  uint32_t tcpi_pmtu = 0;
  uint32_t tcpi_rcv_ssthresh = 0;
  uint32_t tcpi_rtt = 0;           // us
  uint32_t tcpi_rttvar = 0;        // us
  uint32_t tcpi_snd_ssthresh = 0;  // segments
  uint32_t tcpi_snd_cwnd = 0;      // segments
  uint32_t tcpi_advmss = 0;
  uint32_t tcpi_reordering = 0;
  uint32_t tcpi_rcv_rtt = 0;
  uint32_t tcpi_rcv_space = 0;
  uint32_t tcpi_total_retrans = 0;
  uint64_t tcpi_pacing_rate = 0;
  uint64_t tcpi_max_pacing_rate = 0;
  uint64_t tcpi_bytes_acked = 0;
  uint64_t tcpi_bytes_received = 0;
  uint32_t tcpi_segs_out = 0;
  uint32_t tcpi_segs_in = 0;
  uint32_t tcpi_notsent_bytes = 0;
  uint32_t tcpi_min_rtt = 0;  // us
  uint32_t tcpi_data_segs_in = 0;
  uint32_t tcpi_data_segs_out = 0;
  uint64_t tcpi_delivery_rate = 0;
  uint64_t tcpi_busy_time = 0;
  uint64_t tcpi_rwnd_limited = 0;
  uint64_t tcpi_sndbuf_limited = 0;
  uint32_t tcpi_delivered = 0;
  uint32_t tcpi_delivered_ce = 0;
  uint64_t tcpi_bytes_sent = 0;
  uint64_t tcpi_bytes_retrans = 0;
  uint32_t tcpi_dsack_dups = 0;
  uint32_t tcpi_reord_seen = 0;
  uint32_t tcpi_rcv_ooopack = 0;
  uint32_t tcpi_snd_wnd = 0;
};

}  // namespace weir::tcp
