// The operator's HTTP listener: /healthz, /status, POST /reload.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "config/host_port.hpp"

namespace ringproxy {

class ProcessControl;
class Worker;

// Runs on one worker's event loop; listen() and close() may be called from the main thread
// before the loop starts and after it is stopped respectively (close() posts otherwise).
class AdminServer {
 public:
  AdminServer(ProcessControl& server, Worker& worker);
  ~AdminServer();

  // Binds and starts accepting; false with *error when the address cannot be bound.
  bool listen(const HostPort& address, std::string* error);
  void close();

 private:
  ProcessControl& server_;
  Worker& worker_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
};

}  // namespace ringproxy
