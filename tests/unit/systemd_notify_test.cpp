// SystemdNotifier: socket names (path, @abstract, unusable ones) and the datagrams it sends.

#include "app/systemd_notify.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

namespace ringproxy {
namespace {

std::vector<std::string> errors_seen;
void remember_error(std::string_view message) {
  errors_seen.emplace_back(message);
}

// A bound Unix datagram socket: systemd's end. Thread-safety: none; one thread at a time.
class Receiver {
 public:
  explicit Receiver(std::string name) : name_(std::move(name)) {
    fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    name_.copy(addr.sun_path, name_.size());
    const bool abstract = name_.front() == '@';
    if (abstract) addr.sun_path[0] = '\0';
    const auto size =
        static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + name_.size() + (abstract ? 0 : 1));
    bound_ = ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), size) == 0;
  }
  ~Receiver() {
    ::close(fd_);
    if (name_.front() == '/') ::unlink(name_.c_str());
  }
  bool bound() const { return bound_; }
  std::optional<std::string> receive() {
    pollfd p{fd_, POLLIN, 0};
    if (::poll(&p, 1, 1000) <= 0) return std::nullopt;
    char buffer[1024];
    const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
    return n < 0 ? std::nullopt : std::optional(std::string(buffer, static_cast<std::size_t>(n)));
  }

 private:
  std::string name_;
  int fd_ = -1;
  bool bound_ = false;
};

std::string unique_name(std::string_view prefix) {
  static int counter = 0;
  return std::string(prefix) + "ringproxy-unit-" + std::to_string(::getpid()) + "-" +
         std::to_string(counter++);
}

TEST(SystemdNotifier, WithoutASocketNameItDoesNothing) {
  const SystemdNotifier notifier("");
  EXPECT_FALSE(notifier.enabled());
  EXPECT_FALSE(notifier.ready(1));
  EXPECT_FALSE(notifier.stopping());
}

TEST(SystemdNotifier, SendsEachStateAsOneDatagramToAPath) {
  const std::string name = unique_name("/tmp/");
  Receiver receiver(name);
  ASSERT_TRUE(receiver.bound());
  const SystemdNotifier notifier(name);
  ASSERT_TRUE(notifier.enabled());
  EXPECT_TRUE(notifier.ready(7));
  EXPECT_EQ(receiver.receive(), "READY=1\nSTATUS=generation 7");
  EXPECT_TRUE(notifier.reloading());
  const std::string reloading = receiver.receive().value_or("");
  EXPECT_TRUE(reloading.starts_with("RELOADING=1\n")) << reloading;
  EXPECT_NE(reloading.find("\nMONOTONIC_USEC="), std::string::npos) << reloading;
  EXPECT_TRUE(notifier.reload_refused(7));
  EXPECT_TRUE(
      receiver.receive().value_or("").starts_with("READY=1\nSTATUS=generation 7 (reload "
                                                  "refused"));
  EXPECT_TRUE(notifier.stopping());
  EXPECT_EQ(receiver.receive(), "STOPPING=1\nSTATUS=draining");
}

TEST(SystemdNotifier, AnAtSignNamesAnAbstractSocket) {
  const std::string name = unique_name("@");
  Receiver receiver(name);
  ASSERT_TRUE(receiver.bound());
  EXPECT_TRUE(SystemdNotifier(name).notify("READY=1"));
  EXPECT_EQ(receiver.receive(), "READY=1");
}

TEST(SystemdNotifier, UnusableNamesAreReportedAndDisableIt) {
  for (const std::string& name : {std::string("relative/socket"), std::string("@"),
                                  "/" + std::string(200, 'x'), std::string("vsock:2:1")}) {
    errors_seen.clear();
    const SystemdNotifier notifier(name, &remember_error);
    EXPECT_FALSE(notifier.enabled()) << name;
    EXPECT_FALSE(notifier.ready(1)) << name;
    EXPECT_EQ(errors_seen.size(), 1u) << name;
  }
}

TEST(SystemdNotifier, NobodyListeningIsAReportedFailureNotAnException) {
  errors_seen.clear();
  const SystemdNotifier notifier(unique_name("/tmp/"), &remember_error);
  EXPECT_FALSE(notifier.ready(1));
  ASSERT_EQ(errors_seen.size(), 1u);
  EXPECT_NE(errors_seen[0].find("cannot send"), std::string::npos) << errors_seen[0];
}

}  // namespace
}  // namespace ringproxy
