// The sd_notify protocol: tells systemd (Type=notify) when the proxy is ready, reloading or
// stopping, by one datagram to the Unix socket named by $NOTIFY_SOCKET.
//
// Written here rather than linking libsystemd's sd_notify(): it is a few lines of protocol, and
// the package then needs no extra runtime library. Standard library and POSIX only.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstdint>
#include <string_view>

namespace ringproxy {

// Sends state lines to the service manager; without a socket name every call does nothing.
// Thread-safe: immutable after construction, and each message goes out on a socket of its own
// (non-blocking: a call never waits, never throws; failures go to the error log and are dropped).
class SystemdNotifier {
 public:
  // Where failures are reported (e.g. the debug log); may be null.
  using ErrorLog = void (*)(std::string_view message);

  // socket_name: "/path/to/socket", or "@name" for an abstract socket; "" disables the notifier.
  explicit SystemdNotifier(std::string_view socket_name, ErrorLog on_error = nullptr) noexcept;

  // The process's notifier, from $NOTIFY_SOCKET as it was at the first call; its failures go to
  // the function given to set_process_error_log().
  static const SystemdNotifier& process() noexcept;
  static void set_process_error_log(ErrorLog on_error) noexcept;

  // True when there is a socket to notify.
  bool enabled() const noexcept { return address_size_ > 0; }

  // Sends `state` (newline-separated VAR=value lines) as one datagram; true when sent.
  bool notify(std::string_view state) const noexcept;

  // "READY=1" and "STATUS=generation N": the listeners are bound and the workers accept.
  bool ready(std::uint64_t generation) const noexcept;
  // "RELOADING=1" with "MONOTONIC_USEC=" (systemd 253+ matches it to the reload it asked for).
  bool reloading() const noexcept;
  // "READY=1" after a reload the config file's errors refused: the old generation runs on.
  bool reload_refused(std::uint64_t generation) const noexcept;
  // "STOPPING=1": the listeners close and the drain starts.
  bool stopping() const noexcept;

 private:
  void report(const char* what, int error) const noexcept;

  sockaddr_un address_{};
  socklen_t address_size_ = 0;  // 0: disabled
  ErrorLog on_error_ = nullptr;
};

}  // namespace ringproxy
