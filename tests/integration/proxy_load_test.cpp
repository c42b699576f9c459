// Load: 1000 concurrent keep-alive clients, driven by Asio coroutines on one test thread.

#include <gtest/gtest.h>

#include <sys/resource.h>

#include <string>
#include <vector>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "proxy_fixture.hpp"

namespace ringproxy::test {
namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;
using tcp = asio::ip::tcp;

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr int kClients = 1000;
constexpr int kRequestsPerClient = 5;

// Raises the soft descriptor limit to `wanted` (or the hard limit); the proxy inherits it.
bool raise_fd_limit(rlim_t wanted) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) return false;
  if (limit.rlim_cur >= wanted) return true;
  limit.rlim_cur = std::min(wanted, limit.rlim_max);
  return ::setrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur >= wanted;
}

// What the clients achieved, shared by every coroutine (one thread, no locking).
struct LoadStats {
  int connected = 0;  // connect attempts finished (successful or not)
  int ok_responses = 0;
  int clients_done = 0;
  std::vector<std::string> errors;  // the first few, for the failure message
  int error_count = 0;
  void error(std::string what) {
    ++error_count;
    if (errors.size() < 10) errors.push_back(std::move(what));
  }
};

// One client: connect, wait until every client is connected, then send its requests one after
// another on its keep-alive connection.
asio::awaitable<void> run_client(tcp::endpoint proxy, int id, LoadStats& stats,
                                 asio::steady_timer& all_connected) {
  tcp::socket socket(co_await asio::this_coro::executor);
  auto [cec] = co_await socket.async_connect(proxy, kUseTuple);
  if (++stats.connected == kClients) all_connected.cancel();
  if (cec) {
    stats.error("client " + std::to_string(id) + " connect: " + cec.message());
    co_return;
  }
  if (stats.connected < kClients) co_await all_connected.async_wait(kUseTuple);
  boost::beast::flat_buffer buffer;
  for (int i = 0; i < kRequestsPerClient; ++i) {
    const std::string target = "/load/" + std::to_string(id) + "/" + std::to_string(i);
    const std::string request = "GET " + target + " HTTP/1.1\r\nHost: localhost\r\n\r\n";
    auto [wec, wn] = co_await asio::async_write(socket, asio::buffer(request), kUseTuple);
    if (wec) {
      stats.error("client " + std::to_string(id) + " write: " + wec.message());
      co_return;
    }
    http::response<http::string_body> response;
    auto [rec, rn] = co_await http::async_read(socket, buffer, response, kUseTuple);
    if (rec) {
      stats.error("client " + std::to_string(id) + " read: " + rec.message());
      co_return;
    }
    if (response.result_int() != 200 || !contains(response.body(), "target: " + target + "\n")) {
      stats.error("client " + std::to_string(id) + " got " + std::to_string(response.result_int()) +
                  ": " + response.body().substr(0, 80));
      co_return;
    }
    if (!response.keep_alive()) {
      stats.error("client " + std::to_string(id) + ": connection not kept alive");
      co_return;
    }
    ++stats.ok_responses;
  }
  ++stats.clients_done;
}

// Two origins with two threads each behind a two-worker proxy.
class LoadTest : public ProxyTest {};

TEST_F(LoadTest, ThousandConcurrentKeepAliveClients) {
  // 1000 client sockets here plus up to 1000 origin-side ones; the proxy holds both sides.
  ASSERT_TRUE(raise_fd_limit(8192)) << "cannot raise RLIMIT_NOFILE";
  start_origins(2, /*threads=*/2);
  ASSERT_TRUE(start_proxy(ProxyOptions().workers(2)));

  asio::io_context context(1);
  asio::steady_timer all_connected(context, asio::steady_timer::time_point::max());
  LoadStats stats;
  const tcp::endpoint proxy(asio::ip::make_address("127.0.0.1"), port());
  for (int id = 0; id < kClients; ++id)
    asio::co_spawn(context, run_client(proxy, id, stats, all_connected), asio::detached);
  const auto start = Clock::now();
  context.run_for(60s);
  const bool finished = context.stopped();
  context.stop();

  ASSERT_TRUE(finished) << "clients still running after 60 s: " << stats.clients_done << " done, "
                        << stats.ok_responses << " responses";
  EXPECT_EQ(stats.error_count, 0) << "first error: "
                                  << (stats.errors.empty() ? "" : stats.errors.front());
  EXPECT_EQ(stats.clients_done, kClients);
  EXPECT_EQ(stats.ok_responses, kClients * kRequestsPerClient);
  EXPECT_EQ(total_requests_seen(), static_cast<std::size_t>(kClients * kRequestsPerClient));
  EXPECT_TRUE(proxy_->running());
  std::cerr << "[ load ] " << kClients * kRequestsPerClient << " requests from " << kClients
            << " connections in " << ms_since(start) << " ms\n";
}

}  // namespace
}  // namespace ringproxy::test
