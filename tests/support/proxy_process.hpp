#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ringproxy::test {

// The real ringproxy binary as a child process: its config in a temp file, its stdout and stderr
// captured, its ports read from its "listening on HOST:PORT" lines.
// Thread-safety: log(), wait_for_log() and the /proc readers may be called from any thread;
// signal(), wait_exit() and destruction from one thread at a time. The child gets SIGKILL when the
// thread that started it exits (PR_SET_PDEATHSIG), so start it from a thread that outlives it.
class ProxyProcess {
 public:
  struct RunResult {
    int exit_code = -1;  // 128 + N when killed by signal N; -1 when it did not finish in time
    std::string output;  // stdout and stderr interleaved
  };

  // Writes `toml_text` to a fresh temp file, runs `binary --config FILE extra_args...` (with
  // `extra_env`, "NAME=value" entries, added to this process's environment), and waits
  // up to 10 s for one "listening on" line per [server] listen address (and one for the admin
  // listener when [admin] sets listen). Returns nullptr on failure, after writing the reason and
  // the captured output to stderr.
  static std::unique_ptr<ProxyProcess> start(const std::string& binary,
                                             const std::string& toml_text,
                                             std::vector<std::string> extra_args = {},
                                             const std::vector<std::string>& extra_env = {});
  // Runs `binary args...` to completion (e.g. --check, --version), killing it after `timeout`.
  static RunResult run(const std::string& binary, const std::vector<std::string>& args,
                       std::chrono::milliseconds timeout = std::chrono::seconds(10));

  ~ProxyProcess();
  ProxyProcess(const ProxyProcess&) = delete;
  ProxyProcess& operator=(const ProxyProcess&) = delete;

  // Port of the i-th proxy listener, in the order the proxy announced them (0 if unknown).
  std::uint16_t port(std::size_t i = 0) const;
  std::size_t port_count() const;
  std::uint16_t admin_port() const;  // 0 if none announced
  pid_t pid() const;
  const std::string& config_path() const;
  // Rewrites the config file (for SIGHUP / POST /reload tests).
  bool write_config(const std::string& toml_text);

  void signal(int sig);
  // Exit code once the process has exited (128 + N if killed by signal N); nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running();
  // Waits until both output pipes reached their end (the process exited and everything it
  // wrote is in log()); true if they did within `timeout`.
  bool wait_output_end(std::chrono::milliseconds timeout) const;

  // Everything the process wrote to stdout and stderr so far.
  std::string log() const;
  // Waits until the log contains `needle`; true if it did within `timeout`.
  bool wait_for_log(std::string_view needle, std::chrono::milliseconds timeout) const;
  // Counts occurrences of `needle` in the log.
  std::size_t log_count(std::string_view needle) const;

  long rss_kb() const;       // VmRSS from /proc/PID/status, -1 if unavailable
  long peak_rss_kb() const;  // VmHWM
  int open_fds() const;      // entries in /proc/PID/fd, -1 if unavailable

 private:
  struct Impl;
  explicit ProxyProcess(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringproxy::test
