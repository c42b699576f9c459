// One worker's connection to one Redis, for global rate limits: connects (reconnecting with
// backoff), loads the lease script once per connection and runs it by its SHA.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "config/host_port.hpp"
#include "net/worker_metrics.hpp"
#include "net/worker_socket.hpp"
#include "policy/global_bucket.hpp"

struct redisAsyncContext;

namespace ringproxy {

// Talks to Redis through hiredis's async API on the worker's loop (redis_events.hpp): nothing
// blocks. A connection lost or refused is made again after 25 ms, doubling up to 250 ms; one
// that does not connect within 1 s, or leaves a command unanswered for 1 s, is dropped (its
// commands fail). Errors and the script's round trips go to the worker's metrics. Owned by a
// shared_ptr (its timers hold weak ones); worker thread only.
class RedisLink : public std::enable_shared_from_this<RedisLink> {
 public:
  using Clock = std::chrono::steady_clock;
  // Called once per lease(), on the worker's thread, never inside lease(): the script's
  // answer, or nullopt when it failed.
  using LeaseCallback = std::function<void(std::optional<LeaseReply>)>;

  RedisLink(boost::asio::io_context::executor_type executor, HostPort address,
            WorkerMetrics& metrics);
  ~RedisLink();
  RedisLink(const RedisLink&) = delete;
  RedisLink& operator=(const RedisLink&) = delete;

  // Starts connecting (once, after construction).
  void start();
  // A connection exists or is being made (commands can be queued); false while backing off.
  bool up() const { return context_ != nullptr; }
  const HostPort& address() const { return address_; }
  // Runs the lease script for key; false (callback dropped, an error counted) when the link is
  // down or hiredis refused the command.
  bool lease(const std::string& key, const LeaseScriptArgs& args, LeaseCallback callback);

  static constexpr std::chrono::milliseconds kFirstBackoff{25};
  static constexpr std::chrono::milliseconds kMaxBackoff{250};
  static constexpr std::chrono::milliseconds kStuck{1000};
  static constexpr std::chrono::milliseconds kTick{100};

 private:
  struct Command;  // one command in flight (redis_link.cpp)

  void connect(const std::string& ip);
  void resolve_and_connect();
  void connected(int status);
  void disconnected();
  void schedule_reconnect();
  // Drops the connection: every command in flight fails.
  void drop();
  // Every kTick while a connection or a command exists: drops a connection that does not
  // connect, or leaves a command unanswered, for kStuck. Only ever from its timer (never inside
  // a hiredis callback, where the context must not be freed).
  void tick();
  void arm_tick();
  bool send(Command* command);
  void answered(Command* command, void* reply);
  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);
  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_disconnect(const redisAsyncContext* ac, int status);

  boost::asio::io_context::executor_type executor_;
  HostPort address_;
  WorkerMetrics& metrics_;
  redisAsyncContext* context_ = nullptr;
  bool connected_ = false;
  bool closing_ = false;       // in the destructor: callbacks are not called
  bool reconnecting_ = false;  // a reconnect is scheduled
  Clock::time_point connect_deadline_;
  std::chrono::milliseconds backoff_{kFirstBackoff};
  std::string sha_;                 // the script's SHA1, once SCRIPT LOAD answered
  std::deque<Command*> in_flight_;  // in the order sent (replies come in that order)
  WorkerTimer retry_timer_;
  WorkerTimer tick_timer_;
  bool ticking_ = false;
  boost::asio::ip::tcp::resolver resolver_;
};

}  // namespace ringproxy
