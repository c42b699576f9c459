// ConnectionPark on a real io_context with loopback sockets: wake on readable (many at once,
// back in asio), close at the deadline in order, close_all, a TLS connection's SSL handed back
// or freed, and nothing left behind when destroyed with entries parked.

#include "net/connection_park.hpp"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace ringproxy {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// Loopback connection pairs: the client end (plain blocking) and the server end (a
// WorkerSocket on the test's io_context).
class ParkTest : public ::testing::Test {
 protected:
  struct Pair {
    tcp::socket client;
    WorkerSocket server;
  };

  ParkTest()
      : acceptor_(context_, tcp::endpoint(asio::ip::address_v4::loopback(), 0)),
        park_(
            context_.get_executor(),
            [this](WorkerSocket s, std::optional<Clock::time_point> d,
                   std::unique_ptr<ParkedTls> tls) {
              woken_.push_back(std::make_unique<WorkerSocket>(std::move(s)));
              woken_deadlines_.push_back(d);
              woken_tls_.push_back(std::move(tls));
            },
            [this] { ++closed_; }) {}

  Pair connect() {
    tcp::socket client(client_context_);
    client.connect(acceptor_.local_endpoint());
    WorkerSocket server = acceptor_.accept(context_.get_executor());
    return Pair{std::move(client), std::move(server)};
  }
  // Runs the loop until `done` or `limit` passes.
  template <class Predicate>
  bool run_until(Predicate done, std::chrono::milliseconds limit = 2000ms) {
    const auto end = Clock::now() + limit;
    while (!done() && Clock::now() < end) {
      context_.restart();
      context_.run_for(5ms);
    }
    return done();
  }
  // True when the peer of `client` has closed (a read gets EOF).
  static bool closed_by_peer(tcp::socket& client) {
    char byte;
    boost::system::error_code ec;
    client.non_blocking(true);
    client.read_some(asio::buffer(&byte, 1), ec);
    return ec == asio::error::eof || ec == asio::error::connection_reset;
  }

  asio::io_context context_;
  asio::io_context client_context_;
  tcp::acceptor acceptor_;
  std::vector<std::unique_ptr<WorkerSocket>> woken_;
  std::vector<std::optional<Clock::time_point>> woken_deadlines_;
  std::vector<std::unique_ptr<ParkedTls>> woken_tls_;
  int closed_ = 0;
  ConnectionPark park_;  // last: destroyed first, while the io_context lives
};

TEST_F(ParkTest, ReadableConnectionIsWokenWithItsHeadDeadline) {
  Pair fresh = connect();
  Pair kept = connect();
  const auto deadline = Clock::now() + 10s;
  park_.park_new(std::move(fresh.server), deadline);
  park_.park_idle(std::move(kept.server), Clock::now() + 10s);
  EXPECT_EQ(park_.size(), 2u);
  run_until([] { return false; }, 20ms);
  EXPECT_TRUE(woken_.empty()) << "woken with nothing to read";

  asio::write(fresh.client, asio::buffer(std::string("GET")));
  ASSERT_TRUE(run_until([&] { return woken_.size() == 1; }));
  EXPECT_EQ(woken_deadlines_[0], deadline);  // a new connection keeps its head's deadline
  char got[3];
  asio::read(*woken_[0], asio::buffer(got));  // the bytes are still there for the session
  EXPECT_EQ(std::string(got, 3), "GET");

  kept.client.close();  // a close wakes too: the session reads the EOF
  ASSERT_TRUE(run_until([&] { return woken_.size() == 2; }));
  EXPECT_FALSE(woken_deadlines_[1].has_value());
  EXPECT_EQ(park_.size(), 0u);
  EXPECT_EQ(closed_, 0);
}

TEST_F(ParkTest, ManyReadableAtOnceAreAllWokenAndWorkWithAsioAgain) {
  // More than one epoll_wait batch (64) at once; the woken sockets are asio's again.
  std::vector<Pair> pairs;
  for (int i = 0; i < 150; ++i) pairs.push_back(connect());
  for (auto& p : pairs) park_.park_idle(std::move(p.server), Clock::now() + 10s);
  EXPECT_EQ(park_.size(), 150u);
  for (auto& p : pairs) asio::write(p.client, asio::buffer(std::string("x")));
  ASSERT_TRUE(run_until([&] { return woken_.size() == 150; }));
  EXPECT_EQ(park_.size(), 0u);
  char byte = 0;
  bool read_done = false;
  woken_.back()->async_read_some(
      asio::buffer(&byte, 1),
      [&](boost::system::error_code ec, std::size_t n) { read_done = !ec && n == 1; });
  ASSERT_TRUE(run_until([&] { return read_done; }));
  EXPECT_EQ(byte, 'x');
  EXPECT_EQ(closed_, 0);
}

TEST_F(ParkTest, AnIpv6ConnectionComesBackAsIpv6) {
  tcp::acceptor acceptor6(context_, tcp::endpoint(asio::ip::address_v6::loopback(), 0));
  tcp::socket client(client_context_);
  client.connect(acceptor6.local_endpoint());
  park_.park_idle(acceptor6.accept(context_.get_executor()), Clock::now() + 10s);
  EXPECT_EQ(park_.size(), 1u);
  asio::write(client, asio::buffer(std::string("v6")));
  ASSERT_TRUE(run_until([&] { return woken_.size() == 1; }));
  EXPECT_TRUE(woken_[0]->local_endpoint().address().is_v6());
  char got[2];
  asio::read(*woken_[0], asio::buffer(got));
  EXPECT_EQ(std::string(got, 2), "v6");
}

TEST_F(ParkTest, AConnectionParkedRightAfterTheParkEmptiedIsStillWatched) {
  Pair first = connect();
  Pair second = connect();
  park_.park_idle(std::move(first.server), Clock::now() + 10s);
  run_until([] { return false; }, 20ms);  // the park's wait is pending
  park_.close_all();                      // empties the park: the wait is cancelled
  park_.park_idle(std::move(second.server), Clock::now() + 10s);  // before that completes
  asio::write(second.client, asio::buffer(std::string("x")));
  ASSERT_TRUE(run_until([&] { return woken_.size() == 1; }));
  EXPECT_EQ(closed_, 1);
}

TEST_F(ParkTest, ConnectionsAreClosedAtTheirDeadlinesInOrder) {
  Pair early = connect();
  Pair later = connect();
  Pair fresh = connect();
  const auto start = Clock::now();
  park_.park_idle(std::move(early.server), start + 50ms);
  park_.park_idle(std::move(later.server), start + 150ms);
  park_.park_new(std::move(fresh.server), start + 100ms);

  ASSERT_TRUE(run_until([&] { return closed_ == 1; }));
  EXPECT_GE(Clock::now() - start, 50ms);
  EXPECT_TRUE(closed_by_peer(early.client));
  EXPECT_FALSE(closed_by_peer(later.client));
  EXPECT_FALSE(closed_by_peer(fresh.client));
  ASSERT_TRUE(run_until([&] { return closed_ == 2; }));
  EXPECT_TRUE(closed_by_peer(fresh.client));
  EXPECT_FALSE(closed_by_peer(later.client));
  ASSERT_TRUE(run_until([&] { return closed_ == 3; }));
  EXPECT_GE(Clock::now() - start, 150ms);
  EXPECT_TRUE(closed_by_peer(later.client));
  EXPECT_EQ(park_.size(), 0u);
  EXPECT_TRUE(woken_.empty());
}

TEST_F(ParkTest, CloseAllClosesEveryParkedConnectionNow) {
  std::vector<Pair> pairs;
  for (int i = 0; i < 5; ++i) pairs.push_back(connect());
  for (int i = 0; i < 5; ++i) {
    if (i % 2 == 0) {
      park_.park_new(std::move(pairs[i].server), Clock::now() + 10s);
    } else {
      park_.park_idle(std::move(pairs[i].server), Clock::now() + 10s);
    }
  }
  park_.close_all();
  EXPECT_EQ(closed_, 5);
  EXPECT_EQ(park_.size(), 0u);
  run_until([] { return false; }, 20ms);  // the aborted waits complete and free their entries
  for (auto& p : pairs) EXPECT_TRUE(closed_by_peer(p.client));
  EXPECT_TRUE(woken_.empty());
}

TEST_F(ParkTest, ATlsConnectionsSslIsHandedBackWhenItSpeaksAndFreedWhenItClosesHere) {
  // Run under AddressSanitizer, an SSL left behind fails this test at exit.
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()),
                                                        SSL_CTX_free);
  ASSERT_TRUE(ctx);
  auto keep = std::make_shared<int>(7);  // the contexts a connection keeps, here a stand-in
  Pair speaks = connect();
  Pair expires = connect();
  SSL* ssl = SSL_new(ctx.get());
  park_.park_idle(std::move(expires.server), Clock::now() + 50ms,
                  std::make_unique<ParkedTls>(SSL_new(ctx.get()), keep));
  park_.park_idle(std::move(speaks.server), Clock::now() + 10s,
                  std::make_unique<ParkedTls>(ssl, keep));
  EXPECT_EQ(keep.use_count(), 3);

  asio::write(speaks.client, asio::buffer(std::string("x")));
  ASSERT_TRUE(run_until([&] { return woken_.size() == 1 && closed_ == 1; }));
  ASSERT_TRUE(woken_tls_[0]);
  EXPECT_EQ(woken_tls_[0]->ssl, ssl);
  EXPECT_EQ(woken_tls_[0]->keep, keep);
  EXPECT_TRUE(closed_by_peer(expires.client));
  EXPECT_EQ(keep.use_count(), 2);  // the expired one's SSL and contexts are gone
  woken_tls_.clear();
  EXPECT_EQ(keep.use_count(), 1);
}

TEST_F(ParkTest, DestroyedWithConnectionsStillParkedFreesThem) {
  // Run under AddressSanitizer, a leaked entry fails this test at exit.
  Pair a = connect();
  Pair b = connect();
  park_.park_idle(std::move(a.server), Clock::now() + 10s);
  park_.park_new(std::move(b.server), Clock::now() + 10s);
  park_.close_all();  // b's wait is now pending with operation_aborted, never run
  Pair c = connect();
  park_.park_idle(std::move(c.server), Clock::now() + 10s);
  EXPECT_EQ(park_.size(), 1u);
}

}  // namespace
}  // namespace ringproxy
