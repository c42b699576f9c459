// A worker's Redis connection for global rate limits (see redis_link.hpp).
#include "net/redis_link.hpp"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include <algorithm>
#include <array>
#include <boost/asio/ip/address.hpp>

#include "log/log.hpp"
#include "net/redis_events.hpp"

namespace ringproxy {

namespace asio = boost::asio;

// One command in flight: SCRIPT LOAD, or the lease script for a key.
struct RedisLink::Command {
  bool script_load = false;
  std::string key;
  LeaseScriptArgs args;
  LeaseCallback callback;
  Clock::time_point sent;
  bool by_sha = false;   // sent as EVALSHA
  bool retried = false;  // sent again as EVAL after NOSCRIPT
};

RedisLink::RedisLink(asio::io_context::executor_type executor, HostPort address,
                     WorkerMetrics& metrics)
    : executor_(executor),
      address_(std::move(address)),
      metrics_(metrics),
      retry_timer_(executor),
      tick_timer_(executor),
      resolver_(executor) {}

RedisLink::~RedisLink() {
  closing_ = true;
  retry_timer_.cancel();
  tick_timer_.cancel();
  resolver_.cancel();
  if (redisAsyncContext* ac = context_) {
    context_ = nullptr;
    redisAsyncFree(ac);  // commands in flight are dropped without their callbacks
  }
}

void RedisLink::start() {
  resolve_and_connect();
}

void RedisLink::resolve_and_connect() {
  boost::system::error_code ec;
  const auto literal = asio::ip::make_address(address_.host, ec);
  if (!ec) {
    connect(literal.to_string());
    return;
  }
  // A name: resolved off the loop (asio's resolver thread), never by hiredis on this thread.
  resolver_.async_resolve(
      address_.host, std::to_string(address_.port),
      [weak = weak_from_this()](boost::system::error_code rec,
                                const asio::ip::tcp::resolver::results_type& results) {
        auto self = weak.lock();
        if (!self || self->closing_ || rec == asio::error::operation_aborted) return;
        if (rec || results.empty()) {
          self->metrics_.count_redis_error();
          log::warn("redis " + self->address_.to_string() +
                    ": cannot resolve: " + (rec ? rec.message() : std::string("no address")));
          self->schedule_reconnect();
          return;
        }
        self->connect(results.begin()->endpoint().address().to_string());
      });
}

void RedisLink::connect(const std::string& ip) {
  redisAsyncContext* ac = redisAsyncConnect(ip.c_str(), address_.port);
  if (ac == nullptr || ac->err != 0 || !attach_redis_events(ac, executor_)) {
    if (ac != nullptr) redisAsyncFree(ac);
    metrics_.count_redis_error();
    schedule_reconnect();
    return;
  }
  ac->data = this;
  context_ = ac;
  connected_ = false;
  connect_deadline_ = Clock::now() + kStuck;
  redisAsyncSetConnectCallback(ac, &RedisLink::on_connect);
  redisAsyncSetDisconnectCallback(ac, &RedisLink::on_disconnect);
  // Queued now, sent once connected, ahead of any lease command.
  auto* load = new Command();
  load->script_load = true;
  if (!send(load)) delete load;
  arm_tick();
}

void RedisLink::on_connect(const redisAsyncContext* ac, int status) {
  static_cast<RedisLink*>(ac->data)->connected(status);
}

void RedisLink::connected(int status) {
  if (status == REDIS_OK) {
    connected_ = true;
    backoff_ = kFirstBackoff;
    log::info("redis " + address_.to_string() + ": connected");
    return;
  }
  // hiredis frees the context after this returns; its commands fail then.
  context_ = nullptr;
  connected_ = false;
  metrics_.count_redis_error();
  schedule_reconnect();
}

void RedisLink::on_disconnect(const redisAsyncContext* ac, int status) {
  auto* link = static_cast<RedisLink*>(ac->data);
  if (link->context_ != ac) return;  // dropped by us: already accounted
  if (status != REDIS_OK) link->metrics_.count_redis_error();
  link->disconnected();
}

void RedisLink::disconnected() {
  context_ = nullptr;
  connected_ = false;
  if (!closing_) {
    log::warn("redis " + address_.to_string() + ": connection lost");
    schedule_reconnect();
  }
}

void RedisLink::schedule_reconnect() {
  if (reconnecting_ || closing_) return;
  reconnecting_ = true;
  retry_timer_.expires_after(backoff_);
  backoff_ = std::min(backoff_ * 2, kMaxBackoff);
  retry_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (!self || self->closing_) return;
    self->reconnecting_ = false;
    if (!ec && self->context_ == nullptr) self->resolve_and_connect();
  });
}

void RedisLink::drop() {
  redisAsyncContext* ac = context_;
  if (ac == nullptr) return;
  context_ = nullptr;
  connected_ = false;
  metrics_.count_redis_error();
  log::warn("redis " + address_.to_string() + ": too slow, reconnecting");
  redisAsyncFree(ac);  // its commands fail now
  schedule_reconnect();
}

void RedisLink::tick() {
  const auto now = Clock::now();
  if (context_ != nullptr && !connected_ && now > connect_deadline_) {
    drop();
  } else if (!in_flight_.empty() && now - in_flight_.front()->sent > kStuck) {
    drop();
  }
  ticking_ = false;
  // Only a connection being made or a command in flight can get stuck: an idle link does not
  // wake its worker (send() arms the tick again).
  if ((context_ != nullptr && !connected_) || !in_flight_.empty()) arm_tick();
}

void RedisLink::arm_tick() {
  if (ticking_) return;
  ticking_ = true;
  tick_timer_.expires_after(kTick);
  tick_timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->closing_) return;
    self->tick();
  });
}

bool RedisLink::lease(const std::string& key, const LeaseScriptArgs& args, LeaseCallback callback) {
  auto command = std::make_unique<Command>();
  command->key = key;
  command->args = args;
  command->callback = std::move(callback);
  if (!send(command.get())) {
    metrics_.count_redis_error();
    return false;
  }
  (void)command.release();  // in_flight_ and hiredis own it until answered
  return true;
}

bool RedisLink::send(Command* command) {
  if (context_ == nullptr) return false;
  std::array<const char*, 7> argv{};
  std::array<std::size_t, 7> lengths{};
  int argc = 0;
  auto add = [&](std::string_view part) {
    argv[argc] = part.data();
    lengths[argc++] = part.size();
  };
  if (command->script_load) {
    add("SCRIPT");
    add("LOAD");
    add(kLeaseScript);
  } else {
    command->by_sha = !sha_.empty() && !command->retried;
    add(command->by_sha ? "EVALSHA" : "EVAL");
    add(command->by_sha ? std::string_view(sha_) : kLeaseScript);
    add("1");
    add(command->key);
    add(command->args.interval_ns);
    add(command->args.capacity_ns);
    add(command->args.want);
  }
  if (redisAsyncCommandArgv(context_, &RedisLink::on_reply, command, argc, argv.data(),
                            lengths.data()) != REDIS_OK) {
    return false;
  }
  command->sent = command->retried ? command->sent : Clock::now();
  in_flight_.push_back(command);
  arm_tick();
  return true;
}

void RedisLink::on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
  static_cast<RedisLink*>(ac->data)->answered(static_cast<Command*>(privdata), reply);
}

void RedisLink::answered(Command* raw, void* reply_data) {
  if (auto it = std::find(in_flight_.begin(), in_flight_.end(), raw); it != in_flight_.end()) {
    in_flight_.erase(it);
  }
  std::unique_ptr<Command> command(raw);
  if (closing_) return;
  const auto* reply = static_cast<const redisReply*>(reply_data);
  if (reply == nullptr) {  // the connection went away first
    metrics_.count_redis_error();
    if (command->callback) command->callback(std::nullopt);
    return;
  }
  if (command->script_load) {
    if (reply->type == REDIS_REPLY_STRING) {
      sha_.assign(reply->str, reply->len);
    } else {
      metrics_.count_redis_error();
    }
    return;
  }
  if (reply->type == REDIS_REPLY_ERROR && command->by_sha && !command->retried &&
      std::string_view(reply->str, reply->len).starts_with("NOSCRIPT")) {
    // Redis lost its scripts (restarted, SCRIPT FLUSH): EVAL loads it again.
    command->retried = true;
    if (send(command.get())) {
      (void)command.release();
      return;
    }
  }
  metrics_.observe_redis(Clock::now() - command->sent);
  if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
      std::any_of(reply->element, reply->element + 3,
                  [](const redisReply* e) { return e->type != REDIS_REPLY_INTEGER; })) {
    metrics_.count_redis_error();
    if (reply->type == REDIS_REPLY_ERROR) {
      log::warn("redis " + address_.to_string() + ": " + std::string(reply->str, reply->len));
    }
    command->callback(std::nullopt);
    return;
  }
  auto value = [&](std::size_t i) {
    return static_cast<std::uint64_t>(std::max<long long>(reply->element[i]->integer, 0));
  };
  command->callback(LeaseReply{value(0), std::chrono::microseconds(value(1)), value(2)});
}

}  // namespace ringproxy
