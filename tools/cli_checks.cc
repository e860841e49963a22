#include "tools/cli_checks.h"

#include "stack/address.h"

namespace weir::tools {

std::string check_interface_name(std::string& text) {
  if (text.empty() || text.size() > kMaxInterfaceName)
    return "an interface name has 1.." + std::to_string(kMaxInterfaceName) + " characters";
  for (char c : text) {
    if (c == '/' || c == ':' || c <= ' ' || c > '~')
      return "'" + text + "' is not a valid interface name";
  }
  if (text == "." || text == "..") return "'" + text + "' is not a valid interface name";
  return {};
}

std::string check_mac(std::string& text) {
  auto mac = MacAddress::parse(text);
  if (!mac) return "'" + text + "' is not a MAC address, e.g. 02:00:00:00:00:01";
  if (mac->is_multicast() || mac->is_zero()) return "the MAC address must be unicast and non-zero";
  return {};
}

std::string check_prefix6(std::string& text) {
  auto prefix = IpPrefix::parse(text);
  if (!prefix || !prefix->address.is_v6()) {
    return "'" + text + "' is not an IPv6 address with a prefix length, e.g. fd00::2/64";
  }
  const Ipv6Address a = prefix->address.v6();
  if (a.is_multicast() || a.is_unspecified() || a.is_loopback() || a.is_v4_mapped()) {
    return "'" + text + "' cannot be an interface address (multicast, ::, ::1 or IPv4-mapped)";
  }
  if (prefix->length == 0 || prefix->length > 128) return "prefix length must be 1..128";
  return {};
}

CLI::Option* add_fault_option(CLI::App* cmd, std::optional<link::FaultOptions>& target,
                              const std::string& what) {
  return cmd
      ->add_option_function<std::string>(
          "--fault",
          [&target](const std::string& spec) {
            std::string message;
            auto fault = link::parse_fault_spec(spec, &message);
            if (!fault) throw CLI::ValidationError(message);
            target = *fault;
          },
          "Impair " + what +
              ": loss=2%,reorder=1%,dup=1%,delay=5ms,jitter=1ms,corrupt=0.1%,\n"
              "rate=100mbit,queue=BYTES,seed=N,dir=tx|rx|both")
      ->type_name("SPEC");
}

}  // namespace weir::tools
