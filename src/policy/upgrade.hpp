// Pure rules for HTTP/1.1 Upgrade (RFC 9110 §7.8): which requests a proxy tunnels, and
// whether a backend's 101 switched to what was asked.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ringproxy {

// The protocol a request asks to tunnel, as it will be sent on in Upgrade ("websocket",
// "foo/2"), or empty when it is not tunnelled: a GET in HTTP/1.1 whose Connection lists
// "upgrade" (connection_upgrade) and whose Upgrade lists a protocol whose name (before any
// "/version") is in allowed (lower case). The first such protocol is chosen; "h2c" never is.
std::string_view tunnel_protocol(std::string_view method, unsigned version, bool connection_upgrade,
                                 std::string_view upgrade, const std::vector<std::string>& allowed);

// True when a 101's Upgrade value names the protocol that was asked (names compared without
// case; the version, when the 101 gives one, must be the one asked).
bool upgrade_accepted(std::string_view response_upgrade, std::string_view asked);

}  // namespace ringproxy
