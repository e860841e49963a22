#include "link/wrapping_endpoint.h"

#include <utility>

namespace weir::link {

WrappingEndpoint::WrappingEndpoint(std::unique_ptr<LinkEndpoint> inner) : inner_(std::move(inner)) {
  inner_->attach(&inner_dispatcher_);
}

WrappingEndpoint::~WrappingEndpoint() { inner_->attach(nullptr); }

bool WrappingEndpoint::deliver_up(PacketBuffer pkt) {
  if (dispatcher_ == nullptr) return false;
  dispatcher_->deliver_network_packet(std::move(pkt));
  return true;
}

}  // namespace weir::link
