// The operator's HTTP listener: /healthz, /status, POST /reload.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>

#include "ringproxy/host_port.hpp"

namespace ringproxy {

class Server;
class Worker;

// Runs on one worker's event loop; listen() and close() may be called from the main thread
// before the loop starts and after it is stopped respectively (close() posts otherwise).
class AdminServer {
 public:
  AdminServer(Server& server, Worker& worker);
  ~AdminServer();

  bool listen(const HostPort& address);
  void close();

 private:
  Server& server_;
  Worker& worker_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
};

}  // namespace ringproxy
