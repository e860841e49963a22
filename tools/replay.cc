// `weir replay`: see tools/replay.h for the theory of operation.
#include "tools/replay.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <deque>
#include <map>
#include <utility>

#include "ipv4/ipv4.h"
#include "ipv6/ipv6.h"
#include "link/channel.h"
#include "stack/checksum.h"
#include "stack/stack.h"
#include "stack/waiter.h"
#include "tcp/endpoint.h"
#include "tcp/tcp.h"
#include "tools/cli_checks.h"
#include "udp/endpoint.h"
#include "udp/udp.h"

namespace weir::tools {

using link::PcapRecord;

namespace {

constexpr uint16_t kEchoPort = 7;     // RFC 862
constexpr uint16_t kDiscardPort = 9;  // RFC 863
constexpr uint16_t kHttpPort = 80;
constexpr size_t kReadChunk = 16384;
constexpr uint16_t kEthernetHeader = 14;

}  // namespace

// ---- Services -------------------------------------------------------------------------------
//
// The same services and ports as `weir serve`, written against the stack's non-blocking
// sockets without a Loop: socket callbacks fire from inside the stack, so they only queue work
// (by session id, so work queued for a session that has since ended does nothing), and
// ReplayStack::settle() runs the queue between packets, as serve's loop runs posted work.

class ReplaySession {
 public:
  explicit ReplaySession(std::unique_ptr<tcp::Endpoint> endpoint)
      : endpoint_(std::move(endpoint)) {}
  virtual ~ReplaySession() = default;
  ReplaySession(const ReplaySession&) = delete;
  ReplaySession& operator=(const ReplaySession&) = delete;
  // Does the work that will not block; false when the session is over (dropping the
  // endpoint then closes the connection gracefully).
  virtual bool on_ready() = 0;
  tcp::Endpoint& endpoint() { return *endpoint_; }

 protected:
  // nullopt: nothing now. 0: end of stream.
  Result<std::optional<size_t>> read_some(MutableByteView out) {
    auto n = endpoint_->read(out);
    if (!n) {
      if (n.error() == Error::kWouldBlock) return std::optional<size_t>();
      return n.error();
    }
    return std::optional<size_t>(*n);
  }
  // 0 when the send buffer is full.
  Result<size_t> write_some(ByteView data) {
    auto n = endpoint_->write(data);
    if (!n) {
      if (n.error() == Error::kWouldBlock) return size_t{0};
      return n.error();
    }
    return *n;
  }

 private:
  friend class ReplayServices;
  std::unique_ptr<tcp::Endpoint> endpoint_;
  std::unique_ptr<Waiter> waiter_;  // after endpoint_: unlinks before the endpoint goes
  bool queued_ = false;
};

namespace {

// Writes `pending` out as the send buffer allows; true when all of it is gone.
class Outbox {
 public:
  void add(ByteView bytes) { bytes_.insert(bytes_.end(), bytes.begin(), bytes.end()); }
  bool empty() const { return sent_ == bytes_.size(); }
  template <typename Write>
  Result<bool> flush(Write write) {
    while (!empty()) {
      auto n = write(ByteView(bytes_).subspan(sent_));
      if (!n) return n.error();
      if (*n == 0) return false;
      sent_ += *n;
    }
    bytes_.clear();
    sent_ = 0;
    return true;
  }

 private:
  std::vector<std::byte> bytes_;
  size_t sent_ = 0;
};

class EchoSession final : public ReplaySession {
 public:
  using ReplaySession::ReplaySession;
  bool on_ready() override {
    for (;;) {
      auto flushed = out_.flush([this](ByteView b) { return write_some(b); });
      if (!flushed) return false;
      if (!*flushed) return true;
      if (eof_) return false;
      auto n = read_some(buffer_);
      if (!n) return false;
      if (!*n) return true;
      if (**n == 0) {
        eof_ = true;
        continue;
      }
      out_.add(ByteView(buffer_).first(**n));
    }
  }

 private:
  std::vector<std::byte> buffer_ = std::vector<std::byte>(kReadChunk);
  Outbox out_;
  bool eof_ = false;
};

class DiscardSession final : public ReplaySession {
 public:
  using ReplaySession::ReplaySession;
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

// The stream pattern of weir's services (see tools/serve.cc): byte i of a stream is
// (i ^ i>>8 ^ i>>16 ^ i>>24) & 0xff.
std::byte pattern_byte(uint64_t offset) {
  auto i = static_cast<uint32_t>(offset);
  return static_cast<std::byte>((i ^ (i >> 8) ^ (i >> 16) ^ (i >> 24)) & 0xff);
}

// HTTP/1.1 GET or HEAD of / (a short page) or /bytes/N (N bytes of the pattern, N up to
// 16 MiB here: replay sessions are small); anything else 404/405/400 and close. Persistent
// connections and pipelining work as in serve.
class HttpSession final : public ReplaySession {
 public:
  static constexpr size_t kMaxRequestHeader = 16384;
  static constexpr uint64_t kMaxBytes = uint64_t{16} << 20;
  using ReplaySession::ReplaySession;

  bool on_ready() override {
    for (;;) {
      auto flushed = out_.flush([this](ByteView b) { return write_some(b); });
      if (!flushed) return false;
      if (!*flushed) return true;
      if (body_sent_ < body_size_) {
        std::array<std::byte, 4096> block{};
        const size_t n =
            static_cast<size_t>(std::min<uint64_t>(block.size(), body_size_ - body_sent_));
        for (size_t k = 0; k < n; ++k) block[k] = pattern_byte(body_sent_ + k);
        out_.add(ByteView(block).first(n));
        body_sent_ += n;
        continue;
      }
      if (close_after_) return false;
      if (auto end = request_.find("\r\n\r\n"); end != std::string::npos) {
        std::string head = request_.substr(0, end);
        request_.erase(0, end + 4);
        respond(head);
        continue;
      }
      if (request_.size() > kMaxRequestHeader || eof_) return false;
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
  void respond(const std::string& head) {
    std::string line = head.substr(0, head.find("\r\n"));
    const size_t sp1 = line.find(' ');
    const size_t sp2 = sp1 == std::string::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string::npos)
      return reply(400, "Bad Request", "malformed request line\n", 0, true);
    const std::string method = line.substr(0, sp1);
    const std::string target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string version = line.substr(sp2 + 1);
    std::string lower = head;
    for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    const bool close = version == "HTTP/1.0"
                           ? lower.find("connection: keep-alive") == std::string::npos
                           : lower.find("connection: close") != std::string::npos;
    head_only_ = method == "HEAD";
    if (method != "GET" && method != "HEAD")
      return reply(405, "Method Not Allowed", "GET and HEAD only\n", 0, true);
    if (target == "/") return reply(200, "OK", "weir replay: hello\n", 0, close);
    constexpr std::string_view kBytes = "/bytes/";
    if (target.starts_with(kBytes) && target.size() > kBytes.size() &&
        target.size() <= kBytes.size() + 8 &&
        std::all_of(target.begin() + kBytes.size(), target.end(),
                    [](char c) { return c >= '0' && c <= '9'; })) {
      const uint64_t n = std::stoull(target.substr(kBytes.size()));
      if (n <= kMaxBytes) return reply(200, "OK", "", n, close);
    }
    reply(404, "Not Found", "not found\n", 0, close);
  }

  void reply(int code, const std::string& reason, const std::string& text, uint64_t pattern,
             bool close) {
    const uint64_t length = text.size() + pattern;
    std::string h = "HTTP/1.1 " + std::to_string(code) + " " + reason + "\r\n" +
                    "Server: weir\r\nContent-Type: " +
                    (pattern != 0 ? "application/octet-stream" : "text/plain") + "\r\n" +
                    "Content-Length: " + std::to_string(length) + "\r\n" +
                    (close ? "Connection: close\r\n" : "") + "\r\n";
    if (!head_only_) h += text;
    out_.add(as_bytes(std::span(h)));
    body_sent_ = 0;
    body_size_ = head_only_ ? 0 : pattern;
    close_after_ = close;
  }

  std::string request_;
  Outbox out_;
  uint64_t body_size_ = 0;
  uint64_t body_sent_ = 0;
  bool head_only_ = false;
  bool close_after_ = false;
  bool eof_ = false;
};

}  // namespace

class ReplayServices {
 public:
  using Factory = std::function<std::unique_ptr<ReplaySession>(std::unique_ptr<tcp::Endpoint>)>;

  explicit ReplayServices(Stack& stack) : stack_(stack) {}
  ~ReplayServices() {
    // Sessions and listeners go before the work that names them.
    sessions_.clear();
    listeners_.clear();
  }

  Status start() {
    const AddressFamily family = stack_.ip_protocol(AddressFamily::kIpv6) != nullptr
                                     ? AddressFamily::kIpv6
                                     : AddressFamily::kIpv4;
    auto udp = udp::Endpoint::create(stack_, family);
    if (!udp) return udp.error();
    udp_echo_ = std::move(udp).value();
    WEIR_TRY(udp_echo_->bind(SocketAddress{IpAddress::any(family), kEchoPort}));
    udp_waiter_ = std::make_unique<Waiter>(kEventReadable, [this](EventMask) {
      if (udp_queued_) return;
      udp_queued_ = true;
      work_.push_back([this] { drain_udp(); });
    });
    udp_echo_->waiters().add(*udp_waiter_);
    WEIR_TRY(listen(family, kEchoPort,
                    [](auto ep) { return std::make_unique<EchoSession>(std::move(ep)); }));
    WEIR_TRY(listen(family, kDiscardPort,
                    [](auto ep) { return std::make_unique<DiscardSession>(std::move(ep)); }));
    WEIR_TRY(listen(family, kHttpPort,
                    [](auto ep) { return std::make_unique<HttpSession>(std::move(ep)); }));
    return ok_status();
  }

  // Runs queued work, including work that work queues, until none is left.
  void settle() {
    while (!work_.empty()) {
      auto fn = std::move(work_.front());
      work_.pop_front();
      fn();
    }
  }

 private:
  struct Listener {
    std::unique_ptr<tcp::Endpoint> endpoint;
    std::unique_ptr<Waiter> waiter;  // after endpoint: unlinks first
    Factory factory;
    bool queued = false;
  };

  Status listen(AddressFamily family, uint16_t port, Factory factory) {
    auto listener = std::make_unique<Listener>();
    listener->endpoint = tcp::Endpoint::create(stack_, family);
    if (!listener->endpoint) return Error::kProtocolNotSupported;
    listener->endpoint->set_reuse_address(true);
    WEIR_TRY(listener->endpoint->bind(SocketAddress{IpAddress::any(family), port}));
    WEIR_TRY(listener->endpoint->listen(128));
    listener->factory = std::move(factory);
    Listener* raw = listener.get();  // borrowed: listeners_ owns it for the services' life
    listener->waiter = std::make_unique<Waiter>(kEventReadable, [this, raw](EventMask) {
      if (raw->queued) return;
      raw->queued = true;
      work_.push_back([this, raw] { accept_all(*raw); });
    });
    listener->endpoint->waiters().add(*listener->waiter);
    listeners_.push_back(std::move(listener));
    return ok_status();
  }

  void accept_all(Listener& listener) {
    listener.queued = false;
    for (;;) {
      auto accepted = listener.endpoint->accept();
      if (!accepted) break;
      const uint64_t id = next_id_++;
      auto session = listener.factory(std::move(accepted).value());
      session->waiter_ = std::make_unique<Waiter>(
          kEventReadable | kEventWritable | kEventError | kEventHangup | kEventReadHangup,
          [this, id](EventMask) { queue(id); });
      session->endpoint().waiters().add(*session->waiter_);
      sessions_.emplace(id, std::move(session));
      // Data may have come with the handshake's last ACK, before the waiter was there.
      queue(id);
    }
  }

  void queue(uint64_t id) {
    auto it = sessions_.find(id);
    if (it == sessions_.end() || it->second->queued_) return;
    it->second->queued_ = true;
    work_.push_back([this, id] { run(id); });
  }

  void run(uint64_t id) {
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return;
    it->second->queued_ = false;
    if (!it->second->on_ready()) sessions_.erase(it);
  }

  void drain_udp() {
    udp_queued_ = false;
    for (;;) {
      auto datagram = udp_echo_->receive_packet();
      if (!datagram) break;
      // Answering another echo/chargen service would ping-pong forever (CA-1996-01).
      const uint16_t from = datagram->from.port;
      if (from == 7 || from == 9 || from == 13 || from == 17 || from == 19) continue;
      (void)udp_echo_->send_packet(std::move(datagram->payload), datagram->from);
    }
  }

  Stack& stack_;
  std::deque<std::function<void()>> work_;
  std::unique_ptr<udp::Endpoint> udp_echo_;
  std::unique_ptr<Waiter> udp_waiter_;  // after udp_echo_: unlinks first
  bool udp_queued_ = false;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::map<uint64_t, std::unique_ptr<ReplaySession>> sessions_;
  uint64_t next_id_ = 1;
};

// ---- ReplayStack ----------------------------------------------------------------------------

ReplayStack::ReplayStack(const Clock& clock, const ReplayStackOptions& options)
    : options_(options) {
  // The secrets follow from the seed too: a replay's ISNs must repeat.
  StackOptions stack_options = repeatable_stack_options(options.seed);
  stack_options.timer_tick = kReplayTimerTick;
  stack_ = std::make_unique<Stack>(clock, stack_options);
  ipv4::install(*stack_);
  if (!options.addresses6.empty()) ipv6::install(*stack_);
  udp::install(*stack_);
  tcp::install(*stack_);
}

ReplayStack::~ReplayStack() { services_.reset(); }

Status ReplayStack::start(std::unique_ptr<LinkEndpoint> endpoint, std::string* message) {
  auto nic = stack_->add_nic(std::move(endpoint), "eth0");
  if (!nic) {
    if (message) *message = "cannot add the NIC: " + std::string(error_name(nic.error()));
    return nic.error();
  }
  std::vector<IpPrefix> addresses = options_.addresses6;
  if (options_.address) addresses.insert(addresses.begin(), *options_.address);
  for (const IpPrefix& p : addresses) {
    if (auto s = stack_->add_address(*nic, p); !s) {
      if (message)
        *message =
            "cannot add address " + p.to_string() + ": " + std::string(error_name(s.error()));
      return s.error();
    }
  }
  services_ = std::make_unique<ReplayServices>(*stack_);
  if (auto s = services_->start(); !s) {
    if (message) *message = "cannot start the services: " + std::string(error_name(s.error()));
    return s.error();
  }
  return ok_status();
}

void ReplayStack::settle() {
  if (services_) services_->settle();
}

void ReplayStack::run_timers() {
  stack_->run_timers();
  settle();
}

// ---- Replay -----------------------------------------------------------------------------------

namespace {

void set_message(std::string* message, std::string text) {
  if (message) *message = std::move(text);
}

// Reads the whole capture and refuses what cannot be replayed faithfully, before anything runs.
Result<std::vector<PcapRecord>> read_replayable(const std::string& path, std::string* message) {
  auto reader = link::PcapReader::open(path, message);
  if (!reader) return reader.error();
  if ((*reader)->link_type() != DLT_EN10MB) {
    set_message(message, "'" + path + "' has link type " + std::to_string((*reader)->link_type()) +
                             "; replay needs an Ethernet capture (DLT_EN10MB, 1)");
    return Error::kNotSupported;
  }
  std::vector<PcapRecord> records;
  for (;;) {
    std::string why;
    auto record = (*reader)->next(&why);
    if (!record) {
      set_message(message, "'" + path + "': " + why);
      return record.error();
    }
    if (!*record) break;
    const size_t n = records.size() + 1;
    if ((*record)->truncated()) {
      set_message(message, "'" + path + "': frame " + std::to_string(n) + " was cut to " +
                               std::to_string((*record)->bytes.size()) + " of " +
                               std::to_string((*record)->original_length) +
                               " bytes when captured (snap length); replay needs whole frames");
      return Error::kBadMessage;
    }
    if ((*record)->bytes.size() < kEthernetHeader) {
      set_message(message, "'" + path + "': frame " + std::to_string(n) + " is " +
                               std::to_string((*record)->bytes.size()) +
                               " bytes, shorter than an Ethernet header (14)");
      return Error::kBadMessage;
    }
    // Timers add their delays to the clock; far in the future they would overflow it.
    constexpr Duration kLatest = std::chrono::seconds(7'258'118'400);  // 2200-01-01
    if ((*record)->timestamp >= kLatest) {
      set_message(message, "'" + path + "': frame " + std::to_string(n) +
                               " has a timestamp after 2200; replay runs its clock from the "
                               "capture's timestamps and cannot run one that late");
      return Error::kBadMessage;
    }
    records.push_back(std::move(**record));
  }
  return records;
}

uint16_t be16_at(const std::vector<std::byte>& b, size_t off) {
  return static_cast<uint16_t>(std::to_integer<uint16_t>(b[off]) << 8 |
                               std::to_integer<uint16_t>(b[off + 1]));
}

}  // namespace

bool fix_transport_checksum(std::vector<std::byte>& frame) {
  if (frame.size() < kEthernetHeader + 20) return false;
  const uint16_t type = be16_at(frame, 12);
  const size_t ip = kEthernetHeader;
  size_t transport = 0;
  size_t end = 0;
  uint8_t protocol = 0;
  IpAddress src;
  IpAddress dst;
  if (type == 0x0800) {
    const size_t ihl = (std::to_integer<size_t>(frame[ip]) & 0xf) * 4;
    const size_t total = be16_at(frame, ip + 2);
    const uint16_t frag = be16_at(frame, ip + 6);
    // Only whole datagrams: a fragment's checksum covers bytes it does not hold.
    if (ihl < 20 || total < ihl || ip + total > frame.size() || (frag & 0x3fff) != 0) return false;
    protocol = std::to_integer<uint8_t>(frame[ip + 9]);
    src = IpAddress(Ipv4Address::from_bytes(ByteView(frame).subspan(ip + 12, 4)));
    dst = IpAddress(Ipv4Address::from_bytes(ByteView(frame).subspan(ip + 16, 4)));
    transport = ip + ihl;
    end = ip + total;
  } else if (type == 0x86dd) {
    if (frame.size() < ip + 40) return false;
    const size_t payload = be16_at(frame, ip + 4);
    if (ip + 40 + payload > frame.size()) return false;
    protocol = std::to_integer<uint8_t>(frame[ip + 6]);
    std::array<uint8_t, 16> a{};
    std::array<uint8_t, 16> b{};
    for (size_t i = 0; i < 16; ++i) {
      a[i] = std::to_integer<uint8_t>(frame[ip + 8 + i]);
      b[i] = std::to_integer<uint8_t>(frame[ip + 24 + i]);
    }
    src = IpAddress(Ipv6Address(a));
    dst = IpAddress(Ipv6Address(b));
    transport = ip + 40;
    end = transport + payload;
  } else {
    return false;
  }
  size_t field = 0;
  if (protocol == 6 && end - transport >= 20) {
    field = transport + 16;
  } else if (protocol == 17 && end - transport >= 8) {
    // An IPv4 UDP sum of zero means "none"; filling one in would change the datagram.
    if (type == 0x0800 && be16_at(frame, transport + 6) == 0) return false;
    field = transport + 6;
  } else {
    return false;
  }
  const uint16_t old_sum = be16_at(frame, field);
  frame[field] = std::byte{0};
  frame[field + 1] = std::byte{0};
  ChecksumAccumulator acc;
  acc.add_u16(pseudo_header_sum(src, dst, protocol, static_cast<uint32_t>(end - transport)));
  acc.add(ByteView(frame).subspan(transport, end - transport));
  uint16_t sum = acc.finish();
  if (protocol == 17 && sum == 0) sum = 0xffff;  // RFC 768: a computed zero is sent as ones
  frame[field] = std::byte(static_cast<uint8_t>(sum >> 8));
  frame[field + 1] = std::byte(static_cast<uint8_t>(sum));
  return sum != old_sum;
}

namespace {

// Drives one ReplayStack through a capture and writes what it sends.
class Replayer {
 public:
  Replayer(TimePoint start, const ReplayStackOptions& options, link::PcapWriter& writer)
      : origin_(start), clock_(start), stack_(clock_, options), writer_(writer) {}

  Status start(std::string* message) {
    link::ChannelOptions channel;
    channel.mac_a = mac_;
    auto [endpoint, peer] = link::ChannelEndpoint::make_test_pair(channel);
    peer_ = std::move(peer);
    // The stack owns the endpoint from here on, so the counters outlive the registry's use.
    stack_.stack().counters().add_struct("link", endpoint->counters());
    return stack_.start(std::move(endpoint), message);
  }

  std::vector<std::pair<std::string, uint64_t>> drops() {
    std::vector<std::pair<std::string, uint64_t>> out;
    stack_.stack().counters().for_each(
        [&](std::string_view group, std::string_view name, uint64_t value) {
          if (value != 0 && name.find("drop") != std::string_view::npos) {
            out.emplace_back(std::string(group) + "." + std::string(name), value);
          }
        });
    return out;
  }

  // Fires every timer due up to `until`, each at the instant the wheel fires it, recording
  // what they send.
  void run_timers_until(TimePoint until) {
    for (;;) {
      auto next = stack_.stack().timers().next_deadline();
      if (!next) break;
      const TimePoint at = std::max(fire_time(*next), clock_.now());
      if (at > until) break;
      const TimePoint before = clock_.now();
      clock_.set(at);
      const size_t fired = stack_.stack().run_timers();
      stack_.settle();
      collect();
      // A deadline that fires nothing is a wheel cascade bound (timer.h), and the exact one is
      // asked again. Should time not have moved either, step one tick so the walk ends.
      if (fired == 0 && at == before) {
        if (before + kTick > until) break;
        clock_.set(before + kTick);
      }
    }
    if (until > clock_.now()) clock_.set(until);
  }

  void deliver(const PcapRecord& record) {
    const TimePoint at{record.timestamp};
    // A capture may go back in time (merged files, clock steps): the stack's clock never does.
    run_timers_until(std::max(at, clock_.now()));
    stack_.run_timers();
    stack_.settle();
    collect();
    (void)peer_->inject(ByteView(record.bytes));  // a full queue is impossible: one frame
    stack_.settle();
    collect();
  }

  uint64_t frames_out() const { return frames_out_; }
  TimePoint now() const { return clock_.now(); }
  void set_mac(MacAddress mac) { mac_ = mac; }

 private:
  // The timer wheel starts at the stack's creation (origin_) and fires a timer at the start of
  // the first tick at or after its deadline, so that is when the clock must read to fire it,
  // exactly as a live stack stepping its clock by ticks would have.
  TimePoint fire_time(TimePoint deadline) const {
    if (deadline <= origin_) return origin_;
    const auto ticks = (deadline - origin_ + kTick - Duration(1)) / kTick;
    return origin_ + ticks * kTick;
  }

  void collect() {
    while (auto frame = peer_->read()) {
      writer_.write(clock_.now().time_since_epoch(), *frame);
      ++frames_out_;
    }
  }

  static constexpr Duration kTick = kReplayTimerTick;

  TimePoint origin_;
  ManualClock clock_;
  ReplayStack stack_;
  link::PcapWriter& writer_;
  std::unique_ptr<link::FramePeer> peer_;
  MacAddress mac_;
  uint64_t frames_out_ = 0;
};

}  // namespace

Result<ReplayResult> replay_capture(const ReplayOptions& options, std::string* message) {
  if (options.stack.seed == 0) {
    set_message(message, "--seed must not be 0 (0 would seed from the OS, and replay must repeat)");
    return Error::kInvalidArgument;
  }
  auto records = read_replayable(options.in, message);
  if (!records) return records.error();
  std::string why;
  auto writer = link::PcapWriter::create(options.out, DLT_EN10MB, &why);
  if (!writer) {
    set_message(message, why);
    return writer.error();
  }
  // The clock starts at the first frame, so the stack's timer wheel and every timestamp it
  // writes line up with the capture's; an empty capture starts at the epoch.
  const TimePoint start{records->empty() ? Duration{} : records->front().timestamp};
  Replayer replayer(start, options.stack, **writer);
  replayer.set_mac(options.stack.mac);
  if (auto s = replayer.start(message); !s) return s.error();
  for (PcapRecord& record : *records) {
    if (options.fix_checksums) fix_transport_checksum(record.bytes);
    replayer.deliver(record);
  }
  replayer.run_timers_until(replayer.now() + options.tail);
  if (auto s = (*writer)->flush(); !s) {
    set_message(message,
                "cannot write '" + options.out + "': " + std::string(error_name(s.error())));
    return s.error();
  }
  return ReplayResult{records->size(), replayer.frames_out(), replayer.drops()};
}

// ---- Diff ---------------------------------------------------------------------------------

namespace {

// Bounds-checked big-endian reads from one frame; a read past the end yields nullopt.
class FieldReader {
 public:
  explicit FieldReader(ByteView bytes) : bytes_(bytes) {}
  std::optional<uint32_t> u8(size_t off) const { return get(off, 1); }
  std::optional<uint32_t> u16(size_t off) const { return get(off, 2); }
  std::optional<uint32_t> u32(size_t off) const { return get(off, 4); }
  std::optional<ByteView> span(size_t off, size_t len) const {
    if (off > bytes_.size() || len > bytes_.size() - off) return std::nullopt;
    return bytes_.subspan(off, len);
  }
  size_t size() const { return bytes_.size(); }

 private:
  std::optional<uint32_t> get(size_t off, size_t len) const {
    auto s = span(off, len);
    if (!s) return std::nullopt;
    uint32_t v = 0;
    for (std::byte b : *s) v = (v << 8) | std::to_integer<uint32_t>(b);
    return v;
  }
  ByteView bytes_;
};

std::string hex(uint32_t v) {
  std::array<char, 16> buf{};
  std::snprintf(buf.data(), buf.size(), "0x%x", v);
  return buf.data();
}

std::string mac_text(ByteView b) {
  std::string s;
  for (size_t i = 0; i < b.size(); ++i) {
    std::array<char, 4> buf{};
    std::snprintf(buf.data(), buf.size(), "%02x", std::to_integer<unsigned>(b[i]));
    s += (i ? ":" : "") + std::string(buf.data());
  }
  return s;
}

std::string ipv4_text(ByteView b) {
  return std::to_string(std::to_integer<int>(b[0])) + "." +
         std::to_string(std::to_integer<int>(b[1])) + "." +
         std::to_string(std::to_integer<int>(b[2])) + "." +
         std::to_string(std::to_integer<int>(b[3]));
}

std::string ipv6_text(ByteView b) {
  std::array<uint8_t, 16> a{};
  for (size_t i = 0; i < 16; ++i) a[i] = std::to_integer<uint8_t>(b[i]);
  return Ipv6Address(a).to_string();
}

std::string tcp_flags_text(uint32_t flags) {
  static constexpr std::array<const char*, 8> kNames = {"FIN", "SYN", "RST", "PSH",
                                                        "ACK", "URG", "ECE", "CWR"};
  std::string s;
  for (size_t i = 0; i < kNames.size(); ++i) {
    if (flags & (1u << i)) s += (s.empty() ? "" : "|") + std::string(kNames[i]);
  }
  return s.empty() ? "none" : s;
}

class FrameDecoder {
 public:
  explicit FrameDecoder(ByteView frame) : r_(frame) {}

  std::vector<FrameField> decode() {
    add("length", std::to_string(r_.size()));
    auto dst = r_.span(0, 6);
    auto src = r_.span(6, 6);
    auto type = r_.u16(12);
    if (!dst || !src || !type) {
      truncated("eth", 0);
      return std::move(fields_);
    }
    add("eth.dst", mac_text(*dst));
    add("eth.src", mac_text(*src));
    add("eth.type", hex(*type));
    switch (*type) {
      case 0x0806:
        arp(kEthernetHeader);
        break;
      case 0x0800:
        ipv4(kEthernetHeader);
        break;
      case 0x86dd:
        ipv6(kEthernetHeader);
        break;
      default:
        payload("eth", kEthernetHeader);
        break;
    }
    return std::move(fields_);
  }

 private:
  void add(std::string name, std::string value) {
    fields_.push_back(FrameField{std::move(name), std::move(value), {}});
  }
  void truncated(const std::string& layer, size_t off) {
    add(layer + ".truncated", "at byte " + std::to_string(off));
  }
  void payload(const std::string& layer, size_t off) {
    auto rest = r_.span(std::min(off, r_.size()), r_.size() - std::min(off, r_.size()));
    FrameField f{layer + ".payload", std::to_string(rest->size()) + " bytes",
                 to_byte_vector(*rest)};
    fields_.push_back(std::move(f));
  }

  void arp(size_t o) {
    auto op = r_.u16(o + 6);
    auto sha = r_.span(o + 8, 6), spa = r_.span(o + 14, 4), tha = r_.span(o + 18, 6),
         tpa = r_.span(o + 24, 4);
    if (!op || !sha || !spa || !tha || !tpa) {
      truncated("arp", o);
      return;
    }
    add("arp.htype", std::to_string(*r_.u16(o)));
    add("arp.ptype", hex(*r_.u16(o + 2)));
    add("arp.op", std::to_string(*op));
    add("arp.sha", mac_text(*sha));
    add("arp.spa", ipv4_text(*spa));
    add("arp.tha", mac_text(*tha));
    add("arp.tpa", ipv4_text(*tpa));
    payload("arp", o + 28);
  }

  void ipv4(size_t o) {
    auto vihl = r_.u8(o);
    auto dst = r_.span(o + 16, 4);
    if (!vihl || !dst) {
      truncated("ip", o);
      return;
    }
    const size_t ihl = (*vihl & 0xf) * 4u;
    add("ip.version", std::to_string(*vihl >> 4));
    add("ip.ihl", std::to_string(ihl));
    add("ip.tos", hex(*r_.u8(o + 1)));
    add("ip.len", std::to_string(*r_.u16(o + 2)));
    add("ip.id", std::to_string(*r_.u16(o + 4)));
    const uint32_t frag = *r_.u16(o + 6);
    add("ip.flags", hex(frag >> 13));
    add("ip.frag_offset", std::to_string((frag & 0x1fff) * 8));
    add("ip.ttl", std::to_string(*r_.u8(o + 8)));
    const uint32_t proto = *r_.u8(o + 9);
    add("ip.proto", std::to_string(proto));
    add("ip.checksum", hex(*r_.u16(o + 10)));
    add("ip.src", ipv4_text(*r_.span(o + 12, 4)));
    add("ip.dst", ipv4_text(*dst));
    if (ihl < 20) return payload("ip", o + 20);
    auto options = r_.span(o + 20, ihl - 20);
    if (!options) return payload("ip", o + 20);
    if (!options->empty())
      fields_.push_back(
          FrameField{"ip.options", std::to_string(ihl - 20) + " bytes", to_byte_vector(*options)});
    if ((frag & 0x1fff) != 0) return payload("ip", o + ihl);  // a later fragment: no header
    transport(proto, o + ihl, "icmp");
  }

  void ipv6(size_t o) {
    auto first = r_.u32(o);
    auto dst = r_.span(o + 24, 16);
    if (!first || !dst) {
      truncated("ip6", o);
      return;
    }
    add("ip6.version", std::to_string(*first >> 28));
    add("ip6.tclass", hex((*first >> 20) & 0xff));
    add("ip6.flow", hex(*first & 0xfffff));
    add("ip6.plen", std::to_string(*r_.u16(o + 4)));
    const uint32_t next = *r_.u8(o + 6);
    add("ip6.next", std::to_string(next));
    add("ip6.hlim", std::to_string(*r_.u8(o + 7)));
    add("ip6.src", ipv6_text(*r_.span(o + 8, 16)));
    add("ip6.dst", ipv6_text(*dst));
    transport(next, o + 40, "icmp6");
  }

  void transport(uint32_t proto, size_t o, const std::string& icmp) {
    if (proto == 6) return tcp(o);
    if (proto == 17) return udp(o);
    if (proto == 1 || proto == 58) {
      auto sum = r_.u16(o + 2);
      if (!sum) return (void)truncated(icmp, o);
      add(icmp + ".type", std::to_string(*r_.u8(o)));
      add(icmp + ".code", std::to_string(*r_.u8(o + 1)));
      add(icmp + ".checksum", hex(*sum));
      return payload(icmp, o + 4);
    }
    payload("ip", o);
  }

  void tcp(size_t o) {
    auto urgent = r_.u16(o + 18);
    if (!urgent) return (void)truncated("tcp", o);
    add("tcp.sport", std::to_string(*r_.u16(o)));
    add("tcp.dport", std::to_string(*r_.u16(o + 2)));
    add("tcp.seq", std::to_string(*r_.u32(o + 4)));
    add("tcp.ack", std::to_string(*r_.u32(o + 8)));
    const uint32_t off_flags = *r_.u16(o + 12);
    const size_t data_offset = (off_flags >> 12) * 4u;
    add("tcp.offset", std::to_string(data_offset));
    add("tcp.flags", tcp_flags_text(off_flags & 0xff));
    add("tcp.window", std::to_string(*r_.u16(o + 14)));
    add("tcp.checksum", hex(*r_.u16(o + 16)));
    add("tcp.urgent", std::to_string(*urgent));
    if (data_offset < 20) return payload("tcp", o + 20);
    auto options = r_.span(o + 20, data_offset - 20);
    if (!options) return (void)truncated("tcp.options", o + 20);
    fields_.push_back(FrameField{"tcp.options", std::to_string(options->size()) + " bytes",
                                 to_byte_vector(*options)});
    payload("tcp", o + data_offset);
  }

  void udp(size_t o) {
    auto sum = r_.u16(o + 6);
    if (!sum) return (void)truncated("udp", o);
    add("udp.sport", std::to_string(*r_.u16(o)));
    add("udp.dport", std::to_string(*r_.u16(o + 2)));
    add("udp.len", std::to_string(*r_.u16(o + 4)));
    add("udp.checksum", hex(*sum));
    payload("udp", o + 8);
  }

  FieldReader r_;
  std::vector<FrameField> fields_;
};

std::string time_text(Duration t) {
  const auto secs = std::chrono::floor<std::chrono::seconds>(t);
  std::array<char, 32> frac{};
  std::snprintf(frac.data(), frac.size(), ".%09lld", static_cast<long long>((t - secs).count()));
  return std::to_string(secs.count()) + frac.data();
}

std::string byte_text(const std::vector<std::byte>& bytes, size_t i) {
  if (i >= bytes.size()) return "end of data";
  return hex(std::to_integer<uint32_t>(bytes[i]));
}

// The first difference between two frames, or nullopt.
std::optional<std::string> diff_frame(const PcapRecord& got, const PcapRecord& expected) {
  if (got.timestamp != expected.timestamp) {
    return "time: expected " + time_text(expected.timestamp) + ", got " + time_text(got.timestamp);
  }
  const auto g = decode_frame(got.bytes);
  const auto e = decode_frame(expected.bytes);
  for (size_t i = 0; i < std::max(g.size(), e.size()); ++i) {
    if (i >= g.size()) return e[i].name + ": expected " + e[i].value + ", got nothing";
    if (i >= e.size()) return g[i].name + ": expected nothing, got " + g[i].value;
    if (g[i].name != e[i].name) {
      return "layout: expected " + e[i].name + " (" + e[i].value + "), got " + g[i].name + " (" +
             g[i].value + ")";
    }
    if (g[i].bytes != e[i].bytes) {
      const auto& gb = g[i].bytes;
      const auto& eb = e[i].bytes;
      size_t k = 0;
      while (k < gb.size() && k < eb.size() && gb[k] == eb[k]) ++k;
      return g[i].name + "[" + std::to_string(k) + "]: expected " + byte_text(eb, k) + ", got " +
             byte_text(gb, k);
    }
    if (g[i].value != e[i].value) {
      return g[i].name + ": expected " + e[i].value + ", got " + g[i].value;
    }
  }
  // Decoding ignores nothing, so equal fields mean equal bytes; say so if that ever breaks.
  if (got.bytes != expected.bytes) return "bytes differ (decoded fields agree)";
  return std::nullopt;
}

Result<std::vector<PcapRecord>> read_all(const std::string& path, int* link_type,
                                         std::string* message) {
  auto reader = link::PcapReader::open(path, message);
  if (!reader) return reader.error();
  *link_type = (*reader)->link_type();
  std::vector<PcapRecord> records;
  for (;;) {
    std::string why;
    auto record = (*reader)->next(&why);
    if (!record) {
      set_message(message, "'" + path + "': " + why);
      return record.error();
    }
    if (!*record) return records;
    records.push_back(std::move(**record));
  }
}

}  // namespace

std::vector<FrameField> decode_frame(ByteView frame) { return FrameDecoder(frame).decode(); }

Result<std::optional<std::string>> diff_captures(const std::string& produced,
                                                 const std::string& golden, std::string* message) {
  int got_type = 0;
  int expected_type = 0;
  auto got = read_all(produced, &got_type, message);
  if (!got) return got.error();
  auto expected = read_all(golden, &expected_type, message);
  if (!expected) return expected.error();
  using Diff = std::optional<std::string>;
  if (got_type != expected_type) {
    return Diff("link type: expected " + std::to_string(expected_type) + ", got " +
                std::to_string(got_type));
  }
  const size_t n = std::min(got->size(), expected->size());
  for (size_t i = 0; i < n; ++i) {
    if (auto d = diff_frame((*got)[i], (*expected)[i])) {
      return Diff("frame " + std::to_string(i + 1) + ": " + *d);
    }
  }
  if (got->size() != expected->size()) {
    const std::string counts = " (" + std::to_string(got->size()) + " frames produced, " +
                               std::to_string(expected->size()) + " in the golden capture)";
    if (got->size() < expected->size()) {
      return Diff("frame " + std::to_string(n + 1) + ": expected a frame, got none" + counts);
    }
    return Diff("frame " + std::to_string(n + 1) + ": expected no frame, got one" + counts);
  }
  return Diff();
}

// ---- Command line -------------------------------------------------------------------------

int run_replay(const ReplayOptions& options) {
  std::string message;
  auto result = replay_capture(options, &message);
  if (!result) {
    std::fprintf(stderr, "weir replay: %s\n", message.c_str());
    return kReplayExitError;
  }
  std::printf("weir replay: %llu frames in, %llu frames out, written to %s\n",
              static_cast<unsigned long long>(result->frames_in),
              static_cast<unsigned long long>(result->frames_out), options.out.c_str());
  if (!result->drops.empty()) {
    std::string line;
    for (const auto& [name, value] : result->drops) {
      line += (line.empty() ? "" : ", ") + name + " " + std::to_string(value);
    }
    std::printf("weir replay: dropped by the stack: %s\n", line.c_str());
  }
  if (!options.diff) return 0;
  auto diff = diff_captures(options.out, *options.diff, &message);
  if (!diff) {
    std::fprintf(stderr, "weir replay: %s\n", message.c_str());
    return kReplayExitError;
  }
  if (*diff) {
    std::printf("%s\n", (*diff)->c_str());
    return kReplayExitDiffers;
  }
  std::printf("no differences (%llu frames)\n",
              static_cast<unsigned long long>(result->frames_out));
  return 0;
}

namespace {

std::string check_prefix4(std::string& text) {
  auto prefix = IpPrefix::parse(text);
  if (!prefix || !prefix->address.is_v4()) {
    return "'" + text + "' is not an IPv4 address with a prefix length, e.g. 10.0.0.1/24";
  }
  if (prefix->length == 0 || prefix->length > 32) return "prefix length must be 1..32";
  return {};
}

}  // namespace

void add_replay_command(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "replay",
      "Feed a capture to a stack on a virtual clock and record what it sends.\n"
      "Every frame of CAPTURE (pcap or pcapng, Ethernet) reaches the stack at its timestamp;\n"
      "timers fire in between as they would have; after the last frame the clock runs on for\n"
      "--tail seconds. The stack has weir serve's services (UDP echo 7; TCP echo 7, discard 9,\n"
      "HTTP 80) and draws everything random (ISNs, IP IDs, ports) from --seed, so two runs\n"
      "write identical files. Exit status: 0 ok, 1 error, 2 bad command line, 3 --diff found a\n"
      "difference.\n"
      "Example: weir replay --in session.pcap --out answers.pcap --ip 10.0.0.2/24 \\\n"
      "           --mac 02:00:00:00:00:01 --diff golden.pcap");
  struct Raw {
    std::string in, out, diff, ip, mac;
    std::vector<std::string> ip6;
    uint64_t seed = 1;
    double tail = 10;
    bool fix_checksums = false;
  };
  auto raw = std::make_shared<Raw>();
  cmd->add_option("--in", raw->in, "The capture to replay (pcap or pcapng)")->required();
  cmd->add_option("--out", raw->out, "Where to write the frames the stack sends (pcap)")
      ->required();
  cmd->add_option("--ip", raw->ip, "The stack's IPv4 address and prefix, e.g. 10.0.0.2/24")
      ->check(CLI::Validator(check_prefix4, "ADDR/PREFIX"));
  cmd->add_option("--ip6", raw->ip6, "An IPv6 address and prefix (repeatable)")
      ->check(CLI::Validator(check_prefix6, "ADDR/PREFIX"));
  cmd->add_option("--mac", raw->mac, "The stack's MAC address (default 02:00:00:00:00:01)")
      ->check(CLI::Validator(check_mac, "MAC"));
  cmd->add_option("--seed", raw->seed, "Seed of everything random in the stack (default 1)")
      ->check(CLI::Range(uint64_t{1}, UINT64_MAX));
  cmd->add_option("--tail", raw->tail,
                  "Seconds of virtual time to run timers after the last frame (default 10)")
      ->check(CLI::Range(0.0, 86400.0));
  cmd->add_flag("--fix-checksums", raw->fix_checksums,
                "Fill in TCP/UDP checksums first: for captures of a sender that left them to\n"
                "the NIC (Linux's frames read from a tap with offloads, tcpdump on the sender)");
  cmd->add_option("--diff", raw->diff,
                  "Compare the output with this golden capture; print the first difference");
  cmd->callback([raw] {
    ReplayOptions options;
    options.in = raw->in;
    options.out = raw->out;
    if (!raw->diff.empty()) options.diff = raw->diff;
    if (!raw->ip.empty()) options.stack.address = IpPrefix::parse(raw->ip).value();
    for (const auto& text : raw->ip6)
      options.stack.addresses6.push_back(IpPrefix::parse(text).value());
    if (!options.stack.address && options.stack.addresses6.empty()) {
      throw CLI::ValidationError("--ip",
                                 "give an address: --ip ADDR/PREFIX and/or --ip6 ADDR/PREFIX");
    }
    if (!raw->mac.empty()) options.stack.mac = MacAddress::parse(raw->mac).value();
    options.stack.seed = raw->seed;
    options.fix_checksums = raw->fix_checksums;
    options.tail = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(raw->tail));
    const int status = run_replay(options);
    if (status != 0) throw CLI::RuntimeError(status);
  });
}

}  // namespace weir::tools
