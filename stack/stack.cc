#include "stack/stack.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>

namespace weir {

namespace {
Rng make_rng(uint64_t seed) { return seed == 0 ? Rng::from_entropy() : Rng(seed); }
// What the stack's secret is derived into for the demux's bucket hash.
constexpr uint64_t kSecretDomainDemux = 1;
// ... and for the ephemeral port offsets (RFC 6056).
constexpr uint64_t kSecretDomainPorts = 2;
}  // namespace

Stack::Stack(const Clock& clock, StackOptions options)
    : options_(std::move(options)),
      clock_(clock),
      rng_(make_rng(options_.seed)),
      // Not value_or: its argument is evaluated even when a key was given, and a stack built
      // with an injected key (tests, fuzzers: thousands a second) should make no syscall.
      secret_(options_.secret ? *options_.secret : SipKey::from_os()),
      timers_(clock_, options_.timer_tick),
      demux_(secret_.derive(kSecretDomainDemux).k0),
      ports_(options_.ephemeral_ports),
      fragment_memory_(options_.fragment_memory_limit),
      socket_memory_(options_.socket_memory.value_or(SocketMemoryLimits::for_this_machine())) {
  options_.socket_memory = socket_memory_.limits();
  if (auto problem = options_.ephemeral_ports.problem()) {
    // A constructor cannot return an error, and a stack quietly using another range than the
    // one asked for would be worse than stopping here.
    std::fprintf(stderr, "weir: StackOptions::ephemeral_ports: %s\n", problem->c_str());
    std::abort();
  }
  ports_.set_secret(secret_.derive(kSecretDomainPorts));
  counters_.add_struct("socket_memory", socket_memory_);
}

Result<std::unique_ptr<Stack>> Stack::create(const Clock& clock, StackOptions options,
                                             std::string* message) {
  if (auto problem = options.ephemeral_ports.problem()) {
    if (message) *message = "ephemeral port range: " + *problem;
    return Error::kInvalidArgument;
  }
  return std::make_unique<Stack>(clock, std::move(options));
}

Stack::~Stack() {
  // Protocols hold timers and endpoints that reference NICs and the demux: destroy them first,
  // then the NICs (which detach their endpoints).
  transport_protocols_.clear();
  network_by_ethertype_.clear();
  network_protocols_.clear();
  nics_.clear();
}

void Stack::reset() {
  // In the destructor's order, then every member of the core as the constructor leaves it.
  transport_protocols_.clear();
  transport_by_number_.fill(nullptr);
  network_by_ethertype_.clear();
  network_protocols_.clear();
  nics_.clear();
  routes_.clear();
  batch_end_tasks_.clear();
  rng_ = make_rng(options_.seed);
  timers_.reset();
  demux_.reset();
  ports_ = PortTable(options_.ephemeral_ports);
  ports_.set_secret(secret_.derive(kSecretDomainPorts));
  fragment_memory_.reset(options_.fragment_memory_limit);
  socket_memory_.reset(*options_.socket_memory);
  counters_.clear();
  counters_.add_struct("socket_memory", socket_memory_);
}

Stack::PollResult Stack::poll(std::optional<TimePoint> now) {
  auto run = [this] {
    PollResult result;
    for (size_t i = 0; i < nics_.size(); ++i) {
      if (!nics_[i]) continue;
      const size_t n = nics_[i]->endpoint().process_receive(kPollBudget);
      result.work += n;
      if (n >= kPollBudget) result.more = true;
    }
    result.work += run_timers();
    result.next_deadline = timers_.next_deadline();
    return result;
  };
  if (now) {
    Batch batch(*this, *now);
    return run();
  }
  Batch batch(*this);
  return run();
}

void Stack::defer_to_batch_end(BatchEndTask& task) {
  if (!in_batch()) {
    task.on_batch_end();
    return;
  }
  if (!task.is_linked()) batch_end_tasks_.push_back(task);
}

void Stack::run_batch_end_tasks() {
  // A task may defer others (or itself again) while it runs: they run in this end too. The
  // bound only stops a task that re-defers itself forever; what is left waits for the next
  // batch.
  for (int round = 0; round < 8 && !batch_end_tasks_.empty(); ++round) {
    BatchEndTaskList running;
    running.splice(running.end(), batch_end_tasks_);
    while (!running.empty()) {
      BatchEndTask& task = running.front();
      running.pop_front();
      task.on_batch_end();
    }
  }
}

Stack::WaitSet Stack::wait_set() const {
  WaitSet set;
  for (const auto& nic : nics_) {
    if (!nic) continue;
    const LinkEndpoint& endpoint = nic->endpoint();
    if (const int fd = endpoint.readable_fd(); fd >= 0) {
      set.readable_fds.push_back(fd);
    } else if (endpoint.needs_polling()) {
      set.needs_polling = true;
    }
  }
  return set;
}

Result<NicId> Stack::add_nic(std::unique_ptr<LinkEndpoint> endpoint, std::string name) {
  if (!endpoint) return Error::kInvalidArgument;
  if (nic_by_name(name) != nullptr) return Error::kAddressInUse;
  NicId id = static_cast<NicId>(nics_.size() + 1);
  nics_.push_back(std::make_unique<Nic>(*this, id, std::move(name), std::move(endpoint)));
  counters_.add_struct("nic." + nics_.back()->name(), nics_.back()->counters());
  return id;
}

Nic* Stack::nic_by_name(std::string_view name) {
  for (auto& n : nics_) {
    if (n->name() == name) return n.get();
  }
  return nullptr;
}

std::vector<NicId> Stack::nic_ids() const {
  std::vector<NicId> ids;
  for (const auto& n : nics_) ids.push_back(n->id());
  return ids;
}

Status Stack::add_address(NicId id, const IpPrefix& prefix) {
  Nic* n = nic(id);
  if (n == nullptr) return Error::kNoDevice;
  WEIR_TRY(n->add_address(prefix));
  add_route(Route{prefix.network(), std::nullopt, id});
  if (IpProtocol* ip = ip_protocol(prefix.address.family())) ip->address_added(*n, prefix);
  return {};
}

void Stack::register_network_protocol(std::unique_ptr<NetworkProtocol> protocol) {
  network_by_ethertype_.emplace_back(protocol->ethertype(), protocol.get());
  network_protocols_.push_back(std::move(protocol));
}

void Stack::register_transport_protocol(std::unique_ptr<TransportProtocol> protocol) {
  transport_by_number_[protocol->number()] = protocol.get();
  transport_protocols_.push_back(std::move(protocol));
}

uint32_t IpProtocol::path_mtu(const Nic& nic, const IpAddress& remote) const {
  (void)remote;
  return nic.mtu();
}

std::optional<IpAddress> IpProtocol::select_source(const Nic& nic, const IpAddress& remote,
                                                   const IpAddress& next_hop) const {
  return nic.select_source(remote.family(), next_hop);
}

void Stack::add_route(const Route& route) {
  if (std::find(routes_.begin(), routes_.end(), route) != routes_.end()) return;
  routes_.push_back(route);
}

void Stack::remove_route(const Route& route) {
  routes_.erase(std::remove(routes_.begin(), routes_.end(), route), routes_.end());
}

void Stack::remove_routes_for(NicId id) {
  routes_.erase(std::remove_if(routes_.begin(), routes_.end(),
                               [&](const Route& r) { return r.nic == id; }),
                routes_.end());
}

std::optional<NicId> Stack::nic_with_address(const IpAddress& address) const {
  for (const auto& n : nics_) {
    if (n->has_address(address)) return n->id();
  }
  return std::nullopt;
}

Result<RouteInfo> Stack::find_route(const IpAddress& remote, const IpAddress& local,
                                    std::optional<NicId> only_nic) const {
  if (!local.is_unspecified() && local.family() != remote.family()) {
    return Error::kInvalidArgument;
  }
  std::optional<NicId> local_nic;
  if (!local.is_unspecified() && !local.is_multicast()) {
    local_nic = nic_with_address(local);
    if (!local_nic) return Error::kAddressNotAvailable;
  }

  const Route* best = nullptr;
  for (const auto& r : routes_) {
    if (r.destination.address.family() != remote.family()) continue;
    if (only_nic && r.nic != *only_nic) continue;
    const Nic* n = nic(r.nic);
    if (n == nullptr || !n->enabled()) continue;
    if (!r.destination.contains(remote)) continue;
    if (best == nullptr || r.destination.length > best->destination.length) best = &r;
  }
  // The limited broadcast address is on-link everywhere: without a route covering it, it
  // leaves through the named NIC, the source address's NIC, or the first IPv4 NIC.
  std::optional<Route> broadcast_route;
  if (best == nullptr && remote.is_v4() && remote.v4().is_broadcast()) {
    for (const auto& candidate : nics_) {
      NicId id = candidate->id();
      if (only_nic && id != *only_nic) continue;
      if (local_nic && id != *local_nic) continue;
      if (!candidate->enabled() || !candidate->select_source(AddressFamily::kIpv4)) continue;
      broadcast_route = Route{IpPrefix{remote, 32}, std::nullopt, id};
      break;
    }
    if (broadcast_route) best = &*broadcast_route;
  }
  if (best == nullptr) return Error::kNetworkUnreachable;

  const Nic* n = nic(best->nic);
  RouteInfo info;
  info.nic = best->nic;
  info.remote_address = remote;
  info.next_hop = best->gateway.value_or(remote);
  info.mtu = n->mtu();
  if (const IpProtocol* ip = ip_protocol(remote.family())) info.mtu = ip->path_mtu(*n, remote);
  if (!local.is_unspecified()) {
    info.local_address = local;
  } else if (best->source && best->source->family() == remote.family() &&
             is_local_address(*best->source)) {
    info.local_address = *best->source;
  } else {
    const IpAddress toward = best->gateway.value_or(remote);
    const IpProtocol* ip = ip_protocol(remote.family());
    auto src = ip != nullptr ? ip->select_source(*n, remote, toward)
                             : n->select_source(remote.family(), toward);
    if (!src) return Error::kAddressNotAvailable;
    info.local_address = *src;
  }
  if (remote.is_v4()) {
    if (remote.v4().is_broadcast()) {
      info.broadcast = true;
    } else {
      for (const auto& p : n->addresses()) {
        if (!p.address.is_v4() || p.length >= 31) continue;
        uint32_t host_mask = p.length == 0 ? ~0u : ~(~0u << (32 - p.length));
        if (p.contains(remote) && (remote.v4().value() & host_mask) == host_mask) {
          info.broadcast = true;
        }
      }
    }
  }
  return info;
}

}  // namespace weir
