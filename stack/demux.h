// The transport demux and port reservations.
//
// Theory of operation. Connected endpoints (a full 5-tuple) live in one intrusive hash table
// keyed by (protocol, local address, local port, remote address, remote port); bound but
// unconnected endpoints (listeners, UDP sockets) live in a Boost.Intrusive multiset keyed by
// (protocol, local port) only, since few of them share a port. Lookup tries the exact 5-tuple,
// then the best bound endpoint (a specific local address beats the wildcard). Hooks are
// intrusive and auto-unlinking: a lookup allocates nothing and a destroyed endpoint leaves no
// dangling entry. Hashing mixes a per-stack secret so a peer cannot aim all its flows at one
// bucket.
//
// The connected table is written out by hand (a bucket array of chains, each entry holding its
// hash and the link that points at it) rather than a Boost.Intrusive set: every segment
// received looks it up, and boost's generic walk, its out-of-line hasher and its end-of-bucket
// tests cost three times the hand-written chain walk.
//
// Port reservations are separate: PortTable says which (protocol, port, local address) binds
// may coexist, following Linux's SO_REUSEADDR/SO_REUSEPORT rules, and hands out ephemeral ports.
// As in Linux (inet_bind_bucket, __inet_hash_connect), a port picked by connect() is shared:
// any number of connections may use it as long as their 4-tuples differ, so the range limits
// connections per destination, not in total, and TIME-WAIT holds a 4-tuple, not a port. A port
// taken by bind() is the binder's alone and never handed to connect().
#pragma once

#include <boost/intrusive/unordered_set.hpp>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "stack/address.h"
#include "stack/packet_buffer.h"
#include "stack/protocol.h"
#include "stack/result.h"
#include "stack/rng.h"

namespace weir {

struct TransportEndpointId {
  IpAddress local_address;   // unspecified: any local address
  IpAddress remote_address;  // unspecified: not connected
  uint16_t local_port = 0;
  uint16_t remote_port = 0;  // 0: not connected
  bool operator==(const TransportEndpointId&) const = default;
};

// The bound table's hook: one pointer (no stored hash: few endpoints are bound, and every
// byte here is in every connection).
using DemuxHook = boost::intrusive::unordered_set_base_hook<
    boost::intrusive::link_mode<boost::intrusive::auto_unlink>>;

// Base of every endpoint the demux can find.
class TransportEndpoint : public DemuxHook {
  // First, before demux_id_ (38 bytes, 2-aligned), so that the id and the two one-byte fields
  // after it fill the object to 72 bytes without padding: every connection carries them.
  //
  // The connected table's chain: the next entry of the bucket, and the pointer that points at
  // this entry (the bucket head or the previous entry's connected_next_), so an entry leaves
  // its chain in O(1) without a walk. connected_link_ is null when not in the table.
  TransportEndpoint* connected_next_ = nullptr;
  TransportEndpoint** connected_link_ = nullptr;

 public:
  TransportEndpoint(uint8_t protocol) : protocol_(protocol) {}  // NOLINT
  // Leaves the connected table if still in it (the bound table's hook unlinks itself).
  virtual ~TransportEndpoint() { unlink_connected(); }
  TransportEndpoint(const TransportEndpoint&) = delete;
  TransportEndpoint& operator=(const TransportEndpoint&) = delete;

  uint8_t protocol() const { return protocol_; }
  const TransportEndpointId& demux_id() const { return demux_id_; }
  // A dual-stack wildcard: an IPv6 endpoint bound to :: without IPV6_V6ONLY. IPv4 packets for
  // its port reach it when no IPv4 endpoint takes them (Linux's bindv6only=0).
  bool accepts_v4() const { return accepts_v4_; }
  bool in_demux() const { return is_linked() || connected_link_ != nullptr; }

  // A packet for this endpoint; pkt starts at the transport header.
  virtual void handle_packet(const NetworkPacketInfo& info, PacketBuffer pkt) = 0;

 protected:
  void set_accepts_v4(bool on) { accepts_v4_ = on; }
  TransportEndpointId demux_id_;

 private:
  friend class TransportDemux;
  // Takes the endpoint out of its connected-table chain, if it is in one.
  void unlink_connected() {
    if (connected_link_ == nullptr) return;
    *connected_link_ = connected_next_;
    if (connected_next_ != nullptr) connected_next_->connected_link_ = connected_link_;
    connected_link_ = nullptr;
    connected_next_ = nullptr;
  }

  uint8_t protocol_;
  bool accepts_v4_ = false;
};

class TransportDemux {
 public:
  explicit TransportDemux(uint64_t secret);
  ~TransportDemux();
  TransportDemux(const TransportDemux&) = delete;
  TransportDemux& operator=(const TransportDemux&) = delete;
  // Empty, with the tables it was built with (Stack::reset, once every endpoint is gone).
  void reset();

  // Enters ep under id (connected if id.remote_port != 0, else bound). Re-registering moves it.
  // Two connected endpoints may not share a 5-tuple (kAddressInUse).
  Status add(TransportEndpoint& ep, const TransportEndpointId& id);
  void remove(TransportEndpoint& ep);

  // The endpoint for an inbound packet: id.local_* is the packet's destination,
  // id.remote_* its source. nullptr when none. Order: the exact connected 5-tuple, a bound
  // endpoint on the address, a wildcard of the family, then (IPv4 only) a dual-stack IPv6
  // wildcard.
  TransportEndpoint* find(uint8_t protocol, const TransportEndpointId& id) const;
  // Is this 5-tuple taken by a connected endpoint?
  bool connected_exists(uint8_t protocol, const TransportEndpointId& id) const;
  // Every bound (unconnected) endpoint on port whose local address accepts dst (dual-stack
  // IPv6 wildcards accept IPv4), for broadcast and multicast delivery.
  template <typename F>
  void for_each_bound(uint8_t protocol, uint16_t port, const IpAddress& dst, F&& f) const;

  size_t connected_count() const { return connected_size_; }

 private:
  struct BoundKeyOf;
  struct Hasher;
  struct Equal;
  class Tables;
  std::unique_ptr<Tables> tables_;
  size_t connected_size_ = 0;

  std::vector<TransportEndpoint*> bound_candidates(uint8_t protocol, uint16_t port) const;
  // find() when no connected endpoint has the 5-tuple.
  TransportEndpoint* find_bound(uint8_t protocol, const TransportEndpointId& id) const;
};

template <typename F>
void TransportDemux::for_each_bound(uint8_t protocol, uint16_t port, const IpAddress& dst,
                                    F&& f) const {
  for (TransportEndpoint* ep : bound_candidates(protocol, port)) {
    const auto& local = ep->demux_id().local_address;
    if (local.family() != dst.family()) {
      if (dst.is_v4() && local.is_unspecified() && ep->accepts_v4()) f(*ep);
      continue;
    }
    if (local.is_unspecified() || local == dst) f(*ep);
  }
}

struct PortBindingOptions {
  bool reuse_address = false;  // SO_REUSEADDR
  bool reuse_port = false;     // SO_REUSEPORT
  // An IPv6 wildcard bind without IPV6_V6ONLY: it holds the port for IPv4 too, so it
  // conflicts with IPv4 binds of the port (as in Linux).
  bool dual_stack = false;
};

// The local ports handed out to sockets that do not pick one (Linux's ip_local_port_range),
// both ends included.
struct PortRange {
  uint16_t first = 32768;  // Linux's default
  uint16_t last = 60999;
  size_t size() const { return size_t{last} - first + 1; }
  // What makes this range unusable, for an error message; nullopt when it is fine.
  std::optional<std::string> problem() const;
  bool operator==(const PortRange&) const = default;
};

// Which local ports are taken. A reservation is (protocol, port, local address) plus the
// owner's reuse flags; release takes the handle reserve returned.
class PortTable {
 public:
  using Handle = uint64_t;

  // Linux's default ip_local_port_range, the default of StackOptions::ephemeral_ports.
  static constexpr uint16_t kEphemeralFirst = PortRange{}.first;
  static constexpr uint16_t kEphemeralLast = PortRange{}.last;

  // range must be valid (range.problem() is nullopt); an invalid one is replaced by the
  // default, so the Stack checks it first.
  explicit PortTable(PortRange ephemeral = {});

  const PortRange& ephemeral_range() const { return ephemeral_; }
  // Applies to ports picked from now on; ports already held stay. kInvalidArgument when
  // range.problem() says why it cannot be used.
  Status set_ephemeral_range(PortRange range);

  // bind() to a given port. It conflicts with a reservation of the port on an overlapping
  // address unless both set SO_REUSEPORT, or both set SO_REUSEADDR and either the protocol is
  // UDP or the other holder is a connection that took the port through connect(), as in Linux.
  // Two TCP binds never share through SO_REUSEADDR here (Linux lets them until one listens).
  Result<Handle> reserve(uint8_t protocol, uint16_t port, const IpAddress& local,
                         PortBindingOptions options);
  // bind() to port 0: a port of the ephemeral range that nobody holds, reserved as by
  // reserve(). remote may be omitted (UDP bind); see pick() for the order ports are tried in.
  Result<std::pair<uint16_t, Handle>> reserve_ephemeral(
      uint8_t protocol, const IpAddress& local, PortBindingOptions options, Rng& rng,
      const std::optional<SocketAddress>& remote = {});
  // connect() on a socket without a port: a port of the ephemeral range that no bind() holds
  // and that makes (local, port, remote) a 4-tuple no connection in demux has (TIME-WAIT
  // included). Other connections may hold the port towards other destinations, and may be
  // given it later. local must be the concrete source address. kAddressNotAvailable when every
  // port of the range is taken towards this destination.
  Result<std::pair<uint16_t, Handle>> reserve_for_connect(uint8_t protocol, const IpAddress& local,
                                                          const SocketAddress& remote,
                                                          PortBindingOptions options, Rng& rng,
                                                          const TransportDemux& demux);
  // Before a bound TCP socket listens: a listener may not share its port through SO_REUSEADDR
  // (Linux's inet_csk_listen_start repeats the bind check as a listener). kAddressInUse when a
  // connection holding the port on an overlapping address was let in by SO_REUSEADDR alone.
  Status check_listen(Handle handle) const;
  void release(Handle handle);
  bool in_use(uint8_t protocol, uint16_t port) const;

  // The key of RFC 6056's offset hash. The Stack gives its secret (drawn from the kernel's
  // CSPRNG, see StackOptions::secret), so ports are not predictable from the seeded Rng's
  // wire-visible outputs; a PortTable used alone keys itself from its caller's Rng.
  void set_secret(const SipKey& key) {
    ephemeral_key_ = key;
    ephemeral_next_ = static_cast<uint32_t>(key.derive(1).k0);
    ephemeral_keyed_ = true;
  }

 private:
  struct Binding {
    Handle handle;
    IpAddress local;
    PortBindingOptions options;
    bool by_connect = false;  // taken by connect(): shared with other connections
  };
  static uint32_t key(uint8_t protocol, uint16_t port) { return (uint32_t{protocol} << 16) | port; }
  static bool overlap(const Binding& b, const IpAddress& local, PortBindingOptions options);
  bool conflicts(uint8_t protocol, uint16_t port, const IpAddress& local,
                 PortBindingOptions options) const;
  Handle add(uint8_t protocol, uint16_t port, const Binding& binding);
  // RFC 6056 algorithm 3: calls take(port) on the ports of the range in the order to try,
  // until it returns a handle; the search starts at a keyed hash of the destination plus a
  // counter that moves on with every pick, so successive connections walk through the range
  // instead of landing at random on ports whose last 4-tuple may still be in TIME-WAIT at the
  // peer, and an off-path observer cannot predict one destination's ports from another's.
  template <typename Take>
  Result<std::pair<uint16_t, Handle>> pick(const IpAddress& local,
                                           const std::optional<SocketAddress>& remote, Rng& rng,
                                           Take&& take);

  // A handle carries its binding's key in its low 24 bits, above them a serial number that
  // tells the holders of one port apart: release() needs no map from handles to ports.
  static constexpr unsigned kKeyBits = 24;
  static uint32_t key_of(Handle handle) { return static_cast<uint32_t>(handle & 0xffffff); }
  using Bindings = std::unordered_multimap<uint32_t, Binding>;
  Bindings::iterator find_binding(Handle handle);

  PortRange ephemeral_;
  // One node per holder: most ports have one (each outgoing connection its own), and a node
  // with the binding inline costs half of a map node, a vector of holders and a handle entry.
  Bindings bindings_;
  Handle next_serial_ = 1;
  SipKey ephemeral_key_;  // set_secret's key, else drawn from the caller's Rng on first use
  bool ephemeral_keyed_ = false;
  uint32_t ephemeral_next_ = 0;  // RFC 6056's next_ephemeral
};

}  // namespace weir
