// Shared pieces of the proxy integration tests: in-process origins, the real proxy binary in
// front of them, a raw socket for byte-level clients and a canned-response origin.
#pragma once

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "support/http_client.hpp"
#include "support/origin_server.hpp"
#include "support/proxy_process.hpp"

namespace ringproxy::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// RINGPROXY_TEST_BINARY runs the tests against another binary: an earlier build, to see a new
// test fail before its fix, or a fault-injected one (tests/sanitizer_fault.sh).
inline const std::string kProxyBinary = [] {
  const char* other = std::getenv("RINGPROXY_TEST_BINARY");
  return std::string(other != nullptr && *other != '\0' ? other : RINGPROXY_BINARY);
}();
inline const std::string kSourceDir = RINGPROXY_SOURCE_DIR;

inline bool contains(std::string_view haystack, std::string_view needle) {
  return haystack.find(needle) != std::string_view::npos;
}

// Milliseconds elapsed since `start`.
inline long long ms_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start).count();
}

// Polls `done` every 5 ms until it holds or `timeout` passes; returns its last value.
template <class Predicate>
bool wait_until(Predicate done, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    if (done()) return true;
    if (Clock::now() >= deadline) return done();
    std::this_thread::sleep_for(5ms);
  }
}

// A TCP port on 127.0.0.1 reserved for this object's life: a socket bound to a port the kernel
// chose, with SO_REUSEADDR and SO_REUSEPORT, that never listens. Connections to it are refused
// (a dead backend's address) until a listener binds it too (the proxy's listeners set both
// options; one with SO_REUSEADDR alone, as the admin listener or a Go server, may bind it as
// well), and a socket without them cannot take it: unlike a port bound, closed and handed out,
// no other test or process can take it in between.
class ReservedPort {
 public:
  ReservedPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    if (fd_ < 0 || ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        ::setsockopt(fd_, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0 ||
        ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      throw std::runtime_error("ReservedPort: cannot bind a port");
    port_ = ntohs(addr.sin_port);
  }
  ~ReservedPort() { ::close(fd_); }
  ReservedPort(const ReservedPort&) = delete;
  ReservedPort& operator=(const ReservedPort&) = delete;

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

// Kept for tests written against it; new tests use ReservedPort (this one hands out a port it
// has closed, which another test may take before it is used).
inline std::uint16_t unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  std::uint16_t port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
    port = ntohs(addr.sin_port);
  ::close(fd);
  return port;
}

// True when a TCP connect to 127.0.0.1:port is refused (nothing listens there).
inline bool nothing_listens_on(std::uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  const bool refused = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0;
  ::close(fd);
  return refused;
}

// The value of the origin's echo line "key: value" in a response body ("" if absent).
inline std::string echo_line(std::string_view body, std::string_view key) {
  std::string prefix = std::string(key) + ": ";
  std::size_t at = 0;
  while (at < body.size()) {
    std::size_t end = body.find('\n', at);
    if (end == std::string_view::npos) end = body.size();
    auto line = body.substr(at, end - at);
    if (line.starts_with(prefix)) return std::string(line.substr(prefix.size()));
    at = end + 1;
  }
  return {};
}

// One [[upstream]] table named `name` over `addresses`, with `extra` lines in the table.
inline std::string upstream_toml(std::string_view name, const std::vector<std::string>& addresses,
                                 std::string_view extra = "") {
  std::string out = "\n[[upstream]]\nname = \"" + std::string(name) + "\"\n";
  out += extra;
  if (!extra.empty() && extra.back() != '\n') out += '\n';
  for (const auto& address : addresses)
    out += "  [[upstream.backend]]\n  address = \"" + address + "\"\n";
  return out;
}

// A fresh directory under the system's temp directory, named prefix-XXXXXX; fails the test
// (and returns an empty path) when it cannot be made. remove_temp_dir takes it away whole.
inline std::filesystem::path make_temp_dir(std::string_view prefix) {
  std::string tmpl =
      (std::filesystem::temp_directory_path() / (std::string(prefix) + "-XXXXXX")).string();
  if (::mkdtemp(tmpl.data()) == nullptr) {
    ADD_FAILURE() << "cannot make a temp directory " << tmpl;
    return {};
  }
  return tmpl;
}
inline void remove_temp_dir(const std::filesystem::path& dir) {
  std::error_code ignored;
  if (!dir.empty()) std::filesystem::remove_all(dir, ignored);
}

// What the fixture writes into the proxy's config around its origins; built fluently, e.g.
// ProxyOptions().server("max_connections = 2").workers(2).
struct ProxyOptions {
  unsigned worker_count = 1;
  std::string server_lines;                 // extra lines for [server]
  std::string upstream_lines;               // extra lines for the default upstream "app"
  bool default_upstream = true;             // an upstream "app" over every origin, first
  std::string raw_tables;                   // raw TOML appended: [[upstream]], [[route]] tables
  std::vector<std::string> extra_backends;  // more addresses for "app" (e.g. dead ports)

  ProxyOptions& workers(unsigned n) {
    worker_count = n;
    return *this;
  }
  ProxyOptions& server(std::string_view lines) {
    server_lines.append(lines).append("\n");
    return *this;
  }
  ProxyOptions& upstream(std::string_view lines) {
    upstream_lines.append(lines).append("\n");
    return *this;
  }
  // Replaces the default upstream with `tables` (the first [[upstream]] in them is the default).
  ProxyOptions& only_tables(std::string_view tables) {
    default_upstream = false;
    raw_tables.append(tables);
    return *this;
  }
  ProxyOptions& backend(std::string address) {
    extra_backends.push_back(std::move(address));
    return *this;
  }
};

// A plain blocking TCP client socket for byte-level behaviour (slow senders, silent clients).
class RawSocket {
 public:
  RawSocket() = default;
  ~RawSocket() { close(); }
  RawSocket(const RawSocket&) = delete;
  RawSocket& operator=(const RawSocket&) = delete;

  bool connect(std::uint16_t port) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
      close();
      return false;
    }
    return true;
  }
  bool send(std::string_view bytes) {
    while (!bytes.empty()) {
      ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
  }
  // Reads for up to `within`, appending what arrives to received(); true once the peer has
  // closed (EOF or reset). The socket stays usable when it returns false.
  bool wait_closed(std::chrono::milliseconds within) {
    if (closed_) return true;
    const auto deadline = Clock::now() + within;
    char buffer[16384];
    for (;;) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      int ready = ::poll(&p, 1, static_cast<int>(left.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) continue;
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n > 0) {
        received_.append(buffer, static_cast<std::size_t>(n));
      } else if (n == 0 || (errno != EINTR && errno != EAGAIN)) {
        closed_ = true;
        return true;
      }
    }
  }
  const std::string& received() const { return received_; }
  // Sends a FIN: the peer reads end of stream after what was sent; replies still arrive.
  void shutdown_send() { ::shutdown(fd_, SHUT_WR); }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    closed_ = false;
    received_.clear();
  }

 private:
  int fd_ = -1;
  bool closed_ = false;
  std::string received_;
};

// A listening socket on 127.0.0.1 at a port the kernel picks (into port), for the test
// origins here; throws naming who when it cannot listen.
inline int listen_loopback(std::uint16_t& port, const char* who) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd, 64) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error(std::string(who) + ": cannot listen");
  }
  port = ntohs(addr.sin_port);
  return fd;
}

// Where the first whole request in bytes ends (its head, and a Content-Length or chunked body
// with its trailer section), or 0 when it has not all come.
inline std::size_t request_end(const std::string& bytes) {
  const std::size_t head_end = bytes.find("\r\n\r\n");
  if (head_end == std::string::npos) return 0;
  std::string head = bytes.substr(0, head_end + 2);
  for (char& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  std::size_t at = head_end + 4;
  if (head.find("\r\ntransfer-encoding: chunked\r\n") != std::string::npos) {
    for (;;) {
      const std::size_t line_end = bytes.find("\r\n", at);
      if (line_end == std::string::npos) return 0;
      const std::size_t size = std::stoul(bytes.substr(at, line_end - at), nullptr, 16);
      if (size == 0) {
        if (bytes.compare(line_end + 2, 2, "\r\n") == 0) return line_end + 4;
        const std::size_t end = bytes.find("\r\n\r\n", line_end);
        return end == std::string::npos ? 0 : end + 4;
      }
      at = line_end + 2 + size + 2;
      if (at > bytes.size()) return 0;
    }
  }
  if (const auto cl = head.find("\r\ncontent-length: "); cl != std::string::npos) {
    at += std::stoul(head.substr(cl + 18));
  }
  return at <= bytes.size() ? at : 0;
}

// An origin that answers every request with one fixed byte string, for response headers,
// trailers or malformed responses OriginServer cannot produce, and records each request as the
// bytes it received. Thread-safety: its own thread serves; the accessors lock or are atomic.
class CannedOrigin {
 public:
  explicit CannedOrigin(std::string response, bool close_after = false)
      : response_(std::move(response)), close_after_(close_after) {
    listen_fd_ = listen_loopback(port_, "CannedOrigin");
    thread_ = std::thread([this] { serve(); });
  }
  ~CannedOrigin() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  CannedOrigin(const CannedOrigin&) = delete;
  CannedOrigin& operator=(const CannedOrigin&) = delete;

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::size_t requests_seen() const {
    const std::lock_guard lock(mutex_);
    return requests_.size();
  }
  std::vector<std::string> requests() const {
    const std::lock_guard lock(mutex_);
    return requests_;
  }
  // Connections accepted so far (to tell whether the proxy reused an upstream connection).
  std::size_t connections_accepted() const { return accepted_.load(); }

 private:
  // Connection fds and their unread bytes, polled with the listener until stop_.
  void serve() {
    std::vector<std::pair<int, std::string>> conns;
    while (!stop_) {
      std::vector<pollfd> fds{{listen_fd_, POLLIN, 0}};
      for (auto& c : conns) fds.push_back({c.first, POLLIN, 0});
      if (::poll(fds.data(), fds.size(), 20) <= 0) continue;
      if (fds[0].revents & POLLIN) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd >= 0) ++accepted_;
        if (fd >= 0) conns.emplace_back(fd, std::string());
      }
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (fds[i].revents != 0 && !serve_some(conns[i - 1].first, conns[i - 1].second)) {
          ::close(conns[i - 1].first);
          conns[i - 1].first = -1;
        }
      }
      std::erase_if(conns, [](const auto& c) { return c.first < 0; });
    }
    for (auto& c : conns) ::close(c.first);
  }
  // Reads what fd has and answers each whole request in pending; false: close it.
  bool serve_some(int fd, std::string& pending) {
    char buffer[16384];
    const ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) return false;
    pending.append(buffer, static_cast<std::size_t>(n));
    for (std::size_t end = request_end(pending); end > 0; end = request_end(pending)) {
      {
        const std::lock_guard lock(mutex_);
        requests_.push_back(pending.substr(0, end));
      }
      pending.erase(0, end);
      if (::send(fd, response_.data(), response_.size(), MSG_NOSIGNAL) !=
              static_cast<ssize_t>(response_.size()) ||
          close_after_) {
        return false;
      }
    }
    return true;
  }

  std::string response_;
  bool close_after_;
  int listen_fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<std::size_t> accepted_{0};
  mutable std::mutex mutex_;
  std::vector<std::string> requests_;
  std::thread thread_;
};

// Starts in-process origins and the real proxy in front of them; both stop after each test
// (the proxy first), and the proxy's log is printed when the test failed.
// The name test user u sends as X-User.
inline std::string user_name(int u) {
  return "user-" + std::to_string(u);
}

class ProxyTest : public ::testing::Test {
 protected:
  void TearDown() override {
    // Every client connection the test opened has closed by now (its clients were locals of
    // the test body): the proxy must hold none, or a session leaked.
    if (proxy_ && !HasFailure() && check_connections_at_end_ && proxy_->running()) {
      std::string held;
      const bool drained = wait_until(
          [&] {
            held = active_connections();
            return held == "0";
          },
          3s);
      EXPECT_TRUE(drained) << "the proxy still holds " << held
                           << " client connection(s) after the test";
      if (drained && check_resources_at_end_ && baseline_) expect_resources_back();
    }
    if (proxy_) end_proxy();
    if (proxy_ && HasFailure()) {
      std::string log = proxy_->log();
      if (log.size() > 8000) log = "...\n" + log.substr(log.size() - 8000);
      std::cerr << "---- proxy log ----\n" << log << "-------------------\n";
    }
    proxy_.reset();
    origins_.clear();
  }

  // Ends the proxy as an operator does, SIGTERM, unless the test ended it: it must exit 0 (a
  // sanitizer abort, a leak report at exit or a crash does not), and its log must hold no
  // sanitizer report (`runtime error:` from UBSan included), wherever in the test it came.
  void end_proxy() {
    if (proxy_->running()) proxy_->signal(SIGTERM);
    const std::optional<int> code = proxy_->wait_exit(kExitWait);
    EXPECT_EQ(code, std::optional<int>(0)) << "the proxy did not exit 0 after SIGTERM";
    EXPECT_TRUE(proxy_->wait_output_end(5s)) << "the proxy's output did not end";
    const std::string log = proxy_->log();
    for (std::string_view report : kSanitizerReports) {
      const auto at = log.find(report);
      EXPECT_EQ(at, std::string::npos) << "sanitizer report in the proxy's log:\n"
                                       << log.substr(at == std::string::npos ? 0 : at, 4000);
    }
  }
  // Longer than any test's drain_timeout: a proxy still running after it has hung.
  static constexpr std::chrono::seconds kExitWait{20};
  static constexpr std::string_view kSanitizerReports[] = {
      "ERROR: AddressSanitizer",  "ERROR: LeakSanitizer",   "runtime error:",
      "WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer", "SUMMARY: UndefinedBehaviorSanitizer"};

  // One request to the admin listener, on its own connection (error set when it cannot connect).
  HttpResponse admin(std::string_view method, std::string_view target) {
    HttpClient client;
    client.set_timeout(10s);
    if (!client.connect(proxy_->admin_port())) {
      HttpResponse r;
      r.error = client.last_error();
      return r;
    }
    return client.request(method, target);
  }

  // ringproxy_active_connections from /metrics, as text ("" when it cannot be read).
  std::string active_connections() { return metric_text("ringproxy_active_connections"); }

  // An unlabelled metric from /metrics, as text ("" when it cannot be read).
  std::string metric_text(std::string_view name) {
    HttpClient client;
    if (!client.connect(proxy_->admin_port())) return "";
    const HttpResponse r = client.get("/metrics");
    const std::string line = "\n" + std::string(name) + " ";
    const auto at = r.body.find(line);
    if (at == std::string::npos) return "";
    const auto begin = at + line.size();
    return r.body.substr(begin, r.body.find('\n', begin) - begin);
  }

  // What the proxy holds that must return after a test: heap memory not kept in its buffer
  // pools, and descriptors not kept for idle backend connections.
  struct Resources {
    long long heap = -1;  // heap_bytes - pooled_buffer_bytes
    long long fds = -1;
    long long idle_upstream = -1;
    bool valid() const { return heap >= 0 && fds >= 0 && idle_upstream >= 0; }
  };
  Resources resources() {
    Resources r;
    const std::string heap = metric_text("ringproxy_heap_bytes");
    const std::string pooled = metric_text("ringproxy_pooled_buffer_bytes");
    const std::string idle = metric_text("ringproxy_upstream_idle_connections");
    if (heap.empty() || pooled.empty() || idle.empty()) return r;
    r.heap = std::stoll(heap) - std::stoll(pooled);
    r.idle_upstream = std::stoll(idle);
    r.fds = proxy_->open_fds();
    return r;
  }

  // Heap memory and descriptors are back to what they were when the proxy had started, but
  // for idle backend connections (a descriptor and a read buffer each), health checks in
  // flight, and kResourceSlack of heap for caches that fill once (the allocator's, the
  // rate limiter's buckets for the test's one client address, ...).
  void expect_resources_back() {
    static constexpr long long kResourceSlack = 512 * 1024;
    static constexpr long long kPerIdleUpstream = 24 * 1024;
    const Resources& base = *baseline_;
    const long long checks = static_cast<long long>(origins_.size()) + 8;
    Resources now;
    const bool back = wait_until(
        [&] {
          now = resources();
          return now.valid() &&
                 now.heap <= base.heap + kResourceSlack + now.idle_upstream * kPerIdleUpstream &&
                 now.fds <= base.fds + now.idle_upstream + checks;
        },
        3s);
    EXPECT_TRUE(back) << "the proxy did not give its resources back: heap " << base.heap << " -> "
                      << now.heap << " bytes (outside pools), descriptors " << base.fds << " -> "
                      << now.fds << ", idle backend connections " << now.idle_upstream;
  }

  // Adds an origin named `name` on an ephemeral port.
  OriginServer& add_origin(std::string name, int threads = 1) {
    origins_.push_back(std::make_unique<OriginServer>(
        OriginServer::Options{.name = std::move(name), .threads = threads}));
    return *origins_.back();
  }
  // Adds origins named o0, o1, ...
  void start_origins(std::size_t n, int threads = 1) {
    for (std::size_t i = 0; i < n; ++i) add_origin("o" + std::to_string(i), threads);
  }
  OriginServer& origin(std::size_t i = 0) { return *origins_.at(i); }
  std::size_t total_requests_seen() const {
    std::size_t n = 0;
    for (const auto& o : origins_) n += o->requests_seen();
    return n;
  }

  // Off in tests that keep client connections past the test body on purpose.
  bool check_connections_at_end_ = true;
  // Off in tests whose proxy keeps memory or descriptors on purpose (said where it is set).
  bool check_resources_at_end_ = true;
  std::optional<Resources> baseline_;  // taken when the proxy has started

  std::string build_config(const ProxyOptions& options) const {
    std::string toml =
        "[server]\nlisten = [\"127.0.0.1:0\"]\nworkers = " + std::to_string(options.worker_count) +
        "\n" + options.server_lines + "\n";
    // An admin listener on an ephemeral port (ProxyProcess counts listen = "" as one).
    toml +=
        "\n[admin]\nlisten = \"127.0.0.1:0\"\n\n[log]\nlevel = \"info\"\naccess_log = \"off\"\n";
    if (options.default_upstream) {
      std::vector<std::string> addresses;
      for (const auto& o : origins_) addresses.push_back(o->address());
      for (const auto& a : options.extra_backends) addresses.push_back(a);
      toml += upstream_toml("app", addresses, options.upstream_lines);
    }
    toml += options.raw_tables;
    return toml;
  }

  // Starts the proxy; use as ASSERT_TRUE(start_proxy(...)).
  bool start_proxy(const ProxyOptions& options = {}) {
    proxy_config_ = build_config(options);
    proxy_ = ProxyProcess::start(kProxyBinary, proxy_config_);
    baseline_.reset();
    if (proxy_ == nullptr || proxy_->port() == 0) return false;
    if (Resources r = resources(); r.valid()) baseline_ = r;
    return true;
  }
  std::uint16_t port() const { return proxy_->port(); }

  // The port of the latest "<marker>HOST:PORT" line in the proxy's log, e.g. marker "listening on
  // " or "admin listening on " and host "127.0.0.2" for a listener a reload added at port 0;
  // waits up to `timeout` for it; 0 if none came.
  std::uint16_t announced_port(std::string_view marker, std::string_view host,
                               std::chrono::milliseconds timeout = 5s) const {
    const std::string needle = std::string(marker) + std::string(host) + ":";
    std::uint16_t found = 0;
    wait_until(
        [&] {
          const std::string log = proxy_->log();
          const auto at = log.rfind(needle);
          if (at == std::string::npos) return false;
          found = static_cast<std::uint16_t>(std::atoi(log.c_str() + at + needle.size()));
          return found != 0;
        },
        timeout);
    return found;
  }

  // A client connected to the proxy, or nullptr (with the reason printed).
  std::unique_ptr<HttpClient> connect(std::chrono::milliseconds timeout = 10s) {
    auto client = std::make_unique<HttpClient>();
    client->set_timeout(timeout);
    if (!client->connect(port())) {
      ADD_FAILURE() << "connect to the proxy failed: " << client->last_error();
      return nullptr;
    }
    return client;
  }

  // One request as `user` on `client`, reconnecting afterwards if the proxy closed it.
  HttpResponse get_as(HttpClient& client, int user, std::string_view target) {
    auto r = client.get(target, {{"X-User", user_name(user)}});
    if (!client.is_open()) client.connect(port());
    return r;
  }
  // The origin name that answered GET /map for each of users 0..users-1 ("" when not a 200).
  std::map<int, std::string> map_users(int users) {
    std::map<int, std::string> out;
    auto client = connect();
    if (!client) return out;
    for (int u = 0; u < users; ++u) {
      auto r = get_as(*client, u, "/map");
      out[u] = r.status == 200 ? r.header("X-Origin") : "";
    }
    return out;
  }

  std::vector<std::unique_ptr<OriginServer>> origins_;
  std::unique_ptr<ProxyProcess> proxy_;
  std::string proxy_config_;  // the config the proxy was started with
};

}  // namespace ringproxy::test
