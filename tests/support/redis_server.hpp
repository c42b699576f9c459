#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace ringproxy::test {

// A real redis-server (/usr/bin/redis-server) as a child process for the global rate limit
// tests: on 127.0.0.1 at a port it picks (bound at port 0 to learn a free one), no persistence.
// start() waits until it answers PING. kill() stops it at once (SIGKILL), as a crash would;
// restart() starts it again on the same port. Thread-safety: none; one owner thread, which must
// outlive it (the child gets SIGKILL when that thread exits).
class RedisServer {
 public:
  static constexpr const char* kBinary = "/usr/bin/redis-server";

  // nullptr (with the reason on stderr) when redis-server is missing or does not answer.
  static std::unique_ptr<RedisServer> start();
  ~RedisServer();
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  bool running() const { return pid_ > 0; }

  void kill();
  // Starts it again on the same port; false when it does not answer PING within 5 s.
  bool restart();
  // Runs one command (arguments sent as a RESP array) and returns the reply's text: a simple
  // string, error or integer as its text, a bulk string as its bytes, an array's elements
  // joined by newlines. "" with error set when it could not be run.
  std::string command(const std::vector<std::string>& args, std::string* error = nullptr) const;
  // The calls of one command from INFO commandstats ("evalsha", "eval"...); 0 if never called.
  long long calls(const std::string& command_name) const;

 private:
  RedisServer() = default;
  bool launch();
  bool wait_ready(std::chrono::milliseconds timeout) const;

  std::uint16_t port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace ringproxy::test
