// The socket address a backend was resolved to, as an Asio endpoint.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <cstring>

#include "runtime/backend_state.hpp"

namespace ringproxy {

inline boost::asio::ip::tcp::endpoint endpoint_of(const BackendState& b) {
  boost::asio::ip::tcp::endpoint ep;
  std::memcpy(ep.data(), &b.sockaddr, b.sockaddr_len);
  ep.resize(b.sockaddr_len);
  return ep;
}

}  // namespace ringproxy
