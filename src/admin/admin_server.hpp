// The operator's HTTP listener: /healthz, /status, POST /reload.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "config/host_port.hpp"

namespace ringproxy {

class ProcessControl;
class Worker;

// Runs on one worker's event loop; bind(), start() and listen() may be called from the main
// thread (or a reload) before the loop serves it, close() at any time (it posts to the loop).
// Dropped after bind() without start(), it just closes its socket.
class AdminServer {
 public:
  AdminServer(ProcessControl& server, Worker& worker);
  ~AdminServer();

  // Binds and listens without accepting yet; false with *error when the address cannot be bound.
  bool bind(const HostPort& address, std::string* error);
  // Says where it listens and starts accepting, after a successful bind(); cannot fail.
  void start();
  // bind(), then start() when it bound.
  bool listen(const HostPort& address, std::string* error);
  void close();

 private:
  ProcessControl& server_;
  Worker& worker_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  std::string announced_;  // "HOST:PORT" as bound (the port chosen when it was 0)
};

}  // namespace ringproxy
