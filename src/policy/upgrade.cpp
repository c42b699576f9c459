#include "policy/upgrade.hpp"

#include "policy/http_fields.hpp"

namespace ringproxy {

namespace {

std::string_view protocol_name(std::string_view protocol) {
  return protocol.substr(0, protocol.find('/'));
}

}  // namespace

std::string_view tunnel_protocol(std::string_view method, unsigned version, bool connection_upgrade,
                                 std::string_view upgrade,
                                 const std::vector<std::string>& allowed) {
  if (method != "GET" || version != 11 || !connection_upgrade || allowed.empty()) return {};
  std::string_view chosen;
  for_each_token(upgrade, [&](std::string_view protocol) {
    if (!chosen.empty()) return;
    const std::string_view name = protocol_name(protocol);
    if (iequals(name, "h2c")) return;
    for (const std::string& a : allowed) {
      if (iequals(name, a)) {
        chosen = protocol;
        return;
      }
    }
  });
  return chosen;
}

bool upgrade_accepted(std::string_view response_upgrade, std::string_view asked) {
  bool first = true;
  bool accepted = false;
  for_each_token(response_upgrade, [&](std::string_view protocol) {
    if (!first) return;
    first = false;
    if (!iequals(protocol_name(protocol), protocol_name(asked))) return;
    accepted = protocol.find('/') == std::string_view::npos || iequals(protocol, asked);
  });
  return accepted;
}

}  // namespace ringproxy
