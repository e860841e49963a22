// TCP counters ("netstat -s" for TCP). Drops are named drop_<reason>; recovery counters show
// what loss recovery did (retransmits, RTOs, SACK recoveries, TLPs, ...).
#pragma once

#include "stack/counters.h"

namespace weir::tcp {

#define WEIR_TCP_COUNTERS(X)                                                                       \
  X(segments_received)                                                                             \
  X(segments_sent)                                                                                 \
  X(bytes_sent) X(bytes_received) X(active_opens) X(passive_opens) X(established)                  \
      X(failed_attempts) X(resets_sent) X(resets_received) X(connections_closed)                   \
          X(connections_aborted) X(timeouts) /* recovery */                                        \
      X(retransmitted_segments) X(fast_retransmits) X(rto_timeouts) X(syn_retransmits)             \
          X(sack_recoveries) X(newreno_recoveries) X(recovery_exits) X(rack_lost_marked)           \
              X(tlp_probes) X(tlp_new_data) X(tlp_loss_repaired) X(dup_acks_received)              \
                  X(dsacks_received) X(dsacks_sent) X(sack_blocks_sent)                            \
                      X(sack_reneging) X(undone_by_dsack) X(undone_by_timestamp)                   \
                          X(undone_by_frto) X(undone_partial)                                      \
                      X(out_of_order_segments) X(receive_queue_collapsed) X(ofo_pruned)            \
                          X(zero_window_probes) X(send_buffer_expanded)                            \
                          X(send_buffer_growth_refused) X(send_held_link_full)                     \
                          X(keepalive_probes) X(delayed_acks) X(quick_acks) X(batched_acks) X(window_updates_sent) \
                              X(challenge_acks) X(challenge_acks_rate_limited) X(syn_cookies_sent) \
                                  X(syn_cookies_validated) X(syn_cookies_failed)                   \
                                      X(time_wait_reused) X(pmtu_updates) X(receive_buffer_grown)  \
                                          X(listen_overflows) X(syn_queue_overflows) /* drops */   \
      X(drop_malformed) X(drop_bad_checksum) X(drop_bad_options) X(drop_no_endpoint) X(drop_paws)  \
          X(drop_out_of_window) X(drop_rst_out_of_window) X(drop_syn_in_window) X(drop_bad_ack)    \
              X(drop_no_ack_flag) X(drop_closed) X(drop_listen_bad_segment) X(drop_syn_sent_bad)   \
                  X(drop_accept_queue_full) X(drop_beyond_receive_window) X(drop_data_after_close) \
                      X(drop_route_error) X(drop_send_error) X(drop_icmp_unmatched)                \
                          X(drop_rst_to_rst) X(drop_multicast) X(drop_receive_queue_memory)                       \
      /* the stack's socket memory (stack/memory_budget.h) */                                    \
      X(ofo_pruned_pressure) X(drop_memory_pressure) X(drop_memory_hard_limit)                   \
          X(memory_floor_accepted) X(window_clamped_pressure) X(autotune_suppressed_pressure)    \
              X(write_refused_pressure) X(write_refused_hard_limit) X(orphans_reset_memory)     \
      /* forwarder */                                                                            \
      X(forward_requests) X(forward_accepted) X(forward_refused) X(forward_deferred)             \
          X(forward_syn_retransmits) X(forward_accept_failed) X(drop_forward_pending_full)       \
              X(drop_foreign_no_flow)
WEIR_DEFINE_COUNTERS(TcpCounters, WEIR_TCP_COUNTERS)

}  // namespace weir::tcp
