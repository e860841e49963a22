// Per-socket settings (SO_* / TCP_* options) as the connection sees them.
#pragma once

#include <cstdint>
#include <optional>

#include "stack/clock.h"

namespace weir::tcp {

// TCP_KEEPCNT's bound, Linux's MAX_TCP_KEEPCNT: larger values are refused (EINVAL).
inline constexpr uint32_t kMaxKeepaliveCount = 127;
// TCP_SYNCNT's, Linux's MAX_TCP_SYNCNT.
inline constexpr int kMaxSynRetries = 127;
// TCP_LINGER2's, Linux's TCP_FIN_TIMEOUT_MAX: larger values are cut to it.
inline constexpr int kMaxLinger2Seconds = 120;

struct SocketOptions {
  // Ordered by size: every connection and every endpoint holds a copy (64 bytes, not 80).
  uint32_t receive_buffer = 0;                             // SO_RCVBUF; 0: the protocol default
  uint32_t send_buffer = 0;                                // SO_SNDBUF; 0: the protocol default
  uint32_t user_timeout_ms = 0;  // TCP_USER_TIMEOUT; 0: the retry counts decide (RFC 5482)
  uint32_t notsent_lowat = 0;    // TCP_NOTSENT_LOWAT (bytes); 0: no limit, as Linux's default
  Duration keepalive_idle = std::chrono::seconds(7200);    // TCP_KEEPIDLE
  Duration keepalive_interval = std::chrono::seconds(75);  // TCP_KEEPINTVL
  std::optional<Duration> linger;  // SO_LINGER: nullopt off; zero: close() sends RST
  uint32_t keepalive_count = 9;    // TCP_KEEPCNT
  uint16_t max_segment = 0;        // TCP_MAXSEG: 0 means no user clamp
  // TCP_LINGER2 (seconds): how long a closed connection waits in FIN-WAIT-2 for the peer's FIN;
  // 0: TcpOptions::fin_wait2_timeout; negative: not at all (it is reset instead).
  int16_t linger2 = 0;
  uint8_t syn_retries = 0;  // TCP_SYNCNT (SYN, or a listener's SYN-ACK); 0: the protocol's
  bool reuse_address = false;      // SO_REUSEADDR
  bool reuse_port = false;         // SO_REUSEPORT
  bool keepalive = false;          // SO_KEEPALIVE
  bool no_delay = false;           // TCP_NODELAY
  bool cork = false;               // TCP_CORK
  bool quick_ack = false;          // TCP_QUICKACK (sticky here: every segment ACKed at once)

  bool operator==(const SocketOptions&) const = default;
};

}  // namespace weir::tcp
