#include "link/fault.h"

#include <algorithm>
#include <cstdlib>

namespace weir::link {

namespace {

// One independent stream per kind of fault (see the header).
uint64_t stream_seed(uint64_t seed, uint64_t stream) {
  return seed * 0x9e3779b97f4a7c15ull + stream * 0xbf58476d1ce4e5b9ull + 1;
}

bool draw(Rng& rng, double probability) {
  if (probability <= 0) return false;
  if (probability >= 1) return true;
  return rng.chance(probability);
}

// A private copy of pkt (bytes and meta) with one bit flipped.
PacketBuffer corrupted_copy(const PacketBuffer& pkt, Rng& rng) {
  std::vector<std::byte> bytes = pkt.to_vector();
  const uint64_t bit = rng.uniform(bytes.size() * 8);
  bytes[bit / 8] ^= std::byte(uint8_t{1} << (bit % 8));
  PacketBuffer copy = PacketBuffer::from_bytes(bytes);
  copy.meta() = pkt.meta();
  copy.meta().checksum_verified = false;  // the bit flipped after whatever verified it
  return copy;
}

}  // namespace

FaultEndpoint::FaultEndpoint(std::unique_ptr<LinkEndpoint> inner, TimerWheel& timers,
                             const FaultOptions& options)
    : WrappingEndpoint(std::move(inner)),
      timers_(timers),
      options_(options),
      drop_rng_(stream_seed(options.seed, 1)),
      corrupt_rng_(stream_seed(options.seed, 2)),
      duplicate_rng_(stream_seed(options.seed, 3)),
      reorder_rng_(stream_seed(options.seed, 4)),
      jitter_rng_(stream_seed(options.seed, 5)),
      timer_([this] { release(false); }) {}

LinkCapabilities FaultEndpoint::capabilities() const {
  LinkCapabilities caps = inner().capabilities();
  if (options_.corrupt > 0) {
    caps.tx_checksum_offload = false;
    caps.rx_checksum_offload = false;
    caps.gso = false;
  }
  return caps;
}

void FaultEndpoint::apply(PacketBuffer pkt, bool transmit, std::vector<PacketBuffer>& now) {
  if (draw(drop_rng_, options_.drop)) {
    ++(transmit ? counters_.tx_dropped : counters_.rx_dropped);
    return;
  }
  if (!pkt.empty() && draw(corrupt_rng_, options_.corrupt)) {
    pkt = corrupted_copy(pkt, corrupt_rng_);
    ++(transmit ? counters_.tx_corrupted : counters_.rx_corrupted);
  }
  if (draw(duplicate_rng_, options_.duplicate)) {
    ++(transmit ? counters_.tx_duplicated : counters_.rx_duplicated);
    schedule(pkt.clone(), transmit, now);
  }
  schedule(std::move(pkt), transmit, now);
}

void FaultEndpoint::schedule(PacketBuffer frame, bool transmit, std::vector<PacketBuffer>& now) {
  Duration hold = options_.delay;
  if (options_.rate_bits_per_second > 0) {
    const TimePoint at = timers_.now();
    TimePoint& line_free = line_free_[transmit ? 0 : 1];
    const TimePoint start = std::max(at, line_free);
    const double backlog_bytes = std::chrono::duration<double>(start - at).count() *
                                 static_cast<double>(options_.rate_bits_per_second) / 8;
    if (backlog_bytes > static_cast<double>(options_.rate_queue_bytes)) {
      ++(transmit ? counters_.tx_queue_dropped : counters_.rx_queue_dropped);
      return;
    }
    const auto clocked_out = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(
        static_cast<double>(frame.size()) * 8 / static_cast<double>(options_.rate_bits_per_second)));
    line_free = start + clocked_out;
    hold += line_free - at;
  }
  if (options_.jitter > Duration::zero()) {
    hold += Duration(static_cast<Duration::rep>(
        jitter_rng_.uniform(static_cast<uint64_t>(options_.jitter.count()))));
  }
  if (draw(reorder_rng_, options_.reorder)) {
    hold += options_.reorder_delay;
    ++(transmit ? counters_.tx_reordered : counters_.rx_reordered);
  }
  if (hold <= Duration::zero()) {
    now.push_back(std::move(frame));
    return;
  }
  ++(transmit ? counters_.tx_delayed : counters_.rx_delayed);
  held_.emplace(HeldKey{timers_.now() + hold, arrivals_++},
                Held{.pkt = std::move(frame), .transmit = transmit});
}

Result<size_t> FaultEndpoint::write_packets(std::span<PacketBuffer> packets) {
  if (!faulted(FaultDirection::kTx)) return inner().write_packets(packets);
  std::vector<PacketBuffer> now;
  now.reserve(packets.size());
  const size_t held_before = held_.size();
  for (PacketBuffer& pkt : packets) {
    ++counters_.tx_frames;
    apply(std::move(pkt), true, now);
  }
  if (held_.size() != held_before) arm_timer();
  if (now.empty()) return packets.size();
  const size_t offered = now.size();
  const size_t rejected = offered - send_down(now);
  // Duplicates make `offered` larger than the batch; a rejected frame may have been either.
  const size_t accepted = packets.size() - std::min(rejected, packets.size());
  if (accepted == 0) return Error::kNoBufferSpace;
  return accepted;
}

size_t FaultEndpoint::send_down(std::vector<PacketBuffer>& batch) {
  if (batch.empty()) return 0;
  auto sent = inner().write_packets(batch);
  const size_t n = sent ? *sent : 0;
  counters_.tx_inner_rejected += batch.size() - n;
  batch.clear();
  return n;
}

void FaultEndpoint::on_inner_receive(PacketBuffer pkt) {
  if (!faulted(FaultDirection::kRx)) {
    pass_up(std::move(pkt));
    return;
  }
  ++counters_.rx_frames;
  std::vector<PacketBuffer> now;
  const size_t held_before = held_.size();
  apply(std::move(pkt), false, now);
  if (held_.size() != held_before) arm_timer();
  for (PacketBuffer& p : now) pass_up(std::move(p));
}

void FaultEndpoint::pass_up(PacketBuffer pkt) {
  if (!deliver_up(std::move(pkt))) ++counters_.rx_drop_not_attached;
}

void FaultEndpoint::arm_timer() {
  if (held_.empty()) {
    timer_.cancel();
    return;
  }
  const TimePoint first = held_.begin()->first.first;
  if (!timer_.armed() || timer_.deadline() != first) timers_.arm(timer_, first);
}

void FaultEndpoint::release(bool everything) {
  // Take the due frames out first: delivering one may make the stack send, which adds to
  // held_ while we are walking it.
  const TimePoint now = timers_.now();
  std::vector<Held> due;
  while (!held_.empty() && (everything || held_.begin()->first.first <= now)) {
    due.push_back(std::move(held_.begin()->second));
    held_.erase(held_.begin());
  }
  std::vector<PacketBuffer> tx_batch;
  for (Held& h : due) {
    if (h.transmit) {
      tx_batch.push_back(std::move(h.pkt));
    } else {
      send_down(tx_batch);  // keep the relative order of the two directions
      pass_up(std::move(h.pkt));
    }
  }
  send_down(tx_batch);
  arm_timer();
}

void FaultEndpoint::flush() { release(true); }

namespace {

bool fail_spec(std::string* message, std::string_view key, std::string_view why) {
  if (message) *message = "--fault: " + std::string(key) + ": " + std::string(why);
  return false;
}

// "2%" -> 0.02, "0.02" -> 0.02; must land in [0, 1].
bool parse_probability(std::string_view text, double& out) {
  bool percent = !text.empty() && text.back() == '%';
  if (percent) text.remove_suffix(1);
  if (text.empty()) return false;
  std::string s(text);
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !(v >= 0)) return false;
  out = percent ? v / 100 : v;
  return out <= 1;
}

// A number with a unit suffix from `units` (name, multiplier), e.g. "5ms", "100mbit".
template <size_t N>
bool parse_with_unit(std::string_view text, const std::pair<std::string_view, double> (&units)[N],
                     double& out) {
  size_t digits = 0;
  while (digits < text.size() &&
         ((text[digits] >= '0' && text[digits] <= '9') || text[digits] == '.')) {
    ++digits;
  }
  if (digits == 0) return false;
  std::string number(text.substr(0, digits));
  char* end = nullptr;
  const double v = std::strtod(number.c_str(), &end);
  if (end != number.c_str() + number.size()) return false;
  const std::string_view unit = text.substr(digits);
  for (const auto& [name, multiplier] : units) {
    if (unit == name) {
      out = v * multiplier;
      return true;
    }
  }
  return false;
}

bool parse_duration(std::string_view text, Duration& out) {
  static constexpr std::pair<std::string_view, double> kUnits[] = {
      {"ns", 1e-9}, {"us", 1e-6}, {"ms", 1e-3}, {"s", 1}};
  double seconds = 0;
  if (!parse_with_unit(text, kUnits, seconds) || seconds > 3600) return false;
  out = std::chrono::duration_cast<Duration>(std::chrono::duration<double>(seconds));
  return true;
}

}  // namespace

Result<FaultOptions> parse_fault_spec(std::string_view spec, std::string* message) {
  FaultOptions o;
  if (spec.empty()) {
    fail_spec(message, "spec", "empty (expected key=value,... e.g. loss=2%,delay=5ms)");
    return Error::kInvalidArgument;
  }
  while (!spec.empty()) {
    const size_t comma = spec.find(',');
    const std::string_view item = spec.substr(0, comma);
    spec = comma == std::string_view::npos ? std::string_view() : spec.substr(comma + 1);
    const size_t eq = item.find('=');
    if (eq == std::string_view::npos) {
      fail_spec(message, item.empty() ? "spec" : item, "expected key=value");
      return Error::kInvalidArgument;
    }
    const std::string_view key = item.substr(0, eq);
    const std::string_view value = item.substr(eq + 1);
    bool ok = true;
    if (key == "loss" || key == "drop") {
      ok = parse_probability(value, o.drop);
    } else if (key == "reorder") {
      ok = parse_probability(value, o.reorder);
    } else if (key == "dup" || key == "duplicate") {
      ok = parse_probability(value, o.duplicate);
    } else if (key == "corrupt") {
      ok = parse_probability(value, o.corrupt);
    } else if (key == "delay") {
      ok = parse_duration(value, o.delay);
    } else if (key == "jitter") {
      ok = parse_duration(value, o.jitter);
    } else if (key == "reorder_delay") {
      ok = parse_duration(value, o.reorder_delay);
    } else if (key == "rate") {
      static constexpr std::pair<std::string_view, double> kUnits[] = {
          {"bit", 1}, {"kbit", 1e3}, {"mbit", 1e6}, {"gbit", 1e9}};
      double bits = 0;
      ok = parse_with_unit(value, kUnits, bits) && bits >= 1 && bits <= 1e12;
      if (ok) o.rate_bits_per_second = static_cast<uint64_t>(bits);
      if (!ok) {
        fail_spec(message, key, "'" + std::string(value) + "' is not a rate (e.g. 100mbit, 1gbit)");
        return Error::kInvalidArgument;
      }
    } else if (key == "queue") {
      std::string text(value);
      char* end = nullptr;
      const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
      ok = !text.empty() && text[0] != '-' && end == text.c_str() + text.size() && v > 0;
      if (ok) o.rate_queue_bytes = v;
    } else if (key == "seed") {
      std::string text(value);
      char* end = nullptr;
      const unsigned long long v = std::strtoull(text.c_str(), &end, 10);
      ok = !text.empty() && text[0] != '-' && end == text.c_str() + text.size();
      if (ok) o.seed = v;
    } else if (key == "dir") {
      if (value == "tx") {
        o.direction = FaultDirection::kTx;
      } else if (value == "rx") {
        o.direction = FaultDirection::kRx;
      } else if (value == "both") {
        o.direction = FaultDirection::kBoth;
      } else {
        ok = false;
      }
    } else {
      fail_spec(message, key,
                "unknown (known: loss, reorder, dup, corrupt, delay, jitter, reorder_delay, rate, "
                "queue, seed, dir)");
      return Error::kInvalidArgument;
    }
    if (!ok) {
      fail_spec(message, key, "bad value '" + std::string(value) + "'");
      return Error::kInvalidArgument;
    }
  }
  return o;
}

}  // namespace weir::link
