#include "app/systemd_notify.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>

namespace ringproxy {

namespace {

std::atomic<SystemdNotifier::ErrorLog> process_error_log{nullptr};

void forward_to_process_log(std::string_view message) {
  if (const auto log = process_error_log.load(std::memory_order_acquire)) log(message);
}

// The socket, opened for one message and closed after it. Thread-safety: one per call.
class DatagramSocket {
 public:
  DatagramSocket() noexcept
      : fd_(::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) {}
  ~DatagramSocket() {
    if (fd_ >= 0) ::close(fd_);
  }
  DatagramSocket(const DatagramSocket&) = delete;
  DatagramSocket& operator=(const DatagramSocket&) = delete;
  int fd() const noexcept { return fd_; }

 private:
  int fd_;
};

// printf into `buffer`, as a view of what fits.
template <std::size_t N, typename... Args>
std::string_view format(char (&buffer)[N], const char* pattern, Args... args) noexcept {
  const int n = std::snprintf(buffer, N, pattern, args...);
  return std::string_view(buffer, n < 0 ? 0 : std::min(static_cast<std::size_t>(n), N - 1));
}

}  // namespace

SystemdNotifier::SystemdNotifier(std::string_view socket_name, ErrorLog on_error) noexcept
    : on_error_(on_error) {
  if (socket_name.empty()) return;
  const bool abstract = socket_name.front() == '@';
  // sun_path holds the name; a path also needs its terminating NUL, an abstract name does not.
  if ((!abstract && socket_name.front() != '/') ||
      socket_name.size() + (abstract ? 0 : 1) > sizeof address_.sun_path ||
      socket_name.size() < 2) {
    report("NOTIFY_SOCKET is not an absolute path or @abstract name", EINVAL);
    return;
  }
  address_.sun_family = AF_UNIX;
  std::memcpy(address_.sun_path, socket_name.data(), socket_name.size());
  if (abstract) address_.sun_path[0] = '\0';
  address_size_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + socket_name.size() +
                                         (abstract ? 0 : 1));
}

const SystemdNotifier& SystemdNotifier::process() noexcept {
  static const SystemdNotifier notifier = [] {
    const char* name = std::getenv("NOTIFY_SOCKET");
    return SystemdNotifier(name ? name : "", &forward_to_process_log);
  }();
  return notifier;
}

void SystemdNotifier::set_process_error_log(ErrorLog on_error) noexcept {
  process_error_log.store(on_error, std::memory_order_release);
}

bool SystemdNotifier::notify(std::string_view state) const noexcept {
  if (!enabled()) return false;
  const DatagramSocket socket;
  if (socket.fd() < 0) {
    report("cannot open a socket", errno);
    return false;
  }
  ssize_t sent;
  do {
    sent = ::sendto(socket.fd(), state.data(), state.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                    reinterpret_cast<const sockaddr*>(&address_), address_size_);
  } while (sent < 0 && errno == EINTR);
  if (sent != static_cast<ssize_t>(state.size())) {
    report("cannot send", sent < 0 ? errno : EMSGSIZE);
    return false;
  }
  return true;
}

bool SystemdNotifier::ready(std::uint64_t generation) const noexcept {
  if (!enabled()) return false;
  char message[64];
  return notify(format(message, "READY=1\nSTATUS=generation %llu",
                       static_cast<unsigned long long>(generation)));
}

bool SystemdNotifier::reloading() const noexcept {
  if (!enabled()) return false;
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1000000ULL +
                    static_cast<unsigned long long>(now.tv_nsec) / 1000ULL;
  char message[96];
  return notify(format(message, "RELOADING=1\nSTATUS=reloading\nMONOTONIC_USEC=%llu", usec));
}

bool SystemdNotifier::reload_refused(std::uint64_t generation) const noexcept {
  if (!enabled()) return false;
  char message[128];
  return notify(format(message,
                       "READY=1\nSTATUS=generation %llu (reload refused: config errors, old "
                       "config kept)",
                       static_cast<unsigned long long>(generation)));
}

bool SystemdNotifier::stopping() const noexcept {
  return enabled() && notify("STOPPING=1\nSTATUS=draining");
}

void SystemdNotifier::report(const char* what, int error) const noexcept {
  if (on_error_ == nullptr) return;
  char message[192];
  try {
    on_error_(format(message, "systemd notify: %s: %s", what, std::strerror(error)));
  } catch (...) {
    // Notifying is best effort: a failing log must not reach the caller either.
  }
}

}  // namespace ringproxy
