// weir.h: the TCP and UDP flow forwarders.
//
// A TCP forwarder's handler is told about a SYN while the stack processes it; the C handler
// runs later, from dispatch_callbacks(), so it may open and connect sockets of its own (the
// tun2socks pattern) without re-entering the protocol that is handling the SYN. UDP must
// decide while its datagram is processed, so its C handler runs inline, with the narrow set of
// calls weir.h lists.
#include "capi/internal.h"

using weir::Error;
using weir::capi::fail;

namespace {

weir_flow make_flow(int protocol, uint64_t id, weir::NicId nic, const weir::SocketAddress& local,
                    const weir::SocketAddress& remote, size_t payload_size) {
  weir_flow flow{};
  flow.id = id;
  flow.protocol = protocol;
  flow.nic = nic;
  flow.local = weir::capi::to_c(local);
  flow.remote = weir::capi::to_c(remote);
  flow.payload_size = payload_size;
  return flow;
}

}  // namespace

extern "C" {

int weir_nic_set_accept_any(weir_stack* stack, weir_nic nic, int on) {
  if (stack == nullptr) return fail(Error::kInvalidArgument);
  weir::Nic* n = stack->stack->nic(nic);
  if (n == nullptr) return fail(Error::kNoDevice);
  n->set_accept_any_destination(on != 0);
  return 0;
}

int weir_forwarder_set(weir_stack* stack, int protocol, weir_forward_fn fn, void* user) {
  if (stack == nullptr) return fail(Error::kInvalidArgument);
  if (protocol == WEIR_PROTO_TCP) {
    if (fn == nullptr) {
      stack->tcp_forwarder.reset();
      stack->tcp_forward_fn = nullptr;
      stack->tcp_forward_user = nullptr;
      stack->pending_flows.clear();
      return 0;
    }
    if (stack->tcp_forwarder == nullptr) {
      weir_stack* raw = stack;
      auto f = weir::tcp::Forwarder::create(*stack->stack, [raw](
                                                               const weir::tcp::ForwardRequest& r) {
        raw->pending_flows.push_back(make_flow(WEIR_PROTO_TCP, r.id, r.nic, r.local, r.remote, 0));
        if (!raw->driving) raw->signal_pending();
      });
      if (!f) return fail(f.error());
      stack->tcp_forwarder = std::move(*f);
    }
    stack->tcp_forward_fn = fn;
    stack->tcp_forward_user = user;
    return 0;
  }
  if (protocol == WEIR_PROTO_UDP) {
    if (fn == nullptr) {
      stack->udp_forwarder.reset();
      stack->udp_forward_fn = nullptr;
      stack->udp_forward_user = nullptr;
      return 0;
    }
    if (stack->udp_forwarder == nullptr) {
      weir_stack* raw = stack;
      auto f =
          weir::udp::Forwarder::create(*stack->stack, [raw](const weir::udp::ForwardRequest& r) {
            if (raw->udp_forward_fn == nullptr) return;
            const weir_flow flow =
                make_flow(WEIR_PROTO_UDP, r.id, r.nic, r.local, r.remote, r.payload_size);
            raw->udp_forward_fn(raw, &flow, raw->udp_forward_user);
          });
      if (!f) return fail(f.error());
      stack->udp_forwarder = std::move(*f);
    }
    stack->udp_forward_fn = fn;
    stack->udp_forward_user = user;
    return 0;
  }
  return fail(Error::kInvalidArgument);
}

int weir_forwarder_accept(weir_stack* stack, int protocol, uint64_t id, weir_socket* out) {
  if (stack == nullptr || out == nullptr) return fail(Error::kInvalidArgument);
  if (protocol == WEIR_PROTO_TCP) {
    if (stack->tcp_forwarder == nullptr) return fail(Error::kNoProtocolOption);
    auto ep = stack->tcp_forwarder->accept(id);
    if (!ep) return fail(ep.error());
    weir::tcp::Endpoint& ref = **ep;
    auto handle = stack->allocate(std::move(*ep), nullptr);
    if (!handle) {
      ref.abort();
      return fail(handle.error());
    }
    *out = *handle;
    return 0;
  }
  if (protocol == WEIR_PROTO_UDP) {
    if (stack->udp_forwarder == nullptr) return fail(Error::kNoProtocolOption);
    auto ep = stack->udp_forwarder->accept(id);
    if (!ep) return fail(ep.error());
    auto handle = stack->allocate(nullptr, std::move(*ep));
    if (!handle) return fail(handle.error());
    *out = *handle;
    return 0;
  }
  return fail(Error::kInvalidArgument);
}

int weir_forwarder_refuse(weir_stack* stack, int protocol, uint64_t id) {
  if (stack == nullptr) return fail(Error::kInvalidArgument);
  if (protocol == WEIR_PROTO_TCP) {
    if (stack->tcp_forwarder == nullptr) return fail(Error::kNoProtocolOption);
    auto s = stack->tcp_forwarder->refuse(id);
    return s ? 0 : fail(s.error());
  }
  if (protocol == WEIR_PROTO_UDP) {
    if (stack->udp_forwarder == nullptr) return fail(Error::kNoProtocolOption);
    auto s = stack->udp_forwarder->refuse(id);
    return s ? 0 : fail(s.error());
  }
  return fail(Error::kInvalidArgument);
}

}  // extern "C"
