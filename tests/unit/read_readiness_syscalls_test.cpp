// The edge-read fast path is on with the toolchain scripts/deps installs, and it does what it
// is for: a wait on a socket known drained makes no system call (no recv that finds nothing,
// no epoll_ctl re-arm). System calls are counted by interposing the libc wrappers asio calls
// (this test binary defines them; they forward to the kernel with syscall(2)).
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <boost/version.hpp>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "net/read_readiness.hpp"
#include "net/socket_now.hpp"

namespace {
std::atomic<bool> counting{false};
std::atomic<int> reads{0};       // recv, recvfrom, recvmsg
std::atomic<int> epoll_ctls{0};  // epoll_ctl
void count(std::atomic<int>& n) {
  if (counting.load(std::memory_order_relaxed)) n.fetch_add(1, std::memory_order_relaxed);
}
}  // namespace

extern "C" {
ssize_t recv(int fd, void* buf, size_t len, int flags) {
  count(reads);
  return syscall(SYS_recvfrom, fd, buf, len, flags, nullptr, nullptr);
}
ssize_t recvfrom(int fd, void* buf, size_t len, int flags, sockaddr* from, socklen_t* fromlen) {
  count(reads);
  return syscall(SYS_recvfrom, fd, buf, len, flags, from, fromlen);
}
ssize_t recvmsg(int fd, msghdr* msg, int flags) {
  count(reads);
  return syscall(SYS_recvmsg, fd, msg, flags);
}
int epoll_ctl(int epfd, int op, int fd, epoll_event* event) {
  count(epoll_ctls);
  return static_cast<int>(syscall(SYS_epoll_ctl, epfd, op, fd, event));
}
}

namespace ringproxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

TEST(ReadReadinessBuild, FastPathIsCompiledIn) {
  EXPECT_TRUE(kEdgeReadsEnabled)
      << "edge-triggered reads are off with Boost " << BOOST_LIB_VERSION
      << ": every wait costs a system call again (docs/edge-reads.md says what to check)";
}

class ReadReadinessSyscalls : public ::testing::Test {
 protected:
  ReadReadinessSyscalls()
      : acceptor_(context_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)),
        client_(peer_context_),
        server_(context_.get_executor()) {
    client_.connect(acceptor_.local_endpoint());
    server_ = acceptor_.accept(context_.get_executor());
    asio::write(client_, asio::buffer(std::string("hello")));
    std::this_thread::sleep_for(20ms);
    // Drained as the proxy drains a whole message: a direct read that comes back short.
    std::array<char, 64> buffer{};
    boost::system::error_code ec;
    const std::size_t n = read_now(server_, asio::buffer(buffer), ec);
    EXPECT_EQ(n, 5u);
    note_drained(server_);
    reads = 0;
    epoll_ctls = 0;
  }
  ~ReadReadinessSyscalls() override { counting = false; }

  // Starts a wait with start(), runs the reactor for a moment with no bytes coming, and
  // returns the system calls the wait cost; the wait must still be pending.
  template <class Start>
  int calls_of_a_quiet_wait(Start start) {
    bool done = false;
    counting = true;
    start([&done](boost::system::error_code) { done = true; });
    auto busy = asio::make_work_guard(context_);
    context_.run_for(30ms);
    counting = false;
    EXPECT_FALSE(done);
    return reads.load() + epoll_ctls.load();
  }

  asio::io_context context_;
  asio::io_context peer_context_;
  tcp::acceptor acceptor_;
  tcp::socket client_;
  WorkerSocket server_;
};

TEST_F(ReadReadinessSyscalls, WaitOnADrainedSocketMakesNoSystemCall) {
  if (!kEdgeReadsEnabled) GTEST_SKIP() << "fast path off: FastPathIsCompiledIn fails";
  const int calls = calls_of_a_quiet_wait(
      [this](auto handler) { async_wait_readable(server_, std::move(handler)); });
  EXPECT_EQ(calls, 0) << "reads " << reads << ", epoll_ctl " << epoll_ctls;
}

TEST_F(ReadReadinessSyscalls, AsiosOwnWaitIsCountedHere) {
  // The counter sees what the fast path saves: asio's stock wait re-arms with epoll_ctl (and
  // its read tries a recv that finds nothing).
  const int calls = calls_of_a_quiet_wait(
      [this](auto handler) { server_.async_wait(WorkerSocket::wait_read, std::move(handler)); });
  EXPECT_GE(calls, 1);
}

}  // namespace
}  // namespace ringproxy
