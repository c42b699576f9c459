// ringproxy-tunnel-load: a WebSocket load client for scripts/bench-tunnels.
//
//   idle   --port P --count N --ready-file F [--first I]   opens N tunnels (/ws?i=K for K from
//          I on, one echo each), writes "opened=N switched=S ok=K failed=F" to F (S: upgrades
//          answered 101, K: those that also echoed), holds them until SIGUSR1, then checks
//          each with one more echo and prints "closed_while_idle=X reuse_failed=Y".
//   stream --port P --seconds S [--size BYTES]  one tunnel: messages of BYTES (1 MiB) sent as
//          fast as the echo comes back (4 in flight); prints "bytes=B seconds=S" (echoed bytes).
//   small  --port P --seconds S [--conns C] [--size BYTES]  C tunnels (100), each sending a
//          message of BYTES (64) and waiting for its echo, over and over; prints
//          "messages=M bytes=B seconds=S".
// Bytes are payload bytes echoed back (each crossed the proxy twice).
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;
using Ws = websocket::stream<tcp::socket>;
constexpr auto kTuple = asio::as_tuple(asio::use_awaitable);
using Clock = std::chrono::steady_clock;

namespace {

struct Args {
  std::string mode;
  unsigned short port = 0;
  std::size_t count = 10000;
  std::size_t first = 0;
  std::string ready_file;
  double seconds = 10;
  std::size_t size = 0;
  std::size_t conns = 100;
};

// A tunnel to /ws?i=<i>, or nullptr; *switched counts upgrades that were answered 101.
asio::awaitable<std::unique_ptr<Ws>> open(unsigned short port, std::size_t i,
                                          std::size_t* switched = nullptr) {
  auto ws = std::make_unique<Ws>(co_await asio::this_coro::executor);
  auto [ec] = co_await beast::get_lowest_layer(*ws).async_connect(
      tcp::endpoint(asio::ip::make_address("127.0.0.1"), port), kTuple);
  if (ec) co_return nullptr;
  ws->read_message_max(64 * 1024 * 1024);
  ws->write_buffer_bytes(64 * 1024);
  ws->binary(true);
  auto [hec] = co_await ws->async_handshake("localhost", "/ws?i=" + std::to_string(i), kTuple);
  if (hec) co_return nullptr;
  if (switched != nullptr) ++*switched;  // Beast's handshake succeeds only on a 101
  co_return ws;
}

asio::awaitable<bool> echo(Ws& ws, const std::string& m) {
  auto [wec, wn] = co_await ws.async_write(asio::buffer(m), kTuple);
  if (wec) co_return false;
  beast::flat_buffer b;
  auto [rec, rn] = co_await ws.async_read(b, kTuple);
  co_return !rec && b.size() == m.size();
}

int run_idle(const Args& a) {
  asio::io_context ioc;
  std::vector<std::unique_ptr<Ws>> tunnels(a.count);
  std::size_t ok = 0;
  std::size_t failed = 0;
  std::size_t switched = 0;
  const std::string hello = "hello";
  // Opened 200 at a time, so that no listen backlog overflows.
  std::size_t next = 0;
  auto opener = [&]() -> asio::awaitable<void> {
    for (std::size_t i; (i = next++) < a.count;) {
      tunnels[i] = co_await open(a.port, a.first + i, &switched);
      if (tunnels[i] && co_await echo(*tunnels[i], hello)) {
        ++ok;
      } else {
        ++failed;
        tunnels[i].reset();
      }
    }
  };
  for (int k = 0; k < 200; ++k) asio::co_spawn(ioc, opener(), asio::detached);
  ioc.run();
  {
    std::ofstream f(a.ready_file);
    f << "opened=" << a.count << " switched=" << switched << " ok=" << ok << " failed=" << failed
      << "\n";
  }
  // Held until SIGUSR1, then each is checked with one more echo.
  asio::io_context hold;
  asio::signal_set sig(hold, SIGUSR1, SIGTERM);
  sig.async_wait([](boost::system::error_code, int) {});
  hold.run();
  ioc.restart();
  std::size_t reuse_failed = 0;
  std::size_t closed = 0;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        for (auto& t : tunnels) {
          if (!t) continue;
          if (!co_await echo(*t, hello)) {
            ++reuse_failed;
            ++closed;
          }
        }
      },
      asio::detached);
  ioc.run();
  std::cout << "closed_while_idle=" << closed << " reuse_failed=" << reuse_failed << std::endl;
  return 0;
}

int run_stream(const Args& a) {
  asio::io_context ioc;
  const std::size_t size = a.size ? a.size : 1024 * 1024;
  std::uint64_t echoed = 0;
  double took = 0;
  asio::co_spawn(
      ioc,
      [&]() -> asio::awaitable<void> {
        auto ws = co_await open(a.port, 0);
        if (!ws) co_return;
        const std::string m(size, 'x');
        const auto start = Clock::now();
        const auto end = start + std::chrono::duration<double>(a.seconds);
        std::size_t in_flight = 0;
        bool stop = false;
        // The writer keeps 4 messages in flight; the reader takes the echoes.
        asio::co_spawn(
            co_await asio::this_coro::executor,
            [&]() -> asio::awaitable<void> {
              asio::steady_timer wait(co_await asio::this_coro::executor);
              while (!stop) {
                if (in_flight >= 4) {
                  wait.expires_after(std::chrono::microseconds(50));
                  co_await wait.async_wait(kTuple);
                  continue;
                }
                ++in_flight;
                auto [ec, n] = co_await ws->async_write(asio::buffer(m), kTuple);
                if (ec) co_return;
              }
            },
            asio::detached);
        beast::flat_buffer b;
        while (Clock::now() < end) {
          auto [ec, n] = co_await ws->async_read(b, kTuple);
          if (ec) break;
          echoed += b.size();
          b.consume(b.size());
          --in_flight;
        }
        stop = true;
        took = std::chrono::duration<double>(Clock::now() - start).count();
        beast::get_lowest_layer(*ws).close();
      },
      asio::detached);
  ioc.run();
  std::printf("bytes=%llu seconds=%.3f\n", static_cast<unsigned long long>(echoed), took);
  return echoed > 0 ? 0 : 1;
}

int run_small(const Args& a) {
  asio::io_context ioc;
  const std::size_t size = a.size ? a.size : 64;
  std::uint64_t messages = 0;
  const auto start = Clock::now();
  const auto end = start + std::chrono::duration<double>(a.seconds);
  for (std::size_t c = 0; c < a.conns; ++c) {
    asio::co_spawn(
        ioc,
        [&, c]() -> asio::awaitable<void> {
          auto ws = co_await open(a.port, c);
          if (!ws) co_return;
          const std::string m(size, 'y');
          while (Clock::now() < end && co_await echo(*ws, m)) ++messages;
          beast::get_lowest_layer(*ws).close();
        },
        asio::detached);
  }
  ioc.run();
  const double took = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("messages=%llu bytes=%llu seconds=%.3f\n", static_cast<unsigned long long>(messages),
              static_cast<unsigned long long>(messages * size), took);
  return messages > 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Args a;
  if (argc < 2) {
    std::cerr << "usage: ringproxy-tunnel-load idle|stream|small --port P ...\n";
    return 2;
  }
  a.mode = argv[1];
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const std::string v = argv[i + 1];
    if (k == "--port") a.port = static_cast<unsigned short>(std::stoi(v));
    if (k == "--count") a.count = std::stoul(v);
    if (k == "--first") a.first = std::stoul(v);
    if (k == "--ready-file") a.ready_file = v;
    if (k == "--seconds") a.seconds = std::stod(v);
    if (k == "--size") a.size = std::stoul(v);
    if (k == "--conns") a.conns = std::stoul(v);
  }
  if (a.mode == "idle") return run_idle(a);
  if (a.mode == "stream") return run_stream(a);
  if (a.mode == "small") return run_small(a);
  std::cerr << "unknown mode " << a.mode << "\n";
  return 2;
}
