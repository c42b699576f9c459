#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace ringproxy::test {

// A helper server run as a child process (a Python origin: HTTP/2, gRPC), which prints
// "port N" on its stdout once it listens. Killed (SIGKILL) when destroyed, and when the thread
// that started it exits. Thread-safety: one thread.
class ScriptOrigin {
 public:
  // Runs argv (argv[0] a path) and waits up to `timeout` for its "port N" line.
  explicit ScriptOrigin(std::vector<std::string> argv,
                        std::chrono::milliseconds timeout = std::chrono::seconds(20));
  ~ScriptOrigin();
  ScriptOrigin(const ScriptOrigin&) = delete;
  ScriptOrigin& operator=(const ScriptOrigin&) = delete;

  std::uint16_t port() const { return port_; }  // 0 when it did not start
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  // Stops it now (SIGKILL, reaped): its port refuses connections afterwards.
  void kill();
  const std::string& output() const { return output_; }  // what it printed before its port

 private:
  pid_t pid_ = -1;
  int out_ = -1;
  std::uint16_t port_ = 0;
  std::string output_;
};

}  // namespace ringproxy::test
