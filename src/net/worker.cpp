#include "net/worker.hpp"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <random>

#include "log/log.hpp"

namespace ringproxy {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

std::uint64_t random_seed() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

// A v4-mapped IPv6 address as the IPv4 one it maps.
asio::ip::address plain(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6());
  }
  return a;
}

}  // namespace

bool accepted_through(const tcp::endpoint& local, const tcp::endpoint& listener) {
  if (local.port() != listener.port()) return false;
  return listener.address().is_unspecified() || plain(local.address()) == plain(listener.address());
}

Worker::Worker(const WorkerShared& shared, unsigned index)
    : shared_(shared),
      index_(index),
      request_ids_(random_seed()),
      sequence_(random_seed()),
      current_(std::make_unique<SnapshotHold>(SnapshotHold{shared.snapshots.current(), 0})),
      // One thread runs this context and only it touches the context's sockets and timers
      // (other threads post to it), so the reactor's per-socket locks can go.
      context_(BOOST_ASIO_CONCURRENCY_HINT_UNSAFE_IO),
      pool_(context_.get_executor()),
      park_(
          context_.get_executor(),
          [this](WorkerSocket socket, std::optional<std::chrono::steady_clock::time_point> d,
                 std::unique_ptr<ParkedTls> tls) { resume(std::move(socket), d, std::move(tls)); },
          [this] { shared_.connections.closed(); }),
      deadline_tick_(context_.get_executor()),
      access_log_(context_.get_executor(), shared.access_log_sink) {}

Worker::~Worker() {
  join();
  access_log_.flush();
}

void Worker::add_acceptor(const HostPort& address, tcp::acceptor acceptor,
                          TlsListenerCounters* tls) {
  add_listener(address, std::move(acceptor), tls);
}

void Worker::add_listener(const HostPort& address, tcp::acceptor acceptor,
                          TlsListenerCounters* tls) {
  boost::system::error_code ec;
  const tcp::endpoint local = acceptor.local_endpoint(ec);
  acceptors_.push_back({address, std::make_unique<tcp::acceptor>(std::move(acceptor)), tls, local});
}

void Worker::start_listener(const HostPort& address, tcp::acceptor acceptor,
                            TlsListenerCounters* tls) {
  auto moved = std::make_shared<tcp::acceptor>(std::move(acceptor));
  asio::post(context_, [this, address, moved, tls] {
    if (draining_) return;
    add_listener(address, std::move(*moved), tls);
    accept_loop(acceptors_.size() - 1);
  });
}

void Worker::stop_listener(const HostPort& address) {
  asio::post(context_, [this, address] {
    std::vector<tcp::endpoint> closed;
    for (auto& l : acceptors_) {
      if (l.address == address && l.acceptor->is_open()) {
        boost::system::error_code ignored;
        l.acceptor->close(ignored);  // its accept loop ends; accepted connections live on
        closed.push_back(l.local);
      }
    }
    // HTTP/2 connections accepted there say GOAWAY; listener_closed() never ends a session
    // inside this loop (sessions leave the set from their destructors).
    for (const tcp::endpoint& local : closed) {
      sessions_.for_each([&](DownstreamTask* s) { s->listener_closed(local); });
    }
  });
}

bool Worker::accepting_on(const tcp::endpoint& local) const {
  if (draining_) return false;
  return std::any_of(acceptors_.begin(), acceptors_.end(), [&local](const Listener& l) {
    return l.acceptor->is_open() && accepted_through(local, l.local);
  });
}

void Worker::start() {
  for (std::size_t i = 0; i < acceptors_.size(); ++i) accept_loop(i);
  thread_ = std::thread([this] { context_.run(); });
}

void Worker::join() {
  if (thread_.joinable()) thread_.join();
}

void Worker::accept_loop(std::size_t listener) {
  asio::co_spawn(
      context_,
      [this, listener]() -> asio::awaitable<void> {
        tcp::acceptor& acceptor = *acceptors_[listener].acceptor;
        TlsListenerCounters* const tls = acceptors_[listener].tls;
        asio::steady_timer backoff(context_);
        boost::system::error_code nbec;
        acceptor.non_blocking(true, nbec);  // accept() below returns would_block, not waits
        while (!draining_ && acceptor.is_open()) {
          auto [ec, socket] = co_await acceptor.async_accept(context_.get_executor(), use_nothrow);
          if (ec) {
            if (ec == asio::error::operation_aborted || draining_ || !acceptor.is_open()) {
              co_return;
            }
            // Out of descriptors or similar: say so and pause instead of spinning.
            log::warn("accept failed: " + ec.message());
            backoff.expires_after(std::chrono::milliseconds(100));
            co_await backoff.async_wait(use_nothrow);
            continue;
          }
          admit(std::move(socket), tls);
          // Then whatever else is queued, at once (up to kAcceptBatch): waiting for another
          // completion would put each accept behind every ready session, and a burst of new
          // connections would drain slowly under load.
          boost::system::error_code bec;
          for (int i = 0; !bec && i < kAcceptBatch && !draining_; ++i) {
            WorkerSocket next = acceptor.accept(context_.get_executor(), bec);
            if (!bec) admit(std::move(next), tls);
          }
        }
      },
      asio::detached);
}

void Worker::admit(WorkerSocket socket, TlsListenerCounters* tls) {
  if (!shared_.connections.admit()) {
    if (tls != nullptr) return;  // over the limit on TLS: closed (no cleartext 503 there)
    shared_.handlers.refuse(*this, std::move(socket));
    return;
  }
  if (tls != nullptr) {
    shared_.handlers.start_tls(*this, std::move(socket), *tls);
    return;
  }
  shared_.handlers.start(*this, std::move(socket), std::nullopt, false);
}

void Worker::resume(WorkerSocket socket,
                    std::optional<std::chrono::steady_clock::time_point> head_deadline,
                    std::unique_ptr<ParkedTls> tls) {
  if (tls != nullptr) {
    SSL* ssl = std::exchange(tls->ssl, nullptr);
    shared_.handlers.resume_tls(*this, TlsStream(std::move(socket), ssl, std::move(tls->keep)),
                                head_deadline);
    return;
  }
  shared_.handlers.start(*this, std::move(socket), head_deadline, true);
}

Worker::SnapshotLease::SnapshotLease(Worker& worker) : worker_(worker) {
  worker_.snapshot();  // the current generation
  hold_ = worker_.current_.get();
  ++hold_->leases;
}

Worker::SnapshotLease::~SnapshotLease() {
  if (--hold_->leases == 0 && hold_ != worker_.current_.get()) delete hold_;
}

const std::shared_ptr<const Snapshot>& Worker::snapshot() {
  if (current_->snapshot->generation() != shared_.snapshots.generation()) {
    SnapshotHold* replaced = current_.release();
    current_ = std::make_unique<SnapshotHold>(SnapshotHold{shared_.snapshots.current(), 0});
    if (replaced->leases == 0) delete replaced;  // else its last lease deletes it
    const Snapshot& fresh = *current_->snapshot;
    // Backends the new generation no longer has get no new requests: drop their idle
    // connections now rather than at the idle sweep.
    std::vector<bool> live;
    for (const auto& up : fresh.upstreams()) {
      for (const auto& b : up.backends()) {
        if (b->slot >= live.size()) live.resize(b->slot + 1, false);
        live[b->slot] = true;
      }
    }
    pool_.retain_only(live);
    if (h2_pool_) h2_pool_->retain_only(live);
    retain_redis_links(fresh);
  }
  return current_->snapshot;
}

void Worker::retain_redis_links(const Snapshot& fresh) {
  if (redis_links_.empty()) return;
  std::vector<HostPort> named;
  auto note = [&](const RateLimitRuntime& limit) {
    if (limit.global) named.push_back(limit.global->config.redis);
  };
  note(fresh.default_rate_limit());
  for (std::size_t i = 0; i < fresh.config().routes.size(); ++i) note(fresh.rate_limit_for(i));
  std::erase_if(redis_links_, [&](const std::shared_ptr<RedisLink>& link) {
    return std::find(named.begin(), named.end(), link->address()) == named.end();
  });
}

RedisLink& Worker::redis(const HostPort& address) {
  for (const auto& link : redis_links_) {
    if (link->address() == address) return *link;
  }
  redis_links_.push_back(std::make_shared<RedisLink>(context_.get_executor(), address, metrics_));
  redis_links_.back()->start();
  return *redis_links_.back();
}

void Worker::session_started(DownstreamTask* s) {
  sessions_.insert(s);
  active_sessions_.fetch_add(1, std::memory_order_release);
  if (!ticking_) {
    ticking_ = true;
    deadline_tick_.expires_after(kDeadlineTick);
    deadline_tick_.async_wait([this](boost::system::error_code ec) {
      if (!ec) tick_deadlines();
    });
  }
}

void Worker::tick_deadlines() {
  // One pass over this worker's sessions (the busy ones: idle connections wait in the park)
  // replaces a timer per session, which cost timer-queue work on every request.
  const auto now = std::chrono::steady_clock::now();
  sessions_.for_each([&](DownstreamTask* s) { s->expire_if_due(now); });  // cancels only
  if (sessions_.empty()) {
    ticking_ = false;
    return;
  }
  deadline_tick_.expires_at(now + kDeadlineTick);
  deadline_tick_.async_wait([this](boost::system::error_code ec) {
    if (!ec) tick_deadlines();
  });
}

void Worker::session_ended(DownstreamTask* s) {
  sessions_.erase(s);
  active_sessions_.fetch_sub(1, std::memory_order_release);
}

void Worker::begin_drain(std::chrono::steady_clock::time_point deadline) {
  asio::post(context_, [this, deadline] {
    draining_ = true;
    drain_deadline_ = deadline;
    for (auto& l : acceptors_) {
      boost::system::error_code ignored;
      l.acceptor->close(ignored);
    }
    // drain() may close a session's socket; sessions leave the set only from their
    // destructors, which cannot run inside this loop.
    sessions_.for_each([](DownstreamTask* s) { s->drain(); });
    park_.close_all();  // idle connections without a session: closed now
  });
}

void Worker::stop() {
  // Sessions still running past the drain are destroyed with the io_context.
  context_.stop();
}

}  // namespace ringproxy
