// Edge-triggered read readiness (read_readiness.hpp) on a real io_context with loopback
// sockets: a drained socket is known drained and its wait completes only when bytes come;
// bytes that come at any point after the draining read are never missed, nor an end of stream
// behind a short read; cancel and close end a wait as they end asio's own.

#include "net/read_readiness.hpp"

#include <gtest/gtest.h>

#include <array>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "net/socket_now.hpp"

namespace ringproxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

class ReadReadinessTest : public ::testing::Test {
 protected:
  ReadReadinessTest()
      : acceptor_(context_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)),
        client_(client_context_),
        server_(context_.get_executor()) {
    client_.connect(acceptor_.local_endpoint());
    server_ = acceptor_.accept(context_.get_executor());
  }

  void send(const std::string& bytes) { asio::write(client_, asio::buffer(bytes)); }

  // Reads what the server end holds now, as a caller does once it has a whole message: a
  // read that found nothing is noted by read_now, a short one here.
  std::string read_message() {
    std::array<char, 64> buffer{};
    boost::system::error_code ec;
    const std::size_t n = read_now(server_, asio::buffer(buffer), ec);
    EXPECT_FALSE(ec) << ec.message();
    if (n > 0 && n < buffer.size()) note_drained(server_);
    return std::string(buffer.data(), n);
  }

  // Starts a wait whose outcome lands in waited_.
  void start_wait() {
    waited_.reset();
    async_wait_readable(server_, [this](boost::system::error_code ec) { waited_ = ec; });
  }

  // Runs the loop until the wait completed or limit passed.
  bool run_until_waited(std::chrono::milliseconds limit) {
    const auto end = Clock::now() + limit;
    while (!waited_ && Clock::now() < end) {
      context_.restart();
      context_.run_for(5ms);
    }
    return waited_.has_value();
  }

  // Runs the reactor for a moment with no wait pending on the socket: its readiness events
  // are taken with nobody to complete. (Without work, run_for would skip the reactor.)
  void let_reactor_run() {
    auto busy = asio::make_work_guard(context_);
    context_.restart();
    context_.run_for(20ms);
  }

  // Lets the kernel deliver bytes just written on loopback.
  static void settle() { std::this_thread::sleep_for(20ms); }

  asio::io_context context_;
  asio::io_context client_context_;
  tcp::acceptor acceptor_;
  tcp::socket client_;
  WorkerSocket server_;
  std::optional<boost::system::error_code> waited_;
};

TEST_F(ReadReadinessTest, DrainedSocketsWaitCompletesOnlyWhenBytesCome) {
  send("first");
  settle();
  EXPECT_EQ(read_message(), "first");
  if (RINGPROXY_EDGE_READS) {
    EXPECT_FALSE(may_be_readable(server_));
  }

  start_wait();
  EXPECT_FALSE(run_until_waited(100ms)) << "a drained socket's wait completed without bytes";

  send("second");
  ASSERT_TRUE(run_until_waited(2000ms));
  EXPECT_FALSE(*waited_) << waited_->message();
  EXPECT_TRUE(may_be_readable(server_));
  EXPECT_EQ(read_message(), "second");
}

TEST_F(ReadReadinessTest, AShortReadAloneLeavesTheSocketMaybeReadable) {
  // The kernel stops a read short at the peer's FIN too: the end of stream must still be
  // seen, though its readiness event has been spent.
  send("last");
  client_.shutdown(tcp::socket::shutdown_send);
  settle();
  let_reactor_run();  // the event for the bytes and the FIN, with nobody waiting
  std::array<char, 64> buffer{};
  boost::system::error_code ec;
  EXPECT_EQ(read_now(server_, asio::buffer(buffer), ec), 4u);
  EXPECT_FALSE(ec);
  EXPECT_TRUE(may_be_readable(server_));
  start_wait();
  ASSERT_TRUE(run_until_waited(2000ms)) << "end of stream after a short read never seen";
  EXPECT_EQ(read_now(server_, asio::buffer(buffer), ec), 0u);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST_F(ReadReadinessTest, ReadThatFindsNothingMarksDrained) {
  EXPECT_EQ(read_message(), "");
  if (RINGPROXY_EDGE_READS) {
    EXPECT_FALSE(may_be_readable(server_));
  }
  start_wait();
  EXPECT_FALSE(run_until_waited(50ms));
  send("x");
  ASSERT_TRUE(run_until_waited(2000ms));
  EXPECT_EQ(read_message(), "x");
}

TEST_F(ReadReadinessTest, FullReadLeavesTheSocketMaybeReadable) {
  send(std::string(64, 'a') + "rest");
  settle();
  EXPECT_EQ(read_message(), std::string(64, 'a'));  // the buffer filled: there may be more
  EXPECT_TRUE(may_be_readable(server_));
  start_wait();
  ASSERT_TRUE(run_until_waited(2000ms));
  EXPECT_EQ(read_message(), "rest");
}

TEST_F(ReadReadinessTest, BytesThatCameWhileNobodyWaitedAreNotMissed) {
  EXPECT_EQ(read_message(), "");
  // Bytes arrive and the reactor sees their event with no wait pending: the socket is marked
  // readable again, so the wait started afterwards completes at once.
  send("late");
  settle();
  let_reactor_run();
  EXPECT_TRUE(may_be_readable(server_));
  start_wait();
  ASSERT_TRUE(run_until_waited(2000ms));
  EXPECT_FALSE(*waited_);
  EXPECT_EQ(read_message(), "late");
}

TEST_F(ReadReadinessTest, BytesThatCameBeforeTheReactorRanAreNotMissed) {
  EXPECT_EQ(read_message(), "");
  // Bytes arrive after the draining read, and the wait starts before the reactor has seen
  // them: the wait joins the queue and their event completes it.
  send("queued");
  settle();
  start_wait();
  ASSERT_TRUE(run_until_waited(2000ms));
  EXPECT_FALSE(*waited_);
  EXPECT_EQ(read_message(), "queued");
}

TEST_F(ReadReadinessTest, ReadinessEventWithoutBytesLeadsToAnotherWait) {
  send("one");
  settle();
  // The reactor reports the bytes while nobody waits; then they are read directly.
  let_reactor_run();
  EXPECT_EQ(read_message(), "one");
  // The socket is drained, so a wait does not complete for the event already consumed.
  start_wait();
  EXPECT_FALSE(run_until_waited(100ms));
  send("two");
  ASSERT_TRUE(run_until_waited(2000ms));
  EXPECT_EQ(read_message(), "two");
}

TEST_F(ReadReadinessTest, PeerCloseCompletesTheWait) {
  EXPECT_EQ(read_message(), "");
  start_wait();
  client_.close();
  ASSERT_TRUE(run_until_waited(2000ms));
  EXPECT_FALSE(*waited_);
  std::array<char, 8> buffer{};
  boost::system::error_code ec;
  read_now(server_, asio::buffer(buffer), ec);
  EXPECT_EQ(ec, asio::error::eof);
}

TEST_F(ReadReadinessTest, CancelEndsTheWaitWithOperationAborted) {
  EXPECT_EQ(read_message(), "");
  start_wait();
  EXPECT_FALSE(run_until_waited(20ms));
  server_.cancel();
  ASSERT_TRUE(run_until_waited(2000ms));
  EXPECT_EQ(*waited_, asio::error::operation_aborted);
  // The socket still works afterwards.
  send("after");
  start_wait();
  ASSERT_TRUE(run_until_waited(2000ms));
  EXPECT_EQ(read_message(), "after");
}

TEST_F(ReadReadinessTest, CloseEndsTheWaitAndAClosedSocketReportsIt) {
  EXPECT_EQ(read_message(), "");
  start_wait();
  server_.close();
  ASSERT_TRUE(run_until_waited(2000ms));
  EXPECT_EQ(*waited_, asio::error::operation_aborted);
  EXPECT_TRUE(may_be_readable(server_));  // closed: the next read says what is wrong
  start_wait();
  ASSERT_TRUE(run_until_waited(2000ms));
  EXPECT_EQ(*waited_, asio::error::bad_descriptor);
}

}  // namespace
}  // namespace ringproxy
