#include "sandbox/tcp_info_codec.h"

#include <linux/tcp.h>

#include <cstring>

namespace weir::sandbox {

std::vector<std::byte> encode_tcp_info(const tcp::TcpInfo& in) {
  // Filled field by field into the kernel's own struct, then copied out whole: the layout
  // (including the two 4-bit window scales sharing a byte) is the header's, not ours.
  struct tcp_info out {};
  out.tcpi_state = in.tcpi_state;
  out.tcpi_ca_state = in.tcpi_ca_state;
  out.tcpi_retransmits = in.tcpi_retransmits;
  out.tcpi_probes = in.tcpi_probes;
  out.tcpi_backoff = in.tcpi_backoff;
  out.tcpi_options = in.tcpi_options;
  out.tcpi_snd_wscale = in.tcpi_snd_wscale & 0xf;
  out.tcpi_rcv_wscale = in.tcpi_rcv_wscale & 0xf;
  out.tcpi_rto = in.tcpi_rto;
  out.tcpi_ato = in.tcpi_ato;
  out.tcpi_snd_mss = in.tcpi_snd_mss;
  out.tcpi_rcv_mss = in.tcpi_rcv_mss;
  out.tcpi_unacked = in.tcpi_unacked;
  out.tcpi_sacked = in.tcpi_sacked;
  out.tcpi_lost = in.tcpi_lost;
  out.tcpi_retrans = in.tcpi_retrans;
  out.tcpi_fackets = in.tcpi_fackets;
  out.tcpi_last_data_sent = in.tcpi_last_data_sent;
  out.tcpi_last_ack_sent = in.tcpi_last_ack_sent;
  out.tcpi_last_data_recv = in.tcpi_last_data_recv;
  out.tcpi_last_ack_recv = in.tcpi_last_ack_recv;
  out.tcpi_pmtu = in.tcpi_pmtu;
  out.tcpi_rcv_ssthresh = in.tcpi_rcv_ssthresh;
  out.tcpi_rtt = in.tcpi_rtt;
  out.tcpi_rttvar = in.tcpi_rttvar;
  out.tcpi_snd_ssthresh = in.tcpi_snd_ssthresh;
  out.tcpi_snd_cwnd = in.tcpi_snd_cwnd;
  out.tcpi_advmss = in.tcpi_advmss;
  out.tcpi_reordering = in.tcpi_reordering;
  out.tcpi_rcv_rtt = in.tcpi_rcv_rtt;
  out.tcpi_rcv_space = in.tcpi_rcv_space;
  out.tcpi_total_retrans = in.tcpi_total_retrans;
  out.tcpi_pacing_rate = in.tcpi_pacing_rate;
  out.tcpi_max_pacing_rate = in.tcpi_max_pacing_rate;
  out.tcpi_bytes_acked = in.tcpi_bytes_acked;
  out.tcpi_bytes_received = in.tcpi_bytes_received;
  out.tcpi_segs_out = in.tcpi_segs_out;
  out.tcpi_segs_in = in.tcpi_segs_in;
  out.tcpi_notsent_bytes = in.tcpi_notsent_bytes;
  out.tcpi_min_rtt = in.tcpi_min_rtt;
  out.tcpi_data_segs_in = in.tcpi_data_segs_in;
  out.tcpi_data_segs_out = in.tcpi_data_segs_out;
  out.tcpi_delivery_rate = in.tcpi_delivery_rate;
  out.tcpi_busy_time = in.tcpi_busy_time;
  out.tcpi_rwnd_limited = in.tcpi_rwnd_limited;
  out.tcpi_sndbuf_limited = in.tcpi_sndbuf_limited;
  out.tcpi_delivered = in.tcpi_delivered;
  out.tcpi_delivered_ce = in.tcpi_delivered_ce;
  out.tcpi_bytes_sent = in.tcpi_bytes_sent;
  out.tcpi_bytes_retrans = in.tcpi_bytes_retrans;
  out.tcpi_dsack_dups = in.tcpi_dsack_dups;
  out.tcpi_reord_seen = in.tcpi_reord_seen;
  out.tcpi_rcv_ooopack = in.tcpi_rcv_ooopack;
  out.tcpi_snd_wnd = in.tcpi_snd_wnd;
  std::vector<std::byte> bytes(sizeof out);
  std::memcpy(bytes.data(), &out, sizeof out);
  return bytes;
}

}  // namespace weir::sandbox
