// `weir serve`. Theory of operation: one thread, one Stack, one Loop. The tap (optionally
// wrapped by the pcap sniffer) is the stack's only NIC; each Service owns its stack endpoints
// and reacts to their readiness. Readiness callbacks fire inside the stack's receive path, so
// services never send from them directly: they post their work to the loop, which runs it
// after the current batch, keeping the stack free of re-entrant sends. SIGINT/SIGTERM are
// blocked and read from a signalfd the loop watches, so a signal stops the loop between
// batches and the normal teardown (pcap flush, counters) always runs.
//
// IPv6. Unless --no-ip6, IPv6 runs beside IPv4: the NIC gets every --ip6 address, then
// autoconfiguration gives it a link-local address and whatever router advertisements offer
// (SLAAC), and each service listens on one dual-stack [::] socket, which serves IPv4 peers as
// IPv4-mapped addresses (Linux's bindv6only=0). One socket per service keeps one code path and one
// set of counters per service, whichever family the client uses, and is how servers behave on Linux
// by default; with --no-ip6 the services listen on 0.0.0.0 as before.
#include "tools/serve.h"

#include <signal.h>
#include <sys/epoll.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ipv4/ipv4.h"
#include "ipv6/autoconf.h"
#include "ipv6/ipv6.h"
#include "link/packet.h"
#include "link/sniffer.h"
#include "link/tap.h"
#ifdef WEIR_HAVE_DPDK
#include "link/dpdk.h"
#endif
#include "stack/clock.h"
#include "stack/loop.h"
#include "stack/stack.h"
#include "stack/waiter.h"
#include "tcp/endpoint.h"
#include "tcp/tcp.h"
#include "tools/cli_checks.h"
#include "tools/stats.h"
#include "udp/endpoint.h"
#include "udp/udp.h"

namespace weir::tools {
namespace {

// Linux's IFNAMSIZ is 16 including the terminating NUL.
constexpr uint32_t kMinMtu = 68;  // RFC 791: every IPv4 link carries 68 bytes unfragmented
constexpr uint32_t kMaxMtu = 65535;
constexpr uint16_t kEchoPort = 7;  // RFC 862

// Owns a file descriptor; closes it once.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
  }
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

void fail(const std::string& message) { std::fprintf(stderr, "weir serve: %s\n", message.c_str()); }

std::string describe_error(Error e) { return std::string(error_name(e)); }

// The family services listen with: dual-stack IPv6 when the stack has IPv6, else IPv4.
AddressFamily service_family(Stack& stack) {
  return stack.ip_protocol(AddressFamily::kIpv6) != nullptr ? AddressFamily::kIpv6
                                                            : AddressFamily::kIpv4;
}

// Ports of the small services that answer whatever they get: echo, discard, daytime, qotd,
// chargen.
bool is_reflector_port(uint16_t port) {
  return port == 7 || port == 9 || port == 13 || port == 17 || port == 19;
}

// RFC 862 echo over UDP: every datagram goes back to where it came from.
class UdpEchoService final : public Service {
 public:
  explicit UdpEchoService(uint16_t port) : port_(port) {}

  std::string describe() const override { return "udp echo :" + std::to_string(port_); }

  Status start(Stack& stack, Loop& loop) override {
    const AddressFamily family = service_family(stack);
    auto endpoint = udp::Endpoint::create(stack, family);
    if (!endpoint) return endpoint.error();
    endpoint_ = std::move(endpoint).value();
    WEIR_TRY(endpoint_->bind(SocketAddress{IpAddress::any(family), port_}));
    loop_ = &loop;
    waiter_ = std::make_unique<Waiter>(kEventReadable, [this](EventMask) { schedule(); });
    endpoint_->waiters().add(*waiter_);
    return ok_status();
  }

  std::string summary() const override {
    return describe() + ": datagrams echoed " + std::to_string(echoed_) + ", send errors " +
           std::to_string(errors_) + ", refused from service ports " + std::to_string(refused_);
  }

 private:
  void schedule() {
    if (scheduled_) return;
    scheduled_ = true;
    loop_->post([this] { drain(); });
  }

  void drain() {
    scheduled_ = false;
    for (;;) {
      auto datagram = endpoint_->receive_packet();
      if (!datagram) break;
      if (is_reflector_port(datagram->from.port)) {
        // Answering another echo/chargen service would ping-pong forever (CA-1996-01).
        ++refused_;
        continue;
      }
      auto sent = endpoint_->send_packet(std::move(datagram->payload), datagram->from);
      if (sent) {
        ++echoed_;
      } else {
        ++errors_;
      }
    }
  }

  uint16_t port_;
  Loop* loop_ = nullptr;  // borrowed: the loop outlives the service's activity
  std::unique_ptr<udp::Endpoint> endpoint_;
  std::unique_ptr<Waiter> waiter_;  // declared after endpoint_: unlinks before it goes
  bool scheduled_ = false;
  uint64_t echoed_ = 0;
  uint64_t errors_ = 0;
  uint64_t refused_ = 0;
};

// ---- TCP services -----------------------------------------------------------------------------
//
// A TcpService listens on one port and owns one TcpSession per accepted connection. Sessions
// are found by id from posted work, never by pointer, so work posted for a session that has
// since finished finds nothing and does nothing.

constexpr uint16_t kDiscardPort = 9;  // RFC 863
constexpr uint16_t kSourcePort = 19;  // a counted source of the stream pattern
constexpr uint16_t kKeepalivePort = 1009;
constexpr uint16_t kHttpPort = 80;
// Room for a load generator's connection burst (wrk -c200 opens 200 at once); nginx uses 511.
constexpr int kListenBacklog = 1024;
constexpr size_t kReadChunk = size_t{64} * 1024;
// Short keepalive timers on 1009, so a test sees probes within seconds, not Linux's 2 hours;
// the probe count is Linux's default TCP_KEEPCNT.
constexpr auto kKeepaliveIdle = std::chrono::seconds(2);
constexpr auto kKeepaliveInterval = std::chrono::seconds(1);
constexpr uint32_t kKeepaliveCount = 9;

class TcpSession {
 public:
  explicit TcpSession(std::unique_ptr<tcp::Endpoint> endpoint) : endpoint_(std::move(endpoint)) {}
  virtual ~TcpSession() = default;
  TcpSession(const TcpSession&) = delete;
  TcpSession& operator=(const TcpSession&) = delete;

  // Does all the work that will not block. Returns false when the session is over; the
  // service then drops it, and dropping the endpoint closes the connection gracefully.
  virtual bool on_ready() = 0;
  tcp::Endpoint& endpoint() { return *endpoint_; }
  uint64_t bytes_in() const { return bytes_in_; }
  uint64_t bytes_out() const { return bytes_out_; }

 protected:
  // Reads what is there into `out`. nullopt: nothing now (would block). 0: end of stream.
  // An error ends the session (the caller returns false).
  Result<std::optional<size_t>> read_some(MutableByteView out) {
    auto n = endpoint_->read(out);
    if (!n) {
      if (n.error() == Error::kWouldBlock) return std::optional<size_t>();
      return n.error();
    }
    bytes_in_ += *n;
    return std::optional<size_t>(*n);
  }
  // Writes what the send buffer takes; 0 when it is full.
  Result<size_t> write_some(ByteView data) {
    auto n = endpoint_->write(data);
    if (!n) {
      if (n.error() == Error::kWouldBlock) return size_t{0};
      return n.error();
    }
    bytes_out_ += *n;
    return *n;
  }

 private:
  friend class TcpService;
  std::unique_ptr<tcp::Endpoint> endpoint_;
  std::unique_ptr<Waiter> waiter_;  // after endpoint_: unlinks from its queue first
  bool scheduled_ = false;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

class TcpService : public Service {
 public:
  using Factory = std::function<std::unique_ptr<TcpSession>(std::unique_ptr<tcp::Endpoint>)>;

  TcpService(std::string name, uint16_t port, Factory factory)
      : name_(std::move(name)), port_(port), factory_(std::move(factory)) {}

  std::string describe() const override { return "tcp " + name_ + " :" + std::to_string(port_); }

  Status start(Stack& stack, Loop& loop) override {
    const AddressFamily family = service_family(stack);
    listener_ = tcp::Endpoint::create(stack, family);
    if (!listener_) return Error::kProtocolNotSupported;
    listener_->set_reuse_address(true);
    WEIR_TRY(listener_->bind(SocketAddress{IpAddress::any(family), port_}));
    WEIR_TRY(listener_->listen(kListenBacklog));
    loop_ = &loop;
    listen_waiter_ = std::make_unique<Waiter>(kEventReadable, [this](EventMask) {
      if (accept_scheduled_) return;
      accept_scheduled_ = true;
      loop_->post([this] { accept_all(); });
    });
    listener_->waiters().add(*listen_waiter_);
    return ok_status();
  }

  // Open connections get a RST rather than silence: the stack goes away with this process.
  void stop() override {
    open_at_stop_ = sessions_.size();
    for (auto& [id, session] : sessions_) session->endpoint().abort();
    sessions_.clear();
    if (listener_) listener_->close();
  }

  std::string summary() const override {
    return describe() + ": connections " + std::to_string(accepted_) + ", bytes in " +
           std::to_string(bytes_in_) + ", bytes out " + std::to_string(bytes_out_) +
           ", open at stop " + std::to_string(open_at_stop_);
  }

 private:
  void accept_all() {
    accept_scheduled_ = false;
    for (;;) {
      auto accepted = listener_->accept();
      if (!accepted) break;  // kWouldBlock, or an aborted embryonic connection: wait for more
      ++accepted_;
      uint64_t id = next_id_++;
      auto session = factory_(std::move(accepted).value());
      session->waiter_ = std::make_unique<Waiter>(
          kEventReadable | kEventWritable | kEventError | kEventHangup | kEventReadHangup,
          [this, id](EventMask) { schedule(id); });
      session->endpoint().waiters().add(*session->waiter_);
      sessions_.emplace(id, std::move(session));
      // Data may have arrived with the handshake's last ACK, before the waiter was there.
      schedule(id);
    }
  }

  void schedule(uint64_t id) {
    auto it = sessions_.find(id);
    if (it == sessions_.end() || it->second->scheduled_) return;
    it->second->scheduled_ = true;
    loop_->post([this, id] { run(id); });
  }

  void run(uint64_t id) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    TcpSession& session = *it->second;
    session.scheduled_ = false;
    uint64_t in = session.bytes_in();
    uint64_t out = session.bytes_out();
    bool keep = session.on_ready();
    bytes_in_ += session.bytes_in() - in;
    bytes_out_ += session.bytes_out() - out;
    if (!keep) sessions_.erase(it);
  }

  std::string name_;
  uint16_t port_;
  Factory factory_;
  Loop* loop_ = nullptr;  // borrowed: outlives the service's activity
  std::unique_ptr<tcp::Endpoint> listener_;
  std::unique_ptr<Waiter> listen_waiter_;  // after listener_: unlinks first
  bool accept_scheduled_ = false;
  std::map<uint64_t, std::unique_ptr<TcpSession>> sessions_;
  uint64_t next_id_ = 1;
  uint64_t accepted_ = 0;
  size_t open_at_stop_ = 0;
  uint64_t bytes_in_ = 0;
  uint64_t bytes_out_ = 0;
};

// RFC 862: sends back what it receives. Reads only while what it read last has been sent, so
// a peer that does not read its echo is slowed by our window, not by our memory.
class EchoSession final : public TcpSession {
 public:
  using TcpSession::TcpSession;

  bool on_ready() override {
    for (;;) {
      if (sent_ < pending_) {
        auto n = write_some(ByteView(buffer_).subspan(sent_, pending_ - sent_));
        if (!n) return false;
        if (*n == 0) return true;  // wait for kEventWritable
        sent_ += *n;
        continue;
      }
      if (eof_) return false;  // all echoed; closing sends our FIN after it
      auto n = read_some(buffer_);
      if (!n) return false;
      if (!*n) return true;  // wait for kEventReadable
      if (**n == 0) {
        eof_ = true;
        continue;
      }
      pending_ = **n;
      sent_ = 0;
    }
  }

 private:
  std::vector<std::byte> buffer_ = std::vector<std::byte>(kReadChunk);
  size_t pending_ = 0;
  size_t sent_ = 0;
  bool eof_ = false;
};

// RFC 863: reads and throws away until the peer closes.
class DiscardSession final : public TcpSession {
 public:
  DiscardSession(std::unique_ptr<tcp::Endpoint> endpoint, bool keepalive)
      : TcpSession(std::move(endpoint)) {
    if (keepalive) {
      this->endpoint().set_keepalive(true);
      this->endpoint().set_keepalive_params(kKeepaliveIdle, kKeepaliveInterval, kKeepaliveCount);
    }
  }

  bool on_ready() override {
    for (;;) {
      auto n = read_some(buffer_);
      if (!n) return false;
      if (!*n) return true;
      if (**n == 0) return false;
    }
  }

 private:
  std::vector<std::byte> buffer_ = std::vector<std::byte>(kReadChunk);
};

// The stream pattern of every weir service and tool, defined by a byte's offset i from the
// start of its stream (i as uint32):  byte[i] = (i ^ (i >> 8) ^ (i >> 16) ^ (i >> 24)) & 0xff.
// Any client can check any byte of any transfer without keeping state. Its period is 2^32, so
// it is generated per write rather than served from a table.
class PatternWriter {
 public:
  // Up to `max` bytes of the stream starting at `offset`, in a buffer this object owns (valid
  // until the next call). A writer that took only part of the last block asks again from
  // where it stopped: that is served from the block already made, since a send buffer with
  // little room would otherwise have a whole block generated for every few bytes it takes.
  ByteView at(uint64_t offset, uint64_t max) {
    if (offset < block_offset_ || offset >= block_offset_ + block_length_) fill(offset);
    const auto skip = static_cast<size_t>(offset - block_offset_);
    const auto n = static_cast<size_t>(std::min<uint64_t>(max, block_length_ - skip));
    return ByteView(block_).subspan(skip, n);
  }

 private:
  // Within a run of 256 offsets that share every byte but the lowest, byte[i] is the low byte
  // XOR one constant: the run is a slice of the identity table XORed 8 bytes at a time, an
  // order of magnitude faster than computing each byte from its offset (which, at ~1 ns a
  // byte, was what capped the source service near 4 Gbit/s).
  void fill(uint64_t offset) {
    static constexpr auto kIdentity = [] {
      std::array<uint8_t, 256 + 8> t{};
      for (size_t k = 0; k < t.size(); ++k) t[k] = static_cast<uint8_t>(k);
      return t;
    }();
    for (size_t k = 0; k < block_.size();) {
      const auto i = static_cast<uint32_t>(offset + k);
      const auto high = static_cast<uint8_t>((i >> 8) ^ (i >> 16) ^ (i >> 24));
      const auto low = static_cast<uint8_t>(i);
      const size_t run = std::min<size_t>(block_.size() - k, size_t{256} - low);
      const uint64_t mask = uint64_t{high} * 0x0101010101010101ull;
      size_t j = 0;
      for (; j + 8 <= run; j += 8) {
        uint64_t word;
        std::memcpy(&word, kIdentity.data() + low + j, 8);
        word ^= mask;
        std::memcpy(block_.data() + k + j, &word, 8);
      }
      for (; j < run; ++j) {
        block_[k + j] = static_cast<std::byte>(static_cast<uint8_t>(low + j) ^ high);
      }
      k += run;
    }
    block_offset_ = offset;
    block_length_ = block_.size();
  }

  std::vector<std::byte> block_ = std::vector<std::byte>(kReadChunk);
  uint64_t block_offset_ = 0;
  size_t block_length_ = 0;  // 0: nothing made yet
};

// The source on port 19: the client sends one line "N\n" (ASCII decimal; "\r\n" is accepted);
// the server sends exactly N bytes of the pattern, then FIN. N = 0 means "until the peer
// resets". The client's FIN does not stop it; anything after the line is read and discarded.
// A malformed line (not digits, more than 20 digits, or no newline in 64 bytes) closes the
// connection with nothing sent.
class SourceSession final : public TcpSession {
 public:
  static constexpr size_t kMaxLine = 64;

  explicit SourceSession(std::unique_ptr<tcp::Endpoint> endpoint)
      : TcpSession(std::move(endpoint)) {}

  bool on_ready() override {
    while (!peer_done_) {
      auto n = read_some(buffer_);
      if (!n) return false;
      if (!*n) break;
      if (**n == 0) {
        peer_done_ = true;  // the peer's FIN: keep sending what was asked
        break;
      }
      if (!have_count_ && !take_line(ByteView(buffer_).first(**n))) return false;
    }
    if (!have_count_) return !peer_done_;  // the line never came: close
    for (;;) {
      if (!endless_ && sent_ >= count_) return false;  // all sent: closing sends our FIN
      uint64_t want = endless_ ? kReadChunk : count_ - sent_;
      auto n = write_some(pattern_.at(sent_, want));
      if (!n) return false;  // the peer reset
      if (*n == 0) return true;
      sent_ += *n;
    }
  }

 private:
  // Accumulates the request line; false when it is malformed.
  bool take_line(ByteView bytes) {
    for (std::byte b : bytes) {
      char c = static_cast<char>(b);
      if (c == '\n') {
        if (!line_.empty() && line_.back() == '\r') line_.pop_back();
        if (line_.empty() || line_.size() > 20) return false;
        uint64_t value = 0;
        for (char d : line_) {
          if (d < '0' || d > '9') return false;
          uint64_t next = value * 10 + static_cast<uint64_t>(d - '0');
          if (next < value) return false;  // overflow
          value = next;
        }
        count_ = value;
        endless_ = value == 0;
        have_count_ = true;
        return true;
      }
      if (line_.size() >= kMaxLine) return false;
      line_.push_back(c);
    }
    return true;
  }

  PatternWriter pattern_;
  std::string line_;
  bool have_count_ = false;
  bool endless_ = false;
  bool peer_done_ = false;
  uint64_t count_ = 0;
  uint64_t sent_ = 0;
  std::vector<std::byte> buffer_ = std::vector<std::byte>(4096);
};

// A small HTTP/1.1 server (RFC 9112): GET or HEAD of
//   /            a short text page
//   /bytes/N     N bytes of the stream pattern (PatternWriter), streamed as the send buffer
//                drains
// Persistent connections and pipelined requests work; anything else gets 4xx/5xx and close.
class HttpSession final : public TcpSession {
 public:
  static constexpr size_t kMaxRequestHeader = size_t{16} * 1024;
  static constexpr uint64_t kMaxBytes = uint64_t{1} << 40;
  static constexpr uint64_t kBodyInHead = 16384;

  explicit HttpSession(std::unique_ptr<tcp::Endpoint> endpoint) : TcpSession(std::move(endpoint)) {}

  bool on_ready() override {
    for (;;) {
      if (responding_) {
        if (head_sent_ < head_.size()) {
          auto n = write_some(as_bytes(std::span(head_)).subspan(head_sent_));
          if (!n) return false;
          if (*n == 0) return true;
          head_sent_ += *n;
          continue;
        }
        if (body_sent_ < body_size_) {
          auto n = write_some(pattern_.at(body_sent_, body_size_ - body_sent_));
          if (!n) return false;
          if (*n == 0) return true;
          body_sent_ += *n;
          continue;
        }
        responding_ = false;
        if (close_after_) return false;
        continue;  // a pipelined request may already be in request_
      }
      if (auto end = request_.find("\r\n\r\n"); end != std::string::npos) {
        std::string head = request_.substr(0, end);
        request_.erase(0, end + 4);
        respond(head);
        continue;
      }
      if (request_.size() > kMaxRequestHeader) {
        reply(431, "Request Header Fields Too Large", "request header too large\n", true);
        continue;
      }
      if (eof_) return false;
      std::array<std::byte, 4096> chunk{};
      auto n = read_some(chunk);
      if (!n) return false;
      if (!*n) return true;
      if (**n == 0) {
        eof_ = true;
        continue;
      }
      for (size_t i = 0; i < **n; ++i) request_.push_back(static_cast<char>(chunk[i]));
    }
  }

 private:
  static std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }

  void respond(const std::string& head) {
    head_only_ = false;
    // Request line: METHOD SP TARGET SP VERSION.
    std::string line = head.substr(0, head.find("\r\n"));
    size_t sp1 = line.find(' ');
    size_t sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string::npos) {
      reply(400, "Bad Request", "malformed request line\n", true);
      return;
    }
    std::string method = line.substr(0, sp1);
    std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    std::string version = line.substr(sp2 + 1);
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
      reply(505, "HTTP Version Not Supported", "HTTP/1.0 and HTTP/1.1 only\n", true);
      return;
    }
    std::string headers = lower(head);
    bool close = version == "HTTP/1.0" ? headers.find("connection: keep-alive") == std::string::npos
                                       : headers.find("connection: close") != std::string::npos;
    head_only_ = method == "HEAD";
    if (method != "GET" && method != "HEAD") {
      reply(405, "Method Not Allowed", "GET and HEAD only\n", true, "Allow: GET, HEAD\r\n");
      return;
    }
    if (headers.find("transfer-encoding:") != std::string::npos ||
        (headers.find("content-length:") != std::string::npos &&
         headers.find("content-length: 0") == std::string::npos)) {
      // No request bodies here; refusing keeps the request framing unambiguous.
      reply(400, "Bad Request", "request bodies are not accepted\n", true);
      return;
    }
    if (target == "/") {
      reply(200, "OK",
            "weir: a user-space TCP/IP stack. Try /bytes/N for N bytes of the weir pattern.\n",
            close);
      return;
    }
    constexpr std::string_view kBytes = "/bytes/";
    if (target.rfind(kBytes, 0) == 0) {
      std::string digits = target.substr(kBytes.size());
      uint64_t n = 0;
      bool valid = !digits.empty() && digits.size() <= 13;
      for (char c : digits) {
        if (c < '0' || c > '9') valid = false;
        if (valid) n = n * 10 + static_cast<uint64_t>(c - '0');
      }
      if (!valid || n > kMaxBytes) {
        reply(400, "Bad Request", "use /bytes/N with 0 <= N <= 2^40\n", close);
        return;
      }
      start_response(200, "OK", "application/octet-stream", n, close, "", true);
      return;
    }
    reply(404, "Not Found", "no such resource; try / or /bytes/N\n", close);
  }

  // A response whose body is fixed text (kept in head_ after the header).
  void reply(int status, std::string_view reason, std::string_view body, bool close,
             std::string_view extra_headers = {}) {
    start_response(status, reason, "text/plain", body.size(), close, extra_headers, false);
    body_size_ = 0;  // the text goes out as part of head_
    if (!head_only_) head_.append(body);
  }

  // pattern_body: the body is `length` bytes of the pattern; else the caller appends it.
  void start_response(int status, std::string_view reason, std::string_view type, uint64_t length,
                      bool close, std::string_view extra_headers, bool pattern_body) {
    head_ = "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason) + "\r\n" +
            "Server: weir\r\nContent-Type: " + std::string(type) +
            "\r\nContent-Length: " + std::to_string(length) + "\r\n" + std::string(extra_headers) +
            (close ? "Connection: close\r\n" : "") + "\r\n";
    head_sent_ = 0;
    body_size_ = head_only_ ? 0 : length;
    body_sent_ = 0;
    close_after_ = close;
    responding_ = true;
    // The head and the start of the body go as one write: a head written alone is a partial
    // segment, and Nagle then holds the body's own partial tail until the client ACKs the
    // head, which a client delaying its ACKs does 40 ms later.
    if (pattern_body && body_size_ > 0) {
      ByteView start = pattern_.at(0, std::min<uint64_t>(body_size_, kBodyInHead));
      const size_t head_size = head_.size();
      head_.resize(head_size + start.size());
      std::memcpy(head_.data() + head_size, start.data(), start.size());
      body_sent_ = start.size();
    }
  }

  PatternWriter pattern_;
  std::string request_;
  bool eof_ = false;
  bool responding_ = false;
  bool head_only_ = false;
  bool close_after_ = false;
  std::string head_;
  size_t head_sent_ = 0;
  uint64_t body_size_ = 0;
  uint64_t body_sent_ = 0;
};

MacAddress random_mac() {
  std::random_device rd;
  std::array<uint8_t, 6> octets{};
  for (auto& o : octets) o = static_cast<uint8_t>(rd());
  // Locally administered, unicast: never collides with a vendor's address.
  octets[0] = static_cast<uint8_t>((octets[0] & 0xfc) | 0x02);
  return MacAddress(octets);
}

// Blocks SIGINT and SIGTERM for the process and returns a signalfd that reads them.
Result<UniqueFd> open_signal_fd() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (sigprocmask(SIG_BLOCK, &set, nullptr) != 0) return error_from_errno(errno);
  // A shell starts background jobs with SIGINT ignored, and an ignored signal never reaches a
  // signalfd; with the signals blocked, the default disposition cannot kill us, so restore it
  // and `kill -INT` stops a backgrounded weir cleanly too.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGINT, &dfl, nullptr);
  sigaction(SIGTERM, &dfl, nullptr);
  // Whoever reads our stdout may go away (`weir serve | head -1`); that must not kill the
  // stack before it flushes the pcap.
  struct sigaction ignore {};
  ignore.sa_handler = SIG_IGN;
  sigaction(SIGPIPE, &ignore, nullptr);
  int fd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return error_from_errno(errno);
  return UniqueFd(fd);
}

void print_counters(const Stack& stack) {
  std::printf("weir: counters (non-zero):\n%s", format_counters(stack, false, "  ").c_str());
}

// CLI11 validators: each returns an empty string when the text is acceptable.
std::string check_prefix(std::string& text) {
  auto prefix = IpPrefix::parse(text);
  if (!prefix) return "'" + text + "' is not an address with a prefix length, e.g. 10.0.0.2/24";
  if (!prefix->address.is_v4()) return "only IPv4 addresses are supported for now";
  if (prefix->length == 0 || prefix->length > 30) return "prefix length must be 1..30";
  return {};
}

std::string check_address(std::string& text) {
  auto address = IpAddress::parse(text);
  if (!address) return "'" + text + "' is not an IP address, e.g. 10.0.0.1";
  if (!address->is_v4()) return "--gateway takes an IPv4 address; use --gateway6 for IPv6";
  return {};
}

std::string check_address6(std::string& text) {
  auto address = IpAddress::parse(text);
  if (!address || !address->is_v6()) return "'" + text + "' is not an IPv6 address, e.g. fe80::1";
  if (address->is_multicast() || address->is_unspecified()) {
    return "the IPv6 gateway must be a unicast address";
  }
  return {};
}

// What run_serve keeps of the link after handing it to the stack (which owns it).
struct LinkParts {
  std::unique_ptr<LinkEndpoint> endpoint;        // the tap or packet link, or the sniffer around it
  std::string kind;                              // "tap", "packet", "dpdk": for the ready line
  std::string name;                              // the interface or port
  const link::LinkCounters* counters = nullptr;  // the link's; owned through endpoint
  // Counters of the link beyond LinkCounters (DPDK's), and what brings them up to date before
  // they are printed; both empty for other links.
  std::function<void(CounterRegistry&)> register_extra;
  std::function<void()> refresh_counters;
  link::SnifferEndpoint* sniffer = nullptr;  // borrowed, owned through endpoint; may be null
  link::FaultEndpoint* fault = nullptr;      // borrowed, owned through endpoint; may be null
};

// --packet: an AF_PACKET socket on an existing interface (a veth end), with weir's own MAC.
Result<std::unique_ptr<link::PacketSocketEndpoint>> open_packet(const ServeOptions& options,
                                                                MacAddress mac) {
  link::PacketSocketOptions packet_options;
  packet_options.interface = options.packet;
  packet_options.mac = mac;
  packet_options.bring_up = true;
  if (options.netns) {
    packet_options.netns = options.netns->find('/') == std::string::npos
                               ? "/var/run/netns/" + *options.netns
                               : *options.netns;
  }
  std::string message;
  auto packet = link::PacketSocketEndpoint::open(packet_options, &message);
  if (!packet) {
    fail(message.empty() ? "cannot open " + options.packet + ": " + describe_error(packet.error())
                         : message);
  }
  return packet;
}

// --dpdk: a DPDK port, with the EAL started from the given arguments.
Status open_dpdk(const ServeOptions& options, MacAddress mac, LinkParts& parts) {
#ifdef WEIR_HAVE_DPDK
  link::DpdkOptions dpdk_options;
  dpdk_options.eal_args = *options.dpdk;
  dpdk_options.port = options.dpdk_port;
  dpdk_options.mac = mac;
  dpdk_options.mtu = options.mtu;
  std::string message;
  auto dpdk = link::DpdkEndpoint::open(dpdk_options, &message);
  if (!dpdk) {
    fail(message.empty() ? "cannot open the DPDK port: " + describe_error(dpdk.error()) : message);
    return dpdk.error();
  }
  link::DpdkEndpoint* endpoint = dpdk->get();  // owned through parts.endpoint, then the NIC
  parts.kind = "dpdk";
  parts.name = endpoint->name();
  parts.counters = &endpoint->counters();
  parts.register_extra = [endpoint](CounterRegistry& registry) {
    registry.add_struct("dpdk", endpoint->dpdk_counters());
  };
  parts.refresh_counters = [endpoint] { endpoint->refresh_port_counters(); };
  parts.endpoint = std::move(dpdk).value();
  return ok_status();
#else
  (void)options;
  (void)mac;
  (void)parts;
  fail(
      "this weir was built without DPDK (libdpdk-dev was not found when it was configured); "
      "install it (scripts/setup.sh) and rebuild, or use --tap or --packet");
  return Error::kNotSupported;
#endif
}

// The tap (or with --packet the packet link, with --dpdk a DPDK port), wrapped by the fault
// endpoint when --fault asks for it, and by the sniffer when a pcap is asked for (so the
// capture shows what the stack sent and what reached it).
Result<LinkParts> open_link(const ServeOptions& options, const Clock& clock, TimerWheel& timers,
                            MacAddress mac) {
  std::string message;
  LinkParts parts;
  if (options.dpdk) {
    WEIR_TRY(open_dpdk(options, mac, parts));
  } else if (!options.packet.empty()) {
    auto packet = open_packet(options, mac);
    if (!packet) return packet.error();
    parts.kind = "packet";
    parts.name = options.packet;
    parts.counters = &(*packet)->counters();
    parts.endpoint = std::move(packet).value();
  } else {
    link::TapOptions tap_options;
    tap_options.name = options.tap;
    tap_options.mtu = options.mtu;
    tap_options.mac = mac;
    tap_options.offloads = options.offloads;
    tap_options.create_if_missing = true;
    // A tap weir created has its kernel side down; one made with `ip tuntap add` is usually up
    // already, and setting it up again is harmless.
    tap_options.bring_up = true;
    if (options.netns) {
      tap_options.netns = options.netns->find('/') == std::string::npos
                              ? "/var/run/netns/" + *options.netns
                              : *options.netns;
    }
    auto tap = link::TapEndpoint::open(tap_options, &message);
    if (!tap) {
      fail(message.empty() ? "cannot open tap " + options.tap + ": " + describe_error(tap.error())
                           : message);
      return tap.error();
    }
    parts.kind = "tap";
    parts.name = options.tap;
    parts.counters = &(*tap)->counters();
    parts.endpoint = std::move(tap).value();
  }
  if (options.fault) {
    auto fault =
        std::make_unique<link::FaultEndpoint>(std::move(parts.endpoint), timers, *options.fault);
    parts.fault = fault.get();
    parts.endpoint = std::move(fault);
  }
  if (options.pcap) {
    auto sniffer =
        link::SnifferEndpoint::create(std::move(parts.endpoint), *options.pcap, clock, &message);
    if (!sniffer) {
      fail(message.empty()
               ? "cannot write " + *options.pcap + ": " + describe_error(sniffer.error())
               : message);
      return sniffer.error();
    }
    parts.sniffer = sniffer->get();
    parts.endpoint = std::move(sniffer).value();
  }
  return parts;
}

}  // namespace

int run_serve(const ServeOptions& options) {
  // Before anything else: a Ctrl-C from here on is read by the loop, not fatal.
  auto signal_fd = open_signal_fd();
  if (!signal_fd) {
    fail("cannot set up signal handling: " + describe_error(signal_fd.error()));
    return 1;
  }

  SteadyClock clock;
  Stack stack(clock);
  ipv4::install(stack);
  if (options.ipv6) ipv6::install(stack);
  udp::install(stack);
  tcp::install(stack);

  MacAddress mac = options.mac.value_or(random_mac());
  auto link = open_link(options, clock, stack.timers(), mac);
  if (!link) return 1;
  stack.counters().add_struct("link", *link->counters);
  if (link->register_extra) link->register_extra(stack.counters());
  if (link->fault != nullptr) stack.counters().add_struct("fault", link->fault->counters());
  if (link->sniffer != nullptr) stack.counters().add_struct("pcap", link->sniffer->counters());
  const std::string link_name = link->name;
  auto nic = stack.add_nic(std::move(link->endpoint), link_name);
  if (!nic) {
    fail("cannot add the NIC: " + describe_error(nic.error()));
    return 1;
  }
  std::vector<IpPrefix> addresses;
  if (options.address) addresses.push_back(*options.address);
  if (options.ipv6) {
    for (const IpPrefix& p : options.addresses6) addresses.push_back(p);
  }
  for (const IpPrefix& p : addresses) {
    if (auto s = stack.add_address(*nic, p); !s) {
      fail("cannot add address " + p.to_string() + ": " + describe_error(s.error()));
      return 1;
    }
  }
  if (options.gateway) {
    stack.add_route(
        Route{IpPrefix{IpAddress::any(AddressFamily::kIpv4), 0}, options.gateway, *nic});
  }
  if (options.ipv6 && options.gateway6) {
    stack.add_route(
        Route{IpPrefix{IpAddress::any(AddressFamily::kIpv6), 0}, options.gateway6, *nic});
  }
  if (options.ipv6) {
    // Autoconfiguration (ipv6/autoconf.h): the link-local address (RFC 7217 stable IID, after
    // DAD), router solicitations, SLAAC addresses and a default route from router
    // advertisements, RDNSS, MLDv2 reports. Enabled after the --ip6 addresses are on the NIC,
    // so those are used as given (like Linux's nodad) and the ready line can show them.
    ipv6::enable_autoconf(stack);
  }

  Loop loop(stack);
  if (auto s = loop.watch(stack.nic(*nic)->endpoint()); !s) {
    fail("cannot watch the link: " + describe_error(s.error()));
    return 1;
  }
  int stop_signal = 0;
  auto watched = loop.watch_fd(signal_fd->get(), EPOLLIN, [&](uint32_t) {
    signalfd_siginfo info{};
    while (::read(signal_fd->get(), &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
      stop_signal = static_cast<int>(info.ssi_signo);
    }
    if (stop_signal != 0) loop.stop();
  });
  if (!watched) {
    fail("cannot watch the signal fd: " + describe_error(watched.error()));
    return 1;
  }

  std::vector<std::unique_ptr<Service>> services;
  services.push_back(std::make_unique<UdpEchoService>(kEchoPort));
  services.push_back(std::make_unique<TcpService>("echo", kEchoPort, [](auto endpoint) {
    return std::make_unique<EchoSession>(std::move(endpoint));
  }));
  services.push_back(std::make_unique<TcpService>("discard", kDiscardPort, [](auto endpoint) {
    return std::make_unique<DiscardSession>(std::move(endpoint), false);
  }));
  services.push_back(std::make_unique<TcpService>("source", kSourcePort, [](auto endpoint) {
    return std::make_unique<SourceSession>(std::move(endpoint));
  }));
  services.push_back(std::make_unique<TcpService>(
      "discard+keepalive", kKeepalivePort,
      [](auto endpoint) { return std::make_unique<DiscardSession>(std::move(endpoint), true); }));
  services.push_back(std::make_unique<TcpService>("http", kHttpPort, [](auto endpoint) {
    return std::make_unique<HttpSession>(std::move(endpoint));
  }));
  std::string offered;
  for (auto& service : services) {
    if (auto s = service->start(stack, loop); !s) {
      fail("cannot start " + service->describe() + ": " + describe_error(s.error()));
      return 1;
    }
    offered += ", " + service->describe();
  }

  std::unique_ptr<StatsServer> stats;
  if (options.stats_socket) {
    std::string message;
    auto server = StatsServer::open(
        *options.stats_socket, loop,
        [&] {
          if (link->refresh_counters) link->refresh_counters();
          std::string report;
          for (auto& service : services) report += service->summary() + "\n";
          return report + format_counters(stack, true);
        },
        &message);
    if (!server) {
      fail(message);
      return 1;
    }
    stats = std::move(server).value();
  }

  // IPv4 first (scripts read that field), then the --ip6 addresses. The link-local address
  // and SLAAC addresses join once DAD passes (`weir stats` shows the autoconf counters).
  std::string shown;
  for (const IpPrefix& p : stack.nic(*nic)->addresses()) {
    shown += (shown.empty() ? "" : " ") + p.to_string();
  }
  std::printf("weir: serving on %s %s %s (%s), mtu %u%s\n", link->kind.c_str(), link_name.c_str(),
              shown.c_str(), mac.to_string().c_str(), stack.nic(*nic)->mtu(), offered.c_str());
  std::fflush(stdout);

  loop.run();

  std::printf("weir: %s, stopping\n", stop_signal == SIGTERM  ? "SIGTERM"
                                      : stop_signal == SIGINT ? "SIGINT"
                                                              : "loop ended");
  stats.reset();
  for (auto& service : services) service->stop();
  int status = 0;
  if (link->sniffer != nullptr) {
    if (auto s = link->sniffer->flush(); !s) {
      fail("writing " + *options.pcap + " failed: " + describe_error(s.error()));
      status = 1;
    } else {
      std::printf("weir: pcap written to %s\n", options.pcap->c_str());
    }
  }
  for (auto& service : services) std::printf("weir: %s\n", service->summary().c_str());
  if (link->refresh_counters) link->refresh_counters();
  print_counters(stack);
  std::fflush(stdout);
  // Services hold stack endpoints, so they go before the stack; the NIC (and the sniffer, which
  // closes its file) goes with the stack at the end of this scope.
  services.clear();
  loop.unwatch_fd(signal_fd->get());
  return status;
}

void add_serve_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "serve", "Run the stack on a tap device and serve echo and friends until SIGINT/SIGTERM");
  cmd->footer(
      "Creates the tap when it does not exist, attaches to it when it does (e.g. one made with\n"
      "'ip tuntap add mode tap NAME'). --packet IFACE runs on an existing interface instead\n"
      "(a veth end) through an AF_PACKET socket, with weir's own MAC (the interface goes\n"
      "promiscuous). --dpdk 'EAL ARGS' runs on a DPDK port: ARGS are the whole EAL command line\n"
      "('' for the default, which needs no hugepages: --no-huge --no-pci -m 256 --no-shconf\n"
      "-l 0 --log-level=*:warning), ports come from --vdev, --dpdk-port picks one (default:\n"
      "the first). Services: UDP echo 7 (RFC 862); TCP echo 7, discard 9\n"
      "(RFC 863), source 19 (send 'N\\n', get N bytes of the pattern, then FIN; 0: endless),\n"
      "discard with keepalive 1009 (idle 2 s, interval 1 s), HTTP/1.1 80 ('GET /bytes/N').\n"
      "The pattern: byte[i] = (i ^ i>>8 ^ i>>16 ^ i>>24) & 0xff, i the offset in the stream.\n"
      "Prints one line starting 'weir: serving on' when ready; on\n"
      "SIGINT/SIGTERM resets open connections, flushes the pcap, prints the counters, exits 0.\n\n"
      "IPv6 runs too unless --no-ip6: every --ip6 address, a link-local address and SLAAC from\n"
      "router advertisements, each service on one dual-stack [::] socket (IPv4 clients appear\n"
      "as ::ffff:a.b.c.d).\n\n"
      "Example: weir serve --tap weir0 --ip 10.0.0.2/24 --gateway 10.0.0.1 --pcap weir.pcap\n"
      "         weir serve --tap weir0 --ip 10.0.0.2/24 --ip6 fd00::2/64 --gateway6 fe80::1\n"
      "         weir serve --packet veth1 --mac 02:00:00:00:00:02 --ip 10.0.0.2/24\n"
      "         weir serve --dpdk '--no-huge --no-pci -m 256 --no-shconf -l 0\n"
      "             --vdev=net_tap0,iface=dtap0' --ip 10.0.0.2/24\n");
  // The parsed strings live in this shared state, which the callback owns.
  struct Raw {
    std::string tap, packet, ip, gateway, gateway6, mac, pcap, netns, stats_socket, dpdk_port;
    std::optional<std::string> dpdk;
    std::vector<std::string> ip6;
    bool no_ip6 = false;
    bool no_offload = false;
    std::optional<link::FaultOptions> fault;
    uint32_t mtu = 0;
  };
  auto raw = std::make_shared<Raw>();
  cmd->add_option("--tap", raw->tap, "Tap device name (created if missing)")
      ->check(CLI::Validator(check_interface_name, "NAME"));
  cmd->add_option("--packet", raw->packet,
                  "Instead of --tap: an existing interface (e.g. a veth end) to use through an\n"
                  "AF_PACKET socket, with weir's own MAC")
      ->check(CLI::Validator(check_interface_name, "IFACE"));
  cmd->add_option("--dpdk", raw->dpdk,
                  "Instead of --tap: a DPDK port, the EAL started with these arguments (one\n"
                  "word; '' for the default), e.g. '--no-huge --no-pci -m 256 --no-shconf -l 0\n"
                  "--vdev=net_tap0,iface=dtap0'");
  cmd->add_option(
      "--dpdk-port", raw->dpdk_port,
      "With --dpdk: the port, by device name (net_tap0) or number (default: the first)");
  cmd->add_option("--ip", raw->ip,
                  "The stack's IPv4 address and prefix, e.g. 10.0.0.2/24 (needed unless --ip6)")
      ->check(CLI::Validator(check_prefix, "ADDR/PREFIX"));
  cmd->add_option("--gateway", raw->gateway, "Default IPv4 route via this address")
      ->check(CLI::Validator(check_address, "ADDR"));
  cmd->add_option("--ip6", raw->ip6,
                  "An IPv6 address and prefix, e.g. fd00::2/64 (repeatable); a link-local address\n"
                  "and SLAAC addresses from router advertisements come on their own")
      ->check(CLI::Validator(check_prefix6, "ADDR/PREFIX"));
  cmd->add_option("--gateway6", raw->gateway6,
                  "Default IPv6 route via this address (link-local, or inside an --ip6 prefix)")
      ->check(CLI::Validator(check_address6, "ADDR"));
  cmd->add_flag("--no-ip6", raw->no_ip6, "Run without IPv6 (IPv4 only, as before IPv6 existed)");
  cmd->add_option("--mac", raw->mac,
                  "The stack's MAC address (default: random, locally administered)")
      ->check(CLI::Validator(check_mac, "MAC"));
  cmd->add_option("--pcap", raw->pcap,
                  "Write every frame the stack sends and receives to FILE (pcap)");
  cmd->add_option("--mtu", raw->mtu, "Link MTU in bytes, also set on the tap (default: the tap's)")
      ->check(CLI::Range(kMinMtu, kMaxMtu));
  add_fault_option(cmd, raw->fault, "the link");
  cmd->add_flag("--no-offload", raw->no_offload,
                "Plain frames on the tap: no checksum or segmentation offload with the kernel");
  cmd->add_option("--stats-socket", raw->stats_socket,
                  "Answer 'weir stats PATH' on this Unix socket while serving");
  cmd->add_option("--netns", raw->netns,
                  "Open the tap inside this network namespace (a name from 'ip netns' or a path);\n"
                  "weir itself stays where it is");

  cmd->callback([raw] {
    ServeOptions options;
    const int links =
        int{!raw->tap.empty()} + int{!raw->packet.empty()} + int{raw->dpdk.has_value()};
    if (links != 1) {
      throw CLI::ValidationError(
          "--tap", "give exactly one link: --tap NAME, --packet IFACE or --dpdk 'EAL ARGS'");
    }
    if (!raw->packet.empty() && (raw->mtu != 0 || raw->no_offload)) {
      throw CLI::ValidationError("--packet",
                                 "takes the interface's MTU and has no offloads to turn "
                                 "off: drop --mtu and --no-offload");
    }
    if (!raw->dpdk_port.empty() && !raw->dpdk) {
      throw CLI::ValidationError("--dpdk-port", "needs --dpdk");
    }
    if (raw->dpdk && (raw->no_offload || !raw->netns.empty())) {
      throw CLI::ValidationError(
          "--dpdk",
          "has no tap offloads to turn off, and its devices live in weir's own "
          "namespace (run weir there with 'ip netns exec'): drop --no-offload and --netns");
    }
    options.dpdk = raw->dpdk;
    options.dpdk_port = raw->dpdk_port;
    options.tap = raw->tap;
    options.packet = raw->packet;
    if (!raw->ip.empty()) options.address = IpPrefix::parse(raw->ip).value();
    options.ipv6 = !raw->no_ip6;
    options.offloads = !raw->no_offload;
    options.fault = raw->fault;
    if (raw->no_ip6 && (!raw->ip6.empty() || !raw->gateway6.empty())) {
      throw CLI::ValidationError("--no-ip6", "cannot be combined with --ip6 or --gateway6");
    }
    if (!options.address && raw->ip6.empty()) {
      throw CLI::ValidationError("--ip",
                                 "give an address: --ip ADDR/PREFIX and/or --ip6 ADDR/PREFIX");
    }
    for (const auto& text : raw->ip6) options.addresses6.push_back(IpPrefix::parse(text).value());
    if (!raw->gateway6.empty()) {
      options.gateway6 = IpAddress::parse(raw->gateway6).value();
      const Ipv6Address g = options.gateway6->v6();
      bool on_link = g.is_link_local();
      for (const auto& p : options.addresses6) {
        if (p.address == *options.gateway6) {
          throw CLI::ValidationError("--gateway6", "the gateway cannot be the stack's own address");
        }
        on_link = on_link || p.contains(*options.gateway6);
      }
      if (!on_link) {
        throw CLI::ValidationError(
            "--gateway6", raw->gateway6 + " is neither link-local nor inside an --ip6 prefix");
      }
    }
    if (raw->mtu != 0) options.mtu = raw->mtu;
    if (!raw->netns.empty()) options.netns = raw->netns;
    if (!raw->stats_socket.empty()) options.stats_socket = raw->stats_socket;
    if (!raw->gateway.empty()) {
      options.gateway = IpAddress::parse(raw->gateway).value();
      if (!options.address) throw CLI::ValidationError("--gateway", "needs --ip");
      if (!options.address->contains(*options.gateway)) {
        throw CLI::ValidationError("--gateway", raw->gateway + " is not inside " + raw->ip);
      }
      if (*options.gateway == options.address->address) {
        throw CLI::ValidationError("--gateway", "the gateway cannot be the stack's own address");
      }
    }
    if (!raw->mac.empty()) options.mac = MacAddress::parse(raw->mac).value();
    if (!raw->pcap.empty()) options.pcap = raw->pcap;
    int status = run_serve(options);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace weir::tools
