#include "io/connection_park.hpp"

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/error.hpp>
#include <memory>
#include <utility>

namespace ringproxy {

namespace {

// std::allocator under another name: asio takes std::allocator itself to mean "none given"
// and recycles, so a distinct type is what makes it allocate the exact size.
template <class T>
struct ExactAllocator {
  using value_type = T;
  ExactAllocator() = default;
  template <class U>
  ExactAllocator(const ExactAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return std::allocator<T>().allocate(n); }
  void deallocate(T* p, std::size_t n) noexcept { std::allocator<T>().deallocate(p, n); }
  template <class U>
  bool operator==(const ExactAllocator<U>&) const noexcept {
    return true;
  }
};

}  // namespace

// One parked connection. Owned by its pending wait: the wait's handler deletes it.
struct ConnectionPark::Entry {
  explicit Entry(WorkerSocket s, Clock::time_point d, List& l)
      : socket(std::move(s)), deadline(d), list(&l) {}
  WorkerSocket socket;
  Clock::time_point deadline;
  List* list;  // the list it is in; nullptr once unlinked (closed here, or woken)
  Entry* prev = nullptr;
  Entry* next = nullptr;
};

ConnectionPark::ConnectionPark(const boost::asio::io_context::executor_type& ex, Wake wake,
                               Closed closed)
    : timer_(ex), wake_(std::move(wake)), closed_(std::move(closed)) {}

ConnectionPark::~ConnectionPark() {
  // The io_context is stopping: pending waits are destroyed without running, so the entries
  // are freed here.
  for (List* list : {&new_, &idle_, &closing_}) {
    while (list->head != nullptr) {
      Entry* e = list->head;
      unlink(e);
      delete e;
    }
  }
}

void ConnectionPark::park_new(WorkerSocket socket, Clock::time_point deadline) {
  park(new_, std::move(socket), deadline);
}

void ConnectionPark::park_idle(WorkerSocket socket, Clock::time_point deadline) {
  park(idle_, std::move(socket), deadline);
}

void ConnectionPark::park(List& list, WorkerSocket socket, Clock::time_point deadline) {
  Entry* e = new Entry(std::move(socket), deadline, list);
  link(list, e);
  // The wait's memory from the heap at its exact size: asio's per-thread recycling would
  // hand it a cached block of whatever size a session's last operation needed.
  e->socket.async_wait(
      WorkerSocket::wait_read,
      boost::asio::bind_allocator(ExactAllocator<void>(),
                                  [this, e](boost::system::error_code ec) { on_ready(e, ec); }));
  if (deadline < timer_at_) schedule();
}

void ConnectionPark::link(List& list, Entry* e) {
  e->list = &list;
  e->prev = list.tail;
  (list.tail != nullptr ? list.tail->next : list.head) = e;
  list.tail = e;
  if (&list != &closing_) {
    size_.store(size_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  }
}

void ConnectionPark::unlink(Entry* e) {
  if (e->list == nullptr) return;
  List& list = *e->list;
  (e->prev != nullptr ? e->prev->next : list.head) = e->next;
  (e->next != nullptr ? e->next->prev : list.tail) = e->prev;
  e->prev = e->next = nullptr;
  e->list = nullptr;
  if (&list != &closing_) {
    size_.store(size_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
  }
}

void ConnectionPark::on_ready(Entry* e, boost::system::error_code ec) {
  const bool parked = e->list == &new_ || e->list == &idle_;
  const bool fresh = e->list == &new_;
  unlink(e);
  if (parked && !ec) {
    // Readable: data, or the client's close, which the session will read.
    std::optional<Clock::time_point> head_deadline;
    if (fresh) head_deadline = e->deadline;
    wake_(std::move(e->socket), head_deadline);
  } else if (parked) {
    boost::system::error_code ignored;
    e->socket.close(ignored);
    closed_();
  }
  delete e;
}

void ConnectionPark::close_entry(Entry* e) {
  unlink(e);
  link(closing_, e);  // until its wait completes (operation_aborted) and deletes it
  boost::system::error_code ignored;
  e->socket.close(ignored);
  closed_();
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
