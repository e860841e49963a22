#include "stack/demux.h"

#include <algorithm>
#include <array>

namespace weir {

namespace {

// Mixes a 64-bit value (splitmix64 finalizer): cheap, and with the per-stack secret folded in
// a remote peer cannot predict which bucket its flows land in.
[[gnu::always_inline]] inline uint64_t mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ull;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebull;
  x ^= x >> 31;
  return x;
}

[[gnu::always_inline]] inline uint64_t hash_address(uint64_t h, const IpAddress& a) {
  // An IPv4 address is one word: the loop's one step, without a view of its bytes.
  if (a.is_v4()) return mix(h ^ a.v4().value());
  ByteView b = a.bytes();
  for (size_t i = 0; i < b.size(); i += 4) {
    h = mix(h ^ load_be32(b, i));
  }
  return h;
}

}  // namespace

// Every connection carries a TransportEndpoint: a pair of idle connections is held to 1,024
// bytes (`weir bench idle`), and eight bytes more here cost sixteen per connection in malloc.
static_assert(sizeof(void*) != 8 || sizeof(TransportEndpoint) <= 72,
              "TransportEndpoint grew: check `weir bench idle`");

// connected_hash() past its IPv4 case: out of line, so that case stays a short run of code.
[[gnu::noinline]] uint64_t connected_hash_v6(uint64_t h, const TransportEndpointId& id) {
  return hash_address(hash_address(h, id.remote_address), id.local_address);
}

// The connected table's hash of (protocol, 5-tuple). Two IPv4 addresses make one word, so an
// IPv4 flow takes two rounds of mixing: inline in find(), which every segment received calls.
[[gnu::always_inline]] inline uint64_t connected_hash(uint64_t secret, uint8_t protocol,
                                                      const TransportEndpointId& id) {
  const uint64_t h =
      mix(secret ^ (uint64_t{protocol} << 32) ^ (uint64_t{id.local_port} << 16) ^ id.remote_port);
  if (id.local_address.is_v4() && id.remote_address.is_v4()) {
    return mix(h ^ (uint64_t{id.local_address.v4().value()} << 32) ^
               id.remote_address.v4().value());
  }
  return connected_hash_v6(h, id);
}

// The bound table's key: (protocol, port).
struct BoundKey {
  uint8_t protocol;
  uint16_t port;
};

struct TransportDemux::BoundKeyOf {
  using type = BoundKey;
  type operator()(const TransportEndpoint& ep) const {
    return {ep.protocol(), ep.demux_id().local_port};
  }
};

struct TransportDemux::Hasher {
  uint64_t secret;
  size_t operator()(const BoundKey& k) const {
    return static_cast<size_t>(mix(secret ^ (uint64_t{k.protocol} << 16) ^ k.port));
  }
};

struct TransportDemux::Equal {
  bool operator()(const BoundKey& a, const BoundKey& b) const {
    return a.protocol == b.protocol && a.port == b.port;
  }
};

namespace bi = boost::intrusive;

class TransportDemux::Tables {
 public:
  using BoundSet = bi::unordered_multiset<TransportEndpoint, bi::key_of_value<BoundKeyOf>,
                                          bi::hash<Hasher>, bi::equal<Equal>,
                                          bi::constant_time_size<false>, bi::power_2_buckets<true>>;

  explicit Tables(uint64_t secret)
      : secret(secret),
        heads_(kInitialBuckets, nullptr),
        bound_buckets_(kBoundBuckets),
        bound(BoundSet::bucket_traits(bound_buckets_.data(), kBoundBuckets), Hasher{secret}) {}

  ~Tables() {
    // Endpoints may outlive the demux (their owner destroys them later); unlink them all so
    // their hooks never touch freed buckets. That walks every bucket, hundreds of them; when
    // every endpoint ever entered was taken out again through remove() nothing can be linked,
    // and the walk is skipped. An endpoint destroyed while entered unlinks itself without a
    // remove(), so `entered` only ever overcounts.
    if (entered == 0) return;
    for (TransportEndpoint*& head : heads_) {
      while (head != nullptr) head->unlink_connected();
    }
    bound.clear();
  }
  Tables(const Tables&) = delete;
  Tables& operator=(const Tables&) = delete;

  size_t connected_buckets() const { return heads_.size(); }

  // Calls f(endpoint) on each bound endpoint of (protocol, port), in the order equal_range()
  // gave them (entries of one key sit together in their bucket), until f
  // returns false. A walk of the key's one bucket: equal_range() looked for the end of the
  // range by walking on through the empty buckets after it, hundreds of them, on every SYN.
  template <typename F>
  void for_each_bound(uint8_t protocol, uint16_t port, F&& f) {
    const BoundKey key{protocol, port};
    const size_t n = bound.bucket(key);
    for (auto it = bound.begin(n); it != bound.end(n); ++it) {
      if (it->protocol() != protocol || it->demux_id().local_port != port) continue;
      if (!f(*it)) return;
    }
  }

  // The connected endpoint with this key and its hash, or nullptr.
  [[gnu::always_inline]] TransportEndpoint* find_connected(uint8_t protocol,
                                                           const TransportEndpointId& id,
                                                           uint64_t hash) const {
    // The mask keeps the index below the power-of-two size: no bounds check needed.
    for (TransportEndpoint* ep = heads_.data()[hash & (heads_.size() - 1)]; ep != nullptr;
         ep = ep->connected_next_) {
      if (ep->protocol_ == protocol && ep->demux_id_ == id) {
        return ep;
      }
    }
    return nullptr;
  }

  // Enters ep (not in the table, its demux_id_ set) at the head of its chain.
  void insert_connected(TransportEndpoint& ep) {
    link(ep, heads_[connected_hash(secret, ep.protocol_, ep.demux_id_) & (heads_.size() - 1)]);
  }

  // Doubles the connected table when the load factor passes 1, so lookups stay O(1) at 10k+
  // connections. Rehashing relinks entries into the new bucket array by their keys' hashes
  // (not stored: eight bytes more in every endpoint put a connection pair over the idle
  // target), without touching anything else of the endpoints. It starts small: a stack with a
  // handful of connections (most embedders, every fuzz input) should not allocate and clear
  // hundreds of bucket heads to be built.
  void grow_if_needed(size_t count) {
    if (count < heads_.size()) return;
    std::vector<TransportEndpoint*> fresh(heads_.size() * 2, nullptr);
    for (TransportEndpoint*& head : heads_) {
      while (head != nullptr) {
        TransportEndpoint& ep = *head;
        ep.unlink_connected();
        link(ep, fresh[connected_hash(secret, ep.protocol_, ep.demux_id_) & (fresh.size() - 1)]);
      }
    }
    heads_.swap(fresh);
  }

  static constexpr size_t kInitialBuckets = 16;
  // The bound table never rehashes: a rehash would reorder entries with equal keys (sockets
  // sharing a port), and with them which one find() picks.
  static constexpr size_t kBoundBuckets = 256;

  const uint64_t secret;

 private:
  static void link(TransportEndpoint& ep, TransportEndpoint*& head) {
    ep.connected_next_ = head;
    if (head != nullptr) head->connected_link_ = &ep.connected_next_;
    head = &ep;
    ep.connected_link_ = &head;
  }

  // Chains of connected endpoints; the size is a power of two.
  std::vector<TransportEndpoint*> heads_;
  std::vector<BoundSet::bucket_type> bound_buckets_;

 public:
  BoundSet bound;
  // Inserts into either table minus erases by remove(): at least the number still linked.
  size_t entered = 0;
};

TransportDemux::TransportDemux(uint64_t secret) : tables_(std::make_unique<Tables>(secret)) {}

void TransportDemux::reset() {
  connected_size_ = 0;
  // Tables that never held an endpoint, or had each taken out by remove(), are as built,
  // unless the connected one grew; anything else is built again (which unlinks what is left).
  if (tables_->entered == 0 && tables_->connected_buckets() == Tables::kInitialBuckets) {
    return;
  }
  tables_ = std::make_unique<Tables>(tables_->secret);
}
TransportDemux::~TransportDemux() = default;

Status TransportDemux::add(TransportEndpoint& ep, const TransportEndpointId& id) {
  remove(ep);
  if (id.remote_port != 0) {
    if (connected_exists(ep.protocol(), id)) return Error::kAddressInUse;
    ep.demux_id_ = id;
    tables_->grow_if_needed(connected_size_ + 1);
    tables_->insert_connected(ep);
    ++connected_size_;
  } else {
    ep.demux_id_ = id;
    tables_->bound.insert(ep);
  }
  ++tables_->entered;
  return {};
}

void TransportDemux::remove(TransportEndpoint& ep) {
  if (ep.connected_link_ != nullptr) {
    ep.unlink_connected();
    --connected_size_;
  } else if (ep.is_linked()) {
    tables_->bound.erase(tables_->bound.iterator_to(ep));
  } else {
    return;
  }
  --tables_->entered;
}

bool TransportDemux::connected_exists(uint8_t protocol, const TransportEndpointId& id) const {
  return tables_->find_connected(protocol, id, connected_hash(tables_->secret, protocol, id)) !=
         nullptr;
}

TransportEndpoint* TransportDemux::find(uint8_t protocol, const TransportEndpointId& id) const {
  if (TransportEndpoint* ep =
          tables_->find_connected(protocol, id, connected_hash(tables_->secret, protocol, id))) {
    return ep;
  }
  return find_bound(protocol, id);
}

// Out of line: find()'s usual answer, a connection, then costs no stack frame for this search.
[[gnu::noinline]] TransportEndpoint* TransportDemux::find_bound(
    uint8_t protocol, const TransportEndpointId& id) const {
  // Among bound endpoints on the port, a specific local address beats the wildcard; the
  // first registered wins among equals (SO_REUSEPORT balancing is the transport's business).
  TransportEndpoint* wildcard = nullptr;
  TransportEndpoint* dual = nullptr;
  TransportEndpoint* found = nullptr;
  tables_->for_each_bound(protocol, id.local_port, [&](TransportEndpoint& b) {
    const IpAddress& local = b.demux_id().local_address;
    if (local.family() != id.local_address.family()) {
      if (dual == nullptr && id.local_address.is_v4() && local.is_unspecified() && b.accepts_v4()) {
        dual = &b;
      }
      return true;
    }
    if (local == id.local_address) {
      found = &b;
      return false;
    }
    if (local.is_unspecified() && wildcard == nullptr) wildcard = &b;
    return true;
  });
  if (found != nullptr) return found;
  return wildcard != nullptr ? wildcard : dual;
}

std::vector<TransportEndpoint*> TransportDemux::bound_candidates(uint8_t protocol,
                                                                 uint16_t port) const {
  std::vector<TransportEndpoint*> out;
  tables_->for_each_bound(protocol, port, [&](TransportEndpoint& b) {
    out.push_back(&b);
    return true;
  });
  return out;
}

std::optional<std::string> PortRange::problem() const {
  // The range's text only when there is a problem: every Stack asks twice while being built.
  auto range = [this] { return std::to_string(first) + "-" + std::to_string(last); };
  if (first == 0) {
    return "ephemeral port range " + range() +
           " includes port 0, which means \"any port\" and can never be handed out: start it "
           "at 1 or above (Linux's default is 32768-60999)";
  }
  if (first > last) {
    return "ephemeral port range " + range() +
           " is empty: its first port must not exceed its last (Linux's default is 32768-60999)";
  }
  return std::nullopt;
}

PortTable::PortTable(PortRange ephemeral)
    : ephemeral_(ephemeral.problem() ? PortRange{} : ephemeral) {}

Status PortTable::set_ephemeral_range(PortRange range) {
  if (range.problem()) return Error::kInvalidArgument;
  ephemeral_ = range;
  return ok_status();
}

bool PortTable::overlap(const Binding& b, const IpAddress& local, PortBindingOptions options) {
  if (b.local.family() == local.family()) {
    return b.local.is_unspecified() || local.is_unspecified() || b.local == local;
  }
  // A dual-stack IPv6 wildcard holds the IPv4 port as well.
  return (b.local.is_v6() && b.local.is_unspecified() && b.options.dual_stack) ||
         (local.is_v6() && local.is_unspecified() && options.dual_stack);
}

bool PortTable::conflicts(uint8_t protocol, uint16_t port, const IpAddress& local,
                          PortBindingOptions options) const {
  auto [first, last] = bindings_.equal_range(key(protocol, port));
  for (auto it = first; it != last; ++it) {
    const Binding& b = it->second;
    if (!overlap(b, local, options)) continue;
    // Linux: SO_REUSEPORT on both lets binds share a port; SO_REUSEADDR on both does for UDP,
    // and lets a TCP bind join connections (never a listener: check_listen). Between two TCP
    // binds SO_REUSEADDR only matters for TIME_WAIT reuse, which the TCP layer decides itself.
    if (options.reuse_port && b.options.reuse_port) continue;
    if (options.reuse_address && b.options.reuse_address &&
        (protocol == kProtocolUdp || b.by_connect)) {
      continue;
    }
    return true;
  }
  return false;
}

PortTable::Handle PortTable::add(uint8_t protocol, uint16_t port, const Binding& binding) {
  Binding b = binding;
  b.handle = (next_serial_++ << kKeyBits) | key(protocol, port);
  bindings_.emplace(key(protocol, port), b);
  return b.handle;
}

PortTable::Bindings::iterator PortTable::find_binding(Handle handle) {
  auto [first, last] = bindings_.equal_range(key_of(handle));
  for (auto it = first; it != last; ++it) {
    if (it->second.handle == handle) return it;
  }
  return bindings_.end();
}

Result<PortTable::Handle> PortTable::reserve(uint8_t protocol, uint16_t port,
                                             const IpAddress& local, PortBindingOptions options) {
  if (port == 0) return Error::kInvalidArgument;
  if (conflicts(protocol, port, local, options)) return Error::kAddressInUse;
  return add(protocol, port, Binding{0, local, options, false});
}

template <typename Take>
Result<std::pair<uint16_t, PortTable::Handle>> PortTable::pick(
    const IpAddress& local, const std::optional<SocketAddress>& remote, Rng& rng, Take&& take) {
  if (!ephemeral_keyed_) {
    ephemeral_key_ = SipKey{rng.next_u64(), rng.next_u64()};
    ephemeral_next_ = rng.next_u32();
    ephemeral_keyed_ = true;
  }
  // F(local, remote, secret): one offset per destination.
  std::array<std::byte, 40> input{};
  size_t n = 0;
  auto put = [&](ByteView b) {
    copy_bytes(input, n, b);
    n += b.size();
  };
  put(local.bytes());
  if (remote) {
    put(remote->address.bytes());
    std::array<std::byte, 2> port{std::byte(remote->port >> 8), std::byte(remote->port & 0xff)};
    put(port);
  }
  const uint64_t offset = siphash24(ephemeral_key_, ByteView(input).first(n));
  const size_t range = ephemeral_.size();
  for (size_t i = 0; i < range; ++i) {
    auto port = static_cast<uint16_t>(ephemeral_.first + (offset + ephemeral_next_ + i) % range);
    if (std::optional<Handle> h = take(port)) {
      ephemeral_next_ += static_cast<uint32_t>(i + 1);
      return std::pair{port, *h};
    }
  }
  return Error::kAddressNotAvailable;
}

Result<std::pair<uint16_t, PortTable::Handle>> PortTable::reserve_ephemeral(
    uint8_t protocol, const IpAddress& local, PortBindingOptions options, Rng& rng,
    const std::optional<SocketAddress>& remote) {
  return pick(local, remote, rng, [&](uint16_t port) -> std::optional<Handle> {
    // A port bound to 0 is never shared through reuse flags: it must be free.
    if (bindings_.count(key(protocol, port)) != 0) return std::nullopt;
    return add(protocol, port, Binding{0, local, options, false});
  });
}

Result<std::pair<uint16_t, PortTable::Handle>> PortTable::reserve_for_connect(
    uint8_t protocol, const IpAddress& local, const SocketAddress& remote,
    PortBindingOptions options, Rng& rng, const TransportDemux& demux) {
  // A connection's local address is concrete, so the dual-stack flag of a wildcard never
  // applies to it.
  options.dual_stack = false;
  return pick(local, remote, rng, [&](uint16_t port) -> std::optional<Handle> {
    auto [first, last] = bindings_.equal_range(key(protocol, port));
    if (std::any_of(first, last, [](const auto& entry) { return !entry.second.by_connect; })) {
      return std::nullopt;
    }
    if (demux.connected_exists(protocol,
                               TransportEndpointId{local, remote.address, port, remote.port})) {
      return std::nullopt;
    }
    return add(protocol, port, Binding{0, local, options, true});
  });
}

Status PortTable::check_listen(Handle handle) const {
  auto [first, last] = bindings_.equal_range(key_of(handle));
  auto self = std::find_if(first, last, [&](const auto& e) { return e.second.handle == handle; });
  if (self == last) return Error::kInvalidArgument;
  const Binding& mine = self->second;
  for (auto it = first; it != last; ++it) {
    const Binding& b = it->second;
    if (b.handle == handle || !b.by_connect) continue;
    if (!overlap(b, mine.local, mine.options)) continue;
    if (mine.options.reuse_port && b.options.reuse_port) continue;
    return Error::kAddressInUse;
  }
  return ok_status();
}

void PortTable::release(Handle handle) {
  if (auto it = find_binding(handle); it != bindings_.end()) bindings_.erase(it);
}

bool PortTable::in_use(uint8_t protocol, uint16_t port) const {
  return bindings_.count(key(protocol, port)) != 0;
}

}  // namespace weir
