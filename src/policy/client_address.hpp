// Who the client is: the socket peer, or what trusted proxies say in X-Forwarded-For.
#pragma once

#include <string_view>
#include <vector>

#include "config/cidr.hpp"

namespace ringproxy {

// The client address of a request (nginx real_ip_recursive semantics). When trusted_proxies
// is empty or peer_ip is not inside it, peer_ip. Otherwise X-Forwarded-For is walked from the
// right, skipping addresses inside trusted_proxies, and the first untrusted one is the client
// (the rightmost untrusted address: entries left of it were written by the client and are
// not believed). When every entry is trusted, the leftmost one. An entry that is not an IP
// address stops the walk: the last valid address walked (or peer_ip, when it is the rightmost
// entry) is the client, so a string that is not an address is never returned. Entries are
// trimmed; empty ones are skipped; "1.2.3.4:80" and "[::1]:80" count as their address.
// Returns a view into peer_ip or x_forwarded_for; allocates nothing beyond IpAddress::parse.
std::string_view client_address(std::string_view peer_ip, std::string_view x_forwarded_for,
                                const std::vector<Cidr>& trusted_proxies);

}  // namespace ringproxy
