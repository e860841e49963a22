// Stack: owns the NICs, the route table, the protocol instances, the transport demux, the
// counters, the timer wheel and the RNG. One thread drives one Stack (see loop.h); nothing in
// it is locked. Two stacks in one process share nothing.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/intrusive/list.hpp>

#include "stack/clock.h"
#include "stack/counters.h"
#include "stack/demux.h"
#include "stack/memory_budget.h"
#include "stack/nic.h"
#include "stack/protocol.h"
#include "stack/result.h"
#include "stack/rng.h"
#include "stack/timer.h"

namespace weir {

struct Route {
  IpPrefix destination;             // 0.0.0.0/0 or ::/0 is the default route
  std::optional<IpAddress> gateway;  // nullopt: on-link
  NicId nic = 0;
  // The source address for unbound sockets using this route (Linux's `src`); nullopt: chosen
  // from the NIC's addresses. A route to one of the stack's own addresses through loopback
  // names that address, so a connection to it comes from it, as on Linux.
  std::optional<IpAddress> source;
  bool operator==(const Route&) const = default;
};

struct StackOptions {
  uint64_t seed = 0;               // seeds the stack's Rng; 0 means from the OS entropy pool
  // The key behind every value an off-path attacker must not guess: ISNs and timestamp
  // offsets (RFC 6528), SYN cookies, ephemeral port offsets (RFC 6056) and the demux's hash.
  // nullopt (the default, and what a deployment wants): 128 bits from the kernel's CSPRNG,
  // whatever the seed, because the seeded Rng's outputs are on the wire and give its state
  // away. Tests, fuzzers and replay inject a fixed key so their runs repeat.
  std::optional<SipKey> secret;
  Duration timer_tick = std::chrono::milliseconds(1);
  // Bytes all IP fragment reassembly (IPv4 and IPv6 together) may hold: Linux's 4 MiB
  // ipfrag_high_thresh, shared here across families.
  size_t fragment_memory_limit = size_t{4} << 20;
  // The levels of the receive memory all sockets (TCP and UDP) may pin together, in bytes:
  // Linux's tcp_mem (see SocketMemory). nullopt: Linux's defaults from this machine's
  // physical memory (pressure at 1/16, min at 3/64, the hard limit at 3/32).
  std::optional<SocketMemoryLimits> socket_memory;
  // The local ports connect() and bind(port 0) pick from (Linux's ip_local_port_range). A
  // connect() may reuse a port towards any other destination, so this bounds connections per
  // destination (address and port), not in total. It must pass PortRange::problem(): the
  // constructor aborts with that message otherwise; Stack::create returns kInvalidArgument
  // instead. ports().set_ephemeral_range changes it later.
  PortRange ephemeral_ports;
};

// Options whose every random choice, the secret included, follows from seed: for tests,
// fuzzers and replay, whose runs must repeat; never for a stack facing a real network.
inline StackOptions repeatable_stack_options(uint64_t seed) {
  StackOptions options;
  options.seed = seed;
  options.secret = SipKey{seed, ~seed}.derive(0);
  return options;
}

// Work a component defers to the end of the current batch of input (Stack::Batch), such as a
// TCP connection's one ACK for all the in-order segments a batch brought it, which is what GRO
// gives Linux. Unlinks itself when destroyed, so a task never outlives its owner in the list.
class BatchEndTask
    : public boost::intrusive::list_base_hook<
          boost::intrusive::link_mode<boost::intrusive::auto_unlink>> {
 public:
  virtual void on_batch_end() = 0;

 protected:
  BatchEndTask() = default;
  ~BatchEndTask() = default;
  // A copy is a new task, not yet deferred.
  BatchEndTask(const BatchEndTask&) : list_base_hook() {}
  BatchEndTask& operator=(const BatchEndTask&) { return *this; }
};
using BatchEndTaskList =
    boost::intrusive::list<BatchEndTask, boost::intrusive::constant_time_size<false>>;

class Stack {
 public:
  // Options must be valid (see StackOptions): the constructor aborts on an invalid one.
  Stack(const Clock& clock, StackOptions options = {});
  // The same, for options that come from a user: kInvalidArgument, with the reason in
  // *message when given, instead of aborting.
  static Result<std::unique_ptr<Stack>> create(const Clock& clock, StackOptions options = {},
                                               std::string* message = nullptr);
  ~Stack();
  Stack(const Stack&) = delete;
  Stack& operator=(const Stack&) = delete;

  // Returns the stack to what its constructor left, keeping the memory of its core: destroys
  // every protocol (with their caches, reassembly queues, timers and counters), NIC (with its
  // link endpoint) and route, re-seeds the Rng from StackOptions::seed, re-bases the timer wheel
  // on the clock's now, and gives the demux, the port table, the memory budgets and the
  // counter registry their first state again; the secret stays. Whatever is built on it again
  // then behaves as on a new Stack(clock, options) built at the clock's now. Sockets and
  // anything else holding references into the stack must be gone first, as before destroying
  // it, and no Batch may be open. For callers that build many short-lived stacks (a fuzzer
  // builds one per input): the core's allocations and their clearing are most of what an empty
  // stack costs to build and destroy.
  void reset();

  const Clock& clock() const { return clock_; }
  TimePoint now() const { return clock_.now(); }
  // A batch of work at one instant (see BatchClock): the Loop opens one per iteration; an
  // embedder driving the stack from its own loop may do the same around each round of input.
  // Batches nest: only the outermost reads the clock and lets go of it.
  class Batch {
   public:
    explicit Batch(Stack& stack) : stack_(stack), outermost_(!stack.clock_.holding()) {
      if (outermost_) stack_.clock_.hold();
    }
    // A batch at an instant the caller read from the stack's clock.
    Batch(Stack& stack, TimePoint now) : stack_(stack), outermost_(!stack.clock_.holding()) {
      if (outermost_) stack_.clock_.hold(now);
    }
    // The outermost batch runs the work deferred to its end (defer_to_batch_end), still at
    // the batch's instant, then lets go of the clock.
    ~Batch() {
      if (!outermost_) return;
      // Most batches defer nothing: asked here, that costs no call.
      if (!stack_.batch_end_tasks_.empty()) stack_.run_batch_end_tasks();
      stack_.clock_.release();
    }
    Batch(const Batch&) = delete;
    Batch& operator=(const Batch&) = delete;

   private:
    Stack& stack_;
    bool outermost_;
  };
  bool in_batch() const { return clock_.holding(); }
  // Runs task.on_batch_end() once when the outermost batch ends, however often it is deferred
  // before then; outside a batch, at once. A task destroyed before the end is simply dropped.
  void defer_to_batch_end(BatchEndTask& task);
  TimerWheel& timers() { return timers_; }
  Rng& rng() { return rng_; }
  CounterRegistry& counters() { return counters_; }
  const CounterRegistry& counters() const { return counters_; }
  TransportDemux& demux() { return demux_; }
  PortTable& ports() { return ports_; }
  // The reassembly memory both IP families draw from (see stack/memory_budget.h).
  MemoryBudget& fragment_memory() { return fragment_memory_; }
  // The memory every socket charges (see SocketMemory in stack/memory_budget.h).
  SocketMemory& socket_memory() { return socket_memory_; }
  const SocketMemory& socket_memory() const { return socket_memory_; }
  // Secret key material for keyed hashes (ISNs, SYN cookies): StackOptions::secret, or drawn
  // once from the kernel's CSPRNG. Each use derives its own key from it (SipKey::derive).
  const SipKey& secret() const { return secret_; }

  // NICs. The stack owns the endpoint; the returned id names the NIC from now on.
  Result<NicId> add_nic(std::unique_ptr<LinkEndpoint> endpoint, std::string name);
  // Inline: every datagram sent looks its NIC up.
  Nic* nic(NicId id) { return id == 0 || id > nics_.size() ? nullptr : nics_[id - 1].get(); }
  const Nic* nic(NicId id) const {
    return id == 0 || id > nics_.size() ? nullptr : nics_[id - 1].get();
  }
  Nic* nic_by_name(std::string_view name);
  std::vector<NicId> nic_ids() const;
  // Whether pred holds for any NIC, without building a list: per-datagram checks (is this a
  // broadcast address of some subnet of ours?) ask it.
  template <typename Pred>
  bool any_nic(Pred&& pred) const {
    for (const auto& n : nics_) {
      if (n != nullptr && pred(std::as_const(*n))) return true;
    }
    return false;
  }
  Status add_address(NicId nic, const IpPrefix& prefix);  // also adds the on-link route

  // Protocols. The stack owns them; the caller keeps a reference if it needs one.
  template <typename P>
  P& add_network_protocol(std::unique_ptr<P> protocol) {
    P& ref = *protocol;
    register_network_protocol(std::move(protocol));
    return ref;
  }
  template <typename P>
  P& add_transport_protocol(std::unique_ptr<P> protocol) {
    P& ref = *protocol;
    register_transport_protocol(std::move(protocol));
    return ref;
  }
  // Inline, all three: every packet received looks up its network and its transport protocol,
  // and every segment sent its IP layer.
  NetworkProtocol* network_protocol(uint16_t ethertype) const {
    for (const auto& [type, protocol] : network_by_ethertype_) {
      if (type == ethertype) return protocol;
    }
    return nullptr;
  }
  IpProtocol* ip_protocol(AddressFamily family) const {
    const uint16_t ethertype = family == AddressFamily::kIpv4 ? kEtherTypeIpv4 : kEtherTypeIpv6;
    // Only IP layers register these EtherTypes, so the downcast names what they are.
    return static_cast<IpProtocol*>(network_protocol(ethertype));
  }
  TransportProtocol* transport_protocol(uint8_t number) const {
    return transport_by_number_[number];
  }

  // Routes: longest prefix wins; among equal prefixes, the first added.
  void add_route(const Route& route);
  // Removes the route equal to route, if present.
  void remove_route(const Route& route);
  void remove_routes_for(NicId nic);
  const std::vector<Route>& routes() const { return routes_; }
  // Resolves how to reach remote: NIC, next hop and source address. `local` (if specified)
  // must be one of our addresses and fixes the source; `nic` restricts the choice of NIC.
  Result<RouteInfo> find_route(const IpAddress& remote, const IpAddress& local = IpAddress(),
                               std::optional<NicId> nic = {}) const;
  // The NIC that owns address, if any.
  std::optional<NicId> nic_with_address(const IpAddress& address) const;
  bool is_local_address(const IpAddress& address) const {
    return nic_with_address(address).has_value();
  }

  // Fires due timers. The loop calls this; tests call it after ManualClock::advance.
  size_t run_timers() { return timers_.run(clock_.now()); }

  // Driving the stack from an embedder's own loop (smoltcp's model), instead of a Loop:
  //
  //   for (;;) {
  //     auto r = stack.poll();                 // receive what every NIC has, fire due timers
  //     wait for stack.wait_set().readable_fds (and the embedder's own), at most until
  //     r.next_deadline
  //   }
  //
  // poll() runs one batch at one instant: `now` if given (a reading of the stack's clock, for
  // an embedder that already read it), else the clock's. It takes up to kPollBudget packets
  // from each NIC's endpoint; `work` says how many packets and timers it handled, and when it
  // is kPollBudget or more for some NIC, more may be waiting: poll again before sleeping.
  // Like everything on a Stack, poll() belongs to the one thread that drives it.
  static constexpr size_t kPollBudget = 256;
  struct PollResult {
    size_t work = 0;
    std::optional<TimePoint> next_deadline;  // the next timer; nullopt: none armed
    bool more = false;  // a NIC filled its budget: poll again before waiting
  };
  PollResult poll(std::optional<TimePoint> now = std::nullopt);
  // What a poll() loop waits on: the NICs' readable fds, and whether some NIC has no fd and
  // must be polled regularly instead (a DPDK port; LinkEndpoint::needs_polling()). In-memory
  // endpoints (channel, packet queue) have no fd: their owner knows when it fed them (one made
  // thread-safe for another thread's injections has one, and it is listed).
  struct WaitSet {
    std::vector<int> readable_fds;
    bool needs_polling = false;
  };
  WaitSet wait_set() const;

 private:
  void register_network_protocol(std::unique_ptr<NetworkProtocol> protocol);
  void register_transport_protocol(std::unique_ptr<TransportProtocol> protocol);
  void run_batch_end_tasks();

  // What the constructor was given (socket_memory resolved), for reset().
  StackOptions options_;
  BatchClock clock_;
  BatchEndTaskList batch_end_tasks_;
  Rng rng_;
  SipKey secret_;
  TimerWheel timers_;
  CounterRegistry counters_;
  TransportDemux demux_;
  PortTable ports_;
  MemoryBudget fragment_memory_;
  SocketMemory socket_memory_;
  std::vector<std::unique_ptr<Nic>> nics_;
  std::vector<Route> routes_;
  std::vector<std::unique_ptr<NetworkProtocol>> network_protocols_;
  // Each protocol's ethertype(), asked once when it registers: every received packet looks its
  // protocol up, and a virtual call per protocol tried was most of that.
  std::vector<std::pair<uint16_t, NetworkProtocol*>> network_by_ethertype_;
  std::vector<std::unique_ptr<TransportProtocol>> transport_protocols_;
  std::array<TransportProtocol*, 256> transport_by_number_{};
};

}  // namespace weir
