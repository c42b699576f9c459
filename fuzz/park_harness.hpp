// The connection park fuzz target's world: a ConnectionPark on its own io_context, loopback
// TCP connections whose server ends the "session" holds or the park holds, and a model of
// where each one is that every operation checks the park against (std::abort on a mismatch).
#pragma once

#include <boost/asio/io_context.hpp>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "net/connection_park.hpp"
#include "net/worker_socket.hpp"

namespace ringproxy::fuzz {

class ParkHarness {
 public:
  using Clock = std::chrono::steady_clock;

  explicit ParkHarness(bool repark_on_wake);
  ~ParkHarness();  // clients reset (no TIME_WAIT left behind), then the park, then the loop
  ParkHarness(const ParkHarness&) = delete;
  ParkHarness& operator=(const ParkHarness&) = delete;

  void connect(bool v6);  // a new connection, its server end in hand
  void park(std::size_t k, bool fresh, std::uint8_t when);  // park_new / park_idle
  void send(std::size_t k, std::size_t n);  // the client sends n bytes (as many as fit)
  void client_close(std::size_t k);         // the client's FIN (shutdown of its writes)
  void session_close(std::size_t k);        // the session closes a socket it holds
  void run(unsigned ms);                    // the loop runs for ms (0: poll)
  void close_all();
  void check_counts() const;  // size() is what the model has parked
  void settle();              // the final checks (see the target)

 private:
  enum class Where { held, parked, closed_by_park, closed_by_session };
  struct Conn {
    int id;
    int client;                          // the client's descriptor (blocking, never read)
    std::optional<WorkerSocket> server;  // held: the session's socket
    Where where = Where::held;
    int server_fd = -1;                // while parked: the descriptor the park holds
    bool fresh = false;                // parked with park_new
    Clock::time_point latest_close{};  // closed by then at the latest (see mark_parked)
    Clock::time_point deadline{};
    std::size_t sent = 0;      // bytes the client has sent
    std::size_t received = 0;  // bytes the session has read
    bool client_shut = false;
    bool eof_seen = false;
    bool closed_all = false;  // closed by close_all, not by a deadline
  };

  Conn* pick(std::size_t k, Where where);
  void mark_parked(Conn& c, bool fresh, Clock::time_point deadline);
  void on_wake(WorkerSocket socket, std::optional<Clock::time_point> head_deadline);
  void read_available(Conn& c, bool must_be_readable);
  void identify_closed(std::size_t closed_in_run);
  bool readable(const Conn& c) const { return c.sent > c.received || c.client_shut; }
  bool due(const Conn& c, Clock::time_point now) const;
  void drain_held();

  boost::asio::io_context context_;
  std::vector<Conn> conns_;
  bool repark_on_wake_;
  std::size_t closed_calls_ = 0;
  ConnectionPark park_;  // last: destroyed first, while the io_context lives
};

}  // namespace ringproxy::fuzz
