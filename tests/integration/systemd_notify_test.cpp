// The sd_notify protocol, with the test as systemd: a Unix datagram socket named by NOTIFY_SOCKET
// receives READY=1 once the listeners accept, RELOADING=1 then READY=1 around a reload (refused
// or not), and STOPPING=1 when the drain starts.

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <atomic>
#include <cstddef>
#include <cstdlib>
#include <ctime>
#include <optional>
#include <string>
#include <thread>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

// The service manager's end: a bound Unix datagram socket, at a path or an abstract name.
// Thread-safety: none; one thread at a time.
class NotifySocket {
 public:
  explicit NotifySocket(bool abstract) {
    static std::atomic<int> counter{0};
    const char* dir = std::getenv("TMPDIR");
    const std::string base = "ringproxy-notify-" + std::to_string(::getpid()) + "-" +
                             std::to_string(counter++) + ".sock";
    name_ = abstract ? "@" + base : std::string(dir && *dir ? dir : "/tmp") + "/" + base;
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (name_.size() >= sizeof addr.sun_path) throw std::runtime_error("socket path too long");
    name_.copy(addr.sun_path, name_.size());
    if (abstract) addr.sun_path[0] = '\0';
    const auto size =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size() + (abstract ? 0 : 1));
    if (fd_ < 0 || ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), size) != 0)
      throw std::runtime_error("NotifySocket: cannot bind " + name_);
  }
  ~NotifySocket() {
    ::close(fd_);
    if (name_.front() == '/') ::unlink(name_.c_str());
  }
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // The value for NOTIFY_SOCKET.
  const std::string& name() const { return name_; }
  std::string env() const { return "NOTIFY_SOCKET=" + name_; }

  // The next datagram, or nullopt when none comes within `timeout`.
  std::optional<std::string> receive(std::chrono::milliseconds timeout) {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return std::nullopt;
    char buffer[4096];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    if (n < 0) return std::nullopt;
    return std::string(buffer, static_cast<std::size_t>(n));
  }

 private:
  std::string name_;
  int fd_ = -1;
};

// CLOCK_MONOTONIC in microseconds, the clock of MONOTONIC_USEC.
long long monotonic_usec() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<long long>(now.tv_sec) * 1000000 + now.tv_nsec / 1000;
}

// One origin; each test binds its own notify socket. Thread-safety: the test's thread only.
class SystemdNotifyTest : public ProxyTest {
 protected:
  void SetUp() override { start_origins(1); }

  // The fixture's config, its proxy listener on `port` (0: any).
  std::string config(std::uint16_t port, const ProxyOptions& options = {}) const {
    std::string toml = build_config(options);
    const std::string any = "listen = [\"127.0.0.1:0\"]";
    toml.replace(toml.find(any), any.size(),
                 "listen = [\"127.0.0.1:" + std::to_string(port) + "\"]");
    return toml;
  }
  bool start_notified(const NotifySocket& socket, std::uint16_t port = 0) {
    proxy_ = ProxyProcess::start(kProxyBinary, config(port), {}, {socket.env()});
    return proxy_ != nullptr;
  }
  // After READY: SIGTERM brings STOPPING=1 and exit 0.
  void expect_clean_stop(NotifySocket& socket) {
    proxy_->signal(SIGTERM);
    EXPECT_EQ(socket.receive(5s).value_or("(nothing)"), "STOPPING=1\nSTATUS=draining");
    EXPECT_EQ(proxy_->wait_exit(10s), std::optional<int>(0));
  }
};

TEST_F(SystemdNotifyTest, ReadyComesOnlyOnceTheListenerAccepts) {
  NotifySocket socket(false);
  // Reserved for the test's life; the proxy's listener (SO_REUSEPORT) may bind it.
  const ReservedPort reserved;
  const std::uint16_t proxy_port = reserved.port();
  // systemd's side: as soon as READY=1 is read, a client must get an answer.
  std::optional<std::string> ready;
  HttpResponse first;
  std::thread service_manager([&] {
    ready = socket.receive(10s);
    if (!ready) return;
    HttpClient client;
    if (client.connect(proxy_port)) first = client.get("/first");
  });
  const bool started = start_notified(socket, proxy_port);
  service_manager.join();
  ASSERT_TRUE(started);
  ASSERT_TRUE(ready.has_value()) << "no READY=1 within 10 s";
  EXPECT_EQ(*ready, "READY=1\nSTATUS=generation 1");
  EXPECT_EQ(first.status, 200) << first.error;
  EXPECT_EQ(echo_line(first.body, "target"), "/first");
  expect_clean_stop(socket);
}

TEST_F(SystemdNotifyTest, NoReadyWhenTheListenerCannotBind) {
  NotifySocket socket(false);
  // Another socket holds the port (without SO_REUSEPORT): the proxy's bind fails.
  const int blocker = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(blocker, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(blocker, 1), 0);
  ASSERT_EQ(::getsockname(blocker, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const auto result =
      ProxyProcess::start(kProxyBinary, config(ntohs(addr.sin_port)), {}, {socket.env()});
  ::close(blocker);
  EXPECT_TRUE(result == nullptr) << "started on a port another socket holds";
  const auto message = socket.receive(300ms);
  EXPECT_FALSE(message.has_value()) << "sent though the bind failed: " << *message;
}

TEST_F(SystemdNotifyTest, ReloadIsAnnouncedAroundItAndARefusedOneKeepsTheGeneration) {
  NotifySocket socket(false);
  ASSERT_TRUE(start_notified(socket));
  ASSERT_EQ(socket.receive(10s).value_or("(nothing)"), "READY=1\nSTATUS=generation 1");

  auto expect_reloading = [&] {
    const long long before = monotonic_usec();
    const std::string reloading = socket.receive(10s).value_or("(nothing)");
    ASSERT_TRUE(reloading.starts_with("RELOADING=1\n")) << reloading;
    const auto at = reloading.find("MONOTONIC_USEC=");
    ASSERT_NE(at, std::string::npos) << reloading;
    const long long usec = std::stoll(reloading.substr(at + 15));
    EXPECT_GT(usec, before - 10'000'000) << "MONOTONIC_USEC is not CLOCK_MONOTONIC";
    EXPECT_LE(usec, monotonic_usec());
  };
  ASSERT_TRUE(proxy_->write_config(config(0, ProxyOptions().server("idle_timeout = \"30s\""))));
  proxy_->signal(SIGHUP);
  expect_reloading();
  EXPECT_EQ(socket.receive(10s).value_or("(nothing)"), "READY=1\nSTATUS=generation 2");

  ASSERT_TRUE(proxy_->write_config(config(0, ProxyOptions().server("no_such_key = 1"))));
  proxy_->signal(SIGHUP);
  expect_reloading();
  const std::string refused = socket.receive(10s).value_or("(nothing)");
  EXPECT_TRUE(refused.starts_with("READY=1\nSTATUS=generation 2 (reload refused")) << refused;

  // POST /reload is a reload too.
  ASSERT_TRUE(proxy_->write_config(config(0)));
  HttpClient admin;
  ASSERT_TRUE(admin.connect(proxy_->admin_port()));
  EXPECT_EQ(admin.request("POST", "/reload").status, 200);
  admin.close();
  expect_reloading();
  EXPECT_EQ(socket.receive(10s).value_or("(nothing)"), "READY=1\nSTATUS=generation 3");
  expect_clean_stop(socket);
}

TEST_F(SystemdNotifyTest, AbstractSocketNameIsNotified) {
  NotifySocket socket(true);
  ASSERT_TRUE(start_notified(socket));
  EXPECT_EQ(socket.receive(10s).value_or("(nothing)"), "READY=1\nSTATUS=generation 1");
  expect_clean_stop(socket);
}

}  // namespace
}  // namespace ringproxy::test
