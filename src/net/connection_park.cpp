#include "net/connection_park.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <boost/asio/error.hpp>
#include <cerrno>
#include <system_error>
#include <utility>

namespace ringproxy {

namespace {

int make_epoll_set() {
  const int fd = ::epoll_create1(EPOLL_CLOEXEC);
  if (fd < 0) throw std::system_error(errno, std::system_category(), "epoll_create1");
  return fd;
}

}  // namespace

// One parked connection: its descriptor (out of asio's hands while parked) and deadline.
struct ConnectionPark::Entry {
  int fd;
  bool v6;  // the socket's address family, to hand it back to asio as it was
  Clock::time_point deadline;
  List* list = nullptr;  // the list it is in
  Entry* prev = nullptr;
  Entry* next = nullptr;
  std::unique_ptr<ParkedTls> tls{};  // a TLS connection's SSL; null for plain TCP
};

ConnectionPark::ConnectionPark(const boost::asio::io_context::executor_type& ex, Wake wake,
                               Closed closed)
    : epoll_(ex, make_epoll_set()),
      timer_(ex),
      wake_(std::move(wake)),
      closed_(std::move(closed)) {}

ConnectionPark::~ConnectionPark() {
  // The io_context is stopping: the descriptors still parked are closed here, without
  // `closed` (the server is going away).
  for (List* list : {&new_, &idle_}) {
    while (list->head != nullptr) {
      Entry* e = list->head;
      unlink(e);
      ::close(e->fd);
      delete e;
    }
  }
}

void ConnectionPark::park_new(WorkerSocket socket, Clock::time_point deadline,
                              std::unique_ptr<ParkedTls> tls) {
  park(new_, std::move(socket), deadline, std::move(tls));
}

void ConnectionPark::park_idle(WorkerSocket socket, Clock::time_point deadline,
                               std::unique_ptr<ParkedTls> tls) {
  park(idle_, std::move(socket), deadline, std::move(tls));
}

void ConnectionPark::park(List& list, WorkerSocket socket, Clock::time_point deadline,
                          std::unique_ptr<ParkedTls> tls) {
  boost::system::error_code ec;
  const bool v6 = socket.local_endpoint(ec).address().is_v6();
  if (!ec) {
    const int fd = socket.release(ec);  // out of asio's reactor, its record back to asio's pool
    if (!ec) {
      auto* e = new Entry{fd, v6, deadline};
      e->tls = std::move(tls);
      epoll_event ev{};
      ev.events = EPOLLIN;
      ev.data.ptr = e;
      if (::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_ADD, fd, &ev) == 0) {
        link(list, e);
        watch();
        if (deadline < timer_at_) schedule();
        return;
      }
      ::close(fd);
      delete e;
    }
  }
  // Could not be parked (the peer is gone, or no memory for the epoll item): closed.
  socket.close(ec);
  closed_();
}

void ConnectionPark::link(List& list, Entry* e) {
  e->list = &list;
  e->prev = list.tail;
  (list.tail != nullptr ? list.tail->next : list.head) = e;
  list.tail = e;
  size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
}

void ConnectionPark::unlink(Entry* e) {
  if (e->list == nullptr) return;
  List& list = *e->list;
  (e->prev != nullptr ? e->prev->next : list.head) = e->next;
  (e->next != nullptr ? e->next->prev : list.tail) = e->prev;
  e->prev = e->next = nullptr;
  e->list = nullptr;
  size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

void ConnectionPark::watch() {
  if (watching_ || (new_.head == nullptr && idle_.head == nullptr)) return;
  watching_ = true;
  epoll_.async_wait(EpollWatch::wait_read, [this](boost::system::error_code ec) {
    // The park outlives its io_context's run (a Worker member), so `this` is safe here.
    watching_ = false;
    if (ec != boost::asio::error::operation_aborted) on_ready();
    watch();  // again, if anything is parked (also after a cancel that raced a new park)
  });
}

void ConnectionPark::on_ready() {
  std::array<epoll_event, 64> events;
  for (;;) {
    const int n =
        ::epoll_wait(epoll_.native_handle(), events.data(), static_cast<int>(events.size()), 0);
    if (n <= 0) return;
    for (int i = 0; i < n; ++i) {
      auto* e = static_cast<Entry*>(events[static_cast<std::size_t>(i)].data.ptr);
      const bool fresh = e->list == &new_;
      unlink(e);
      ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, e->fd, nullptr);
      // Readable: data, or the client's close, which the session will read.
      boost::system::error_code ec;
      WorkerSocket socket(epoll_.get_executor());
      socket.assign(e->v6 ? boost::asio::ip::tcp::v6() : boost::asio::ip::tcp::v4(), e->fd, ec);
      std::optional<Clock::time_point> head_deadline;
      if (fresh) head_deadline = e->deadline;
      std::unique_ptr<ParkedTls> tls = std::move(e->tls);
      delete e;
      if (ec) {
        socket.close(ec);
        closed_();
        continue;
      }
      wake_(std::move(socket), head_deadline, std::move(tls));
    }
    if (static_cast<std::size_t>(n) < events.size()) return;
  }
}

void ConnectionPark::close_entry(Entry* e) {
  unlink(e);
  ::epoll_ctl(epoll_.native_handle(), EPOLL_CTL_DEL, e->fd, nullptr);
  ::close(e->fd);
  delete e;
  closed_();
  if (watching_ && new_.head == nullptr && idle_.head == nullptr) {
    boost::system::error_code ignored;
    epoll_.cancel(ignored);  // nothing left to wait for: no pending work for the loop
  }
}

void ConnectionPark::close_all() {
  while (new_.head != nullptr) close_entry(new_.head);
  while (idle_.head != nullptr) close_entry(idle_.head);
  timer_.cancel();
  timer_at_ = Clock::time_point::max();
}

void ConnectionPark::schedule() {
  Clock::time_point at = Clock::time_point::max();
  if (new_.head != nullptr) at = new_.head->deadline;
  if (idle_.head != nullptr && idle_.head->deadline < at) at = idle_.head->deadline;
  if (at == timer_at_) return;
  timer_at_ = at;
  if (at == Clock::time_point::max()) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(at);
  timer_.async_wait([this](boost::system::error_code ec) {
    // The park outlives its io_context's run (a Worker member), so `this` is safe here.
    if (ec != boost::asio::error::operation_aborted) expire();
  });
}

void ConnectionPark::expire() {
  timer_at_ = Clock::time_point::max();
  const auto now = Clock::now();
  // A reload may have changed a timeout, so a list can be slightly out of order: a later
  // entry with an earlier deadline goes when those ahead of it do.
  for (List* list : {&new_, &idle_}) {
    while (list->head != nullptr && list->head->deadline <= now) close_entry(list->head);
  }
  schedule();
}

}  // namespace ringproxy
