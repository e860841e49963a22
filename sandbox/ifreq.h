// The SIOCGIF* interface ioctls (struct ifreq) answered from a NetState: what ifconfig,
// net-tools, old getifaddrs replacements and many a program's "what is my address" code ask.
#pragma once

#include <cstddef>
#include <vector>

#include "sandbox/net_state.h"
#include "stack/bytes.h"
#include "stack/result.h"

namespace weir::sandbox {

// sizeof(struct ifreq) on 64-bit Linux: a 16-byte name and a 24-byte union.
inline constexpr size_t kIfreqRecordSize = 40;

// The struct ifreq the kernel would copy back to the program for `request`, given the one the
// program passed (`ifreq_in`, at least kIfreqRecordSize bytes, else kBadAddress). Bytes the
// kernel leaves alone keep their input values, as on Linux.
//
// Served: SIOCGIFNAME (by ifr_ifindex), SIOCGIFFLAGS, SIOCGIFADDR, SIOCGIFDSTADDR,
// SIOCGIFBRDADDR, SIOCGIFNETMASK, SIOCGIFMETRIC, SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFINDEX,
// SIOCGIFTXQLEN, SIOCGIFMAP. Errors as Linux gives them to a program without CAP_NET_ADMIN:
// ENODEV for an unknown name or index, EADDRNOTAVAIL when the interface (or the "eth0:N"
// label) has no IPv4 address, EPERM for every SIOCS* setter and SIOCDIFADDR / SIOCADDMULTI /
// SIOCDELMULTI, EINVAL for SIOCGIFPFLAGS, EOPNOTSUPP for SIOCETHTOOL and the MII ioctls (their
// argument is a pointer this pure function cannot follow), ENOTTY for anything else.
Result<std::vector<std::byte>> answer_ifreq(unsigned long request, ByteView ifreq_in,
                                            const NetState& state);

// What SIOCGIFCONF fills its buffer with: one struct ifreq per IPv4 address (interfaces in
// index order), each naming the interface and holding a sockaddr_in with the address.
std::vector<std::byte> ifconf_records(const NetState& state);

}  // namespace weir::sandbox
