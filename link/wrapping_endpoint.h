// WrappingEndpoint: the base of every endpoint that sits between the stack and another
// endpoint (fault, sniffer, ...). It owns the inner endpoint, is the inner endpoint's
// dispatcher, and delegates everything a wrapper does not change, so a wrapper states only
// what it does: its transmit path (write_packets), its receive path (on_inner_receive) and,
// when it changes them, the capabilities it advertises.
//
// Receive path: the inner endpoint delivers to a private dispatcher, which calls
// on_inner_receive(); the default passes the packet up through deliver_up(), which hands it to
// the stack's dispatcher (false when none is attached, for the wrapper to count).
#pragma once

#include <memory>
#include <span>

#include "stack/link_endpoint.h"

namespace weir::link {

class WrappingEndpoint : public LinkEndpoint {
 public:
  explicit WrappingEndpoint(std::unique_ptr<LinkEndpoint> inner);
  ~WrappingEndpoint() override;
  WrappingEndpoint(const WrappingEndpoint&) = delete;
  WrappingEndpoint& operator=(const WrappingEndpoint&) = delete;

  uint32_t mtu() const override { return inner_->mtu(); }
  LinkCapabilities capabilities() const override { return inner_->capabilities(); }
  uint16_t max_header_length() const override { return inner_->max_header_length(); }
  MacAddress link_address() const override { return inner_->link_address(); }
  void attach(NetworkDispatcher* dispatcher) override { dispatcher_ = dispatcher; }
  bool attached() const override { return dispatcher_ != nullptr; }
  Result<size_t> write_packets(std::span<PacketBuffer> packets) override {
    return inner_->write_packets(packets);
  }
  size_t transmit_room() const override { return inner_->transmit_room(); }
  int readable_fd() const override { return inner_->readable_fd(); }
  bool needs_polling() const override { return inner_->needs_polling(); }
  size_t process_receive(size_t budget) override { return inner_->process_receive(budget); }

  LinkEndpoint& inner() { return *inner_; }
  const LinkEndpoint& inner() const { return *inner_; }

 protected:
  // A packet the inner endpoint received. The default passes it up.
  virtual void on_inner_receive(PacketBuffer pkt) { (void)deliver_up(std::move(pkt)); }
  // Hands pkt to the stack; false (pkt dropped) when no dispatcher is attached.
  bool deliver_up(PacketBuffer pkt);

 private:
  class InnerDispatcher final : public NetworkDispatcher {
   public:
    explicit InnerDispatcher(WrappingEndpoint& owner) : owner_(owner) {}
    void deliver_network_packet(PacketBuffer&& pkt) override {
      owner_.on_inner_receive(std::move(pkt));
    }

   private:
    WrappingEndpoint& owner_;
  };

  std::unique_ptr<LinkEndpoint> inner_;
  InnerDispatcher inner_dispatcher_{*this};
  NetworkDispatcher* dispatcher_ = nullptr;
};

}  // namespace weir::link
