// fuzz_sandbox_abi: the structures a sandboxed program hands the supervisor by pointer, as the
// supervisor decodes them after copying them out: socket addresses (every family), msghdr and
// its iovec array, struct timeval options, the control messages it builds back, and the
// /proc/.../net path test. The program is untrusted; nothing here may crash, read out of
// bounds or loop.
//
// Input layout: byte 0 chooses a starting offset for the views (so lengths vary), the rest is
// fed to every decoder.
#include <cstddef>
#include <cstdint>
#include <string>
#include <span>
#include <string_view>

#include "sandbox/emulator.h"
#include "sandbox/msghdr.h"
#include "sandbox/sockaddr.h"
#include "sandbox/socket.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace weir;
  using namespace weir::sandbox;
  if (size == 0) return 0;
  ByteView all = std::as_bytes(std::span<const uint8_t>(data, size));
  ByteView input = all.subspan(1 + (data[0] % std::min<size_t>(size, 8)) % size);

  if (auto a = decode_sockaddr(input.first(std::min(input.size(), kSockaddrMaxSize)))) {
    if (a->family == 2 || a->family == 10) {
      auto back = encode_inet(a->family, a->inet);
      auto again = decode_sockaddr(back);
      if (!again || !(again->inet == a->inet || is_v4_mapped(a->inet.address))) __builtin_trap();
    }
  }
  if (auto m = decode_msghdr(input)) {
    if (m->iov_count > kMaxIovecs) __builtin_trap();
    if (auto iov = decode_iovecs(input, static_cast<size_t>(m->iov_count))) (void)total_length(*iov);
  }
  (void)decode_iovecs(input, input.size() / kIovecSize);
  (void)decode_timeval(input);

  // Control messages from input-sized pieces, into a capacity the input names.
  std::vector<ControlMessage> messages;
  for (size_t off = 0; off + 3 <= input.size() && messages.size() < 8;) {
    size_t len = std::to_integer<uint8_t>(input[off]) % 40;
    ControlMessage m{std::to_integer<uint8_t>(input[off + 1]), std::to_integer<uint8_t>(input[off + 2]),
                     {}};
    off += 3;
    len = std::min(len, input.size() - off);
    m.data.assign(input.begin() + static_cast<ptrdiff_t>(off), input.begin() + static_cast<ptrdiff_t>(off + len));
    off += len;
    messages.push_back(std::move(m));
  }
  bool truncated = false;
  size_t capacity = size > 1 ? data[1] : 0;
  auto control = encode_control(messages, capacity, &truncated);
  if (control.size() > capacity) __builtin_trap();

  std::string path;
  for (std::byte b : input) path.push_back(static_cast<char>(b));
  (void)proc_net_name(path);
  return 0;
}
