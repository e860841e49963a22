#include "ipv4/fragmentation.h"

#include <algorithm>

namespace weir::ipv4 {

Result<std::vector<PacketBuffer>> fragment(const PacketBuffer& payload, const HeaderFields& base,
                                           uint32_t mtu) {
  if (mtu < kMinHeaderLength + 8) return Error::kMessageTooLong;
  if (payload.size() + kMinHeaderLength > kMaxDatagramLength) return Error::kMessageTooLong;
  if ((base.flags_and_offset & kFlagDontFragment) != 0) return Error::kMessageTooLong;

  const size_t chunk = (size_t{mtu} - kMinHeaderLength) & ~size_t{7};
  std::vector<PacketBuffer> out;
  out.reserve((payload.size() + chunk - 1) / chunk);
  size_t offset = 0;
  do {
    const size_t length = std::min(chunk, payload.size() - offset);
    const bool last = offset + length >= payload.size();
    PacketBuffer frag = payload.slice(offset, length);
    frag.meta() = payload.meta();
    HeaderFields fields = base;
    fields.total_length = static_cast<uint16_t>(kMinHeaderLength + length);
    fields.flags_and_offset = static_cast<uint16_t>((last ? 0 : kFlagMoreFragments) |
                                                    ((offset / 8) & kFragmentOffsetMask));
    emit_header(frag.push_front(kMinHeaderLength), fields);
    out.push_back(std::move(frag));
    offset += length;
  } while (offset < payload.size());
  return out;
}

}  // namespace weir::ipv4
