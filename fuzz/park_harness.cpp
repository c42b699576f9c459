#include "park_harness.hpp"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/tcp.hpp>
#include <cerrno>
#include <cstdlib>
#include <utility>

namespace ringproxy::fuzz {

namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using namespace std::chrono_literals;

constexpr std::size_t kMaxConnections = 24;

// The byte at `offset` of connection `id`'s stream: a reordered or lost byte shows.
char pattern(int id, std::size_t offset) {
  return static_cast<char>((static_cast<std::size_t>(id) * 37 + offset + offset / 251) % 256);
}

// The listeners, made once for the whole run (on a loop that never runs: accept is blocking).
struct Listeners {
  asio::io_context context;
  tcp::acceptor v4{context, tcp::endpoint(asio::ip::address_v4::loopback(), 0)};
  std::optional<tcp::acceptor> v6;
  Listeners() {
    try {
      v6.emplace(context, tcp::endpoint(asio::ip::address_v6::loopback(), 0));
    } catch (const boost::system::system_error&) {  // no IPv6 here: v4 only
    }
  }
};

Listeners& listeners() {
  static Listeners* l = new Listeners;  // never destroyed: outlives every input
  return *l;
}

// A blocking client socket connected to `to`; a connect a signal interrupted completes on its
// own, so it is waited for.
int connect_to(const tcp::endpoint& to) {
  const int fd = ::socket(to.protocol().family(), SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) std::abort();
  if (::connect(fd, to.data(), static_cast<socklen_t>(to.size())) == 0) return fd;
  if (errno != EINTR && errno != EINPROGRESS) std::abort();
  pollfd p{fd, POLLOUT, 0};
  while (::poll(&p, 1, -1) < 0) {
    if (errno != EINTR) std::abort();
  }
  int error = 0;
  socklen_t size = sizeof error;
  if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size) != 0 || error != 0) std::abort();
  return fd;
}

enum class Peer { open, closed };

// Whether the server end of a client's connection is closed (EOF or a reset), without waiting.
Peer probe(int client) {
  char byte;
  const ssize_t n = ::recv(client, &byte, 1, MSG_DONTWAIT | MSG_PEEK);
  if (n == 0 || (n < 0 && errno == ECONNRESET)) return Peer::closed;
  if (n > 0) std::abort();  // the server end never writes
  return Peer::open;
}

}  // namespace

ParkHarness::ParkHarness(bool repark_on_wake)
    : repark_on_wake_(repark_on_wake),
      park_(
          context_.get_executor(),
          [this](WorkerSocket s, std::optional<Clock::time_point> d,
                 std::unique_ptr<ParkedTls> tls) {
            if (tls) std::abort();  // only plain TCP connections are parked here
            on_wake(std::move(s), d);
          },
          [this] { ++closed_calls_; }) {
  conns_.reserve(kMaxConnections);
}

ParkHarness::~ParkHarness() {
  for (Conn& c : conns_) {
    const linger reset{1, 0};
    ::setsockopt(c.client, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    ::close(c.client);
  }
}

void ParkHarness::connect(bool v6) {
  if (conns_.size() >= kMaxConnections) return;
  Listeners& l = listeners();
  tcp::acceptor& acceptor = v6 && l.v6 ? *l.v6 : l.v4;
  const tcp::endpoint to = acceptor.local_endpoint();
  const int client = connect_to(to);
  boost::system::error_code ec;
  WorkerSocket server(context_.get_executor());
  do {  // libFuzzer's timeout alarm may interrupt a blocking call
    server = acceptor.accept(context_.get_executor(), ec);
  } while (ec == asio::error::interrupted);
  if (ec) std::abort();
  conns_.push_back(Conn{static_cast<int>(conns_.size()), client, std::move(server)});
}

ParkHarness::Conn* ParkHarness::pick(std::size_t k, Where where) {
  if (conns_.empty()) return nullptr;
  Conn& c = conns_[k % conns_.size()];
  return c.where == where ? &c : nullptr;
}

void ParkHarness::park(std::size_t k, bool fresh, std::uint8_t when) {
  Conn* c = pick(k, Where::held);
  if (c == nullptr) return;
  const auto now = Clock::now();
  // Already past, now, 0-7 ms ahead, or far (10 s).
  const Clock::time_point deadline = when % 4 == 0   ? now - 1ms
                                     : when % 4 == 1 ? now + std::chrono::milliseconds(when >> 5)
                                     : when % 4 == 2 ? now + 10s
                                                     : now;
  mark_parked(*c, fresh, deadline);
  WorkerSocket socket = std::move(*c->server);
  c->server.reset();
  const std::size_t closed_before = closed_calls_;
  if (fresh) {
    park_.park_new(std::move(socket), c->deadline);
  } else {
    park_.park_idle(std::move(socket), c->deadline);
  }
  // Parking may fail (the client is gone): then it is closed at once, and `closed` says so.
  if (closed_calls_ != closed_before) identify_closed(closed_calls_ - closed_before);
}

void ParkHarness::send(std::size_t k, std::size_t n) {
  if (conns_.empty()) return;
  Conn& c = conns_[k % conns_.size()];
  if (c.client_shut || c.where == Where::closed_by_park || c.where == Where::closed_by_session) {
    return;
  }
  std::array<char, 4096> bytes;
  n = std::min(n, bytes.size());
  for (std::size_t i = 0; i < n; ++i) bytes[i] = pattern(c.id, c.sent + i);
  const ssize_t sent = ::send(c.client, bytes.data(), n, MSG_DONTWAIT | MSG_NOSIGNAL);
  if (sent > 0) c.sent += static_cast<std::size_t>(sent);
}

void ParkHarness::client_close(std::size_t k) {
  if (conns_.empty()) return;
  Conn& c = conns_[k % conns_.size()];
  if (c.client_shut) return;
  ::shutdown(c.client, SHUT_WR);
  c.client_shut = true;
}

void ParkHarness::session_close(std::size_t k) {
  Conn* c = pick(k, Where::held);
  if (c == nullptr) return;
  read_available(*c, false);  // what came is checked before it goes
  c->server.reset();
  c->where = Where::closed_by_session;
}

void ParkHarness::on_wake(WorkerSocket socket, std::optional<Clock::time_point> head_deadline) {
  // The socket must be one the park holds, handed back once: the descriptor identifies it.
  Conn* c = nullptr;
  for (Conn& candidate : conns_) {
    if (candidate.where == Where::parked && candidate.server_fd == socket.native_handle()) {
      c = &candidate;
    }
  }
  if (c == nullptr) std::abort();  // not parked, or handed back twice
  if (c->fresh ? head_deadline != c->deadline : head_deadline.has_value()) std::abort();
  c->where = Where::held;
  c->server_fd = -1;
  c->server.emplace(std::move(socket));
  read_available(*c, true);               // readable, or it should not have been woken
  if (repark_on_wake_ && !c->eof_seen) {  // the next request's wait, parked from the wake
    mark_parked(*c, false, Clock::now() + 10s);
    WorkerSocket again = std::move(*c->server);
    c->server.reset();
    park_.park_idle(std::move(again), c->deadline);
  }
}

void ParkHarness::read_available(Conn& c, bool must_be_readable) {
  std::array<char, 4096> got;
  bool progress = false;
  for (;;) {
    const ssize_t n = ::recv(c.server->native_handle(), got.data(), got.size(), MSG_DONTWAIT);
    if (n == 0) {
      c.eof_seen = progress = true;
      break;
    }
    if (n < 0) {
      if (errno == ECONNRESET) progress = true;
      if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNRESET) std::abort();
      break;
    }
    progress = true;
    for (ssize_t i = 0; i < n; ++i) {  // in order, none lost, none made up
      if (c.received >= c.sent || got[static_cast<std::size_t>(i)] != pattern(c.id, c.received)) {
        std::abort();
      }
      ++c.received;
    }
  }
  if (must_be_readable && !progress) std::abort();  // woken with nothing to read
}

// `closed` was called closed_in_run times since the model last looked: exactly that many
// parked sockets must be closed now (their clients see it), and none before its deadline.
void ParkHarness::identify_closed(std::size_t closed_in_run) {
  std::size_t found = 0;
  const auto give_up = Clock::now() + 1s;  // a close on loopback shows at once; load may delay
  for (;;) {
    for (Conn& c : conns_) {
      if (c.where != Where::parked || c.server_fd < 0 || probe(c.client) == Peer::open) continue;
      if (!c.closed_all && c.deadline > Clock::now()) std::abort();  // closed too early
      c.where = Where::closed_by_park;
      c.server_fd = -1;
      ++found;
    }
    if (found >= closed_in_run || Clock::now() > give_up) break;
    ::usleep(1000);
  }
  if (found != closed_in_run) std::abort();  // a socket closed without `closed`, or the reverse
}

void ParkHarness::run(unsigned ms) {
  const std::size_t closed_before = closed_calls_;
  context_.restart();
  if (ms == 0) {
    context_.poll();
  } else {
    context_.run_for(std::chrono::milliseconds(ms));
  }
  identify_closed(closed_calls_ - closed_before);
}

void ParkHarness::close_all() {
  std::size_t parked = 0;
  for (Conn& c : conns_) {
    if (c.where == Where::parked) {
      c.closed_all = true;
      ++parked;
    }
  }
  const std::size_t closed_before = closed_calls_;
  park_.close_all();
  if (closed_calls_ - closed_before != parked || park_.size() != 0) std::abort();
  identify_closed(parked);
  for (Conn& c : conns_) c.closed_all = false;
}

void ParkHarness::check_counts() const {
  std::size_t parked = 0;
  for (const Conn& c : conns_) parked += c.where == Where::parked;
  if (park_.size() != parked) std::abort();
}

// Readable: it must be woken. Past its deadline: it must be closed by its latest close time
// (see latest_close).
bool ParkHarness::due(const Conn& c, Clock::time_point now) const {
  return c.where == Where::parked && (readable(c) || c.latest_close <= now);
}

// The park expires each list from its head, with one timer at the earliest head's deadline, so
// a socket parked behind one with a later deadline (a timeout a reload shortened) is closed by
// the latest deadline of those ahead of it when it came, even if they have left since.
void ParkHarness::mark_parked(Conn& c, bool fresh, Clock::time_point deadline) {
  c.latest_close = deadline;
  for (const Conn& ahead : conns_) {
    if (ahead.where == Where::parked && ahead.fresh == fresh) {
      c.latest_close = std::max(c.latest_close, ahead.deadline);
    }
  }
  c.where = Where::parked;
  c.fresh = fresh;
  c.deadline = deadline;
  c.server_fd = c.server->native_handle();
}

void ParkHarness::settle() {
  // Every parked socket that is readable or past its deadline leaves the park, soon.
  const auto give_up = Clock::now() + 2s;
  for (;;) {
    const auto now = Clock::now();
    bool any_due = false;
    for (const Conn& c : conns_) any_due = any_due || due(c, now);
    if (!any_due) break;
    if (now > give_up) std::abort();  // stuck in the park
    run(2);
    check_counts();
  }
  drain_held();
}

// The sockets the session holds have every byte their clients sent, in order.
void ParkHarness::drain_held() {
  const auto give_up = Clock::now() + 1s;
  for (Conn& c : conns_) {
    if (c.where != Where::held) continue;
    read_available(c, false);
    while (c.received < c.sent && !c.eof_seen && Clock::now() < give_up) {
      pollfd p{c.server->native_handle(), POLLIN, 0};
      ::poll(&p, 1, 10);
      read_available(c, false);
    }
    if (c.received != c.sent) std::abort();  // bytes lost
  }
}

}  // namespace ringproxy::fuzz
