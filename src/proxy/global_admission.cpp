// A global rate limit's fetches and waits (see global_admission.hpp).
#include "proxy/global_admission.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>

#include "net/redis_link.hpp"

namespace ringproxy {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

constexpr auto use_nothrow = asio::as_tuple(asio::use_awaitable);

void wake_all(const LeaseWaiters& waiters) {
  for (const auto& w : waiters) w->wake();
}

// Asks the worker's link for the lease the book's take asked for; its answer (or failure) goes
// back to the book, which names the waiters to wake. A link that cannot send fails it at once.
void start_fetch(Worker& worker, const GlobalStep& step) {
  const GlobalLimitRuntime& global = *step.limit->global;
  std::shared_ptr<LeaseBook> book = global.leases;
  const std::uint64_t key = step.key;
  const std::uint64_t id = step.take.fetch_id;
  RedisLink& link = worker.redis(global.config.redis);
  const bool sent = link.lease(
      step.redis_key, global.script_args, [book, key, id](std::optional<LeaseReply> reply) {
        const auto now = steady_ns(Clock::now());
        wake_all(reply ? book->granted(key, id, reply->granted, reply->remaining,
                                       reply->retry_after, now)
                       : book->failed(key, id, now));
      });
  if (!sent) wake_all(book->failed(key, id, steady_ns(Clock::now())));
}

// Takes again for the step's client (starting a fetch when the book asks for one).
void take_again(Worker& worker, GlobalStep& step) {
  step.take = step.limit->global->leases->take(step.key, steady_ns(Clock::now()), true, step.lane);
  if (step.take.fetch) start_fetch(worker, step);
}

// Redis could not answer in time: the local tier (this process's buckets for the rule), or 503.
void decide_locally(GlobalStep& step, RequestPlan& plan, RequestContext& ctx) {
  const RateLimitRuntime& limit = *step.limit;
  if (limit.global->config.on_redis_error == RedisErrorPolicy::deny) {
    plan.status = 503;
    plan.extra_headers = "Retry-After: 1\r\n";
    plan.upstream = nullptr;
    return;
  }
  const TakeResult taken = limit.limiter->take(step.key, Clock::now());
  if (taken.allowed) {
    note_rate_admission(limit, taken, ctx);
  } else {
    plan_rate_refusal(limit, taken, plan, ctx);
  }
}

// Applies a verdict other than wait.
void apply(GlobalStep& step, RequestPlan& plan, RequestContext& ctx) {
  const RateLimitRuntime& limit = *step.limit;
  switch (step.take.verdict) {
    case LeaseVerdict::allow:
      note_rate_admission(limit, lease_admission(limit.limiter->bucket_rule(), step.take.remaining),
                          ctx);
      break;
    case LeaseVerdict::deny: {
      TakeResult refused;
      refused.retry_after = step.take.retry_after;
      refused.reset = step.take.retry_after;
      plan_rate_refusal(limit, refused, plan, ctx);
      break;
    }
    case LeaseVerdict::wait:
    case LeaseVerdict::fallback:
      decide_locally(step, plan, ctx);
      break;
  }
}

// What a waiting request leaves in the lease book: wake() hands the news to the request's
// worker, where it cancels the request's timer. Holds the timer weakly (the book may outlive
// the worker's loop). Any thread may call wake().
class TimerWaiter final : public LeaseWaiter {
 public:
  struct State {
    explicit State(asio::io_context::executor_type executor) : timer(executor) {}
    WorkerTimer timer;
  };
  TimerWaiter(const std::shared_ptr<State>& state, asio::io_context::executor_type executor)
      : state_(state), executor_(executor) {}
  void wake() override {
    if (auto state = state_.lock()) {
      asio::post(executor_, [state] { state->timer.cancel(); });
    }
  }

 private:
  std::weak_ptr<State> state_;
  asio::io_context::executor_type executor_;
};

}  // namespace

bool settle_global_now(Worker& worker, RequestPlan& plan, RequestContext& ctx) {
  GlobalStep& step = plan.global;
  if (step.take.fetch) start_fetch(worker, step);
  if (step.take.verdict == LeaseVerdict::allow) return true;  // noted by plan_request
  // A fetch that failed at once (Redis unreachable) ended already: take again now.
  if (step.take.verdict == LeaseVerdict::wait) take_again(worker, step);
  if (step.take.verdict == LeaseVerdict::wait) return false;
  apply(step, plan, ctx);
  return true;
}

asio::awaitable<void> wait_for_global_lease(Worker& worker, RequestPlan& plan,
                                            RequestContext& ctx) {
  GlobalStep& step = plan.global;
  LeaseBook& book = *step.limit->global->leases;
  const auto deadline = Clock::now() + step.limit->global->config.redis_timeout;
  const auto executor = worker.context().get_executor();
  auto state = std::make_shared<TimerWaiter::State>(executor);
  while (step.take.verdict == LeaseVerdict::wait) {
    if (book.add_waiter(step.key, std::make_shared<TimerWaiter>(state, executor))) {
      state->timer.expires_at(deadline);
      co_await state->timer.async_wait(use_nothrow);  // cancelled: the fetch ended
    }
    if (Clock::now() >= deadline) break;  // still wait: the local tier decides
    take_again(worker, step);
  }
  apply(step, plan, ctx);
}

}  // namespace ringproxy
